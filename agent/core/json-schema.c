/* json-schema: the JSON Schema subset interpreter behind `strata spec
 * validate` and the agent's spec loading (see json-schema.h for the subset),
 * the error list it fills and the JSON-path builder. A schema is checked and
 * its patterns compiled once, by json_schema_new(); validation then only reads
 * the schema and the instance. */
#include "core/json-schema.h"

#include <errno.h>
#include <locale.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

#define DIALECT_2020_12 "https://json-schema.org/draft/2020-12/schema"
#define REF_PREFIX "#/$defs/"
/* Unknown property names are compared with the known ones for a "did you
 * mean" hint only up to this length. */
#define SUGGEST_KEY_MAX 64u
/* Two items of a uniqueItems array that are objects or arrays are compared
 * by their canonical text; this bounds how deep that comparison looks. */
#define EQUAL_DEPTH_MAX 64u

typedef struct Pattern {
        const json_t *node; /* the schema object holding "pattern" */
        regex_t re;
} Pattern;

struct JsonSchema {
        json_t *root;
        Pattern *patterns; /* sorted by node, for bsearch */
        size_t n_patterns;
        locale_t c_locale; /* regcomp/regexec run in "C": bytes, ASCII classes */
};

/* ---- error list ---------------------------------------------------------- */

/* Takes ownership of `message`. */
static int errors_push(JsonSchemaErrors *e, const char *path, char *message) {
        _cleanup_free_ char *m = message;
        _cleanup_free_ char *p = NULL;
        JsonSchemaError *a;

        if (!e)
                return 0;
        if (e->n_items >= JSON_SCHEMA_ERRORS_MAX) {
                e->truncated = true;
                return 0;
        }
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        a = reallocarray(e->items, e->n_items + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        e->items = a;
        e->items[e->n_items++] = (JsonSchemaError) {
                .path = take_ptr(p),
                .message = take_ptr(m),
        };
        return 0;
}

int json_schema_errors_add(JsonSchemaErrors *e, const char *path, const char *format, ...) {
        char *message = NULL;
        va_list ap;
        int n;

        if (!e)
                return 0;
        if (e->n_items >= JSON_SCHEMA_ERRORS_MAX) {
                e->truncated = true;
                return 0;
        }
        va_start(ap, format);
        n = vasprintf(&message, format, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return errors_push(e, path, message);
}

int json_schema_errors_move(JsonSchemaErrors *dst, JsonSchemaErrors *src) {
        int r = 0;

        for (size_t i = 0; i < src->n_items; i++) {
                if (r >= 0)
                        r = errors_push(dst, src->items[i].path, take_ptr(src->items[i].message));
                free(src->items[i].message);
                free(src->items[i].path);
        }
        if (src->truncated && dst)
                dst->truncated = true;
        free(src->items);
        *src = (JsonSchemaErrors) {};
        return r;
}

void json_schema_errors_remove(JsonSchemaErrors *e, size_t index) {
        if (!e || index >= e->n_items)
                return;
        free(e->items[index].path);
        free(e->items[index].message);
        memmove(e->items + index, e->items + index + 1,
                (e->n_items - index - 1) * sizeof(e->items[0]));
        e->n_items--;
}

void json_schema_errors_clear(JsonSchemaErrors *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n_items; i++) {
                free(e->items[i].path);
                free(e->items[i].message);
        }
        free(e->items);
        *e = (JsonSchemaErrors) {};
}

/* ---- rendering: bounded text buffers, escaped values, paths ------------- */

typedef struct Text {
        char *buf;
        size_t size;
        size_t len;
} Text;

#define TEXT_INIT(b) ((Text) { .buf = (b), .size = sizeof(b), .len = 0 })

/* Appends, cutting at the buffer's end; a cut text ends in "...". */
__attribute__((format(printf, 2, 3)))
static void text_printf(Text *t, const char *format, ...) {
        va_list ap;
        size_t room;
        int n;

        if (t->size == 0)
                return;
        if (t->len >= t->size - 1) {
                /* full: whatever was to come is cut */
                if (t->size > 4)
                        memcpy(t->buf + t->size - 4, "...", 3);
                t->buf[t->size - 1] = 0;
                return;
        }
        room = t->size - t->len;
        va_start(ap, format);
        n = vsnprintf(t->buf + t->len, room, format, ap);
        va_end(ap);
        if (n < 0) {
                t->buf[t->len] = 0;
                return;
        }
        if ((size_t) n < room) {
                t->len += (size_t) n;
                return;
        }
        t->len = t->size - 1;
        if (t->size > 4)
                memcpy(t->buf + t->size - 4, "...", 3);
}

/* Decodes one UTF-8 sequence at s[0..n); returns its length, or 0 if it is
 * not valid (jansson only hands out valid UTF-8, but the API does not rely
 * on that). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] >= 0xC2 && s[0] <= 0xDF) {
                len = 2;
                cp = s[0] & 0x1F;
        } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                len = 3;
                cp = s[0] & 0x0F;
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        *ret = cp;
        return len;
}

/* Appends s[0..n) as a JSON string literal in ASCII, showing at most `max`
 * input bytes (cut at a character boundary, then "..."). */
static void text_string(Text *t, const char *s, size_t n, size_t max) {
        const unsigned char *u = (const unsigned char *) s;
        size_t i = 0;

        text_printf(t, "\"");
        while (i < n) {
                uint32_t cp;
                size_t len;

                if (i >= max) {
                        text_printf(t, "...");
                        break;
                }
                len = utf8_decode(u + i, n - i, &cp);
                if (len == 0) {
                        text_printf(t, "\\ufffd");
                        i++;
                        continue;
                }
                if (i + len > max) {
                        text_printf(t, "...");
                        break;
                }
                i += len;
                switch (cp) {
                case '"':
                        text_printf(t, "\\\"");
                        break;
                case '\\':
                        text_printf(t, "\\\\");
                        break;
                case '\n':
                        text_printf(t, "\\n");
                        break;
                case '\t':
                        text_printf(t, "\\t");
                        break;
                case '\r':
                        text_printf(t, "\\r");
                        break;
                default:
                        if (cp >= 0x20 && cp < 0x7F)
                                text_printf(t, "%c", (char) cp);
                        else if (cp < 0x10000)
                                text_printf(t, "\\u%04x", (unsigned) cp);
                        else
                                text_printf(t, "\\u%04x\\u%04x", (unsigned) (0xD800 + ((cp - 0x10000) >> 10)),
                                            (unsigned) (0xDC00 + ((cp - 0x10000) & 0x3FF)));
                }
        }
        text_printf(t, "\"");
}

static void text_value(Text *t, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                text_printf(t, "an object");
                break;
        case JSON_ARRAY:
                text_printf(t, "an array");
                break;
        case JSON_STRING:
                text_string(t, json_string_value(v), json_string_length(v), JSON_SCHEMA_VALUE_MAX);
                break;
        case JSON_INTEGER:
                text_printf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL: {
                /* the shortest text that reads back the same, and visibly
                 * a real: 1.0 stays "1.0" (an integer is required, say) */
                char num[40];
                double d = json_real_value(v);

                for (int precision = 15; precision <= 17; precision++) {
                        snprintf(num, sizeof(num), "%.*g", precision, d);
                        if (strtod(num, NULL) == d)
                                break;
                }
                text_printf(t, "%s%s", num, strpbrk(num, ".eEn") ? "" : ".0");
                break;
        }
        case JSON_TRUE:
                text_printf(t, "true");
                break;
        case JSON_FALSE:
                text_printf(t, "false");
                break;
        case JSON_NULL:
                text_printf(t, "null");
                break;
        }
}

