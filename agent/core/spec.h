/* spec: the fleet spec (proto/spec.schema.json), parsed from bytes or a file,
 * validated against the schema compiled into the binary and then by the
 * cross-field rules the schema cannot express. A Spec only exists valid; the
 * agent refuses a spec it cannot validate, and `strata spec validate` prints
 * every error with its JSON path. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/json-schema.h"

/* Largest spec accepted, from a file or from bytes. */
#define SPEC_FILE_MAX (4u * 1024u * 1024u)
/* Deepest nesting the inline-secret scan walks (the schema needs 5). */
#define SPEC_DEPTH_MAX 32u

/* proto/spec.schema.json, NUL-terminated (agent/core/spec-schema.S). */
extern const char spec_schema_json[];

/* One error: a JSON path ($.inventory[2].bmc.endpoint) and a message. */
typedef JsonSchemaError SpecError;
/* Every error found, in document order per check, at most
 * JSON_SCHEMA_ERRORS_MAX (then `truncated` is set). Zero-initialise;
 * release with spec_errors_clear(). */
typedef JsonSchemaErrors SpecErrors;

typedef struct Spec Spec;

/* Parses and validates a spec from `size` bytes at `data` (not necessarily
 * NUL-terminated). A pure function of the bytes: reads no files, logs
 * nothing. `origin` (a file name, or NULL) is kept for spec_origin().
 * Returns 0 and *ret (free with spec_free); or, with every problem appended
 * to reterr (may be NULL): -EINVAL (bad JSON, schema or semantic errors,
 * inline secrets) or -E2BIG (more than SPEC_FILE_MAX bytes); or -ENOMEM; or
 * -EPROTO if the embedded schema itself does not load (a build bug).
 * The schema is compiled on each call (about 0.3 ms): parsing a spec is
 * rare, and this keeps the function free of shared state. */
int spec_parse(const void *data, size_t size, const char *origin, Spec **ret, SpecErrors *reterr);

/* Reads `path` (at most SPEC_FILE_MAX bytes; -E2BIG beyond, with an error
 * in reterr) and parses it as spec_parse() does, with the path as origin.
 * I/O failures return -errno and add nothing to reterr. */
int spec_load_file(const char *path, Spec **ret, SpecErrors *reterr);

/* Frees; accepts NULL; returns NULL. */
Spec *spec_free(Spec *s);

static inline void spec_freep(Spec **s) {
        spec_free(*s);
}
#define _cleanup_spec_ __attribute__((cleanup(spec_freep)))

/* Accessors: strings are owned by the Spec and live as long as it does. */
const char *spec_origin(const Spec *s);  /* NULL if none was given */
const char *spec_fleet(const Spec *s);   /* $.fleet.name */
/* "sha256:" + lower-case hex of SHA-256 over the canonical JSON (sorted
 * keys, compact; jansson's json_dumps), so whitespace and key order do not
 * change it. */
const char *spec_digest(const Spec *s);
json_t *spec_json(const Spec *s);         /* borrowed; do not modify */
size_t spec_n_machines(const Spec *s);    /* entries in $.inventory */
/* The inventory entry named `name` (borrowed; the spec validated, so its
 * fields are typed), or NULL, also for a NULL name. */
const json_t *spec_machine(const Spec *s, const char *name);

/* Does a property name look like it holds a secret ("password",
 * "privateKey", "api-token", ...: case and '_', '-', '.', ' ' ignored)? Such
 * a property anywhere in a spec is refused. */
bool spec_name_is_secret(const char *name);

/* Frees every error; the list is empty and reusable afterwards. */
void spec_errors_clear(SpecErrors *e);
/* One line per error, "ORIGIN: PATH: MESSAGE", then a line saying errors
 * were left out if the list is truncated. `origin` NULL prints "spec". */
void spec_errors_print(FILE *f, const char *origin, const SpecErrors *e);
