/* Tests for agent/cluster/yaml-json.c: scalar typing as Kubernetes types
 * plain scalars (go-yaml v2), strings that stay strings, documents,
 * anchors and merge keys, positions, and every refusal: syntax, duplicate
 * keys, undefined aliases, alias bombs, depth, size, invalid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/yaml-json.h"
#include "core/cleanup.h"

static json_t *parse_one(const char *yaml) {
        json_t *doc = NULL;
        _cleanup_free_ char *err = NULL;
        int r = yaml_json_parse_one(yaml, strlen(yaml), "t.yaml", &doc, NULL, &err);
        if (r < 0)
                fail_msg("parse failed: %d %s", r, err ? err : "");
        return doc;
}

/* Parses "v: <text>" and returns v. */
static json_t *value_of(const char *text) {
        _cleanup_free_ char *yaml = NULL;
        json_auto_t *doc = NULL;
        assert_true(asprintf(&yaml, "v: %s\n", text) > 0);
        doc = parse_one(yaml);
        return json_incref(json_object_get(doc, "v"));
}

static void expect_refused(const char *yaml, int want, const char *substring) {
        json_auto_t *docs = NULL;
        _cleanup_free_ char *err = NULL;
        int r = yaml_json_parse(yaml, strlen(yaml), "t.yaml", 0, &docs, NULL, &err);
        assert_int_equal(r, want);
        assert_null(docs);
        assert_non_null(err);
        if (substring && !strstr(err, substring))
                fail_msg("error \"%s\" lacks \"%s\"", err, substring);
}

static const struct {
        const char *text;
        int kind; /* 1 true, 0 false, -1 null */
} word_vectors[] = {
        { "true", 1 },   { "True", 1 },   { "TRUE", 1 },  { "yes", 1 },    { "Yes", 1 },   { "YES", 1 },
        { "on", 1 },     { "On", 1 },     { "ON", 1 },    { "y", 1 },      { "Y", 1 },     { "false", 0 },
        { "False", 0 },  { "FALSE", 0 },  { "no", 0 },    { "No", 0 },     { "NO", 0 },    { "off", 0 },
        { "Off", 0 },    { "OFF", 0 },    { "n", 0 },     { "N", 0 },      { "null", -1 }, { "Null", -1 },
        { "NULL", -1 },  { "~", -1 },     { "", -1 },
};

static void test_yaml_json_parse_words(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(word_vectors); i++) {
                json_auto_t *v = value_of(word_vectors[i].text);
                switch (word_vectors[i].kind) {
                case 1: assert_true(json_is_true(v)); break;
                case 0: assert_true(json_is_false(v)); break;
                default: assert_true(json_is_null(v));
                }
        }
}

static const struct {
        const char *text;
        long long value;
} int_vectors[] = {
        { "0", 0 },
        { "42", 42 },
        { "-7", -7 },
        { "+3", 3 },
        { "0x1F", 31 },
        { "0X1f", 31 },
        { "0o17", 15 },
        { "017", 15 },
        { "0b101", 5 },
        { "1_000", 1000 },
        { "9223372036854775807", INT64_MAX },
        { "-9223372036854775808", INT64_MIN },
        { "-0x10", -16 },
};

static void test_yaml_json_parse_integers(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(int_vectors); i++) {
                json_auto_t *v = value_of(int_vectors[i].text);
                if (!json_is_integer(v))
                        fail_msg("%s is not an integer", int_vectors[i].text);
                assert_true(json_integer_value(v) == int_vectors[i].value);
        }
}

static const struct {
        const char *text;
        double value;
} float_vectors[] = {
        { "1.5", 1.5 },
        { ".5", 0.5 },
        { "-2.5e-3", -0.0025 },
        { "1e3", 1000.0 },
        { "1.", 1.0 },
        { "08", 8.0 },                    /* not octal: go-yaml falls through to a float */
        { "18446744073709551615", 18446744073709551615.0 }, /* past int64: unsigned, kept as a number */
        { "99999999999999999999999", 1e23 },
};

