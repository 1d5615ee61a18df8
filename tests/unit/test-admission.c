/* Tests for the admission exchange without a TPM (agent/swarm/admission-*.c):
 * the messages (round trips, each malformed case, canonical form, checked
 * against proto/admission.schema.json), the transcript, qualifyingData,
 * HMAC and bundle sealing, the nonce table, the admission log line, and the
 * sponsor's hello decisions with EKs and AKs made in software. The
 * exchange with real TPMs is tests/unit/test-admission-tpm.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jose/jose.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "core/cleanup.h"
#include "core/json-schema.h"
#include "core/openssl-cleanup.h"
#include "swarm/admission.h"
#include "swarm/pki.h"

#define MSG(...) #__VA_ARGS__

/* ---- software TPM public areas ---- */

static void rsa_public(EVP_PKEY **ret_key, TPMT_PUBLIC *pub, TPMA_OBJECT attrs, bool sign) {
        EVP_PKEY *k = EVP_RSA_gen(2048);
        BIGNUM *n = NULL;

        assert_non_null(k);
        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        *pub = (TPMT_PUBLIC) { .type = TPM2_ALG_RSA, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = attrs };
        if (sign) {
                pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
                pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
                pub->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        } else {
                pub->authPolicy.size = 32;
                pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
                pub->parameters.rsaDetail.symmetric.keyBits.aes = 128;
                pub->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        }
        pub->parameters.rsaDetail.keyBits = 2048;
        pub->unique.rsa.size = (UINT16) BN_bn2bin(n, pub->unique.rsa.buffer);
        BN_free(n);
        *ret_key = k;
}

static void marshal(const TPMT_PUBLIC *pub, Blob *ret) {
        TPM2B_PUBLIC p = { .publicArea = *pub };
        size_t off = 0;

        ret->data = malloc(sizeof(TPM2B_PUBLIC));
        assert_non_null(ret->data);
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, ret->data, sizeof(TPM2B_PUBLIC), &off), TSS2_RC_SUCCESS);
        ret->size = off;
}

#define EK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
                  TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
#define AK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
                  TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

typedef struct Ctx {
        EVP_PKEY *ca_key, *policy_key, *ek_key, *ak_key, *chan;
        X509 *ca;
        TPMT_PUBLIC ek, ak;
        uint8_t allow[1][32];
        AdmissionSponsor *sponsor;
        AdmissionHello hello;
} Ctx;

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        AdmissionSponsorConfig cfg = {
                .selection = { .hash_alg = TPM2_ALG_SHA256, .mask = 0x81 },
        };
        uint8_t *der = NULL;
        int n;

        assert_non_null(c);
        assert_int_equal(pki_key_new(&c->ca_key), 0);
        assert_int_equal(pki_ca_cert_new(c->ca_key, "lab", &c->ca), 0);
        assert_int_equal(pki_key_new(&c->policy_key), 0);
        rsa_public(&c->ek_key, &c->ek, EK_ATTRS, false);
        rsa_public(&c->ak_key, &c->ak, AK_ATTRS, true);
        assert_int_equal(ek_public_digest(&c->ek, c->allow[0]), 0);
        assert_int_equal(pki_key_new(&c->chan), 0);

        strcpy(c->hello.machine, "node1");
        marshal(&c->ek, &c->hello.ek_pub);
        marshal(&c->ak, &c->hello.ak_pub);
        n = i2d_PUBKEY(c->chan, &der);
        assert_true(n > 0);
        c->hello.chan_pub = (Blob) { .data = der, .size = (size_t) n };

        cfg.ek = (EkTrust) { .allow = (const uint8_t(*)[32]) c->allow, .n_allow = 1 };
        cfg.ca_key = c->ca_key;
        cfg.ca_cert = c->ca;
        cfg.policy_key = c->policy_key;
        memset(cfg.sponsor_id, 0x5a, sizeof(cfg.sponsor_id));
        assert_int_equal(admission_sponsor_new(&cfg, &c->sponsor), 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;

        admission_sponsor_free(c->sponsor);
        admission_hello_done(&c->hello);
        EVP_PKEY_free(c->ca_key);
        EVP_PKEY_free(c->policy_key);
        EVP_PKEY_free(c->ek_key);
        EVP_PKEY_free(c->ak_key);
        EVP_PKEY_free(c->chan);
        X509_free(c->ca);
        free(c);
        return 0;
}

