/* Tests for agent/core/spec.c: both examples validate; each mistake an
 * operator can make is reported once, with its JSON path and an exact
 * message (schema, inline secrets, every cross-field rule); the digest
 * ignores formatting; size caps and I/O errors. Most cases start from
 * proto/examples/rack.json (found under $STRATA_SRCDIR, default ".") and
 * change one thing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/cleanup.h"
#include "core/spec.h"

#define INLINE "inline secrets are not allowed; use a credential reference"

typedef struct Expect {
        const char *path;
        const char *message;
} Expect;

static char *src_path(const char *rel) {
        const char *dir = getenv("STRATA_SRCDIR");
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir && *dir ? dir : ".", rel) > 0);
        return p;
}

static json_t *example(const char *name) {
        _cleanup_free_ char *rel = NULL, *path = NULL;
        json_error_t err;
        json_t *j;

        assert_true(asprintf(&rel, "proto/examples/%s", name) > 0);
        path = src_path(rel);
        j = json_load_file(path, 0, &err);
        if (!j)
                fail_msg("%s: %s", path, err.text);
        return j;
}

static json_t *rack(void) {
        return example("rack.json");
}

/* The value at a dotted path ("inventory.2.bmc"; numbers index arrays). */
static json_t *at(json_t *root, const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;
        json_t *j = root;

        assert_non_null(copy);
        for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
                if (json_is_array(j))
                        j = json_array_get(j, strtoul(part, NULL, 10));
                else
                        j = json_object_get(j, part);
                if (!j)
                        fail_msg("no %s in test document", path);
        }
        return j;
}

static void set(json_t *root, const char *object_path, const char *key, json_t *value) {
        assert_int_equal(json_object_set_new(at(root, object_path), key, value), 0);
}

static int parse_doc(const json_t *doc, SpecErrors *e) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2));
        Spec *s = NULL;
        int r;

        assert_non_null(text);
        r = spec_parse(text, strlen(text), "test.json", &s, e);
        assert_true(r == 0 ? s != NULL : s == NULL);
        spec_free(s);
        return r;
}

static void assert_errors_are(const SpecErrors *e, const Expect *want, size_t n) {
        bool ok = e->n_items == n;

        for (size_t i = 0; ok && i < n; i++)
                ok = strcmp(e->items[i].path, want[i].path) == 0 && strcmp(e->items[i].message, want[i].message) == 0;
        if (!ok) {
                for (size_t i = 0; i < n; i++)
                        print_message("  want %s: %s\n", want[i].path, want[i].message);
                for (size_t i = 0; i < e->n_items; i++)
                        print_message("  got  %s: %s\n", e->items[i].path, e->items[i].message);
                fail();
        }
}

static void expect_doc(const json_t *doc, const Expect *want, size_t n) {
        SpecErrors e = {};
        int r = parse_doc(doc, &e);

        assert_errors_are(&e, want, n);
        assert_int_equal(r, n ? -EINVAL : 0);
        spec_errors_clear(&e);
}

#define EXPECT(doc, ...)                                                 \
        do {                                                             \
                static const Expect want_[] = { __VA_ARGS__ };           \
                expect_doc((doc), want_, ELEMENTSOF(want_));             \
        } while (0)
#define EXPECT_VALID(doc) expect_doc((doc), NULL, 0)

static void expect_bytes(const char *text, size_t size, const Expect *want, size_t n) {
        SpecErrors e = {};
        Spec *s = NULL;

        assert_int_equal(spec_parse(text, size, "test.json", &s, &e), -EINVAL);
        assert_null(s);
        assert_errors_are(&e, want, n);
        spec_errors_clear(&e);
}

#define EXPECT_TEXT(text, ...)                                           \
        do {                                                             \
                static const Expect want_[] = { __VA_ARGS__ };           \
                expect_bytes((text), strlen(text), want_, ELEMENTSOF(want_)); \
        } while (0)

/* ---- the examples -------------------------------------------------------- */

static void test_spec_load_file_rack_example_valid(void **state) {
        _cleanup_free_ char *path = src_path("proto/examples/rack.json");
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file(path, &s, &e), 0);
        assert_int_equal(e.n_items, 0);
        assert_string_equal(spec_fleet(s), "rack-a");
        assert_int_equal(spec_n_machines(s), 5);
        assert_string_equal(spec_origin(s), path);
        assert_int_equal(strlen(spec_digest(s)), strlen("sha256:") + 64);
        assert_memory_equal(spec_digest(s), "sha256:", 7);
        assert_int_equal(json_array_size(json_object_get(spec_json(s), "networks")), 2);
        spec_free(s);
}

