/* Verifier throughput on one core: the quote checks a sponsor runs for
 * each joiner (quote_verify: parse, magic, type, qualifyingData, the AK's
 * signature, PCR selection, pcrDigest; what tpm2_checkquote checks) in a
 * loop for SECONDS, then the same with the whole verify_evidence() (EK
 * chain to the CA bundle, AK attributes and name, quote, no policy), over
 * the JSON `strata attest quote` printed. Prints two lines: "quote N/s" and
 * "evidence N/s". bench_admission.py compares the first with one
 * tpm2_checkquote process per quote. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jose/jose.h>

#include "attest/verify.h"

#define BENCH_EVIDENCE_MAX (1024u * 1024u)

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int b64(const json_t *doc, const char *name, Blob *ret) {
        const json_t *v = json_object_get(doc, name);
        size_t n = jose_b64_dec(v, NULL, 0);

        if (!v || json_is_null(v)) {
                *ret = (Blob) {};
                return 0;
        }
        if (n == SIZE_MAX || !(ret->data = malloc(n + 1)) || jose_b64_dec(v, ret->data, n) != n)
                return -EINVAL;
        ret->size = n;
        return 0;
}

static int hexbytes(const char *s, uint8_t *out, size_t max, size_t *ret) {
        size_t n = strlen(s) / 2;

        if (n > max)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t) v;
        }
        *ret = n;
        return 0;
}

int main(int argc, char **argv) {
        AttestEvidence e = {};
        AttestVerifyConfig cfg = { .no_policy = true };
        uint8_t nonce[ATTEST_NONCE_MAX];
        TPM2B_PUBLIC ak = {};
        json_t *doc, *values, *v;
        const char *key;
        double seconds, t0, dt;
        unsigned long n;

        if (argc != 5 || (seconds = atof(argv[4])) <= 0) {
                fprintf(stderr, "usage: %s EVIDENCE.json NONCE-HEX EK-CA-BUNDLE SECONDS\n", argv[0]);
                return 2;
        }
        doc = json_load_file(argv[1], 0, NULL);
        if (!doc || b64(doc, "ek_pub", &e.ek_pub) < 0 || b64(doc, "ek_cert", &e.ek_cert) < 0 ||
            b64(doc, "ak_pub", &e.ak_pub) < 0 || b64(doc, "attest", &e.attest) < 0 ||
            b64(doc, "signature", &e.signature) < 0 ||
            tpm_hash_from_name(json_string_value(json_object_get(json_object_get(doc, "pcrs"), "bank")),
                               &e.pcrs.hash_alg) < 0 ||
            hexbytes(argv[2], nonce, sizeof(nonce), &cfg.nonce_size) < 0) {
                fprintf(stderr, "bench-admission: bad evidence or nonce\n");
                return 2;
        }
        e.pcrs.size = tpm_hash_size(e.pcrs.hash_alg);
        values = json_object_get(json_object_get(doc, "pcrs"), "values");
        json_object_foreach(values, key, v) {
                unsigned i = (unsigned) atoi(key);
                size_t got;
                if (i >= ATTEST_PCR_MAX || hexbytes(json_string_value(v), e.pcrs.value[i], 64, &got) < 0)
                        return 2;
                e.pcrs.mask |= UINT32_C(1) << i;
        }
        cfg.nonce = nonce;
        cfg.ek.ca_file = argv[3];
        if (tpm_public_parse(e.ak_pub.data, e.ak_pub.size, &ak, NULL) < 0)
                return 2;

        QuoteExpect expect = { .nonce = nonce, .nonce_size = cfg.nonce_size,
                               .selection = { .hash_alg = e.pcrs.hash_alg, .mask = e.pcrs.mask }, .pcrs = &e.pcrs };
        t0 = now_s();
        for (n = 0; (dt = now_s() - t0) < seconds; n++) {
                AttestReport report = {};
                if (quote_verify(&ak.publicArea, e.attest.data, e.attest.size, e.signature.data, e.signature.size,
                                 &expect, NULL, &report) != 0) {
                        fprintf(stderr, "bench-admission: the quote does not verify: %s\n",
                                report.n_lines ? report.lines[0] : "?");
                        return 1;
                }
                attest_report_clear(&report);
        }
        printf("quote %.0f/s\n", (double) n / dt);

        t0 = now_s();
        for (n = 0; (dt = now_s() - t0) < seconds; n++) {
                AttestReport report = {};
                if (verify_evidence(&e, &cfg, &report, NULL) != 0) {
                        fprintf(stderr, "bench-admission: the evidence does not verify: %s\n",
                                report.n_lines ? report.lines[0] : "?");
                        return 1;
                }
                attest_report_clear(&report);
        }
        printf("evidence %.0f/s\n", (double) n / dt);
        json_decref(doc);
        return 0;
}
