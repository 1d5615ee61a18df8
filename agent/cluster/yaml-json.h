/* YAML to JSON: a YAML stream (one or more documents) read with libyaml's
 * event API into jansson values, the way Kubernetes reads manifests and
 * kubeconfigs (sigs.k8s.io/yaml, i.e. go-yaml v2 rules), with caps on size,
 * depth, nodes and aliases, and a position (line:column) for every
 * container and string so that a consumer's errors can say where. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Limits (STYLE item 4). The largest provider manifests (cluster-api,
 * k0smotron components) are a few MiB with ~10^5 nodes; the node cap
 * counts alias expansions too, which is what stops a billion-laughs
 * stream that is small on disk. */
#define YAML_JSON_INPUT_MAX (16u * 1024u * 1024u) /* bytes of one stream */
#define YAML_JSON_DEPTH_MAX 128u                  /* nested sequences/mappings */
#define YAML_JSON_NODES_MAX 1000000u              /* values built, aliases expanded */
#define YAML_JSON_DOCUMENTS_MAX 10000u            /* documents in one stream */
#define YAML_JSON_ANCHORS_MAX 1000u               /* anchors in one document */
#define YAML_JSON_ALIASES_MAX 10000u              /* alias uses in one stream */

typedef enum YamlJsonFlags {
        /* Documents that are empty or null (a stray `---`, a trailing
         * comment) are left out, as kubectl does for manifests. */
        YAML_JSON_SKIP_EMPTY = 1u << 0,
} YamlJsonFlags;

/* A position in the source, 1-based as editors count. */
typedef struct YamlMark {
        size_t line, column;
} YamlMark;

/* Where each value came from: a lookup by the value's pointer. Valid while
 * the documents it was built with are alive and unmodified (a value put in
 * later has no mark). true/false/null are shared by jansson and so have
 * none: look their parent up instead. */
typedef struct YamlMarks YamlMarks;

/* Parses `size` bytes of YAML into a JSON array of documents (*ret_docs).
 * `name` (a file name, "-", or NULL) prefixes error messages.
 *
 * Plain scalars are typed as go-yaml v2 types them: null (~, null, empty),
 * booleans (true/false, yes/no, on/off, y/n in three casings), integers
 * (decimal, 0x, 0o, 0b, leading-0 octal, `_` separators), floats; anything
 * quoted or block-styled, and anything tagged !!str, stays a string.
 * Timestamps stay strings (Kubernetes would turn them into RFC 3339).
 * Mapping keys are strings as written. Merge keys (<<) are applied.
 *
 * Refused (-EBADMSG, *reterr "NAME:LINE:COLUMN: what"): YAML syntax
 * errors, invalid UTF-8, duplicate keys (Kubernetes keeps the last one;
 * silently losing the first is worse), non-scalar keys, undefined aliases,
 * .nan/.inf (JSON has no such numbers). Caps exceeded: -E2BIG. -ENOMEM.
 *
 * Every scalar libyaml hands us, and libyaml's input buffers, are wiped
 * before they are freed: a manifest or kubeconfig may carry keys. (The
 * scanner's own scratch buffers cannot be reached; jansson's copies are
 * wiped when the process installed secret_json_alloc_install().)
 *
 * `ret_marks` may be NULL. */
int yaml_json_parse(const void *data, size_t size, const char *name, unsigned flags, json_t **ret_docs,
                    YamlMarks **ret_marks, char **reterr);

/* The same, for a stream that must hold exactly one non-empty document:
 * -EBADMSG ("... no document", "... N documents, expected one"). */
int yaml_json_parse_one(const void *data, size_t size, const char *name, json_t **ret, YamlMarks **ret_marks,
                        char **reterr);

/* The position of `node`; false when it has none (see YamlMarks). */
bool yaml_marks_find(const YamlMarks *m, const json_t *node, YamlMark *ret);

/* The position of the value of `key` in `object`: for true, false and
 * null too (kept per member), else as yaml_marks_find. */
bool yaml_marks_find_member(const YamlMarks *m, const json_t *object, const char *key, YamlMark *ret);

YamlMarks *yaml_marks_free(YamlMarks *m);

static inline void yaml_marks_freep(YamlMarks **m) {
        yaml_marks_free(*m);
}