static void test_spec_load_file_minimal_example_valid(void **state) {
        _cleanup_free_ char *path = src_path("proto/examples/minimal.json");
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file(path, &s, &e), 0);
        assert_int_equal(e.n_items, 0);
        assert_string_equal(spec_fleet(s), "lab");
        assert_int_equal(spec_n_machines(s), 3);
        spec_free(s);
}

static void test_spec_parse_origin_optional(void **state) {
        json_auto_t *doc = rack();
        _cleanup_free_ char *text = json_dumps(doc, 0);
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_parse(text, strlen(text), NULL, &s, NULL), 0);
        assert_null(spec_origin(s));
        assert_null(spec_free(s));
        assert_null(spec_free(NULL));
}

/* ---- syntax, size, I/O --------------------------------------------------- */

static void test_spec_parse_three_mistakes_three_errors(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.1", "role", json_string("master"));
        set(doc, "inventory.2.bmc", "endpoint", json_string("ftp://192.0.2.103"));
        set(doc, "provisioning", "fanout", json_integer(0));
        EXPECT(doc,
               { "$.inventory[1].role", "expected one of \"controller\", \"worker\", \"seed\", got \"master\"" },
               { "$.inventory[2].bmc.endpoint",
                 "expected an http(s) URL like https://192.0.2.101 (no user info, query or fragment), got \"ftp://192.0.2.103\"" },
               { "$.provisioning.fanout", "expected integer >= 1, got 0" });
}

static void test_spec_parse_bad_json_line_column(void **state) {
        (void) state;
        EXPECT_TEXT("{\n  \"version\": 1,\n  \"fleet\": { \"name\": \"x\" ]\n}\n",
                    { "$", "invalid JSON at line 3, column 26: '}' expected near ']'" });
}

static void test_spec_parse_duplicate_key_refused(void **state) {
        (void) state;
        EXPECT_TEXT("{\"version\": 1,\n \"version\": 1}",
                    { "$", "invalid JSON at line 2, column 10: duplicate object key near '\"version\"'" });
}

static void test_spec_parse_empty_input_refused(void **state) {
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_parse(NULL, 0, "empty", &s, &e), -EINVAL);
        assert_int_equal(e.n_items, 1);
        assert_string_equal(e.items[0].path, "$");
        assert_non_null(strstr(e.items[0].message, "invalid JSON at line 1, column 0: "));
        spec_errors_clear(&e);
}

static void test_spec_parse_raw_bytes_escaped_in_syntax_error(void **state) {
        static const char text[] = "{\"a\": 1, \x01\xff\x1b[2J}";
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_parse(text, sizeof(text) - 1, "junk", &s, &e), -EINVAL);
        assert_int_equal(e.n_items, 1);
        for (const unsigned char *c = (const unsigned char *) e.items[0].message; *c; c++)
                assert_true(*c >= 0x20 && *c < 0x7f);
        spec_errors_clear(&e);
}

static void test_spec_parse_top_level_array_refused(void **state) {
        (void) state;
        EXPECT_TEXT("[]", { "$", "expected object, got an array" });
}

static void test_spec_parse_too_large_refused(void **state) {
        _cleanup_free_ char *big = malloc(SPEC_FILE_MAX + 1);
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_non_null(big);
        memset(big, ' ', SPEC_FILE_MAX + 1);
        assert_int_equal(spec_parse(big, SPEC_FILE_MAX + 1, "big", &s, &e), -E2BIG);
        assert_null(s);
        assert_int_equal(e.n_items, 1);
        assert_string_equal(e.items[0].path, "$");
        assert_string_equal(e.items[0].message, "the spec is larger than 4194304 bytes");
        spec_errors_clear(&e);
}

/* Writes `doc` padded with trailing spaces to exactly `size` bytes. */
static char *write_padded(const json_t *doc, size_t size) {
        _cleanup_free_ char *text = json_dumps(doc, 0);
        char *path = strdup("/tmp/test-spec-XXXXXX");
        int fd;
        FILE *f;

        assert_non_null(text);
        assert_non_null(path);
        assert_true(strlen(text) <= size);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        for (size_t i = strlen(text); i < size; i++)
                assert_int_not_equal(fputc(' ', f), EOF);
        assert_int_equal(fclose(f), 0);
        return path;
}

