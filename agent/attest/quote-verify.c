/* quote-verify: TPM public areas (parse, EVP_PKEY, name), the AK's fitness
 * to sign quotes, and the quote itself: TPMS_ATTEST parsed as a pure
 * function, its TPMT_SIGNATURE checked with the AK, extraData against the
 * nonce, the PCR selection and pcrDigest against the PCR values (TPM 2.0
 * Part 2, 10.12; Part 3, 18.4). OpenSSL 3 EVP only, no deprecated RSA_ or
 * EC_KEY calls. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "core/openssl-cleanup.h"
#include "attest/verify.h"
#include "core/cursor.h"
#include "core/error-detail.h"

/* Limits of this file (the structure caps are in verify.h). */
#define TPM_RSA_BITS_MIN 2048u
#define TPM_RSA_BITS_MAX 4096u
#define TPM_RSA_DEFAULT_EXPONENT 65537u
#define TPM_ECC_COORD_MAX 66u /* P-521 */

typedef struct TpmHash {
        uint16_t alg;
        const char *name;
        size_t size;
        const EVP_MD *(*md)(void);
} TpmHash;

static const TpmHash tpm_hashes[] = {
        { TPM2_ALG_SHA1, "sha1", 20, EVP_sha1 },
        { TPM2_ALG_SHA256, "sha256", 32, EVP_sha256 },
        { TPM2_ALG_SHA384, "sha384", 48, EVP_sha384 },
        { TPM2_ALG_SHA512, "sha512", 64, EVP_sha512 },
};

typedef struct TpmCurve {
        uint16_t curve;
        const char *name;
        size_t size;
} TpmCurve;

static const TpmCurve tpm_curves[] = {
        { TPM2_ECC_NIST_P256, "P-256", 32 },
        { TPM2_ECC_NIST_P384, "P-384", 48 },
        { TPM2_ECC_NIST_P521, "P-521", 66 },
};

static const TpmHash *tpm_hash_find(uint16_t alg) {
        for (size_t i = 0; i < ELEMENTSOF(tpm_hashes); i++)
                if (tpm_hashes[i].alg == alg)
                        return &tpm_hashes[i];
        return NULL;
}

const EVP_MD *tpm_hash_md(uint16_t alg) {
        const TpmHash *h = tpm_hash_find(alg);
        return h ? h->md() : NULL;
}

size_t tpm_hash_size(uint16_t alg) {
        const TpmHash *h = tpm_hash_find(alg);
        return h ? h->size : 0;
}

const char *tpm_hash_name(uint16_t alg) {
        const TpmHash *h = tpm_hash_find(alg);
        return h ? h->name : NULL;
}

int tpm_hash_from_name(const char *name, uint16_t *ret) {
        for (size_t i = 0; name && i < ELEMENTSOF(tpm_hashes); i++)
                if (strcmp(tpm_hashes[i].name, name) == 0) {
                        *ret = tpm_hashes[i].alg;
                        return 0;
                }
        return -EINVAL;
}

int tpm_public_parse(const uint8_t *data, size_t size, TPM2B_PUBLIC *ret, char **reterr) {
        TPM2B_PUBLIC pub = {};
        const uint8_t *body = NULL;
        uint16_t body_size = 0;
        size_t off = 0;
        TSS2_RC rc;
        Cursor c, sub;

        cursor_init(&c, data, size);
        cursor_get_be16(&c, &body_size);
        cursor_sub(&c, body_size, &sub);
        if (cursor_finish(&c) < 0)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_PUBLIC: %s",
                                        cursor_remaining(&c) ? "trailing bytes" : "truncated");
        if (body_size == 0)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_PUBLIC: empty");
        if (cursor_get_span(&sub, body_size, &body) < 0)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_PUBLIC: truncated");
        rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(body, body_size, &off, &pub.publicArea);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_PUBLIC: does not unmarshal (0x%" PRIx32 ")", rc);
        if (off != body_size)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_PUBLIC: %zu trailing bytes in the public area",
                                        body_size - off);
        pub.size = body_size;
        *ret = pub;
        return 0;
}