static char *hello_text(const AdmissionHello *h) {
        json_t *doc = admission_hello_build(h);
        char *t;

        assert_non_null(doc);
        t = admission_canonical(doc);
        json_decref(doc);
        assert_non_null(t);
        return t;
}

/* ---- the schema agrees with the parsers ---- */

static void schema_valid(const char *text) {
        const char *src = getenv("STRATA_SRCDIR");
        char path[4096], *schema_text;
        JsonSchemaErrors errs = {};
        JsonSchema *schema = NULL;
        json_t *doc;
        FILE *f;
        long n;

        snprintf(path, sizeof(path), "%s/proto/admission.schema.json", src ? src : ".");
        f = fopen(path, "r");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        schema_text = calloc(1, (size_t) n + 1);
        assert_int_equal(fread(schema_text, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        if (json_schema_new_from_string(schema_text, &schema, &errs) < 0) {
                for (size_t i = 0; i < errs.n_items; i++)
                        fprintf(stderr, "schema: %s: %s\n", errs.items[i].path, errs.items[i].message);
                fail();
        }
        doc = json_loads(text, 0, NULL);
        assert_non_null(doc);
        if (json_schema_validate(schema, doc, &errs) < 0) {
                for (size_t i = 0; i < errs.n_items; i++)
                        fprintf(stderr, "%s: %s\n", errs.items[i].path, errs.items[i].message);
                fail();
        }
        json_schema_errors_clear(&errs);
        json_schema_free(schema);
        json_decref(doc);
        free(schema_text);
}

/* ---- messages ---- */

static void test_admission_hello_parse_roundtrip(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *text = hello_text(&c->hello), *canon = NULL, *err = NULL;
        AdmissionHello h = {};

        assert_int_equal(admission_hello_parse(text, strlen(text), &h, &canon, &err), 0);
        assert_string_equal(canon, text);
        assert_string_equal(h.machine, "node1");
        assert_int_equal(h.ek_pub.size, c->hello.ek_pub.size);
        assert_memory_equal(h.ak_pub.data, c->hello.ak_pub.data, h.ak_pub.size);
        assert_int_equal(h.ek_cert.size, 0);
        schema_valid(text);
        admission_hello_done(&h);
}

static void test_admission_hello_parse_canonical_of_reordered(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *text = hello_text(&c->hello), *canon = NULL, *pretty = NULL;
        json_t *doc = json_loads(text, 0, NULL);
        AdmissionHello h = {};

        /* whitespace and key order do not change the transcript's bytes */
        pretty = json_dumps(doc, JSON_INDENT(3));
        json_decref(doc);
        assert_int_equal(admission_hello_parse(pretty, strlen(pretty), &h, &canon, NULL), 0);
        assert_string_equal(canon, text);
        admission_hello_done(&h);
}

typedef struct BadMessage {
        const char *json;
        const char *where; /* in the detail */
} BadMessage;

static const BadMessage bad_hellos[] = {
        { "[]", "not an object" },
        { "{\"type\":\"hello\"", "not JSON" },
        { MSG({"type":"challenge","version":1}), "$.type" },
        { MSG({"type":"hello","version":2}), "$.version" },
        { MSG({"type":"hello","version":1,"machine":"Node_1","ek_pub":"AA","ak_pub":"AA","chan_pub":"AA"}), "$.machine" },
        { MSG({"type":"hello","version":1,"machine":"n","ek_pub":"A","ak_pub":"AA","chan_pub":"AA"}), "$.ek_pub" },
        { MSG({"type":"hello","version":1,"machine":"n","ek_pub":"AA","ak_pub":"AA","chan_pub":"AA","x":1}), "unknown member" },
        { MSG({"type":"hello","version":1,"machine":"n","ek_pub":"AA","chan_pub":"AA"}), "\"ak_pub\" is missing" },
        { MSG({"type":"hello","type":"hello","version":1}), "not JSON" },
        { MSG({"type":"hello","version":1,"machine":"n","ek_pub":"AA","ak_pub":"AA","chan_pub":""}), "$.chan_pub" },
        { MSG({"type":"hello","version":1.0}), "$.version" },
};

static void test_admission_hello_parse_refuses_malformed(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad_hellos); i++) {
                _cleanup_free_ char *err = NULL;
                AdmissionHello h = {};

                assert_int_equal(admission_hello_parse(bad_hellos[i].json, strlen(bad_hellos[i].json), &h, NULL, &err),
                                 -EBADMSG);
                assert_non_null(err);
                if (!strstr(err, bad_hellos[i].where)) {
                        fprintf(stderr, "case %zu: %s\n", i, err);
                        fail();
                }
                assert_null(h.ek_pub.data);
        }
}

