/* Fuzz target for quote_attest_parse() / quote_attest_parse_body()
 * (agent/attest/quote-verify.c): the TPM2B_ATTEST a joiner sends, and the
 * TPM2B_PUBLIC of its AK and EK (tpm_public_parse, then the EVP_PKEY and
 * name derived from it), parsed without a TPM. The same bytes go to every
 * parser. A TPMS_ATTEST that parses must marshal back to exactly its bytes
 * and select only PCRs 0..23; a public area that parses must marshal back
 * too. Seeds in tests/fuzz/fuzz-tpms-attest/: quotes and AK publics made
 * by tpm2_quote / tpm2_createak on a swtpm, and broken variants. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/verify.h"

static void check_attest(const uint8_t *data, size_t size) {
        const uint8_t *body = NULL;
        size_t body_size = 0;
        QuoteInfo q;
        char *err = NULL;
        int r;

        r = quote_attest_parse(data, size, &q, &body, &body_size, &err);
        if (r < 0) {
                if (r != -EBADMSG || !err)
                        abort();
                free(err);
                return;
        }
        if (err || body != data + 2 || body_size + 2 != size || q.n_banks > QUOTE_BANKS_MAX ||
            q.extra_size > sizeof(q.extra) || q.pcr_digest_size > sizeof(q.pcr_digest))
                abort();
        for (size_t i = 0; i < q.n_banks; i++)
                if (q.banks[i].mask >> ATTEST_PCR_MAX)
                        abort();
        {
                TPMS_ATTEST a;
                uint8_t out[sizeof(TPMS_ATTEST)];
                size_t off = 0, moff = 0;

                if (Tss2_MU_TPMS_ATTEST_Unmarshal(body, body_size, &off, &a) != TSS2_RC_SUCCESS || off != body_size)
                        abort();
                if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out, sizeof(out), &moff) != TSS2_RC_SUCCESS || moff != body_size ||
                    memcmp(out, body, body_size) != 0)
                        abort();
        }
}

static void check_public(const uint8_t *data, size_t size) {
        TPM2B_PUBLIC p;
        uint8_t out[sizeof(TPM2B_PUBLIC)], name[TPM_NAME_MAX];
        size_t off = 0, name_size;
        EVP_PKEY *k = NULL;
        char *err = NULL;
        int r;

        r = tpm_public_parse(data, size, &p, &err);
        if (r < 0) {
                if (r != -EBADMSG || !err)
                        abort();
                free(err);
                return;
        }
        if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p, out, sizeof(out), &off) != TSS2_RC_SUCCESS || off != size ||
            memcmp(out, data, size) != 0)
                abort();
        r = tpm_public_pkey(&p.publicArea, &k, &err);
        if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP && r != -ENOMEM)
                abort();
        EVP_PKEY_free(k);
        free(err);
        err = NULL;
        r = tpm_public_name(&p.publicArea, name, &name_size, &err);
        if (r == 0 && name_size != 2 + tpm_hash_size(p.publicArea.nameAlg))
                abort();
        free(err);
        err = NULL;
        quote_ak_check(&p.publicArea, &err);
        free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        QuoteInfo q;
        char *err = NULL;

        if (size > 64u * 1024u)
                return 0;
        check_attest(data, size);
        if (quote_attest_parse_body(data, size, &q, &err) < 0 && !err)
                abort();
        free(err);
        check_public(data, size);
        return 0;
}
