/* Fuzz target for tpm2_pin_member_parse() (agent/unseal/pin-tpm2.c): the
 * clevis.tpm2 header member (hash, key, pcr_bank, pcr_ids, and jwk_pub and
 * jwk_priv unmarshalled by tss2-mu), parsed without a TPM. Two input shapes:
 *   - starting with '{': a member as JSON text, parsed as it is;
 *   - otherwise binary, so that mutations reach tss2-mu directly without
 *     having to keep base64url valid:
 *       u8 flags   bits 0-1: hash row, bit 2: rsa, bit 3: PCR policy,
 *                  bits 4-5: pcr_bank row
 *       be24 mask  PCR ids (bit i: PCR i), only with bit 3
 *       be16 n     length of jwk_pub
 *       n bytes    jwk_pub (marshalled TPM2B_PUBLIC)
 *       rest       jwk_priv (marshalled TPM2B_PRIVATE)
 * A member that parses must marshal back to exactly the bytes it came from,
 * and its PCR mask must lie within PCRs 0..23. Seeds in
 * tests/fuzz/fuzz-tpm2-pin/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jose/jose.h>
#include <tss2/tss2_mu.h>

#include "core/cleanup.h"
#include "core/cursor.h"
#include "unseal/pin-tpm2.h"

static const char *const hashes[] = { "sha1", "sha256", "sha384", "sha512" };

/* The decoded jwk_* field must equal the marshalled structure. */
static void check_round_trip(const json_t *member, const char *field, const uint8_t *marshalled, size_t size) {
        uint8_t decoded[sizeof(TPM2B_PRIVATE) > sizeof(TPM2B_PUBLIC) ? sizeof(TPM2B_PRIVATE) : sizeof(TPM2B_PUBLIC)];
        size_t n = jose_b64_dec(json_object_get(member, field), decoded, sizeof(decoded));

        if (n != size || memcmp(decoded, marshalled, size) != 0)
                abort();
}

static void parse_one(const json_t *member) {
        uint8_t buf[sizeof(TPM2B_PRIVATE) > sizeof(TPM2B_PUBLIC) ? sizeof(TPM2B_PRIVATE) : sizeof(TPM2B_PUBLIC)];
        Tpm2PinMember m;
        char *err = NULL;
        size_t off;
        int r;

        r = tpm2_pin_member_parse(member, &m, &err);
        if (r < 0) {
                /* every refusal is -EBADMSG (or -ENOMEM) and says why */
                if ((r != -EBADMSG && r != -ENOMEM) || (r == -EBADMSG && !err))
                        abort();
                free(err);
                return;
        }
        if (err)
                abort();
        if (m.pcr_mask >> TPM2_PIN_PCR_COUNT)
                abort();
        if ((m.pcr_mask != 0) != (m.pcr_bank != TPM2_ALG_NULL))
                abort();
        off = 0;
        if (Tss2_MU_TPM2B_PUBLIC_Marshal(&m.pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                abort();
        check_round_trip(member, "jwk_pub", buf, off);
        off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Marshal(&m.priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                abort();
        check_round_trip(member, "jwk_priv", buf, off);
}

/* The binary shape as a member; NULL when too short. */
static json_t *member_from_binary(const uint8_t *data, size_t size) {
        const uint8_t *pub = NULL, *priv = NULL;
        uint8_t flags = 0, m0 = 0, m1 = 0, m2 = 0;
        uint16_t pub_size = 0;
        size_t priv_size;
        json_t *member;
        Cursor c;

        cursor_init(&c, data, size);
        cursor_get_u8(&c, &flags);
        cursor_get_u8(&c, &m0);
        cursor_get_u8(&c, &m1);
        cursor_get_u8(&c, &m2);
        cursor_get_be16(&c, &pub_size);
        cursor_get_span(&c, pub_size, &pub);
        priv_size = cursor_remaining(&c);
        cursor_get_span(&c, priv_size, &priv);
        if (cursor_error(&c) < 0)
                return NULL;

        member = json_pack("{s:s,s:s,s:o,s:o}", "hash", hashes[flags & 3u], "key", flags & 4u ? "rsa" : "ecc",
                           "jwk_pub", jose_b64_enc(pub, pub_size), "jwk_priv", jose_b64_enc(priv, priv_size));
        if (member && (flags & 8u)) {
                uint32_t mask = (uint32_t) m0 << 16 | (uint32_t) m1 << 8 | m2;
                char ids[128];
                Writer w;

                writer_init(&w, ids, sizeof(ids) - 1);
                for (unsigned i = 0; i < 24; i++)
                        if (mask & (UINT32_C(1) << i)) {
                                char num[4];
                                int n = snprintf(num, sizeof(num), "%s%u", writer_length(&w) ? "," : "", i);
                                writer_put_bytes(&w, num, (size_t) n);
                        }
                ids[writer_error(&w) < 0 ? 0 : writer_length(&w)] = '\0';
                json_object_set_new(member, "pcr_bank", json_string(hashes[(flags >> 4) & 3u]));
                json_object_set_new(member, "pcr_ids", json_string(ids));
        }
        return member;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *member;

        if (size > 64u * 1024u)
                return 0;
        if (size > 0 && data[0] == '{')
                member = json_loadb((const char *) data, size, 0, NULL);
        else
                member = member_from_binary(data, size);
        if (member)
                parse_one(member);
        json_decref(member);
        return 0;
}
