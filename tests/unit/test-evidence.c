/* Tests for agent/attest/evidence.c (and ak-store.c) against a swtpm
 * manufactured with EK certificates from a local CA (ek-fixture.h), no
 * resource manager, checked with tpm2-tools as the independent party:
 * tpm2_createek makes the same EK, the NV certificates certify it,
 * tpm2_makecredential -T none makes credentials the TPM activates,
 * tpm2_checkquote accepts the quotes, tpm2_pcrread agrees on the values,
 * tpm2_getcap finds no transient handle left. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "attest/ak-store.h"
#include "attest/attest.h"
#include "ek-fixture.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define NONCE_SIZE 32u
/* tpm2-tools' credential file: BE32 0xBADCC0DE, BE32 version 1, then
 * TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET */
#define CRED_FILE_MAGIC 0xBADCC0DEu
#define CRED_FILE_HEADER 8u

typedef struct Ctx {
        TpmFixture tpm;
        unsigned n_dirs;
} Ctx;

static int group_setup(void **state) {
        static Ctx c;

        /* tpm2-tss prints an ERROR line for each refusal we provoke */
        setenv("TSS2_LOG", "all+none", 0);
        if (ek_fixture_start(&c.tpm) < 0) {
                fprintf(stderr, "test-evidence: FAIL: no TPM simulator with EK certificates, nothing can be tested\n");
                ek_fixture_stop(&c.tpm);
                return -1;
        }
        *state = &c;
        return 0;
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (c)
                ek_fixture_stop(&c->tpm);
        return 0;
}

/* ---- helpers ---- */

static void path_in(const Ctx *c, const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", c->tpm.dir, name);
}

/* A state directory name that does not exist yet (attest_ak makes it). */
static void state_dir_new(Ctx *c, char *buf, size_t size) {
        snprintf(buf, size, "%s/state-%u", c->tpm.dir, c->n_dirs++);
}

static void file_put(const char *path, const void *data, size_t size) {
        FILE *o = fopen(path, "wb");

        assert_non_null(o);
        assert_int_equal(fwrite(data, 1, size, o), size);
        assert_int_equal(fclose(o), 0);
}

static uint8_t *file_get(const char *path, size_t *ret_size) {
        FILE *in = fopen(path, "rb");
        uint8_t *buf = malloc(65536);
        size_t n;

        assert_non_null(in);
        assert_non_null(buf);
        n = fread(buf, 1, 65536, in);
        fclose(in);
        *ret_size = n;
        return buf;
}

static void hex(const uint8_t *p, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int run(const Ctx *c, char *const argv[]) {
        int rc = tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL);

        if (rc != 0)
                print_message("%s exited %d (log: %s/run.log)\n", argv[0], rc, c->tpm.dir);
        return rc;
}

static AttestTpm *tpm_open(const Ctx *c) {
        AttestTpm *t = NULL;

        assert_int_equal(attest_tpm_open(c->tpm.tcti, &t), 0);
        assert_non_null(t);
        return t;
}

static bool error_has(const AttestTpm *t, const char *needle) {
        const char *e = attest_tpm_error(t);

        if (e && strstr(e, needle))
                return true;
        print_message("  error: %s\n  wanted: %s\n", e ? e : "(none)", needle);
        return false;
}

/* assert_int_equal that shows the detail when the errno is not the one expected */
#define assert_r(t, got, want)                                                             \
        do {                                                                               \
                int _r = (got);                                                            \
                if (_r != (want))                                                          \
                        print_message("  got %d, detail: %s\n", _r, attest_tpm_error(t)); \
                assert_int_equal(_r, (want));                                              \
        } while (0)

static void assert_tpm_empty(const Ctx *c) {
        static const char *const kinds[] = { "handles-transient", "handles-loaded-session" };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                char *argv[] = { "tpm2_getcap", (char *) kinds[i], NULL };
                char *out = NULL;

                assert_int_equal(tpm_fixture_run(&c->tpm, argv, NULL, 0, &out, NULL), 0);
                if (out[0])
                        print_message("%s: %s\n", kinds[i], out);
                assert_string_equal(out, "");
                free(out);
        }
}

/* PEM of a marshalled TPM2B_PUBLIC, by tpm2_print (not our code). */
static EVP_PKEY *pem_of_public(const Ctx *c, const Blob *pub, const char *pem_name) {
        char in[160], pem[160];
        char *argv[] = { "tpm2_print", "-t", "TPM2B_PUBLIC", "-f", "pem", in, NULL };
        char *out = NULL;
        size_t len = 0;
        EVP_PKEY *k;
        BIO *bio;

        path_in(c, "public.tss", in, sizeof(in));
        file_put(in, pub->data, pub->size);
        assert_int_equal(tpm_fixture_run(&c->tpm, argv, NULL, 0, &out, &len), 0);
        if (pem_name) {
                path_in(c, pem_name, pem, sizeof(pem));
                file_put(pem, out, len);
        }
        bio = BIO_new_mem_buf(out, (int) len);
        k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
        free(out);
        assert_non_null(k);
        return k;
}

static EVP_PKEY *cert_key(const uint8_t *der, size_t size) {
        const uint8_t *q = der;
        X509 *x = d2i_X509(NULL, &q, (long) size);
        EVP_PKEY *k;

        assert_non_null(x);
        assert_ptr_equal(q, der + size);
        k = X509_get_pubkey(x);
        X509_free(x);
        assert_non_null(k);
        return k;
}

static void assert_file_equals(const char *path, const Blob *b) {
        size_t n = 0;
        uint8_t *data = file_get(path, &n);

        assert_int_equal(n, b->size);
        assert_memory_equal(data, b->data, n);
        free(data);
}

/* tpm2_createek's EK public, byte for byte. */
static void assert_createek_same(const Ctx *c, const char *alg, const Blob *ek_pub) {
        char pub[160], ctx[160];
        char *createek[] = { "tpm2_createek", "-G", (char *) alg, "-c", ctx, "-u", pub, NULL };
        char *flush[] = { "tpm2_flushcontext", "-t", NULL };

        path_in(c, "createek.pub", pub, sizeof(pub));
        path_in(c, "createek.ctx", ctx, sizeof(ctx));
        assert_int_equal(run(c, createek), 0);
        assert_int_equal(run(c, flush), 0);
        assert_file_equals(pub, ek_pub);
}

