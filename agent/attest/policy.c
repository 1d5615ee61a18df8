/* policy: the fleet's attestation policy (proto/attest-policy.schema.json),
 * signed detached by the fleet policy key, and the verdict: the report of
 * failed checks and verify_evidence(), which runs EK trust, the AK, the
 * quote, the event-log replay and the policy in that order and collects
 * every failure. The policy's signature is checked over the exact file
 * bytes before a single member of it is read. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/openssl-cleanup.h"
#include "attest/verify.h"
#include "core/error-detail.h"

/* Limits of this file (the document caps are in verify.h). */
#define ATTEST_POLICY_VERSION 1
#define ATTEST_POLICY_KEY_PEM_MAX (16u * 1024u)
#define ATTEST_POLICY_TIME_FORMAT "%Y-%m-%dT%H:%M:%SZ"
#define ATTEST_POLICY_TIME_LEN 20u /* 2024-01-01T00:00:00Z */
#define ATTEST_HEX_LINE_MAX (2u * EVENTLOG_DIGEST_MAX + 1u)

/* ---- The report ---- */

void attest_report_add(AttestReport *r, const char *format, ...) {
        va_list ap;
        char *line = NULL;
        int n;

        if (r->n_lines >= ATTEST_REPORT_MAX) {
                r->dropped++;
                return;
        }
        va_start(ap, format);
        n = vasprintf(&line, format, ap);
        va_end(ap);
        if (n < 0) {
                r->dropped++;
                return;
        }
        if ((size_t) n >= ATTEST_REPORT_LINE_MAX)
                line[ATTEST_REPORT_LINE_MAX - 1] = '\0';
        r->lines[r->n_lines++] = line;
}

void attest_report_clear(AttestReport *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_lines; i++)
                free(r->lines[i]);
        *r = (AttestReport) {};
}

bool attest_report_ok(const AttestReport *r) {
        return r->n_lines == 0 && r->dropped == 0;
}

static size_t report_count(const AttestReport *r) {
        return r->n_lines + r->dropped;
}

/* ---- The fleet policy key and signature ---- */


int attest_policy_key_parse(const uint8_t *pem, size_t size, EVP_PKEY **ret, char **reterr) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        char group[32] = "";

        if (size > ATTEST_POLICY_KEY_PEM_MAX)
                return error_detail_set(reterr, -E2BIG, "policy key: %zu bytes", size);
        bio = BIO_new_mem_buf(pem, (int) size);
        if (!bio)
                return -ENOMEM;
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (!key) {
                ERR_clear_error();
                return error_detail_set(reterr, -EBADMSG, "policy key: not a PEM public key");
        }
        if (EVP_PKEY_is_a(key, "ED25519")) {
                *ret = take_ptr(key);
                return 0;
        }
        if (EVP_PKEY_is_a(key, "EC") &&
            EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)) {
                *ret = take_ptr(key);
                return 0;
        }
        ERR_clear_error();
        return error_detail_set(reterr, -EOPNOTSUPP, "policy key: %s is neither ECDSA P-256 nor Ed25519",
                                EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "key");
}

int attest_policy_verify_signature(const uint8_t *doc, size_t size, const uint8_t *sig, size_t sig_size,
                                   EVP_PKEY *key, char **reterr) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        /* Ed25519 hashes internally (no digest); ECDSA P-256 with SHA-256 */
        const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

        if (!ctx)
                return -ENOMEM;
        if (size > ATTEST_POLICY_SIZE_MAX || sig_size == 0 || sig_size > ATTEST_POLICY_SIG_MAX)
                return error_detail_set(reterr, -EKEYREJECTED, "policy or signature size out of range");
        if (EVP_DigestVerifyInit_ex(ctx, NULL, md ? "SHA256" : NULL, NULL, NULL, key, NULL) != 1 ||
            EVP_DigestVerify(ctx, sig, sig_size, doc, size) != 1) {
                ERR_clear_error();
                return error_detail_set(reterr, -EKEYREJECTED, "signature does not verify");
        }
        return 0;
}

/* ---- The document ---- */