static void test_spec_load_file_too_large_refused(void **state) {
        json_auto_t *doc = rack();
        _cleanup_free_ char *path = write_padded(doc, SPEC_FILE_MAX + 1);
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file(path, &s, &e), -E2BIG);
        assert_null(s);
        assert_int_equal(e.n_items, 1);
        assert_string_equal(e.items[0].message, "the spec is larger than 4194304 bytes");
        spec_errors_clear(&e);
        unlink(path);
}

static void test_spec_load_file_exact_max_parsed(void **state) {
        json_auto_t *doc = rack();
        _cleanup_free_ char *path = write_padded(doc, SPEC_FILE_MAX);
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file(path, &s, &e), 0);
        assert_int_equal(spec_n_machines(s), 5);
        spec_free(s);
        unlink(path);
}

static void test_spec_load_file_missing_enoent(void **state) {
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file("/nonexistent/strata/spec.json", &s, &e), -ENOENT);
        assert_int_equal(e.n_items, 0);
        assert_null(s);
}

static void test_spec_load_file_directory_eisdir(void **state) {
        SpecErrors e = {};
        Spec *s = NULL;

        (void) state;
        assert_int_equal(spec_load_file("/", &s, &e), -EISDIR);
        assert_int_equal(e.n_items, 0);
}

static void test_spec_load_file_fifo_read(void **state) {
        json_auto_t *doc = rack();
        _cleanup_free_ char *text = json_dumps(doc, 0);
        char dir[] = "/tmp/test-spec-fifo-XXXXXX", path[64];
        SpecErrors e = {};
        Spec *s = NULL;
        int status = 0;
        pid_t pid;

        (void) state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/spec", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                FILE *f = fopen(path, "w");
                if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                        _exit(1);
                _exit(0);
        }
        /* not a regular file: read in chunks until EOF */
        assert_int_equal(spec_load_file(path, &s, &e), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_string_equal(spec_fleet(s), "rack-a");
        spec_free(s);
        unlink(path);
        rmdir(dir);
}

/* ---- digest -------------------------------------------------------------- */

/* The same document with every object's keys in reverse order. */
static json_t *reversed(const json_t *j) {
        if (json_is_object(j)) {
                json_t *out = json_object();
                const char **keys = calloc(json_object_size(j) + 1, sizeof(*keys));
                const char *key;
                json_t *v;
                size_t n = 0;

                assert_non_null(keys);
                json_object_foreach((json_t *) j, key, v)
                        keys[n++] = key;
                while (n-- > 0)
                        json_object_set_new(out, keys[n], reversed(json_object_get(j, keys[n])));
                free(keys);
                return out;
        }
        if (json_is_array(j)) {
                json_t *out = json_array();
                for (size_t i = 0; i < json_array_size(j); i++)
                        json_array_append_new(out, reversed(json_array_get(j, i)));
                return out;
        }
        return json_deep_copy(j);
}

static char *digest_of_text(const char *text) {
        Spec *s = NULL;
        char *d;

        assert_int_equal(spec_parse(text, strlen(text), NULL, &s, NULL), 0);
        d = strdup(spec_digest(s));
        spec_free(s);
        return d;
}

static void test_spec_digest_stable_under_key_order_and_whitespace(void **state) {
        json_auto_t *doc = rack();
        json_auto_t *rev = reversed(doc);
        _cleanup_free_ char *compact = json_dumps(doc, JSON_COMPACT);
        _cleanup_free_ char *indented = json_dumps(rev, JSON_INDENT(7));
        _cleanup_free_ char *canonical = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
        _cleanup_free_ char *d1 = NULL, *d2 = NULL, *d3 = NULL;
        unsigned char md[32];
        unsigned md_len = 0;
        char want[8 + 64] = "sha256:";

        (void) state;
        assert_string_not_equal(compact, indented);
        d1 = digest_of_text(compact);
        d2 = digest_of_text(indented);
        assert_string_equal(d1, d2);

        /* the definition: SHA-256 of jansson's sorted compact text */
        assert_int_equal(EVP_Digest(canonical, strlen(canonical), md, &md_len, EVP_sha256(), NULL), 1);
        for (unsigned i = 0; i < md_len; i++)
                snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(d1, want);

        /* and any change of content changes it */
        set(doc, "provisioning", "retries", json_integer(4));
        _cleanup_free_ char *changed = json_dumps(doc, JSON_COMPACT);
        d3 = digest_of_text(changed);
        assert_string_not_equal(d1, d3);
}