char *json_schema_describe(const json_t *v, char *buf, size_t size) {
        Text t = { .buf = buf, .size = size };

        if (size == 0)
                return buf;
        buf[0] = 0;
        if (v)
                text_value(&t, v);
        return buf;
}

void json_schema_path_init(JsonSchemaPath *p) {
        p->buf[0] = '$';
        p->buf[1] = 0;
        p->len = 1;
}

/* "$defs" and "$schema" read well after a dot too, as in JavaScript. */
static bool key_is_identifier(const char *key) {
        size_t n = 0;

        for (const char *c = key; *c; c++, n++) {
                bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' || *c == '$';
                bool digit = *c >= '0' && *c <= '9';

                if (!(alpha || (digit && c != key)))
                        return false;
        }
        return n > 0 && n <= JSON_SCHEMA_PATH_KEY_MAX;
}

size_t json_schema_path_push_key(JsonSchemaPath *p, const char *key) {
        size_t mark = p->len;
        Text t = { .buf = p->buf, .size = sizeof(p->buf), .len = p->len };

        if (key_is_identifier(key))
                text_printf(&t, ".%s", key);
        else {
                text_printf(&t, "[");
                text_string(&t, key, strlen(key), JSON_SCHEMA_PATH_KEY_MAX);
                text_printf(&t, "]");
        }
        p->len = t.len;
        return mark;
}

size_t json_schema_path_push_index(JsonSchemaPath *p, size_t index) {
        size_t mark = p->len;
        Text t = { .buf = p->buf, .size = sizeof(p->buf), .len = p->len };

        text_printf(&t, "[%zu]", index);
        p->len = t.len;
        return mark;
}

void json_schema_path_pop(JsonSchemaPath *p, size_t mark) {
        if (mark < p->len) {
                p->len = mark;
                p->buf[mark] = 0;
        }
}

/* ---- value comparisons --------------------------------------------------- */

static int number_cmp(const json_t *a, const json_t *b) {
        double x, y;

        if (json_is_integer(a) && json_is_integer(b)) {
                json_int_t i = json_integer_value(a), j = json_integer_value(b);
                return (i > j) - (i < j);
        }
        x = json_number_value(a);
        y = json_number_value(b);
        return (x > y) - (x < y);
}

/* JSON Schema equality: numbers by value (1 equals 1.0), objects regardless
 * of key order. Deeper than EQUAL_DEPTH_MAX counts as different. */
static bool values_equal(const json_t *a, const json_t *b, unsigned depth) {
        if (depth > EQUAL_DEPTH_MAX)
                return false;
        if (json_is_number(a) && json_is_number(b))
                return number_cmp(a, b) == 0;
        if (json_typeof(a) != json_typeof(b))
                return false;
        switch (json_typeof(a)) {
        case JSON_STRING:
                return json_string_length(a) == json_string_length(b) &&
                       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
        case JSON_ARRAY:
                if (json_array_size(a) != json_array_size(b))
                        return false;
                for (size_t i = 0; i < json_array_size(a); i++)
                        if (!values_equal(json_array_get(a, i), json_array_get(b, i), depth + 1))
                                return false;
                return true;
        case JSON_OBJECT: {
                const char *key;
                json_t *v;

                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach((json_t *) a, key, v) {
                        const json_t *w = json_object_get(b, key);
                        if (!w || !values_equal(v, w, depth + 1))
                                return false;
                }
                return true;
        }
        default:
                return true; /* true, false, null: same type */
        }
}

