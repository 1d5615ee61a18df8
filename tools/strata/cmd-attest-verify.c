/* `strata attest verify`: the sponsor's verdict on a joiner's evidence, by
 * hand. Reads the JSON `strata attest quote` prints (ek_pub, ek_cert,
 * ak_pub, ak_name, attest, signature as base64url of the TPM wire formats;
 * pcrs {bank, values {index: hex}}), runs verify_evidence() against the
 * verifier's nonce, EK trust (CA bundle or allowlist), the event log and
 * the fleet-signed policy, and prints the verdict with every failed check.
 * Exit codes: 0 admitted, 1 refused, 2 bad input or usage. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jose/jose.h>

#include "attest-cli.h"
#include "attest/verify.h"
#include "core/cleanup.h"

#define VERIFY_EVIDENCE_MAX (1024u * 1024u) /* the JSON document */
#define VERIFY_KEY_MAX (16u * 1024u)
#define VERIFY_EK_ALLOW_MAX 64u
#define VERIFY_PCRS_ARG_MAX 128u

enum {
        VERIFY_EXIT_ADMITTED = 0,
        VERIFY_EXIT_REFUSED = 1,
        VERIFY_EXIT_INPUT = 2,
};

typedef struct VerifyArgs {
        const char *evidence; /* NULL or "-": stdin */
        const char *nonce_hex, *pcrs, *eventlog, *policy, *policy_sig, *policy_key, *ek_ca;
        const char *ek_allow[VERIFY_EK_ALLOW_MAX];
        size_t n_ek_allow;
        bool no_policy;
} VerifyArgs;

/* The buffers verify_evidence() borrows; freed together. */
typedef struct VerifyInput {
        AttestEvidence e;
        AttestVerifyConfig cfg;
        uint8_t nonce[ATTEST_NONCE_MAX];
        uint8_t (*allow)[32];
        EVP_PKEY *policy_key;
} VerifyInput;

static void usage(void) {
        fprintf(stderr,
                "usage: strata attest verify [FILE] --nonce HEX (--ek-ca FILE | --ek-allow SHA256HEX...)\n"
                "                            [--pcrs BANK:LIST] [--eventlog FILE]\n"
                "                            (--policy FILE --policy-sig FILE --policy-key PEM | --no-policy)\n"
                "  FILE              the JSON `strata attest quote` printed (default: stdin)\n"
                "  --nonce HEX       the nonce the quote must carry\n"
                "  --ek-ca FILE      PEM bundle of trusted EK CAs (roots and intermediates)\n"
                "  --ek-allow HEX    SHA-256 of a trusted EK public area (repeatable; printed as \"ek sha256\")\n"
                "  --pcrs BANK:LIST  the selection the quote must have (default: the bank and PCRs in FILE)\n"
                "  --eventlog FILE   the node's binary_bios_measurements, replayed against the quote\n"
                "  --policy FILE     the attestation policy (proto/attest-policy.schema.json)\n"
                "  --policy-sig FILE its detached signature by the fleet policy key\n"
                "  --policy-key PEM  the fleet policy public key (ECDSA P-256 or Ed25519)\n"
                "  --no-policy       judge the TPM and quote only, not the boot state\n"
                "exit: 0 admitted, 1 refused (every failed check printed), 2 bad input\n");
}

