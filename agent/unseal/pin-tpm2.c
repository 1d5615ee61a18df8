/* The tpm2 pin (see pin-tpm2.h): parsing the clevis.tpm2 header member and
 * the seal config, the primary key templates clevis' shell pin gets from
 * tpm2-tools defaults, PCR policy digests computed in software, and the
 * ESAPI sequences for seal and unseal, each flushing every transient handle
 * on every path (a TPM without a resource manager has three object slots). */
#include "unseal/pin-tpm2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/jose.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "core/error-detail.h"
#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/tpm-rc.h"

/* Limits on what a header member or a config may carry. */
#define TPM2_PIN_NAME_MAX 16u                  /* "sha256", "ecc": the table's names */
#define TPM2_PIN_PCR_IDS_MAX 96u               /* "0,1,...,23" is 61 chars */
#define TPM2_PIN_PCR_ID_DIGITS 2u              /* "7" or "07"; never "007" */
#define TPM2_PIN_PCR_SELECT_SIZE (TPM2_PIN_PCR_COUNT / 8u) /* sizeofSelect: 3 */
#define TPM2_PIN_PUB_MAX sizeof(TPM2B_PUBLIC)  /* decoded jwk_pub, more than any marshalled one */
#define TPM2_PIN_PRIV_MAX sizeof(TPM2B_PRIVATE)
#define TPM2_PIN_B64_LEN(n) ((((n) + 2u) / 3u) * 4u)
#define TPM2_PIN_PCR_VALUES_MAX (TPM2_PIN_PCR_COUNT * TPM2_SHA512_DIGEST_SIZE)
/* PolicyPCR input: old digest, command code, selection, PCR digest. */
#define TPM2_PIN_POLICY_INPUT_MAX (TPM2_SHA512_DIGEST_SIZE + 4u + sizeof(TPML_PCR_SELECTION) + TPM2_SHA512_DIGEST_SIZE)
/* Each PCR_Read returns at least one PCR (or we stop): at most one call per PCR. */
#define TPM2_PIN_PCR_READ_ROUNDS TPM2_PIN_PCR_COUNT
/* TPM_RC_PCR_CHANGED: a PCR was extended between PolicyPCR and Unseal. */
#define TPM2_PIN_UNSEAL_TRIES 3u
#define TPM2_PIN_CEK_SIZE 32u                  /* A256GCM */

/* tpm2-tools' default object attributes for a primary key:
 * restricted|decrypt|fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth. */
#define TPM2_PIN_PRIMARY_ATTRS                                                                   \
        (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |                   \
         TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH)
/* clevis: "fixedtpm|fixedparent|noda|adminwithpolicy" (0x492), plus
 * "userwithauth" (0x4D2) when there is no policy. */
#define TPM2_PIN_SEALED_ATTRS                                                                    \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA |                     \
         TPMA_OBJECT_ADMINWITHPOLICY)

typedef struct Tpm2Hash {
        const char *name; /* as clevis and tpm2-tools spell it */
        TPMI_ALG_HASH alg;
        uint16_t size;
        const EVP_MD *(*md)(void);
} Tpm2Hash;

/* Row 1 (sha256) is the default hash and, in Strata, the default bank. */
static const Tpm2Hash tpm2_hashes[] = {
        { "sha1", TPM2_ALG_SHA1, TPM2_SHA1_DIGEST_SIZE, EVP_sha1 },
        { "sha256", TPM2_ALG_SHA256, TPM2_SHA256_DIGEST_SIZE, EVP_sha256 },
        { "sha384", TPM2_ALG_SHA384, TPM2_SHA384_DIGEST_SIZE, EVP_sha384 },
        { "sha512", TPM2_ALG_SHA512, TPM2_SHA512_DIGEST_SIZE, EVP_sha512 },
};

/* The primary key clevis makes with `tpm2_createprimary -C o -g HASH -G KEY`:
 * tpm2-tools' defaults for "ecc" and "rsa". They must match bit for bit, or
 * Load fails with TPM_RC_INTEGRITY. nameAlg comes from the hash; the unique
 * field stays empty (not the TCG SRK template). */
typedef struct Tpm2Key {
        const char *name;
        TPMI_ALG_PUBLIC alg;
        TPMU_PUBLIC_PARMS parameters;
} Tpm2Key;

/* Row 0 (ecc) is the default. */
static const Tpm2Key tpm2_keys[] = {
        { "ecc", TPM2_ALG_ECC,
          { .eccDetail = {
                .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                .scheme = { .scheme = TPM2_ALG_NULL },
                .curveID = TPM2_ECC_NIST_P256,
                .kdf = { .scheme = TPM2_ALG_NULL },
          } } },
        { "rsa", TPM2_ALG_RSA,
          { .rsaDetail = {
                .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                .scheme = { .scheme = TPM2_ALG_NULL },
                .keyBits = 2048,
                .exponent = 0,
          } } },
};

#define TPM2_PIN_DEFAULT_HASH (&tpm2_hashes[1])
#define TPM2_PIN_DEFAULT_KEY (&tpm2_keys[0])

/* TPM response codes worth a sentence; the rest are printed in hex. Format-1
 * codes are matched without their handle/session/parameter number. `error`
 * is what tpm2_pin_* return. */
