/* Fuzz target for attest_policy_parse() (agent/attest/policy.c): the fleet's
 * signed attestation policy, which a joiner receives from its sponsor and
 * `strata attest verify --policy FILE` reads from disk (parsed after its
 * signature checks out, but a parser trusts nothing). The input is the
 * document. Beyond not crashing or leaking: a refusal is -EBADMSG or -E2BIG
 * naming a JSON path ("$..."); an accepted policy has a known bank and its
 * digest size, constrains at least one PCR below 24, each constrained PCR
 * by exactly one of a value or a non-empty, capped event list, and no
 * window that ends before it starts. Seeds: tests/fuzz/fuzz-attest-policy/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/verify.h"
#include "core/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        AttestPolicy p = {};
        int r = attest_policy_parse(data, size, &p, &err);

        if (r < 0) {
                if (r == -ENOMEM)
                        return 0;
                if ((r != -EBADMSG && r != -E2BIG) || !err || (err[0] != '$' && strncmp(err, "policy:", 7) != 0))
                        abort();
                return 0;
        }
        if (p.digest_size != 20 && p.digest_size != 32 && p.digest_size != 48 && p.digest_size != 64)
                abort();
        if (p.mask == 0 || (p.mask >> ATTEST_PCR_MAX) != 0)
                abort();
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                const AttestPolicyPcr *pcr = &p.pcrs[i];
                bool constrained = p.mask & (UINT32_C(1) << i);

                if (constrained != (pcr->has_value || pcr->n_events > 0))
                        abort();
                if (pcr->has_value && pcr->events)
                        abort();
                if (pcr->n_events > ATTEST_POLICY_EVENTS_MAX || (pcr->n_events > 0) != (pcr->events != NULL))
                        abort();
        }
        if (p.has_not_before && p.has_not_after && p.not_after < p.not_before)
                abort();
        attest_policy_done(&p);
        return 0;
}
