/* Tests for agent/swarm/pki.c: fleet CA, member certificates and their
 * verification, and `strata init`'s refusal to replace keys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "swarm/pki.h"

typedef struct Ctx {
        EVP_PKEY *ca_key, *member;
        X509 *ca;
} Ctx;

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        assert_int_equal(pki_key_new(&c->ca_key), 0);
        assert_int_equal(pki_ca_cert_new(c->ca_key, "rack-a", &c->ca), 0);
        assert_int_equal(pki_key_new(&c->member), 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        EVP_PKEY_free(c->ca_key);
        EVP_PKEY_free(c->member);
        X509_free(c->ca);
        free(c);
        return 0;
}

static void test_pki_member_cert_issue_verifies(void **state) {
        Ctx *c = *state;
        X509 *m = NULL;
        char *name = NULL, *err = NULL;
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "r1-ctl1", 3600, &m), 0);
        assert_int_equal(pki_member_cert_verify(c->ca, m, 0, &name, &err), 0);
        assert_string_equal(name, "r1-ctl1");
        free(name);
        X509_free(m);
}

static void test_pki_member_cert_verify_expired(void **state) {
        Ctx *c = *state;
        X509 *m = NULL;
        char *err = NULL;
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "r1-ctl1", 3600, &m), 0);
        assert_int_equal(pki_member_cert_verify(c->ca, m, (int64_t) time(NULL) + 7200, NULL, &err), -EKEYEXPIRED);
        assert_non_null(strstr(err, "expired"));
        free(err);
        X509_free(m);
}

static void test_pki_member_cert_verify_other_ca(void **state) {
        Ctx *c = *state;
        EVP_PKEY *k2 = NULL;
        X509 *ca2 = NULL, *m = NULL;
        char *err = NULL;
        assert_int_equal(pki_key_new(&k2), 0);
        assert_int_equal(pki_ca_cert_new(k2, "other", &ca2), 0);
        assert_int_equal(pki_member_cert_issue(k2, ca2, c->member, "intruder", 3600, &m), 0);
        assert_int_equal(pki_member_cert_verify(c->ca, m, 0, NULL, &err), -EKEYREJECTED);
        assert_non_null(err);
        free(err);
        X509_free(m);
        X509_free(ca2);
        EVP_PKEY_free(k2);
}

static void test_pki_member_cert_issue_refuses_bad_input(void **state) {
        Ctx *c = *state;
        X509 *m = NULL;
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "Bad Name", 3600, &m), -EINVAL);
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "ok", 0, &m), -EINVAL);
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "ok", PKI_MEMBER_SECONDS_MAX + 1, &m), -EINVAL);
}

static void test_pki_member_cert_not_a_ca(void **state) {
        Ctx *c = *state;
        X509 *m = NULL, *leaf = NULL;
        EVP_PKEY *k3 = NULL;
        char *err = NULL;
        /* a member certificate cannot issue further members */
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->member, "r1-ctl1", 3600, &m), 0);
        assert_int_equal(pki_key_new(&k3), 0);
        assert_int_equal(pki_member_cert_issue(c->member, m, k3, "forged", 3600, &leaf), 0);
        assert_int_equal(pki_member_cert_verify(c->ca, leaf, 0, NULL, &err), -EKEYREJECTED);
        free(err);
        X509_free(leaf);
        X509_free(m);
        EVP_PKEY_free(k3);
}

static void test_pki_init_dir_creates_and_refuses_replace(void **state) {
        (void) state;
        char dir[] = "/tmp/strata-test-pki-XXXXXX", path[256];
        char *err = NULL;
        struct stat st;
        EVP_PKEY *k = NULL;
        X509 *ca = NULL;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(pki_init_dir(dir, "rack-a", NULL, &err), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, PKI_CA_KEY_FILE);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(pki_key_load(path, &k), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, PKI_CA_CERT_FILE);
        assert_int_equal(pki_cert_load(path, &ca), 0);
        assert_int_equal(X509_check_private_key(ca, k), 1);
        assert_int_equal(pki_init_dir(dir, "rack-a", NULL, &err), -EEXIST);
        assert_non_null(strstr(err, "refusing to replace"));
        free(err);
        EVP_PKEY_free(k);
        X509_free(ca);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pki_member_cert_issue_verifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pki_member_cert_verify_expired, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pki_member_cert_verify_other_ca, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pki_member_cert_issue_refuses_bad_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pki_member_cert_not_a_ca, setup, teardown),
                cmocka_unit_test(test_pki_init_dir_creates_and_refuses_replace),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