static void test_admission_hello_parse_too_big(void **state) {
        char *big = malloc(ADMISSION_MSG_MAX + 2);
        _cleanup_free_ char *err = NULL;
        AdmissionHello h = {};

        (void) state;
        memset(big, ' ', ADMISSION_MSG_MAX + 1);
        big[ADMISSION_MSG_MAX + 1] = 0;
        assert_int_equal(admission_hello_parse(big, ADMISSION_MSG_MAX + 1, &h, NULL, &err), -E2BIG);
        free(big);
}

static AdmissionChallenge challenge_sample(void) {
        AdmissionChallenge ch = { .expires_in = 60, .selection = { .hash_alg = TPM2_ALG_SHA256, .mask = 0x81 } };

        memset(ch.nonce, 1, sizeof(ch.nonce));
        memset(ch.sponsor_id, 2, sizeof(ch.sponsor_id));
        ch.credential.data = (uint8_t *) strdup("credential");
        ch.credential.size = 10;
        ch.secret.data = (uint8_t *) strdup("secret");
        ch.secret.size = 6;
        return ch;
}

static void test_admission_challenge_roundtrip(void **state) {
        AdmissionChallenge ch = challenge_sample(), back = {};
        json_t *doc = admission_challenge_build(&ch);
        _cleanup_free_ char *text = admission_canonical(doc), *canon = NULL;

        (void) state;
        json_decref(doc);
        assert_int_equal(admission_challenge_parse(text, strlen(text), &back, &canon, NULL), 0);
        assert_string_equal(canon, text);
        assert_memory_equal(back.nonce, ch.nonce, sizeof(ch.nonce));
        assert_int_equal(back.selection.mask, 0x81);
        assert_int_equal(back.selection.hash_alg, TPM2_ALG_SHA256);
        assert_int_equal(back.expires_in, 60);
        schema_valid(text);
        admission_challenge_done(&ch);
        admission_challenge_done(&back);
}

static void test_admission_challenge_refuses_bad_pcrs(void **state) {
        static const char *const bad[] = {
                MSG({"type":"challenge","version":1,"nonce":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_in":60,
                     "sponsor_id":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","pcr_bank":"sha256","pcrs":[7,0],
                     "credential":"AA","secret":"AA"}),
                MSG({"type":"challenge","version":1,"nonce":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_in":60,
                     "sponsor_id":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","pcr_bank":"sha256","pcrs":[24],
                     "credential":"AA","secret":"AA"}),
                MSG({"type":"challenge","version":1,"nonce":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_in":60,
                     "sponsor_id":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","pcr_bank":"md5","pcrs":[0],
                     "credential":"AA","secret":"AA"}),
                MSG({"type":"challenge","version":1,"nonce":"AQEB","expires_in":60,
                     "sponsor_id":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","pcr_bank":"sha256","pcrs":[0],
                     "credential":"AA","secret":"AA"}),
                MSG({"type":"challenge","version":1,"nonce":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_in":601,
                     "sponsor_id":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","pcr_bank":"sha256","pcrs":[0],
                     "credential":"AA","secret":"AA"}),
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AdmissionChallenge ch = {};
                assert_int_equal(admission_challenge_parse(bad[i], strlen(bad[i]), &ch, NULL, NULL), -EBADMSG);
        }
}

