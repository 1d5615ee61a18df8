/* Tests for agent/attest/policy.c: the fleet-signed attestation policy
 * (parse, schema agreement, signature with ECDSA P-256 and Ed25519,
 * evaluation naming each failing PCR) and verify_evidence() end to end.
 * No TPM: the "TPM" here is software, an ECC AK and EK built as TPMT_PUBLIC
 * from OpenSSL keys, a TPMS_ATTEST marshalled by tss2-mu and signed with
 * the AK, and a synthetic event log whose replay the quote covers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "attest/verify.h"
#include "core/cursor.h"
#include "core/json-schema.h"

#define SEL_MASK ((1u << 0) | (1u << 4) | (1u << 7))
#define NOW ((time_t) 1750000000) /* 2025-06-15 */

typedef struct World {
        EVP_PKEY *ak_key, *ek_key, *fleet_ed, *fleet_ec, *other_ed;
        TPMT_PUBLIC ak, ek;
        uint8_t ak_pub[sizeof(TPM2B_PUBLIC)], ek_pub[sizeof(TPM2B_PUBLIC)];
        size_t ak_pub_size, ek_pub_size;
        uint8_t ek_digest[32];
        uint8_t nonce[32];
        uint8_t *log;
        size_t log_size;
        PcrValues pcrs; /* replayed from the log = what the "TPM" quoted */
        uint8_t attest[2 + sizeof(TPMS_ATTEST)], sig[sizeof(TPMT_SIGNATURE)];
        size_t attest_size, sig_size;
        uint8_t digest_shim[32], digest_grub[32];
} World;

static World W;

/* ---- the software TPM ---- */

static void ecc_point(EVP_PKEY *k, TPMS_ECC_POINT *p) {
        BIGNUM *x = NULL, *y = NULL;

        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
        p->x.size = p->y.size = 32;
        BN_bn2binpad(x, p->x.buffer, 32);
        BN_bn2binpad(y, p->y.buffer, 32);
        BN_free(x);
        BN_free(y);
}

static size_t marshal_public(const TPMT_PUBLIC *pub, uint8_t *buf) {
        TPM2B_PUBLIC p = { .publicArea = *pub };
        size_t off = 0;

        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(TPM2B_PUBLIC), &off), TSS2_RC_SUCCESS);
        return off;
}

static void log_event(Writer *w, uint32_t pcr, uint32_t type, const char *data, uint8_t *ret_digest) {
        uint8_t d[32];

        EVP_Digest(data, strlen(data), d, NULL, EVP_sha256(), NULL);
        writer_put_le32(w, pcr);
        writer_put_le32(w, type);
        writer_put_le32(w, 1);
        writer_put_le16(w, TPM2_ALG_SHA256);
        writer_put_bytes(w, d, 32);
        writer_put_le32(w, (uint32_t) strlen(data));
        writer_put_bytes(w, data, strlen(data));
        if (ret_digest)
                memcpy(ret_digest, d, 32);
}

static void build_log(void) {
        static uint8_t buf[4096];
        EventLog log = {};
        Writer w;

        writer_init(&w, buf, sizeof(buf));
        writer_put_le32(&w, 0);
        writer_put_le32(&w, EV_NO_ACTION);
        writer_put_zeros(&w, 20);
        writer_put_le32(&w, 16 + 12 + 4 + 1);
        writer_put_bytes(&w, "Spec ID Event03", 16);
        writer_put_zeros(&w, 4);
        writer_put_u8(&w, 0);
        writer_put_u8(&w, 2);
        writer_put_u8(&w, 0);
        writer_put_u8(&w, 2);
        writer_put_le32(&w, 1);
        writer_put_le16(&w, TPM2_ALG_SHA256);
        writer_put_le16(&w, 32);
        writer_put_u8(&w, 0);
        log_event(&w, 0, 0x08, "crtm", NULL);                      /* #1 */
        log_event(&w, 7, 0x80000001, "SecureBoot=1", NULL);        /* #2 */
        log_event(&w, 7, EV_SEPARATOR, "sep", NULL);               /* #3 */
        log_event(&w, 4, 0x80000003, "shim", W.digest_shim);       /* #4 */
        log_event(&w, 4, 0x80000003, "grub", W.digest_grub);       /* #5 */
        assert_int_equal(writer_error(&w), 0);
        W.log_size = writer_length(&w);
        W.log = malloc(W.log_size);
        assert_non_null(W.log);
        memcpy(W.log, buf, W.log_size);
        assert_int_equal(eventlog_parse(W.log, W.log_size, &log, NULL), 0);
        assert_int_equal(eventlog_replay(&log, TPM2_ALG_SHA256, &W.pcrs, NULL), 0);
        assert_int_equal(W.pcrs.mask, SEL_MASK);
        eventlog_done(&log);
}