static int read_all(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        FILE *f = !path || strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
        uint8_t *buf;
        size_t n;

        if (!f) {
                fprintf(stderr, "strata: attest verify: %s: %m\n", path);
                return -errno;
        }
        buf = malloc(max + 1);
        if (!buf) {
                if (f != stdin)
                        fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, max + 1, f);
        if (f != stdin)
                fclose(f);
        if (n > max) {
                fprintf(stderr, "strata: attest verify: %s: larger than %zu bytes\n", path ? path : "stdin", max);
                free(buf);
                return -E2BIG;
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

static int hex_decode(const char *s, uint8_t *ret, size_t max, size_t *ret_size) {
        size_t n = strlen(s);

        if (n == 0 || n % 2 || n / 2 > max)
                return -EINVAL;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
                    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
                        return -EINVAL;
                ret[i] = (uint8_t) v;
        }
        *ret_size = n / 2;
        return 0;
}

/* A base64url member into a new Blob; absent or null is an empty Blob
 * when `optional`. */
static int b64_member(const json_t *doc, const char *name, bool optional, Blob *ret) {
        const json_t *v = json_object_get(doc, name);
        size_t n;

        if (!v || json_is_null(v)) {
                if (optional)
                        return 0;
                fprintf(stderr, "strata: attest verify: evidence has no \"%s\"\n", name);
                return -EINVAL;
        }
        n = jose_b64_dec(v, NULL, 0);
        if (n == SIZE_MAX || n > VERIFY_EVIDENCE_MAX) {
                fprintf(stderr, "strata: attest verify: evidence \"%s\" is not base64url\n", name);
                return -EINVAL;
        }
        ret->data = malloc(n ? n : 1);
        if (!ret->data)
                return -ENOMEM;
        if (jose_b64_dec(v, ret->data, n) != n) {
                fprintf(stderr, "strata: attest verify: evidence \"%s\" is not base64url\n", name);
                return -EINVAL;
        }
        ret->size = n;
        return 0;
}

static int pcrs_member(const json_t *doc, PcrValues *ret) {
        const json_t *pcrs = json_object_get(doc, "pcrs"), *values, *v;
        PcrValues p = {};
        const char *key;

        if (tpm_hash_from_name(json_string_value(json_object_get(pcrs, "bank")), &p.hash_alg) < 0) {
                fprintf(stderr, "strata: attest verify: evidence pcrs.bank is not sha1, sha256, sha384 or sha512\n");
                return -EINVAL;
        }
        p.size = tpm_hash_size(p.hash_alg);
        values = json_object_get(pcrs, "values");
        if (!json_is_object(values)) {
                fprintf(stderr, "strata: attest verify: evidence has no pcrs.values\n");
                return -EINVAL;
        }
        json_object_foreach((json_t *) values, key, v) {
                char *end;
                unsigned long i = strtoul(key, &end, 10);
                size_t n = 0;

                if (!key[0] || *end || i >= ATTEST_PCR_MAX || !json_is_string(v) ||
                    hex_decode(json_string_value(v), p.value[i], p.size, &n) < 0 || n != p.size) {
                        fprintf(stderr, "strata: attest verify: evidence pcrs.values.%.8s is not a %zu-byte hex value\n",
                                key, p.size);
                        return -EINVAL;
                }
                p.mask |= UINT32_C(1) << i;
        }
        *ret = p;
        return 0;
}

/* "sha256:0,1,7" */
static int selection_parse(const char *s, PcrSelection *ret) {
        char buf[VERIFY_PCRS_ARG_MAX], *colon, *tok, *save = NULL;
        PcrSelection sel = {};

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        colon = strchr(buf, ':');
        if (!colon)
                return -EINVAL;
        *colon = '\0';
        if (tpm_hash_from_name(buf, &sel.hash_alg) < 0)
                return -EINVAL;
        for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long i = strtoul(tok, &end, 10);
                if (!tok[0] || *end || i >= ATTEST_PCR_MAX)
                        return -EINVAL;
                sel.mask |= UINT32_C(1) << i;
        }
        if (!sel.mask)
                return -EINVAL;
        *ret = sel;
        return 0;
}

