/* The node side of attestation (see attest.h), with tpm2-tss ESAPI: the EK
 * from the TCG EK Credential Profile templates (or the template and nonce a
 * TPM keeps in NV) and its certificate from NV, checked to be the same key;
 * the AK under the EK, kept in the state directory (ak-store.c) and loaded
 * again on every call; ActivateCredential; Quote and the PCR values read
 * right after; the boot event log. Every transient object and session is
 * flushed before a call returns, on every path: a TPM without a resource
 * manager has three object slots. Logs nothing: the failure's detail is
 * kept for attest_tpm_error(). */
#include "core/fileio.h"
#include "core/openssl-cleanup.h"
#include "attest/attest.h"
#include "attest/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attest/ak-store.h"
#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/error-detail.h"
#include "core/secret.h"
#include "core/tpm-rc.h"

#define ATTEST_TCTI_ENV "STRATA_TCTI"
#define ATTEST_TCTI_DEFAULT "device:/dev/tpmrm0"
/* An EK certificate in NV: TPMs cap an index at 2048 bytes or so. */
#define ATTEST_EK_CERT_MAX 8192u
/* NV_Read chunk when the TPM does not say (TPM2_PT_NV_BUFFER_MAX); 768
 * worked everywhere we tried, and ESAPI's buffer caps any answer. */
#define ATTEST_NV_CHUNK_DEFAULT 768u
#define ATTEST_NV_CHUNK_MAX TPM2_MAX_NV_BUFFER_SIZE
#define ATTEST_NV_TEMPLATE_MAX sizeof(TPMT_PUBLIC)
/* PCR_Read returns at least one PCR per call (or we stop). */
#define ATTEST_PCR_READ_ROUNDS ATTEST_PCR_MAX
#define ATTEST_PCR_SELECT_SIZE (ATTEST_PCR_MAX / 8u)
/* A PCR extended between Quote and PCR_Read: quote again, this often. */
#define ATTEST_QUOTE_TRIES 3u
/* DER: tag, up to 4 length bytes (a certificate is far below 4 GiB). */
#define ATTEST_DER_LENGTH_BYTES_MAX 4u

_Static_assert(ATTEST_PCR_MAX % 8u == 0, "PCR selection in whole bytes");
_Static_assert(ATTEST_NONCE_MAX <= sizeof(((TPM2B_DATA *) 0)->buffer), "nonce fits TPM2B_DATA");

/* TCG EK Credential Profile: PolicySecret(TPM_RH_ENDORSEMENT), SHA-256. */
#define EK_POLICY_A                                                                                       \
        { .size = 32,                                                                                     \
          .buffer = { 0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, \
                      0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, \
                      0x33, 0x14, 0x69, 0xaa } }
/* fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy, restricted,
 * decrypt: 0x000300B2; userWithAuth clear, so using the EK needs the policy. */
#define EK_ATTRS                                                                                  \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |       \
         TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
/* fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted,
 * sign: 0x00050072. */
#define AK_ATTRS                                                                                  \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |       \
         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)
#define EK_SYM_AES128_CFB { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB }

typedef struct EkProfile {
        const char *name; /* for messages */
        const char *option; /* what the CLI calls it */
        TPM2_HANDLE cert_index, nonce_index, template_index;
        TPM2B_PUBLIC ek;
        TPM2B_PUBLIC ak;
} EkProfile;

/* Indices and templates: TCG EK Credential Profile 2.4, low range. */
static const EkProfile ek_profiles[_ATTEST_EK_TYPE_MAX] = {
        [ATTEST_EK_RSA2048] = {
                .name = "RSA 2048 EK (template L-1)", .option = "rsa",
                .cert_index = 0x01c00002, .nonce_index = 0x01c00003, .template_index = 0x01c00004,
                .ek = { .publicArea = {
                        .type = TPM2_ALG_RSA, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = EK_ATTRS,
                        .authPolicy = EK_POLICY_A,
                        .parameters.rsaDetail = { .symmetric = EK_SYM_AES128_CFB,
                                                  .scheme = { .scheme = TPM2_ALG_NULL },
                                                  .keyBits = 2048, .exponent = 0 },
                        .unique.rsa = { .size = 256 },
                } },
                .ak = { .publicArea = {
                        .type = TPM2_ALG_RSA, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = AK_ATTRS,
                        .parameters.rsaDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_NULL },
                                .scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 },
                                .keyBits = 2048, .exponent = 0 },
                } },
        },
        [ATTEST_EK_ECC_P256] = {
                .name = "ECC P-256 EK (template L-2)", .option = "ecc",
                .cert_index = 0x01c0000a, .nonce_index = 0x01c0000b, .template_index = 0x01c0000c,
                .ek = { .publicArea = {
                        .type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = EK_ATTRS,
                        .authPolicy = EK_POLICY_A,
                        .parameters.eccDetail = { .symmetric = EK_SYM_AES128_CFB,
                                                  .scheme = { .scheme = TPM2_ALG_NULL },
                                                  .curveID = TPM2_ECC_NIST_P256,
                                                  .kdf = { .scheme = TPM2_ALG_NULL } },
                        .unique.ecc = { .x = { .size = 32 }, .y = { .size = 32 } },
                } },
                .ak = { .publicArea = {
                        .type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256, .objectAttributes = AK_ATTRS,
                        .parameters.eccDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_NULL },
                                .scheme = { .scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256 },
                                .curveID = TPM2_ECC_NIST_P256,
                                .kdf = { .scheme = TPM2_ALG_NULL } },
                } },
        },
};

typedef struct AttestHash {
        TPMI_ALG_HASH alg;
        size_t size;
        const EVP_MD *(*md)(void);
} AttestHash;

static const AttestHash attest_hashes[] = {
        { TPM2_ALG_SHA1, TPM2_SHA1_DIGEST_SIZE, EVP_sha1 },
        { TPM2_ALG_SHA256, TPM2_SHA256_DIGEST_SIZE, EVP_sha256 },
        { TPM2_ALG_SHA384, TPM2_SHA384_DIGEST_SIZE, EVP_sha384 },
        { TPM2_ALG_SHA512, TPM2_SHA512_DIGEST_SIZE, EVP_sha512 },
};