static const TpmCurve *tpm_curve_find(uint16_t curve) {
        for (size_t i = 0; i < ELEMENTSOF(tpm_curves); i++)
                if (tpm_curves[i].curve == curve)
                        return &tpm_curves[i];
        return NULL;
}


static int tpm_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret, char **reterr) {
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;

        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!params || !ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
                ERR_clear_error();
                return error_detail_set(reterr, -EBADMSG, "%s public key is not usable", type);
        }
        *ret = pkey;
        return 0;
}

int tpm_public_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, char **reterr) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

        if (!bld)
                return -ENOMEM;
        if (pub->type == TPM2_ALG_RSA) {
                const TPMS_RSA_PARMS *p = &pub->parameters.rsaDetail;
                _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;

                if (p->keyBits < TPM_RSA_BITS_MIN || p->keyBits > TPM_RSA_BITS_MAX ||
                    pub->unique.rsa.size * 8u != p->keyBits)
                        return error_detail_set(reterr, -EBADMSG, "RSA key: %u-bit modulus of %u bytes",
                                                p->keyBits, pub->unique.rsa.size);
                n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
                e = BN_new();
                if (!n || !e || BN_set_word(e, p->exponent ? p->exponent : TPM_RSA_DEFAULT_EXPONENT) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
                        return -ENOMEM;
                return tpm_pkey_fromdata("RSA", bld, ret, reterr);
        }
        if (pub->type == TPM2_ALG_ECC) {
                const TpmCurve *curve = tpm_curve_find(pub->parameters.eccDetail.curveID);
                const TPMS_ECC_POINT *q = &pub->unique.ecc;
                uint8_t point[1 + 2 * TPM_ECC_COORD_MAX] = { 0x04 };

                if (!curve)
                        return error_detail_set(reterr, -EOPNOTSUPP, "ECC key: curve 0x%04x is not supported",
                                                pub->parameters.eccDetail.curveID);
                if (q->x.size == 0 || q->x.size > curve->size || q->y.size == 0 || q->y.size > curve->size)
                        return error_detail_set(reterr, -EBADMSG, "ECC key: coordinates of %u and %u bytes on %s",
                                                q->x.size, q->y.size, curve->name);
                /* an uncompressed point, coordinates left-padded to the field size */
                memcpy(point + 1 + curve->size - q->x.size, q->x.buffer, q->x.size);
                memcpy(point + 1 + 2 * curve->size - q->y.size, q->y.buffer, q->y.size);
                if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve->name, 0) != 1 ||
                    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * curve->size) != 1)
                        return -ENOMEM;
                return tpm_pkey_fromdata("EC", bld, ret, reterr);
        }
        return error_detail_set(reterr, -EOPNOTSUPP, "key type 0x%04x is neither RSA nor ECC", pub->type);
}

int tpm_public_name(const TPMT_PUBLIC *pub, uint8_t ret[TPM_NAME_MAX], size_t *ret_size, char **reterr) {
        uint8_t buf[sizeof(TPMT_PUBLIC)];
        const EVP_MD *md = tpm_hash_md(pub->nameAlg);
        unsigned int n = 0;
        size_t off = 0;
        TSS2_RC rc;

        if (!md)
                return error_detail_set(reterr, -EOPNOTSUPP, "nameAlg 0x%04x is not supported", pub->nameAlg);
        rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "public area does not marshal (0x%" PRIx32 ")", rc);
        ret[0] = (uint8_t) (pub->nameAlg >> 8);
        ret[1] = (uint8_t) pub->nameAlg;
        if (EVP_Digest(buf, off, ret + 2, &n, md, NULL) != 1)
                return error_detail_set(reterr, -EIO, "hashing the public area failed");
        *ret_size = 2u + n;
        return 0;
}