/* ---- the keyword table and the schema loader ---------------------------- */

typedef struct Loader {
        JsonSchema *schema;
        JsonSchemaErrors *errors;
        JsonSchemaPath path;
        unsigned depth;
        size_t n_found;
} Loader;

__attribute__((format(printf, 2, 3)))
static int load_fail(Loader *l, const char *format, ...) {
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        va_list ap;

        va_start(ap, format);
        if (vsnprintf(buf, sizeof(buf), format, ap) < 0)
                snprintf(buf, sizeof(buf), "invalid schema");
        va_end(ap);
        l->n_found++;
        return json_schema_errors_add(l->errors, l->path.buf, "%s", buf);
}

static int load_schema(Loader *l, const json_t *node);

typedef int (*KeywordCheck)(Loader *l, const json_t *owner, const json_t *value);

static int check_any(Loader *l, const json_t *owner, const json_t *value) {
        (void) l, (void) owner, (void) value;
        return 0;
}

static int check_string(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return json_is_string(value) ? 0 : load_fail(l, "expected a string");
}

static int check_boolean(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return json_is_boolean(value) ? 0 : load_fail(l, "expected true or false");
}

static int check_number(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return json_is_number(value) ? 0 : load_fail(l, "expected a number");
}

static int check_count(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_integer(value) || json_integer_value(value) < 0)
                return load_fail(l, "expected an integer >= 0");
        return 0;
}

static int check_array(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return json_is_array(value) ? 0 : load_fail(l, "expected an array");
}

static int check_dialect(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_string(value) || strcmp(json_string_value(value), DIALECT_2020_12) != 0)
                return load_fail(l, "only \"%s\" is supported", DIALECT_2020_12);
        return 0;
}

static int check_subschema(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return load_schema(l, value);
}