/* What a TPM answer means to any attestation step; each step may have a
 * table of its own that is consulted first. */
static const TpmRcRow attest_errors[] = {
        { TPM2_RC_OBJECT_MEMORY, "TPM_RC_OBJECT_MEMORY", -EIO,
          "the TPM is out of object slots (another program leaked transient objects; no resource manager?)" },
        { TPM2_RC_SESSION_MEMORY, "TPM_RC_SESSION_MEMORY", -EIO, "the TPM is out of session slots" },
        { TPM2_RC_LOCKOUT, "TPM_RC_LOCKOUT", -EIO,
          "the TPM is in dictionary-attack lockout (tpm2_dictionarylockout -c clears it)" },
        { TPM2_RC_INITIALIZE, "TPM_RC_INITIALIZE", -EIO, "the TPM was not started (TPM2_Startup)" },
        { TPM2_RC_BAD_AUTH, "TPM_RC_BAD_AUTH", -EACCES,
          "the endorsement or owner hierarchy has a password (Strata assumes none)" },
        { TPM2_RC_AUTH_FAIL, "TPM_RC_AUTH_FAIL", -EACCES,
          "the endorsement or owner hierarchy has a password (Strata assumes none)" },
        { TPM2_RC_HIERARCHY, "TPM_RC_HIERARCHY", -EACCES, "the endorsement or owner hierarchy is disabled" },
        { TPM2_RC_NV_LOCKED, "TPM_RC_NV_LOCKED", -EACCES, "the NV index is read-locked" },
        { TPM2_RC_NV_UNINITIALIZED, "TPM_RC_NV_UNINITIALIZED", -EIO, "the NV index was never written" },
};

static const TpmRcRow ak_load_errors[] = {
        { TPM2_RC_INTEGRITY, "TPM_RC_INTEGRITY", -ENOKEY,
          "the AK blobs were not made under this TPM's EK (another TPM, or the endorsement seed changed)" },
};

static const TpmRcRow quote_errors[] = {
        { TPM2_RC_SIZE, "TPM_RC_SIZE", -E2BIG, "the nonce is longer than this TPM accepts (its largest digest)" },
};

struct AttestTpm {
        char *tcti_conf;
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        /* transient: loaded during one call, flushed before it returns */
        ESYS_TR ek, ak, session;
        char *error; /* the last failure's detail, for attest_tpm_error() */
};

static void esys_freep(void *p) {
        Esys_Free(*(void **) p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)


/* ---- blobs ---- */

static int blob_copy(Blob *ret, const void *data, size_t size) {
        uint8_t *p = malloc(size ? size : 1);

        if (!p)
                return -ENOMEM;
        if (size)
                memcpy(p, data, size);
        blob_clear(ret);
        ret->data = p;
        ret->size = size;
        return 0;
}

/* Blob <- marshalled TPM structure; no marshalled form outgrows its struct. */
#define DEFINE_BLOB_MARSHAL(type)                                                          \
        static int type##_blob(const type *src, Blob *ret) {                               \
                _cleanup_free_ uint8_t *buf = malloc(sizeof(type));                        \
                size_t off = 0;                                                            \
                if (!buf)                                                                  \
                        return -ENOMEM;                                                    \
                if (Tss2_MU_##type##_Marshal(src, buf, sizeof(type), &off) != TSS2_RC_SUCCESS) \
                        return -EINVAL;                                                    \
                return blob_copy(ret, buf, off);                                           \
        }
DEFINE_BLOB_MARSHAL(TPM2B_PUBLIC)
DEFINE_BLOB_MARSHAL(TPM2B_ATTEST)
DEFINE_BLOB_MARSHAL(TPMT_SIGNATURE)

/* ---- the TPM connection ---- */

static void tpm_flush(AttestTpm *t, ESYS_TR *h) {
        if (*h == ESYS_TR_NONE)
                return;
        /* Nothing more to do if this fails: the TPM is gone, or the handle is. */
        (void) Esys_FlushContext(t->esys, *h);
        *h = ESYS_TR_NONE;
}

static void tpm_flush_all(AttestTpm *t) {
        tpm_flush(t, &t->session);
        tpm_flush(t, &t->ak);
        tpm_flush(t, &t->ek);
}

/* Scope guard at the top of every entry point: whatever the path, the
 * transients are gone when it returns. */
static void tpm_flush_allp(AttestTpm **t) {
        if (*t)
                tpm_flush_all(*t);
}
/* "unused": the guard is only ever read by its cleanup (clang warns otherwise) */
#define _cleanup_flush_ _cleanup_(tpm_flush_allp) __attribute__((unused))

static void tpm_error_reset(AttestTpm *t) {
        free(t->error);
        t->error = NULL;
}

/* Records a failed ESAPI call and returns the errno for it. */
static int tpm_fail(AttestTpm *t, TSS2_RC rc, const char *step, const TpmRcRow *table, size_t n) {
        const TpmRcRow *e = table ? tpm_rc_lookup(table, n, rc) : NULL;

        if (tpm_rc_is_tcti(rc))
                return error_detail_set(&t->error, -ENODEV, "%s: lost the TPM at TCTI \"%s\" (TCTI error 0x%x)", step,
                                        t->tcti_conf, rc);
        if (!e)
                e = tpm_rc_lookup(attest_errors, ELEMENTSOF(attest_errors), rc);
        if (e)
                return error_detail_set(&t->error, e->error, "%s failed (%s 0x%x): %s", step, e->name, rc, e->why);
        return error_detail_set(&t->error, -EIO, "%s failed (TSS2 rc 0x%x)", step, rc);
}

int attest_tpm_open(const char *tcti, AttestTpm **ret) {
        _cleanup_free_ AttestTpm *t = NULL;
        TSS2_RC rc;

        if (!ret)
                return -EINVAL;
        if (!tcti)
                tcti = getenv(ATTEST_TCTI_ENV);
        if (!tcti || !*tcti)
                tcti = ATTEST_TCTI_DEFAULT;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *t = (AttestTpm) { .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE, .session = ESYS_TR_NONE };
        t->tcti_conf = strdup(tcti);
        if (!t->tcti_conf)
                return -ENOMEM;
        rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                free(t->tcti_conf);
                return -ENODEV;
        }
        rc = Esys_Initialize(&t->esys, t->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Tss2_TctiLdr_Finalize(&t->tcti);
                free(t->tcti_conf);
                return tpm_rc_is_tcti(rc) ? -ENODEV : -EIO;
        }
        *ret = take_ptr(t);
        return 0;
}

