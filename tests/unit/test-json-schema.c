/* Tests for agent/core/json-schema.c: the schema loader refuses every
 * unknown keyword and malformed value, each keyword refuses what it should
 * with the path and message it should, every error is collected (up to the
 * cap), and paths and values are rendered escaped and bounded. Schemas and
 * instances are written with ' for " to stay readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/json-schema.h"
#include "core/spec.h"

typedef struct Expect {
        const char *path;
        const char *message;
} Expect;

/* ' -> " so JSON fits in C strings without a wall of backslashes. */
static char *dequote(const char *text) {
        char *s = strdup(text);

        assert_non_null(s);
        for (char *c = s; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return s;
}

static json_t *json_q(const char *text) {
        _cleanup_free_ char *s = dequote(text);
        json_error_t err;
        json_t *j = json_loads(s, JSON_DECODE_ANY, &err);

        if (!j)
                fail_msg("test JSON does not parse: %s: %s", err.text, s);
        return j;
}

static JsonSchema *schema_q(const char *text) {
        json_auto_t *j = json_q(text);
        JsonSchemaErrors errors = {};
        JsonSchema *s = NULL;
        int r = json_schema_new(j, &s, &errors);

        for (size_t i = 0; i < errors.n_items; i++)
                print_message("schema error: %s: %s\n", errors.items[i].path, errors.items[i].message);
        json_schema_errors_clear(&errors);
        assert_int_equal(r, 0);
        return s;
}

static void print_errors(const JsonSchemaErrors *e) {
        for (size_t i = 0; i < e->n_items; i++)
                print_message("  got %s: %s\n", e->items[i].path, e->items[i].message);
}

static void assert_errors_are(const JsonSchemaErrors *e, const Expect *want, size_t n) {
        bool ok = e->n_items == n;

        for (size_t i = 0; ok && i < n; i++)
                ok = strcmp(e->items[i].path, want[i].path) == 0 && strcmp(e->items[i].message, want[i].message) == 0;
        if (!ok) {
                for (size_t i = 0; i < n; i++)
                        print_message("  want %s: %s\n", want[i].path, want[i].message);
                print_errors(e);
                fail();
        }
}

/* Validates `instance` against `schema` and checks the exact error list. */
static void validate_expect(const char *schema, const char *instance, const Expect *want, size_t n) {
        _cleanup_json_schema_ JsonSchema *s = schema_q(schema);
        json_auto_t *inst = json_q(instance);
        JsonSchemaErrors errors = {};
        int r = json_schema_validate(s, inst, &errors);

        assert_errors_are(&errors, want, n);
        assert_int_equal(r, n == 0 ? 0 : -EINVAL);
        json_schema_errors_clear(&errors);
}

#define VALIDATE(schema, instance, ...)                                                   \
        do {                                                                              \
                static const Expect want_[] = { __VA_ARGS__ };                            \
                validate_expect((schema), (instance), want_, ELEMENTSOF(want_));          \
        } while (0)
#define VALID(schema, instance) validate_expect((schema), (instance), NULL, 0)

/* Loads `schema`, expecting refusal with exactly these errors. */
static void load_expect(const char *schema, const Expect *want, size_t n) {
        json_auto_t *j = json_q(schema);
        JsonSchemaErrors errors = {};
        JsonSchema *s = NULL;
        int r = json_schema_new(j, &s, &errors);

        assert_int_equal(r, -EINVAL);
        assert_null(s);
        assert_errors_are(&errors, want, n);
        json_schema_errors_clear(&errors);
}

#define LOAD_REFUSED(schema, ...)                                                         \
        do {                                                                              \
                static const Expect want_[] = { __VA_ARGS__ };                            \
                load_expect((schema), want_, ELEMENTSOF(want_));                          \
        } while (0)

/* ---- loading ------------------------------------------------------------- */

static void test_json_schema_new_embedded_spec_schema_loads(void **state) {
        JsonSchemaErrors errors = {};
        JsonSchema *s = NULL;

        (void) state;
        assert_int_equal(json_schema_new_from_string(spec_schema_json, &s, &errors), 0);
        assert_int_equal(errors.n_items, 0);
        assert_non_null(json_schema_root(s));
        json_schema_free(s);
}

static void test_json_schema_new_annotations_accepted(void **state) {
        (void) state;
        json_schema_free(schema_q("{'$schema': 'https://json-schema.org/draft/2020-12/schema', '$id': 'x',"
                                  " 'title': 't', 'description': 'd', 'examples': [1], 'default': 2,"
                                  " '$comment': 'c'}"));
}

static void test_json_schema_new_unknown_keyword_refused(void **state) {
        (void) state;
        LOAD_REFUSED("{'type': 'object', 'properties': {'a': {'type': 'string', 'format': 'uri'}}}",
                     { "$.properties.a", "unknown keyword \"format\" (not supported by agent/core/json-schema.c)" });
        LOAD_REFUSED("{'$defs': {'mac': {'patern': '^a$'}}}",
                     { "$.$defs.mac", "unknown keyword \"patern\" (not supported by agent/core/json-schema.c)" });
        /* keywords of other drafts or not implemented are refused alike */
        LOAD_REFUSED("{'anyOf': [true], 'if': true}",
                     { "$", "unknown keyword \"anyOf\" (not supported by agent/core/json-schema.c)" },
                     { "$", "unknown keyword \"if\" (not supported by agent/core/json-schema.c)" });
}

static void test_json_schema_new_bad_keyword_values_refused(void **state) {
        (void) state;
        LOAD_REFUSED("{'type': 'int'}", { "$.type", "unknown type \"int\"" });
        LOAD_REFUSED("{'type': ['string', 'string']}", { "$.type", "type \"string\" listed twice" });
        LOAD_REFUSED("{'type': []}", { "$.type", "expected a type name or a non-empty array of them" });
        LOAD_REFUSED("{'minItems': -1}", { "$.minItems", "expected an integer >= 0" });
        LOAD_REFUSED("{'maxLength': 1.5}", { "$.maxLength", "expected an integer >= 0" });
        LOAD_REFUSED("{'minimum': '1'}", { "$.minimum", "expected a number" });
        LOAD_REFUSED("{'uniqueItems': 1}", { "$.uniqueItems", "expected true or false" });
        LOAD_REFUSED("{'required': ['a', 1]}", { "$.required", "expected an array of property names" });
        LOAD_REFUSED("{'enum': []}", { "$.enum", "expected a non-empty array" });
        LOAD_REFUSED("{'oneOf': []}", { "$.oneOf", "expected a non-empty array of schemas" });
        LOAD_REFUSED("{'oneOf': [true, 3]}", { "$.oneOf[1]", "expected a schema (an object or a boolean), got 3" });
        LOAD_REFUSED("{'items': 'x'}", { "$.items", "expected a schema (an object or a boolean), got \"x\"" });
        LOAD_REFUSED("{'properties': []}", { "$.properties", "expected an object of schemas" });
        LOAD_REFUSED("{'title': 1}", { "$.title", "expected a string" });
        LOAD_REFUSED("{'$schema': 'http://json-schema.org/draft-07/schema#'}",
                     { "$.$schema", "only \"https://json-schema.org/draft/2020-12/schema\" is supported" });
}

static void test_json_schema_new_bad_ref_refused(void **state) {
        (void) state;
        LOAD_REFUSED("{'$ref': '#/$defs/missing', '$defs': {}}",
                     { "$.$ref", "cannot resolve \"#/$defs/missing\": only \"#/$defs/NAME\" references to the root's $defs are supported" });
        LOAD_REFUSED("{'$ref': 'other.json#/x'}",
                     { "$.$ref", "cannot resolve \"other.json#/x\": only \"#/$defs/NAME\" references to the root's $defs are supported" });
        LOAD_REFUSED("{'items': {'$defs': {'a': true}}}", { "$.items.$defs", "$defs is only supported at the root" });
}

static void test_json_schema_new_unportable_pattern_refused(void **state) {
        (void) state;
        LOAD_REFUSED("{'pattern': 'abc'}", { "$.pattern", "must be anchored: ^...$" });
        LOAD_REFUSED("{'pattern': '^abc\\\\$'}", { "$.pattern", "must be anchored: ^...$" });
        LOAD_REFUSED("{'pattern': '^\\\\d+$'}",
                     { "$.pattern", "must not use backslash-letter or backslash-digit escapes (\\d, \\s, \\w, \\1, ...)" });
        LOAD_REFUSED("{'pattern': '^[[:alpha:]]+$'}", { "$.pattern", "must not use [:class:], [=c=] or [.c.] (ERE only)" });
        LOAD_REFUSED("{'pattern': '^[a\\\\-z]+$'}",
                     { "$.pattern", "must not use a backslash inside [...] (literal in ERE, an escape in ECMA-262)" });
        LOAD_REFUSED("{'pattern': '^[]a]+$'}",
                     { "$.pattern", "must not start [...] with ] (literal in ERE, an empty set in ECMA-262)" });
        /* escaped punctuation outside brackets is common to both */
        json_schema_free(schema_q("{'pattern': '^a\\\\.b\\\\[c\\\\]$'}"));
}

static void test_json_schema_new_uncompilable_pattern_refused(void **state) {
        json_auto_t *j = json_q("{'pattern': '^(a$'}");
        JsonSchemaErrors errors = {};
        JsonSchema *s = NULL;

        (void) state;
        assert_int_equal(json_schema_new(j, &s, &errors), -EINVAL);
        assert_int_equal(errors.n_items, 1);
        assert_string_equal(errors.items[0].path, "$.pattern");
        assert_non_null(strstr(errors.items[0].message, "does not compile as POSIX ERE: "));
        json_schema_errors_clear(&errors);
}

static void test_json_schema_new_deep_schema_refused(void **state) {
        char text[2048] = "";
        size_t n = 0;
        JsonSchemaErrors errors = {};
        json_auto_t *j = NULL;
        JsonSchema *s = NULL;

        (void) state;
        for (unsigned i = 0; i < JSON_SCHEMA_DEPTH_MAX + 2; i++)
                n += (size_t) snprintf(text + n, sizeof(text) - n, "{\"items\":");
        n += (size_t) snprintf(text + n, sizeof(text) - n, "true");
        for (unsigned i = 0; i < JSON_SCHEMA_DEPTH_MAX + 2; i++)
                n += (size_t) snprintf(text + n, sizeof(text) - n, "}");
        assert_true(n < sizeof(text) - 1);
        j = json_loads(text, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_schema_new(j, &s, &errors), -EINVAL);
        assert_int_equal(errors.n_items, 1);
        assert_string_equal(errors.items[0].message, "schema nesting exceeds 64 levels");
        json_schema_errors_clear(&errors);
}

static void test_json_schema_new_from_string_syntax_error_reported(void **state) {
        JsonSchemaErrors errors = {};
        JsonSchema *s = NULL;

        (void) state;
        assert_int_equal(json_schema_new_from_string("{\n \"type\": }", &s, &errors), -EINVAL);
        assert_int_equal(errors.n_items, 1);
        assert_string_equal(errors.items[0].path, "$");
        assert_non_null(strstr(errors.items[0].message, "invalid JSON at line 2, column "));
        json_schema_errors_clear(&errors);
}

/* ---- each keyword's refusal ---------------------------------------------- */

static void test_json_schema_validate_type_refused(void **state) {
        (void) state;
        VALIDATE("{'type': 'object'}", "[1]", { "$", "expected object, got an array" });
        VALIDATE("{'type': 'string'}", "{}", { "$", "expected string, got an object" });
        VALIDATE("{'type': 'boolean'}", "null", { "$", "expected boolean, got null" });
        VALIDATE("{'type': 'null'}", "false", { "$", "expected null, got false" });
        VALIDATE("{'type': 'number'}", "'1'", { "$", "expected number, got \"1\"" });
        VALID("{'type': 'number'}", "1");
        VALID("{'type': 'number'}", "1.5");
}

static void test_json_schema_validate_type_array_refused(void **state) {
        (void) state;
        VALIDATE("{'type': ['string', 'null']}", "3", { "$", "expected string or null, got 3" });
        VALIDATE("{'type': ['integer', 'string', 'null']}", "true", { "$", "expected integer, string or null, got true" });
        VALID("{'type': ['string', 'null']}", "null");
}

static void test_json_schema_validate_integer_refuses_real(void **state) {
        (void) state;
        /* stricter than the spec on purpose: callers use json_integer_value */
        VALIDATE("{'type': 'integer'}", "1.0", { "$", "expected integer, got 1.0" });
        VALIDATE("{'type': 'integer'}", "1.5", { "$", "expected integer, got 1.5" });
        VALID("{'type': 'integer'}", "-7");
}

static void test_json_schema_validate_const_refused(void **state) {
        (void) state;
        VALIDATE("{'const': 1}", "2", { "$", "expected 1, got 2" });
        VALIDATE("{'const': 'a'}", "'b'", { "$", "expected \"a\", got \"b\"" });
        VALID("{'const': 1}", "1.0"); /* JSON Schema equality is by value */
        VALID("{'const': {'a': [1, 2], 'b': null}}", "{'b': null, 'a': [1, 2]}");
}

static void test_json_schema_validate_enum_refused(void **state) {
        (void) state;
        VALIDATE("{'enum': ['controller', 'worker', 'seed']}", "'master'",
                 { "$", "expected one of \"controller\", \"worker\", \"seed\", got \"master\"" });
        VALIDATE("{'enum': ['only']}", "1", { "$", "expected \"only\", got 1" });
        VALID("{'enum': [1, 'a', null]}", "null");
}

static void test_json_schema_validate_minimum_refused(void **state) {
        (void) state;
        VALIDATE("{'minimum': 1}", "0", { "$", "expected integer >= 1, got 0" });
        VALIDATE("{'minimum': 1}", "0.5", { "$", "expected number >= 1, got 0.5" });
        VALIDATE("{'minimum': 0.5}", "0", { "$", "expected integer >= 0.5, got 0" });
        VALID("{'minimum': 1}", "1");
        VALID("{'minimum': 1}", "'not a number'");
}

static void test_json_schema_validate_maximum_refused(void **state) {
        (void) state;
        VALIDATE("{'maximum': 23}", "24", { "$", "expected integer <= 23, got 24" });
        VALIDATE("{'maximum': -1}", "9223372036854775807", { "$", "expected integer <= -1, got 9223372036854775807" });
        VALID("{'maximum': 23}", "23");
}

static void test_json_schema_validate_min_length_refused(void **state) {
        (void) state;
        VALIDATE("{'minLength': 1}", "''", { "$", "expected at least 1 character, got 0" });
        VALIDATE("{'minLength': 3}", "'\\u00e9\\u00e9'", { "$", "expected at least 3 characters, got 2" });
        VALID("{'minLength': 2}", "'\\u00e9\\u00e9'");
}

static void test_json_schema_validate_max_length_counts_code_points(void **state) {
        (void) state;
        /* four bytes of UTF-8, two characters */
        VALID("{'maxLength': 2}", "'\\u00e9\\u00e9'");
        VALIDATE("{'maxLength': 2}", "'\\ud83d\\ude00ab'", { "$", "expected at most 2 characters, got 3" });
        VALIDATE("{'maxLength': 1}", "'ab'", { "$", "expected at most 1 character, got 2" });
}

static void test_json_schema_validate_pattern_refused(void **state) {
        (void) state;
        VALIDATE("{'pattern': '^[a-z]+$'}", "'aBc'", { "$", "expected a string matching \"^[a-z]+$\", got \"aBc\"" });
        VALIDATE("{'title': 'a lower-case word', 'pattern': '^[a-z]+$'}", "'aBc'",
                 { "$", "expected a lower-case word, got \"aBc\"" });
        /* anchors are whole-string: no partial matches, no newline tricks */
        VALIDATE("{'pattern': '^[a-z]+$'}", "'abc\\ndef'", { "$", "expected a string matching \"^[a-z]+$\", got \"abc\\ndef\"" });
        VALID("{'pattern': '^[a-z]+$'}", "'abc'");
        VALID("{'pattern': '^[a-z]+$'}", "7");
}

static void test_json_schema_validate_min_items_refused(void **state) {
        (void) state;
        VALIDATE("{'minItems': 1}", "[]", { "$", "expected at least 1 item, got 0" });
        VALIDATE("{'minItems': 3}", "[1]", { "$", "expected at least 3 items, got 1" });
}

static void test_json_schema_validate_max_items_refused(void **state) {
        (void) state;
        VALIDATE("{'maxItems': 2}", "[1, 2, 3]", { "$", "expected at most 2 items, got 3" });
        /* too long: no uniqueness report on top */
        VALIDATE("{'maxItems': 1, 'uniqueItems': true}", "[1, 1]", { "$", "expected at most 1 item, got 2" });
}

static void test_json_schema_validate_unique_items_refused(void **state) {
        (void) state;
        VALIDATE("{'uniqueItems': true}", "['a', 'b', 'a', 'c', 'a']",
                 { "$[2]", "duplicate item, same as [0]" },
                 { "$[4]", "duplicate item, same as [0]" });
        VALIDATE("{'uniqueItems': true}", "[7, 1, 1.0]", { "$[2]", "duplicate item, same as [1]" });
        VALIDATE("{'uniqueItems': true}", "[{'a': 1, 'b': 2}, {'b': 2, 'a': 1}]", { "$[1]", "duplicate item, same as [0]" });
        VALID("{'uniqueItems': true}", "[1, '1', true, null, [1], {'1': 1}]");
        VALID("{'uniqueItems': false}", "[1, 1]");
}

static void test_json_schema_validate_items_refused(void **state) {
        (void) state;
        VALIDATE("{'items': {'type': 'integer', 'minimum': 0, 'maximum': 23}}", "[0, 24, -1, 'x']",
                 { "$[1]", "expected integer <= 23, got 24" },
                 { "$[2]", "expected integer >= 0, got -1" },
                 { "$[3]", "expected integer, got \"x\"" });
}

static void test_json_schema_validate_required_refused(void **state) {
        (void) state;
        VALIDATE("{'required': ['fleet', 'version']}", "{'version': 1}", { "$", "missing required property \"fleet\"" });
        VALID("{'required': ['a']}", "[]");
}

static void test_json_schema_validate_additional_properties_false_refused(void **state) {
        (void) state;
        VALIDATE("{'properties': {'password_file': true, 'username': true}, 'additionalProperties': false}",
                 "{'username': 'x', 'pasword': 1}", { "$", "unknown property \"pasword\"" });
        VALIDATE("{'properties': {'network': true}, 'additionalProperties': false}", "{'netwrok': 1}",
                 { "$", "unknown property \"netwrok\" (did you mean \"network\"?)" });
        VALIDATE("{'additionalProperties': false}", "{'a': 1}", { "$", "unknown property \"a\"" });
}

static void test_json_schema_validate_additional_properties_schema_refused(void **state) {
        (void) state;
        VALIDATE("{'properties': {'a': true}, 'additionalProperties': {'type': 'integer'}}", "{'a': 'x', 'b': 'y'}",
                 { "$.b", "expected integer, got \"y\"" });
}

static void test_json_schema_validate_properties_refused(void **state) {
        (void) state;
        VALIDATE("{'properties': {'bmc': {'properties': {'endpoint': {'type': 'string'}}}}}",
                 "{'bmc': {'endpoint': 5}}", { "$.bmc.endpoint", "expected string, got 5" });
}

static void test_json_schema_validate_ref_refused(void **state) {
        (void) state;
        VALIDATE("{'$defs': {'port': {'type': 'integer', 'maximum': 65535}},"
                 " 'properties': {'p': {'$ref': '#/$defs/port', 'minimum': 1}}}",
                 "{'p': 0}", { "$.p", "expected integer >= 1, got 0" });
        VALIDATE("{'$defs': {'port': {'type': 'integer', 'maximum': 65535}},"
                 " 'properties': {'p': {'$ref': '#/$defs/port', 'minimum': 1}}}",
                 "{'p': 65536}", { "$.p", "expected integer <= 65535, got 65536" });
}

static void test_json_schema_validate_ref_cycle_bounded(void **state) {
        (void) state;
        VALIDATE("{'$defs': {'a': {'$ref': '#/$defs/a'}}, '$ref': '#/$defs/a'}", "1",
                 { "$", "nesting exceeds 64 levels" });
}

static void test_json_schema_validate_one_of_none_refused(void **state) {
        (void) state;
        VALIDATE("{'oneOf': [{'title': 'file reference', 'required': ['file']},"
                 "           {'required': ['systemd_credential']}]}",
                 "{}",
                 { "$", "no alternative matched: file reference: missing required property \"file\"; "
                        "alternative 2: missing required property \"systemd_credential\"" });
        /* deeper failures show their path relative to the oneOf */
        VALIDATE("{'oneOf': [{'title': 'A', 'properties': {'x': {'type': 'string'}}, 'required': ['x']},"
                 "           {'title': 'B', 'type': 'array'}]}",
                 "{'x': 1}",
                 { "$", "no alternative matched: A: .x: expected string, got 1; B: expected array, got an object" });
}

static void test_json_schema_validate_one_of_several_refused(void **state) {
        (void) state;
        VALIDATE("{'oneOf': [{'title': 'number', 'type': 'number'}, {'title': 'integer', 'type': 'integer'}]}", "3",
                 { "$", "expected exactly one alternative to match, 2 did: number, integer" });
        VALID("{'oneOf': [{'type': 'number'}, {'type': 'integer'}]}", "3.5");
}

static void test_json_schema_validate_false_schema_refused(void **state) {
        (void) state;
        VALIDATE("{'properties': {'a': false}}", "{'a': 1}", { "$.a", "no value is allowed here, got 1" });
        VALID("true", "{'anything': [1]}");
}

/* ---- collection, caps, paths --------------------------------------------- */

static void test_json_schema_validate_collects_every_error(void **state) {
        (void) state;
        VALIDATE("{'type': 'object', 'required': ['a', 'b'], 'additionalProperties': false,"
                 " 'properties': {'a': {'type': 'integer'}, 'c': {'items': {'enum': [1]}}}}",
                 "{'a': 'x', 'c': [1, 2, 3], 'd': 1}",
                 { "$", "missing required property \"b\"" },
                 { "$.a", "expected integer, got \"x\"" },
                 { "$.c[1]", "expected 1, got 2" },
                 { "$.c[2]", "expected 1, got 3" },
                 { "$", "unknown property \"d\"" });
}

static void test_json_schema_validate_error_count_capped(void **state) {
        _cleanup_json_schema_ JsonSchema *s = schema_q("{'items': {'type': 'string'}}");
        json_auto_t *inst = json_array();
        JsonSchemaErrors errors = {};

        (void) state;
        for (unsigned i = 0; i < JSON_SCHEMA_ERRORS_MAX + 50; i++)
                assert_int_equal(json_array_append_new(inst, json_integer(i)), 0);
        assert_int_equal(json_schema_validate(s, inst, &errors), -EINVAL);
        assert_int_equal(errors.n_items, JSON_SCHEMA_ERRORS_MAX);
        assert_true(errors.truncated);
        assert_string_equal(errors.items[JSON_SCHEMA_ERRORS_MAX - 1].path, "$[255]");
        json_schema_errors_clear(&errors);
}

static void test_json_schema_validate_without_error_list_decides(void **state) {
        _cleanup_json_schema_ JsonSchema *s = schema_q("{'type': 'integer'}");
        json_auto_t *bad = json_string("x"), *good = json_integer(1);

        (void) state;
        assert_int_equal(json_schema_validate(s, bad, NULL), -EINVAL);
        assert_int_equal(json_schema_validate(s, good, NULL), 0);
}

static void test_json_schema_validate_odd_keys_escaped_in_path(void **state) {
        (void) state;
        VALIDATE("{'additionalProperties': {'type': 'integer'}}", "{'a b': 'x', '\\u001b[31m': 'y', '$ok_1': 'z'}",
                 { "$[\"a b\"]", "expected integer, got \"x\"" },
                 { "$[\"\\u001b[31m\"]", "expected integer, got \"y\"" },
                 { "$.$ok_1", "expected integer, got \"z\"" });
}

static void test_json_schema_path_push_key_long_key_cut(void **state) {
        char key[200];
        JsonSchemaPath p;

        (void) state;
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = 0;
        json_schema_path_init(&p);
        size_t mark = json_schema_path_push_key(&p, key);
        assert_int_equal(mark, 1);
        /* $ [ " 64 k's ... " ] */
        assert_int_equal(strlen(p.buf), 1 + 2 + JSON_SCHEMA_PATH_KEY_MAX + 3 + 2);
        assert_non_null(strstr(p.buf, "...\"]"));
        json_schema_path_pop(&p, mark);
        assert_string_equal(p.buf, "$");
}

static void test_json_schema_path_push_index_overflow_cut(void **state) {
        JsonSchemaPath p;

        (void) state;
        json_schema_path_init(&p);
        for (size_t i = 0; i < JSON_SCHEMA_PATH_MAX; i++)
                json_schema_path_push_index(&p, i);
        assert_int_equal(strlen(p.buf), JSON_SCHEMA_PATH_MAX - 1);
        assert_int_equal(p.len, JSON_SCHEMA_PATH_MAX - 1);
        assert_string_equal(p.buf + p.len - 3, "...");
        json_schema_path_pop(&p, 1);
        assert_string_equal(p.buf, "$");
}

static void test_json_schema_describe_escapes_and_cuts(void **state) {
        char buf[128];
        json_auto_t *ctl = json_string("a\"b\\c\n\x7f\xc3\xa9\xf0\x9f\x98\x80");
        json_auto_t *longs = NULL;
        json_auto_t *obj = json_object(), *arr = json_array(), *real = json_real(0.25);
        char text[100];

        (void) state;
        assert_string_equal(json_schema_describe(ctl, buf, sizeof(buf)), "\"a\\\"b\\\\c\\n\\u007f\\u00e9\\ud83d\\ude00\"");
        memset(text, 'x', sizeof(text) - 1);
        text[sizeof(text) - 1] = 0;
        longs = json_string(text);
        json_schema_describe(longs, buf, sizeof(buf));
        assert_int_equal(strlen(buf), 1 + JSON_SCHEMA_VALUE_MAX + 3 + 1);
        assert_string_equal(json_schema_describe(obj, buf, sizeof(buf)), "an object");
        assert_string_equal(json_schema_describe(arr, buf, sizeof(buf)), "an array");
        assert_string_equal(json_schema_describe(real, buf, sizeof(buf)), "0.25");
        /* a small buffer is cut, still terminated */
        json_schema_describe(longs, buf, 8);
        assert_int_equal(strlen(buf), 7);
}

static void test_json_schema_errors_move_appends_and_empties(void **state) {
        JsonSchemaErrors a = {}, b = {};

        (void) state;
        assert_int_equal(json_schema_errors_add(&a, "$.a", "one %d", 1), 0);
        assert_int_equal(json_schema_errors_add(&b, "$.b", "two"), 0);
        assert_int_equal(json_schema_errors_add(&b, "$.c", "three"), 0);
        assert_int_equal(json_schema_errors_move(&a, &b), 0);
        assert_int_equal(b.n_items, 0);
        assert_null(b.items);
        assert_int_equal(a.n_items, 3);
        assert_string_equal(a.items[0].message, "one 1");
        assert_string_equal(a.items[2].path, "$.c");
        json_schema_errors_remove(&a, 1);
        assert_int_equal(a.n_items, 2);
        assert_string_equal(a.items[1].message, "three");
        json_schema_errors_remove(&a, 5); /* out of range: nothing */
        assert_int_equal(a.n_items, 2);
        json_schema_errors_clear(&a);
        assert_int_equal(a.n_items, 0);
        /* a NULL list takes nothing and fails nothing */
        assert_int_equal(json_schema_errors_add(NULL, "$", "x"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_schema_new_embedded_spec_schema_loads),
                cmocka_unit_test(test_json_schema_new_annotations_accepted),
                cmocka_unit_test(test_json_schema_new_unknown_keyword_refused),
                cmocka_unit_test(test_json_schema_new_bad_keyword_values_refused),
                cmocka_unit_test(test_json_schema_new_bad_ref_refused),
                cmocka_unit_test(test_json_schema_new_unportable_pattern_refused),
                cmocka_unit_test(test_json_schema_new_uncompilable_pattern_refused),
                cmocka_unit_test(test_json_schema_new_deep_schema_refused),
                cmocka_unit_test(test_json_schema_new_from_string_syntax_error_reported),
                cmocka_unit_test(test_json_schema_validate_type_refused),
                cmocka_unit_test(test_json_schema_validate_type_array_refused),
                cmocka_unit_test(test_json_schema_validate_integer_refuses_real),
                cmocka_unit_test(test_json_schema_validate_const_refused),
                cmocka_unit_test(test_json_schema_validate_enum_refused),
                cmocka_unit_test(test_json_schema_validate_minimum_refused),
                cmocka_unit_test(test_json_schema_validate_maximum_refused),
                cmocka_unit_test(test_json_schema_validate_min_length_refused),
                cmocka_unit_test(test_json_schema_validate_max_length_counts_code_points),
                cmocka_unit_test(test_json_schema_validate_pattern_refused),
                cmocka_unit_test(test_json_schema_validate_min_items_refused),
                cmocka_unit_test(test_json_schema_validate_max_items_refused),
                cmocka_unit_test(test_json_schema_validate_unique_items_refused),
                cmocka_unit_test(test_json_schema_validate_items_refused),
                cmocka_unit_test(test_json_schema_validate_required_refused),
                cmocka_unit_test(test_json_schema_validate_additional_properties_false_refused),
                cmocka_unit_test(test_json_schema_validate_additional_properties_schema_refused),
                cmocka_unit_test(test_json_schema_validate_properties_refused),
                cmocka_unit_test(test_json_schema_validate_ref_refused),
                cmocka_unit_test(test_json_schema_validate_ref_cycle_bounded),
                cmocka_unit_test(test_json_schema_validate_one_of_none_refused),
                cmocka_unit_test(test_json_schema_validate_one_of_several_refused),
                cmocka_unit_test(test_json_schema_validate_false_schema_refused),
                cmocka_unit_test(test_json_schema_validate_collects_every_error),
                cmocka_unit_test(test_json_schema_validate_error_count_capped),
                cmocka_unit_test(test_json_schema_validate_without_error_list_decides),
                cmocka_unit_test(test_json_schema_validate_odd_keys_escaped_in_path),
                cmocka_unit_test(test_json_schema_path_push_key_long_key_cut),
                cmocka_unit_test(test_json_schema_path_push_index_overflow_cut),
                cmocka_unit_test(test_json_schema_describe_escapes_and_cuts),
                cmocka_unit_test(test_json_schema_errors_move_appends_and_empties),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
