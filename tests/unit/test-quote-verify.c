/* Tests for agent/attest/quote-verify.c against real quotes: a swtpm with
 * an EK and RSASSA, RSAPSS and ECDSA AKs made by tpm2_createek /
 * tpm2_createak (the recipe of docs/attestation.md 3), quotes from
 * tpm2_quote. A genuine quote passes; a tampered message, signature, PCR
 * value, nonce, selection or magic is refused naming that check, and only
 * that check. The TPMS_ATTEST parser is also tested alone: ok, exact fit,
 * every truncation, trailing bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_mu.h>

#include "attest/verify.h"
#include "tpm-fixture.h"

#define SELECTION_ARG "sha256:0,1,2,3,16"
#define SELECTION_MASK ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 16))

typedef struct Quote {
        TPM2B_PUBLIC ak;
        uint8_t ak_name[TPM_NAME_MAX];
        size_t ak_name_size;
        uint8_t *attest; /* TPM2B_ATTEST */
        size_t attest_size;
        uint8_t *sig; /* TPMT_SIGNATURE */
        size_t sig_size;
} Quote;

typedef struct Ctx {
        TpmFixture tpm;
        uint8_t nonce[32];
        PcrValues pcrs;
        TPM2B_PUBLIC ek;
        Quote rsassa, rsapss, ecdsa;
} Ctx;

static int sh(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(Ctx *c, const char *fmt, ...) {
        char cmd[2048], full[2300];
        va_list ap;
        int rc;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        snprintf(full, sizeof(full), "cd %s && %s", c->tpm.dir, cmd);
        char *argv[] = { "sh", "-c", full, NULL };
        rc = tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL);
        if (rc != 0)
                fprintf(stderr, "test-quote-verify: `%s` exited %d (see %s/run.log)\n", cmd, rc, c->tpm.dir);
        return rc;
}

static uint8_t *slurp(Ctx *c, const char *name, size_t *ret_size) {
        char path[256];
        FILE *f;
        uint8_t *buf = malloc(65536);
        size_t n;

        snprintf(path, sizeof(path), "%s/%s", c->tpm.dir, name);
        f = fopen(path, "rb");
        if (!f || !buf) {
                if (f)
                        fclose(f);
                free(buf);
                return NULL;
        }
        n = fread(buf, 1, 65536, f);
        fclose(f);
        *ret_size = n;
        return buf;
}

#define FLUSH "tpm2_flushcontext -t && tpm2_flushcontext -s"

static int make_quote(Ctx *c, Quote *q, const char *tag, const char *alg, const char *scheme) {
        _cleanup_free_ uint8_t *pub = NULL, *msg = NULL, *name = NULL;
        size_t size, msg_size, name_size;
        char nonce[65];

        for (size_t i = 0; i < sizeof(c->nonce); i++)
                sprintf(nonce + 2 * i, "%02x", c->nonce[i]);
        if (sh(c, "tpm2_createak -C ek.ctx -c ak-%s.ctx -G %s -g sha256 -s %s -u ak-%s.tss -r ak-%s.priv -n "
                  "ak-%s.name && " FLUSH,
               tag, alg, scheme, tag, tag, tag) != 0)
                return -1;
        if (sh(c, "tpm2_quote -c ak-%s.ctx -l " SELECTION_ARG " -q %s -m quote-%s.msg -s quote-%s.sig -g sha256 "
                  "--scheme=%s && " FLUSH,
               tag, nonce, tag, tag, scheme) != 0)
                return -1;
        char f[64];
        snprintf(f, sizeof(f), "ak-%s.tss", tag);
        pub = slurp(c, f, &size);
        snprintf(f, sizeof(f), "ak-%s.name", tag);
        name = slurp(c, f, &name_size);
        snprintf(f, sizeof(f), "quote-%s.msg", tag);
        msg = slurp(c, f, &msg_size);
        snprintf(f, sizeof(f), "quote-%s.sig", tag);
        q->sig = slurp(c, f, &q->sig_size);
        if (!pub || !msg || !name || !q->sig || tpm_public_parse(pub, size, &q->ak, NULL) < 0)
                return -1;
        /* tpm2_quote -m writes the bare TPMS_ATTEST: wrap it as TPM2B_ATTEST */
        q->attest = malloc(msg_size + 2);
        if (!q->attest)
                return -1;
        q->attest[0] = (uint8_t) (msg_size >> 8);
        q->attest[1] = (uint8_t) msg_size;
        memcpy(q->attest + 2, msg, msg_size);
        q->attest_size = msg_size + 2;
        memcpy(q->ak_name, name, name_size < TPM_NAME_MAX ? name_size : TPM_NAME_MAX);
        q->ak_name_size = name_size;
        return 0;
}