AttestTpm *attest_tpm_close(AttestTpm *t) {
        if (!t)
                return NULL;
        tpm_flush_all(t);
        if (t->esys)
                Esys_Finalize(&t->esys);
        if (t->tcti)
                Tss2_TctiLdr_Finalize(&t->tcti);
        free(t->tcti_conf);
        free(t->error);
        free(t);
        return NULL;
}

const char *attest_tpm_error(const AttestTpm *t) {
        return t ? t->error : NULL;
}

static const EkProfile *ek_profile(AttestTpm *t, AttestEkType type) {
        if ((int) type < 0 || type >= _ATTEST_EK_TYPE_MAX) {
                error_detail_set(&t->error, -EINVAL, "unknown EK type %d", (int) type);
                return NULL;
        }
        return &ek_profiles[type];
}

/* ---- NV ---- */

/* Is the NV index defined? Asked with GetCapability so that an absent
 * index is an answer, not an error (which ESAPI would print). */
static int nv_exists(AttestTpm *t, TPM2_HANDLE index, bool *ret) {
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        TSS2_RC rc;

        rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1,
                                &more, &cap);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(t, rc, "listing NV indices (Esys_GetCapability)", NULL, 0);
        *ret = cap->data.handles.count > 0 && cap->data.handles.handle[0] == index;
        return 0;
}

static size_t nv_chunk_size(AttestTpm *t) {
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        TSS2_RC rc;

        rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap);
        if (rc != TSS2_RC_SUCCESS || cap->data.tpmProperties.count == 0 ||
            cap->data.tpmProperties.tpmProperty[0].property != TPM2_PT_NV_BUFFER_MAX ||
            cap->data.tpmProperties.tpmProperty[0].value == 0)
                return ATTEST_NV_CHUNK_DEFAULT;
        if (cap->data.tpmProperties.tpmProperty[0].value > ATTEST_NV_CHUNK_MAX)
                return ATTEST_NV_CHUNK_MAX;
        return cap->data.tpmProperties.tpmProperty[0].value;
}

static int nv_read_tr(AttestTpm *t, TPM2_HANDLE index, ESYS_TR tr, size_t max, Blob *ret) {
        _cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_NAME *name = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        ESYS_TR auth;
        size_t size, chunk;
        TSS2_RC rc;

        rc = Esys_NV_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(t, rc, "reading an NV index's attributes (Esys_NV_ReadPublic)", NULL, 0);
        size = pub->nvPublic.dataSize;
        if (size > max)
                return error_detail_set(&t->error, -E2BIG, "NV index 0x%08x holds %zu bytes, more than %zu", index,
                                        size, max);
        if (pub->nvPublic.attributes & TPMA_NV_OWNERREAD)
                auth = ESYS_TR_RH_OWNER;
        else if (pub->nvPublic.attributes & TPMA_NV_AUTHREAD)
                auth = tr;
        else
                return error_detail_set(&t->error, -EACCES,
                                        "NV index 0x%08x is readable neither by the owner nor with its own auth", index);
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        chunk = nv_chunk_size(t);
        for (size_t off = 0; off < size;) {
                _cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
                UINT16 n = (UINT16) (size - off < chunk ? size - off : chunk);

                rc = Esys_NV_Read(t->esys, auth, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, (UINT16) off,
                                  &data);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_fail(t, rc, "reading an NV index (Esys_NV_Read)", NULL, 0);
                if (data->size != n)
                        return error_detail_set(&t->error, -EIO, "NV index 0x%08x: asked for %u bytes at %zu, got %u",
                                                index, n, off, data->size);
                memcpy(buf + off, data->buffer, n);
                off += n;
        }
        blob_clear(ret);
        ret->data = take_ptr(buf);
        ret->size = size;
        return 0;
}

/* Reads a whole NV index of at most `max` bytes. -ENOENT if undefined. */
static int nv_read(AttestTpm *t, TPM2_HANDLE index, size_t max, Blob *ret) {
        ESYS_TR tr = ESYS_TR_NONE;
        bool exists = false;
        TSS2_RC rc;
        int r;

        r = nv_exists(t, index, &exists);
        if (r < 0)
                return r;
        if (!exists)
                return -ENOENT;
        rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(t, rc, "opening an NV index (Esys_TR_FromTPMPublic)", NULL, 0);
        r = nv_read_tr(t, index, tr, max, ret);
        /* an NV index is not flushed: only ESAPI's record of it is freed */
        (void) Esys_TR_Close(t->esys, &tr);
        return r;
}

/* ---- EK ---- */

static size_t ek_unique_size(const TPMT_PUBLIC *p) {
        if (p->type == TPM2_ALG_RSA)
                return p->parameters.rsaDetail.keyBits / 8u;
        switch (p->parameters.eccDetail.curveID) {
        case TPM2_ECC_NIST_P256: return 32;
        case TPM2_ECC_NIST_P384: return 48;
        case TPM2_ECC_NIST_P521: return 66;
        default: return 0;
        }
}

/* TCG EK Credential Profile 2.2.1.5: a template in NV replaces the default
 * one; an EK nonce in NV goes into the unique field, padded with zeros to
 * the key size (ECC: x; y all zeros). */