/* ---- inline secrets ------------------------------------------------------ */

static void test_spec_parse_inline_password_refused(void **state) {
        json_auto_t *doc = rack();
        SpecErrors e = {};

        (void) state;
        set(doc, "inventory.0.bmc", "password", json_string("hunter2"));
        assert_int_equal(parse_doc(doc, &e), -EINVAL);
        /* reported once: as a secret, not also as an unknown property */
        static const Expect want[] = { { "$.inventory[0].bmc.password", INLINE } };
        assert_errors_are(&e, want, 1);
        spec_errors_clear(&e);
}

static void test_spec_parse_inline_secret_names_refused(void **state) {
        static const struct {
                const char *name;
                const char *path;
        } cases[] = {
                { "privateKey", "$.privateKey" },
                { "API-Token", "$[\"API-Token\"]" },
                { "client_secret", "$.client_secret" },
                { "key_pem", "$.key_pem" },
                { "LUKS Passphrase", "$[\"LUKS Passphrase\"]" },
                { "passwd", "$.passwd" },
                { "bearer", "$.bearer" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_auto_t *doc = rack();
                SpecErrors e = {};
                Expect want = { cases[i].path, INLINE };

                set(doc, "", cases[i].name, json_string("s3cr3t"));
                assert_int_equal(parse_doc(doc, &e), -EINVAL);
                assert_errors_are(&e, &want, 1);
                spec_errors_clear(&e);
        }
}

static void test_spec_parse_inline_secret_inside_unknown_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "", "extra", json_pack("{s:[{s:s}]}", "list", "token", "abc"));
        EXPECT(doc,
               { "$.extra.list[0].token", INLINE },
               { "$", "unknown property \"extra\"" });
}

static void test_spec_parse_private_key_value_refused(void **state) {
        json_auto_t *doc = rack();
        SpecErrors e = {};

        (void) state;
        set(doc, "attestation", "policy_key",
            json_string("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB0hunter2\n-----END EC PRIVATE KEY-----\n"));
        assert_int_equal(parse_doc(doc, &e), -EINVAL);
        /* one error, and the schema's oneOf complaint (which would quote the
         * value) is not added */
        static const Expect want[] = {
                { "$.attestation.policy_key", INLINE " (this value holds a private key)" },
        };
        assert_errors_are(&e, want, 1);
        spec_errors_clear(&e);
}

static void test_spec_parse_url_password_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.3.bmc", "endpoint", json_string("https://admin:hunter2@198.51.100.101/redfish"));
        EXPECT(doc, { "$.inventory[3].bmc.endpoint", INLINE " (this URL carries a password)" });
}

static void test_spec_name_is_secret_matches_variants(void **state) {
        static const char *const secret[] = {
                "password", "PASSWORD", "bmc_password", "Passwd", "private_key", "privateKey", "PRIVATE-KEY",
                "key_pem", "keyPem", "token", "join-token", "secret", "clientSecret", "api_key", "passphrase",
        };
        static const char *const fine[] = {
                "credential", "systemd_credential", "file", "username", "policy_key", "key", "ek_allowlist",
                "fingerprint", "thumbprint", "pass", "keys", "",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(secret); i++)
                if (!spec_name_is_secret(secret[i]))
                        fail_msg("%s should be a secret name", secret[i]);
        for (size_t i = 0; i < ELEMENTSOF(fine); i++)
                if (spec_name_is_secret(fine[i]))
                        fail_msg("%s should not be a secret name", fine[i]);
}

/* Every property the schema defines must get past the secret scan, or the
 * scan would delete a legitimate field before validation. */
static void walk_property_names(const json_t *node, unsigned *count) {
        const char *key;
        json_t *v;

        if (json_is_array(node))
                for (size_t i = 0; i < json_array_size(node); i++)
                        walk_property_names(json_array_get(node, i), count);
        if (!json_is_object(node))
                return;
        json_object_foreach((json_t *) node, key, v) {
                if (strcmp(key, "properties") == 0 && json_is_object(v)) {
                        const char *name;
                        json_t *sub;
                        json_object_foreach(v, name, sub) {
                                if (spec_name_is_secret(name))
                                        fail_msg("schema property \"%s\" looks like a secret", name);
                                (*count)++;
                        }
                }
                walk_property_names(v, count);
        }
}