static void ek_ok(const Ctx *c, AttestEkType type, Blob *ek_pub, Blob *ek_cert) {
        AttestTpm *t = tpm_open(c);
        int r = attest_ek(t, type, ek_pub, ek_cert);

        if (r < 0)
                print_message("attest_ek: %d %s\n", r, attest_tpm_error(t));
        assert_int_equal(r, 0);
        attest_tpm_close(t);
}

static void ak_ok(const Ctx *c, AttestEkType type, const char *dir, Blob *ak_pub, Blob *ak_name) {
        AttestTpm *t = tpm_open(c);
        int r = attest_ak(t, type, dir, ak_pub, ak_name);

        if (r < 0)
                print_message("attest_ak: %d %s\n", r, attest_tpm_error(t));
        assert_int_equal(r, 0);
        attest_tpm_close(t);
}

/* tpm2_makecredential -T none for the EK public in `ek_file` (TSS format,
 * or PEM with `pem_alg`) and the AK name; the two blobs it holds. */
static void make_credential(const Ctx *c, const char *ek_file, const char *pem_alg, const Blob *name,
                            const uint8_t secret[NONCE_SIZE], Blob *ret_cred, Blob *ret_secret) {
        char secret_path[160], out[160], name_hex[2 * 66 + 1];
        char *plain[] = { "tpm2_makecredential", "-T", "none", "-u", (char *) ek_file, "-s", secret_path, "-n",
                          name_hex, "-o", out, NULL };
        char *with_alg[] = { "tpm2_makecredential", "-T", "none", "-u", (char *) ek_file, "-G", (char *) pem_alg,
                             "-s", secret_path, "-n", name_hex, "-o", out, NULL };
        TPM2B_ID_OBJECT id;
        uint8_t *data;
        size_t size = 0, off = CRED_FILE_HEADER;

        assert_true(name->size <= 66);
        path_in(c, "secret.bin", secret_path, sizeof(secret_path));
        path_in(c, "cred.bin", out, sizeof(out));
        file_put(secret_path, secret, NONCE_SIZE);
        hex(name->data, name->size, name_hex);
        assert_int_equal(run(c, pem_alg ? with_alg : plain), 0);
        data = file_get(out, &size);
        assert_true(size > CRED_FILE_HEADER);
        assert_int_equal(((uint32_t) data[0] << 24 | (uint32_t) data[1] << 16 | (uint32_t) data[2] << 8 | data[3]),
                         CRED_FILE_MAGIC);
        assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(data, size, &off, &id), TSS2_RC_SUCCESS);
        ret_cred->size = off - CRED_FILE_HEADER;
        ret_cred->data = malloc(ret_cred->size);
        memcpy(ret_cred->data, data + CRED_FILE_HEADER, ret_cred->size);
        ret_secret->size = size - off;
        ret_secret->data = malloc(ret_secret->size);
        memcpy(ret_secret->data, data + off, ret_secret->size);
        free(data);
}

static void random_bytes(uint8_t *p, size_t n) {
        FILE *r = fopen("/dev/urandom", "rb");

        assert_non_null(r);
        assert_int_equal(fread(p, 1, n, r), n);
        fclose(r);
}

/* quote.pcrs as tpm2_quote -o writes it (pcr_fwrite_serialized): the C
 * structs TPML_PCR_SELECTION, a UINT32 count and that many TPML_DIGEST,
 * little-endian. Built from the structs, so valid on a little-endian host. */
static void pcrs_file_write(const char *path, const PcrValues *v) {
        TPML_PCR_SELECTION sel = { .count = 1 };
        TPML_DIGEST lists[ATTEST_PCR_MAX / 8u + 1] = {};
        uint32_t n_lists = 0;
        FILE *o;

        _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tpm2-tools' pcrs file is host structs");
        sel.pcrSelections[0].hash = v->hash_alg;
        sel.pcrSelections[0].sizeofSelect = 3;
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                TPML_DIGEST *l;

                if (!(v->mask & (UINT32_C(1) << i)))
                        continue;
                sel.pcrSelections[0].pcrSelect[i / 8] |= (uint8_t) (1u << (i % 8));
                if (n_lists == 0 || lists[n_lists - 1].count == 8)
                        n_lists++;
                l = &lists[n_lists - 1];
                l->digests[l->count].size = (UINT16) v->size;
                memcpy(l->digests[l->count].buffer, v->value[i], v->size);
                l->count++;
        }
        o = fopen(path, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(&sel, sizeof(sel), 1, o), 1);
        assert_int_equal(fwrite(&n_lists, sizeof(n_lists), 1, o), 1);
        assert_int_equal(fwrite(lists, sizeof(TPML_DIGEST), n_lists, o), n_lists);
        assert_int_equal(fclose(o), 0);
}

/* Writes quote.msg, quote.sig, quote.pcrs and ak.pem and runs
 * tpm2_checkquote with `nonce`; its exit status. */
static int checkquote(const Ctx *c, const Blob *ak_pub, const Blob *attest, const Blob *sig, const PcrValues *v,
                      const uint8_t *nonce, size_t nonce_size) {
        char msg[160], sig_path[160], pcrs[160], pem[160], nonce_hex[2 * ATTEST_NONCE_MAX + 1];
        char *argv[] = { "tpm2_checkquote", "-u", pem, "-m", msg, "-s", sig_path, "-f", pcrs, "-q", nonce_hex, NULL };
        TPM2B_ATTEST a;
        size_t off = 0;

        path_in(c, "quote.msg", msg, sizeof(msg));
        path_in(c, "quote.sig", sig_path, sizeof(sig_path));
        path_in(c, "quote.pcrs", pcrs, sizeof(pcrs));
        path_in(c, "ak.pem", pem, sizeof(pem));
        /* quote.msg: the TPMS_ATTEST without the TPM2B size, as tpm2_quote -m */
        assert_int_equal(Tss2_MU_TPM2B_ATTEST_Unmarshal(attest->data, attest->size, &off, &a), TSS2_RC_SUCCESS);
        assert_int_equal(off, attest->size);
        file_put(msg, a.attestationData, a.size);
        file_put(sig_path, sig->data, sig->size);
        pcrs_file_write(pcrs, v);
        EVP_PKEY_free(pem_of_public(c, ak_pub, "ak.pem"));
        hex(nonce, nonce_size, nonce_hex);
        return tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL);
}