static int ek_template(AttestTpm *t, const EkProfile *p, TPM2B_PUBLIC *ret) {
        Blob tmpl = {}, nonce = {};
        TPM2B_PUBLIC out = p->ek;
        size_t unique_size;
        int r;

        r = nv_read(t, p->template_index, ATTEST_NV_TEMPLATE_MAX, &tmpl);
        if (r < 0 && r != -ENOENT) {
                _cleanup_free_ char *why = take_ptr(t->error);
                return error_detail_set(&t->error, r, "the EK template at NV 0x%08x: %s", p->template_index,
                                        why ? why : strerror(-r));
        }
        if (r == 0) {
                size_t off = 0, size = tmpl.size;
                TPMT_PUBLIC area = {};
                TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(tmpl.data, size, &off, &area);

                blob_clear(&tmpl);
                if (rc != TSS2_RC_SUCCESS || off != size)
                        return error_detail_set(&t->error, -EBADMSG,
                                                "the EK template at NV 0x%08x is not a marshalled TPMT_PUBLIC",
                                                p->template_index);
                if (area.type != p->ek.publicArea.type)
                        return error_detail_set(&t->error, -EBADMSG,
                                                "the EK template at NV 0x%08x is not for an %s key", p->template_index,
                                                p->option);
                out.publicArea = area;
        }
        unique_size = ek_unique_size(&out.publicArea);
        r = nv_read(t, p->nonce_index, unique_size, &nonce);
        if (r == -E2BIG || (r == 0 && nonce.size == 0)) {
                blob_clear(&nonce);
                return error_detail_set(&t->error, -EBADMSG, "the EK nonce at NV 0x%08x does not fit the key",
                                        p->nonce_index);
        }
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0) {
                if (out.publicArea.type == TPM2_ALG_RSA) {
                        out.publicArea.unique.rsa = (TPM2B_PUBLIC_KEY_RSA) { .size = (UINT16) unique_size };
                        memcpy(out.publicArea.unique.rsa.buffer, nonce.data, nonce.size);
                } else {
                        out.publicArea.unique.ecc = (TPMS_ECC_POINT) { .x = { .size = (UINT16) unique_size },
                                                                       .y = { .size = (UINT16) unique_size } };
                        memcpy(out.publicArea.unique.ecc.x.buffer, nonce.data, nonce.size);
                }
                blob_clear(&nonce);
        }
        *ret = out;
        return 0;
}

/* CreatePrimary in the endorsement hierarchy: t->ek, and its public area. */
static int ek_create(AttestTpm *t, const EkProfile *p, TPM2B_PUBLIC *ret_pub) {
        const TPM2B_SENSITIVE_CREATE sensitive = {};
        const TPM2B_DATA outside = {};
        const TPML_PCR_SELECTION creation_pcr = {};
        _cleanup_esys_ TPM2B_PUBLIC *out = NULL;
        TPM2B_PUBLIC template;
        TSS2_RC rc;
        int r;

        r = ek_template(t, p, &template);
        if (r < 0)
                return r;
        rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &sensitive, &template, &outside, &creation_pcr, &t->ek, &out, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                t->ek = ESYS_TR_NONE;
                return tpm_fail(t, rc, "creating the EK (Esys_CreatePrimary)", NULL, 0);
        }
        if (ret_pub)
                *ret_pub = *out;
        return 0;
}

/* A policy session satisfying the EK's policy, in t->session: the
 * low-range EK has userWithAuth clear, so using it as a parent or for
 * ActivateCredential takes PolicySecret(TPM_RH_ENDORSEMENT). Good for one
 * command; the caller flushes it. */
static int ek_policy_session(AttestTpm *t) {
        const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        TSS2_RC rc;

        rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &t->session);
        if (rc != TSS2_RC_SUCCESS) {
                t->session = ESYS_TR_NONE;
                return tpm_fail(t, rc, "starting the EK's policy session (Esys_StartAuthSession)", NULL, 0);
        }
        rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, t->session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(t, rc, "satisfying the EK's policy (Esys_PolicySecret on the endorsement hierarchy)",
                                NULL, 0);
        return 0;
}

/* The DER length of a certificate that may sit in a longer NV index (some
 * carry padding): tag 0x30, then a definite length. */
static int der_length(const uint8_t *data, size_t size, size_t *ret) {
        Cursor c;
        uint8_t tag = 0, len0 = 0;
        size_t len = 0, header;

        cursor_init(&c, data, size);
        cursor_get_u8(&c, &tag);
        cursor_get_u8(&c, &len0);
        if (cursor_error(&c) < 0 || tag != 0x30)
                return -EBADMSG;
        if (len0 < 0x80)
                len = len0;
        else {
                unsigned k = len0 & 0x7Fu;
                if (k == 0 || k > ATTEST_DER_LENGTH_BYTES_MAX)
                        return -EBADMSG;
                for (unsigned i = 0; i < k; i++) {
                        uint8_t b = 0;
                        cursor_get_u8(&c, &b);
                        len = (len << 8) | b;
                }
                if (cursor_error(&c) < 0)
                        return -EBADMSG;
        }
        header = cursor_offset(&c);
        if (len > size - header)
                return -EBADMSG;
        *ret = header + len;
        return 0;
}

/* Reads the EK certificate (empty if the TPM has none) and checks that it
 * certifies `ek`: otherwise this TPM makes its EK from another template. */