static const TpmRcRow tpm2_errors[] = {
        { TPM2_RC_POLICY_FAIL, "TPM_RC_POLICY_FAIL", -ENOKEY, "PCRs changed since binding" },
        { TPM2_RC_PCR_CHANGED, "TPM_RC_PCR_CHANGED", -EIO, "PCRs kept changing during the policy session" },
        { TPM2_RC_INTEGRITY, "TPM_RC_INTEGRITY", -ENOKEY,
          "the sealed key does not belong to this TPM (or its owner seed was cleared)" },
        { TPM2_RC_BAD_AUTH, "TPM_RC_BAD_AUTH", -ENOKEY,
          "the owner hierarchy has a password (clevis assumes none)" },
        { TPM2_RC_AUTH_FAIL, "TPM_RC_AUTH_FAIL", -ENOKEY,
          "the owner hierarchy has a password (clevis assumes none)" },
        { TPM2_RC_HIERARCHY, "TPM_RC_HIERARCHY", -ENOKEY, "the owner hierarchy is disabled" },
        { TPM2_RC_OBJECT_MEMORY, "TPM_RC_OBJECT_MEMORY", -EIO,
          "the TPM is out of object slots (transient objects leaked; no resource manager?)" },
        { TPM2_RC_SESSION_MEMORY, "TPM_RC_SESSION_MEMORY", -EIO, "the TPM is out of session slots" },
        { TPM2_RC_LOCKOUT, "TPM_RC_LOCKOUT", -EIO, "the TPM is in dictionary-attack lockout" },
        { TPM2_RC_INITIALIZE, "TPM_RC_INITIALIZE", -EIO, "the TPM was not started (TPM2_Startup)" },
};

/* Member fields of Rust clevis-pin-tpm2's "tpm2plus" authorized policies,
 * which a PolicyPCR session cannot satisfy. */
static const char *const tpm2_unsupported_fields[] = { "policy_pubkey_path", "policy_ref", "policy_path" };

/* Config keys of clevis 19's tpm2 pin. Others are refused: a typo such as
 * "pcr_id" would otherwise seal without the policy the user asked for. */
static const char *const tpm2_config_keys[] = { "hash", "key", "pcr_bank", "pcr_ids", "pcr_digest" };

/* ---- parsing (pure) ---- */