static void quote_ok(const Ctx *c, AttestEkType type, const char *dir, uint16_t bank, uint32_t mask,
                     const uint8_t *nonce, size_t nonce_size, Blob *attest, Blob *sig, PcrValues *v) {
        AttestTpm *t = tpm_open(c);
        PcrSelection sel = { .hash_alg = bank, .mask = mask };
        int r = attest_quote(t, type, dir, &sel, nonce, nonce_size, attest, sig, v);

        if (r < 0)
                print_message("attest_quote: %d %s\n", r, attest_tpm_error(t));
        assert_int_equal(r, 0);
        attest_tpm_close(t);
}

/* ---- EK ---- */

static void ek_cert_matches(Ctx *c, AttestEkType type, const char *alg, const char *cert_file) {
        Blob pub = {}, cert = {};
        char path[160];
        EVP_PKEY *ek_key, *cert_pkey;

        ek_ok(c, type, &pub, &cert);
        assert_true(pub.size > 2);
        assert_true(cert.size > 0);
        /* the certificate swtpm's manufacturing step wrote */
        path_in(c, cert_file, path, sizeof(path));
        assert_file_equals(path, &cert);
        /* the EK tpm2_createek makes, byte for byte */
        assert_createek_same(c, alg, &pub);
        /* and the key the certificate certifies */
        ek_key = pem_of_public(c, &pub, NULL);
        cert_pkey = cert_key(cert.data, cert.size);
        assert_int_equal(EVP_PKEY_eq(ek_key, cert_pkey), 1);
        EVP_PKEY_free(ek_key);
        EVP_PKEY_free(cert_pkey);
        blob_clear(&pub);
        blob_clear(&cert);
        assert_tpm_empty(c);
}

static void test_attest_ek_rsa_cert_matches(void **state) {
        ek_cert_matches(*state, ATTEST_EK_RSA2048, "rsa", "certs/ek-rsa2048.crt");
}

static void test_attest_ek_ecc_cert_matches(void **state) {
        ek_cert_matches(*state, ATTEST_EK_ECC_P256, "ecc", "ek-p256.der");
}

static void ecc_cert_restore(const Ctx *c) {
        assert_int_equal(ek_fixture_nv_drop(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX), 0);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX, "ek-p256.der", 0), 0);
}

static void test_attest_ek_cert_absent_empty(void **state) {
        Ctx *c = *state;
        Blob pub = {}, cert = { .data = malloc(1), .size = 1 };

        assert_int_equal(ek_fixture_nv_drop(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX), 0);
        ek_ok(c, ATTEST_EK_ECC_P256, &pub, &cert);
        assert_true(pub.size > 2);
        assert_int_equal(cert.size, 0);
        blob_clear(&pub);
        blob_clear(&cert);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX, "ek-p256.der", 0), 0);
}

/* An index larger than the certificate (zero padding, as some vendors
 * ship) and larger than one NV_Read (swtpm: 1024 bytes): read in chunks,
 * trimmed to the DER length. */
static void test_attest_ek_cert_padded_trimmed(void **state) {
        Ctx *c = *state;
        uint8_t padded[2048] = {};
        Blob pub = {}, cert = {};
        char der_path[160], padded_path[160];
        size_t n = 0;
        uint8_t *der;

        path_in(c, "ek-p256.der", der_path, sizeof(der_path));
        path_in(c, "ek-p256-padded.der", padded_path, sizeof(padded_path));
        der = file_get(der_path, &n);
        assert_true(n < sizeof(padded));
        memcpy(padded, der, n);
        file_put(padded_path, padded, sizeof(padded));
        assert_int_equal(ek_fixture_nv_drop(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX), 0);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX, "ek-p256-padded.der", sizeof(padded)),
                         0);
        ek_ok(c, ATTEST_EK_ECC_P256, &pub, &cert);
        assert_int_equal(cert.size, n);
        assert_memory_equal(cert.data, der, n);
        blob_clear(&pub);
        blob_clear(&cert);
        free(der);
        ecc_cert_restore(c);
}

/* A certificate for another key (here the RSA EK's) where the P-256 one
 * belongs: this TPM's EK is not the template's, and attest_ek says so. */
static void test_attest_ek_template_mismatch_refused(void **state) {
        Ctx *c = *state;
        Blob pub = {}, cert = {};
        AttestTpm *t;

        assert_int_equal(ek_fixture_nv_drop(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX), 0);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, EK_FIXTURE_ECC_CERT_INDEX, "certs/ek-rsa2048.crt", 0), 0);
        t = tpm_open(c);
        assert_int_equal(attest_ek(t, ATTEST_EK_ECC_P256, &pub, &cert), -EKEYREJECTED);
        assert_true(error_has(t, "no EK template match"));
        assert_true(error_has(t, "0x01c0000a"));
        assert_null(pub.data);
        assert_null(cert.data);
        attest_tpm_close(t);
        ecc_cert_restore(c);
        assert_tpm_empty(c);
}

/* An EK nonce in NV (0x01c00003) goes into the unique field, padded with
 * zeros to 256 bytes: the EK is then not the one the default template
 * makes (refused while the certificate is for that one), and is the key
 * tpm2_createprimary makes from the same template and unique field. */
static void test_attest_ek_nv_nonce_used(void **state) {
        static const uint8_t policy_a[32] = { 0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                              0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                              0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa };
        static const char nonce[] = "strata-ek-nonce!";
        Ctx *c = *state;
        uint8_t unique[256] = {};
        char path[160], policy[160], ctx[160], pub_path[160];
        char *createprimary[] = { "tpm2_createprimary", "-C", "e", "-g", "sha256", "-G", "rsa2048:aes128cfb", "-a",
                                  "fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt",
                                  "-L", policy, "-u", "-", "-c", ctx, NULL };
        char *readpublic[] = { "tpm2_readpublic", "-c", ctx, "-o", pub_path, NULL };
        char *flush[] = { "tpm2_flushcontext", "-t", NULL };
        Blob pub = {}, cert = {};
        AttestTpm *t;

        path_in(c, "ek-nonce.bin", path, sizeof(path));
        file_put(path, nonce, sizeof(nonce) - 1);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, "0x01c00003", "ek-nonce.bin", 0), 0);
        t = tpm_open(c);
        assert_r(t, attest_ek(t, ATTEST_EK_RSA2048, &pub, &cert), -EKEYREJECTED);
        attest_tpm_close(t);

        assert_int_equal(ek_fixture_nv_drop(&c->tpm, EK_FIXTURE_RSA_CERT_INDEX), 0);
        ek_ok(c, ATTEST_EK_RSA2048, &pub, &cert);
        assert_int_equal(cert.size, 0);
        path_in(c, "policy-a.bin", policy, sizeof(policy));
        path_in(c, "nonce-ek.ctx", ctx, sizeof(ctx));
        path_in(c, "nonce-ek.pub", pub_path, sizeof(pub_path));
        file_put(policy, policy_a, sizeof(policy_a));
        memcpy(unique, nonce, sizeof(nonce) - 1);
        assert_int_equal(tpm_fixture_run(&c->tpm, createprimary, unique, sizeof(unique), NULL, NULL), 0);
        assert_int_equal(run(c, readpublic), 0);
        assert_int_equal(run(c, flush), 0);
        assert_file_equals(pub_path, &pub);
        blob_clear(&pub);

        assert_int_equal(ek_fixture_nv_drop(&c->tpm, "0x01c00003"), 0);
        assert_int_equal(ek_fixture_nv_put(&c->tpm, EK_FIXTURE_RSA_CERT_INDEX, "certs/ek-rsa2048.crt", 0), 0);
        ek_ok(c, ATTEST_EK_RSA2048, &pub, &cert);
        assert_true(cert.size > 0);
        blob_clear(&pub);
        blob_clear(&cert);
        assert_tpm_empty(c);
}