static int args_parse(int argc, char **argv, VerifyArgs *a) {
        enum { ARG_NONCE = 0x100, ARG_PCRS, ARG_EVENTLOG, ARG_POLICY, ARG_POLICY_SIG, ARG_POLICY_KEY, ARG_NO_POLICY,
               ARG_EK_CA, ARG_EK_ALLOW };
        static const struct option options[] = {
                { "nonce", required_argument, NULL, ARG_NONCE },
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "eventlog", required_argument, NULL, ARG_EVENTLOG },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "policy-sig", required_argument, NULL, ARG_POLICY_SIG },
                { "policy-key", required_argument, NULL, ARG_POLICY_KEY },
                { "no-policy", no_argument, NULL, ARG_NO_POLICY },
                { "ek-ca", required_argument, NULL, ARG_EK_CA },
                { "ek-allow", required_argument, NULL, ARG_EK_ALLOW },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        *a = (VerifyArgs) {};
        optind = 0; /* the top-level parser already ran getopt */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_NONCE: a->nonce_hex = optarg; break;
                case ARG_PCRS: a->pcrs = optarg; break;
                case ARG_EVENTLOG: a->eventlog = optarg; break;
                case ARG_POLICY: a->policy = optarg; break;
                case ARG_POLICY_SIG: a->policy_sig = optarg; break;
                case ARG_POLICY_KEY: a->policy_key = optarg; break;
                case ARG_NO_POLICY: a->no_policy = true; break;
                case ARG_EK_CA: a->ek_ca = optarg; break;
                case ARG_EK_ALLOW:
                        if (a->n_ek_allow >= VERIFY_EK_ALLOW_MAX) {
                                fprintf(stderr, "strata: attest verify: more than %u --ek-allow\n", VERIFY_EK_ALLOW_MAX);
                                return -E2BIG;
                        }
                        a->ek_allow[a->n_ek_allow++] = optarg;
                        break;
                case 'h': usage(); return 1;
                default: usage(); return -EINVAL;
                }
        }
        if (optind < argc)
                a->evidence = argv[optind++];
        if (optind < argc || !a->nonce_hex || (!a->ek_ca && a->n_ek_allow == 0) ||
            (!a->no_policy && (!a->policy || !a->policy_sig || !a->policy_key)) ||
            (a->no_policy && (a->policy || a->policy_sig || a->policy_key))) {
                usage();
                return -EINVAL;
        }
        return 0;
}

static void input_free(VerifyInput *in) {
        Blob *blobs[] = { &in->e.ek_pub, &in->e.ek_cert, &in->e.ak_pub, &in->e.ak_name, &in->e.attest,
                          &in->e.signature, &in->e.eventlog, &in->cfg.policy, &in->cfg.policy_sig };

        for (size_t i = 0; i < ELEMENTSOF(blobs); i++)
                free(blobs[i]->data);
        free(in->allow);
        EVP_PKEY_free(in->policy_key);
}