int quote_attest_parse_body(const uint8_t *data, size_t size, QuoteInfo *ret, char **reterr) {
        TPMS_ATTEST a = {};
        QuoteInfo q = {};
        size_t off = 0;
        TSS2_RC rc;

        if (size > QUOTE_ATTEST_MAX)
                return error_detail_set(reterr, -EBADMSG, "TPMS_ATTEST: %zu bytes (max %zu)", size,
                                        (size_t) QUOTE_ATTEST_MAX);
        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(data, size, &off, &a);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "TPMS_ATTEST: does not unmarshal (0x%" PRIx32 ")", rc);
        if (off != size)
                return error_detail_set(reterr, -EBADMSG, "TPMS_ATTEST: %zu trailing bytes", size - off);

        q.magic = a.magic;
        q.type = a.type;
        q.signer_size = a.qualifiedSigner.size;
        memcpy(q.signer, a.qualifiedSigner.name, a.qualifiedSigner.size);
        q.extra_size = a.extraData.size;
        memcpy(q.extra, a.extraData.buffer, a.extraData.size);
        q.clock = a.clockInfo.clock;
        q.reset_count = a.clockInfo.resetCount;
        q.restart_count = a.clockInfo.restartCount;
        q.safe = a.clockInfo.safe != 0;
        q.firmware_version = a.firmwareVersion;
        if (a.type == TPM2_ST_ATTEST_QUOTE) {
                const TPMS_QUOTE_INFO *qi = &a.attested.quote;

                if (qi->pcrSelect.count > QUOTE_BANKS_MAX)
                        return error_detail_set(reterr, -EBADMSG, "TPMS_ATTEST: %" PRIu32 " PCR banks",
                                                qi->pcrSelect.count);
                for (uint32_t i = 0; i < qi->pcrSelect.count; i++) {
                        const TPMS_PCR_SELECTION *s = &qi->pcrSelect.pcrSelections[i];
                        uint32_t mask = 0;

                        if (s->sizeofSelect > TPM2_PCR_SELECT_MAX)
                                return error_detail_set(reterr, -EBADMSG, "TPMS_ATTEST: sizeofSelect %u",
                                                        s->sizeofSelect);
                        for (unsigned b = 0; b < s->sizeofSelect; b++)
                                mask |= (uint32_t) s->pcrSelect[b] << (8 * b);
                        if (mask >> ATTEST_PCR_MAX)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "TPMS_ATTEST: selects a PCR above %u", ATTEST_PCR_MAX - 1);
                        q.banks[q.n_banks++] = (PcrSelection) { .hash_alg = s->hash, .mask = mask };
                }
                q.pcr_digest_size = qi->pcrDigest.size;
                memcpy(q.pcr_digest, qi->pcrDigest.buffer, qi->pcrDigest.size);
        }
        *ret = q;
        return 0;
}

int quote_attest_parse(const uint8_t *data, size_t size, QuoteInfo *ret, const uint8_t **ret_body,
                       size_t *ret_body_size, char **reterr) {
        const uint8_t *body = NULL;
        uint16_t body_size = 0;
        Cursor c;
        int r;

        cursor_init(&c, data, size);
        cursor_get_be16(&c, &body_size);
        cursor_get_span(&c, body_size, &body);
        if (cursor_finish(&c) < 0)
                return error_detail_set(reterr, -EBADMSG, "TPM2B_ATTEST: %s",
                                        cursor_remaining(&c) ? "trailing bytes" : "truncated");
        r = quote_attest_parse_body(body, body_size, ret, reterr);
        if (r < 0)
                return r;
        if (ret_body)
                *ret_body = body;
        if (ret_body_size)
                *ret_body_size = body_size;
        return 0;
}