/* TPM2_Quote in software: TPMS_ATTEST over `pcrs`, signed ECDSA-SHA256. */
static void build_quote(const uint8_t *nonce, const PcrValues *pcrs, uint8_t *ret_attest, size_t *ret_attest_size,
                        uint8_t *ret_sig, size_t *ret_sig_size) {
        TPMS_ATTEST a = { .magic = TPM2_GENERATED_VALUE, .type = TPM2_ST_ATTEST_QUOTE };
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = SEL_MASK };
        TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_ECDSA };
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        uint8_t der[128];
        const unsigned char *p = der;
        size_t der_size = sizeof(der), off = 0, pd = 0;
        ECDSA_SIG *es;

        a.qualifiedSigner.size = 34;
        a.extraData.size = 32;
        memcpy(a.extraData.buffer, nonce, 32);
        a.clockInfo.clock = 123456;
        a.clockInfo.resetCount = 5;
        a.clockInfo.safe = 1;
        a.attested.quote.pcrSelect.count = 1;
        a.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
        a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
        for (int i = 0; i < 3; i++)
                a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[i] = (uint8_t) (SEL_MASK >> (8 * i));
        assert_int_equal(quote_pcr_digest(&sel, pcrs, TPM2_ALG_SHA256, a.attested.quote.pcrDigest.buffer, &pd, NULL),
                         0);
        a.attested.quote.pcrDigest.size = (uint16_t) pd;
        assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, ret_attest + 2, sizeof(TPMS_ATTEST), &off), TSS2_RC_SUCCESS);
        ret_attest[0] = (uint8_t) (off >> 8);
        ret_attest[1] = (uint8_t) off;
        *ret_attest_size = off + 2;

        assert_non_null(mctx);
        assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, W.ak_key), 1);
        assert_int_equal(EVP_DigestSign(mctx, der, &der_size, ret_attest + 2, off), 1);
        EVP_MD_CTX_free(mctx);
        es = d2i_ECDSA_SIG(NULL, &p, (long) der_size);
        assert_non_null(es);
        s.signature.ecdsa.hash = TPM2_ALG_SHA256;
        s.signature.ecdsa.signatureR.size = 32;
        s.signature.ecdsa.signatureS.size = 32;
        BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32);
        ECDSA_SIG_free(es);
        off = 0;
        assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&s, ret_sig, sizeof(TPMT_SIGNATURE), &off), TSS2_RC_SUCCESS);
        *ret_sig_size = off;
}