static bool json_string_is(const json_t *v, const char *s) {
        size_t n = strlen(s);
        return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* Looks a name field up in a table of rows starting with `const char *name`.
 * Absent: the default row. Not a string or unknown: NULL. */
#define TABLE_LOOKUP(table, v, def)                                          \
        ({                                                                   \
                const __typeof__((table)[0]) *_row = NULL;                   \
                if (!(v))                                                    \
                        _row = (def);                                        \
                else                                                         \
                        for (size_t _i = 0; _i < ELEMENTSOF(table); _i++)    \
                                if (json_string_is((v), (table)[_i].name)) { \
                                        _row = &(table)[_i];                 \
                                        break;                               \
                                }                                            \
                _row;                                                        \
        })

static const Tpm2Hash *hash_by_alg(TPMI_ALG_HASH alg) {
        for (size_t i = 0; i < ELEMENTSOF(tpm2_hashes); i++)
                if (tpm2_hashes[i].alg == alg)
                        return &tpm2_hashes[i];
        return NULL;
}

static const Tpm2Key *key_by_alg(TPMI_ALG_PUBLIC alg) {
        for (size_t i = 0; i < ELEMENTSOF(tpm2_keys); i++)
                if (tpm2_keys[i].alg == alg)
                        return &tpm2_keys[i];
        return NULL;
}

/* "0,1,7": decimal ids 0..23, one or two digits, separated by single commas,
 * no duplicates. Sets bit i of *ret for PCR i. */
static int pcr_ids_parse(const char *s, size_t len, uint32_t *ret, char **reterr) {
        uint32_t mask = 0;
        size_t i = 0;

        if (len == 0)
                return error_detail_set(reterr, -EBADMSG, "pcr_ids: empty");
        if (len > TPM2_PIN_PCR_IDS_MAX)
                return error_detail_set(reterr, -EBADMSG, "pcr_ids: longer than %u characters", TPM2_PIN_PCR_IDS_MAX);
        for (;;) {
                unsigned id = 0, digits = 0;

                while (i < len && s[i] >= '0' && s[i] <= '9' && digits < TPM2_PIN_PCR_ID_DIGITS) {
                        id = id * 10u + (unsigned) (s[i] - '0');
                        digits++;
                        i++;
                }
                if (digits == 0 || (i < len && s[i] != ','))
                        return error_detail_set(reterr, -EBADMSG, "pcr_ids: not a comma-separated list of PCR numbers");
                if (id >= TPM2_PIN_PCR_COUNT)
                        return error_detail_set(reterr, -EBADMSG, "pcr_ids: PCR %u is out of range 0..%u", id,
                                        TPM2_PIN_PCR_COUNT - 1u);
                if (mask & (UINT32_C(1) << id))
                        return error_detail_set(reterr, -EBADMSG, "pcr_ids: PCR %u is listed twice", id);
                mask |= UINT32_C(1) << id;
                if (i == len)
                        break;
                i++; /* the comma; a trailing one finds no digits next round */
        }
        *ret = mask;
        return 0;
}

/* "sha256:0,7" for messages. */
static void pcr_spec_format(const Tpm2Hash *bank, uint32_t mask, char *buf, size_t size) {
        Writer w;
        bool first = true;

        writer_init(&w, buf, size - 1);
        writer_put_bytes(&w, bank->name, strlen(bank->name));
        writer_put_u8(&w, ':');
        for (unsigned i = 0; i < TPM2_PIN_PCR_COUNT; i++) {
                char num[4];
                int n;

                if (!(mask & (UINT32_C(1) << i)))
                        continue;
                n = snprintf(num, sizeof(num), "%s%u", first ? "" : ",", i);
                writer_put_bytes(&w, num, (size_t) n);
                first = false;
        }
        buf[writer_error(&w) < 0 ? 0 : writer_length(&w)] = '\0';
}

/* Decodes a b64url string field into buf (at most max bytes). */
static int b64_field_decode(const json_t *pin, const char *field, size_t max, uint8_t *buf, size_t *ret_len,
                            char **reterr) {
        const json_t *v = json_object_get(pin, field);
        size_t n;

        if (!v)
                return error_detail_set(reterr, -EBADMSG, "%s: missing", field);
        if (!json_is_string(v))
                return error_detail_set(reterr, -EBADMSG, "%s: not a string", field);
        if (json_string_length(v) > TPM2_PIN_B64_LEN(max))
                return error_detail_set(reterr, -EBADMSG, "%s: longer than %zu bytes", field, max);
        n = jose_b64_dec(v, NULL, 0);
        if (n == SIZE_MAX)
                return error_detail_set(reterr, -EBADMSG, "%s: not base64url", field);
        if (n > max)
                return error_detail_set(reterr, -EBADMSG, "%s: longer than %zu bytes", field, max);
        if (jose_b64_dec(v, buf, max) != n)
                return error_detail_set(reterr, -EBADMSG, "%s: not base64url", field);
        *ret_len = n;
        return 0;
}

int tpm2_pin_member_parse(const json_t *pin, Tpm2PinMember *ret, char **reterr) {
        uint8_t pub[TPM2_PIN_PUB_MAX], priv[TPM2_PIN_PRIV_MAX];
        const json_t *v_hash, *v_key, *v_bank, *v_ids;
        const Tpm2Hash *hash, *bank = NULL;
        const Tpm2Key *key;
        Tpm2PinMember m = {};
        size_t pub_len = 0, priv_len = 0, off;
        TSS2_RC rc;
        int r;

        if (!json_is_object(pin))
                return error_detail_set(reterr, -EBADMSG, "clevis.tpm2: not an object");
        for (size_t i = 0; i < ELEMENTSOF(tpm2_unsupported_fields); i++)
                if (json_object_get(pin, tpm2_unsupported_fields[i]))
                        return error_detail_set(reterr, -EBADMSG,
                                        "%s: authorized policies (clevis-pin-tpm2) are not supported",
                                        tpm2_unsupported_fields[i]);

        v_hash = json_object_get(pin, "hash");
        hash = TABLE_LOOKUP(tpm2_hashes, v_hash, TPM2_PIN_DEFAULT_HASH);
        if (!hash)
                return error_detail_set(reterr, -EBADMSG, "hash: not sha1, sha256, sha384 or sha512");
        v_key = json_object_get(pin, "key");
        key = TABLE_LOOKUP(tpm2_keys, v_key, TPM2_PIN_DEFAULT_KEY);
        if (!key)
                return error_detail_set(reterr, -EBADMSG, "key: not ecc or rsa");

        v_bank = json_object_get(pin, "pcr_bank");
        v_ids = json_object_get(pin, "pcr_ids");
        if (v_bank) {
                bank = TABLE_LOOKUP(tpm2_hashes, v_bank, NULL);
                if (!bank)
                        return error_detail_set(reterr, -EBADMSG, "pcr_bank: not sha1, sha256, sha384 or sha512");
        }
        /* clevis writes both or neither; its decrypt ignores a lone pcr_bank
         * and fails on a lone pcr_ids. */
        if (v_ids) {
                if (!json_is_string(v_ids))
                        return error_detail_set(reterr, -EBADMSG, "pcr_ids: not a string");
                if (!bank)
                        return error_detail_set(reterr, -EBADMSG, "pcr_bank: missing, but pcr_ids is set");
                r = pcr_ids_parse(json_string_value(v_ids), json_string_length(v_ids), &m.pcr_mask, reterr);
                if (r < 0)
                        return r;
                m.pcr_bank = bank->alg;
        } else
                m.pcr_bank = TPM2_ALG_NULL;

        r = b64_field_decode(pin, "jwk_pub", sizeof(pub), pub, &pub_len, reterr);
        if (r < 0)
                return r;
        off = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, &m.pub);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "jwk_pub: not a marshalled TPM2B_PUBLIC (truncated or malformed)");
        /* the whole TPM2B, and its size field covering exactly its content */
        if (off != pub_len || (size_t) m.pub.size + 2u != pub_len)
                return error_detail_set(reterr, -EBADMSG, "jwk_pub: %zu bytes, but its TPM2B_PUBLIC takes %zu",
                                pub_len, (size_t) m.pub.size + 2u);
        if (m.pub.size == 0 || m.pub.publicArea.type != TPM2_ALG_KEYEDHASH)
                return error_detail_set(reterr, -EBADMSG, "jwk_pub: not a sealed data (keyedhash) object");
        if (m.pub.publicArea.nameAlg != hash->alg)
                return error_detail_set(reterr, -EBADMSG, "jwk_pub: its name algorithm is not the member's hash %s",
                                hash->name);

        r = b64_field_decode(pin, "jwk_priv", sizeof(priv), priv, &priv_len, reterr);
        if (r < 0)
                return r;
        off = 0;
        rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_len, &off, &m.priv);
        if (rc != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, "jwk_priv: not a marshalled TPM2B_PRIVATE (truncated or malformed)");
        if (off != priv_len || (size_t) m.priv.size + 2u != priv_len)
                return error_detail_set(reterr, -EBADMSG, "jwk_priv: %zu bytes, but its TPM2B_PRIVATE takes %zu",
                                priv_len, (size_t) m.priv.size + 2u);
        if (m.priv.size == 0)
                return error_detail_set(reterr, -EBADMSG, "jwk_priv: empty");

        m.hash = hash->alg;
        m.key = key->alg;
        *ret = m;
        return 0;
}

