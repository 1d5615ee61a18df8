/* admission-nonce: the sponsor's single-use nonces. A bounded table of
 * sessions (a hello answered, its evidence awaited) keyed by nonce, and a
 * bounded ring of nonces already consumed, so a replayed evidence message is
 * named as such ("nonce already used") rather than as unknown. A nonce is
 * consumed by the first evidence that names it, whatever its verdict.
 * Linear scans: the table holds at most a few hundred entries. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "swarm/admission.h"

struct AdmissionNonces {
        AdmissionSession **sessions;
        size_t n, max;
        uint8_t (*used)[ADMISSION_NONCE_SIZE];
        size_t used_n, used_next, used_max;
};

static const char *const nonce_state_names[_ADMISSION_NONCE_STATE_MAX] = {
        [ADMISSION_NONCE_OK] = "ok",
        [ADMISSION_NONCE_EXPIRED] = "nonce expired",
        [ADMISSION_NONCE_USED] = "nonce already used",
        [ADMISSION_NONCE_UNKNOWN] = "nonce unknown (not issued by this sponsor, or forgotten)",
};

const char *admission_nonce_state_to_string(AdmissionNonceState s) {
        return s >= 0 && s < _ADMISSION_NONCE_STATE_MAX ? nonce_state_names[s] : NULL;
}

AdmissionSession *admission_session_free(AdmissionSession *s) {
        if (!s)
                return NULL;
        secret_free(s->k);
        free(s->hello);
        free(s->challenge);
        admission_hello_done(&s->msg);
        free(s);
        return NULL;
}

int admission_nonces_new(size_t max, size_t used_max, AdmissionNonces **ret) {
        AdmissionNonces *t;

        if (max == 0 || used_max == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->sessions = calloc(max, sizeof(*t->sessions));
        t->used = calloc(used_max, sizeof(*t->used));
        if (!t->sessions || !t->used) {
                admission_nonces_free(t);
                return -ENOMEM;
        }
        t->max = max;
        t->used_max = used_max;
        *ret = t;
        return 0;
}

AdmissionNonces *admission_nonces_free(AdmissionNonces *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                admission_session_free(t->sessions[i]);
        free(t->sessions);
        free(t->used);
        free(t);
        return NULL;
}

size_t admission_nonces_pending(const AdmissionNonces *t) {
        return t->n;
}

static void remove_at(AdmissionNonces *t, size_t i) {
        t->sessions[i] = t->sessions[--t->n];
        t->sessions[t->n] = NULL;
}

static void used_remember(AdmissionNonces *t, const uint8_t nonce[ADMISSION_NONCE_SIZE]) {
        memcpy(t->used[t->used_next], nonce, ADMISSION_NONCE_SIZE);
        t->used_next = (t->used_next + 1) % t->used_max;
        if (t->used_n < t->used_max)
                t->used_n++;
}

int admission_nonces_add(AdmissionNonces *t, AdmissionSession *s, uint64_t now_usec) {
        if (t->n >= t->max) {
                /* the oldest expired session makes room; its nonce is
                 * forgotten (an evidence for it now reads as unknown) */
                size_t oldest = t->n;

                for (size_t i = 0; i < t->n; i++)
                        if (t->sessions[i]->expires_usec <= now_usec &&
                            (oldest == t->n || t->sessions[i]->expires_usec < t->sessions[oldest]->expires_usec))
                                oldest = i;
                if (oldest == t->n) {
                        admission_session_free(s);
                        return -EBUSY;
                }
                admission_session_free(t->sessions[oldest]);
                remove_at(t, oldest);
        }
        t->sessions[t->n++] = s;
        return 0;
}

AdmissionNonceState admission_nonces_take(AdmissionNonces *t, const uint8_t nonce[ADMISSION_NONCE_SIZE],
                                          uint64_t now_usec, AdmissionSession **ret) {
        for (size_t i = 0; i < t->n; i++) {
                AdmissionSession *s = t->sessions[i];

                if (CRYPTO_memcmp(s->nonce, nonce, ADMISSION_NONCE_SIZE) != 0)
                        continue;
                remove_at(t, i);
                used_remember(t, nonce);
                /* expired or not, the caller gets the session: it says
                 * who the refusal was for */
                *ret = s;
                return s->expires_usec <= now_usec ? ADMISSION_NONCE_EXPIRED : ADMISSION_NONCE_OK;
        }
        for (size_t i = 0; i < t->used_n; i++)
                if (CRYPTO_memcmp(t->used[i], nonce, ADMISSION_NONCE_SIZE) == 0)
                        return ADMISSION_NONCE_USED;
        return ADMISSION_NONCE_UNKNOWN;
}
