/* Fuzz target for the admission messages (agent/swarm/admission-msg.c),
 * which a sponsor parses from anyone who connects and a joiner from the
 * sponsor. The first byte picks the parser (its value less '0', modulo 5,
 * so the seeds' ASCII digits read naturally): '0' hello, '1' challenge,
 * '2' evidence, '3' verdict, '4' bundle; the rest is the message. Beyond
 * "no crash, no leak" it checks what callers rely on: a success yields a
 * canonical form that parses again to itself (the transcript is stable),
 * and a refusal is -EBADMSG or -E2BIG with a detail in printable ASCII.
 * Seeds: tests/fuzz/fuzz-admission/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "swarm/admission.h"

static void check_refusal(int r, const char *err) {
        if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
                abort();
        if (r == -ENOMEM)
                return;
        if (!err || !*err)
                abort();
        for (const unsigned char *c = (const unsigned char *) err; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        abort();
}

/* canonical -> parse -> canonical is the identity */
#define CHECK_STABLE(parse, type, done, canon)                                               \
        do {                                                                                 \
                type again = {};                                                             \
                _cleanup_free_ char *c2 = NULL;                                              \
                if (parse(canon, strlen(canon), &again, &c2, NULL) != 0 || strcmp(c2, canon)) \
                        abort();                                                             \
                done(&again);                                                                \
        } while (0)

static void fuzz_hello(const uint8_t *data, size_t size) {
        _cleanup_free_ char *canon = NULL, *err = NULL;
        AdmissionHello m = {};
        int r = admission_hello_parse(data, size, &m, &canon, &err);

        if (r < 0) {
                check_refusal(r, err);
                if (m.ek_pub.data || canon)
                        abort();
                return;
        }
        if (!admission_machine_is_valid(m.machine) || !m.ek_pub.size || !m.ak_pub.size || !m.chan_pub.size ||
            m.chan_pub.size > ADMISSION_CHAN_PUB_MAX)
                abort();
        CHECK_STABLE(admission_hello_parse, AdmissionHello, admission_hello_done, canon);
        admission_hello_done(&m);
}

static void fuzz_challenge(const uint8_t *data, size_t size) {
        _cleanup_free_ char *canon = NULL, *err = NULL;
        AdmissionChallenge m = {};
        int r = admission_challenge_parse(data, size, &m, &canon, &err);

        if (r < 0) {
                check_refusal(r, err);
                return;
        }
        if (!m.selection.mask || m.selection.mask >> ATTEST_PCR_MAX || !m.expires_in ||
            m.expires_in > ADMISSION_NONCE_TTL_MAX_SEC)
                abort();
        CHECK_STABLE(admission_challenge_parse, AdmissionChallenge, admission_challenge_done, canon);
        admission_challenge_done(&m);
}

static void fuzz_evidence(const uint8_t *data, size_t size) {
        _cleanup_free_ char *canon = NULL, *err = NULL;
        AdmissionEvidence m = {};
        int r = admission_evidence_parse(data, size, &m, &canon, &err);

        if (r < 0) {
                check_refusal(r, err);
                return;
        }
        /* the transcript's evidence never carries its own HMAC */
        if (strstr(canon, "\"hmac\"") || !m.pcrs.mask || m.pcrs.mask >> ATTEST_PCR_MAX || !m.pcrs.size ||
            m.eventlog.size > ADMISSION_EVENTLOG_MAX)
                abort();
        admission_evidence_done(&m);
}

static void fuzz_verdict(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        AdmissionVerdict m = {};
        int r = admission_verdict_parse(data, size, &m, &err);

        if (r < 0) {
                check_refusal(r, err);
                return;
        }
        if (m.admitted ? (!m.member_cert || !m.bundle.ciphertext.size || m.n_reasons)
                       : (m.member_cert || m.bundle.ciphertext.size || !m.n_reasons))
                abort();
        admission_verdict_done(&m);
}

static void fuzz_bundle(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        AdmissionBundle m = {};
        int r = admission_bundle_parse(data, size, &m, &err);

        if (r < 0) {
                check_refusal(r, err);
                return;
        }
        if (!m.n_member_chain || !m.fleet_ca || !m.policy.size || !m.policy_sig.size)
                abort();
        admission_bundle_done(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        switch ((uint8_t) (data[0] - (uint8_t) '0') % 5) {
        case 0: fuzz_hello(data + 1, size - 1); break;
        case 1: fuzz_challenge(data + 1, size - 1); break;
        case 2: fuzz_evidence(data + 1, size - 1); break;
        case 3: fuzz_verdict(data + 1, size - 1); break;
        default: fuzz_bundle(data + 1, size - 1); break;
        }
        return 0;
}