/* The seal config: like the member, but pcr_ids may be an array (of numbers
 * or digit strings) and may hold blanks, as clevis allows; pcr_digest is the
 * b64url of the raw PCR values concatenated in ascending order (what
 * `tpm2_pcrread -o` writes and clevis feeds to `tpm2_createpolicy -f`). */
typedef struct Tpm2SealConfig {
        const Tpm2Hash *hash;
        const Tpm2Key *key;
        const Tpm2Hash *bank; /* NULL: no policy */
        uint32_t pcr_mask;
        bool have_values;
        uint8_t values[TPM2_PIN_PCR_VALUES_MAX];
        size_t values_size;
} Tpm2SealConfig;

static int config_pcr_ids_parse(const json_t *v, uint32_t *ret, char **reterr) {
        char buf[TPM2_PIN_PCR_IDS_MAX + 1];
        Writer w;
        size_t i;
        const json_t *e;

        writer_init(&w, buf, TPM2_PIN_PCR_IDS_MAX);
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                for (i = 0; i < json_string_length(v); i++)
                        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
                                writer_put_u8(&w, (uint8_t) s[i]);
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, e) {
                        char num[24];
                        int n;

                        if (json_is_integer(e))
                                n = snprintf(num, sizeof(num), "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                                             json_integer_value(e));
                        else if (json_is_string(e) && json_string_length(e) < sizeof(num) - 1)
                                n = snprintf(num, sizeof(num), "%s%s", i ? "," : "", json_string_value(e));
                        else
                                return error_detail_set(reterr, -EINVAL, "pcr_ids: array items must be PCR numbers");
                        writer_put_bytes(&w, num, (size_t) n);
                }
        } else
                return error_detail_set(reterr, -EINVAL, "pcr_ids: not a string or an array");
        if (writer_error(&w) < 0)
                return error_detail_set(reterr, -EINVAL, "pcr_ids: longer than %u characters", TPM2_PIN_PCR_IDS_MAX);
        return pcr_ids_parse(buf, writer_length(&w), ret, reterr) < 0 ? -EINVAL : 0;
}

static int config_parse(const json_t *config, Tpm2SealConfig *c, char **reterr) {
        const json_t *v_ids, *v_bank, *v_digest, *v;
        const char *name;
        int r;

        if (config && !json_is_object(config))
                return error_detail_set(reterr, -EINVAL, "config: not an object");
        json_object_foreach((json_t *) config, name, v) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(tpm2_config_keys); i++)
                        known = known || strcmp(name, tpm2_config_keys[i]) == 0;
                if (!known)
                        return error_detail_set(reterr, -EINVAL, "%.32s: unknown tpm2 option", name);
        }

        c->hash = TABLE_LOOKUP(tpm2_hashes, json_object_get(config, "hash"), TPM2_PIN_DEFAULT_HASH);
        if (!c->hash)
                return error_detail_set(reterr, -EINVAL, "hash: not sha1, sha256, sha384 or sha512");
        c->key = TABLE_LOOKUP(tpm2_keys, json_object_get(config, "key"), TPM2_PIN_DEFAULT_KEY);
        if (!c->key)
                return error_detail_set(reterr, -EINVAL, "key: not ecc or rsa");

        v_ids = json_object_get(config, "pcr_ids");
        v_bank = json_object_get(config, "pcr_bank");
        v_digest = json_object_get(config, "pcr_digest");
        /* clevis quietly seals without a policy here; refuse instead */
        if (!v_ids && (v_bank || v_digest))
                return error_detail_set(reterr, -EINVAL, "%s: given without pcr_ids, so no PCR policy would apply",
                                v_bank ? "pcr_bank" : "pcr_digest");
        c->bank = NULL;
        c->pcr_mask = 0;
        c->have_values = false;
        if (!v_ids)
                return 0;
        r = config_pcr_ids_parse(v_ids, &c->pcr_mask, reterr);
        if (r < 0)
                return r;
        /* Strata's default bank is sha256, which every TPM 2.0 has active;
         * clevis <= 21 (Debian 12's 19, Flatcar's 21) defaults to sha1, which
         * many TPMs disable. The bank is always written to the member. */
        c->bank = TABLE_LOOKUP(tpm2_hashes, v_bank, TPM2_PIN_DEFAULT_HASH);
        if (!c->bank)
                return error_detail_set(reterr, -EINVAL, "pcr_bank: not sha1, sha256, sha384 or sha512");
        if (v_digest) {
                size_t want = (size_t) __builtin_popcount(c->pcr_mask) * c->bank->size, n;

                if (!json_is_string(v_digest))
                        return error_detail_set(reterr, -EINVAL, "pcr_digest: not a string");
                n = jose_b64_dec(v_digest, NULL, 0);
                if (n != want || jose_b64_dec(v_digest, c->values, sizeof(c->values)) != want)
                        return error_detail_set(reterr, -EINVAL,
                                        "pcr_digest: not the b64url of %zu bytes (%d %s PCR values)", want,
                                        __builtin_popcount(c->pcr_mask), c->bank->name);
                c->values_size = want;
                c->have_values = true;
        }
        return 0;
}