static int group_setup(void **state) {
        (void) state;
        W.ak_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        W.ek_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        W.fleet_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        W.fleet_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        W.other_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!W.ak_key || !W.ek_key || !W.fleet_ec || !W.fleet_ed || !W.other_ed)
                return -1;
        W.ak = (TPMT_PUBLIC) { .type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = 0x00050072 };
        W.ak.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        W.ak.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        W.ak.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        W.ak.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        W.ak.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        ecc_point(W.ak_key, &W.ak.unique.ecc);
        W.ek = (TPMT_PUBLIC) { .type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = 0x000300B2 };
        W.ek.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        W.ek.parameters.eccDetail.symmetric.keyBits.aes = 128;
        W.ek.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        W.ek.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        W.ek.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        W.ek.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        ecc_point(W.ek_key, &W.ek.unique.ecc);
        W.ak_pub_size = marshal_public(&W.ak, W.ak_pub);
        W.ek_pub_size = marshal_public(&W.ek, W.ek_pub);
        if (ek_public_digest(&W.ek, W.ek_digest) < 0)
                return -1;
        for (size_t i = 0; i < 32; i++)
                W.nonce[i] = (uint8_t) i;
        build_log();
        build_quote(W.nonce, &W.pcrs, W.attest, &W.attest_size, W.sig, &W.sig_size);
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        EVP_PKEY_free(W.ak_key);
        EVP_PKEY_free(W.ek_key);
        EVP_PKEY_free(W.fleet_ec);
        EVP_PKEY_free(W.fleet_ed);
        EVP_PKEY_free(W.other_ed);
        free(W.log);
        return 0;
}

/* ---- helpers ---- */

static char *hexs(const uint8_t *p, size_t n) {
        static char buf[4][129];
        static int k;
        char *b = buf[k++ & 3];

        for (size_t i = 0; i < n; i++)
                sprintf(b + 2 * i, "%02x", p[i]);
        return b;
}

/* The policy the fleet would sign for this world. */
static char *good_policy(void) {
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{"
                             "\"7\":{\"value\":\"%s\"},"
                             "\"4\":{\"events\":[{\"type\":\"EV_EFI_BOOT_SERVICES_APPLICATION\",\"digest\":\"%s\"},"
                             "{\"digest\":\"%s\"}]}},"
                             "\"not_before\":\"2024-01-01T00:00:00Z\",\"not_after\":\"2030-01-01T00:00:00Z\"}",
                             hexs(W.pcrs.value[7], 32), hexs(W.digest_shim, 32), hexs(W.digest_grub, 32)) > 0);
        return s;
}

static Blob sign(EVP_PKEY *key, const char *doc) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
        Blob b = { .data = malloc(256), .size = 256 };

        assert_non_null(ctx);
        assert_non_null(b.data);
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(ctx, b.data, &b.size, (const uint8_t *) doc, strlen(doc)), 1);
        EVP_MD_CTX_free(ctx);
        return b;
}

static int parse(const char *doc, AttestPolicy *p, char **err) {
        return attest_policy_parse((const uint8_t *) doc, strlen(doc), p, err);
}

static bool report_has(const AttestReport *r, const char *needle) {
        for (size_t i = 0; i < r->n_lines; i++)
                if (strstr(r->lines[i], needle))
                        return true;
        return false;
}

static void report_dump(const AttestReport *r) {
        for (size_t i = 0; i < r->n_lines; i++)
                fprintf(stderr, "  report: %s\n", r->lines[i]);
}

/* The repo: $STRATA_SRCDIR, else the part of this binary's path before
 * "/build/" (build/<dir>/tests/unit/<test>), else ".". */
static const char *repo_dir(void) {
        static char dir[4096];
        const char *src = getenv("STRATA_SRCDIR");
        ssize_t n;
        char *b;

        if (src)
                return src;
        n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        if (n <= 0)
                return ".";
        dir[n] = '\0';
        b = strstr(dir, "/build/");
        if (!b)
                return ".";
        *b = '\0';
        return dir;
}

/* ---- parse ---- */