static int group_setup_tpm(Ctx *c);

static int group_setup(void **state) {
        static Ctx c;

        if (group_setup_tpm(&c) < 0) {
                tpm_fixture_stop(&c.tpm);
                return -1;
        }
        *state = &c;
        return 0;
}

static int group_setup_tpm(Ctx *cp) {
#define c (*cp)
        _cleanup_free_ uint8_t *vals = NULL, *ek = NULL;
        size_t size, ek_size;
        unsigned k = 0;

        if (tpm_fixture_start(&c.tpm) < 0) {
                fprintf(stderr, "test-quote-verify: FAIL: no TPM simulator, nothing can be tested\n");
                return -1;
        }
        for (size_t i = 0; i < sizeof(c.nonce); i++)
                c.nonce[i] = (uint8_t) (0xa0 + i);
        if (sh(&c, "tpm2_createek -c ek.ctx -G rsa -u ek.tss && " FLUSH) != 0 ||
            sh(&c, "tpm2_pcrextend 16:sha256=$(printf strata-image | sha256sum | cut -d' ' -f1)") != 0)
                return -1;
        if (make_quote(&c, &c.rsassa, "rsassa", "rsa", "rsassa") < 0 ||
            make_quote(&c, &c.rsapss, "rsapss", "rsa", "rsapss") < 0 ||
            make_quote(&c, &c.ecdsa, "ecdsa", "ecc", "ecdsa") < 0)
                return -1;
        /* the values, in selection order, as the node would report them */
        if (sh(&c, "tpm2_pcrread " SELECTION_ARG " -o pcrs.bin") != 0)
                return -1;
        vals = slurp(&c, "pcrs.bin", &size);
        ek = slurp(&c, "ek.tss", &ek_size);
        if (!vals || size != 5 * 32 || !ek || tpm_public_parse(ek, ek_size, &c.ek, NULL) < 0)
                return -1;
        c.pcrs = (PcrValues) { .hash_alg = TPM2_ALG_SHA256, .mask = SELECTION_MASK, .size = 32 };
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++)
                if (SELECTION_MASK & (1u << i))
                        memcpy(c.pcrs.value[i], vals + 32 * k++, 32);
        return 0;
#undef c
}

static void quote_free(Quote *q) {
        free(q->attest);
        free(q->sig);
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (c) {
                quote_free(&c->rsassa);
                quote_free(&c->rsapss);
                quote_free(&c->ecdsa);
                tpm_fixture_stop(&c->tpm);
        }
        return 0;
}

static QuoteExpect expect_of(Ctx *c, const PcrValues *pcrs) {
        return (QuoteExpect) { .nonce = c->nonce,
                               .nonce_size = sizeof(c->nonce),
                               .selection = { .hash_alg = TPM2_ALG_SHA256, .mask = SELECTION_MASK },
                               .pcrs = pcrs };
}

/* Runs quote_verify and checks the report has exactly the `want` line
 * (prefix match), or none when want is NULL. */