static void test_attest_ek_bad_type_refused(void **state) {
        Ctx *c = *state;
        AttestTpm *t = tpm_open(c);
        Blob pub = {}, cert = {};

        assert_int_equal(attest_ek(t, _ATTEST_EK_TYPE_MAX, &pub, &cert), -EINVAL);
        assert_int_equal(attest_ek(t, _ATTEST_EK_TYPE_INVALID, &pub, &cert), -EINVAL);
        attest_tpm_close(t);
}

/* ---- AK ---- */

/* name = BE16(nameAlg) || SHA-256(marshalled TPMT_PUBLIC), computed here. */
static void assert_ak_shape(const Blob *ak_pub, const Blob *name, TPMI_ALG_PUBLIC type) {
        TPM2B_PUBLIC p = {};
        uint8_t area[sizeof(TPMT_PUBLIC)], md[32];
        size_t off = 0, area_size = 0;
        unsigned md_size = 0;

        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(ak_pub->data, ak_pub->size, &off, &p), TSS2_RC_SUCCESS);
        assert_int_equal(off, ak_pub->size);
        assert_int_equal(p.publicArea.type, type);
        assert_int_equal(p.publicArea.objectAttributes, 0x00050072);
        assert_int_equal(p.publicArea.nameAlg, TPM2_ALG_SHA256);
        assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&p.publicArea, area, sizeof(area), &area_size), TSS2_RC_SUCCESS);
        assert_int_equal(EVP_Digest(area, area_size, md, &md_size, EVP_sha256(), NULL), 1);
        assert_int_equal(name->size, 34);
        assert_int_equal(name->data[0], 0x00);
        assert_int_equal(name->data[1], 0x0b);
        assert_memory_equal(name->data + 2, md, 32);
}

static void test_attest_ak_created_then_loaded(void **state) {
        Ctx *c = *state;
        static const struct {
                AttestEkType type;
                TPMI_ALG_PUBLIC alg;
        } cases[] = { { ATTEST_EK_RSA2048, TPM2_ALG_RSA }, { ATTEST_EK_ECC_P256, TPM2_ALG_ECC } };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char dir[160], path[200];
                Blob pub = {}, name = {}, pub2 = {}, name2 = {};
                struct stat st;

                state_dir_new(c, dir, sizeof(dir));
                ak_ok(c, cases[i].type, dir, &pub, &name);
                assert_ak_shape(&pub, &name, cases[i].alg);
                snprintf(path, sizeof(path), "%s/ak.pub", dir);
                assert_file_equals(path, &pub);
                assert_int_equal(stat(path, &st), 0);
                assert_int_equal(st.st_mode & 0777, 0600);
                snprintf(path, sizeof(path), "%s/ak.priv", dir);
                assert_int_equal(stat(path, &st), 0);
                assert_int_equal(st.st_mode & 0777, 0600);

                ak_ok(c, cases[i].type, dir, &pub2, &name2);
                assert_int_equal(pub2.size, pub.size);
                assert_memory_equal(pub2.data, pub.data, pub.size);
                assert_int_equal(name2.size, name.size);
                assert_memory_equal(name2.data, name.data, name.size);
                blob_clear(&pub);
                blob_clear(&name);
                blob_clear(&pub2);
                blob_clear(&name2);
        }
        assert_tpm_empty(c);
}

/* A reboot: PCRs reset, every transient object gone. The AK loads again
 * from its blobs under a fresh EK, with the same name, and quotes. */
static void test_attest_ak_reloaded_after_restart(void **state) {
        Ctx *c = *state;
        AttestEkType types[] = { ATTEST_EK_RSA2048, ATTEST_EK_ECC_P256 };
        char dirs[2][160];
        Blob pubs[2] = {}, names[2] = {};

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                state_dir_new(c, dirs[i], sizeof(dirs[i]));
                ak_ok(c, types[i], dirs[i], &pubs[i], &names[i]);
        }
        assert_int_equal(ek_fixture_restart(&c->tpm), 0);
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                uint8_t nonce[NONCE_SIZE];
                Blob pub = {}, name = {}, attest = {}, sig = {};
                PcrValues v;

                ak_ok(c, types[i], dirs[i], &pub, &name);
                assert_int_equal(name.size, names[i].size);
                assert_memory_equal(name.data, names[i].data, name.size);
                random_bytes(nonce, sizeof(nonce));
                quote_ok(c, types[i], dirs[i], TPM2_ALG_SHA256, 0x81, nonce, sizeof(nonce), &attest, &sig, &v);
                assert_int_equal(checkquote(c, &pub, &attest, &sig, &v, nonce, sizeof(nonce)), 0);
                blob_clear(&pub);
                blob_clear(&name);
                blob_clear(&attest);
                blob_clear(&sig);
                blob_clear(&pubs[i]);
                blob_clear(&names[i]);
        }
        assert_tpm_empty(c);
}

static void file_corrupt(const char *path, long at, int truncate_by) {
        size_t n = 0;
        uint8_t *data = file_get(path, &n);

        assert_true(n > 4);
        if (truncate_by)
                n -= (size_t) truncate_by;
        else
                data[at < 0 ? (long) n + at : at] ^= 0x5a;
        file_put(path, data, n);
        free(data);
}