static TPML_PCR_SELECTION pcr_selection(TPMI_ALG_HASH bank, uint32_t mask) {
        TPML_PCR_SELECTION s = { .count = 1 };

        s.pcrSelections[0].hash = bank;
        s.pcrSelections[0].sizeofSelect = TPM2_PIN_PCR_SELECT_SIZE;
        for (unsigned i = 0; i < TPM2_PIN_PCR_SELECT_SIZE; i++)
                s.pcrSelections[0].pcrSelect[i] = (uint8_t) (mask >> (8u * i));
        return s;
}

/* TPM 2.0 part 3, PolicyPCR: policyDigest' = H(policyDigest ‖ TPM_CC_PolicyPCR
 * ‖ pcrs ‖ H(PCR values)), from an all-zero policyDigest, H the nameAlg. */
static int policy_pcr_digest(const Tpm2Hash *hash, const TPML_PCR_SELECTION *sel, const uint8_t *values,
                             size_t values_size, TPM2B_DIGEST *ret) {
        uint8_t input[TPM2_PIN_POLICY_INPUT_MAX], sel_bytes[sizeof(TPML_PCR_SELECTION)];
        uint8_t pcr_digest[EVP_MAX_MD_SIZE];
        unsigned pcr_digest_size = 0, size = 0;
        size_t sel_size = 0;
        Writer w;

        if (Tss2_MU_TPML_PCR_SELECTION_Marshal(sel, sel_bytes, sizeof(sel_bytes), &sel_size) != TSS2_RC_SUCCESS)
                return -EINVAL;
        if (EVP_Digest(values, values_size, pcr_digest, &pcr_digest_size, hash->md(), NULL) != 1)
                return -EIO;
        writer_init(&w, input, sizeof(input));
        writer_put_zeros(&w, hash->size);
        writer_put_be32(&w, TPM2_CC_PolicyPCR);
        writer_put_bytes(&w, sel_bytes, sel_size);
        writer_put_bytes(&w, pcr_digest, pcr_digest_size);
        if (writer_error(&w) < 0)
                return -EINVAL;
        if (EVP_Digest(input, writer_length(&w), ret->buffer, &size, hash->md(), NULL) != 1 || size != hash->size)
                return -EIO;
        ret->size = (UINT16) size;
        return 0;
}

/* ---- the TPM ---- */

typedef struct Tpm2 {
        const char *tcti_conf;
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        ESYS_TR primary, object, session;
} Tpm2;

#define TPM2_INIT { .primary = ESYS_TR_NONE, .object = ESYS_TR_NONE, .session = ESYS_TR_NONE }

static void tpm2_flush(Tpm2 *t, ESYS_TR *h) {
        if (*h == ESYS_TR_NONE)
                return;
        /* Nothing more to do if this fails: the TPM is gone, or the handle is. */
        (void) Esys_FlushContext(t->esys, *h);
        *h = ESYS_TR_NONE;
}

static void tpm2_close(Tpm2 *t) {
        tpm2_flush(t, &t->session);
        tpm2_flush(t, &t->object);
        tpm2_flush(t, &t->primary);
        if (t->esys)
                Esys_Finalize(&t->esys);
        if (t->tcti)
                Tss2_TctiLdr_Finalize(&t->tcti);
}

static const TpmRcRow *error_lookup(TSS2_RC rc) {
        return tpm_rc_lookup(tpm2_errors, ELEMENTSOF(tpm2_errors), rc);
}

/* Reports a failed ESAPI call and returns the errno for it. */
static int tpm2_fail(const Tpm2 *t, TSS2_RC rc, const char *step, UnsealReport *report, const char *where) {
        const TpmRcRow *e = error_lookup(rc);

        if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER) {
                unseal_report_add(report, where, "%s: lost the TPM at TCTI \"%s\" (TCTI error 0x%x)", step,
                                  t->tcti_conf, rc);
                return -ENODEV;
        }
        if (e) {
                unseal_report_add(report, where, "%s failed (%s 0x%x): %s", step, e->name, rc, e->why);
                return e->error;
        }
        unseal_report_add(report, where, "%s failed (TSS2 rc 0x%x)", step, rc);
        return -EIO;
}