static int hex_decode(const char *s, uint8_t *ret, size_t want) {
        if (!s || strlen(s) != 2 * want)
                return -EINVAL;
        for (size_t i = 0; i < want; i++) {
                unsigned v = 0;
                for (int k = 0; k < 2; k++) {
                        char ch = s[2 * i + (size_t) k];
                        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned) (ch - '0')
                                     : ch >= 'a' && ch <= 'f' ? (unsigned) (ch - 'a' + 10)
                                     : ch >= 'A' && ch <= 'F' ? (unsigned) (ch - 'A' + 10)
                                                              : 16u;
                        if (d > 15)
                                return -EINVAL;
                        v = v << 4 | d;
                }
                ret[i] = (uint8_t) v;
        }
        return 0;
}

static char *hex_encode(const uint8_t *p, size_t n, char *buf, size_t size) {
        size_t k = 0;

        for (size_t i = 0; i < n && k + 2 < size; i++, k += 2)
                snprintf(buf + k, 3, "%02x", p[i]);
        buf[k] = '\0';
        return buf;
}

static int policy_time_parse(const json_t *v, time_t *ret) {
        const char *s = json_string_value(v);
        struct tm tm = {};
        const char *end;

        if (!s || strlen(s) != ATTEST_POLICY_TIME_LEN)
                return -EINVAL;
        end = strptime(s, ATTEST_POLICY_TIME_FORMAT, &tm);
        if (!end || *end)
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

/* Rejects any member of `obj` not in the NULL-terminated `allowed`. */
static const char *policy_unknown_key(const json_t *obj, const char *const *allowed) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) obj, key, v) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        ok = ok || strcmp(key, allowed[i]) == 0;
                if (!ok)
                        return key;
        }
        return NULL;
}

static int policy_pcr_index(const char *key, unsigned *ret) {
        char *end;
        unsigned long v;

        if (!key[0] || (key[0] == '0' && key[1]) || key[0] < '0' || key[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(key, &end, 10);
        if (errno || *end || v >= ATTEST_PCR_MAX)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int policy_pcr_parse(const char *key, const json_t *v, AttestPolicy *p, char **reterr) {
        static const char *const pcr_keys[] = { "value", "events", NULL };
        static const char *const event_keys[] = { "type", "digest", NULL };
        const json_t *value, *events;
        AttestPolicyPcr *pcr;
        unsigned index;
        const char *bad;

        if (policy_pcr_index(key, &index) < 0)
                return error_detail_set(reterr, -EBADMSG, "$.pcrs: \"%.16s\" is not a PCR index 0..%u", key,
                                        ATTEST_PCR_MAX - 1);
        if (!json_is_object(v))
                return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u: not an object", index);
        bad = policy_unknown_key(v, pcr_keys);
        if (bad)
                return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u: unknown member \"%.32s\"", index, bad);
        pcr = &p->pcrs[index];
        value = json_object_get(v, "value");
        events = json_object_get(v, "events");
        if (!!value == !!events)
                return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u: needs exactly one of value, events", index);
        if (value) {
                if (hex_decode(json_string_value(value), pcr->value, p->digest_size) < 0)
                        return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u.value: not %zu hex bytes", index,
                                                p->digest_size);
                pcr->has_value = true;
        } else {
                size_t n = json_array_size(events);

                if (!json_is_array(events) || n == 0)
                        return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u.events: not a non-empty array", index);
                if (n > ATTEST_POLICY_EVENTS_MAX)
                        return error_detail_set(reterr, -E2BIG, "$.pcrs.%u.events: %zu entries (max %u)", index, n,
                                                ATTEST_POLICY_EVENTS_MAX);
                pcr->events = calloc(n, sizeof(*pcr->events));
                if (!pcr->events)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        const json_t *e = json_array_get(events, i), *type;
                        AttestPolicyEvent *pe = &pcr->events[i];

                        if (!json_is_object(e))
                                return error_detail_set(reterr, -EBADMSG, "$.pcrs.%u.events[%zu]: not an object",
                                                        index, i);
                        bad = policy_unknown_key(e, event_keys);
                        if (bad)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "$.pcrs.%u.events[%zu]: unknown member \"%.32s\"", index, i,
                                                        bad);
                        type = json_object_get(e, "type");
                        if (type) {
                                if (eventlog_type_from_name(json_string_value(type), &pe->type) < 0)
                                        return error_detail_set(reterr, -EBADMSG,
                                                                "$.pcrs.%u.events[%zu].type: not a known event "
                                                                "type name",
                                                                index, i);
                                pe->has_type = true;
                        }
                        if (hex_decode(json_string_value(json_object_get(e, "digest")), pe->digest,
                                       p->digest_size) < 0)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "$.pcrs.%u.events[%zu].digest: not %zu hex bytes", index, i,
                                                        p->digest_size);
                        pcr->n_events++;
                }
        }
        p->mask |= UINT32_C(1) << index;
        return 0;
}