int quote_ak_check(const TPMT_PUBLIC *ak, char **reterr) {
        static const struct {
                TPMA_OBJECT bit;
                const char *name;
        } required[] = {
                { TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
                { TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
                { TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
                { TPMA_OBJECT_RESTRICTED, "restricted" },
                { TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
        };
        TPMI_ALG_SIG_SCHEME scheme;
        uint16_t hash;

        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (!(ak->objectAttributes & required[i].bit))
                        return error_detail_set(reterr, -EPERM, "AK attribute %s is not set", required[i].name);
        if (ak->objectAttributes & TPMA_OBJECT_DECRYPT)
                return error_detail_set(reterr, -EPERM, "AK attribute decrypt is set");
        if (ak->nameAlg != TPM2_ALG_SHA256 && ak->nameAlg != TPM2_ALG_SHA384)
                return error_detail_set(reterr, -EPERM, "AK nameAlg 0x%04x is not sha256 or sha384", ak->nameAlg);
        if (ak->type == TPM2_ALG_RSA) {
                scheme = ak->parameters.rsaDetail.scheme.scheme;
                hash = ak->parameters.rsaDetail.scheme.details.anySig.hashAlg;
                if (scheme != TPM2_ALG_RSASSA && scheme != TPM2_ALG_RSAPSS)
                        return error_detail_set(reterr, -EPERM, "AK RSA scheme 0x%04x is not RSASSA or RSAPSS",
                                                scheme);
        } else if (ak->type == TPM2_ALG_ECC) {
                scheme = ak->parameters.eccDetail.scheme.scheme;
                hash = ak->parameters.eccDetail.scheme.details.anySig.hashAlg;
                if (scheme != TPM2_ALG_ECDSA)
                        return error_detail_set(reterr, -EPERM, "AK ECC scheme 0x%04x is not ECDSA", scheme);
        } else
                return error_detail_set(reterr, -EPERM, "AK type 0x%04x is neither RSA nor ECC", ak->type);
        if (hash != TPM2_ALG_SHA256 && hash != TPM2_ALG_SHA384)
                return error_detail_set(reterr, -EPERM, "AK signing hash 0x%04x is not sha256 or sha384", hash);
        return 0;
}

/* The AK's pinned scheme and hash (quote_ak_check()ed). */
static void quote_ak_scheme(const TPMT_PUBLIC *ak, uint16_t *ret_scheme, uint16_t *ret_hash) {
        if (ak->type == TPM2_ALG_RSA) {
                *ret_scheme = ak->parameters.rsaDetail.scheme.scheme;
                *ret_hash = ak->parameters.rsaDetail.scheme.details.anySig.hashAlg;
        } else {
                *ret_scheme = ak->parameters.eccDetail.scheme.scheme;
                *ret_hash = ak->parameters.eccDetail.scheme.details.anySig.hashAlg;
        }
}

/* ECDSA r, s as the DER SEQUENCE that EVP_DigestVerify takes. */
static int quote_ecdsa_der(const TPMS_SIGNATURE_ECC *e, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        BIGNUM *r, *s;
        uint8_t *der = NULL;
        int n;

        if (!sig)
                return -ENOMEM;
        r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
        s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
        if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
                BN_free(r);
                BN_free(s);
                return -ENOMEM;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n <= 0)
                return -ENOMEM;
        *ret = der;
        *ret_size = (size_t) n;
        return 0;
}

int quote_signature_verify(const TPMT_PUBLIC *ak, const uint8_t *msg, size_t msg_size, const uint8_t *sig,
                           size_t sig_size, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        const uint8_t *raw;
        size_t raw_size, off = 0;
        EVP_PKEY_CTX *pctx = NULL;
        TPMT_SIGNATURE s = {};
        uint16_t scheme = 0, hash = 0;
        const EVP_MD *md;
        TSS2_RC rc;
        int r;

        if (sig_size > QUOTE_SIGNATURE_MAX)
                return error_detail_set(reterr, -EBADMSG, "TPMT_SIGNATURE: %zu bytes", sig_size);
        rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_size, &off, &s);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "TPMT_SIGNATURE: does not unmarshal (0x%" PRIx32 ")", rc);
        if (off != sig_size)
                return error_detail_set(reterr, -EBADMSG, "TPMT_SIGNATURE: %zu trailing bytes", sig_size - off);
        quote_ak_scheme(ak, &scheme, &hash);
        /* every signature union member starts with its hashAlg */
        if (s.sigAlg != scheme || s.signature.any.hashAlg != hash)
                return error_detail_set(reterr, -EPROTO,
                                        "signature algorithm 0x%04x/0x%04x is not the AK's 0x%04x/0x%04x", s.sigAlg,
                                        s.signature.any.hashAlg, scheme, hash);
        md = tpm_hash_md(hash);
        if (!md)
                return error_detail_set(reterr, -EPROTO, "signature hash 0x%04x is not supported", hash);
        if (s.sigAlg == TPM2_ALG_ECDSA) {
                r = quote_ecdsa_der(&s.signature.ecdsa, &der, &raw_size);
                if (r < 0)
                        return r;
                raw = der;
        } else {
                raw = s.signature.rsassa.sig.buffer;
                raw_size = s.signature.rsassa.sig.size;
        }
        r = tpm_public_pkey(ak, &pkey, reterr);
        if (r < 0)
                return r;
        mctx = EVP_MD_CTX_new();
        if (!mctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1)
                goto openssl_fail;
        if (s.sigAlg == TPM2_ALG_RSASSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
                goto openssl_fail;
        /* the TPM's salt length is the hash size or the largest that fits:
         * recover it from the signature */
        if (s.sigAlg == TPM2_ALG_RSAPSS && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
                goto openssl_fail;
        if (EVP_DigestVerify(mctx, raw, raw_size, msg, msg_size) != 1) {
                ERR_clear_error();
                return error_detail_set(reterr, -EKEYREJECTED, "signature does not verify");
        }
        return 0;

openssl_fail:
        ERR_clear_error();
        return error_detail_set(reterr, -EIO, "OpenSSL could not set up the verification");
}

char *quote_selection_format(const PcrSelection *sel, char *buf, size_t size) {
        const char *name = tpm_hash_name(sel->hash_alg);
        Writer w;
        char num[16];
        int n;

        if (size == 0)
                return buf;
        writer_init(&w, buf, size - 1);
        if (name)
                writer_put_bytes(&w, name, strlen(name));
        else {
                n = snprintf(num, sizeof(num), "0x%04x", sel->hash_alg);
                writer_put_bytes(&w, num, (size_t) n);
        }
        writer_put_u8(&w, ':');
        for (unsigned i = 0, first = 1; i < ATTEST_PCR_MAX; i++)
                if (sel->mask & (UINT32_C(1) << i)) {
                        n = snprintf(num, sizeof(num), "%s%u", first ? "" : ",", i);
                        writer_put_bytes(&w, num, (size_t) n);
                        first = 0;
                }
        buf[writer_error(&w) < 0 ? 0 : writer_length(&w)] = '\0';
        return buf;
}

int quote_pcr_digest(const PcrSelection *sel, const PcrValues *values, uint16_t alg, uint8_t *ret, size_t *ret_size,
                     char **reterr) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        const EVP_MD *md = tpm_hash_md(alg);
        unsigned int n = 0;

        if (!ctx)
                return -ENOMEM;
        if (!md)
                return error_detail_set(reterr, -EINVAL, "pcrDigest hash 0x%04x is not supported", alg);
        if (values->hash_alg != sel->hash_alg || values->size != tpm_hash_size(sel->hash_alg))
                return error_detail_set(reterr, -EINVAL, "PCR values are of bank 0x%04x, the selection of 0x%04x",
                                        values->hash_alg, sel->hash_alg);
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1)
                return -EIO;
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                if (!(sel->mask & (UINT32_C(1) << i)))
                        continue;
                if (!(values->mask & (UINT32_C(1) << i)))
                        return error_detail_set(reterr, -ENOENT, "no value for PCR %u", i);
                if (EVP_DigestUpdate(ctx, values->value[i], values->size) != 1)
                        return -EIO;
        }
        if (EVP_DigestFinal_ex(ctx, ret, &n) != 1)
                return -EIO;
        *ret_size = n;
        return 0;
}