static void test_yaml_json_parse_floats(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(float_vectors); i++) {
                json_auto_t *v = value_of(float_vectors[i].text);
                if (!json_is_real(v))
                        fail_msg("%s is not a real", float_vectors[i].text);
                assert_true(json_real_value(v) == float_vectors[i].value);
        }
}

static void test_yaml_json_parse_strings_stay_strings(void **state) {
        static const struct {
                const char *text, *value;
        } vectors[] = {
                { "\"true\"", "true" },  { "'42'", "42" },       { "\"\"", "" },          { "!!str 42", "42" },
                { "!!str yes", "yes" },  { "abc", "abc" },       { "1.2.3", "1.2.3" },    { "0x", "0x" },
                { "1e999", "1e999" },    { "2001-12-14", "2001-12-14" }, { "_", "_" },  { "+", "+" },
                { "\"\\x41\\u00e9\"", "A\xc3\xa9" }, { "0b2", "0b2" }, { "1_", NULL },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                json_auto_t *v = value_of(vectors[i].text);
                if (!vectors[i].value)
                        continue; /* only checking it parses */
                if (!json_is_string(v) || strcmp(json_string_value(v), vectors[i].value) != 0)
                        fail_msg("%s: not the string \"%s\"", vectors[i].text, vectors[i].value);
        }
}

static void test_yaml_json_parse_block_scalars(void **state) {
        json_auto_t *doc = parse_one("a: |\n  yes\n  no\nb: >-\n  one\n  two\nc: |-\n  42\n");
        (void) state;
        assert_string_equal(json_string_value(json_object_get(doc, "a")), "yes\nno\n");
        assert_string_equal(json_string_value(json_object_get(doc, "b")), "one two");
        assert_string_equal(json_string_value(json_object_get(doc, "c")), "42");
}

static void test_yaml_json_parse_keys_as_written(void **state) {
        json_auto_t *doc = parse_one("yes: 1\n1: a\n~: b\n\"q\": c\n");
        (void) state;
        assert_int_equal(json_integer_value(json_object_get(doc, "yes")), 1);
        assert_string_equal(json_string_value(json_object_get(doc, "1")), "a");
        assert_string_equal(json_string_value(json_object_get(doc, "~")), "b");
        assert_string_equal(json_string_value(json_object_get(doc, "q")), "c");
}

static void test_yaml_json_parse_json_input(void **state) {
        json_auto_t *doc = parse_one("{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}}");
        json_auto_t *want = json_loads("{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}}", 0, NULL);
        (void) state;
        assert_true(json_equal(doc, want));
}

static void test_yaml_json_parse_documents(void **state) {
        const char *yaml = "---\na: 1\n---\n# only a comment\n---\n- x\n---\n";
        json_auto_t *all = NULL, *some = NULL;
        (void) state;

        assert_int_equal(yaml_json_parse(yaml, strlen(yaml), NULL, 0, &all, NULL, NULL), 0);
        assert_int_equal(json_array_size(all), 4);
        assert_true(json_is_null(json_array_get(all, 1)));
        assert_true(json_is_null(json_array_get(all, 3)));
        assert_int_equal(yaml_json_parse(yaml, strlen(yaml), NULL, YAML_JSON_SKIP_EMPTY, &some, NULL, NULL), 0);
        assert_int_equal(json_array_size(some), 2);
        assert_true(json_is_object(json_array_get(some, 0)));
        assert_true(json_is_array(json_array_get(some, 1)));
}

static void test_yaml_json_parse_empty_stream(void **state) {
        json_auto_t *docs = NULL;
        (void) state;
        assert_int_equal(yaml_json_parse("", 0, NULL, 0, &docs, NULL, NULL), 0);
        assert_int_equal(json_array_size(docs), 0);
        json_decref(docs);
        docs = NULL;
        assert_int_equal(yaml_json_parse(NULL, 0, NULL, 0, &docs, NULL, NULL), 0);
        assert_int_equal(json_array_size(docs), 0);
}

static void test_yaml_json_parse_one_counts(void **state) {
        json_t *doc = NULL;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        (void) state;
        assert_int_equal(yaml_json_parse_one("# nothing\n", 10, "k", &doc, NULL, &e1), -EBADMSG);
        assert_string_equal(e1, "k: no document");
        assert_int_equal(yaml_json_parse_one("a\n---\nb\n", 8, "k", &doc, NULL, &e2), -EBADMSG);
        assert_string_equal(e2, "k: 2 documents, expected one");
        assert_null(doc);
}

