/* Tests for agent/attest/ek-verify.c with a real EK certificate: a swtpm
 * provisioned by swtpm_setup --create-ek-cert from a throwaway local CA in
 * a temp dir (the recipe of docs/attestation.md 3), the cert read from NV
 * 0x01c00002 and the EK made by tpm2_createek. The chain to that CA is
 * trusted; another CA, a missing intermediate, another key, garbage, and an
 * EK that is no decryption key are refused naming why; the allowlist path
 * trusts a cert-less EK by the SHA-256 of its public area. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/verify.h"
#include "tpm-fixture.h"

#define FLUSH "tpm2_flushcontext -t && tpm2_flushcontext -s"

typedef struct Ctx {
        TpmFixture tpm;
        char bundle[160], root_only[160], other_ca[160];
        uint8_t *cert;
        size_t cert_size;
        TPM2B_PUBLIC ek, ek_ecc, ak;
        uint8_t ek_sha256[32]; /* sha256sum of the public area, by the shell */
} Ctx;

static int sh(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(Ctx *c, const char *fmt, ...) {
        char cmd[3000], full[3300];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        snprintf(full, sizeof(full), "cd %s && %s", c->tpm.dir, cmd);
        char *argv[] = { "sh", "-c", full, NULL };
        int rc = tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL);
        if (rc != 0)
                fprintf(stderr, "test-ek-verify: `%.200s` exited %d (see %s/run.log)\n", cmd, rc, c->tpm.dir);
        return rc;
}

static uint8_t *slurp(Ctx *c, const char *name, size_t *ret_size) {
        char path[256];
        uint8_t *buf = malloc(65536);
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", c->tpm.dir, name);
        f = fopen(path, "rb");
        if (!f || !buf) {
                if (f)
                        fclose(f);
                free(buf);
                return NULL;
        }
        *ret_size = fread(buf, 1, 65536, f);
        fclose(f);
        return buf;
}

static int load_public(Ctx *c, const char *name, TPM2B_PUBLIC *ret) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;

        p = slurp(c, name, &n);
        return p ? tpm_public_parse(p, n, ret, NULL) : -1;
}

static int setup(Ctx *c) {
        _cleanup_free_ uint8_t *digest = NULL;
        size_t n;
        char state[128];

        if (system("command -v swtpm_setup >/dev/null 2>&1") != 0) {
                fprintf(stderr, "test-ek-verify: FAIL: swtpm_setup is not installed (apt-get install swtpm-tools)\n");
                return -1;
        }
        memset(&c->tpm, 0, sizeof(c->tpm));
        snprintf(c->tpm.dir, sizeof(c->tpm.dir), "/tmp/strata-tpm-XXXXXX");
        if (!mkdtemp(c->tpm.dir))
                return -1;
        snprintf(state, sizeof(state), "%s/state", c->tpm.dir);
        if (mkdir(state, 0700) < 0)
                return -1;
        /* the recipe's step 1: a private local CA, all config inside the dir */
        if (sh(c, "mkdir ca certs && W=$PWD && "
                  "printf 'statedir = %%s\\nsigningkey = %%s\\nissuercert = %%s\\ncertserial = %%s\\n' "
                  "\"$W/ca\" \"$W/ca/signkey.pem\" \"$W/ca/issuercert.pem\" \"$W/ca/certserial\" > localca.conf && "
                  "printf -- '--platform-manufacturer Strata\\n--platform-version 2.1\\n--platform-model swtpm\\n' "
                  "> localca.options && "
                  "printf 'create_certs_tool = /usr/bin/swtpm_localca\\ncreate_certs_tool_config = %%s\\n"
                  "create_certs_tool_options = %%s\\n' \"$W/localca.conf\" \"$W/localca.options\" > setup.conf && "
                  "swtpm_setup --tpm2 --tpmstate \"$W/state\" --config \"$W/setup.conf\" --create-ek-cert "
                  "--pcr-banks sha256 --write-ek-cert-files \"$W/certs\" --overwrite >/dev/null") != 0)
                return -1;
        if (tpm_fixture_launch(&c->tpm) < 0)
                return -1;
        if (sh(c, "tpm2_nvread 0x01c00002 -C o -o ekcert.der && tpm2_createek -c ek.ctx -G rsa -u ek.tss && " FLUSH
                  " && tpm2_createek -c ek-ecc.ctx -G ecc -u ek-ecc.tss && " FLUSH
                  " && tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.tss -r ak.priv >/dev/null"
                  " && " FLUSH) != 0)
                return -1;
        /* the trust bundles: root + intermediate; root alone; an unrelated CA */
        if (sh(c, "cat ca/swtpm-localca-rootca-cert.pem ca/issuercert.pem > bundle.pem && "
                  "cp ca/swtpm-localca-rootca-cert.pem root-only.pem && "
                  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key "
                  "-subj /CN=other-ca -days 1 -out other-ca.pem 2>/dev/null && "
                  "tail -c +3 ek.tss | sha256sum | cut -c1-64 | xxd -r -p > ek.sha256") != 0)
                return -1;
        snprintf(c->bundle, sizeof(c->bundle), "%s/bundle.pem", c->tpm.dir);
        snprintf(c->root_only, sizeof(c->root_only), "%s/root-only.pem", c->tpm.dir);
        snprintf(c->other_ca, sizeof(c->other_ca), "%s/other-ca.pem", c->tpm.dir);
        c->cert = slurp(c, "ekcert.der", &c->cert_size);
        digest = slurp(c, "ek.sha256", &n);
        if (!c->cert || !digest || n != 32 || load_public(c, "ek.tss", &c->ek) < 0 ||
            load_public(c, "ek-ecc.tss", &c->ek_ecc) < 0 || load_public(c, "ak.tss", &c->ak) < 0)
                return -1;
        memcpy(c->ek_sha256, digest, 32);
        return 0;
}