static int ek_cert_read(AttestTpm *t, const EkProfile *p, const TPMT_PUBLIC *ek, Blob *ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ek_key = NULL;
        Blob cert = {};
        const uint8_t *q;
        size_t der = 0;
        int r;

        r = nv_read(t, p->cert_index, ATTEST_EK_CERT_MAX, &cert);
        if (r == -ENOENT) {
                blob_clear(ret);
                return 0;
        }
        if (r < 0) {
                _cleanup_free_ char *why = take_ptr(t->error);
                return error_detail_set(&t->error, r, "reading the EK certificate at NV 0x%08x: %s", p->cert_index,
                                        why ? why : strerror(-r));
        }
        if (der_length(cert.data, cert.size, &der) < 0) {
                blob_clear(&cert);
                return error_detail_set(&t->error, -EBADMSG, "NV 0x%08x does not hold a DER certificate",
                                        p->cert_index);
        }
        cert.size = der;
        q = cert.data;
        x = d2i_X509(NULL, &q, (long) cert.size);
        if (!x || q != cert.data + cert.size) {
                blob_clear(&cert);
                return error_detail_set(&t->error, -EBADMSG, "NV 0x%08x does not hold an X.509 certificate",
                                        p->cert_index);
        }
        r = tpm_public_pkey(ek, &ek_key, NULL);
        if (r < 0) {
                blob_clear(&cert);
                return error_detail_set(&t->error, r, "the EK's public area is not a usable key");
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(x), ek_key) != 1) {
                blob_clear(&cert);
                return error_detail_set(&t->error, -EKEYREJECTED,
                                        "no EK template match: the %s this TPM makes is not the key its certificate "
                                        "at NV 0x%08x certifies (the TPM derives its EK from a template Strata does "
                                        "not know)",
                                        p->name, p->cert_index);
        }
        blob_clear(ret);
        *ret = cert;
        return 0;
}

int attest_ek(AttestTpm *t, AttestEkType type, Blob *ret_ek_pub, Blob *ret_ek_cert) {
        _cleanup_flush_ AttestTpm *guard = t;
        const EkProfile *p;
        TPM2B_PUBLIC pub;
        Blob pub_blob = {}, cert = {};
        int r;

        if (!t || !ret_ek_pub || !ret_ek_cert)
                return -EINVAL;
        tpm_error_reset(t);
        p = ek_profile(t, type);
        if (!p)
                return -EINVAL;
        r = ek_create(t, p, &pub);
        if (r < 0)
                return r;
        tpm_flush(t, &t->ek);
        r = ek_cert_read(t, p, &pub.publicArea, &cert);
        if (r < 0)
                return r;
        r = TPM2B_PUBLIC_blob(&pub, &pub_blob);
        if (r < 0) {
                blob_clear(&cert);
                return r;
        }
        blob_clear(ret_ek_pub);
        blob_clear(ret_ek_cert);
        *ret_ek_pub = pub_blob;
        *ret_ek_cert = cert;
        return 0;
}

/* ---- AK ---- */

static const char *key_type_name(TPMI_ALG_PUBLIC type) {
        return type == TPM2_ALG_RSA ? "RSA" : type == TPM2_ALG_ECC ? "ECC" : "unknown";
}

/* Is `pub` an AK made from our template for this EK type? */
static int ak_check(AttestTpm *t, const EkProfile *p, const TPM2B_PUBLIC *pub, const char *dir) {
        const TPMT_PUBLIC *a = &pub->publicArea, *want = &p->ak.publicArea;
        bool same;

        if (a->type != want->type)
                return error_detail_set(&t->error, -EBADMSG,
                                        "%s/" AK_STORE_PUB_NAME " is an %s AK, which belongs to the other EK type, not "
                                        "the %s",
                                        dir, key_type_name(a->type), p->name);
        same = a->nameAlg == want->nameAlg && a->objectAttributes == want->objectAttributes &&
               a->authPolicy.size == 0;
        if (a->type == TPM2_ALG_RSA)
                same = same && a->parameters.rsaDetail.keyBits == want->parameters.rsaDetail.keyBits &&
                       a->parameters.rsaDetail.scheme.scheme == want->parameters.rsaDetail.scheme.scheme &&
                       a->parameters.rsaDetail.scheme.details.rsassa.hashAlg ==
                               want->parameters.rsaDetail.scheme.details.rsassa.hashAlg &&
                       a->parameters.rsaDetail.symmetric.algorithm == TPM2_ALG_NULL;
        else
                same = same && a->parameters.eccDetail.curveID == want->parameters.eccDetail.curveID &&
                       a->parameters.eccDetail.scheme.scheme == want->parameters.eccDetail.scheme.scheme &&
                       a->parameters.eccDetail.scheme.details.ecdsa.hashAlg ==
                               want->parameters.eccDetail.scheme.details.ecdsa.hashAlg &&
                       a->parameters.eccDetail.symmetric.algorithm == TPM2_ALG_NULL;
        if (!same)
                return error_detail_set(&t->error, -EBADMSG,
                                        "%s/" AK_STORE_PUB_NAME " is not a Strata AK (attributes 0x%08x, or its "
                                        "scheme differs)",
                                        dir, a->objectAttributes);
        return 0;
}

/* Esys_Create of a new AK under the (loaded) EK; stored in dir. */
static int ak_create(AttestTpm *t, const EkProfile *p, const char *dir, TPM2B_PUBLIC *ret_pub,
                     TPM2B_PRIVATE *ret_priv) {
        const TPM2B_SENSITIVE_CREATE sensitive = {};
        const TPM2B_DATA outside = {};
        const TPML_PCR_SELECTION creation_pcr = {};
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
        _cleanup_free_ char *why = NULL;
        TSS2_RC rc;
        int r;

        r = ek_policy_session(t);
        if (r < 0)
                return r;
        rc = Esys_Create(t->esys, t->ek, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &p->ak, &outside,
                         &creation_pcr, &priv, &pub, NULL, NULL, NULL);
        tpm_flush(t, &t->session);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_fail(t, rc, "creating the AK under the EK (Esys_Create)", NULL, 0);
        r = ak_store_save(dir, pub, priv, &why);
        if (r < 0)
                return error_detail_set(&t->error, r, "storing the new AK: %s", why ? why : strerror(-r));
        *ret_pub = *pub;
        *ret_priv = *priv;
        return 0;
}

/* Loads the AK from dir (creating it first when `create` and there is
 * none) under a fresh EK: t->ak, and t->ek while keep_ek. The name is
 * ESAPI's, checked against the TPM's answer to Load. */
