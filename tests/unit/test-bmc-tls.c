/* Tests for agent/bmc/tls.c against the fake Redfish over HTTPS with a
 * self-signed certificate made here: the pinned SHA-256 fingerprint lets
 * exactly that certificate through (host name unchecked), a wrong pin fails
 * the handshake before any HTTP (so no password leaves), a pinned CA file
 * works and the system store refuses, `insecure` connects. Plus the
 * fingerprint parser and bmc.tls parsing. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bmc/bmc.h"
#include "bmc/tls.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/spec.h"
#include "test-redfish-fake.h"

typedef struct Ctx {
        FakeRedfish fake;
        char dir[64], cred[96], ca[96], other_ca[96];
        char *cert_pem, *key_pem;
        char fingerprint[96];
} Ctx;

static char *bio_string(BIO *b) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        char *s = malloc((size_t) n + 1);
        assert_non_null(s);
        memcpy(s, data, (size_t) n);
        s[n] = '\0';
        BIO_free(b);
        return s;
}

/* A self-signed P-256 certificate for 127.0.0.1 (SAN IP), as a BMC has one. */
static void make_cert(char **ret_cert, char **ret_key, char fingerprint[96]) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *x = X509_new();
        X509V3_CTX v3;
        X509_EXTENSION *ext;
        BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
        uint8_t md[32];
        unsigned len = 0;

        assert_non_null(key);
        assert_non_null(x);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long) time(NULL));
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *) "idrac-TEST",
                                   -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509_set_pubkey(x, key);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
        for (unsigned i = 0; i < 32; i++)
                snprintf(fingerprint + i * 3, 4, i == 31 ? "%02X" : "%02X:", md[i]);
        PEM_write_bio_X509(cb, x);
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL);
        *ret_cert = bio_string(cb);
        *ret_key = bio_string(kb);
        X509_free(x);
        EVP_PKEY_free(key);
}

static void write_file(const char *path, const char *text, mode_t mode) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        chmod(path, mode);
}

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        char *other_cert = NULL, *other_key = NULL, other_fp[96];

        make_cert(&c->cert_pem, &c->key_pem, c->fingerprint);
        fake_defaults(&c->fake);
        assert_int_equal(fake_start(&c->fake, c->cert_pem, c->key_pem), 0);
        snprintf(c->dir, sizeof(c->dir), "/tmp/strata-tls-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        snprintf(c->cred, sizeof(c->cred), "%s/cred", c->dir);
        snprintf(c->ca, sizeof(c->ca), "%s/ca.pem", c->dir);
        snprintf(c->other_ca, sizeof(c->other_ca), "%s/other.pem", c->dir);
        write_file(c->cred, FAKE_PASSWORD "\n", 0600);
        write_file(c->ca, c->cert_pem, 0644);
        make_cert(&other_cert, &other_key, other_fp);
        write_file(c->other_ca, other_cert, 0644);
        free(other_cert);
        free(other_key);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        fake_stop(&c->fake);
        unlink(c->cred);
        unlink(c->ca);
        unlink(c->other_ca);
        rmdir(c->dir);
        free(c->cert_pem);
        free(c->key_pem);
        free(c);
        return 0;
}

/* Runs status on machine "seed" of minimal.json with `tls` as its bmc.tls. */
static int status_with(Ctx *c, json_t *tls, char **ret_error) {
        const char *src = getenv("STRATA_SRCDIR");
        const char *machines[] = { "seed" };
        BmcOptions o = { .request_timeout_usec = 3000000, .retries = 1, .backoff_usec = 10000 };
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_auto_t *spec = NULL;
        BmcInventory *inv = NULL;
        BmcOutcome out = {};
        SpecErrors e = {};
        Spec *s = NULL;
        char path[512];
        json_t *m;
        size_t i;
        int r;

        snprintf(path, sizeof(path), "%s/proto/examples/minimal.json", src ? src : ".");
        spec = json_load_file(path, 0, NULL);
        assert_non_null(spec);
        json_array_foreach(json_object_get(spec, "inventory"), i, m) {
                json_t *bmc = json_object_get(m, "bmc");
                json_object_set_new(bmc, "endpoint", json_string(c->fake.url));
                json_object_set_new(bmc, "credential", json_pack("{s:s}", "file", c->cred));
                json_object_set_new(bmc, "username", json_string(FAKE_USER));
                json_object_set(bmc, "tls", tls);
        }
        json_decref(tls);
        text = json_dumps(spec, 0);
        if (spec_parse(text, strlen(text), "test", &s, &e) < 0) {
                spec_errors_print(stderr, "test", &e);
                fail();
        }
        assert_int_equal(bmc_inventory_from_spec(s, &inv, &err), 0);
        assert_int_equal(bmc_run(inv, machines, 1, BMC_OP_STATUS, NULL, &o, &out), 0);
        r = out.r;
        *ret_error = take_ptr(out.error);
        bmc_outcome_done(&out);
        bmc_inventory_free(inv);
        spec_free(s);
        return r;
}

static void test_bmc_tls_fingerprint_pinned(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *err = NULL;

        /* the certificate names "idrac-TEST", not 127.0.0.1's name: the pin
         * identifies the peer, the host name does not matter */
        assert_int_equal(status_with(c, json_pack("{s:s,s:s}", "mode", "fingerprint", "fingerprint", c->fingerprint),
                                     &err),
                         0);
        assert_true(c->fake.sessions_created == 1);
}