static void test_spec_name_is_secret_schema_names_clean(void **state) {
        json_auto_t *schema = json_loads(spec_schema_json, 0, NULL);
        unsigned count = 0;

        (void) state;
        assert_non_null(schema);
        walk_property_names(schema, &count);
        assert_true(count > 50);
}

/* ---- schema rules worth their own test ----------------------------------- */

static void test_spec_parse_credential_neither_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0.bmc", "credential", json_object());
        EXPECT(doc, { "$.inventory[0].bmc.credential",
                      "no alternative matched: file reference: missing required property \"file\"; "
                      "systemd credential reference: missing required property \"systemd_credential\"" });
}

static void test_spec_parse_credential_both_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0.bmc", "credential",
            json_pack("{s:s,s:s}", "file", "/etc/strata/x", "systemd_credential", "x"));
        EXPECT(doc, { "$.inventory[0].bmc.credential",
                      "no alternative matched: file reference: unknown property \"systemd_credential\"; "
                      "systemd credential reference: unknown property \"file\"" });
}

static void test_spec_parse_credential_relative_file_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0.bmc", "credential", json_pack("{s:s}", "file", "bmc.pass"));
        EXPECT(doc, { "$.inventory[0].bmc.credential",
                      "no alternative matched: file reference: .file: expected an absolute path (letters, digits and "
                      "._/@+=,:-), got \"bmc.pass\"; systemd credential reference: missing required property "
                      "\"systemd_credential\"" });
}

static void test_spec_parse_typo_suggested(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0.bmc", "usernme", json_string("x"));
        EXPECT(doc, { "$.inventory[0].bmc", "unknown property \"usernme\" (did you mean \"username\"?)" });
}

static void test_spec_parse_fanout_too_high_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "provisioning", "fanout", json_integer(65));
        EXPECT(doc, { "$.provisioning.fanout", "expected integer <= 64, got 65" });
}

static void test_spec_parse_pcr_out_of_range_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_array_append_new(at(doc, "attestation.pcr_ids"), json_integer(24)), 0);
        EXPECT(doc, { "$.attestation.pcr_ids[6]", "expected integer <= 23, got 24" });
}

static void test_spec_parse_version_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "", "version", json_integer(2));
        EXPECT(doc, { "$.version", "expected 1, got 2" });
}

static void test_spec_parse_missing_section_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_object_del(doc, "capi"), 0);
        EXPECT(doc, { "$", "missing required property \"capi\"" });
}

/* ---- semantic checks ----------------------------------------------------- */

static void test_spec_parse_duplicate_machine_name_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.2", "name", json_string("r1-ctl1"));
        EXPECT(doc, { "$.inventory[2].name", "duplicate machine name \"r1-ctl1\" (first at $.inventory[1])" });
}

static void test_spec_parse_duplicate_mac_across_machines_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        /* rack.json's r1-seed has 52:54:00:0a:00:01; case does not matter */
        assert_int_equal(json_array_append_new(at(doc, "inventory.4.macs"), json_string("52:54:00:0A:00:01")), 0);
        EXPECT(doc, { "$.inventory[4].macs[1]", "MAC address 52:54:00:0a:00:01 is already used by $.inventory[0].macs[0]" });
}

static void test_spec_parse_duplicate_mac_within_machine_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_array_append_new(at(doc, "inventory.0.macs"), json_string("52:54:00:0A:00:01")), 0);
        EXPECT(doc, { "$.inventory[0].macs[1]", "MAC address 52:54:00:0a:00:01 is already used by $.inventory[0].macs[0]" });
}

static void test_spec_parse_undefined_network_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.3", "network", json_string("row3"));
        EXPECT(doc, { "$.inventory[3].network", "network \"row3\" is not defined in $.networks" });
}

static void test_spec_parse_duplicate_network_name_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_array_append_new(at(doc, "networks"), json_deep_copy(at(doc, "networks.0"))), 0);
        EXPECT(doc, { "$.networks[2].name", "duplicate network name \"row1\" (first at $.networks[0])" });
}

static void test_spec_parse_quorum_exceeds_controllers_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "quorum", "size", json_integer(4));
        EXPECT(doc, { "$.quorum.size",
                      "quorum size 4 exceeds the 3 machines that can be controllers (role \"seed\" or \"controller\")" });
}

static void test_spec_parse_no_seed_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0", "role", json_string("controller"));
        EXPECT(doc, { "$.inventory", "expected exactly one machine with role \"seed\", found 0" });
}