/* The AK is the node's identity: corrupt blobs are refused with advice to
 * move them aside, and left exactly as they are (never recreated). */
static void test_attest_ak_corrupt_refused(void **state) {
        Ctx *c = *state;
        static const struct {
                const char *file;
                long at;        /* byte to flip (negative: from the end) */
                int truncate;   /* or bytes to cut */
                bool remove;    /* or the file gone */
                int error;
                const char *says;
        } cases[] = {
                { "ak.pub", 0, 1, false, -EBADMSG, "ak.pub: " },
                { "ak.priv", 0, 3, false, -EBADMSG, "ak.priv: " },
                { "ak.pub", 0, 0, true, -EBADMSG, "does not" },
                { "ak.priv", 0, 0, true, -EBADMSG, "does not" },
                /* the encrypted sensitive area: the TPM's integrity check */
                { "ak.priv", -5, 0, false, -ENOKEY, "TPM_RC_INTEGRITY" },
                /* the public key: no longer the one the private part binds */
                { "ak.pub", -5, 0, false, -ENOKEY, "Esys_Load" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char dir[160], path[200], other[200];
                Blob pub = {}, name = {};
                size_t before_size = 0, after_size = 0;
                uint8_t *before, *after;
                AttestTpm *t;
                PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = 1 };
                uint8_t nonce[NONCE_SIZE] = {};
                Blob attest = {}, sig = {};
                PcrValues v;

                state_dir_new(c, dir, sizeof(dir));
                ak_ok(c, ATTEST_EK_RSA2048, dir, &pub, &name);
                blob_clear(&pub);
                blob_clear(&name);
                snprintf(path, sizeof(path), "%s/%s", dir, cases[i].file);
                if (cases[i].remove)
                        assert_int_equal(unlink(path), 0);
                else
                        file_corrupt(path, cases[i].at, cases[i].truncate);
                snprintf(other, sizeof(other), "%s/%s", dir, strcmp(cases[i].file, "ak.pub") ? "ak.pub" : "ak.priv");
                before = file_get(other, &before_size);

                t = tpm_open(c);
                assert_int_equal(attest_ak(t, ATTEST_EK_RSA2048, dir, &pub, &name), cases[i].error);
                assert_true(error_has(t, cases[i].says));
                assert_true(error_has(t, "move"));
                assert_true(error_has(t, "aside"));
                assert_null(pub.data);
                assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, sizeof(nonce), &attest, &sig, &v),
                                 cases[i].error);
                attest_tpm_close(t);

                /* nothing replaced */
                after = file_get(other, &after_size);
                assert_int_equal(after_size, before_size);
                assert_memory_equal(after, before, after_size);
                assert_int_equal(access(path, F_OK), cases[i].remove ? -1 : 0);
                free(before);
                free(after);
        }
        assert_tpm_empty(c);
}

static void test_attest_ak_other_ek_type_refused(void **state) {
        Ctx *c = *state;
        char dir[160];
        Blob pub = {}, name = {};
        AttestTpm *t;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_RSA2048, dir, &pub, &name);
        blob_clear(&pub);
        blob_clear(&name);
        t = tpm_open(c);
        assert_int_equal(attest_ak(t, ATTEST_EK_ECC_P256, dir, &pub, &name), -EBADMSG);
        assert_true(error_has(t, "RSA AK"));
        assert_true(error_has(t, "aside"));
        attest_tpm_close(t);
}

static void test_ak_store_parse_malformed_refused(void **state) {
        Ctx *c = *state;
        char dir[160], path[200];
        Blob pub = {}, name = {};
        uint8_t *p, *k;
        size_t p_size = 0, k_size = 0;
        TPM2B_PUBLIC out_pub;
        TPM2B_PRIVATE out_priv;
        char *err = NULL;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_ECC_P256, dir, &pub, &name);
        snprintf(path, sizeof(path), "%s/ak.pub", dir);
        p = file_get(path, &p_size);
        snprintf(path, sizeof(path), "%s/ak.priv", dir);
        k = file_get(path, &k_size);

        assert_int_equal(ak_store_parse(p, p_size, k, k_size, &out_pub, &out_priv, &err), 0);
        /* exact fit only: truncated, trailing byte, empty */
        assert_int_equal(ak_store_parse(p, p_size - 1, k, k_size, &out_pub, &out_priv, &err), -EBADMSG);
        assert_non_null(strstr(err, "ak.pub"));
        assert_int_equal(ak_store_parse(p, p_size, k, k_size + 1, &out_pub, &out_priv, &err), -EBADMSG);
        assert_non_null(strstr(err, "ak.priv"));
        assert_int_equal(ak_store_parse(p, 0, k, k_size, &out_pub, &out_priv, &err), -EBADMSG);
        assert_int_equal(ak_store_parse((const uint8_t *) "\0\0", 2, k, k_size, &out_pub, &out_priv, &err), -EBADMSG);
        assert_int_equal(ak_store_parse(p, AK_STORE_PUB_MAX + 1, k, k_size, &out_pub, &out_priv, &err), -E2BIG);
        free(err);
        free(p);
        free(k);
        blob_clear(&pub);
        blob_clear(&name);
}

/* ---- ActivateCredential ---- */

static void ek_pub_file(const Ctx *c, AttestEkType type, const char *name, char *path, size_t size) {
        Blob pub = {}, cert = {};

        ek_ok(c, type, &pub, &cert);
        path_in(c, name, path, size);
        file_put(path, pub.data, pub.size);
        blob_clear(&pub);
        blob_clear(&cert);
}

static void test_attest_activate_makecredential(void **state) {
        Ctx *c = *state;
        AttestEkType types[] = { ATTEST_EK_RSA2048, ATTEST_EK_ECC_P256 };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                char dir[160], ek_path[160];
                uint8_t secret[NONCE_SIZE];
                Blob ak_pub = {}, name = {}, cred = {}, enc = {};
                Secret *got = NULL;
                AttestTpm *t;
                int r;

                state_dir_new(c, dir, sizeof(dir));
                ak_ok(c, types[i], dir, &ak_pub, &name);
                ek_pub_file(c, types[i], "ek.pub", ek_path, sizeof(ek_path));
                random_bytes(secret, sizeof(secret));
                make_credential(c, ek_path, NULL, &name, secret, &cred, &enc);

                t = tpm_open(c);
                r = attest_activate(t, types[i], dir, &cred, &enc, &got);
                if (r < 0)
                        print_message("attest_activate: %d %s\n", r, attest_tpm_error(t));
                assert_int_equal(r, 0);
                assert_non_null(got);
                assert_int_equal(got->size, sizeof(secret));
                assert_memory_equal(got->data, secret, sizeof(secret));
                secret_free(got);
                attest_tpm_close(t);
                blob_clear(&ak_pub);
                blob_clear(&name);
                blob_clear(&cred);
                blob_clear(&enc);
        }
        assert_tpm_empty(c);
}