static void test_yaml_json_parse_aliases_copied(void **state) {
        json_auto_t *doc = parse_one("a: &x {b: [1, 2]}\nc: *x\nd: &s hello\ne: *s\n");
        json_t *a, *c;
        (void) state;
        a = json_object_get(doc, "a");
        c = json_object_get(doc, "c");
        assert_true(json_equal(a, c));
        /* a copy: editing one leaves the other */
        assert_ptr_not_equal(a, c);
        json_object_set_new(c, "z", json_true());
        assert_null(json_object_get(a, "z"));
        assert_string_equal(json_string_value(json_object_get(doc, "e")), "hello");
}

static void test_yaml_json_parse_merge_keys(void **state) {
        json_auto_t *doc = parse_one("base: &b {x: 1, y: 2}\n"
                                     "other: &o {y: 9, z: 3}\n"
                                     "one: {<<: *b, y: 5}\n"
                                     "before: {y: 6, <<: *b}\n"
                                     "two:\n  <<: [*b, *o]\n  w: 0\n");
        json_auto_t *one = json_loads("{\"x\": 1, \"y\": 5}", 0, NULL);
        json_auto_t *before = json_loads("{\"x\": 1, \"y\": 6}", 0, NULL);
        json_auto_t *two = json_loads("{\"x\": 1, \"y\": 2, \"z\": 3, \"w\": 0}", 0, NULL);
        (void) state;
        assert_true(json_equal(json_object_get(doc, "one"), one));
        assert_true(json_equal(json_object_get(doc, "before"), before));
        assert_true(json_equal(json_object_get(doc, "two"), two));
}

static void test_yaml_json_parse_merge_refused(void **state) {
        (void) state;
        expect_refused("a: {<<: 1}\n", -EBADMSG, "merge key");
        expect_refused("a: {<<: [1]}\n", -EBADMSG, "merge key");
        expect_refused("b: &b {x: 1}\na: {<<: *b, <<: *b}\n", -EBADMSG, "duplicate key");
}

static void test_yaml_json_parse_quoted_merge_is_a_key(void **state) {
        json_auto_t *doc = parse_one("\"<<\": 1\n");
        (void) state;
        assert_int_equal(json_integer_value(json_object_get(doc, "<<")), 1);
}

static void test_yaml_json_parse_duplicate_key(void **state) {
        (void) state;
        expect_refused("a: 1\nb: 2\na: 3\n", -EBADMSG, "t.yaml:3:1: duplicate key \"a\"");
}

static void test_yaml_json_parse_undefined_alias(void **state) {
        (void) state;
        expect_refused("a: *nope\n", -EBADMSG, "t.yaml:1:4: undefined alias *nope");
        /* anchors do not cross documents */
        expect_refused("a: &x 1\n---\nb: *x\n", -EBADMSG, "undefined alias");
        /* nor may a node refer to itself */
        expect_refused("a: &x [1, *x]\n", -EBADMSG, "undefined alias");
}

static void test_yaml_json_parse_complex_key(void **state) {
        (void) state;
        expect_refused("? [a, b]\n: 1\n", -EBADMSG, "key that is a mapping or a sequence");
        expect_refused("{[1]: 2}\n", -EBADMSG, "key that is a mapping or a sequence");
        expect_refused("a: &x [1]\n*x : 2\n", -EBADMSG, "alias used as a key");
}

static void test_yaml_json_parse_alias_key(void **state) {
        json_auto_t *doc = parse_one("a: &k name\n*k : 2\n");
        (void) state;
        assert_int_equal(json_integer_value(json_object_get(doc, "name")), 2);
}

static void test_yaml_json_parse_nul_key(void **state) {
        (void) state;
        expect_refused("\"a\\0b\": 1\n", -EBADMSG, "NUL");
}