static bool quote_selection_equal(const QuoteInfo *q, const PcrSelection *want) {
        return q->n_banks == 1 && q->banks[0].hash_alg == want->hash_alg && q->banks[0].mask == want->mask;
}

int quote_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t attest_size, const uint8_t *sig,
                 size_t sig_size, const QuoteExpect *expect, QuoteInfo *ret_info, AttestReport *report) {
        _cleanup_free_ char *err = NULL;
        const uint8_t *body = NULL;
        size_t body_size = 0, n_before = report->n_lines + report->dropped;
        QuoteInfo q = {};
        int r;

        r = quote_attest_parse(attest, attest_size, &q, &body, &body_size, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(report, "quote does not parse: %s", err ? err : "malformed");
                return -EACCES;
        }
        if (ret_info)
                *ret_info = q;
        if (q.magic != TPM2_GENERATED_VALUE)
                attest_report_add(report, "not a TPM-generated quote (magic 0x%08" PRIx32 ")", q.magic);
        if (q.type != TPM2_ST_ATTEST_QUOTE)
                attest_report_add(report, "attestation is not a quote (type 0x%04x)", q.type);
        if (!expect->nonce || q.extra_size != expect->nonce_size ||
            CRYPTO_memcmp(q.extra, expect->nonce, q.extra_size) != 0)
                attest_report_add(report, "quote nonce does not match");

        r = quote_signature_verify(ak, body, body_size, sig, sig_size, &err);
        if (r == -ENOMEM)
                return r;
        if (r == -EKEYREJECTED)
                attest_report_add(report, "quote signature does not verify with the AK");
        else if (r == -EPROTO)
                attest_report_add(report, "quote signature algorithm is not the AK's scheme: %s", err);
        else if (r < 0)
                attest_report_add(report, "quote signature is unusable: %s", err ? err : "malformed");

        if (q.type == TPM2_ST_ATTEST_QUOTE) {
                uint8_t digest[EVP_MAX_MD_SIZE];
                size_t digest_size = 0;
                uint16_t scheme, hash;
                char got[128], want[128];

                if (!quote_selection_equal(&q, &expect->selection)) {
                        if (q.n_banks == 1)
                                quote_selection_format(&q.banks[0], got, sizeof(got));
                        else
                                snprintf(got, sizeof(got), "%zu banks", q.n_banks);
                        attest_report_add(report, "quote PCR selection %s is not the expected %s", got,
                                          quote_selection_format(&expect->selection, want, sizeof(want)));
                }
                /* pcrDigest uses the signing scheme's hash (Part 3, 18.4) over
                 * what the TPM selected */
                quote_ak_scheme(ak, &scheme, &hash);
                if (q.n_banks != 1 || !expect->pcrs)
                        attest_report_add(report, "pcrDigest does not match the PCR values (no values for the "
                                                  "quoted selection)");
                else {
                        r = quote_pcr_digest(&q.banks[0], expect->pcrs, hash, digest, &digest_size, &err);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                attest_report_add(report, "pcrDigest does not match the PCR values (%s)", err);
                        else if (digest_size != q.pcr_digest_size ||
                                 CRYPTO_memcmp(digest, q.pcr_digest, digest_size) != 0)
                                attest_report_add(report, "pcrDigest does not match the PCR values");
                }
        }
        return report->n_lines + report->dropped > n_before ? -EACCES : 0;
}
