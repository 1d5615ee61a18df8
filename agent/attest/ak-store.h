/* The AK's key blobs in the agent's state directory: DIR/ak.pub and
 * DIR/ak.priv, the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE exactly as
 * tpm2_createak -u/-r writes them (so tpm2_load reads them too). The AK is
 * the node's identity: a verifier admitted its name, so a blob that fails
 * any check is refused and left where it is, never replaced; only the
 * operator moves it aside. Internal to agent/attest/. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#define AK_STORE_PUB_NAME "ak.pub"
#define AK_STORE_PRIV_NAME "ak.priv"
#define AK_STORE_LOCK_NAME "ak.lock"
/* No marshalled TPM2B is larger than its C struct. */
#define AK_STORE_PUB_MAX sizeof(TPM2B_PUBLIC)
#define AK_STORE_PRIV_MAX sizeof(TPM2B_PRIVATE)

/* Parses the two files' bytes. Pure (a fuzzer's entry): each must be one
 * whole, non-empty TPM2B with nothing after it. -EBADMSG (or -E2BIG) with
 * *reterr naming the file and the fault. */
int ak_store_parse(const uint8_t *pub, size_t pub_size, const uint8_t *priv, size_t priv_size,
                   TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv, char **reterr);

/* Creates `dir` (0700; its parent must exist) if missing and takes an
 * exclusive flock on DIR/ak.lock, so that one process at a time creates or
 * reads the pair. *ret_fd is the lock (close it to release). */
int ak_store_lock(const char *dir, int *ret_fd, char **reterr);

/* Reads the pair. -ENOENT if neither file exists (no AK yet); -EBADMSG or
 * -E2BIG, with *reterr saying which file and what, if only one exists or
 * either fails ak_store_parse(); other -errno from the system calls. */
int ak_store_load(const char *dir, TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv, char **reterr);

/* Writes the pair atomically: each to a temp file, fsync, then renamed into
 * place without replacing anything (ak.priv first, ak.pub last), then the
 * directory fsynced. -EEXIST if either file already exists: an AK is never
 * overwritten. Hold ak_store_lock(). */
int ak_store_save(const char *dir, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, char **reterr);