void attest_policy_done(AttestPolicy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < ATTEST_PCR_MAX; i++)
                free(p->pcrs[i].events);
        *p = (AttestPolicy) {};
}

int attest_policy_parse(const uint8_t *doc, size_t size, AttestPolicy *ret, char **reterr) {
        static const char *const root_keys[] = { "version", "description", "pcr_bank", "pcrs",
                                                 "not_before", "not_after", NULL };
        json_auto_t *root = NULL;
        _cleanup_(attest_policy_done) AttestPolicy p = {};
        const json_t *version, *pcrs, *v;
        json_error_t jerr;
        const char *key, *bad;
        int r;

        if (size > ATTEST_POLICY_SIZE_MAX)
                return error_detail_set(reterr, -E2BIG, "policy: %zu bytes (max %u)", size, ATTEST_POLICY_SIZE_MAX);
        root = json_loadb((const char *) doc, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return error_detail_set(reterr, -EBADMSG, "policy: line %d: %s", jerr.line, jerr.text);
        if (!json_is_object(root))
                return error_detail_set(reterr, -EBADMSG, "$: not an object");
        bad = policy_unknown_key(root, root_keys);
        if (bad)
                return error_detail_set(reterr, -EBADMSG, "$: unknown member \"%.32s\"", bad);
        version = json_object_get(root, "version");
        if (!json_is_integer(version) || json_integer_value(version) != ATTEST_POLICY_VERSION)
                return error_detail_set(reterr, -EBADMSG, "$.version: must be %d", ATTEST_POLICY_VERSION);
        v = json_object_get(root, "description");
        if (v && !json_is_string(v))
                return error_detail_set(reterr, -EBADMSG, "$.description: not a string");
        if (tpm_hash_from_name(json_string_value(json_object_get(root, "pcr_bank")), &p.bank) < 0)
                return error_detail_set(reterr, -EBADMSG, "$.pcr_bank: not sha1, sha256, sha384 or sha512");
        p.digest_size = tpm_hash_size(p.bank);
        pcrs = json_object_get(root, "pcrs");
        if (!json_is_object(pcrs) || json_object_size(pcrs) == 0)
                return error_detail_set(reterr, -EBADMSG, "$.pcrs: not a non-empty object");
        json_object_foreach((json_t *) pcrs, key, v) {
                r = policy_pcr_parse(key, v, &p, reterr);
                if (r < 0)
                        return r;
        }
        v = json_object_get(root, "not_before");
        if (v) {
                if (policy_time_parse(v, &p.not_before) < 0)
                        return error_detail_set(reterr, -EBADMSG, "$.not_before: not YYYY-MM-DDTHH:MM:SSZ");
                p.has_not_before = true;
        }
        v = json_object_get(root, "not_after");
        if (v) {
                if (policy_time_parse(v, &p.not_after) < 0)
                        return error_detail_set(reterr, -EBADMSG, "$.not_after: not YYYY-MM-DDTHH:MM:SSZ");
                p.has_not_after = true;
        }
        /* a window nothing can fall into is a mistake, not a policy */
        if (p.has_not_before && p.has_not_after && p.not_after < p.not_before)
                return error_detail_set(reterr, -EBADMSG, "$.not_after: before not_before");
        *ret = p;
        p = (AttestPolicy) {};
        return 0;
}

/* One PCR with an event list: every measured event must be allowed. */
static void policy_pcr_events(const AttestPolicy *p, unsigned index, const EventLog *log, AttestReport *report) {
        const AttestPolicyPcr *pcr = &p->pcrs[index];
        const char *bank = tpm_hash_name(p->bank);
        size_t n = 0;

        for (size_t k = 1; k < log->n_events; k++) {
                const EventLogEvent *e = &log->events[k];
                const uint8_t *d;
                bool digest_ok = false, match = false;

                if (e->pcr != index || e->type == EV_NO_ACTION)
                        continue;
                n++;
                d = eventlog_event_digest(e, p->bank);
                if (!d) {
                        attest_report_add(report, "PCR %u: event #%zu has no %s digest", index, k, bank);
                        continue;
                }
                for (size_t i = 0; i < pcr->n_events && !match; i++) {
                        const AttestPolicyEvent *a = &pcr->events[i];
                        if (memcmp(a->digest, d, p->digest_size) != 0)
                                continue;
                        digest_ok = true;
                        match = !a->has_type || a->type == e->type;
                }
                if (match)
                        continue;
                if (digest_ok) {
                        const char *name = eventlog_type_name(e->type);
                        if (name)
                                attest_report_add(report, "PCR %u: event #%zu type %s is not allowed with its digest",
                                                  index, k, name);
                        else
                                attest_report_add(report,
                                                  "PCR %u: event #%zu type 0x%08" PRIx32
                                                  " is not allowed with its digest",
                                                  index, k, e->type);
                } else
                        attest_report_add(report, "PCR %u: event #%zu digest not in the allowed list", index, k);
        }
        if (n == 0)
                attest_report_add(report, "PCR %u: no events in the log, the policy expects some", index);
}

int attest_policy_evaluate(const AttestPolicy *p, const PcrSelection *quoted_sel, const PcrValues *quoted,
                           const EventLog *log, time_t now, AttestReport *report) {
        size_t n_before = report_count(report);
        char got[ATTEST_HEX_LINE_MAX], want[ATTEST_HEX_LINE_MAX];
        const char *bank = tpm_hash_name(p->bank);

        if (p->has_not_before && now < p->not_before)
                attest_report_add(report, "attestation policy is not valid yet (not_before)");
        if (p->has_not_after && now > p->not_after)
                attest_report_add(report, "attestation policy has expired (not_after)");
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                uint32_t bit = UINT32_C(1) << i;
                const AttestPolicyPcr *pcr = &p->pcrs[i];
                bool is_quoted = quoted_sel->hash_alg == p->bank && (quoted_sel->mask & bit) &&
                                 quoted->hash_alg == p->bank && (quoted->mask & bit);

                if (!(p->mask & bit))
                        continue;
                if (!is_quoted) {
                        attest_report_add(report, "PCR %u: required by the policy but not quoted in the %s bank", i,
                                          bank);
                        continue;
                }
                if (pcr->has_value && memcmp(pcr->value, quoted->value[i], p->digest_size) != 0)
                        attest_report_add(report, "PCR %u: value 0x%s expected 0x%s", i,
                                          hex_encode(quoted->value[i], p->digest_size, got, sizeof(got)),
                                          hex_encode(pcr->value, p->digest_size, want, sizeof(want)));
                if (pcr->events) {
                        if (!log)
                                attest_report_add(report, "PCR %u: no event log to match its events against", i);
                        else
                                policy_pcr_events(p, i, log, report);
                }
        }
        return report_count(report) > n_before ? -EACCES : 0;
}