static void test_attest_policy_parse_ok(void **state) {
        _cleanup_free_ char *doc = good_policy();
        AttestPolicy p = {};

        (void) state;
        assert_int_equal(parse(doc, &p, NULL), 0);
        assert_int_equal(p.bank, TPM2_ALG_SHA256);
        assert_int_equal(p.mask, (1u << 4) | (1u << 7));
        assert_true(p.pcrs[7].has_value);
        assert_memory_equal(p.pcrs[7].value, W.pcrs.value[7], 32);
        assert_int_equal(p.pcrs[4].n_events, 2);
        assert_true(p.pcrs[4].events[0].has_type);
        assert_false(p.pcrs[4].events[1].has_type);
        assert_true(p.has_not_before && p.has_not_after);
        assert_int_equal(p.not_before, 1704067200);
        attest_policy_done(&p);
}

typedef struct BadDoc {
        const char *doc;
        const char *where; /* in *reterr */
        bool parser_only;  /* beyond what the JSON schema can say */
} BadDoc;

static const BadDoc bad_docs[] = {
        { "[]", "$: not an object", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"7\":{\"value\":\"00\"}}}", "$.pcrs.7.value", false },
        { "{\"version\":2,\"pcr_bank\":\"sha256\",\"pcrs\":{}}", "$.version", false },
        { "{\"version\":1,\"pcr_bank\":\"md5\",\"pcrs\":{}}", "$.pcr_bank", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{}}", "$.pcrs", true },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"24\":{\"value\":\"\"}}}", "not a PCR index", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"07\":{\"value\":\"\"}}}", "not a PCR index", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"7\":{}}}", "exactly one of value, events", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"7\":{\"events\":[]}}}", "$.pcrs.7.events", false },
        { "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"7\":{\"events\":[{\"digest\":\"zz\"}]}}}",
          "$.pcrs.7.events[0].digest", false },
        { "{\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{\"4\":{\"events\":[{\"type\":\"EV_NOPE\",\"digest\":"
          "\"0000000000000000000000000000000000000000\"}]}}}",
          "$.pcrs.4.events[0].type", true },
        { "{\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{\"4\":{\"value\":"
          "\"0000000000000000000000000000000000000000\",\"extra\":1}}}",
          "unknown member \"extra\"", false },
        { "{\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{\"4\":{\"value\":"
          "\"0000000000000000000000000000000000000000\"}},\"allow_all\":true}",
          "$: unknown member \"allow_all\"", false },
        { "{\"version\":1,\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{}}", "duplicate", false },
        { "{\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{\"4\":{\"value\":"
          "\"0000000000000000000000000000000000000000\"}},\"not_after\":\"2030-01-01\"}",
          "$.not_after", false },
        { "{\"version\":1,\"pcr_bank\":\"sha1\",\"pcrs\":{\"4\":{\"value\":"
          "\"0000000000000000000000000000000000000000\"}},\"not_before\":\"2030-01-01T00:00:00Z\","
          "\"not_after\":\"2029-12-31T23:59:59Z\"}",
          "$.not_after: before not_before", true },
};

static void test_attest_policy_parse_refused_naming_path(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
                _cleanup_free_ char *err = NULL;
                AttestPolicy p = {};

                assert_int_equal(parse(bad_docs[i].doc, &p, &err), -EBADMSG);
                if (!strstr(err, bad_docs[i].where))
                        fail_msg("doc %zu: \"%s\" does not name \"%s\"", i, err, bad_docs[i].where);
        }
}

static void test_attest_policy_parse_size_cap(void **state) {
        _cleanup_free_ char *big = calloc(1, ATTEST_POLICY_SIZE_MAX + 2);
        AttestPolicy p = {};

        (void) state;
        assert_non_null(big);
        memset(big, ' ', ATTEST_POLICY_SIZE_MAX + 1);
        assert_int_equal(parse(big, &p, NULL), -E2BIG);
}

