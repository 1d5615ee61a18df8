/* makecred: TPM2_MakeCredential done by the verifier in software (TPM 2.0
 * Part 1, 24 "Credential Protection"; Part 3, 12.6), so that a challenge
 * can be opened only by the TPM holding the EK, and only for the key whose
 * name it binds (the AK). Interoperates with TPM2_ActivateCredential and
 * with tpm2_makecredential -T none. All parameters (hash, curve, AES size)
 * come from the EK's public area. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "core/openssl-cleanup.h"
#include "attest/verify.h"
#include "core/cursor.h"
#include "core/error-detail.h"

/* Limits of this file. */
#define MAKECRED_SEED_MAX 64u           /* n = |nameAlg| */
#define MAKECRED_SYM_KEY_MAX 32u        /* AES-256 */
#define MAKECRED_ECC_COORD_MAX 66u      /* P-521 */
#define MAKECRED_KDF_BITS_MAX (8u * 64u)

/* Labels include their terminating NUL (Part 1, 11.4.10.4 and 24.4). */
static const char label_identity[] = "IDENTITY";
static const char label_storage[] = "STORAGE";
static const char label_integrity[] = "INTEGRITY";

typedef struct MakecredCurve {
        uint16_t curve;
        const char *name;
        size_t size;
} MakecredCurve;

static const MakecredCurve makecred_curves[] = {
        { TPM2_ECC_NIST_P256, "P-256", 32 },
        { TPM2_ECC_NIST_P384, "P-384", 48 },
        { TPM2_ECC_NIST_P521, "P-521", 66 },
};

typedef struct MakecredAes {
        uint16_t bits;
        const EVP_CIPHER *(*cipher)(void);
} MakecredAes;

static const MakecredAes makecred_aes[] = {
        { 128, EVP_aes_128_cfb128 },
        { 192, EVP_aes_192_cfb128 },
        { 256, EVP_aes_256_cfb128 },
};


/* KDFa (Part 1, 11.4.10.2; SP 800-108 counter mode with HMAC-H):
 * block i = HMAC(key, BE32(i) || label\0 || u || v || BE32(bits)). */
static int makecred_kdfa(const EVP_MD *md, const uint8_t *key, size_t key_size, const char *label,
                         const uint8_t *u, size_t u_size, const uint8_t *v, size_t v_size, uint32_t bits,
                         uint8_t *ret) {
        uint8_t block[EVP_MAX_MD_SIZE], msg[4 + 16 + TPM_NAME_MAX + 4];
        size_t want = bits / 8, done = 0;
        Writer w;

        for (uint32_t i = 1; done < want; i++) {
                unsigned int n = 0;

                writer_init(&w, msg, sizeof(msg));
                writer_put_be32(&w, i);
                writer_put_bytes(&w, label, strlen(label) + 1);
                writer_put_bytes(&w, u, u_size);
                writer_put_bytes(&w, v, v_size);
                writer_put_be32(&w, bits);
                if (writer_error(&w) < 0)
                        return -EINVAL;
                if (!HMAC(md, key, (int) key_size, msg, writer_length(&w), block, &n))
                        return -EIO;
                memcpy(ret + done, block, want - done < n ? want - done : n);
                done += want - done < n ? want - done : n;
        }
        secret_wipe(block, sizeof(block));
        return 0;
}

/* KDFe (Part 1, 11.4.10.3; SP 800-56A concatenation KDF):
 * block i = H(BE32(i) || Z || label\0 || u || v). */
static int makecred_kdfe(const EVP_MD *md, const uint8_t *z, size_t z_size, const char *label, const uint8_t *u,
                         size_t u_size, const uint8_t *v, size_t v_size, size_t want, uint8_t *ret) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t block[EVP_MAX_MD_SIZE], counter[4];
        size_t done = 0;

        if (!ctx)
                return -ENOMEM;
        for (uint32_t i = 1; done < want; i++) {
                unsigned int n = 0;

                counter[0] = (uint8_t) (i >> 24);
                counter[1] = (uint8_t) (i >> 16);
                counter[2] = (uint8_t) (i >> 8);
                counter[3] = (uint8_t) i;
                if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, counter, 4) != 1 ||
                    EVP_DigestUpdate(ctx, z, z_size) != 1 ||
                    EVP_DigestUpdate(ctx, label, strlen(label) + 1) != 1 || EVP_DigestUpdate(ctx, u, u_size) != 1 ||
                    EVP_DigestUpdate(ctx, v, v_size) != 1 || EVP_DigestFinal_ex(ctx, block, &n) != 1)
                        return -EIO;
                memcpy(ret + done, block, want - done < n ? want - done : n);
                done += want - done < n ? want - done : n;
        }
        secret_wipe(block, sizeof(block));
        return 0;
}

/* RSA EK: a random seed, OAEP-encrypted with H for hash and MGF1 and the
 * label "IDENTITY\0" (Part 1, B.10.3). */