static int check_schema_array(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_array(value) || json_array_size(value) == 0)
                return load_fail(l, "expected a non-empty array of schemas");
        for (size_t i = 0; i < json_array_size(value); i++) {
                size_t mark = json_schema_path_push_index(&l->path, i);
                int r = load_schema(l, json_array_get(value, i));
                json_schema_path_pop(&l->path, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_schema_map(Loader *l, const json_t *value) {
        const char *key;
        json_t *v;

        if (!json_is_object(value))
                return load_fail(l, "expected an object of schemas");
        json_object_foreach((json_t *) value, key, v) {
                size_t mark = json_schema_path_push_key(&l->path, key);
                int r = load_schema(l, v);
                json_schema_path_pop(&l->path, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_properties(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        return check_schema_map(l, value);
}

static int check_defs(Loader *l, const json_t *owner, const json_t *value) {
        if (owner != l->schema->root)
                return load_fail(l, "$defs is only supported at the root");
        return check_schema_map(l, value);
}

static const json_t *ref_resolve(const json_t *root, const char *ref) {
        if (strncmp(ref, REF_PREFIX, strlen(REF_PREFIX)) != 0)
                return NULL;
        return json_object_get(json_object_get(root, "$defs"), ref + strlen(REF_PREFIX));
}

static int check_ref(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_string(value))
                return load_fail(l, "expected a string");
        if (!ref_resolve(l->schema->root, json_string_value(value)))
                return load_fail(l, "cannot resolve \"%s\": only \"" REF_PREFIX "NAME\" references to "
                                 "the root's $defs are supported", json_string_value(value));
        return 0;
}

static const char *const type_names[] = { "null", "boolean", "object", "array", "number", "string", "integer" };

static bool type_name_is_known(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(type_names); i++)
                if (strcmp(type_names[i], name) == 0)
                        return true;
        return false;
}

static int check_type(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (json_is_string(value)) {
                if (!type_name_is_known(json_string_value(value)))
                        return load_fail(l, "unknown type \"%s\"", json_string_value(value));
                return 0;
        }
        if (!json_is_array(value) || json_array_size(value) == 0)
                return load_fail(l, "expected a type name or a non-empty array of them");
        for (size_t i = 0; i < json_array_size(value); i++) {
                const json_t *t = json_array_get(value, i);
                if (!json_is_string(t) || !type_name_is_known(json_string_value(t)))
                        return load_fail(l, "expected type names in the array");
                for (size_t j = 0; j < i; j++)
                        if (json_equal((json_t *) t, json_array_get(value, j)))
                                return load_fail(l, "type \"%s\" listed twice", json_string_value(t));
        }
        return 0;
}

static int check_enum(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_array(value) || json_array_size(value) == 0)
                return load_fail(l, "expected a non-empty array");
        return 0;
}

static int check_required(Loader *l, const json_t *owner, const json_t *value) {
        (void) owner;
        if (!json_is_array(value))
                return load_fail(l, "expected an array of property names");
        for (size_t i = 0; i < json_array_size(value); i++)
                if (!json_is_string(json_array_get(value, i)))
                        return load_fail(l, "expected an array of property names");
        return 0;
}

/* Refuses what ERE and ECMA-262 read differently, so that editors and other
 * validators agree with us. Returns a reason, or NULL. */
static const char *pattern_lint(const char *p) {
        size_t n = strlen(p);
        bool in_bracket = false;

        if (n < 2 || p[0] != '^' || p[n - 1] != '$' || p[n - 2] == '\\')
                return "must be anchored: ^...$";
        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (in_bracket) {
                        if (c == '\\')
                                return "must not use a backslash inside [...] (literal in ERE, an escape in ECMA-262)";
                        if (c == '[' && (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.'))
                                return "must not use [:class:], [=c=] or [.c.] (ERE only)";
                        if (c == ']')
                                in_bracket = false;
                        continue;
                }
                if (c == '\\') {
                        char e = p[i + 1];
                        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                                return "must not use backslash-letter or backslash-digit escapes (\\d, \\s, \\w, \\1, ...)";
                        if (e)
                                i++;
                        continue;
                }
                if (c == '[') {
                        in_bracket = true;
                        if (p[i + 1] == '^')
                                i++;
                        if (p[i + 1] == ']')
                                return "must not start [...] with ] (literal in ERE, an empty set in ECMA-262)";
                }
        }
        return NULL;
}

static int pattern_node_cmp(const void *a, const void *b) {
        const Pattern *x = a, *y = b;
        return (x->node > y->node) - (x->node < y->node);
}

static int check_pattern(Loader *l, const json_t *owner, const json_t *value) {
        JsonSchema *s = l->schema;
        const char *why;
        Pattern *a;
        locale_t old;
        regex_t re;
        int r;

        if (!json_is_string(value))
                return load_fail(l, "expected a string");
        if (strlen(json_string_value(value)) != json_string_length(value))
                return load_fail(l, "must not contain NUL");
        why = pattern_lint(json_string_value(value));
        if (why)
                return load_fail(l, "%s", why);
        for (size_t i = 0; i < s->n_patterns; i++)
                if (s->patterns[i].node == owner)
                        return 0; /* the same object reached twice */

        old = uselocale(s->c_locale);
        r = regcomp(&re, json_string_value(value), REG_EXTENDED | REG_NOSUB);
        uselocale(old);
        if (r == REG_ESPACE)
                return -ENOMEM;
        if (r != 0) {
                char msg[128];
                regerror(r, &re, msg, sizeof(msg));
                return load_fail(l, "does not compile as POSIX ERE: %s", msg);
        }
        a = reallocarray(s->patterns, s->n_patterns + 1, sizeof(*a));
        if (!a) {
                regfree(&re);
                return -ENOMEM;
        }
        s->patterns = a;
        s->patterns[s->n_patterns++] = (Pattern) { .node = owner, .re = re };
        return 0;
}

typedef struct Keyword {
        const char *name;
        KeywordCheck check;
} Keyword;

/* Every keyword the interpreter knows, and how its value is checked at load
 * time. A keyword missing here refuses the schema. */
static const Keyword keywords[] = {
        /* annotations, ignored by validation */
        { "$comment", check_string },
        { "$id", check_string },
        { "$schema", check_dialect },
        { "default", check_any },
        { "description", check_string },
        { "examples", check_array },
        { "title", check_string }, /* also names oneOf alternatives and patterns in messages */
        /* structure */
        { "$defs", check_defs },
        { "$ref", check_ref },
        { "oneOf", check_schema_array },
        /* any instance */
        { "type", check_type },
        { "const", check_any },
        { "enum", check_enum },
        /* numbers */
        { "minimum", check_number },
        { "maximum", check_number },
        /* strings */
        { "minLength", check_count },
        { "maxLength", check_count },
        { "pattern", check_pattern },
        /* arrays */
        { "items", check_subschema },
        { "minItems", check_count },
        { "maxItems", check_count },
        { "uniqueItems", check_boolean },
        /* objects */
        { "properties", check_properties },
        { "required", check_required },
        { "additionalProperties", check_subschema },
};

static const Keyword *keyword_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
                if (strcmp(keywords[i].name, name) == 0)
                        return &keywords[i];
        return NULL;
}

static int load_schema(Loader *l, const json_t *node) {
        const char *key;
        json_t *value;
        int r = 0;

        if (json_is_boolean(node))
                return 0;
        if (!json_is_object(node)) {
                char got[JSON_SCHEMA_VALUE_MAX + 16];
                return load_fail(l, "expected a schema (an object or a boolean), got %s",
                                 json_schema_describe(node, got, sizeof(got)));
        }
        if (l->depth >= JSON_SCHEMA_DEPTH_MAX)
                return load_fail(l, "schema nesting exceeds %u levels", JSON_SCHEMA_DEPTH_MAX);

        l->depth++;
        json_object_foreach((json_t *) node, key, value) {
                const Keyword *k = keyword_find(key);
                size_t mark;

                if (!k) {
                        r = load_fail(l, "unknown keyword \"%s\" (not supported by agent/core/json-schema.c)", key);
                        if (r < 0)
                                break;
                        continue;
                }
                mark = json_schema_path_push_key(&l->path, key);
                r = k->check(l, node, value);
                json_schema_path_pop(&l->path, mark);
                if (r < 0)
                        break;
        }
        l->depth--;
        return r;
}

JsonSchema *json_schema_free(JsonSchema *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_patterns; i++)
                regfree(&s->patterns[i].re);
        free(s->patterns);
        if (s->c_locale)
                freelocale(s->c_locale);
        json_decref(s->root);
        free(s);
        return NULL;
}

int json_schema_new(json_t *schema, JsonSchema **ret, JsonSchemaErrors *reterr) {
        _cleanup_json_schema_ JsonSchema *s = NULL;
        Loader l = { .errors = reterr };
        int r;

        if (!schema)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->root = json_incref(schema);
        s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
        if (!s->c_locale)
                return -ENOMEM;

        l.schema = s;
        json_schema_path_init(&l.path);
        r = load_schema(&l, schema);
        if (r < 0)
                return r;
        if (l.n_found > 0)
                return -EINVAL;
        if (s->n_patterns > 1)
                qsort(s->patterns, s->n_patterns, sizeof(s->patterns[0]), pattern_node_cmp);
        *ret = take_ptr(s);
        return 0;
}

int json_schema_new_from_string(const char *text, JsonSchema **ret, JsonSchemaErrors *reterr) {
        json_error_t err;
        json_auto_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        int r;

        if (!root) {
                r = json_schema_errors_add(reterr, "$", "invalid JSON at line %d, column %d: %s",
                                           err.line, err.column, err.text);
                return r < 0 ? r : -EINVAL;
        }
        return json_schema_new(root, ret, reterr);
}

const json_t *json_schema_root(const JsonSchema *s) {
        return s->root;
}

/* ---- validation ---------------------------------------------------------- */

typedef struct Validator {
        const JsonSchema *schema;
        JsonSchemaErrors *errors;
        JsonSchemaPath *path;
        unsigned depth;
        size_t n_found; /* errors found, kept or not */
        size_t limit;   /* stop after this many (oneOf alternatives need one) */
} Validator;

static bool validator_done(const Validator *v) {
        return v->n_found >= v->limit || (v->errors && v->errors->truncated);
}

/* Records an error at the current path; the message is built in a bounded
 * buffer. Returns 0 or -ENOMEM. */
static int vfail(Validator *v, const char *message) {
        v->n_found++;
        return json_schema_errors_add(v->errors, v->path->buf, "%s", message);
}

static int validate_node(Validator *v, const json_t *schema, const json_t *inst);

static bool type_matches(const char *name, const json_t *inst) {
        if (strcmp(name, "integer") == 0)
                return json_is_integer(inst);
        if (strcmp(name, "number") == 0)
                return json_is_number(inst);
        if (strcmp(name, "string") == 0)
                return json_is_string(inst);
        if (strcmp(name, "object") == 0)
                return json_is_object(inst);
        if (strcmp(name, "array") == 0)
                return json_is_array(inst);
        if (strcmp(name, "boolean") == 0)
                return json_is_boolean(inst);
        if (strcmp(name, "null") == 0)
                return json_is_null(inst);
        return false;
}

static int validate_type(Validator *v, const json_t *type, const json_t *inst, bool *ret_ok) {
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        Text t = TEXT_INIT(buf);
        size_t n;

        if (json_is_string(type)) {
                *ret_ok = type_matches(json_string_value(type), inst);
                if (*ret_ok)
                        return 0;
                text_printf(&t, "expected %s, got ", json_string_value(type));
                text_value(&t, inst);
                return vfail(v, buf);
        }
        n = json_array_size(type);
        for (size_t i = 0; i < n; i++)
                if (type_matches(json_string_value(json_array_get(type, i)), inst)) {
                        *ret_ok = true;
                        return 0;
                }
        *ret_ok = false;
        text_printf(&t, "expected ");
        for (size_t i = 0; i < n; i++)
                text_printf(&t, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                            json_string_value(json_array_get(type, i)));
        text_printf(&t, ", got ");
        text_value(&t, inst);
        return vfail(v, buf);
}

static int validate_enum(Validator *v, const json_t *values, const json_t *inst, bool *ret_ok) {
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        Text t = TEXT_INIT(buf);
        size_t n = json_array_size(values);

        for (size_t i = 0; i < n; i++)
                if (values_equal(json_array_get(values, i), inst, 0)) {
                        *ret_ok = true;
                        return 0;
                }
        *ret_ok = false;
        text_printf(&t, n == 1 ? "expected " : "expected one of ");
        for (size_t i = 0; i < n; i++) {
                text_printf(&t, "%s", i == 0 ? "" : ", ");
                text_value(&t, json_array_get(values, i));
        }
        text_printf(&t, ", got ");
        text_value(&t, inst);
        return vfail(v, buf);
}

static const char *alternative_label(const json_t *alt, size_t i, char *buf, size_t size) {
        const char *title = json_string_value(json_object_get(alt, "title"));

        if (title)
                return title;
        snprintf(buf, size, "alternative %zu", i + 1);
        return buf;
}

static int validate_one_of(Validator *v, const json_t *alts, const json_t *inst) {
        char buf[JSON_SCHEMA_MESSAGE_MAX], label[48];
        Text t = TEXT_INIT(buf);
        size_t n = json_array_size(alts), matched = 0, first = 0, second = 0;
        Text failures;
        char fbuf[JSON_SCHEMA_MESSAGE_MAX];

        failures = TEXT_INIT(fbuf);
        fbuf[0] = 0;
        for (size_t i = 0; i < n; i++) {
                const json_t *alt = json_array_get(alts, i);
                JsonSchemaErrors scratch = {};
                Validator sub = {
                        .schema = v->schema,
                        .errors = &scratch,
                        .path = v->path,
                        .depth = v->depth,
                        .limit = 1,
                };
                int r = validate_node(&sub, alt, inst);

                if (r < 0) {
                        json_schema_errors_clear(&scratch);
                        return r;
                }
                if (sub.n_found == 0) {
                        if (matched == 0)
                                first = i;
                        else if (matched == 1)
                                second = i;
                        matched++;
                } else if (scratch.n_items > 0) {
                        /* the first error, its path relative to ours */
                        const JsonSchemaError *e = &scratch.items[0];
                        const char *rel = e->path;

                        if (strncmp(rel, v->path->buf, v->path->len) == 0)
                                rel += v->path->len;
                        text_printf(&failures, "%s%s: %s%s%s", failures.len ? "; " : "",
                                    alternative_label(alt, i, label, sizeof(label)),
                                    *rel ? rel : "", *rel ? ": " : "", e->message);
                }
                json_schema_errors_clear(&scratch);
        }
        if (matched == 1)
                return 0;
        if (matched == 0)
                text_printf(&t, "no alternative matched: %s", fbuf);
        else {
                text_printf(&t, "expected exactly one alternative to match, %zu did: ", matched);
                text_printf(&t, "%s", alternative_label(json_array_get(alts, first), first, label, sizeof(label)));
                text_printf(&t, ", %s", alternative_label(json_array_get(alts, second), second, label, sizeof(label)));
                if (matched > 2)
                        text_printf(&t, ", ...");
        }
        return vfail(v, buf);
}

static int validate_number(Validator *v, const json_t *schema, const json_t *inst) {
        static const struct {
                const char *keyword;
                int bad_sign; /* number_cmp(inst, bound) result that fails */
                const char *op;
        } bounds[] = {
                { "minimum", -1, ">=" },
                { "maximum", +1, "<=" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bounds); i++) {
                const json_t *bound = json_object_get(schema, bounds[i].keyword);
                char buf[JSON_SCHEMA_MESSAGE_MAX];
                Text t = TEXT_INIT(buf);
                int r;

                if (!bound || number_cmp(inst, bound) != bounds[i].bad_sign)
                        continue;
                text_printf(&t, "expected %s %s ", json_is_integer(inst) ? "integer" : "number", bounds[i].op);
                text_value(&t, bound);
                text_printf(&t, ", got ");
                text_value(&t, inst);
                r = vfail(v, buf);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const regex_t *pattern_find(const JsonSchema *s, const json_t *node) {
        Pattern key = { .node = node };
        const Pattern *p = bsearch(&key, s->patterns, s->n_patterns, sizeof(key), pattern_node_cmp);

        return p ? &p->re : NULL;
}

static size_t utf8_length(const char *s, size_t n) {
        size_t count = 0;

        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xC0) != 0x80)
                        count++;
        return count;
}

static int validate_string(Validator *v, const json_t *schema, const json_t *inst) {
        const json_t *min = json_object_get(schema, "minLength");
        const json_t *max = json_object_get(schema, "maxLength");
        const json_t *pattern = json_object_get(schema, "pattern");
        const char *s = json_string_value(inst);
        size_t n = json_string_length(inst);
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        int r;

        if (min || max) {
                size_t chars = utf8_length(s, n);
                json_int_t lo = min ? json_integer_value(min) : 0;
                json_int_t hi = max ? json_integer_value(max) : 0;

                if (min && chars < (uint64_t) lo) {
                        snprintf(buf, sizeof(buf), "expected at least %" JSON_INTEGER_FORMAT " character%s, got %zu",
                                 lo, lo == 1 ? "" : "s", chars);
                        r = vfail(v, buf);
                        if (r < 0)
                                return r;
                }
                if (max && chars > (uint64_t) hi) {
                        snprintf(buf, sizeof(buf), "expected at most %" JSON_INTEGER_FORMAT " character%s, got %zu",
                                 hi, hi == 1 ? "" : "s", chars);
                        r = vfail(v, buf);
                        if (r < 0)
                                return r;
                }
        }
        if (pattern) {
                const regex_t *re = pattern_find(v->schema, schema);
                const char *title = json_string_value(json_object_get(schema, "title"));
                bool match = false;
                Text t = TEXT_INIT(buf);

                if (re && strlen(s) == n) {
                        locale_t old = uselocale(v->schema->c_locale);
                        match = regexec(re, s, 0, NULL, 0) == 0;
                        uselocale(old);
                }
                if (!match) {
                        if (title)
                                text_printf(&t, "expected %s, got ", title);
                        else {
                                text_printf(&t, "expected a string matching ");
                                text_string(&t, json_string_value(pattern), json_string_length(pattern),
                                            JSON_SCHEMA_MESSAGE_MAX);
                                text_printf(&t, ", got ");
                        }
                        text_value(&t, inst);
                        return vfail(v, buf);
                }
        }
        return 0;
}

typedef struct Item {
        const json_t *value;
        size_t index;
        char *canonical; /* objects and arrays only */
} Item;

static int item_class(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_NULL:
                return 0;
        case JSON_FALSE:
                return 1;
        case JSON_TRUE:
                return 2;
        case JSON_INTEGER:
        case JSON_REAL:
                return 3;
        case JSON_STRING:
                return 4;
        default:
                return 5;
        }
}