static AdmissionEvidence evidence_sample(void) {
        AdmissionEvidence ev = { .pcrs = { .hash_alg = TPM2_ALG_SHA256, .size = 32, .mask = (1u << 0) | (1u << 7) } };

        memset(ev.nonce, 3, sizeof(ev.nonce));
        memset(ev.pcrs.value[0], 0xaa, 32);
        memset(ev.pcrs.value[7], 0x07, 32);
        ev.attest.data = (uint8_t *) strdup("attest");
        ev.attest.size = 6;
        ev.signature.data = (uint8_t *) strdup("sig");
        ev.signature.size = 3;
        memset(ev.hmac, 9, sizeof(ev.hmac));
        return ev;
}

static void test_admission_evidence_roundtrip_canonical_without_hmac(void **state) {
        AdmissionEvidence ev = evidence_sample(), back = {};
        json_t *doc = admission_evidence_build(&ev);
        _cleanup_free_ char *without = admission_canonical(doc), *with = NULL, *canon = NULL;

        (void) state;
        assert_int_equal(admission_evidence_set_hmac(doc, ev.hmac), 0);
        with = admission_canonical(doc);
        json_decref(doc);
        assert_int_equal(admission_evidence_parse(with, strlen(with), &back, &canon, NULL), 0);
        assert_string_equal(canon, without);
        assert_null(strstr(canon, "hmac"));
        assert_memory_equal(back.hmac, ev.hmac, sizeof(ev.hmac));
        assert_int_equal(back.pcrs.mask, ev.pcrs.mask);
        assert_memory_equal(back.pcrs.value[7], ev.pcrs.value[7], 32);
        assert_int_equal(back.eventlog.size, 0);
        schema_valid(with);
        admission_evidence_done(&ev);
        admission_evidence_done(&back);
}

static void test_admission_evidence_refuses_bad_pcr_values(void **state) {
        static const char *const keys[] = { "07", "24", "x", "", "-1" };
        AdmissionEvidence ev = evidence_sample();
        json_t *doc = admission_evidence_build(&ev);

        (void) state;
        assert_int_equal(admission_evidence_set_hmac(doc, ev.hmac), 0);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *d = json_deep_copy(doc);
                _cleanup_free_ char *t = NULL, *err = NULL;
                AdmissionEvidence back = {};

                json_object_set_new(json_object_get(d, "pcr_values"), keys[i], json_string(
                        "0707070707070707070707070707070707070707070707070707070707070707"));
                t = admission_canonical(d);
                assert_int_equal(admission_evidence_parse(t, strlen(t), &back, NULL, &err), -EBADMSG);
                assert_non_null(strstr(err, "pcr_values"));
                json_decref(d);
        }
        /* upper-case hex and a short value */
        {
                json_t *d = json_deep_copy(doc);
                _cleanup_free_ char *t = NULL;
                AdmissionEvidence back = {};
                json_object_set_new(json_object_get(d, "pcr_values"), "7", json_string("AB"));
                t = admission_canonical(d);
                assert_int_equal(admission_evidence_parse(t, strlen(t), &back, NULL, NULL), -EBADMSG);
                json_decref(d);
        }
        json_decref(doc);
        admission_evidence_done(&ev);
}