static void verify_expect(Ctx *c, const Quote *q, const uint8_t *attest, size_t attest_size, const uint8_t *sig,
                          size_t sig_size, const QuoteExpect *e, const char *want) {
        AttestReport report = {};
        QuoteInfo info;
        int r;

        (void) c;
        r = quote_verify(&q->ak.publicArea, attest, attest_size, sig, sig_size, e, &info, &report);
        for (size_t i = 0; i < report.n_lines; i++)
                fprintf(stderr, "  report: %s\n", report.lines[i]);
        if (!want) {
                assert_int_equal(r, 0);
                assert_int_equal(report.n_lines, 0);
        } else {
                assert_int_equal(r, -EACCES);
                assert_int_equal(report.n_lines, 1);
                assert_non_null(strstr(report.lines[0], want));
        }
        attest_report_clear(&report);
}

static void test_quote_verify_tpm2_quote_each_scheme(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);
        const Quote *qs[] = { &c->rsassa, &c->rsapss, &c->ecdsa };

        for (size_t i = 0; i < 3; i++) {
                QuoteInfo info;
                AttestReport report = {};

                verify_expect(c, qs[i], qs[i]->attest, qs[i]->attest_size, qs[i]->sig, qs[i]->sig_size, &e, NULL);
                assert_int_equal(quote_verify(&qs[i]->ak.publicArea, qs[i]->attest, qs[i]->attest_size, qs[i]->sig,
                                              qs[i]->sig_size, &e, &info, &report),
                                 0);
                assert_int_equal(info.magic, TPM2_GENERATED_VALUE);
                assert_int_equal(info.type, TPM2_ST_ATTEST_QUOTE);
                assert_int_equal(info.n_banks, 1);
                assert_int_equal(info.banks[0].mask, SELECTION_MASK);
                assert_true(info.safe);
        }
        /* and tpm2_checkquote agrees on the same files */
        assert_int_equal(sh(c, "tpm2_readpublic -c ak-rsassa.ctx -f pem -o ak-rsassa.pem >/dev/null && " FLUSH
                               " && tpm2_checkquote -u ak-rsassa.pem -m quote-rsassa.msg -s quote-rsassa.sig -g "
                               "sha256 -q a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf >/dev/null"),
                         0);
}

static void test_quote_verify_tampered_message(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);
        _cleanup_free_ uint8_t *m = malloc(c->rsassa.attest_size);

        assert_non_null(m);
        memcpy(m, c->rsassa.attest, c->rsassa.attest_size);
        m[2 + 95] ^= 0x01; /* inside firmwareVersion: parses, but was not signed so */
        verify_expect(c, &c->rsassa, m, c->rsassa.attest_size, c->rsassa.sig, c->rsassa.sig_size, &e,
                      "quote signature does not verify with the AK");
}

static void test_quote_verify_tampered_signature(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);
        const Quote *qs[] = { &c->rsassa, &c->ecdsa };

        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ uint8_t *s = malloc(qs[i]->sig_size);
                assert_non_null(s);
                memcpy(s, qs[i]->sig, qs[i]->sig_size);
                s[qs[i]->sig_size - 5] ^= 0x40;
                verify_expect(c, qs[i], qs[i]->attest, qs[i]->attest_size, s, qs[i]->sig_size, &e,
                              "quote signature does not verify with the AK");
        }
}

static void test_quote_verify_signature_of_other_ak(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);

        /* an RSAPSS signature presented for the RSASSA AK: the scheme is pinned */
        verify_expect(c, &c->rsassa, c->rsassa.attest, c->rsassa.attest_size, c->rsapss.sig, c->rsapss.sig_size, &e,
                      "quote signature algorithm is not the AK's scheme");
        /* the RSAPSS AK with its own signature, but over another message */
        verify_expect(c, &c->rsapss, c->rsassa.attest, c->rsassa.attest_size, c->rsapss.sig, c->rsapss.sig_size, &e,
                      "quote signature does not verify with the AK");
}

static void test_quote_verify_tampered_pcr(void **state) {
        Ctx *c = *state;
        PcrValues p = c->pcrs;
        QuoteExpect e = expect_of(c, &p);

        p.value[16][0] ^= 0x80;
        verify_expect(c, &c->ecdsa, c->ecdsa.attest, c->ecdsa.attest_size, c->ecdsa.sig, c->ecdsa.sig_size, &e,
                      "pcrDigest does not match the PCR values");
        /* a missing value is a mismatch too, naming the PCR */
        p = c->pcrs;
        p.mask &= ~(1u << 3);
        verify_expect(c, &c->ecdsa, c->ecdsa.attest, c->ecdsa.attest_size, c->ecdsa.sig, c->ecdsa.sig_size, &e,
                      "no value for PCR 3");
}