/* ---- The verdict ---- */

/* The event log, replayed in the quoted bank, must reproduce every quoted
 * PCR it extends (the quoted values are bound to pcrDigest). */
static int verify_eventlog(const AttestEvidence *e, const PcrSelection *sel, EventLog *log, bool *ret_parsed,
                           AttestReport *report) {
        _cleanup_free_ char *err = NULL;
        PcrValues replayed = {};
        int r;

        r = eventlog_parse(e->eventlog.data, e->eventlog.size, log, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(report, "event log does not parse: %s", err ? err : "malformed");
                return 0;
        }
        *ret_parsed = true;
        r = eventlog_replay(log, sel->hash_alg, &replayed, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(report, "event log cannot be replayed: %s", err ? err : "?");
                return 0;
        }
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                uint32_t bit = UINT32_C(1) << i;

                if (!(sel->mask & bit) || !(replayed.mask & bit))
                        continue;
                if (e->pcrs.hash_alg != sel->hash_alg || !(e->pcrs.mask & bit) ||
                    memcmp(replayed.value[i], e->pcrs.value[i], replayed.size) != 0)
                        attest_report_add(report, "event log replay of PCR %u does not match the quoted value", i);
        }
        return 0;
}

static int verify_policy(const AttestEvidence *e, const AttestVerifyConfig *cfg, const PcrSelection *sel,
                         const EventLog *log, AttestReport *report) {
        _cleanup_(attest_policy_done) AttestPolicy p = {};
        _cleanup_free_ char *err = NULL;
        int r;

        if (cfg->no_policy)
                return 0;
        if (cfg->policy.size == 0 || !cfg->policy_key) {
                attest_report_add(report, "no attestation policy (or no fleet policy key) to judge the boot by");
                return 0;
        }
        r = attest_policy_verify_signature(cfg->policy.data, cfg->policy.size, cfg->policy_sig.data,
                                           cfg->policy_sig.size, cfg->policy_key, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(report, "attestation policy is not signed by the fleet policy key");
                return 0;
        }
        r = attest_policy_parse(cfg->policy.data, cfg->policy.size, &p, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(report, "attestation policy does not parse: %s", err ? err : "malformed");
                return 0;
        }
        r = attest_policy_evaluate(&p, sel, &e->pcrs, log, cfg->now, report);
        return r == -EACCES ? 0 : r;
}