static void test_yaml_json_parse_nan_inf(void **state) {
        (void) state;
        expect_refused("a: .nan\n", -EBADMSG, "t.yaml:1:4: not-a-number");
        expect_refused("a: [-.inf]\n", -EBADMSG, "infinity");
        json_auto_t *doc = parse_one("a: \".nan\"\n");
        assert_string_equal(json_string_value(json_object_get(doc, "a")), ".nan");
}

/* Billion laughs: nine levels of ten aliases each, a few hundred bytes
 * that would expand to 10^9 values. */
static void test_yaml_json_parse_alias_bomb(void **state) {
        _cleanup_free_ char *yaml = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&yaml, &size);
        (void) state;

        assert_non_null(f);
        fprintf(f, "a0: &a0 [lol]\n");
        for (int i = 1; i <= 9; i++) {
                fprintf(f, "a%d: &a%d [", i, i);
                for (int j = 0; j < 10; j++)
                        fprintf(f, "%s*a%d", j ? ", " : "", i - 1);
                fprintf(f, "]\n");
        }
        assert_int_equal(fclose(f), 0);
        expect_refused(yaml, -E2BIG, "too many values");
}

static void test_yaml_json_parse_too_many_aliases(void **state) {
        _cleanup_free_ char *yaml = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&yaml, &size);
        (void) state;

        assert_non_null(f);
        fprintf(f, "a: &a x\nb: [");
        for (unsigned i = 0; i <= YAML_JSON_ALIASES_MAX; i++)
                fprintf(f, "%s*a", i ? "," : "");
        fprintf(f, "]\n");
        assert_int_equal(fclose(f), 0);
        expect_refused(yaml, -E2BIG, "too many aliases");
}

static char *nested(unsigned depth) {
        char *s = malloc(2 * depth + 2);
        assert_non_null(s);
        for (unsigned i = 0; i < depth; i++) {
                s[i] = '[';
                s[depth + i] = ']';
        }
        s[2 * depth] = '\n';
        s[2 * depth + 1] = '\0';
        return s;
}

static void test_yaml_json_parse_depth(void **state) {
        _cleanup_free_ char *ok = nested(YAML_JSON_DEPTH_MAX), *deep = nested(YAML_JSON_DEPTH_MAX + 1);
        _cleanup_free_ char *very = nested(100000);
        json_auto_t *doc = NULL;
        (void) state;

        doc = parse_one(ok);
        assert_true(json_is_array(doc));
        expect_refused(deep, -E2BIG, "nested too deep");
        expect_refused(very, -E2BIG, "nested too deep");
}

static void test_yaml_json_parse_depth_through_alias(void **state) {
        _cleanup_free_ char *inner = nested(YAML_JSON_DEPTH_MAX - 1), *yaml = NULL;
        (void) state;
        /* the anchored value fits, but placed two levels down it does not */
        inner[strlen(inner) - 1] = '\0';
        assert_true(asprintf(&yaml, "a: &x %s\nb: [[*x]]\n", inner) > 0);
        expect_refused(yaml, -E2BIG, "nested too deep through an alias");
}

static void test_yaml_json_parse_size_cap(void **state) {
        json_t *docs = NULL;
        _cleanup_free_ char *err = NULL;
        (void) state;
        assert_int_equal(yaml_json_parse("a", (size_t) YAML_JSON_INPUT_MAX + 1, "big", 0, &docs, NULL, &err), -E2BIG);
        assert_non_null(strstr(err, "big: larger than"));
}

static void test_yaml_json_parse_syntax_errors(void **state) {
        (void) state;
        expect_refused("a: [1, 2\n", -EBADMSG, "t.yaml:2:1:");
        expect_refused("a: b: c\n", -EBADMSG, "t.yaml:1:5: mapping values are not allowed in this context");
        expect_refused("a:\n  - 1\n - 2\n", -EBADMSG, "t.yaml:3:");
        expect_refused("\"unterminated\n", -EBADMSG, "found unexpected end of stream");
        expect_refused("a: \"\\q\"\n", -EBADMSG, "unknown escape");
        expect_refused("- !<tag:x> [1\n", -EBADMSG, "t.yaml:");
}

static void test_yaml_json_parse_invalid_utf8(void **state) {
        (void) state;
        expect_refused("a: \xff\xfe\n", -EBADMSG, "t.yaml: byte");
        expect_refused("a: \xc3(\n", -EBADMSG, "byte");
        expect_refused("a: \x01\n", -EBADMSG, "control characters");
}