static int tpm2_open(Tpm2 *t, const char *tcti, UnsealReport *report, const char *where) {
        TSS2_RC rc;

        t->tcti_conf = tcti;
        rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                t->tcti = NULL;
                unseal_report_add(report, where, "cannot reach the TPM at TCTI \"%s\" (rc 0x%x)", tcti, rc);
                return -ENODEV;
        }
        rc = Esys_Initialize(&t->esys, t->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                t->esys = NULL;
                unseal_report_add(report, where, "cannot use the TPM at TCTI \"%s\" (Esys_Initialize rc 0x%x)",
                                  tcti, rc);
                return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ? -ENODEV : -EIO;
        }
        return 0;
}

static int tpm2_create_primary(Tpm2 *t, const Tpm2Hash *hash, const Tpm2Key *key, UnsealReport *report,
                               const char *where) {
        const TPM2B_SENSITIVE_CREATE sensitive = {};
        const TPM2B_DATA outside = {};
        const TPML_PCR_SELECTION creation_pcr = {};
        TPM2B_PUBLIC template = {
                .publicArea = {
                        .type = key->alg,
                        .nameAlg = hash->alg,
                        .objectAttributes = TPM2_PIN_PRIMARY_ATTRS,
                        .parameters = key->parameters,
                },
        };
        TSS2_RC rc;

        rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &sensitive, &template, &outside, &creation_pcr, &t->primary, NULL, NULL, NULL,
                                NULL);
        if (rc != TSS2_RC_SUCCESS) {
                t->primary = ESYS_TR_NONE;
                return tpm2_fail(t, rc, "creating the primary key (Esys_CreatePrimary)", report, where);
        }
        return 0;
}

static int tpm2_policy_session(Tpm2 *t, TPMI_ALG_HASH hash, const TPML_PCR_SELECTION *sel, UnsealReport *report,
                               const char *where) {
        const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        const TPM2B_DIGEST current = { .size = 0 }; /* empty: the TPM's current values */
        TSS2_RC rc;

        rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   NULL, TPM2_SE_POLICY, &sym, hash, &t->session);
        if (rc != TSS2_RC_SUCCESS) {
                t->session = ESYS_TR_NONE;
                return tpm2_fail(t, rc, "starting a policy session (Esys_StartAuthSession)", report, where);
        }
        rc = Esys_PolicyPCR(t->esys, t->session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, sel);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_fail(t, rc, "selecting PCRs (Esys_PolicyPCR)", report, where);
        return 0;
}

static void sensitive_data_free(TPM2B_SENSITIVE_DATA **p) {
        if (*p) {
                OPENSSL_cleanse(*p, sizeof(**p));
                Esys_Free(*p);
                *p = NULL;
        }
}

/* The sealed text is the CEK JWK plus "\n" (clevis' shell pin) or without
 * it (the Rust pin); parse it, do not compare bytes. jansson's error text
 * quotes the input, so it is never reported. */
static int cek_parse(const TPM2B_SENSITIVE_DATA *data, json_t **ret, UnsealReport *report, const char *where) {
        uint8_t k[TPM2_PIN_CEK_SIZE];
        json_t *cek;
        size_t n;

        cek = json_loadb((const char *) data->buffer, data->size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(cek) || !json_string_is(json_object_get(cek, "kty"), "oct")) {
                json_decref(cek);
                unseal_report_add(report, where, "the unsealed data is not an oct JWK");
                return -EBADMSG;
        }
        n = jose_b64_dec(json_object_get(cek, "k"), k, sizeof(k));
        OPENSSL_cleanse(k, sizeof(k));
        if (n != TPM2_PIN_CEK_SIZE) {
                json_decref(cek);
                unseal_report_add(report, where, "the unsealed JWK's \"k\" is not %u bytes", TPM2_PIN_CEK_SIZE);
                return -EBADMSG;
        }
        *ret = cek;
        return 0;
}