/* A credential made for another TPM's EK (a key of the same type this TPM
 * does not hold), or for another AK's name: the TPM refuses, -ENOKEY. */
static void test_attest_activate_other_tpm_refused(void **state) {
        Ctx *c = *state;
        static const struct {
                AttestEkType type;
                const char *keygen_alg, *keygen_param, *pem_alg;
        } cases[] = {
                { ATTEST_EK_RSA2048, "RSA", NULL, "rsa" },
                { ATTEST_EK_ECC_P256, "EC", "P-256", "ecc" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char dir[160], other[160];
                uint8_t secret[NONCE_SIZE];
                Blob ak_pub = {}, name = {}, cred = {}, enc = {};
                Secret *got = NULL;
                EVP_PKEY *k;
                AttestTpm *t;
                FILE *o;

                state_dir_new(c, dir, sizeof(dir));
                ak_ok(c, cases[i].type, dir, &ak_pub, &name);
                k = cases[i].keygen_param ? EVP_PKEY_Q_keygen(NULL, NULL, cases[i].keygen_alg, cases[i].keygen_param)
                                          : EVP_PKEY_Q_keygen(NULL, NULL, cases[i].keygen_alg, (size_t) 2048);
                assert_non_null(k);
                path_in(c, "other-ek.pem", other, sizeof(other));
                o = fopen(other, "w");
                assert_non_null(o);
                assert_int_equal(PEM_write_PUBKEY(o, k), 1);
                fclose(o);
                EVP_PKEY_free(k);
                random_bytes(secret, sizeof(secret));
                make_credential(c, other, cases[i].pem_alg, &name, secret, &cred, &enc);

                t = tpm_open(c);
                assert_r(t, attest_activate(t, cases[i].type, dir, &cred, &enc, &got), -ENOKEY);
                assert_null(got);
                assert_true(error_has(t, "not made for this TPM"));
                attest_tpm_close(t);
                blob_clear(&cred);
                blob_clear(&enc);

                /* this TPM's EK, but another AK's name */
                {
                        char ek_path[160];
                        Blob wrong = { .data = malloc(name.size), .size = name.size };

                        memcpy(wrong.data, name.data, name.size);
                        wrong.data[wrong.size - 1] ^= 1;
                        ek_pub_file(c, cases[i].type, "ek.pub", ek_path, sizeof(ek_path));
                        make_credential(c, ek_path, NULL, &wrong, secret, &cred, &enc);
                        t = tpm_open(c);
                        assert_int_equal(attest_activate(t, cases[i].type, dir, &cred, &enc, &got), -ENOKEY);
                        assert_null(got);
                        attest_tpm_close(t);
                        blob_clear(&wrong);
                }
                blob_clear(&ak_pub);
                blob_clear(&name);
                blob_clear(&cred);
                blob_clear(&enc);
        }
        assert_tpm_empty(c);
}

static void test_attest_activate_malformed_refused(void **state) {
        Ctx *c = *state;
        char dir[160];
        Blob ak_pub = {}, name = {};
        uint8_t junk[] = { 0x00, 0x10, 0x01, 0x02 }, empty[] = { 0x00, 0x00 };
        Blob short_blob = { .data = junk, .size = sizeof(junk) }, empty_blob = { .data = empty, .size = 2 };
        Secret *got = NULL;
        AttestTpm *t;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_RSA2048, dir, &ak_pub, &name);
        t = tpm_open(c);
        assert_int_equal(attest_activate(t, ATTEST_EK_RSA2048, dir, &short_blob, &empty_blob, &got), -EBADMSG);
        assert_true(error_has(t, "TPM2B_ID_OBJECT"));
        assert_int_equal(attest_activate(t, ATTEST_EK_RSA2048, dir, &empty_blob, &short_blob, &got), -EBADMSG);
        assert_null(got);
        attest_tpm_close(t);
        blob_clear(&ak_pub);
        blob_clear(&name);
}

/* ---- Quote ---- */

static void extend(const Ctx *c, unsigned pcr) {
        char spec[256];
        char *argv[] = { "tpm2_pcrextend", spec, NULL };

        snprintf(spec, sizeof(spec), "%u:sha1=%040x,sha256=%064x", pcr, pcr + 1u, pcr + 1u);
        assert_int_equal(run(c, argv), 0);
}

/* The values the quote came with are the TPM's (tpm2_pcrread), and
 * tpm2_checkquote accepts quote, signature and values with the nonce, and
 * refuses another nonce. */
static void quote_checks(Ctx *c, AttestEkType type, uint16_t bank, const char *bank_name, uint32_t mask,
                         const char *list) {
        char dir[160], spec[96], out[160];
        char *pcrread[] = { "tpm2_pcrread", spec, "-o", out, NULL };
        uint8_t nonce[NONCE_SIZE], other[NONCE_SIZE], *read_values;
        Blob ak_pub = {}, name = {}, attest = {}, sig = {};
        size_t n = 0, k = 0;
        PcrValues v;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, type, dir, &ak_pub, &name);
        random_bytes(nonce, sizeof(nonce));
        quote_ok(c, type, dir, bank, mask, nonce, sizeof(nonce), &attest, &sig, &v);
        assert_int_equal(v.hash_alg, bank);
        assert_int_equal(v.mask, mask);

        snprintf(spec, sizeof(spec), "%s:%s", bank_name, list);
        path_in(c, "pcrread.bin", out, sizeof(out));
        assert_int_equal(run(c, pcrread), 0);
        read_values = file_get(out, &n);
        assert_int_equal(n, (size_t) __builtin_popcount(mask) * v.size);
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i)) {
                        assert_memory_equal(read_values + k, v.value[i], v.size);
                        k += v.size;
                }
        free(read_values);

        assert_int_equal(checkquote(c, &ak_pub, &attest, &sig, &v, nonce, sizeof(nonce)), 0);
        memcpy(other, nonce, sizeof(other));
        other[0] ^= 1;
        assert_int_not_equal(checkquote(c, &ak_pub, &attest, &sig, &v, other, sizeof(other)), 0);
        /* a PCR value that is not the quoted one */
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++)
                if (mask & (UINT32_C(1) << i)) {
                        v.value[i][0] ^= 1;
                        break;
                }
        assert_int_not_equal(checkquote(c, &ak_pub, &attest, &sig, &v, nonce, sizeof(nonce)), 0);
        blob_clear(&ak_pub);
        blob_clear(&name);
        blob_clear(&attest);
        blob_clear(&sig);
}