static void test_spec_parse_two_seeds_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.1", "role", json_string("seed"));
        EXPECT(doc, { "$.inventory", "expected exactly one machine with role \"seed\", found 2" });
}

static void test_spec_parse_threshold_exceeds_pins_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "unseal", "threshold", json_integer(4));
        EXPECT(doc, { "$.unseal.threshold",
                      "threshold 4 exceeds the 3 unseal pins configured (2 tang servers, tpm2 enabled)" });
}

static void test_spec_parse_threshold_without_pins_refused(void **state) {
        json_auto_t *doc = example("minimal.json");

        (void) state;
        set(doc, "", "tang", json_array());
        set(doc, "unseal.tpm2", "enabled", json_false());
        EXPECT(doc, { "$.unseal.threshold",
                      "threshold 2 exceeds the 0 unseal pins configured (0 tang servers, tpm2 disabled)" });
}

static void test_spec_parse_tls_ca_without_file_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_object_del(at(doc, "inventory.1.bmc.tls"), "ca_file"), 0);
        EXPECT(doc, { "$.inventory[1].bmc.tls", "mode \"ca\" requires \"ca_file\"" });
}

static void test_spec_parse_tls_fingerprint_without_value_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_object_del(at(doc, "inventory.2.bmc.tls"), "fingerprint"), 0);
        EXPECT(doc, { "$.inventory[2].bmc.tls", "mode \"fingerprint\" requires \"fingerprint\"" });
}

static void test_spec_parse_tls_field_for_other_mode_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "inventory.0.bmc.tls", "mode", json_string("insecure"));
        EXPECT(doc, { "$.inventory[0].bmc.tls.ca_file", "only used with mode \"ca\", not \"insecure\"" });
}

static void test_spec_parse_tang_pinned_without_thumbprint_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_object_del(at(doc, "tang.1"), "thumbprint"), 0);
        EXPECT(doc, { "$.tang[1]", "trust \"pinned\" requires \"thumbprint\"" });
}

static void test_spec_parse_duplicate_tang_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "tang.1", "url", json_string("http://192.0.2.10:7500"));
        EXPECT(doc, { "$.tang[1].url", "tang server http://192.0.2.10:7500 is already listed at $.tang[0]" });
}

static void test_spec_parse_resettable_pcr_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_array_append_new(at(doc, "unseal.tpm2.pcr_ids"), json_integer(16)), 0);
        assert_int_equal(json_array_append_new(at(doc, "attestation.pcr_ids"), json_integer(23)), 0);
        EXPECT(doc,
               { "$.unseal.tpm2.pcr_ids[1]", "PCR 16 can be reset by the running OS; a policy must not depend on it" },
               { "$.attestation.pcr_ids[6]", "PCR 23 can be reset by the running OS; a policy must not depend on it" });
}

static void test_spec_parse_ek_trust_missing_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        assert_int_equal(json_object_del(at(doc, "attestation"), "ek_ca_bundle"), 0);
        set(doc, "attestation", "ek_allowlist", json_array());
        EXPECT(doc, { "$.attestation",
                      "set \"ek_ca_bundle\" or \"ek_allowlist\": without either, any TPM, even a software one, would be trusted" });
}

static void test_spec_parse_cidr_host_bits_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "networks.0", "cidr", json_string("192.0.2.7/24"));
        EXPECT(doc, { "$.networks[0].cidr", "host bits are set; the network is 192.0.2.0/24" });
}

static void test_spec_parse_cidr_bad_address_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "networks.0", "cidr", json_string("192.0.2.300/24"));
        EXPECT(doc, { "$.networks[0].cidr", "\"192.0.2.300\" is not a valid IPv4 address" });
}

static void test_spec_parse_cidr_long_prefix_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "networks.0", "cidr", json_string("192.0.2.0/33"));
        EXPECT(doc, { "$.networks[0].cidr", "prefix length 33 exceeds 32" });
}

static void test_spec_parse_gateway_outside_network_refused(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "networks.1", "gateway", json_string("192.0.2.1"));
        set(doc, "networks.0.boot", "server_address", json_string("2001:db8::1"));
        EXPECT(doc,
               { "$.networks[0].boot.server_address", "2001:db8::1 is outside the network 192.0.2.0/24" },
               { "$.networks[1].gateway", "192.0.2.1 is outside the network 198.51.100.0/24" });
}

