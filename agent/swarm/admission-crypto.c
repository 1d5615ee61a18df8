/* admission-crypto: what binds the admission exchange together: the
 * transcript, the quote's qualifyingData, the transcript HMAC keyed by the
 * activated credential K, and the join bundle sealed under a key derived
 * from K and the transcript (OpenSSL 3 EVP: SHA-256, HMAC, HKDF, AES-GCM). */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/openssl-cleanup.h"
#include "swarm/admission.h"

#define BUNDLE_KEY_SIZE 32u /* AES-256 */

DEFINE_CLEANUP(EVP_MAC *, EVP_MAC_free)
DEFINE_CLEANUP(EVP_MAC_CTX *, EVP_MAC_CTX_free)
DEFINE_CLEANUP(EVP_KDF *, EVP_KDF_free)
DEFINE_CLEANUP(EVP_KDF_CTX *, EVP_KDF_CTX_free)

char *admission_hex(const uint8_t *p, size_t size, char *buf) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < size; i++) {
                buf[2 * i] = digits[p[i] >> 4];
                buf[2 * i + 1] = digits[p[i] & 0xf];
        }
        buf[2 * size] = '\0';
        return buf;
}

int admission_sha256(const void *data, size_t size, uint8_t ret[32]) {
        return EVP_Digest(data, size, ret, NULL, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
}

int admission_transcript(const char *hello, const char *challenge, const char *evidence, char **ret,
                         size_t *ret_size) {
        size_t a = strlen(hello), b = strlen(challenge), c = strlen(evidence);
        char *t = malloc(a + b + c + 1);

        if (!t)
                return -ENOMEM;
        memcpy(t, hello, a);
        memcpy(t + a, challenge, b);
        memcpy(t + a + b, evidence, c);
        t[a + b + c] = '\0';
        *ret = t;
        *ret_size = a + b + c;
        return 0;
}

int admission_qualifying_data(const uint8_t nonce[ADMISSION_NONCE_SIZE], const Blob *chan_pub,
                              const uint8_t *ak_name, size_t ak_name_size,
                              const uint8_t sponsor_id[ADMISSION_ID_SIZE], uint8_t ret[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t chan_digest[32];
        int r;

        if (!ctx)
                return -ENOMEM;
        r = admission_sha256(chan_pub->data, chan_pub->size, chan_digest);
        if (r < 0)
                return r;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, ADMISSION_QD_LABEL, strlen(ADMISSION_QD_LABEL)) != 1 ||
            EVP_DigestUpdate(ctx, nonce, ADMISSION_NONCE_SIZE) != 1 ||
            EVP_DigestUpdate(ctx, chan_digest, sizeof(chan_digest)) != 1 ||
            EVP_DigestUpdate(ctx, ak_name, ak_name_size) != 1 ||
            EVP_DigestUpdate(ctx, sponsor_id, ADMISSION_ID_SIZE) != 1 || EVP_DigestFinal_ex(ctx, ret, NULL) != 1)
                return -ENOMEM;
        return 0;
}

int admission_hmac(const Secret *k, const void *transcript, size_t size, uint8_t ret[ADMISSION_HMAC_SIZE]) {
        _cleanup_(EVP_MAC_freep) EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        _cleanup_(EVP_MAC_CTX_freep) EVP_MAC_CTX *ctx = NULL;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_end(),
        };
        size_t n = 0;

        if (!mac || !(ctx = EVP_MAC_CTX_new(mac)))
                return -ENOMEM;
        if (EVP_MAC_init(ctx, k->data, k->size, params) != 1 || EVP_MAC_update(ctx, transcript, size) != 1 ||
            EVP_MAC_final(ctx, ret, &n, ADMISSION_HMAC_SIZE) != 1 || n != ADMISSION_HMAC_SIZE)
                return -EIO;
        return 0;
}

int admission_hmac_verify(const Secret *k, const void *transcript, size_t size,
                          const uint8_t mac[ADMISSION_HMAC_SIZE]) {
        uint8_t want[ADMISSION_HMAC_SIZE];
        int r;

        r = admission_hmac(k, transcript, size, want);
        if (r < 0)
                return r;
        return CRYPTO_memcmp(want, mac, sizeof(want)) == 0 ? 0 : -EBADMSG;
}