static void test_admission_verdict_roundtrip_and_consistency(void **state) {
        Ctx *c = *state;
        AdmissionVerdict v = {}, back = {};
        AttestReport rep = {};
        _cleanup_free_ char *refusal = NULL;
        X509 *x = NULL;
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long n;

        attest_report_add(&rep, "nonce expired");
        attest_report_add(&rep, "quote signature does not verify with the AK");
        refusal = admission_refusal_text(&rep);
        assert_non_null(refusal);
        schema_valid(refusal);
        assert_int_equal(admission_verdict_parse(refusal, strlen(refusal), &back, NULL), 0);
        assert_false(back.admitted);
        assert_int_equal(back.n_reasons, 2);
        assert_string_equal(back.reasons[0], "nonce expired");
        admission_verdict_done(&back);
        attest_report_clear(&rep);

        /* an admitting verdict */
        assert_int_equal(pki_member_cert_issue(c->ca_key, c->ca, c->chan, "node1", 3600, &x), 0);
        assert_int_equal(PEM_write_bio_X509(bio, x), 1);
        n = BIO_get_mem_data(bio, &pem);
        v.admitted = true;
        v.member_cert = memdup_nul(pem, (size_t) n);
        v.bundle.ciphertext.data = (uint8_t *) strdup("xx");
        v.bundle.ciphertext.size = 2;
        {
                json_t *doc = admission_verdict_build(&v);
                _cleanup_free_ char *t = admission_canonical(doc);
                json_decref(doc);
                schema_valid(t);
                assert_int_equal(admission_verdict_parse(t, strlen(t), &back, NULL), 0);
                assert_true(back.admitted);
                assert_string_equal(back.member_cert, v.member_cert);
                admission_verdict_done(&back);
        }
        /* admitted without a bundle, refused without reasons: inconsistent */
        {
                static const char *const bad[] = {
                        MSG({"type":"verdict","version":1,"admitted":true}),
                        MSG({"type":"verdict","version":1,"admitted":false}),
                        MSG({"type":"verdict","version":1,"admitted":false,"reasons":[]}),
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                        assert_int_equal(admission_verdict_parse(bad[i], strlen(bad[i]), &back, NULL), -EBADMSG);
        }
        admission_verdict_done(&v);
        X509_free(x);
        BIO_free(bio);
}

/* ---- crypto ---- */

static void test_admission_qualifying_data_vector(void **state) {
        /* SHA256("strata-join-v1" || N || SHA256(chan) || name || id),
         * recomputed here step by step */
        uint8_t nonce[32], id[32], name[34] = { 0x00, 0x0b }, got[32], want[32], chan_digest[32];
        uint8_t chan_bytes[] = { 1, 2, 3 };
        Blob chan = { .data = chan_bytes, .size = sizeof(chan_bytes) };
        uint8_t buf[14 + 32 + 32 + 34 + 32];

        (void) state;
        memset(nonce, 0x11, sizeof(nonce));
        memset(id, 0x22, sizeof(id));
        memset(name + 2, 0x33, 32);
        assert_int_equal(admission_qualifying_data(nonce, &chan, name, sizeof(name), id, got), 0);
        assert_int_equal(admission_sha256(chan_bytes, sizeof(chan_bytes), chan_digest), 0);
        memcpy(buf, "strata-join-v1", 14);
        memcpy(buf + 14, nonce, 32);
        memcpy(buf + 46, chan_digest, 32);
        memcpy(buf + 78, name, 34);
        memcpy(buf + 112, id, 32);
        assert_int_equal(admission_sha256(buf, sizeof(buf), want), 0);
        assert_memory_equal(got, want, 32);
}

static void test_admission_hmac_verify(void **state) {
        Secret *k = secret_new_copy("0123456789abcdef0123456789abcdef", 32);
        Secret *other = secret_new_copy("0123456789abcdef0123456789abcdeF", 32);
        uint8_t mac[32];

        (void) state;
        assert_int_equal(admission_hmac(k, "transcript", 10, mac), 0);
        assert_int_equal(admission_hmac_verify(k, "transcript", 10, mac), 0);
        assert_int_equal(admission_hmac_verify(other, "transcript", 10, mac), -EBADMSG);
        assert_int_equal(admission_hmac_verify(k, "transcripT", 10, mac), -EBADMSG);
        secret_free(k);
        secret_free(other);
}

static void test_admission_bundle_seal_open(void **state) {
        Secret *k = secret_new_copy("0123456789abcdef0123456789abcdef", 32);
        Secret *other = secret_new_copy("0123456789abcdef0123456789abcdeF", 32), *pt = NULL;
        AdmissionSealed s = {};
        const char msg[] = "{\"type\":\"bundle\"}";

        (void) state;
        assert_int_equal(admission_bundle_seal(k, "T", 1, msg, strlen(msg), &s), 0);
        assert_int_equal(s.ciphertext.size, strlen(msg));
        assert_int_equal(admission_bundle_open(k, "T", 1, &s, &pt), 0);
        assert_int_equal(pt->size, strlen(msg));
        assert_memory_equal(pt->data, msg, pt->size);
        pt = secret_free(pt);
        /* the relay's case: everything but K */
        assert_int_equal(admission_bundle_open(other, "T", 1, &s, &pt), -EBADMSG);
        /* another transcript */
        assert_int_equal(admission_bundle_open(k, "U", 1, &s, &pt), -EBADMSG);
        /* tampered */
        s.ciphertext.data[0] ^= 1;
        assert_int_equal(admission_bundle_open(k, "T", 1, &s, &pt), -EBADMSG);
        s.ciphertext.data[0] ^= 1;
        s.tag[0] ^= 1;
        assert_int_equal(admission_bundle_open(k, "T", 1, &s, &pt), -EBADMSG);
        assert_null(pt);
        blob_clear(&s.ciphertext);
        secret_free(k);
        secret_free(other);
}

/* ---- nonces ---- */

static AdmissionSession *session_new(uint8_t fill, uint64_t expires) {
        AdmissionSession *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        memset(s->nonce, fill, sizeof(s->nonce));
        s->expires_usec = expires;
        return s;
}

static void test_admission_nonces_single_use(void **state) {
        AdmissionNonces *t = NULL;
        AdmissionSession *s = NULL;
        uint8_t n1[32], n9[32];

        (void) state;
        memset(n1, 1, 32);
        memset(n9, 9, 32);
        assert_int_equal(admission_nonces_new(4, 4, &t), 0);
        assert_int_equal(admission_nonces_add(t, session_new(1, 100), 10), 0);
        assert_int_equal(admission_nonces_take(t, n1, 50, &s), ADMISSION_NONCE_OK);
        assert_non_null(s);
        s = admission_session_free(s);
        assert_int_equal(admission_nonces_take(t, n1, 50, &s), ADMISSION_NONCE_USED);
        assert_null(s);
        assert_int_equal(admission_nonces_take(t, n9, 50, &s), ADMISSION_NONCE_UNKNOWN);
        assert_string_equal(admission_nonce_state_to_string(ADMISSION_NONCE_USED), "nonce already used");
        admission_nonces_free(t);
}

static void test_admission_nonces_expired(void **state) {
        AdmissionNonces *t = NULL;
        AdmissionSession *s = NULL;
        uint8_t n2[32];

        (void) state;
        memset(n2, 2, 32);
        assert_int_equal(admission_nonces_new(4, 4, &t), 0);
        assert_int_equal(admission_nonces_add(t, session_new(2, 100), 10), 0);
        assert_int_equal(admission_nonces_take(t, n2, 100, &s), ADMISSION_NONCE_EXPIRED);
        assert_non_null(s); /* who it was for */
        s = admission_session_free(s);
        /* consumed: the next try is a replay */
        assert_int_equal(admission_nonces_take(t, n2, 100, &s), ADMISSION_NONCE_USED);
        assert_string_equal(admission_nonce_state_to_string(ADMISSION_NONCE_EXPIRED), "nonce expired");
        admission_nonces_free(t);
}

static void test_admission_nonces_full(void **state) {
        AdmissionNonces *t = NULL;
        AdmissionSession *s = NULL;
        uint8_t n1[32], n3[32];

        (void) state;
        memset(n1, 1, 32);
        memset(n3, 3, 32);
        assert_int_equal(admission_nonces_new(2, 2, &t), 0);
        assert_int_equal(admission_nonces_add(t, session_new(1, 100), 10), 0);
        assert_int_equal(admission_nonces_add(t, session_new(2, 200), 10), 0);
        /* full of live sessions: refused, nothing dropped */
        assert_int_equal(admission_nonces_add(t, session_new(3, 300), 50), -EBUSY);
        assert_int_equal(admission_nonces_pending(t), 2);
        /* the expired one makes room and is forgotten */
        assert_int_equal(admission_nonces_add(t, session_new(3, 300), 150), 0);
        assert_int_equal(admission_nonces_take(t, n1, 150, &s), ADMISSION_NONCE_UNKNOWN);
        assert_int_equal(admission_nonces_take(t, n3, 150, &s), ADMISSION_NONCE_OK);
        admission_session_free(s);
        admission_nonces_free(t);
}

/* ---- the sponsor's hello ---- */

static void test_admission_sponsor_hello_challenges(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *text = hello_text(&c->hello), *reply = NULL;
        AdmissionRecord rec = {};
        AdmissionChallenge ch = {};

        assert_int_equal(admission_sponsor_hello(c->sponsor, text, strlen(text), 1000, &reply, &rec), 0);
        assert_true(rec.challenged);
        assert_string_equal(rec.machine, "node1");
        assert_memory_equal(rec.ek_digest, c->allow[0], 32);
        assert_int_equal(rec.ak_name_size, 34);
        assert_int_equal(admission_challenge_parse(reply, strlen(reply), &ch, NULL, NULL), 0);
        assert_int_equal(ch.expires_in, ADMISSION_NONCE_TTL_SEC);
        assert_int_equal(ch.selection.mask, 0x81);
        assert_true(ch.credential.size > 0 && ch.secret.size == 2 + 256);
        schema_valid(reply);
        admission_challenge_done(&ch);
        admission_record_clear(&rec);
}

static void test_admission_sponsor_hello_untrusted_ek(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *text = NULL, *reply = NULL;
        AdmissionRecord rec = {};
        EVP_PKEY *k = NULL;
        TPMT_PUBLIC other;

        rsa_public(&k, &other, EK_ATTRS, false);
        blob_clear(&c->hello.ek_pub);
        marshal(&other, &c->hello.ek_pub);
        text = hello_text(&c->hello);
        assert_int_equal(admission_sponsor_hello(c->sponsor, text, strlen(text), 1000, &reply, &rec), -EACCES);
        assert_false(rec.challenged);
        assert_non_null(strstr(reply, "EK is not in the EK allowlist"));
        assert_string_equal(rec.reasons.lines[0], "EK is not in the EK allowlist (no EK CA bundle configured)");
        EVP_PKEY_free(k);
        admission_record_clear(&rec);
}

static void test_admission_sponsor_hello_bad_ak_and_channel_key(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *text = NULL, *reply = NULL;
        AdmissionRecord rec = {};
        TPMT_PUBLIC ak = c->ak;
        EVP_PKEY *rsa = EVP_EC_gen("secp384r1"); /* not P-256 */
        uint8_t *der = NULL;
        int n;

        ak.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
        blob_clear(&c->hello.ak_pub);
        marshal(&ak, &c->hello.ak_pub);
        n = i2d_PUBKEY(rsa, &der);
        blob_clear(&c->hello.chan_pub);
        c->hello.chan_pub = (Blob) { .data = der, .size = (size_t) n };
        text = hello_text(&c->hello);
        assert_int_equal(admission_sponsor_hello(c->sponsor, text, strlen(text), 1000, &reply, &rec), -EACCES);
        assert_int_equal(rec.reasons.n_lines, 2);
        assert_non_null(strstr(rec.reasons.lines[0], "AK is not a restricted signing key"));
        assert_string_equal(rec.reasons.lines[1], "channel key is not an ECDSA P-256 public key");
        EVP_PKEY_free(rsa);
        admission_record_clear(&rec);
}

static void test_admission_sponsor_hello_malformed(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *reply = NULL;
        AdmissionRecord rec = {};

        assert_int_equal(admission_sponsor_hello(c->sponsor, "{}", 2, 1000, &reply, &rec), -EBADMSG);
        assert_null(reply);
        assert_non_null(strstr(rec.reasons.lines[0], "hello does not parse"));
        admission_record_clear(&rec);
}

static void test_admission_sponsor_evidence_unknown_nonce(void **state) {
        Ctx *c = *state;
        AdmissionEvidence ev = evidence_sample();
        json_t *doc = admission_evidence_build(&ev);
        _cleanup_free_ char *text = NULL, *reply = NULL;
        AdmissionRecord rec = {};

        assert_int_equal(admission_evidence_set_hmac(doc, ev.hmac), 0);
        text = admission_canonical(doc);
        json_decref(doc);
        assert_int_equal(admission_sponsor_evidence(c->sponsor, text, strlen(text), 1000, 0, &reply, &rec), -EACCES);
        assert_string_equal(rec.reasons.lines[0], "nonce unknown (not issued by this sponsor, or forgotten)");
        assert_string_equal(rec.step, "evidence");
        assert_non_null(strstr(reply, "\"admitted\":false"));
        admission_record_clear(&rec);
        admission_evidence_done(&ev);
}

/* ---- the admission log ---- */

static void test_admission_log_append_lines(void **state) {
        Ctx *c = *state;
        char dir[] = "/tmp/strata-admlog-XXXXXX", path[64], buf[4096];
        AdmissionRecord rec = { .step = "evidence", .ek_digest_set = true };
        AdmissionLog *log = NULL;
        json_t *doc;
        ssize_t n;
        int fd;

        (void) c;
        assert_non_null(mkdtemp(dir));
        strcpy(rec.machine, "node1");
        memset(rec.ek_digest, 0xab, 32);
        memset(rec.message_digest, 0xcd, 32);
        attest_report_add(&rec.reasons, "nonce already used");
        assert_int_equal(admission_log_open(dir, &log), 0);
        assert_int_equal(admission_log_append(log, &rec, 0, "127.0.0.1"), 0);
        rec.admitted = true;
        attest_report_clear(&rec.reasons);
        assert_int_equal(admission_log_append(log, &rec, 60, NULL), 0);
        admission_log_close(log);

        snprintf(path, sizeof(path), "%s/%s", dir, ADMISSION_LOG_FILE);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = 0;
        doc = json_loadb(buf, (size_t) (strchr(buf, '\n') - buf), 0, NULL);
        assert_non_null(doc);
        assert_string_equal(json_string_value(json_object_get(doc, "time")), "1970-01-01T00:00:00Z");
        assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "refused");
        assert_string_equal(json_string_value(json_object_get(doc, "machine")), "node1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "reasons"), 0)),
                            "nonce already used");
        assert_int_equal(strlen(json_string_value(json_object_get(doc, "evidence_sha256"))), 64);
        assert_int_equal(strlen(json_string_value(json_object_get(doc, "ek_sha256"))), 64);
        json_decref(doc);
        assert_non_null(strstr(strchr(buf, '\n') + 1, "\"verdict\":\"admitted\""));
        unlink(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_admission_hello_parse_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_hello_parse_canonical_of_reordered, setup, teardown),
                cmocka_unit_test(test_admission_hello_parse_refuses_malformed),
                cmocka_unit_test(test_admission_hello_parse_too_big),
                cmocka_unit_test(test_admission_challenge_roundtrip),
                cmocka_unit_test(test_admission_challenge_refuses_bad_pcrs),
                cmocka_unit_test(test_admission_evidence_roundtrip_canonical_without_hmac),
                cmocka_unit_test(test_admission_evidence_refuses_bad_pcr_values),
                cmocka_unit_test_setup_teardown(test_admission_verdict_roundtrip_and_consistency, setup, teardown),
                cmocka_unit_test(test_admission_qualifying_data_vector),
                cmocka_unit_test(test_admission_hmac_verify),
                cmocka_unit_test(test_admission_bundle_seal_open),
                cmocka_unit_test(test_admission_nonces_single_use),
                cmocka_unit_test(test_admission_nonces_expired),
                cmocka_unit_test(test_admission_nonces_full),
                cmocka_unit_test_setup_teardown(test_admission_sponsor_hello_challenges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_sponsor_hello_untrusted_ek, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_sponsor_hello_bad_ak_and_channel_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_sponsor_hello_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_sponsor_evidence_unknown_nonce, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_log_append_lines, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