int tpm2_pin_unseal(const char *tcti, const json_t *pin, json_t **ret_cek, UnsealReport *report,
                    const char *where) {
        _cleanup_(tpm2_close) Tpm2 t = TPM2_INIT;
        _cleanup_free_ char *err = NULL;
        Tpm2PinMember m;
        const Tpm2Hash *hash, *bank = NULL;
        TPML_PCR_SELECTION sel = {};
        char spec[TPM2_PIN_PCR_IDS_MAX + TPM2_PIN_NAME_MAX] = "";
        TSS2_RC rc = TSS2_RC_SUCCESS;
        int r;

        r = tpm2_pin_member_parse(pin, &m, &err);
        if (r < 0) {
                unseal_report_add(report, where, "malformed tpm2 header member: %s",
                                  err ? err : "out of memory");
                return r;
        }
        hash = hash_by_alg(m.hash);
        if (m.pcr_mask) {
                bank = hash_by_alg(m.pcr_bank);
                sel = pcr_selection(m.pcr_bank, m.pcr_mask);
                pcr_spec_format(bank, m.pcr_mask, spec, sizeof(spec));
        }

        r = tpm2_open(&t, tcti, report, where);
        if (r < 0)
                return r;
        r = tpm2_create_primary(&t, hash, key_by_alg(m.key), report, where);
        if (r < 0)
                return r;
        rc = Esys_Load(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &m.priv, &m.pub, &t.object);
        if (rc != TSS2_RC_SUCCESS) {
                t.object = ESYS_TR_NONE;
                return tpm2_fail(&t, rc, "loading the sealed key (Esys_Load)", report, where);
        }
        /* The primary is only needed to load: free its slot now. */
        tpm2_flush(&t, &t.primary);

        for (unsigned attempt = 1;; attempt++) {
                _cleanup_(sensitive_data_free) TPM2B_SENSITIVE_DATA *data = NULL;

                if (bank) {
                        r = tpm2_policy_session(&t, m.hash, &sel, report, where);
                        if (r < 0)
                                return r;
                }
                rc = Esys_Unseal(t.esys, t.object, bank ? t.session : ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &data);
                tpm2_flush(&t, &t.session);
                if (rc == TSS2_RC_SUCCESS)
                        return cek_parse(data, ret_cek, report, where);
                if (tpm_rc_code(rc) == TPM2_RC_PCR_CHANGED && attempt < TPM2_PIN_UNSEAL_TRIES)
                        continue;
                break;
        }
        if (bank && tpm_rc_code(rc) == TPM2_RC_POLICY_FAIL) {
                unseal_report_add(report, where, "PCR policy mismatch on %s (TPM_RC_POLICY_FAIL 0x%x): %s", spec,
                                  rc, error_lookup(rc)->why);
                return -ENOKEY;
        }
        return tpm2_fail(&t, rc, "unsealing (Esys_Unseal)", report, where);
}

/* Reads the bank's values of the PCRs in mask, concatenated in ascending
 * order. A TPM may return fewer PCRs per call than asked (8 digests fit a
 * TPML_DIGEST): ask again for the rest. */
static int tpm2_pcr_read(Tpm2 *t, const Tpm2Hash *bank, uint32_t mask, uint8_t *ret, size_t *ret_size,
                         UnsealReport *report, const char *where) {
        uint8_t values[TPM2_PIN_PCR_COUNT][TPM2_SHA512_DIGEST_SIZE];
        uint32_t pending = mask;
        Writer w;

        for (unsigned round = 0; pending && round < TPM2_PIN_PCR_READ_ROUNDS; round++) {
                TPML_PCR_SELECTION in = pcr_selection(bank->alg, pending);
                TPML_PCR_SELECTION *out = NULL;
                TPML_DIGEST *digests = NULL;
                uint32_t counter = 0, got = 0;
                size_t k = 0;
                TSS2_RC rc;
                bool ok = true;

                rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter, &out, &digests);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm2_fail(t, rc, "reading PCRs (Esys_PCR_Read)", report, where);
                for (uint32_t s = 0; s < out->count && ok; s++) {
                        const TPMS_PCR_SELECTION *ps = &out->pcrSelections[s];
                        for (unsigned b = 0; b < ps->sizeofSelect && b < sizeof(ps->pcrSelect); b++) {
                                if (!ps->pcrSelect[b])
                                        continue;
                                if (ps->hash != bank->alg || b >= TPM2_PIN_PCR_SELECT_SIZE)
                                        ok = false;
                                else
                                        got |= (uint32_t) ps->pcrSelect[b] << (8u * b);
                        }
                }
                ok = ok && (got & ~pending) == 0 && (uint32_t) __builtin_popcount(got) == digests->count;
                for (unsigned i = 0; ok && i < TPM2_PIN_PCR_COUNT; i++) {
                        if (!(got & (UINT32_C(1) << i)))
                                continue;
                        if (digests->digests[k].size != bank->size)
                                ok = false;
                        else
                                memcpy(values[i], digests->digests[k++].buffer, bank->size);
                }
                Esys_Free(out);
                Esys_Free(digests);
                if (!ok) {
                        unseal_report_add(report, where, "the TPM returned PCRs that were not asked for");
                        return -EIO;
                }
                if (got == 0) {
                        unseal_report_add(report, where, "the TPM has no active %s PCR bank", bank->name);
                        return -EINVAL;
                }
                pending &= ~got;
        }
        if (pending) {
                unseal_report_add(report, where, "the TPM did not return every PCR asked for");
                return -EIO;
        }
        writer_init(&w, ret, TPM2_PIN_PCR_VALUES_MAX);
        for (unsigned i = 0; i < TPM2_PIN_PCR_COUNT; i++)
                if (mask & (UINT32_C(1) << i))
                        writer_put_bytes(&w, values[i], bank->size);
        if (writer_error(&w) < 0)
                return -EIO;
        *ret_size = writer_length(&w);
        return 0;
}

static void sensitive_create_wipe(TPM2B_SENSITIVE_CREATE *s) {
        OPENSSL_cleanse(s, sizeof(*s));
}

static json_t *b64_marshalled(const void *src, TSS2_RC (*marshal)(const void *, uint8_t *, size_t, size_t *),
                              size_t max) {
        uint8_t buf[TPM2_PIN_PRIV_MAX > TPM2_PIN_PUB_MAX ? TPM2_PIN_PRIV_MAX : TPM2_PIN_PUB_MAX];
        size_t off = 0;

        if (max > sizeof(buf) || marshal(src, buf, max, &off) != TSS2_RC_SUCCESS)
                return NULL;
        return jose_b64_enc(buf, off);
}