static void test_yaml_json_parse_marks(void **state) {
        const char *yaml = "first: 1\nspec:\n  name: \"x\"\n  list:\n    - {a: yes}\n";
        _cleanup_(yaml_marks_freep) YamlMarks *marks = NULL;
        json_auto_t *docs = NULL;
        json_t *doc, *spec;
        YamlMark m;
        (void) state;

        assert_int_equal(yaml_json_parse(yaml, strlen(yaml), NULL, 0, &docs, &marks, NULL), 0);
        doc = json_array_get(docs, 0);
        spec = json_object_get(doc, "spec");
        assert_true(yaml_marks_find(marks, doc, &m));
        assert_int_equal(m.line, 1);
        assert_int_equal(m.column, 1);
        assert_true(yaml_marks_find(marks, spec, &m));
        assert_int_equal(m.line, 3);
        assert_int_equal(m.column, 3);
        assert_true(yaml_marks_find(marks, json_object_get(spec, "name"), &m));
        assert_int_equal(m.line, 3);
        assert_int_equal(m.column, 9);
        assert_true(yaml_marks_find(marks, json_array_get(json_object_get(spec, "list"), 0), &m));
        assert_int_equal(m.line, 5);
        assert_int_equal(m.column, 7);
        assert_true(yaml_marks_find(marks, json_object_get(doc, "first"), &m));
        /* shared singletons have no position of their own, but have one
         * as a member of their mapping */
        assert_false(yaml_marks_find(marks, json_true(), &m));
        assert_true(yaml_marks_find_member(marks, json_array_get(json_object_get(spec, "list"), 0), "a", &m));
        assert_int_equal(m.line, 5);
        assert_int_equal(m.column, 11);
        assert_true(yaml_marks_find_member(marks, spec, "name", &m));
        assert_int_equal(m.column, 9);
        assert_false(yaml_marks_find_member(marks, spec, "nope", &m));
        assert_false(yaml_marks_find(marks, NULL, &m));
        assert_false(yaml_marks_find(NULL, doc, &m));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_yaml_json_parse_words),
                cmocka_unit_test(test_yaml_json_parse_integers),
                cmocka_unit_test(test_yaml_json_parse_floats),
                cmocka_unit_test(test_yaml_json_parse_strings_stay_strings),
                cmocka_unit_test(test_yaml_json_parse_block_scalars),
                cmocka_unit_test(test_yaml_json_parse_keys_as_written),
                cmocka_unit_test(test_yaml_json_parse_json_input),
                cmocka_unit_test(test_yaml_json_parse_documents),
                cmocka_unit_test(test_yaml_json_parse_empty_stream),
                cmocka_unit_test(test_yaml_json_parse_one_counts),
                cmocka_unit_test(test_yaml_json_parse_aliases_copied),
                cmocka_unit_test(test_yaml_json_parse_merge_keys),
                cmocka_unit_test(test_yaml_json_parse_merge_refused),
                cmocka_unit_test(test_yaml_json_parse_quoted_merge_is_a_key),
                cmocka_unit_test(test_yaml_json_parse_duplicate_key),
                cmocka_unit_test(test_yaml_json_parse_undefined_alias),
                cmocka_unit_test(test_yaml_json_parse_complex_key),
                cmocka_unit_test(test_yaml_json_parse_alias_key),
                cmocka_unit_test(test_yaml_json_parse_nul_key),
                cmocka_unit_test(test_yaml_json_parse_nan_inf),
                cmocka_unit_test(test_yaml_json_parse_alias_bomb),
                cmocka_unit_test(test_yaml_json_parse_too_many_aliases),
                cmocka_unit_test(test_yaml_json_parse_depth),
                cmocka_unit_test(test_yaml_json_parse_depth_through_alias),
                cmocka_unit_test(test_yaml_json_parse_size_cap),
                cmocka_unit_test(test_yaml_json_parse_syntax_errors),
                cmocka_unit_test(test_yaml_json_parse_invalid_utf8),
                cmocka_unit_test(test_yaml_json_parse_marks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