static int ak_load(AttestTpm *t, const EkProfile *p, const char *dir, bool create, bool keep_ek,
                   TPM2B_PUBLIC *ret_pub, TPM2B_NAME *ret_name) {
        _cleanup_close_ int lock = -1;
        _cleanup_free_ char *why = NULL;
        _cleanup_esys_ TPM2B_NAME *name = NULL;
        TPM2B_PUBLIC pub = {};
        TPM2B_PRIVATE priv = {};
        bool created = false;
        TSS2_RC rc;
        int r;

        if (!dir || !*dir)
                return error_detail_set(&t->error, -EINVAL, "no state directory for the AK");
        /* only attest_ak creates the directory (and its lock file) */
        if (!create && access(dir, F_OK) < 0 && errno == ENOENT)
                return error_detail_set(&t->error, -ENOENT, "no AK in %s yet (attest_ak creates it)", dir);
        r = ak_store_lock(dir, &lock, &why);
        if (r < 0)
                return error_detail_set(&t->error, r, "%s", why ? why : strerror(-r));
        r = ak_store_load(dir, &pub, &priv, &why);
        if (r == -ENOENT && !create)
                return error_detail_set(&t->error, -ENOENT, "no AK in %s yet (attest_ak creates it)", dir);
        if (r < 0 && r != -ENOENT)
                return error_detail_set(&t->error, r,
                                        "the AK blobs are corrupt: %s. The AK is this node's identity and is never "
                                        "recreated silently: move %s/" AK_STORE_PUB_NAME " and %s/" AK_STORE_PRIV_NAME
                                        " aside to make a new one (the node must then be admitted again)",
                                        why ? why : strerror(-r), dir, dir);
        if (r == 0) {
                r = ak_check(t, p, &pub, dir);
                free(why);
                why = take_ptr(t->error);
                if (r < 0)
                        return error_detail_set(&t->error, r,
                                                "%s; never recreated silently: attest with the EK type it was made "
                                                "for, or move %s/" AK_STORE_PUB_NAME " and %s/" AK_STORE_PRIV_NAME
                                                " aside to make a new AK (the node must then be admitted again)",
                                                why ? why : "the stored AK does not fit", dir, dir);
        }
        r = ek_create(t, p, NULL);
        if (r < 0)
                return r;
        if (!pub.size) {
                r = ak_create(t, p, dir, &pub, &priv);
                if (r < 0)
                        return r;
                created = true;
        }
        r = ek_policy_session(t);
        if (r < 0)
                return r;
        rc = Esys_Load(t->esys, t->ek, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &t->ak);
        tpm_flush(t, &t->session);
        secret_wipe(&priv, sizeof(priv));
        if (rc != TSS2_RC_SUCCESS) {
                /* the TPM refusing these blobs, not a TPM-wide condition */
                bool refused = tpm_rc_is_tpm(rc) && !tpm_rc_lookup(attest_errors, ELEMENTSOF(attest_errors), rc);

                t->ak = ESYS_TR_NONE;
                r = tpm_fail(t, rc, "loading the AK under the EK (Esys_Load)", ak_load_errors,
                             ELEMENTSOF(ak_load_errors));
                if (!refused || created)
                        return r;
                free(why);
                why = take_ptr(t->error);
                return error_detail_set(&t->error, -ENOKEY,
                                        "%s. The AK in %s is this node's identity and is never recreated silently: "
                                        "move " AK_STORE_PUB_NAME " and " AK_STORE_PRIV_NAME
                                        " aside to make a new one (the node must then be admitted again)",
                                        why ? why : "the TPM refused the AK blobs", dir);
        }
        if (!keep_ek)
                tpm_flush(t, &t->ek);
        if (ret_name) {
                rc = Esys_TR_GetName(t->esys, t->ak, &name);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_fail(t, rc, "naming the AK (Esys_TR_GetName)", NULL, 0);
                *ret_name = *name;
        }
        if (ret_pub)
                *ret_pub = pub;
        return 0;
}

int attest_ak(AttestTpm *t, AttestEkType ek, const char *state_dir, Blob *ret_ak_pub, Blob *ret_ak_name) {
        _cleanup_flush_ AttestTpm *guard = t;
        const EkProfile *p;
        TPM2B_PUBLIC pub;
        TPM2B_NAME name;
        Blob pub_blob = {};
        int r;

        if (!t || !ret_ak_pub || !ret_ak_name)
                return -EINVAL;
        tpm_error_reset(t);
        p = ek_profile(t, ek);
        if (!p)
                return -EINVAL;
        r = ak_load(t, p, state_dir, true, false, &pub, &name);
        if (r < 0)
                return r;
        tpm_flush_all(t);
        r = TPM2B_PUBLIC_blob(&pub, &pub_blob);
        if (r < 0)
                return r;
        r = blob_copy(ret_ak_name, name.name, name.size);
        if (r < 0) {
                blob_clear(&pub_blob);
                return r;
        }
        blob_clear(ret_ak_pub);
        *ret_ak_pub = pub_blob;
        return 0;
}

/* ---- ActivateCredential ---- */

static void cert_info_wipe(TPM2B_DIGEST **p) {
        if (*p) {
                secret_wipe(*p, sizeof(**p));
                Esys_Free(*p);
        }
}

/* libtpms (swtpm 0.7) answers an RSA seed that does not decrypt under its
 * EK with TPM_RC_FAILURE, format 0, no parameter named: the code that
 * otherwise means failure mode. A TPM in failure mode refuses GetRandom
 * too; a healthy one has refused the credential. */
static bool tpm_is_healthy(AttestTpm *t) {
        _cleanup_esys_ TPM2B_DIGEST *random = NULL;

        return Esys_GetRandom(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 2, &random) == TSS2_RC_SUCCESS;
}

