/* StateStore: crash-safe, versioned, checksummed storage of the agent's small
 * persistent JSON documents (node record, leases, membership), one file per
 * document in one directory that one process holds at a time.
 *
 * On disk, DIR/<name> is a state file:
 *
 *   offset  size  field
 *        0     8  magic "STRATAS\n"
 *        8     4  format version, big-endian (STATE_FORMAT_VERSION)
 *       12     8  payload length, big-endian
 *       20    32  SHA-256 of the payload
 *       52     n  payload: json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT)
 *
 * DIR/.lock carries the flock that makes the store single-writer, and
 * DIR/.#<name>.* are temporary files; a crash may leave one behind and the
 * next state_store_open() removes it. A save replaces a document atomically
 * (temp file, fsync, rename, fsync of the directory): after a crash a load
 * sees the old document or the new one, never a mixture. A file that fails
 * any check is refused with a detail message and left exactly as it is:
 * resetting or removing it is the caller's (or the operator's) decision. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cleanup.h"

/* The newest format this build writes and reads; older ones stay readable. */
#define STATE_FORMAT_VERSION 1u
/* Whole-file cap, header included: larger files are refused (-E2BIG) on load
 * and documents that would make one are refused on save. */
#define STATE_FILE_MAX (1024u * 1024u)
/* Document names are [a-z0-9-]{1,STATE_NAME_MAX}. */
#define STATE_NAME_MAX 64u

#define STATE_MAGIC "STRATAS\n"
#define STATE_MAGIC_SIZE 8u
#define STATE_DIGEST_SIZE 32u
#define STATE_HEADER_SIZE (STATE_MAGIC_SIZE + 4u + 8u + STATE_DIGEST_SIZE)

typedef struct StateStore StateStore;

/* Opens the store in `dir`, creating that directory (mode 0700, parent must
 * exist) if missing, taking an exclusive flock on DIR/.lock and removing
 * temporary files a crashed writer left. -EBUSY if another StateStore (in
 * any process) holds the directory; other -errno from the system calls. */
int state_store_open(const char *dir, StateStore **ret);
/* Releases the lock and frees; accepts NULL; returns NULL. */
StateStore *state_store_free(StateStore *s);
DEFINE_CLEANUP(StateStore *, state_store_free)
#define _cleanup_state_store_ _cleanup_(state_store_freep)

/* Atomically replaces document `name` with `doc` (an object or array; the
 * caller keeps its reference). -EINVAL for a bad name or doc, -E2BIG when
 * the file would exceed STATE_FILE_MAX, -ENOMEM, or the -errno of a failed
 * write, fsync or rename; then the previous document is still in place.
 * A failure of the final directory fsync is returned too: the new document
 * is then visible but not known to be durable. */
int state_store_save(StateStore *s, const char *name, const json_t *doc);

/* Reads document `name` into *ret (a new reference, written only on
 * success). -ENOENT if it was never saved; -EINVAL for a bad name; for a
 * file that is not a valid state file, the errors of state_file_parse().
 * The file is never modified. */
int state_store_load(StateStore *s, const char *name, json_t **ret);
/* As state_store_load(); on failure, when there is something to say, also
 * sets *reterr_detail (if not NULL) to a malloc'd message naming the file
 * and what is wrong with it, e.g. "/var/lib/strata/node: checksum mismatch
 * (payload corrupted)". Not set for -ENOENT or -EINVAL. */
int state_store_load_full(StateStore *s, const char *name, json_t **ret, char **reterr_detail);

bool state_name_is_valid(const char *name);

/* Serializes `doc` into a complete state file in a new buffer: *ret (free()
 * it) of *ret_size bytes. -EINVAL, -E2BIG or -ENOMEM as for saving. Pure. */
int state_file_build(const json_t *doc, uint8_t **ret, size_t *ret_size);

/* Parses and verifies a complete state file held in memory. Pure: no I/O,
 * no logging, callable by a fuzzer. On success *ret is the document (a new
 * reference). On failure *reterr_detail (if not NULL) gets a malloc'd
 * message (or NULL if that allocation failed) and the return value is:
 *   -E2BIG            size over STATE_FILE_MAX;
 *   -EBADMSG          bad magic, truncated header or payload, trailing data,
 *                     format version 0, checksum mismatch, payload not JSON;
 *   -EPROTONOSUPPORT  written by a newer format version than this build's;
 *   -ENOMEM, -EIO     out of memory, hash failure. */
int state_file_parse(const uint8_t *data, size_t size, json_t **ret, char **reterr_detail);