/* The schema and the parser accept and refuse the same documents. */
static void test_attest_policy_schema_agrees(void **state) {
        char path[4096];
        _cleanup_free_ char *text = NULL, *good = good_policy();
        _cleanup_json_schema_ JsonSchema *schema = NULL;
        JsonSchemaErrors errs = {};
        FILE *f;
        long n;

        (void) state;
        snprintf(path, sizeof(path), "%.4000s/proto/attest-policy.schema.json", repo_dir());
        f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        text = calloc(1, (size_t) n + 1);
        assert_non_null(text);
        assert_int_equal(fread(text, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        assert_int_equal(json_schema_new_from_string(text, &schema, &errs), 0);

        for (size_t i = 0; i <= sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
                const char *doc = i < sizeof(bad_docs) / sizeof(bad_docs[0]) ? bad_docs[i].doc : good;
                json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
                AttestPolicy p = {};
                int parsed = parse(doc, &p, NULL), valid;

                attest_policy_done(&p);
                if (!j) /* not JSON at all (duplicates): both refuse */
                        continue;
                valid = json_schema_validate(schema, j, &errs);
                json_schema_errors_clear(&errs);
                json_decref(j);
                /* an empty pcrs object (no minProperties in json-schema.c), event
                 * type names and the order of the window's ends: the parser only */
                if (i < sizeof(bad_docs) / sizeof(bad_docs[0]) && bad_docs[i].parser_only)
                        continue;
                if ((parsed == 0) != (valid == 0))
                        fail_msg("doc %zu: parser %d, schema %d", i, parsed, valid);
        }
}

/* ---- signature ---- */

static void test_attest_policy_verify_signature(void **state) {
        _cleanup_free_ char *doc = good_policy();
        EVP_PKEY *keys[] = { W.fleet_ed, W.fleet_ec };

        (void) state;
        for (size_t i = 0; i < 2; i++) {
                Blob sig = sign(keys[i], doc);
                assert_int_equal(attest_policy_verify_signature((const uint8_t *) doc, strlen(doc), sig.data, sig.size,
                                                                keys[i], NULL),
                                 0);
                /* one byte of the document changed */
                doc[10] ^= 1;
                assert_int_equal(attest_policy_verify_signature((const uint8_t *) doc, strlen(doc), sig.data, sig.size,
                                                                keys[i], NULL),
                                 -EKEYREJECTED);
                doc[10] ^= 1;
                /* another key */
                assert_int_equal(attest_policy_verify_signature((const uint8_t *) doc, strlen(doc), sig.data, sig.size,
                                                                W.other_ed, NULL),
                                 -EKEYREJECTED);
                free(sig.data);
        }
}

static void test_attest_policy_key_parse(void **state) {
        EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        EVP_PKEY *keys[] = { W.fleet_ed, W.fleet_ec, rsa, p384 };
        int want[] = { 0, 0, -EOPNOTSUPP, -EOPNOTSUPP };

        (void) state;
        for (size_t i = 0; i < 4; i++) {
                BIO *b = BIO_new(BIO_s_mem());
                char *pem;
                long n;
                EVP_PKEY *k = NULL;

                assert_int_equal(PEM_write_bio_PUBKEY(b, keys[i]), 1);
                n = BIO_get_mem_data(b, &pem);
                assert_int_equal(attest_policy_key_parse((const uint8_t *) pem, (size_t) n, &k, NULL), want[i]);
                if (want[i] == 0)
                        assert_int_equal(EVP_PKEY_eq(k, keys[i]), 1);
                EVP_PKEY_free(k);
                BIO_free(b);
        }
        assert_int_equal(attest_policy_key_parse((const uint8_t *) "nope", 4, &(EVP_PKEY *) { NULL }, NULL), -EBADMSG);
        EVP_PKEY_free(rsa);
        EVP_PKEY_free(p384);
}

/* ---- evaluate ---- */

static void evaluate(const char *doc, const PcrValues *quoted, bool with_log, time_t now, AttestReport *report,
                     int want) {
        AttestPolicy p = {};
        EventLog log = {};
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = SEL_MASK };
        _cleanup_free_ char *err = NULL;

        assert_int_equal(parse(doc, &p, &err), 0);
        assert_int_equal(eventlog_parse(W.log, W.log_size, &log, NULL), 0);
        assert_int_equal(attest_policy_evaluate(&p, &sel, quoted, with_log ? &log : NULL, now, report), want);
        report_dump(report);
        eventlog_done(&log);
        attest_policy_done(&p);
}

static void test_attest_policy_evaluate_ok(void **state) {
        _cleanup_free_ char *doc = good_policy();
        AttestReport r = {};

        (void) state;
        evaluate(doc, &W.pcrs, true, NOW, &r, 0);
        assert_int_equal(r.n_lines, 0);
}

static void test_attest_policy_evaluate_value_mismatch_names_pcr(void **state) {
        _cleanup_free_ char *doc = good_policy();
        PcrValues q = W.pcrs;
        AttestReport r = {};
        char want[200];

        (void) state;
        q.value[7][0] ^= 0xff;
        evaluate(doc, &q, true, NOW, &r, -EACCES);
        assert_int_equal(r.n_lines, 1);
        snprintf(want, sizeof(want), "PCR 7: value 0x%s expected 0x%s", hexs(q.value[7], 32), hexs(W.pcrs.value[7], 32));
        assert_string_equal(r.lines[0], want);
        attest_report_clear(&r);
}

static void test_attest_policy_evaluate_event_not_allowed(void **state) {
        _cleanup_free_ char *doc = NULL;
        AttestReport r = {};

        (void) state;
        /* only shim allowed: grub (event #5) is not */
        assert_true(asprintf(&doc, "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"4\":{\"events\":[{\"digest\":\"%s\"}]}}}",
                             hexs(W.digest_shim, 32)) > 0);
        evaluate(doc, &W.pcrs, true, NOW, &r, -EACCES);
        assert_int_equal(r.n_lines, 1);
        assert_string_equal(r.lines[0], "PCR 4: event #5 digest not in the allowed list");
        attest_report_clear(&r);
        free(take_ptr(doc));
        /* the digest is allowed, but as another event type */
        assert_true(asprintf(&doc,
                             "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"4\":{\"events\":[{\"digest\":\"%s\"},"
                             "{\"type\":\"EV_IPL\",\"digest\":\"%s\"}]}}}",
                             hexs(W.digest_shim, 32), hexs(W.digest_grub, 32)) > 0);
        evaluate(doc, &W.pcrs, true, NOW, &r, -EACCES);
        assert_int_equal(r.n_lines, 1);
        assert_string_equal(r.lines[0],
                            "PCR 4: event #5 type EV_EFI_BOOT_SERVICES_APPLICATION is not allowed with its digest");
        attest_report_clear(&r);
}

static void test_attest_policy_evaluate_not_quoted_no_log_expired(void **state) {
        _cleanup_free_ char *doc = NULL;
        AttestReport r = {};

        (void) state;
        assert_true(asprintf(&doc,
                             "{\"version\":1,\"pcr_bank\":\"sha256\",\"not_after\":\"2025-01-01T00:00:00Z\",\"pcrs\":{"
                             "\"9\":{\"value\":\"%s\"},\"4\":{\"events\":[{\"digest\":\"%s\"}]}}}",
                             hexs(W.pcrs.value[7], 32), hexs(W.digest_shim, 32)) > 0);
        evaluate(doc, &W.pcrs, false, NOW, &r, -EACCES);
        assert_int_equal(r.n_lines, 3);
        assert_string_equal(r.lines[0], "attestation policy has expired (not_after)");
        assert_string_equal(r.lines[1], "PCR 4: no event log to match its events against");
        assert_string_equal(r.lines[2], "PCR 9: required by the policy but not quoted in the sha256 bank");
        attest_report_clear(&r);
}

/* ---- verify_evidence ---- */

typedef struct Run {
        AttestEvidence e;
        AttestVerifyConfig cfg;
        Blob sig;
        char *doc;
} Run;

static void run_init(Run *r) {
        static uint8_t allow[1][32];

        memcpy(allow[0], W.ek_digest, 32);
        r->doc = good_policy();
        r->sig = sign(W.fleet_ed, r->doc);
        r->e = (AttestEvidence) {
                .ek_pub = { W.ek_pub, W.ek_pub_size },
                .ak_pub = { W.ak_pub, W.ak_pub_size },
                .attest = { W.attest, W.attest_size },
                .signature = { W.sig, W.sig_size },
                .pcrs = W.pcrs,
                .eventlog = { W.log, W.log_size },
        };
        r->cfg = (AttestVerifyConfig) {
                .nonce = W.nonce,
                .nonce_size = 32,
                .selection = { .hash_alg = TPM2_ALG_SHA256, .mask = SEL_MASK },
                .ek = { .allow = (const uint8_t(*)[32]) allow, .n_allow = 1 },
                .policy = { (uint8_t *) r->doc, strlen(r->doc) },
                .policy_sig = r->sig,
                .policy_key = W.fleet_ed,
                .now = NOW,
        };
}

static void run_done(Run *r) {
        free(r->doc);
        free(r->sig.data);
}

static void test_verify_evidence_admitted(void **state) {
        Run run;
        AttestReport r = {};
        AttestVerdict v;
        uint8_t name[TPM_NAME_MAX];
        size_t name_size;

        (void) state;
        run_init(&run);
        assert_int_equal(tpm_public_name(&W.ak, name, &name_size, NULL), 0);
        run.e.ak_name = (Blob) { name, name_size };
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, &v), 0);
        report_dump(&r);
        assert_int_equal(r.n_lines, 0);
        assert_memory_equal(v.ak_name, name, name_size);
        assert_memory_equal(v.ek_digest, W.ek_digest, 32);
        assert_true(v.quote_parsed);
        assert_int_equal(v.quote.reset_count, 5);
        run_done(&run);
}