static void test_attest_quote_checkquote_sha256(void **state) {
        Ctx *c = *state;

        extend(c, 7);
        quote_checks(c, ATTEST_EK_RSA2048, TPM2_ALG_SHA256, "sha256", (1u << 0) | (1u << 7), "0,7");
        quote_checks(c, ATTEST_EK_ECC_P256, TPM2_ALG_SHA256, "sha256", (1u << 0) | (1u << 7), "0,7");
        assert_tpm_empty(c);
}

static void test_attest_quote_checkquote_sha1(void **state) {
        Ctx *c = *state;

        extend(c, 7);
        quote_checks(c, ATTEST_EK_RSA2048, TPM2_ALG_SHA1, "sha1", (1u << 0) | (1u << 7), "0,7");
        quote_checks(c, ATTEST_EK_ECC_P256, TPM2_ALG_SHA1, "sha1", (1u << 0) | (1u << 7), "0,7");
        assert_tpm_empty(c);
}

/* All 24 PCRs: more than one PCR_Read answers (8 digests at most each). */
static void test_attest_quote_all_pcrs(void **state) {
        Ctx *c = *state;

        extend(c, 16);
        extend(c, 23);
        quote_checks(c, ATTEST_EK_RSA2048, TPM2_ALG_SHA256, "sha256", 0xFFFFFFu,
                     "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
        assert_tpm_empty(c);
}

static void test_attest_quote_nonce_too_long_refused(void **state) {
        Ctx *c = *state;
        char dir[160];
        uint8_t nonce[ATTEST_NONCE_MAX + 1] = {};
        Blob ak_pub = {}, name = {}, attest = {}, sig = {};
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = 1 };
        PcrValues v;
        AttestTpm *t;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_RSA2048, dir, &ak_pub, &name);
        t = tpm_open(c);
        assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, sizeof(nonce), &attest, &sig, &v),
                         -E2BIG);
        assert_true(error_has(t, "nonce"));
        assert_null(attest.data);
        /* the largest the contract allows, which swtpm (sha512) takes */
        assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, ATTEST_NONCE_MAX, &attest, &sig, &v), 0);
        blob_clear(&attest);
        blob_clear(&sig);
        assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, 0, &attest, &sig, &v), -EINVAL);
        attest_tpm_close(t);
        blob_clear(&ak_pub);
        blob_clear(&name);
        assert_tpm_empty(c);
}

static void test_attest_quote_bad_selection_refused(void **state) {
        Ctx *c = *state;
        static const PcrSelection bad[] = {
                { TPM2_ALG_SHA256, 0 },
                { TPM2_ALG_SHA256, 1u << 24 },
                { TPM2_ALG_NULL, 1 },
                { TPM2_ALG_SM3_256, 1 },
        };
        char dir[160];
        uint8_t nonce[NONCE_SIZE] = {};
        Blob ak_pub = {}, name = {}, attest = {}, sig = {};
        PcrSelection sha384 = { TPM2_ALG_SHA384, 1 };
        PcrValues v;
        AttestTpm *t;

        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_RSA2048, dir, &ak_pub, &name);
        t = tpm_open(c);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &bad[i], nonce, sizeof(nonce), &attest, &sig,
                                              &v),
                                 -EINVAL);
        /* a bank the fixture did not activate (sha1 and sha256 only) */
        assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sha384, nonce, sizeof(nonce), &attest, &sig, &v),
                         -EINVAL);
        assert_true(error_has(t, "no active PCR bank"));
        attest_tpm_close(t);
        blob_clear(&ak_pub);
        blob_clear(&name);
        assert_tpm_empty(c);
}

static void test_attest_quote_no_ak_refused(void **state) {
        Ctx *c = *state;
        char dir[160];
        uint8_t nonce[NONCE_SIZE] = {};
        Blob attest = {}, sig = {};
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = 1 };
        PcrValues v;
        AttestTpm *t;

        state_dir_new(c, dir, sizeof(dir));
        t = tpm_open(c);
        assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, sizeof(nonce), &attest, &sig, &v),
                         -ENOENT);
        assert_true(error_has(t, "no AK"));
        /* only attest_ak makes the directory */
        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(attest_quote(t, ATTEST_EK_ECC_P256, dir, &sel, nonce, sizeof(nonce), &attest, &sig, &v),
                         -ENOENT);
        {
                uint8_t one[2] = { 0, 0 };
                Blob b = { .data = one, .size = sizeof(one) };
                Secret *got = NULL;

                /* malformed blobs are refused before the AK is looked for */
                assert_int_equal(attest_activate(t, ATTEST_EK_RSA2048, dir, &b, &b, &got), -EBADMSG);
        }
        attest_tpm_close(t);
        assert_tpm_empty(c);
}

/* ---- handles ---- */

/* A bare swtpm has 3 object slots: a leak on any path breaks a later call
 * with TPM_RC_OBJECT_MEMORY. Failing paths, then 10 quotes and 10
 * activations, then nothing loaded. */