static void test_quote_verify_wrong_nonce(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);
        uint8_t other[32];

        memcpy(other, c->nonce, 32);
        other[31] ^= 1;
        e.nonce = other;
        verify_expect(c, &c->rsassa, c->rsassa.attest, c->rsassa.attest_size, c->rsassa.sig, c->rsassa.sig_size, &e,
                      "quote nonce does not match");
        e.nonce_size = 31;
        verify_expect(c, &c->rsassa, c->rsassa.attest, c->rsassa.attest_size, c->rsassa.sig, c->rsassa.sig_size, &e,
                      "quote nonce does not match");
}

static void test_quote_verify_wrong_selection(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);

        e.selection.mask |= 1u << 7;
        verify_expect(c, &c->rsassa, c->rsassa.attest, c->rsassa.attest_size, c->rsassa.sig, c->rsassa.sig_size, &e,
                      "quote PCR selection sha256:0,1,2,3,16 is not the expected sha256:0,1,2,3,7,16");
}

static void test_quote_verify_magic(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);
        _cleanup_free_ uint8_t *m = malloc(c->rsassa.attest_size);
        AttestReport report = {};

        assert_non_null(m);
        memcpy(m, c->rsassa.attest, c->rsassa.attest_size);
        m[2] = 0x00;
        assert_int_equal(quote_verify(&c->rsassa.ak.publicArea, m, c->rsassa.attest_size, c->rsassa.sig,
                                      c->rsassa.sig_size, &e, NULL, &report),
                         -EACCES);
        assert_int_equal(report.n_lines, 2);
        assert_non_null(strstr(report.lines[0], "not a TPM-generated quote (magic"));
        assert_non_null(strstr(report.lines[1], "quote signature does not verify with the AK"));
        attest_report_clear(&report);
}

static void test_quote_verify_garbage(void **state) {
        Ctx *c = *state;
        QuoteExpect e = expect_of(c, &c->pcrs);

        verify_expect(c, &c->rsassa, (const uint8_t *) "\x00\x03" "abc", 5, c->rsassa.sig, c->rsassa.sig_size, &e,
                      "quote does not parse");
        verify_expect(c, &c->rsassa, c->rsassa.attest, c->rsassa.attest_size, (const uint8_t *) "\x00\x14", 2, &e,
                      "quote signature is unusable");
}

static void test_quote_attest_parse_ok_exact_truncated(void **state) {
        Ctx *c = *state;
        const Quote *q = &c->rsassa;
        const uint8_t *body;
        size_t body_size;
        QuoteInfo info;

        /* doc 2.4: 145 bytes with a SHA-256 name and a 32-byte nonce */
        assert_int_equal(q->attest_size, 2 + 145);
        assert_int_equal(quote_attest_parse(q->attest, q->attest_size, &info, &body, &body_size, NULL), 0);
        assert_int_equal(body_size, 145);
        assert_ptr_equal(body, q->attest + 2);
        assert_int_equal(info.extra_size, 32);
        assert_memory_equal(info.extra, c->nonce, 32);
        assert_int_equal(info.pcr_digest_size, 32);
        assert_int_equal(info.signer_size, 34);
        for (size_t n = 0; n < q->attest_size; n++) {
                _cleanup_free_ uint8_t *cut = malloc(n ? n : 1);
                _cleanup_free_ char *err = NULL;

                assert_non_null(cut);
                memcpy(cut, q->attest, n);
                assert_int_equal(quote_attest_parse(cut, n, &info, NULL, NULL, &err), -EBADMSG);
                assert_non_null(err);
        }
        {
                _cleanup_free_ uint8_t *longer = malloc(q->attest_size + 1);
                assert_non_null(longer);
                memcpy(longer, q->attest, q->attest_size);
                longer[q->attest_size] = 0;
                assert_int_equal(quote_attest_parse(longer, q->attest_size + 1, &info, NULL, NULL, NULL), -EBADMSG);
                /* the TPM2B says one byte more than the TPMS_ATTEST has: trailing inside */
                longer[1]++;
                assert_int_equal(quote_attest_parse(longer, q->attest_size + 1, &info, NULL, NULL, NULL), -EBADMSG);
        }
}