static void test_verify_evidence_policy_not_signed_by_fleet(void **state) {
        Run run;
        AttestReport r = {};
        Blob other;

        (void) state;
        run_init(&run);
        /* its PCR 7 value would fail too, but a policy not signed by the
         * fleet key is never read */
        char *v = strstr(run.doc, "\"7\":{\"value\":\"") + 12;
        *v = *v == '0' ? '1' : '0';
        other = sign(W.other_ed, run.doc);
        run.cfg.policy.data = (uint8_t *) run.doc;
        run.cfg.policy_sig = other;
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), -EACCES);
        report_dump(&r);
        assert_int_equal(r.n_lines, 1);
        assert_string_equal(r.lines[0], "attestation policy is not signed by the fleet policy key");
        attest_report_clear(&r);
        free(other.data);
        run_done(&run);
}

/* Every failure is collected, in order, not just the first. */
static void test_verify_evidence_collects_every_failure(void **state) {
        Run run;
        AttestReport r = {};
        uint8_t other_nonce[32] = { 9 };
        _cleanup_free_ uint8_t *log = malloc(W.log_size);
        uint8_t ak_name[34] = { 0x00, 0x0b };

        (void) state;
        run_init(&run);
        assert_non_null(log);
        memcpy(log, W.log, W.log_size);
        log[W.log_size - 4 - 4 - 32] ^= 1; /* grub's digest: the log no longer replays to the quote */
        run.e.eventlog = (Blob) { log, W.log_size };
        run.cfg.nonce = other_nonce;
        run.cfg.ek.n_allow = 0;
        run.e.ak_name = (Blob) { ak_name, sizeof(ak_name) };
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), -EACCES);
        report_dump(&r);
        assert_int_equal(r.n_lines, 5);
        assert_string_equal(r.lines[0], "EK is not in the EK allowlist (no EK CA bundle configured)");
        assert_string_equal(r.lines[1], "AK name does not match its public area");
        assert_string_equal(r.lines[2], "quote nonce does not match");
        assert_string_equal(r.lines[3], "event log replay of PCR 4 does not match the quoted value");
        assert_string_equal(r.lines[4], "PCR 4: event #5 digest not in the allowed list");
        attest_report_clear(&r);
        run_done(&run);
}