static int input_load(const VerifyArgs *a, VerifyInput *in) {
        _cleanup_free_ uint8_t *text = NULL, *pem = NULL;
        json_auto_t *doc = NULL;
        json_error_t jerr;
        size_t size, n;
        int r;

        r = read_all(a->evidence, VERIFY_EVIDENCE_MAX, &text, &size);
        if (r < 0)
                return r;
        doc = json_loadb((const char *) text, size, 0, &jerr);
        if (!json_is_object(doc)) {
                fprintf(stderr, "strata: attest verify: evidence: line %d: %s\n", jerr.line,
                        doc ? "not an object" : jerr.text);
                return -EINVAL;
        }
        if ((r = b64_member(doc, "ek_pub", false, &in->e.ek_pub)) < 0 ||
            (r = b64_member(doc, "ek_cert", true, &in->e.ek_cert)) < 0 ||
            (r = b64_member(doc, "ak_pub", false, &in->e.ak_pub)) < 0 ||
            (r = b64_member(doc, "ak_name", true, &in->e.ak_name)) < 0 ||
            (r = b64_member(doc, "attest", false, &in->e.attest)) < 0 ||
            (r = b64_member(doc, "signature", false, &in->e.signature)) < 0 || (r = pcrs_member(doc, &in->e.pcrs)) < 0)
                return r;

        if (hex_decode(a->nonce_hex, in->nonce, sizeof(in->nonce), &n) < 0) {
                fprintf(stderr, "strata: attest verify: --nonce: expected 1..%u bytes of hex\n", ATTEST_NONCE_MAX);
                return -EINVAL;
        }
        in->cfg.nonce = in->nonce;
        in->cfg.nonce_size = n;
        if (a->pcrs && selection_parse(a->pcrs, &in->cfg.selection) < 0) {
                fprintf(stderr, "strata: attest verify: --pcrs: expected BANK:LIST like sha256:0,7\n");
                return -EINVAL;
        }
        in->cfg.ek.ca_file = a->ek_ca;
        if (a->n_ek_allow) {
                in->allow = calloc(a->n_ek_allow, sizeof(*in->allow));
                if (!in->allow)
                        return -ENOMEM;
                for (size_t i = 0; i < a->n_ek_allow; i++)
                        if (hex_decode(a->ek_allow[i], in->allow[i], 32, &n) < 0 || n != 32) {
                                fprintf(stderr, "strata: attest verify: --ek-allow: expected 64 hex digits\n");
                                return -EINVAL;
                        }
                in->cfg.ek.allow = (const uint8_t(*)[32]) in->allow;
                in->cfg.ek.n_allow = a->n_ek_allow;
        }
        if (a->eventlog &&
            (r = read_all(a->eventlog, ATTEST_EVENTLOG_MAX, &in->e.eventlog.data, &in->e.eventlog.size)) < 0)
                return r;
        in->cfg.no_policy = a->no_policy;
        if (!a->no_policy) {
                _cleanup_free_ char *err = NULL;

                if ((r = read_all(a->policy, ATTEST_POLICY_SIZE_MAX, &in->cfg.policy.data, &in->cfg.policy.size)) < 0 ||
                    (r = read_all(a->policy_sig, ATTEST_POLICY_SIG_MAX, &in->cfg.policy_sig.data,
                                  &in->cfg.policy_sig.size)) < 0 ||
                    (r = read_all(a->policy_key, VERIFY_KEY_MAX, &pem, &size)) < 0)
                        return r;
                r = attest_policy_key_parse(pem, size, &in->policy_key, &err);
                if (r < 0) {
                        fprintf(stderr, "strata: attest verify: --policy-key: %s\n", err ? err : "unusable");
                        return -EINVAL;
                }
                in->cfg.policy_key = in->policy_key;
        }
        in->cfg.now = time(NULL);
        return 0;
}

static void print_hex(const char *label, const uint8_t *p, size_t n) {
        printf("  %s: ", label);
        for (size_t i = 0; i < n; i++)
                printf("%02x", p[i]);
        printf("\n");
}

int attest_verify_cmd(int argc, char **argv) {
        VerifyInput in = {};
        AttestReport report = {};
        AttestVerdict verdict = {};
        VerifyArgs a;
        int r;

        r = args_parse(argc, argv, &a);
        if (r != 0)
                return r > 0 ? VERIFY_EXIT_ADMITTED : VERIFY_EXIT_INPUT;
        r = input_load(&a, &in);
        if (r < 0) {
                input_free(&in);
                return VERIFY_EXIT_INPUT;
        }
        r = verify_evidence(&in.e, &in.cfg, &report, &verdict);
        if (r < 0 && r != -EACCES) {
                fprintf(stderr, "strata: attest verify: %s\n", strerror(-r));
                input_free(&in);
                return VERIFY_EXIT_INPUT;
        }
        if (r == 0)
                printf("admitted%s\n", a.no_policy ? " (no policy: boot state not judged)" : "");
        else {
                printf("refused: %zu check%s failed\n", report.n_lines + report.dropped,
                       report.n_lines + report.dropped == 1 ? "" : "s");
                for (size_t i = 0; i < report.n_lines; i++)
                        printf("  - %s\n", report.lines[i]);
                if (report.dropped)
                        printf("  - (%zu more)\n", report.dropped);
        }
        if (verdict.ak_name_size)
                print_hex("ak name", verdict.ak_name, verdict.ak_name_size);
        if (verdict.ek_digest_set)
                print_hex("ek sha256", verdict.ek_digest, sizeof(verdict.ek_digest));
        attest_report_clear(&report);
        input_free(&in);
        return r == 0 ? VERIFY_EXIT_ADMITTED : VERIFY_EXIT_REFUSED;
}