/* HKDF-SHA256(ikm = K, salt = transcript, info = label) -> 32 bytes. */
static int bundle_key(const Secret *k, const void *transcript, size_t size, Secret **ret) {
        _cleanup_(EVP_KDF_freep) EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = NULL;
        _cleanup_secret_ Secret *key = secret_new(BUNDLE_KEY_SIZE);
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, k->data, k->size),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) transcript, size),
                OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *) ADMISSION_BUNDLE_LABEL,
                                                  strlen(ADMISSION_BUNDLE_LABEL)),
                OSSL_PARAM_construct_end(),
        };

        if (!kdf || !key || !(ctx = EVP_KDF_CTX_new(kdf)))
                return -ENOMEM;
        if (EVP_KDF_derive(ctx, key->data, key->size, params) != 1)
                return -EIO;
        *ret = take_ptr(key);
        return 0;
}

int admission_bundle_seal(const Secret *k, const void *transcript, size_t transcript_size, const void *plaintext,
                          size_t size, AdmissionSealed *ret) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        _cleanup_secret_ Secret *key = NULL;
        AdmissionSealed s = {};
        int n = 0, fin = 0, r;

        if (!ctx)
                return -ENOMEM;
        if (size == 0 || size > ADMISSION_BUNDLE_MAX)
                return -E2BIG;
        r = bundle_key(k, transcript, transcript_size, &key);
        if (r < 0)
                return r;
        if (RAND_bytes(s.iv, sizeof(s.iv)) != 1)
                return -EIO;
        s.ciphertext.data = malloc(size);
        if (!s.ciphertext.data)
                return -ENOMEM;
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int) sizeof(s.iv), NULL) != 1 ||
            EVP_EncryptInit_ex(ctx, NULL, NULL, key->data, s.iv) != 1 ||
            EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *) ADMISSION_BUNDLE_LABEL,
                              (int) strlen(ADMISSION_BUNDLE_LABEL)) != 1 ||
            EVP_EncryptUpdate(ctx, s.ciphertext.data, &n, plaintext, (int) size) != 1 ||
            EVP_EncryptFinal_ex(ctx, s.ciphertext.data + n, &fin) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int) sizeof(s.tag), s.tag) != 1) {
                blob_clear(&s.ciphertext);
                return -EIO;
        }
        s.ciphertext.size = (size_t) n + (size_t) fin;
        *ret = s;
        return 0;
}

int admission_bundle_open(const Secret *k, const void *transcript, size_t transcript_size,
                          const AdmissionSealed *sealed, Secret **ret) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        _cleanup_secret_ Secret *key = NULL, *pt = NULL;
        int n = 0, fin = 0, r;

        if (!ctx)
                return -ENOMEM;
        if (sealed->ciphertext.size == 0 || sealed->ciphertext.size > ADMISSION_BUNDLE_MAX)
                return -EBADMSG;
        r = bundle_key(k, transcript, transcript_size, &key);
        if (r < 0)
                return r;
        pt = secret_new(sealed->ciphertext.size);
        if (!pt)
                return -ENOMEM;
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int) sizeof(sealed->iv), NULL) != 1 ||
            EVP_DecryptInit_ex(ctx, NULL, NULL, key->data, sealed->iv) != 1 ||
            EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *) ADMISSION_BUNDLE_LABEL,
                              (int) strlen(ADMISSION_BUNDLE_LABEL)) != 1 ||
            EVP_DecryptUpdate(ctx, pt->data, &n, sealed->ciphertext.data, (int) sealed->ciphertext.size) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int) sizeof(sealed->tag), (void *) sealed->tag) != 1)
                return -EIO;
        if (EVP_DecryptFinal_ex(ctx, pt->data + n, &fin) != 1)
                return -EBADMSG;
        pt->size = (size_t) n + (size_t) fin;
        *ret = take_ptr(pt);
        return 0;
}