static void test_verify_evidence_pcr_values_not_quoted(void **state) {
        Run run;
        AttestReport r = {};

        (void) state;
        run_init(&run);
        /* the node reports a PCR 7 the TPM never quoted */
        run.e.pcrs.value[7][3] ^= 1;
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), -EACCES);
        report_dump(&r);
        assert_true(report_has(&r, "pcrDigest does not match the PCR values"));
        assert_true(report_has(&r, "event log replay of PCR 7 does not match the quoted value"));
        assert_true(report_has(&r, "PCR 7: value 0x"));
        attest_report_clear(&r);
        run_done(&run);
}

static void test_verify_evidence_no_policy(void **state) {
        Run run;
        AttestReport r = {};

        (void) state;
        run_init(&run);
        run.cfg.policy = (Blob) {};
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), -EACCES);
        assert_true(report_has(&r, "no attestation policy"));
        attest_report_clear(&r);
        run.cfg.no_policy = true;
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), 0);
        run_done(&run);
}

static void test_verify_evidence_garbage(void **state) {
        Run run;
        AttestReport r = {};

        (void) state;
        run_init(&run);
        run.e.ek_pub = (Blob) {};
        run.e.ak_pub = (Blob) { (uint8_t *) "\x00\x01", 2 };
        run.e.eventlog = (Blob) { (uint8_t *) "junk", 4 };
        assert_int_equal(verify_evidence(&run.e, &run.cfg, &r, NULL), -EACCES);
        report_dump(&r);
        assert_true(report_has(&r, "EK public area does not parse"));
        assert_true(report_has(&r, "AK public area does not parse"));
        assert_true(report_has(&r, "quote not checked: no usable AK"));
        assert_true(report_has(&r, "event log does not parse"));
        assert_true(report_has(&r, "PCR 4: no event log"));
        attest_report_clear(&r);
        run_done(&run);
}