int attest_activate(AttestTpm *t, AttestEkType ek, const char *state_dir, const Blob *credential,
                    const Blob *encrypted_secret, Secret **ret) {
        _cleanup_flush_ AttestTpm *guard = t;
        _cleanup_(cert_info_wipe) TPM2B_DIGEST *cert_info = NULL;
        TPM2B_ID_OBJECT id = {};
        TPM2B_ENCRYPTED_SECRET enc = {};
        const EkProfile *p;
        size_t off = 0;
        Secret *s;
        TSS2_RC rc;
        int r;

        if (!t || !credential || !encrypted_secret || !ret)
                return -EINVAL;
        tpm_error_reset(t);
        p = ek_profile(t, ek);
        if (!p)
                return -EINVAL;
        if (!credential->data ||
            Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential->data, credential->size, &off, &id) != TSS2_RC_SUCCESS ||
            off != credential->size || id.size == 0)
                return error_detail_set(&t->error, -EBADMSG,
                                        "the credential blob is not one marshalled TPM2B_ID_OBJECT (%zu bytes)",
                                        credential->size);
        off = 0;
        if (!encrypted_secret->data ||
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(encrypted_secret->data, encrypted_secret->size, &off, &enc) !=
                    TSS2_RC_SUCCESS ||
            off != encrypted_secret->size || enc.size == 0)
                return error_detail_set(&t->error, -EBADMSG,
                                        "the encrypted secret is not one marshalled TPM2B_ENCRYPTED_SECRET (%zu bytes)",
                                        encrypted_secret->size);

        r = ak_load(t, p, state_dir, false, true, NULL, NULL);
        if (r < 0)
                return r;
        r = ek_policy_session(t);
        if (r < 0)
                return r;
        /* the AK in the ADMIN role (empty password), the EK in the USER role
         * through its policy session */
        rc = Esys_ActivateCredential(t->esys, t->ak, t->ek, ESYS_TR_PASSWORD, t->session, ESYS_TR_NONE, &id, &enc,
                                     &cert_info);
        tpm_flush_all(t);
        if (rc != TSS2_RC_SUCCESS) {
                if (tpm_rc_is_tpm(rc) && (tpm_rc_code(rc) == TPM2_RC_INTEGRITY || tpm_rc_parameter(rc) != 0 ||
                                          (tpm_rc_code(rc) == TPM2_RC_FAILURE && tpm_is_healthy(t))))
                        return error_detail_set(&t->error, -ENOKEY,
                                                "the TPM refused the credential (TPM rc 0x%x): it was not made for "
                                                "this TPM's %s and this AK's name",
                                                rc, p->name);
                return tpm_fail(t, rc, "activating the credential (Esys_ActivateCredential)", NULL, 0);
        }
        s = secret_new_copy(cert_info->buffer, cert_info->size);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- Quote ---- */

static const AttestHash *hash_by_alg(TPMI_ALG_HASH alg) {
        for (size_t i = 0; i < ELEMENTSOF(attest_hashes); i++)
                if (attest_hashes[i].alg == alg)
                        return &attest_hashes[i];
        return NULL;
}

static TPML_PCR_SELECTION pcr_selection(TPMI_ALG_HASH bank, uint32_t mask) {
        TPML_PCR_SELECTION s = { .count = 1 };

        s.pcrSelections[0].hash = bank;
        s.pcrSelections[0].sizeofSelect = ATTEST_PCR_SELECT_SIZE;
        for (unsigned i = 0; i < ATTEST_PCR_SELECT_SIZE; i++)
                s.pcrSelections[0].pcrSelect[i] = (uint8_t) (mask >> (8u * i));
        return s;
}

/* Reads the PCRs of sel into ret. A TPM may answer with fewer PCRs than
 * asked for (8 digests fit a TPML_DIGEST): ask again for the rest. */
static int pcr_read(AttestTpm *t, const PcrSelection *sel, const AttestHash *bank, PcrValues *ret) {
        PcrValues v = { .hash_alg = sel->hash_alg, .size = bank->size };
        uint32_t pending = sel->mask;

        for (unsigned round = 0; pending && round < ATTEST_PCR_READ_ROUNDS; round++) {
                TPML_PCR_SELECTION in = pcr_selection(bank->alg, pending);
                _cleanup_esys_ TPML_PCR_SELECTION *out = NULL;
                _cleanup_esys_ TPML_DIGEST *digests = NULL;
                uint32_t counter = 0, got = 0;
                size_t k = 0;
                TSS2_RC rc;

                rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter, &out, &digests);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_fail(t, rc, "reading PCRs (Esys_PCR_Read)", NULL, 0);
                for (uint32_t s = 0; s < out->count; s++) {
                        const TPMS_PCR_SELECTION *ps = &out->pcrSelections[s];
                        for (unsigned b = 0; b < ps->sizeofSelect && b < sizeof(ps->pcrSelect); b++) {
                                if (!ps->pcrSelect[b])
                                        continue;
                                if (ps->hash != bank->alg || b >= ATTEST_PCR_SELECT_SIZE)
                                        return error_detail_set(&t->error, -EIO,
                                                                "the TPM returned PCRs that were not asked for");
                                got |= (uint32_t) ps->pcrSelect[b] << (8u * b);
                        }
                }
                if ((got & ~pending) || (uint32_t) __builtin_popcount(got) != digests->count)
                        return error_detail_set(&t->error, -EIO, "the TPM returned PCRs that were not asked for");
                if (got == 0)
                        return error_detail_set(&t->error, -EINVAL, "the TPM has no active PCR bank 0x%04x",
                                                bank->alg);
                for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                        if (!(got & (UINT32_C(1) << i)))
                                continue;
                        if (digests->digests[k].size != bank->size)
                                return error_detail_set(&t->error, -EIO, "PCR %u: a %u-byte value in bank 0x%04x", i,
                                                        digests->digests[k].size, bank->alg);
                        memcpy(v.value[i], digests->digests[k++].buffer, bank->size);
                }
                v.mask |= got;
                pending &= ~got;
        }
        if (pending)
                return error_detail_set(&t->error, -EIO, "the TPM did not return every PCR asked for");
        *ret = v;
        return 0;
}