static int makecred_seed_rsa(const TPMT_PUBLIC *ek, const EVP_MD *md, uint8_t *seed, size_t n, Writer *secret,
                             char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t out[TPM2_MAX_RSA_KEY_BYTES];
        size_t out_size = sizeof(out);
        unsigned char *label;
        int r;

        r = tpm_public_pkey(ek, &pkey, reterr);
        if (r < 0)
                return r;
        if (RAND_priv_bytes(seed, (int) n) != 1)
                return error_detail_set(reterr, -EIO, "no random bytes for the seed");
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!ctx)
                return -ENOMEM;
        /* set0 takes ownership of an OPENSSL_malloc'd label */
        label = OPENSSL_memdup(label_identity, sizeof(label_identity));
        if (!label)
                return -ENOMEM;
        if (EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1) {
                OPENSSL_free(label);
                goto fail;
        }
        if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, sizeof(label_identity)) != 1) {
                OPENSSL_free(label);
                goto fail;
        }
        if (EVP_PKEY_encrypt(ctx, out, &out_size, seed, n) != 1)
                goto fail;
        writer_put_be16(secret, (uint16_t) out_size);
        writer_put_bytes(secret, out, out_size);
        return 0;
fail:
        ERR_clear_error();
        return error_detail_set(reterr, -EIO, "RSA-OAEP encryption of the seed failed");
}

/* ECC EK: ECDH with an ephemeral key on the EK's curve; seed = KDFe(H, Z,
 * "IDENTITY\0", ephemeral x, EK x); the secret is the ephemeral point
 * (Part 1, C.6.4). */
static int makecred_seed_ecc(const TPMT_PUBLIC *ek, const EVP_MD *md, uint8_t *seed, size_t n, Writer *secret,
                             char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL, *eph = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
        uint8_t z[MAKECRED_ECC_COORD_MAX], ex[MAKECRED_ECC_COORD_MAX], ey[MAKECRED_ECC_COORD_MAX];
        const MakecredCurve *curve = NULL;
        size_t z_size = sizeof(z);
        int r;

        for (size_t i = 0; i < ELEMENTSOF(makecred_curves); i++)
                if (makecred_curves[i].curve == ek->parameters.eccDetail.curveID)
                        curve = &makecred_curves[i];
        if (!curve)
                return error_detail_set(reterr, -EOPNOTSUPP, "EK curve 0x%04x is not supported",
                                        ek->parameters.eccDetail.curveID);
        r = tpm_public_pkey(ek, &pkey, reterr);
        if (r < 0)
                return r;
        eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve->name);
        if (!eph)
                goto fail;
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
        if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pkey) != 1 ||
            EVP_PKEY_derive(ctx, z, &z_size) != 1 || z_size != curve->size)
                goto fail;
        if (EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
            EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
            BN_bn2binpad(x, ex, (int) curve->size) < 0 || BN_bn2binpad(y, ey, (int) curve->size) < 0)
                goto fail;
        r = makecred_kdfe(md, z, z_size, label_identity, ex, curve->size, ek->unique.ecc.x.buffer,
                          ek->unique.ecc.x.size, n, seed);
        secret_wipe(z, sizeof(z));
        if (r < 0)
                return error_detail_set(reterr, r, "KDFe failed");
        /* TPM2B_ENCRYPTED_SECRET holding a marshalled TPMS_ECC_POINT */
        writer_put_be16(secret, (uint16_t) (4 + 2 * curve->size));
        writer_put_be16(secret, (uint16_t) curve->size);
        writer_put_bytes(secret, ex, curve->size);
        writer_put_be16(secret, (uint16_t) curve->size);
        writer_put_bytes(secret, ey, curve->size);
        return 0;
fail:
        secret_wipe(z, sizeof(z));
        ERR_clear_error();
        return error_detail_set(reterr, -EIO, "ECDH with an ephemeral %s key failed", curve->name);
}

static int makecred_blob(const Writer *w, Blob *ret) {
        uint8_t *p = malloc(writer_length(w) ? writer_length(w) : 1);

        if (!p)
                return -ENOMEM;
        memcpy(p, w->data, writer_length(w));
        *ret = (Blob) { .data = p, .size = writer_length(w) };
        return 0;
}