static void test_attest_no_transient_leak(void **state) {
        Ctx *c = *state;
        char dir[160], ek_path[160], other[160];
        uint8_t secret[NONCE_SIZE], nonce[NONCE_SIZE], long_nonce[ATTEST_NONCE_MAX + 1] = {};
        Blob ak_pub = {}, name = {}, cred = {}, enc = {}, bad_cred = {}, bad_enc = {};
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = 0x81 };
        PcrSelection no_bank = { .hash_alg = TPM2_ALG_SHA384, .mask = 1 };
        AttestTpm *t;
        EVP_PKEY *k;
        FILE *o;

        assert_tpm_empty(c);
        state_dir_new(c, dir, sizeof(dir));
        ak_ok(c, ATTEST_EK_RSA2048, dir, &ak_pub, &name);
        ek_pub_file(c, ATTEST_EK_RSA2048, "ek.pub", ek_path, sizeof(ek_path));
        random_bytes(secret, sizeof(secret));
        make_credential(c, ek_path, NULL, &name, secret, &cred, &enc);
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        path_in(c, "leak-other.pem", other, sizeof(other));
        o = fopen(other, "w");
        assert_non_null(o);
        PEM_write_PUBKEY(o, k);
        fclose(o);
        EVP_PKEY_free(k);
        make_credential(c, other, "rsa", &name, secret, &bad_cred, &bad_enc);

        t = tpm_open(c);
        for (int i = 0; i < 4; i++) {
                Blob attest = {}, sig = {};
                Secret *got = NULL;
                PcrValues v;

                assert_int_equal(attest_activate(t, ATTEST_EK_RSA2048, dir, &bad_cred, &bad_enc, &got), -ENOKEY);
                assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &no_bank, secret, sizeof(secret), &attest,
                                              &sig, &v),
                                 -EINVAL);
                assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, long_nonce, sizeof(long_nonce), &attest,
                                              &sig, &v),
                                 -E2BIG);
                assert_int_equal(attest_ak(t, ATTEST_EK_ECC_P256, dir, &attest, &sig), -EBADMSG);
        }
        for (int i = 0; i < 10; i++) {
                Blob attest = {}, sig = {}, pub = {}, cert = {};
                Secret *got = NULL;
                PcrValues v;

                random_bytes(nonce, sizeof(nonce));
                assert_int_equal(attest_quote(t, ATTEST_EK_RSA2048, dir, &sel, nonce, sizeof(nonce), &attest, &sig, &v),
                                 0);
                assert_int_equal(attest_activate(t, ATTEST_EK_RSA2048, dir, &cred, &enc, &got), 0);
                assert_memory_equal(got->data, secret, sizeof(secret));
                assert_int_equal(attest_ek(t, i % 2 ? ATTEST_EK_ECC_P256 : ATTEST_EK_RSA2048, &pub, &cert), 0);
                secret_free(got);
                blob_clear(&attest);
                blob_clear(&sig);
                blob_clear(&pub);
                blob_clear(&cert);
        }
        /* still open: every call flushed its own */
        assert_tpm_empty(c);
        attest_tpm_close(t);
        assert_tpm_empty(c);
        blob_clear(&ak_pub);
        blob_clear(&name);
        blob_clear(&cred);
        blob_clear(&enc);
        blob_clear(&bad_cred);
        blob_clear(&bad_enc);
}

static void test_attest_tpm_open_unreachable(void **state) {
        (void) state;
        char tcti[64];
        unsigned short port = tpm_fixture_probe_port(0); /* free now, so closed */
        AttestTpm *t = NULL;

        assert_true(port > 0);
        snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%u", port);
        assert_int_equal(attest_tpm_open(tcti, &t), -ENODEV);
        assert_null(t);
        assert_int_equal(attest_tpm_open("nosuchtcti:x", &t), -ENODEV);
        assert_null(t);
        assert_null(attest_tpm_close(NULL));
}

/* ---- the event log ---- */

static void test_attest_eventlog_read_ok(void **state) {
        Ctx *c = *state;
        char path[160];
        uint8_t data[3000];
        Blob b = {};

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) i;
        path_in(c, "eventlog.bin", path, sizeof(path));
        file_put(path, data, sizeof(data));
        assert_int_equal(attest_eventlog_read(path, &b), 0);
        assert_int_equal(b.size, sizeof(data));
        assert_memory_equal(b.data, data, sizeof(data));
        blob_clear(&b);
        assert_null(b.data);
        assert_int_equal(b.size, 0);
        blob_clear(NULL);
}

static void test_attest_eventlog_read_refusals(void **state) {
        Ctx *c = *state;
        char path[160];
        Blob b = {};
        int fd;

        path_in(c, "eventlog-none.bin", path, sizeof(path));
        assert_int_equal(attest_eventlog_read(path, &b), -ENOENT);
        file_put(path, "", 0);
        assert_int_equal(attest_eventlog_read(path, &b), -ENODATA);
        /* exactly the cap is fine, one byte more is not */
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, ATTEST_EVENTLOG_MAX), 0);
        close(fd);
        assert_int_equal(attest_eventlog_read(path, &b), 0);
        assert_int_equal(b.size, ATTEST_EVENTLOG_MAX);
        blob_clear(&b);
        fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, ATTEST_EVENTLOG_MAX + 1), 0);
        close(fd);
        assert_int_equal(attest_eventlog_read(path, &b), -E2BIG);
        assert_null(b.data);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_attest_ek_rsa_cert_matches),
                cmocka_unit_test(test_attest_ek_ecc_cert_matches),
                cmocka_unit_test(test_attest_ek_cert_absent_empty),
                cmocka_unit_test(test_attest_ek_cert_padded_trimmed),
                cmocka_unit_test(test_attest_ek_template_mismatch_refused),
                cmocka_unit_test(test_attest_ek_nv_nonce_used),
                cmocka_unit_test(test_attest_ek_bad_type_refused),
                cmocka_unit_test(test_attest_ak_created_then_loaded),
                cmocka_unit_test(test_attest_ak_reloaded_after_restart),
                cmocka_unit_test(test_attest_ak_corrupt_refused),
                cmocka_unit_test(test_attest_ak_other_ek_type_refused),
                cmocka_unit_test(test_ak_store_parse_malformed_refused),
                cmocka_unit_test(test_attest_activate_makecredential),
                cmocka_unit_test(test_attest_activate_other_tpm_refused),
                cmocka_unit_test(test_attest_activate_malformed_refused),
                cmocka_unit_test(test_attest_quote_checkquote_sha256),
                cmocka_unit_test(test_attest_quote_checkquote_sha1),
                cmocka_unit_test(test_attest_quote_all_pcrs),
                cmocka_unit_test(test_attest_quote_nonce_too_long_refused),
                cmocka_unit_test(test_attest_quote_bad_selection_refused),
                cmocka_unit_test(test_attest_quote_no_ak_refused),
                cmocka_unit_test(test_attest_no_transient_leak),
                cmocka_unit_test(test_attest_tpm_open_unreachable),
                cmocka_unit_test(test_attest_eventlog_read_ok),
                cmocka_unit_test(test_attest_eventlog_read_refusals),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