static void test_spec_parse_ipv6_network_accepted(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        set(doc, "networks.1", "cidr", json_string("2001:db8:1::/64"));
        set(doc, "networks.1", "gateway", json_string("2001:db8:1::1"));
        set(doc, "tang.1", "url", json_string("http://[2001:db8:1::10]:7500"));
        EXPECT_VALID(doc);
}

/* ---- collection, caps, printing ------------------------------------------ */

static void test_spec_parse_errors_from_every_pass_collected(void **state) {
        json_auto_t *doc = rack();

        (void) state;
        /* a secret, a schema error: semantic checks wait for a valid schema */
        set(doc, "inventory.0.bmc", "password", json_string("x"));
        set(doc, "k0s", "version", json_string("1.30"));
        set(doc, "quorum", "size", json_integer(5));
        EXPECT(doc,
               { "$.inventory[0].bmc.password", INLINE },
               { "$.k0s.version", "expected a k0s version like v1.30.1+k0s.0, got \"1.30\"" });
}

static void test_spec_parse_error_count_capped(void **state) {
        json_auto_t *doc = rack();
        json_t *inventory = at(doc, "inventory");
        SpecErrors e = {};
        char *out = NULL;
        size_t out_size = 0;
        FILE *f;

        (void) state;
        for (unsigned i = 0; i < JSON_SCHEMA_ERRORS_MAX + 20; i++)
                assert_int_equal(json_array_append_new(inventory, json_pack("{s:s}", "role", "master")), 0);
        assert_int_equal(parse_doc(doc, &e), -EINVAL);
        assert_int_equal(e.n_items, JSON_SCHEMA_ERRORS_MAX);
        assert_true(e.truncated);

        f = open_memstream(&out, &out_size);
        assert_non_null(f);
        spec_errors_print(f, "big.json", &e);
        assert_int_equal(fclose(f), 0);
        assert_non_null(strstr(out, "big.json: more errors were found; only the first 256 are shown\n"));
        free(out);
        spec_errors_clear(&e);
        assert_int_equal(e.n_items, 0);
        assert_false(e.truncated);
}

static void test_spec_errors_print_one_line_per_error(void **state) {
        json_auto_t *doc = rack();
        SpecErrors e = {};
        char *out = NULL;
        size_t out_size = 0;
        FILE *f;

        (void) state;
        set(doc, "inventory.1", "role", json_string("master"));
        set(doc, "provisioning", "fanout", json_integer(0));
        assert_int_equal(parse_doc(doc, &e), -EINVAL);
        f = open_memstream(&out, &out_size);
        assert_non_null(f);
        spec_errors_print(f, "rack.json", &e);
        spec_errors_print(f, NULL, &e);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(out,
                            "rack.json: $.inventory[1].role: expected one of \"controller\", \"worker\", \"seed\", got \"master\"\n"
                            "rack.json: $.provisioning.fanout: expected integer >= 1, got 0\n"
                            "spec: $.inventory[1].role: expected one of \"controller\", \"worker\", \"seed\", got \"master\"\n"
                            "spec: $.provisioning.fanout: expected integer >= 1, got 0\n");
        free(out);
        spec_errors_clear(&e);
}

static void test_spec_parse_deep_nesting_bounded(void **state) {
        json_auto_t *doc = rack();
        json_t *deep = json_array();
        SpecErrors e = {};
        bool nesting = false;

        (void) state;
        for (unsigned i = 0; i < 1000; i++) {
                json_t *outer = json_array();
                assert_int_equal(json_array_append_new(outer, deep), 0);
                deep = outer;
        }
        set(doc, "", "deep", deep);
        assert_int_equal(parse_doc(doc, &e), -EINVAL);
        for (size_t i = 0; i < e.n_items; i++)
                nesting |= strcmp(e.items[i].message, "nesting deeper than 32 levels") == 0;
        assert_true(nesting);
        spec_errors_clear(&e);
}