int verify_evidence(const AttestEvidence *e, const AttestVerifyConfig *cfg, AttestReport *report,
                    AttestVerdict *ret_verdict) {
        _cleanup_(eventlog_done) EventLog log = {};
        _cleanup_free_ char *err = NULL;
        size_t n_before = report_count(report);
        AttestVerdict verdict = {};
        TPM2B_PUBLIC ek = {}, ak = {};
        PcrSelection sel = cfg->selection;
        bool ak_ok = false, log_parsed = false;
        int r;

        if (sel.hash_alg == 0)
                sel = (PcrSelection) { .hash_alg = e->pcrs.hash_alg, .mask = e->pcrs.mask };

        /* 1. the EK: a genuine TPM the fleet trusts */
        r = tpm_public_parse(e->ek_pub.data, e->ek_pub.size, &ek, &err);
        if (r < 0)
                attest_report_add(report, "EK public area does not parse: %s", err ? err : "malformed");
        else {
                r = ek_verify(&ek.publicArea, e->ek_cert.data, e->ek_cert.size, &cfg->ek, report);
                if (r == -ENOMEM)
                        return r;
                verdict.ek_digest_set = ek_public_digest(&ek.publicArea, verdict.ek_digest) == 0;
        }

        /* 2. the AK: fit to sign quotes, and its name computed here */
        r = tpm_public_parse(e->ak_pub.data, e->ak_pub.size, &ak, &err);
        if (r < 0)
                attest_report_add(report, "AK public area does not parse: %s", err ? err : "malformed");
        else if (tpm_public_name(&ak.publicArea, verdict.ak_name, &verdict.ak_name_size, &err) < 0)
                attest_report_add(report, "AK name cannot be computed: %s", err ? err : "?");
        else {
                ak_ok = true;
                if (quote_ak_check(&ak.publicArea, &err) < 0)
                        attest_report_add(report, "AK is not a restricted signing key of this TPM: %s", err);
                if (e->ak_name.size > 0 && (e->ak_name.size != verdict.ak_name_size ||
                                            memcmp(e->ak_name.data, verdict.ak_name, e->ak_name.size) != 0))
                        attest_report_add(report, "AK name does not match its public area");
        }

        /* 3. the quote */
        if (ak_ok) {
                QuoteExpect expect = { .nonce = cfg->nonce, .nonce_size = cfg->nonce_size, .selection = sel,
                                       .pcrs = &e->pcrs };
                r = quote_verify(&ak.publicArea, e->attest.data, e->attest.size, e->signature.data,
                                 e->signature.size, &expect, &verdict.quote, report);
                if (r == -ENOMEM)
                        return r;
                verdict.quote_parsed = verdict.quote.magic != 0 || verdict.quote.type != 0;
        } else
                attest_report_add(report, "quote not checked: no usable AK");

        /* 4. the event log against the quoted PCRs */
        if (e->eventlog.size > 0) {
                r = verify_eventlog(e, &sel, &log, &log_parsed, report);
                if (r < 0)
                        return r;
        }

        /* 5. the policy: signature first, then the boot state */
        r = verify_policy(e, cfg, &sel, log_parsed ? &log : NULL, report);
        if (r < 0)
                return r;

        if (ret_verdict)
                *ret_verdict = verdict;
        return report_count(report) > n_before ? -EACCES : 0;
}