static TSS2_RC marshal_public(const void *src, uint8_t *buf, size_t size, size_t *off) {
        return Tss2_MU_TPM2B_PUBLIC_Marshal(src, buf, size, off);
}

static TSS2_RC marshal_private(const void *src, uint8_t *buf, size_t size, size_t *off) {
        return Tss2_MU_TPM2B_PRIVATE_Marshal(src, buf, size, off);
}

/* The CEK JWK text as `jose jwk gen` prints it (compact, sorted keys) plus
 * the "\n" of the shell pin's here-string. */
static int sealed_text_build(const json_t *cek, TPM2B_SENSITIVE_CREATE *ret) {
        json_free_t jfree = NULL;
        char *text;
        size_t len;
        int r = 0;

        text = json_dumps(cek, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (len + 1 > sizeof(ret->sensitive.data.buffer))
                r = -E2BIG;
        else {
                memcpy(ret->sensitive.data.buffer, text, len);
                ret->sensitive.data.buffer[len] = '\n';
                ret->sensitive.data.size = (UINT16) (len + 1);
        }
        OPENSSL_cleanse(text, len);
        json_get_alloc_funcs(NULL, &jfree);
        (jfree ? jfree : free)(text);
        return r;
}

static int seal(const char *tcti, const json_t *config, json_t **ret_cek, json_t **ret_pin, UnsealReport *report,
                const char *where) {
        _cleanup_(tpm2_close) Tpm2 t = TPM2_INIT;
        _cleanup_(sensitive_create_wipe) TPM2B_SENSITIVE_CREATE sensitive = {};
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ Tpm2SealConfig *c = NULL;
        json_auto_t *cek = NULL, *member = NULL, *pub_b64 = NULL, *priv_b64 = NULL;
        TPM2B_PUBLIC *out_pub = NULL;
        TPM2B_PRIVATE *out_priv = NULL;
        const TPM2B_DATA outside = {};
        const TPML_PCR_SELECTION creation_pcr = {};
        TPM2B_PUBLIC template = {};
        char ids[TPM2_PIN_PCR_IDS_MAX + TPM2_PIN_NAME_MAX];
        TSS2_RC rc;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = config_parse(config, c, &err);
        if (r < 0) {
                unseal_report_add(report, where, "bad tpm2 config: %s", err ? err : "out of memory");
                return r;
        }

        cek = json_pack("{s:s}", "alg", "A256GCM");
        if (!cek || !jose_jwk_gen(NULL, cek))
                return -ENOMEM;
        r = sealed_text_build(cek, &sensitive);
        if (r < 0)
                return r;

        template.publicArea.type = TPM2_ALG_KEYEDHASH;
        template.publicArea.nameAlg = c->hash->alg;
        template.publicArea.objectAttributes = TPM2_PIN_SEALED_ATTRS;
        template.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

        r = tpm2_open(&t, tcti, report, where);
        if (r < 0)
                return r;
        r = tpm2_create_primary(&t, c->hash, c->key, report, where);
        if (r < 0)
                return r;
        if (c->bank) {
                TPML_PCR_SELECTION sel = pcr_selection(c->bank->alg, c->pcr_mask);

                if (!c->have_values) {
                        r = tpm2_pcr_read(&t, c->bank, c->pcr_mask, c->values, &c->values_size, report, where);
                        if (r < 0)
                                return r;
                }
                r = policy_pcr_digest(c->hash, &sel, c->values, c->values_size, &template.publicArea.authPolicy);
                if (r < 0)
                        return r;
        } else
                template.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;

        rc = Esys_Create(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &template,
                         &outside, &creation_pcr, &out_priv, &out_pub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_fail(&t, rc, "sealing (Esys_Create)", report, where);
        pub_b64 = b64_marshalled(out_pub, marshal_public, TPM2_PIN_PUB_MAX);
        priv_b64 = b64_marshalled(out_priv, marshal_private, TPM2_PIN_PRIV_MAX);
        Esys_Free(out_pub);
        Esys_Free(out_priv);
        if (!pub_b64 || !priv_b64)
                return -ENOMEM;

        member = json_pack("{s:s,s:s,s:O,s:O}", "hash", c->hash->name, "key", c->key->name, "jwk_pub", pub_b64,
                           "jwk_priv", priv_b64);
        if (!member)
                return -ENOMEM;
        if (c->bank) {
                /* the ids canonical: ascending, no blanks */
                pcr_spec_format(c->bank, c->pcr_mask, ids, sizeof(ids));
                if (json_object_set_new(member, "pcr_bank", json_string(c->bank->name)) < 0 ||
                    json_object_set_new(member, "pcr_ids", json_string(ids + strlen(c->bank->name) + 1)) < 0)
                        return -ENOMEM;
        }
        *ret_cek = take_ptr(cek);
        *ret_pin = take_ptr(member);
        return 0;
}

int tpm2_pin_seal(const char *tcti, const json_t *config, json_t **ret_cek, json_t **ret_pin,
                  UnsealReport *report, const char *where) {
        int r = seal(tcti, config, ret_cek, ret_pin, report, where);

        /* The contract has no -ENOKEY for sealing: a refusal by the TPM
         * (owner password, hierarchy disabled) is a TPM error here; the
         * report line says which. */
        return r == -ENOKEY ? -EIO : r;
}