static int item_value_cmp(const Item *a, const Item *b) {
        int ca = item_class(a->value), cb = item_class(b->value);

        if (ca != cb)
                return (ca > cb) - (ca < cb);
        if (ca == 3)
                return number_cmp(a->value, b->value);
        if (ca == 4) {
                size_t na = json_string_length(a->value), nb = json_string_length(b->value);
                int c = memcmp(json_string_value(a->value), json_string_value(b->value), na < nb ? na : nb);
                return c ? c : (na > nb) - (na < nb);
        }
        if (ca == 5)
                return strcmp(a->canonical, b->canonical);
        return 0;
}

static int item_cmp(const void *x, const void *y) {
        const Item *a = x, *b = y;
        int c = item_value_cmp(a, b);

        return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* uniqueItems in O(n log n): sort by value, then report each item equal to
 * an earlier one, in document order. Objects and arrays compare by their
 * canonical text (sorted keys), so 1 and 1.0 inside them differ. */
static int validate_unique(Validator *v, const json_t *inst) {
        size_t n = json_array_size(inst);
        _cleanup_free_ Item *items = NULL;
        _cleanup_free_ size_t *dup_of = NULL;
        int r = 0;

        if (n < 2)
                return 0;
        items = calloc(n, sizeof(*items));
        dup_of = calloc(n, sizeof(*dup_of));
        if (!items || !dup_of)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                items[i] = (Item) { .value = json_array_get(inst, i), .index = i };
                if (item_class(items[i].value) == 5) {
                        items[i].canonical = json_dumps(items[i].value, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
                        if (!items[i].canonical) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }
        }
        qsort(items, n, sizeof(*items), item_cmp);
        for (size_t i = 0, group = 0; i < n; i++) {
                if (i > 0 && item_value_cmp(&items[group], &items[i]) != 0)
                        group = i;
                dup_of[items[i].index] = group == i ? SIZE_MAX : items[group].index;
        }
        for (size_t i = 0; i < n && r >= 0 && !validator_done(v); i++) {
                char buf[64];
                size_t mark;

                if (dup_of[i] == SIZE_MAX)
                        continue;
                mark = json_schema_path_push_index(v->path, i);
                snprintf(buf, sizeof(buf), "duplicate item, same as [%zu]", dup_of[i]);
                r = vfail(v, buf);
                json_schema_path_pop(v->path, mark);
        }
finish:
        for (size_t i = 0; i < n; i++)
                free(items[i].canonical);
        return r;
}

static int validate_array(Validator *v, const json_t *schema, const json_t *inst) {
        const json_t *min = json_object_get(schema, "minItems");
        const json_t *max = json_object_get(schema, "maxItems");
        const json_t *items = json_object_get(schema, "items");
        size_t n = json_array_size(inst);
        bool too_many = false;
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        int r;

        if (min && n < (uint64_t) json_integer_value(min)) {
                snprintf(buf, sizeof(buf), "expected at least %" JSON_INTEGER_FORMAT " item%s, got %zu",
                         json_integer_value(min), json_integer_value(min) == 1 ? "" : "s", n);
                r = vfail(v, buf);
                if (r < 0)
                        return r;
        }
        if (max && n > (uint64_t) json_integer_value(max)) {
                too_many = true;
                snprintf(buf, sizeof(buf), "expected at most %" JSON_INTEGER_FORMAT " item%s, got %zu",
                         json_integer_value(max), json_integer_value(max) == 1 ? "" : "s", n);
                r = vfail(v, buf);
                if (r < 0)
                        return r;
        }
        /* an array already too long is not also sorted for duplicates */
        if (json_is_true(json_object_get(schema, "uniqueItems")) && !too_many) {
                r = validate_unique(v, inst);
                if (r < 0)
                        return r;
        }
        if (items)
                for (size_t i = 0; i < n && !validator_done(v); i++) {
                        size_t mark = json_schema_path_push_index(v->path, i);
                        r = validate_node(v, items, json_array_get(inst, i));
                        json_schema_path_pop(v->path, mark);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* Optimal string alignment distance (a swap counts one), for "did you mean". */
static size_t edit_distance(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b);
        uint8_t d[SUGGEST_KEY_MAX + 1][SUGGEST_KEY_MAX + 1]; /* values <= 2 * SUGGEST_KEY_MAX */

        if (na > SUGGEST_KEY_MAX || nb > SUGGEST_KEY_MAX)
                return SIZE_MAX;
        for (size_t i = 0; i <= na; i++)
                d[i][0] = (uint8_t) i;
        for (size_t j = 0; j <= nb; j++)
                d[0][j] = (uint8_t) j;
        for (size_t i = 1; i <= na; i++)
                for (size_t j = 1; j <= nb; j++) {
                        unsigned cost = a[i - 1] != b[j - 1];
                        unsigned best = d[i - 1][j - 1] + cost;

                        if (d[i - 1][j] + 1u < best)
                                best = d[i - 1][j] + 1u;
                        if (d[i][j - 1] + 1u < best)
                                best = d[i][j - 1] + 1u;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < best)
                                best = d[i - 2][j - 2] + 1u;
                        d[i][j] = (uint8_t) best;
                }
        return d[na][nb];
}

static const char *suggest_property(const json_t *properties, const char *key) {
        const char *best = NULL, *name;
        size_t best_distance = 3; /* at most two edits ... */
        json_t *unused;

        json_object_foreach((json_t *) properties, name, unused) {
                size_t d = edit_distance(key, name);
                /* ... and fewer than half the name */
                if (d < best_distance && d * 2 < strlen(name)) {
                        best = name;
                        best_distance = d;
                }
        }
        return best;
}

static int validate_object(Validator *v, const json_t *schema, const json_t *inst) {
        const json_t *required = json_object_get(schema, "required");
        const json_t *properties = json_object_get(schema, "properties");
        const json_t *additional = json_object_get(schema, "additionalProperties");
        const char *key;
        json_t *value;
        int r;

        for (size_t i = 0; i < json_array_size(required) && !validator_done(v); i++) {
                const json_t *name = json_array_get(required, i);
                char buf[JSON_SCHEMA_MESSAGE_MAX];
                Text t = TEXT_INIT(buf);

                if (json_object_get(inst, json_string_value(name)))
                        continue;
                text_printf(&t, "missing required property ");
                text_value(&t, name);
                r = vfail(v, buf);
                if (r < 0)
                        return r;
        }
        json_object_foreach((json_t *) inst, key, value) {
                const json_t *sub = properties ? json_object_get(properties, key) : NULL;
                size_t mark;

                if (validator_done(v))
                        break;
                if (!sub && json_is_false(additional)) {
                        char buf[JSON_SCHEMA_MESSAGE_MAX];
                        Text t = TEXT_INIT(buf);
                        const char *hint = properties ? suggest_property(properties, key) : NULL;

                        text_printf(&t, "unknown property ");
                        text_string(&t, key, strlen(key), JSON_SCHEMA_VALUE_MAX);
                        if (hint)
                                text_printf(&t, " (did you mean \"%s\"?)", hint);
                        r = vfail(v, buf);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!sub)
                        sub = additional;
                if (!sub)
                        continue;
                mark = json_schema_path_push_key(v->path, key);
                r = validate_node(v, sub, value);
                json_schema_path_pop(v->path, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Applies every keyword of one schema object. A wrong type, const or enum
 * ends the checks of this value: more messages about it would say nothing
 * new. */
static int validate_keywords(Validator *v, const json_t *schema, const json_t *inst) {
        const json_t *k;
        bool ok;
        int r;

        k = json_object_get(schema, "type");
        if (k) {
                r = validate_type(v, k, inst, &ok);
                if (r < 0 || !ok)
                        return r;
        }
        k = json_object_get(schema, "const");
        if (k && !values_equal(k, inst, 0)) {
                char buf[JSON_SCHEMA_MESSAGE_MAX];
                Text t = TEXT_INIT(buf);

                text_printf(&t, "expected ");
                text_value(&t, k);
                text_printf(&t, ", got ");
                text_value(&t, inst);
                return vfail(v, buf);
        }
        k = json_object_get(schema, "enum");
        if (k) {
                r = validate_enum(v, k, inst, &ok);
                if (r < 0 || !ok)
                        return r;
        }
        k = json_object_get(schema, "$ref");
        if (k) {
                r = validate_node(v, ref_resolve(v->schema->root, json_string_value(k)), inst);
                if (r < 0)
                        return r;
        }
        k = json_object_get(schema, "oneOf");
        if (k) {
                r = validate_one_of(v, k, inst);
                if (r < 0)
                        return r;
        }
        if (json_is_number(inst))
                return validate_number(v, schema, inst);
        if (json_is_string(inst))
                return validate_string(v, schema, inst);
        if (json_is_array(inst))
                return validate_array(v, schema, inst);
        if (json_is_object(inst))
                return validate_object(v, schema, inst);
        return 0;
}

static int validate_node(Validator *v, const json_t *schema, const json_t *inst) {
        int r;

        if (validator_done(v))
                return 0;
        if (!schema || json_is_true(schema))
                return 0;
        if (json_is_false(schema)) {
                char buf[JSON_SCHEMA_MESSAGE_MAX];
                Text t = TEXT_INIT(buf);

                text_printf(&t, "no value is allowed here, got ");
                text_value(&t, inst);
                return vfail(v, buf);
        }
        if (v->depth >= JSON_SCHEMA_DEPTH_MAX) {
                char buf[64];

                snprintf(buf, sizeof(buf), "nesting exceeds %u levels", JSON_SCHEMA_DEPTH_MAX);
                return vfail(v, buf);
        }
        v->depth++;
        r = validate_keywords(v, schema, inst);
        v->depth--;
        return r;
}

int json_schema_validate(const JsonSchema *s, const json_t *instance, JsonSchemaErrors *reterr) {
        JsonSchemaPath path;
        Validator v = {
                .schema = s,
                .errors = reterr,
                .path = &path,
                /* without a list to fill, the first error decides */
                .limit = reterr ? SIZE_MAX : 1,
        };
        int r;

        if (!s || !instance)
                return -EINVAL;
        json_schema_path_init(&path);
        r = validate_node(&v, s->root, instance);
        if (r < 0)
                return r;
        return v.n_found > 0 ? -EINVAL : 0;
}