static void test_tpm_public_name_matches_tpm(void **state) {
        Ctx *c = *state;
        const Quote *qs[] = { &c->rsassa, &c->rsapss, &c->ecdsa };

        for (size_t i = 0; i < 3; i++) {
                uint8_t name[TPM_NAME_MAX];
                size_t size;

                assert_int_equal(tpm_public_name(&qs[i]->ak.publicArea, name, &size, NULL), 0);
                assert_int_equal(size, 34);
                assert_int_equal(size, qs[i]->ak_name_size);
                assert_memory_equal(name, qs[i]->ak_name, size);
        }
}

static void test_tpm_public_parse_exact(void **state) {
        Ctx *c = *state;
        uint8_t buf[sizeof(TPM2B_PUBLIC) + 1];
        size_t off = 0;
        TPM2B_PUBLIC p;

        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&c->ecdsa.ak, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
        assert_int_equal(tpm_public_parse(buf, off, &p, NULL), 0);
        assert_int_equal(p.publicArea.type, TPM2_ALG_ECC);
        for (size_t n = 0; n < off; n++)
                assert_int_equal(tpm_public_parse(buf, n, &p, NULL), -EBADMSG);
        buf[off] = 0;
        assert_int_equal(tpm_public_parse(buf, off + 1, &p, NULL), -EBADMSG);
}

static void test_quote_ak_check(void **state) {
        Ctx *c = *state;
        TPMT_PUBLIC ak = c->rsassa.ak.publicArea;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(quote_ak_check(&c->rsassa.ak.publicArea, NULL), 0);
        assert_int_equal(quote_ak_check(&c->rsapss.ak.publicArea, NULL), 0);
        assert_int_equal(quote_ak_check(&c->ecdsa.ak.publicArea, NULL), 0);
        ak.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
        assert_int_equal(quote_ak_check(&ak, &err), -EPERM);
        assert_non_null(strstr(err, "restricted"));
        ak = c->rsassa.ak.publicArea;
        ak.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
        assert_int_equal(quote_ak_check(&ak, &err), -EPERM);
        assert_non_null(strstr(err, "fixedTPM"));
        /* the EK is a decryption key, not a signer */
        assert_int_equal(quote_ak_check(&c->ek.publicArea, &err), -EPERM);
        assert_non_null(strstr(err, "sign"));
}

static void test_tpm_public_pkey_ek_matches_pem(void **state) {
        Ctx *c = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

        assert_int_equal(tpm_public_pkey(&c->ek.publicArea, &k, NULL), 0);
        assert_int_equal(EVP_PKEY_get_bits(k), 2048);
        assert_true(EVP_PKEY_is_a(k, "RSA"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_quote_verify_tpm2_quote_each_scheme),
                cmocka_unit_test(test_quote_verify_tampered_message),
                cmocka_unit_test(test_quote_verify_tampered_signature),
                cmocka_unit_test(test_quote_verify_signature_of_other_ak),
                cmocka_unit_test(test_quote_verify_tampered_pcr),
                cmocka_unit_test(test_quote_verify_wrong_nonce),
                cmocka_unit_test(test_quote_verify_wrong_selection),
                cmocka_unit_test(test_quote_verify_magic),
                cmocka_unit_test(test_quote_verify_garbage),
                cmocka_unit_test(test_quote_attest_parse_ok_exact_truncated),
                cmocka_unit_test(test_tpm_public_name_matches_tpm),
                cmocka_unit_test(test_tpm_public_parse_exact),
                cmocka_unit_test(test_quote_ak_check),
                cmocka_unit_test(test_tpm_public_pkey_ek_matches_pem),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