int makecred_build(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_size, const Secret *credential,
                   Blob *ret_id_object, Blob *ret_encrypted_secret, char **reterr) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
        uint8_t seed[MAKECRED_SEED_MAX], sym_key[MAKECRED_SYM_KEY_MAX], hmac_key[MAKECRED_SEED_MAX];
        uint8_t plain[2 + MAKECRED_SEED_MAX], enc[2 + MAKECRED_SEED_MAX], mac_in[sizeof(enc) + TPM_NAME_MAX];
        uint8_t integrity[EVP_MAX_MD_SIZE], id_buf[sizeof(TPM2B_ID_OBJECT)], secret_buf[sizeof(TPM2B_ENCRYPTED_SECRET)];
        const TPMT_SYM_DEF_OBJECT *sym = &ek->parameters.asymDetail.symmetric;
        const EVP_CIPHER *cipher = NULL;
        const EVP_MD *md = tpm_hash_md(ek->nameAlg);
        size_t n = tpm_hash_size(ek->nameAlg), plain_size;
        unsigned int mac_size = 0;
        Blob id = {}, sec = {};
        Writer wid, wsec;
        int r, len = 0, fin = 0;

        if (!md || n < 32)
                return error_detail_set(reterr, -EOPNOTSUPP, "EK nameAlg 0x%04x is not supported", ek->nameAlg);
        if ((ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC) ||
            !(ek->objectAttributes & TPMA_OBJECT_RESTRICTED) || !(ek->objectAttributes & TPMA_OBJECT_DECRYPT))
                return error_detail_set(reterr, -EOPNOTSUPP, "EK is not an RSA or ECC restricted decryption key");
        for (size_t i = 0; i < ELEMENTSOF(makecred_aes); i++)
                if (sym->algorithm == TPM2_ALG_AES && sym->mode.aes == TPM2_ALG_CFB &&
                    sym->keyBits.aes == makecred_aes[i].bits)
                        cipher = makecred_aes[i].cipher();
        if (!cipher)
                return error_detail_set(reterr, -EOPNOTSUPP, "EK symmetric scheme is not AES-CFB");
        if (!credential || credential->size == 0 || credential->size > n)
                return error_detail_set(reterr, -EINVAL, "credential must be 1..%zu bytes", n);
        if (name_size < 2 || name_size > TPM_NAME_MAX ||
            name_size != 2 + tpm_hash_size((uint16_t) (name[0] << 8 | name[1])))
                return error_detail_set(reterr, -EINVAL, "object name of %zu bytes is not a digest name", name_size);

        writer_init(&wsec, secret_buf, sizeof(secret_buf));
        if (ek->type == TPM2_ALG_RSA)
                r = makecred_seed_rsa(ek, md, seed, n, &wsec, reterr);
        else
                r = makecred_seed_ecc(ek, md, seed, n, &wsec, reterr);
        if (r < 0)
                goto out;

        /* symKey = KDFa(seed, "STORAGE", name, -, keyBits) and
         * hmacKey = KDFa(seed, "INTEGRITY", -, -, 8n) (Part 1, 24.4/24.5) */
        r = makecred_kdfa(md, seed, n, label_storage, name, name_size, NULL, 0, sym->keyBits.aes, sym_key);
        if (r >= 0)
                r = makecred_kdfa(md, seed, n, label_integrity, NULL, 0, NULL, 0, (uint32_t) (8 * n), hmac_key);
        if (r < 0) {
                r = error_detail_set(reterr, r, "KDFa failed");
                goto out;
        }

        /* encIdentity = AES-CFB(symKey, IV 0, TPM2B_DIGEST(credential)) */
        plain[0] = (uint8_t) (credential->size >> 8);
        plain[1] = (uint8_t) credential->size;
        memcpy(plain + 2, credential->data, credential->size);
        plain_size = 2 + credential->size;
        cctx = EVP_CIPHER_CTX_new();
        if (!cctx) {
                r = -ENOMEM;
                goto out;
        }
        {
                static const uint8_t iv[16] = {};
                if (EVP_EncryptInit_ex(cctx, cipher, NULL, sym_key, iv) != 1 ||
                    EVP_EncryptUpdate(cctx, enc, &len, plain, (int) plain_size) != 1 ||
                    EVP_EncryptFinal_ex(cctx, enc + len, &fin) != 1 || (size_t) (len + fin) != plain_size) {
                        ERR_clear_error();
                        r = error_detail_set(reterr, -EIO, "AES-CFB failed");
                        goto out;
                }
        }

        /* integrity = HMAC-H(hmacKey, encIdentity || name) (Part 1, 24.5) */
        memcpy(mac_in, enc, plain_size);
        memcpy(mac_in + plain_size, name, name_size);
        if (!HMAC(md, hmac_key, (int) n, mac_in, plain_size + name_size, integrity, &mac_size)) {
                r = error_detail_set(reterr, -EIO, "HMAC failed");
                goto out;
        }

        /* TPM2B_ID_OBJECT: size || TPM2B_DIGEST(integrity) || encIdentity */
        writer_init(&wid, id_buf, sizeof(id_buf));
        writer_put_be16(&wid, (uint16_t) (2 + mac_size + plain_size));
        writer_put_be16(&wid, (uint16_t) mac_size);
        writer_put_bytes(&wid, integrity, mac_size);
        writer_put_bytes(&wid, enc, plain_size);
        if (writer_error(&wid) < 0 || writer_error(&wsec) < 0) {
                r = error_detail_set(reterr, -EINVAL, "credential does not fit its TPM2B");
                goto out;
        }
        r = makecred_blob(&wid, &id);
        if (r >= 0)
                r = makecred_blob(&wsec, &sec);
        if (r < 0) {
                free(id.data);
                goto out;
        }
        *ret_id_object = id;
        *ret_encrypted_secret = sec;
        r = 0;
out:
        secret_wipe(seed, sizeof(seed));
        secret_wipe(sym_key, sizeof(sym_key));
        secret_wipe(hmac_key, sizeof(hmac_key));
        secret_wipe(plain, sizeof(plain));
        return r;
}