static void test_attest_report_cap(void **state) {
        AttestReport r = {};

        (void) state;
        for (unsigned i = 0; i < ATTEST_REPORT_MAX + 3; i++)
                attest_report_add(&r, "line %u", i);
        assert_int_equal(r.n_lines, ATTEST_REPORT_MAX);
        assert_int_equal(r.dropped, 3);
        assert_false(attest_report_ok(&r));
        attest_report_clear(&r);
        assert_true(attest_report_ok(&r));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_attest_policy_parse_ok),
                cmocka_unit_test(test_attest_policy_parse_refused_naming_path),
                cmocka_unit_test(test_attest_policy_parse_size_cap),
                cmocka_unit_test(test_attest_policy_schema_agrees),
                cmocka_unit_test(test_attest_policy_verify_signature),
                cmocka_unit_test(test_attest_policy_key_parse),
                cmocka_unit_test(test_attest_policy_evaluate_ok),
                cmocka_unit_test(test_attest_policy_evaluate_value_mismatch_names_pcr),
                cmocka_unit_test(test_attest_policy_evaluate_event_not_allowed),
                cmocka_unit_test(test_attest_policy_evaluate_not_quoted_no_log_expired),
                cmocka_unit_test(test_verify_evidence_admitted),
                cmocka_unit_test(test_verify_evidence_policy_not_signed_by_fleet),
                cmocka_unit_test(test_verify_evidence_collects_every_failure),
                cmocka_unit_test(test_verify_evidence_pcr_values_not_quoted),
                cmocka_unit_test(test_verify_evidence_no_policy),
                cmocka_unit_test(test_verify_evidence_garbage),
                cmocka_unit_test(test_attest_report_cap),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