static void test_bmc_tls_fingerprint_mismatch(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *err = NULL;
        char wrong[96];

        snprintf(wrong, sizeof(wrong), "%s", c->fingerprint);
        wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
        assert_int_equal(status_with(c, json_pack("{s:s,s:s}", "mode", "fingerprint", "fingerprint", wrong), &err),
                         -EPERM);
        assert_non_null(err);
        assert_non_null(strstr(err, "seed (https://127.0.0.1:"));
        assert_non_null(strstr(err, "TLS: certificate SHA-256 "));
        assert_non_null(strstr(err, c->fingerprint)); /* what the peer showed */
        assert_non_null(strstr(err, "is not the pinned tls.fingerprint"));
        /* refused in the handshake: no request, so no password, left */
        assert_int_equal(c->fake.n_history, 0);
}

static void test_bmc_tls_ca_file(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *err = NULL, *err2 = NULL;

        assert_int_equal(status_with(c, json_pack("{s:s,s:s}", "mode", "ca", "ca_file", c->ca), &err), 0);
        assert_true(status_with(c, json_pack("{s:s,s:s}", "mode", "ca", "ca_file", c->other_ca), &err2) < 0);
        assert_non_null(strstr(err2, "TLS"));
}

static void test_bmc_tls_system_refuses_self_signed(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(status_with(c, json_pack("{s:s}", "mode", "system"), &err), -EPERM);
        assert_non_null(strstr(err, "status: TLS"));
        assert_int_equal(c->fake.n_history, 0);
}

static void test_bmc_tls_insecure_warns(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *err = NULL;
        char buf[4096] = "", expect[128];
        int saved = dup(STDERR_FILENO), fd = memfd_create("stderr", MFD_CLOEXEC);
        ssize_t n;

        /* connects, and says so loudly, naming the BMC */
        assert_true(saved >= 0 && fd >= 0);
        log_setup(LOG_TARGET_STDERR, LOG_WARNING, "test-bmc-tls");
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        assert_int_equal(status_with(c, json_pack("{s:s}", "mode", "insecure"), &err), 0);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        log_setup(LOG_TARGET_STDERR, LOG_ERR, "test-bmc-tls");
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        assert_true(n > 0);
        snprintf(expect, sizeof(expect), "warning: seed (%s): TLS verification is OFF", c->fake.url);
        assert_non_null(strstr(buf, expect));
}

static void test_bmc_tls_parse_forms(void **state) {
        static const char fp[] =
                "45:96:36:7B:6E:EF:75:D5:FB:E3:0A:A7:31:F0:D4:C8:6E:23:4D:9E:4D:8D:3F:12:FA:7C:B0:1E:C7:5C:0c:14";
        _cleanup_free_ char *err = NULL;
        uint8_t b[32];
        BmcTls t = {};

        (void) state;
        assert_int_equal(bmc_tls_fingerprint_parse(fp, b), 0);
        assert_int_equal(b[0], 0x45);
        assert_int_equal(b[30], 0x0c);
        assert_int_equal(bmc_tls_fingerprint_parse("45:96", b), -EINVAL);
        assert_int_equal(bmc_tls_fingerprint_parse(
                                 "45-96:36:7B:6E:EF:75:D5:FB:E3:0A:A7:31:F0:D4:C8:6E:23:4D:9E:4D:8D:3F:12:FA:7C:B0:1E:C7:5C:0c:14", b),
                         -EINVAL);
        assert_int_equal(bmc_tls_fingerprint_parse(
                                 "G5:96:36:7B:6E:EF:75:D5:FB:E3:0A:A7:31:F0:D4:C8:6E:23:4D:9E:4D:8D:3F:12:FA:7C:B0:1E:C7:5C:0c:14", b),
                         -EINVAL);
        {
                json_auto_t *j = json_pack("{s:s}", "mode", "ca");
                assert_int_equal(bmc_tls_parse(j, &t, &err), -EINVAL);
                assert_string_equal(err, "tls.ca_file: missing or not an absolute path");
        }
        {
                json_auto_t *j = json_pack("{s:s}", "mode", "pinned");
                assert_int_equal(bmc_tls_parse(j, &t, &err), -EINVAL);
        }
        {
                json_auto_t *j = json_pack("{s:s,s:s}", "mode", "fingerprint", "fingerprint", fp);
                BmcTls u = {};
                assert_int_equal(bmc_tls_parse(j, &t, &err), 0);
                assert_int_equal(bmc_tls_parse(j, &u, &err), 0);
                assert_true(bmc_tls_equal(&t, &u));
                u.fingerprint[3] ^= 1;
                assert_false(bmc_tls_equal(&t, &u));
                bmc_tls_done(&t);
                bmc_tls_done(&u);
        }
        assert_string_equal(bmc_tls_mode_to_string(BMC_TLS_INSECURE), "insecure");
        assert_int_equal(bmc_tls_mode_from_string("system"), BMC_TLS_SYSTEM);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        log_setup(LOG_TARGET_STDERR, LOG_ERR, "test-bmc-tls");
        const struct CMUnitTest tests[] = {
                T(test_bmc_tls_fingerprint_pinned),
                T(test_bmc_tls_fingerprint_mismatch),
                T(test_bmc_tls_ca_file),
                T(test_bmc_tls_system_refuses_self_signed),
                T(test_bmc_tls_insecure_warns),
                cmocka_unit_test(test_bmc_tls_parse_forms),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