/* Does the quote's pcrDigest cover exactly these values? H is the hash of
 * the AK's signing scheme (TPM 2.0 part 3, 18.4). */
static int quote_covers(AttestTpm *t, const TPM2B_ATTEST *quoted, const PcrValues *v, TPMI_ALG_HASH sig_hash,
                        bool *ret) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned md_size = 0;
        TPMS_ATTEST a = {};
        EVP_MD_CTX *ctx;
        const AttestHash *h = hash_by_alg(sig_hash);
        size_t off = 0;
        bool ok;

        if (Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData, quoted->size, &off, &a) != TSS2_RC_SUCCESS ||
            off != quoted->size || a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE)
                return error_detail_set(&t->error, -EIO, "the TPM's quote is not a TPMS_ATTEST quote");
        if (!h)
                return error_detail_set(&t->error, -EIO, "the AK signs with an unknown hash 0x%04x", sig_hash);
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, h->md(), NULL) == 1;
        for (unsigned i = 0; ok && i < ATTEST_PCR_MAX; i++)
                if (v->mask & (UINT32_C(1) << i))
                        ok = EVP_DigestUpdate(ctx, v->value[i], v->size) == 1;
        ok = ok && EVP_DigestFinal_ex(ctx, md, &md_size) == 1;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -EIO;
        *ret = a.attested.quote.pcrDigest.size == md_size &&
               memcmp(a.attested.quote.pcrDigest.buffer, md, md_size) == 0;
        return 0;
}

int attest_quote(AttestTpm *t, AttestEkType ek, const char *state_dir, const PcrSelection *sel,
                 const uint8_t *nonce, size_t nonce_size, Blob *ret_attest, Blob *ret_signature,
                 PcrValues *ret_pcrs) {
        _cleanup_flush_ AttestTpm *guard = t;
        const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL }; /* the AK's own */
        TPM2B_DATA qualifying = {};
        TPML_PCR_SELECTION pcrs;
        TPM2B_PUBLIC ak_pub;
        const AttestHash *bank;
        const EkProfile *p;
        TPMI_ALG_HASH sig_hash;
        Blob attest = {}, signature = {};
        int r;

        if (!t || !sel || !ret_attest || !ret_signature || !ret_pcrs)
                return -EINVAL;
        tpm_error_reset(t);
        p = ek_profile(t, ek);
        if (!p)
                return -EINVAL;
        bank = hash_by_alg(sel->hash_alg);
        if (!bank)
                return error_detail_set(&t->error, -EINVAL, "PCR bank 0x%04x: not sha1, sha256, sha384 or sha512",
                                        sel->hash_alg);
        if (sel->mask == 0 || sel->mask >> ATTEST_PCR_MAX)
                return error_detail_set(&t->error, -EINVAL, "PCR selection 0x%x: not a non-empty set of PCRs 0..%u",
                                        sel->mask, ATTEST_PCR_MAX - 1u);
        if (nonce_size > ATTEST_NONCE_MAX)
                return error_detail_set(&t->error, -E2BIG, "the nonce is %zu bytes, more than %u", nonce_size,
                                        ATTEST_NONCE_MAX);
        if (nonce_size == 0 || !nonce)
                return error_detail_set(&t->error, -EINVAL, "a quote needs a nonce (its only proof of freshness)");
        qualifying.size = (UINT16) nonce_size;
        memcpy(qualifying.buffer, nonce, nonce_size);
        pcrs = pcr_selection(bank->alg, sel->mask);

        r = ak_load(t, p, state_dir, false, false, &ak_pub, NULL);
        if (r < 0)
                return r;
        sig_hash = ak_pub.publicArea.type == TPM2_ALG_RSA ? ak_pub.publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg
                                                           : ak_pub.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg;
        for (unsigned attempt = 1;; attempt++) {
                _cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
                _cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
                PcrValues values;
                bool covers = false;
                TSS2_RC rc;

                rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying, &scheme,
                                &pcrs, &quoted, &sig);
                if (rc != TSS2_RC_SUCCESS) {
                        if (tpm_rc_code(rc) == TPM2_RC_SIZE && tpm_rc_parameter(rc) == 1)
                                return tpm_fail(t, rc, "quoting (Esys_Quote)", quote_errors, ELEMENTSOF(quote_errors));
                        return tpm_fail(t, rc, "quoting (Esys_Quote)", NULL, 0);
                }
                r = pcr_read(t, sel, bank, &values);
                if (r < 0)
                        return r;
                r = quote_covers(t, quoted, &values, sig_hash, &covers);
                if (r < 0)
                        return r;
                if (!covers) {
                        if (attempt < ATTEST_QUOTE_TRIES)
                                continue;
                        return error_detail_set(&t->error, -EAGAIN,
                                                "the PCRs kept changing between Quote and PCR_Read (%u tries)",
                                                ATTEST_QUOTE_TRIES);
                }
                tpm_flush_all(t);
                r = TPM2B_ATTEST_blob(quoted, &attest);
                if (r >= 0)
                        r = TPMT_SIGNATURE_blob(sig, &signature);
                if (r < 0) {
                        blob_clear(&attest);
                        return r;
                }
                blob_clear(ret_attest);
                blob_clear(ret_signature);
                *ret_attest = attest;
                *ret_signature = signature;
                *ret_pcrs = values;
                return 0;
        }
}

/* ---- the event log ---- */

int attest_eventlog_read(const char *path, Blob *ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;

        if (!ret)
                return -EINVAL;
        fd = open(path ? path : ATTEST_EVENTLOG_DEFAULT, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* securityfs reports size 0: read to the end, up to the cap */
        int r = read_fd_capped(fd, ATTEST_EVENTLOG_MAX, &buf, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return -ENODATA;
        blob_clear(ret);
        ret->data = take_ptr(buf);
        ret->size = n;
        return 0;
}