static void test_spec_parse_without_error_list_refuses(void **state) {
        json_auto_t *doc = rack();
        _cleanup_free_ char *text = NULL;
        Spec *s = NULL;

        (void) state;
        set(doc, "quorum", "size", json_integer(0));
        text = json_dumps(doc, 0);
        assert_int_equal(spec_parse(text, strlen(text), NULL, &s, NULL), -EINVAL);
        assert_null(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_load_file_rack_example_valid),
                cmocka_unit_test(test_spec_load_file_minimal_example_valid),
                cmocka_unit_test(test_spec_parse_origin_optional),
                cmocka_unit_test(test_spec_parse_three_mistakes_three_errors),
                cmocka_unit_test(test_spec_parse_bad_json_line_column),
                cmocka_unit_test(test_spec_parse_duplicate_key_refused),
                cmocka_unit_test(test_spec_parse_empty_input_refused),
                cmocka_unit_test(test_spec_parse_raw_bytes_escaped_in_syntax_error),
                cmocka_unit_test(test_spec_parse_top_level_array_refused),
                cmocka_unit_test(test_spec_parse_too_large_refused),
                cmocka_unit_test(test_spec_load_file_too_large_refused),
                cmocka_unit_test(test_spec_load_file_exact_max_parsed),
                cmocka_unit_test(test_spec_load_file_missing_enoent),
                cmocka_unit_test(test_spec_load_file_directory_eisdir),
                cmocka_unit_test(test_spec_load_file_fifo_read),
                cmocka_unit_test(test_spec_digest_stable_under_key_order_and_whitespace),
                cmocka_unit_test(test_spec_parse_inline_password_refused),
                cmocka_unit_test(test_spec_parse_inline_secret_names_refused),
                cmocka_unit_test(test_spec_parse_inline_secret_inside_unknown_refused),
                cmocka_unit_test(test_spec_parse_private_key_value_refused),
                cmocka_unit_test(test_spec_parse_url_password_refused),
                cmocka_unit_test(test_spec_name_is_secret_matches_variants),
                cmocka_unit_test(test_spec_name_is_secret_schema_names_clean),
                cmocka_unit_test(test_spec_parse_credential_neither_refused),
                cmocka_unit_test(test_spec_parse_credential_both_refused),
                cmocka_unit_test(test_spec_parse_credential_relative_file_refused),
                cmocka_unit_test(test_spec_parse_typo_suggested),
                cmocka_unit_test(test_spec_parse_fanout_too_high_refused),
                cmocka_unit_test(test_spec_parse_pcr_out_of_range_refused),
                cmocka_unit_test(test_spec_parse_version_refused),
                cmocka_unit_test(test_spec_parse_missing_section_refused),
                cmocka_unit_test(test_spec_parse_duplicate_machine_name_refused),
                cmocka_unit_test(test_spec_parse_duplicate_mac_across_machines_refused),
                cmocka_unit_test(test_spec_parse_duplicate_mac_within_machine_refused),
                cmocka_unit_test(test_spec_parse_undefined_network_refused),
                cmocka_unit_test(test_spec_parse_duplicate_network_name_refused),
                cmocka_unit_test(test_spec_parse_quorum_exceeds_controllers_refused),
                cmocka_unit_test(test_spec_parse_no_seed_refused),
                cmocka_unit_test(test_spec_parse_two_seeds_refused),
                cmocka_unit_test(test_spec_parse_threshold_exceeds_pins_refused),
                cmocka_unit_test(test_spec_parse_threshold_without_pins_refused),
                cmocka_unit_test(test_spec_parse_tls_ca_without_file_refused),
                cmocka_unit_test(test_spec_parse_tls_fingerprint_without_value_refused),
                cmocka_unit_test(test_spec_parse_tls_field_for_other_mode_refused),
                cmocka_unit_test(test_spec_parse_tang_pinned_without_thumbprint_refused),
                cmocka_unit_test(test_spec_parse_duplicate_tang_refused),
                cmocka_unit_test(test_spec_parse_resettable_pcr_refused),
                cmocka_unit_test(test_spec_parse_ek_trust_missing_refused),
                cmocka_unit_test(test_spec_parse_cidr_host_bits_refused),
                cmocka_unit_test(test_spec_parse_cidr_bad_address_refused),
                cmocka_unit_test(test_spec_parse_cidr_long_prefix_refused),
                cmocka_unit_test(test_spec_parse_gateway_outside_network_refused),
                cmocka_unit_test(test_spec_parse_ipv6_network_accepted),
                cmocka_unit_test(test_spec_parse_errors_from_every_pass_collected),
                cmocka_unit_test(test_spec_parse_error_count_capped),
                cmocka_unit_test(test_spec_errors_print_one_line_per_error),
                cmocka_unit_test(test_spec_parse_deep_nesting_bounded),
                cmocka_unit_test(test_spec_parse_without_error_list_refuses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