static int group_setup(void **state) {
        static Ctx c;

        if (setup(&c) < 0) {
                fprintf(stderr, "test-ek-verify: FAIL: provisioning the swtpm with an EK cert failed\n");
                tpm_fixture_stop(&c.tpm);
                return -1;
        }
        *state = &c;
        return 0;
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (c) {
                free(c->cert);
                tpm_fixture_stop(&c->tpm);
        }
        return 0;
}

/* ek_verify, then: no lines (want NULL) or one line containing each of want[]. */
static void expect(const TPMT_PUBLIC *ek, const uint8_t *cert, size_t size, const EkTrust *t, const char *const *want) {
        AttestReport report = {};
        int r = ek_verify(ek, cert, size, t, &report);

        for (size_t i = 0; i < report.n_lines; i++)
                fprintf(stderr, "  report: %s\n", report.lines[i]);
        if (!want) {
                assert_int_equal(r, 0);
                assert_int_equal(report.n_lines, 0);
        } else {
                assert_int_equal(r, -EACCES);
                assert_int_equal(report.n_lines, 1);
                for (size_t i = 0; want[i]; i++)
                        assert_non_null(strstr(report.lines[0], want[i]));
        }
        attest_report_clear(&report);
}

static void test_ek_verify_chain_ok(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = c->bundle };

        expect(&c->ek.publicArea, c->cert, c->cert_size, &t, NULL);
}

static void test_ek_verify_untrusted_ca_refused(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = c->other_ca };

        expect(&c->ek.publicArea, c->cert, c->cert_size, &t,
               (const char *const[]) { "EK certificate does not chain to a trusted CA", "unable to get local issuer",
                                       "issuer /CN=swtpm-localca", "subject", NULL });
}

static void test_ek_verify_missing_intermediate_refused(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = c->root_only };

        expect(&c->ek.publicArea, c->cert, c->cert_size, &t,
               (const char *const[]) { "does not chain to a trusted CA", NULL });
}

static void test_ek_verify_other_key_refused(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = c->bundle };

        expect(&c->ek_ecc.publicArea, c->cert, c->cert_size, &t,
               (const char *const[]) { "is for another key than the EK", NULL });
}

static void test_ek_verify_padded_cert_ok_garbage_refused(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = c->bundle };
        _cleanup_free_ uint8_t *p = malloc(c->cert_size + 64);

        assert_non_null(p);
        memcpy(p, c->cert, c->cert_size);
        memset(p + c->cert_size, 0xff, 64); /* NV index larger than the DER */
        expect(&c->ek.publicArea, p, c->cert_size + 64, &t, NULL);
        p[c->cert_size + 3] = 'x';
        expect(&c->ek.publicArea, p, c->cert_size + 64, &t,
               (const char *const[]) { "EK certificate does not parse: trailing bytes", NULL });
        expect(&c->ek.publicArea, p + 1, c->cert_size - 1, &t,
               (const char *const[]) { "EK certificate does not parse", NULL });
}

static void test_ek_verify_allowlist(void **state) {
        Ctx *c = *state;
        uint8_t d[32], other[1][32] = { { 1 } };
        EkTrust t = { .allow = (const uint8_t(*)[32]) d, .n_allow = 1 };

        assert_int_equal(ek_public_digest(&c->ek.publicArea, d), 0);
        assert_memory_equal(d, c->ek_sha256, 32); /* = sha256 of ek.tss minus its size prefix */
        expect(&c->ek.publicArea, NULL, 0, &t, NULL);
        t.allow = (const uint8_t(*)[32]) other;
        expect(&c->ek.publicArea, NULL, 0, &t, (const char *const[]) { "EK is not in the EK allowlist", NULL });
        t.ca_file = c->bundle;
        expect(&c->ek.publicArea, NULL, 0, &t,
               (const char *const[]) { "EK has no certificate and is not in the EK allowlist", NULL });
        /* a cert, when given, is checked on its own merits */
        expect(&c->ek.publicArea, c->cert, c->cert_size, &t, NULL);
}

static void test_ek_verify_not_a_decryption_key_refused(void **state) {
        Ctx *c = *state;
        uint8_t d[32];
        EkTrust t = { .allow = (const uint8_t(*)[32]) d, .n_allow = 1 };

        assert_int_equal(ek_public_digest(&c->ak.publicArea, d), 0);
        expect(&c->ak.publicArea, NULL, 0, &t,
               (const char *const[]) { "EK is not a fixed restricted decryption key", NULL });
}

static void test_ek_verify_bad_bundle_refused(void **state) {
        Ctx *c = *state;
        EkTrust t = { .ca_file = "/nonexistent/bundle.pem" };

        expect(&c->ek.publicArea, c->cert, c->cert_size, &t,
               (const char *const[]) { "EK CA bundle /nonexistent/bundle.pem cannot be loaded", NULL });
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ek_verify_chain_ok),
                cmocka_unit_test(test_ek_verify_untrusted_ca_refused),
                cmocka_unit_test(test_ek_verify_missing_intermediate_refused),
                cmocka_unit_test(test_ek_verify_other_key_refused),
                cmocka_unit_test(test_ek_verify_padded_cert_ok_garbage_refused),
                cmocka_unit_test(test_ek_verify_allowlist),
                cmocka_unit_test(test_ek_verify_not_a_decryption_key_refused),
                cmocka_unit_test(test_ek_verify_bad_bundle_refused),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
