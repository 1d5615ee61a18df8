/* json-schema: a small JSON Schema (draft 2020-12) interpreter over jansson,
 * for exactly the keywords proto/spec.schema.json uses, plus the error list
 * and JSON-path builder the spec checks share with it.
 *
 * Supported keywords: type (names or an array of names; "integer" means a
 * JSON integer token, so 1.0 is refused and callers may use
 * json_integer_value), const, enum, $ref ("#/$defs/NAME" only, $defs only at
 * the root), oneOf, minimum, maximum, minLength, maxLength (code points),
 * pattern (POSIX ERE, see below), minItems, maxItems, uniqueItems, items,
 * required, properties, additionalProperties. Annotations ($schema, $id,
 * title, description, examples, default, $comment) are accepted and ignored,
 * except that "title" names oneOf alternatives and pattern mismatches in
 * messages. Any other keyword refuses the schema at load time, so the schema
 * and this interpreter cannot drift apart silently.
 *
 * Patterns are compiled once per schema with regcomp(REG_EXTENDED|REG_NOSUB)
 * and must be written in the subset ERE and ECMA-262 agree on: anchored with
 * ^...$, no backslash-letter escapes (\d, \s, \w, ...), no [:class:], and no
 * backslash inside a bracket expression. The loader refuses the rest.
 *
 * Validation collects every error (up to JSON_SCHEMA_ERRORS_MAX), each with a
 * path like $.inventory[2].bmc.endpoint and a message saying what was
 * expected and what was found. Values quoted in messages are JSON-escaped
 * (ASCII only) and truncated. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Errors kept per list; later ones only set `truncated`. */
#define JSON_SCHEMA_ERRORS_MAX 256u
/* Schema applications nested per validation ($ref, oneOf, properties,
 * items each count one), and schema nesting at load time. */
#define JSON_SCHEMA_DEPTH_MAX 64u
/* Longest path kept (longer ones are cut); longest key shown in a path. */
#define JSON_SCHEMA_PATH_MAX 512u
#define JSON_SCHEMA_PATH_KEY_MAX 64u
/* Longest message kept (longer ones end in "..."); value shown in one. */
#define JSON_SCHEMA_MESSAGE_MAX 512u
#define JSON_SCHEMA_VALUE_MAX 48u

typedef struct JsonSchemaError {
        char *path;
        char *message;
} JsonSchemaError;

typedef struct JsonSchemaErrors {
        JsonSchemaError *items;
        size_t n_items;
        bool truncated; /* more errors existed than JSON_SCHEMA_ERRORS_MAX */
} JsonSchemaErrors;

/* Appends one error (copies path and the formatted message). A full list
 * only sets `truncated`. Returns 0 or -ENOMEM. */
int json_schema_errors_add(JsonSchemaErrors *e, const char *path, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
/* Moves every error of `src` to the end of `dst` (dst's cap applies) and
 * leaves `src` empty. Returns 0 or -ENOMEM. */
int json_schema_errors_move(JsonSchemaErrors *dst, JsonSchemaErrors *src);
/* Removes the error at `index`, keeping the order. */
void json_schema_errors_remove(JsonSchemaErrors *e, size_t index);
/* Frees every error and leaves the list empty and reusable. */
void json_schema_errors_clear(JsonSchemaErrors *e);

/* A JSON path under construction: "$", then ".key" for identifier-like keys,
 * ["key"] (escaped) for others, and [index]. push returns a mark for pop. */
typedef struct JsonSchemaPath {
        char buf[JSON_SCHEMA_PATH_MAX];
        size_t len;
} JsonSchemaPath;

void json_schema_path_init(JsonSchemaPath *p);
size_t json_schema_path_push_key(JsonSchemaPath *p, const char *key);
size_t json_schema_path_push_index(JsonSchemaPath *p, size_t index);
void json_schema_path_pop(JsonSchemaPath *p, size_t mark);

/* Writes a short rendering of `v` for a message into buf: a JSON literal
 * (strings escaped to ASCII and cut to JSON_SCHEMA_VALUE_MAX bytes with
 * "..."), or "an object" / "an array". Returns buf. */
char *json_schema_describe(const json_t *v, char *buf, size_t size);

typedef struct JsonSchema JsonSchema;

/* Checks `schema` (every keyword known and well-formed, every $ref
 * resolvable, every pattern compiling) and compiles its patterns. Takes its
 * own reference to `schema`. Returns 0 and *ret (free with
 * json_schema_free), -EINVAL with the schema's problems appended to reterr
 * (may be NULL), or -ENOMEM. */
int json_schema_new(json_t *schema, JsonSchema **ret, JsonSchemaErrors *reterr);
/* The same from JSON text; a syntax error is one error at "$". */
int json_schema_new_from_string(const char *text, JsonSchema **ret, JsonSchemaErrors *reterr);
JsonSchema *json_schema_free(JsonSchema *s);

static inline void json_schema_freep(JsonSchema **s) {
        json_schema_free(*s);
}
#define _cleanup_json_schema_ __attribute__((cleanup(json_schema_freep)))

/* The schema document (borrowed). */
const json_t *json_schema_root(const JsonSchema *s);

/* Validates `instance`. Returns 0 if it is valid, -EINVAL if not with every
 * error appended to reterr (may be NULL), or -ENOMEM. Reads the instance
 * only. */
int json_schema_validate(const JsonSchema *s, const json_t *instance, JsonSchemaErrors *reterr);
