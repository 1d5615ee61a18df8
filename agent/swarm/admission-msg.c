/* admission-msg: the admission messages (proto/admission.schema.json)
 * parsed and built. Each message is a table of members (name, kind,
 * required, bounds, where it lands); one walker applies a table to a JSON
 * object, refusing unknown members, so a new member is a new row. Pure
 * functions of bytes: the fuzz target (tests/fuzz/fuzz-admission.c) calls
 * the parsers directly. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/jose.h>

#include "core/cleanup.h"
#include "core/strutil.h"
#include "core/error-detail.h"
#include "swarm/admission.h"

#define MSG_PATH_MAX 96u /* "$.bundle.ciphertext" and the like */
#define MSG_KEY_SHOWN_MAX 32
#define MSG_JSON_ERROR_SHOWN_MAX 96u
#define PCR_KEY_MAX 2u   /* "0".."23" */
#define MEMBER_CHAIN_MAX ELEMENTSOF(((AdmissionBundle *) NULL)->member_chain)

typedef enum FieldKind {
        FIELD_TYPE,       /* string: the message's name */
        FIELD_VERSION,    /* integer: ADMISSION_VERSION */
        FIELD_MACHINE,    /* string: a DNS label into char[ADMISSION_MACHINE_MAX + 1] */
        FIELD_BLOB,       /* base64url into a Blob, min..max bytes */
        FIELD_FIXED,      /* base64url into uint8_t[min] exactly */
        FIELD_UINT,       /* integer min..max into uint32_t */
        FIELD_BOOL,
        FIELD_PCR_BANK,   /* "sha256" into a uint16_t TPM2_ALG_* */
        FIELD_PCR_LIST,   /* [0, 7] ascending, unique, non-empty, into a uint32_t mask */
        FIELD_PCR_VALUES, /* {"0": hex, ...} into PcrValues, the bank set by a FIELD_PCR_BANK before */
        FIELD_STRINGS,    /* array of 1..min(max, cap) strings, each <= ADMISSION_REASON_MAX */
        FIELD_PEM,        /* string of a PEM certificate into char * */
        FIELD_PEMS,       /* array of 1..MEMBER_CHAIN_MAX PEM certificates */
        FIELD_SEALED,     /* {"iv", "tag", "ciphertext"} into AdmissionSealed */
} FieldKind;

typedef struct Field {
        const char *name;
        FieldKind kind;
        bool required;
        size_t offset; /* into the message struct */
        size_t min, max;
        const char *value; /* FIELD_TYPE: the expected name */
} Field;

typedef struct FieldTable {
        const Field *fields;
        size_t n_fields;
} FieldTable;

#define ROW(n, k, req, type, member, mn, mx) \
        { .name = n, .kind = k, .required = req, .offset = offsetof(type, member), .min = mn, .max = mx }
#define TYPE_ROW(v) { .name = "type", .kind = FIELD_TYPE, .required = true, .value = v }
#define VERSION_ROW { .name = "version", .kind = FIELD_VERSION, .required = true }

static const Field hello_fields[] = {
        TYPE_ROW("hello"),
        VERSION_ROW,
        ROW("machine", FIELD_MACHINE, true, AdmissionHello, machine, 1, ADMISSION_MACHINE_MAX),
        ROW("ek_pub", FIELD_BLOB, true, AdmissionHello, ek_pub, 1, ADMISSION_TPM_BLOB_MAX),
        ROW("ek_cert", FIELD_BLOB, false, AdmissionHello, ek_cert, 1, EK_CERT_MAX),
        ROW("ak_pub", FIELD_BLOB, true, AdmissionHello, ak_pub, 1, ADMISSION_TPM_BLOB_MAX),
        ROW("chan_pub", FIELD_BLOB, true, AdmissionHello, chan_pub, 1, ADMISSION_CHAN_PUB_MAX),
};

static const Field challenge_fields[] = {
        TYPE_ROW("challenge"),
        VERSION_ROW,
        ROW("nonce", FIELD_FIXED, true, AdmissionChallenge, nonce, ADMISSION_NONCE_SIZE, ADMISSION_NONCE_SIZE),
        ROW("expires_in", FIELD_UINT, true, AdmissionChallenge, expires_in, 1, ADMISSION_NONCE_TTL_MAX_SEC),
        ROW("sponsor_id", FIELD_FIXED, true, AdmissionChallenge, sponsor_id, ADMISSION_ID_SIZE, ADMISSION_ID_SIZE),
        ROW("pcr_bank", FIELD_PCR_BANK, true, AdmissionChallenge, selection.hash_alg, 0, 0),
        ROW("pcrs", FIELD_PCR_LIST, true, AdmissionChallenge, selection.mask, 1, ATTEST_PCR_MAX),
        ROW("credential", FIELD_BLOB, true, AdmissionChallenge, credential, 1, ADMISSION_TPM_BLOB_MAX),
        ROW("secret", FIELD_BLOB, true, AdmissionChallenge, secret, 1, ADMISSION_TPM_BLOB_MAX),
};

static const Field evidence_fields[] = {
        TYPE_ROW("evidence"),
        VERSION_ROW,
        ROW("nonce", FIELD_FIXED, true, AdmissionEvidence, nonce, ADMISSION_NONCE_SIZE, ADMISSION_NONCE_SIZE),
        ROW("attest", FIELD_BLOB, true, AdmissionEvidence, attest, 1, ADMISSION_TPM_BLOB_MAX),
        ROW("signature", FIELD_BLOB, true, AdmissionEvidence, signature, 1, ADMISSION_TPM_BLOB_MAX),
        ROW("pcr_bank", FIELD_PCR_BANK, true, AdmissionEvidence, pcrs.hash_alg, 0, 0),
        ROW("pcr_values", FIELD_PCR_VALUES, true, AdmissionEvidence, pcrs, 1, ATTEST_PCR_MAX),
        ROW("eventlog", FIELD_BLOB, false, AdmissionEvidence, eventlog, 1, ADMISSION_EVENTLOG_MAX),
        ROW("hmac", FIELD_FIXED, true, AdmissionEvidence, hmac, ADMISSION_HMAC_SIZE, ADMISSION_HMAC_SIZE),
};

static const Field verdict_fields[] = {
        TYPE_ROW("verdict"),
        VERSION_ROW,
        ROW("admitted", FIELD_BOOL, true, AdmissionVerdict, admitted, 0, 0),
        ROW("reasons", FIELD_STRINGS, false, AdmissionVerdict, reasons, 1, ADMISSION_REASONS_MAX),
        ROW("member_cert", FIELD_PEM, false, AdmissionVerdict, member_cert, 1, ADMISSION_PEM_MAX),
        ROW("bundle", FIELD_SEALED, false, AdmissionVerdict, bundle, 1, ADMISSION_BUNDLE_MAX + ADMISSION_GCM_TAG_SIZE),
};

static const Field sealed_fields[] = {
        ROW("iv", FIELD_FIXED, true, AdmissionSealed, iv, ADMISSION_GCM_IV_SIZE, ADMISSION_GCM_IV_SIZE),
        ROW("tag", FIELD_FIXED, true, AdmissionSealed, tag, ADMISSION_GCM_TAG_SIZE, ADMISSION_GCM_TAG_SIZE),
        ROW("ciphertext", FIELD_BLOB, true, AdmissionSealed, ciphertext, 1, ADMISSION_BUNDLE_MAX),
};

static const Field bundle_fields[] = {
        TYPE_ROW("bundle"),
        VERSION_ROW,
        ROW("member_chain", FIELD_PEMS, true, AdmissionBundle, member_chain, 1, MEMBER_CHAIN_MAX),
        ROW("fleet_ca", FIELD_PEM, true, AdmissionBundle, fleet_ca, 1, ADMISSION_PEM_MAX),
        ROW("policy", FIELD_BLOB, true, AdmissionBundle, policy, 1, ATTEST_POLICY_SIZE_MAX),
        ROW("policy_signature", FIELD_BLOB, true, AdmissionBundle, policy_sig, 1, ATTEST_POLICY_SIG_MAX),
};

/* ---- helpers ---- */

/* a label is at most 63 bytes, the most a certificate's name holds */
_Static_assert(ADMISSION_MACHINE_MAX == 63, "a machine name is one DNS label");

bool admission_machine_is_valid(const char *s) {
        return dns_label_is_valid(s);
}

static bool pem_is_certificate(const char *s, size_t n) {
        static const char begin[] = "-----BEGIN CERTIFICATE-----";
        static const char end[] = "-----END CERTIFICATE-----";

        return n >= sizeof(begin) + sizeof(end) && strncmp(s, begin, sizeof(begin) - 1) == 0 &&
               memmem(s, n, end, sizeof(end) - 1) != NULL && strlen(s) == n;
}

/* A peer's bytes quoted in a detail: printable ASCII only, cut. */
static const char *shown(const char *in, char *out, size_t size) {
        size_t i = 0;

        for (; in[i] && i + 1 < size; i++)
                out[i] = in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' ? in[i] : '?';
        out[i] = '\0';
        return out;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes base64url into a fresh buffer of min..max bytes. */
static int b64_decode(const json_t *v, size_t min, size_t max, uint8_t **ret, size_t *ret_size) {
        size_t n;
        uint8_t *buf;

        if (!json_is_string(v) || json_string_length(v) > (max + 2) / 3 * 4 + 4)
                return -EBADMSG;
        n = jose_b64_dec(v, NULL, 0);
        if (n == SIZE_MAX || n < min || n > max)
                return -EBADMSG;
        buf = malloc(n ? n : 1);
        if (!buf)
                return -ENOMEM;
        if (jose_b64_dec(v, buf, n) != n) {
                free(buf);
                return -EBADMSG;
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

static int field_fail(char **reterr, const char *path, const char *name, const char *what) {
        return error_detail_set(reterr, -EBADMSG, "%s.%s: %s", path, name, what);
}

static int table_parse(const json_t *obj, const Field *fields, size_t n_fields, void *out, const char *path,
                       char **reterr);

static int field_parse(const json_t *v, const Field *f, void *out, const char *path, char **reterr) {
        uint8_t *dst = (uint8_t *) out + f->offset;
        uint8_t *buf = NULL;
        size_t n = 0;
        int r;

        switch (f->kind) {
        case FIELD_TYPE:
                if (!json_is_string(v) || strcmp(json_string_value(v), f->value) != 0)
                        return error_detail_set(reterr, -EBADMSG, "%s.type: not \"%s\"", path, f->value);
                return 0;
        case FIELD_VERSION:
                if (!json_is_integer(v) || json_integer_value(v) != ADMISSION_VERSION)
                        return error_detail_set(reterr, -EBADMSG, "%s.version: not %d", path, ADMISSION_VERSION);
                return 0;
        case FIELD_MACHINE:
                if (!json_is_string(v) || !admission_machine_is_valid(json_string_value(v)))
                        return field_fail(reterr, path, f->name,
                                          "not a machine name (a lower-case DNS label of at most 63 characters)");
                strcpy((char *) dst, json_string_value(v));
                return 0;
        case FIELD_BLOB:
                r = b64_decode(v, f->min, f->max, &buf, &n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_detail_set(reterr, r, "%s.%s: not base64url of %zu..%zu bytes", path, f->name,
                                                f->min, f->max);
                ((Blob *) dst)->data = buf;
                ((Blob *) dst)->size = n;
                return 0;
        case FIELD_FIXED:
                r = b64_decode(v, f->min, f->min, &buf, &n);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_detail_set(reterr, r, "%s.%s: not base64url of %zu bytes", path, f->name, f->min);
                memcpy(dst, buf, n);
                free(buf);
                return 0;
        case FIELD_UINT:
                if (!json_is_integer(v) || json_integer_value(v) < (json_int_t) f->min ||
                    json_integer_value(v) > (json_int_t) f->max)
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not an integer in %zu..%zu", path, f->name,
                                                f->min, f->max);
                *(uint32_t *) dst = (uint32_t) json_integer_value(v);
                return 0;
        case FIELD_BOOL:
                if (!json_is_boolean(v))
                        return field_fail(reterr, path, f->name, "not a boolean");
                *(bool *) dst = json_is_true(v);
                return 0;
        case FIELD_PCR_BANK: {
                uint16_t alg;

                if (!json_is_string(v) || tpm_hash_from_name(json_string_value(v), &alg) < 0 ||
                    tpm_hash_size(alg) == 0)
                        return field_fail(reterr, path, f->name, "not sha1, sha256, sha384 or sha512");
                *(uint16_t *) dst = alg;
                return 0;
        }
        case FIELD_PCR_LIST: {
                uint32_t mask = 0;
                json_int_t last = -1;
                size_t i;
                json_t *e;

                if (!json_is_array(v) || json_array_size(v) < f->min || json_array_size(v) > f->max)
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not an array of %zu..%zu PCRs", path,
                                                f->name, f->min, f->max);
                json_array_foreach(v, i, e) {
                        if (!json_is_integer(e) || json_integer_value(e) <= last ||
                            json_integer_value(e) >= (json_int_t) ATTEST_PCR_MAX)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "%s.%s[%zu]: not a PCR index above the previous one, below %u",
                                                        path, f->name, i, ATTEST_PCR_MAX);
                        last = json_integer_value(e);
                        mask |= UINT32_C(1) << last;
                }
                *(uint32_t *) dst = mask;
                return 0;
        }
        case FIELD_PCR_VALUES: {
                PcrValues *p = (PcrValues *) dst;
                const char *key;
                json_t *e;

                p->size = tpm_hash_size(p->hash_alg);
                p->mask = 0;
                if (p->size == 0 || !json_is_object(v) || json_object_size(v) < f->min ||
                    json_object_size(v) > f->max)
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not an object of %zu..%zu PCR values", path,
                                                f->name, f->min, f->max);
                json_object_foreach((json_t *) v, key, e) {
                        const char *hex = json_string_value(e);
                        size_t klen = strlen(key);
                        unsigned idx = 0;

                        /* decimal without leading zeros: one spelling per PCR */
                        if (klen == 0 || klen > PCR_KEY_MAX || (klen > 1 && key[0] == '0'))
                                idx = ATTEST_PCR_MAX;
                        for (size_t k = 0; k < klen && idx < ATTEST_PCR_MAX; k++)
                                idx = key[k] >= '0' && key[k] <= '9' ? idx * 10u + (unsigned) (key[k] - '0')
                                                                     : ATTEST_PCR_MAX;
                        if (idx >= ATTEST_PCR_MAX) {
                                char buf[MSG_KEY_SHOWN_MAX + 1];
                                return error_detail_set(reterr, -EBADMSG, "%s.%s: \"%s\" is not a PCR index", path,
                                                        f->name, shown(key, buf, sizeof(buf)));
                        }
                        if (!hex || strlen(hex) != 2 * p->size)
                                return error_detail_set(reterr, -EBADMSG, "%s.%s.%u: not %zu bytes of lower-case hex",
                                                        path, f->name, idx, p->size);
                        for (size_t k = 0; k < p->size; k++) {
                                int hi = hex_digit(hex[2 * k]), lo = hex_digit(hex[2 * k + 1]);
                                if (hi < 0 || lo < 0)
                                        return error_detail_set(reterr, -EBADMSG,
                                                                "%s.%s.%u: not %zu bytes of lower-case hex", path,
                                                                f->name, idx, p->size);
                                p->value[idx][k] = (uint8_t) (hi << 4 | lo);
                        }
                        p->mask |= UINT32_C(1) << idx;
                }
                return 0;
        }
        case FIELD_STRINGS: {
                char **out_strings = (char **) dst;
                size_t i;
                json_t *e;

                if (!json_is_array(v) || json_array_size(v) < f->min || json_array_size(v) > f->max)
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not an array of %zu..%zu strings", path,
                                                f->name, f->min, f->max);
                json_array_foreach(v, i, e) {
                        if (!json_is_string(e) || json_string_length(e) >= ADMISSION_REASON_MAX ||
                            strlen(json_string_value(e)) != json_string_length(e))
                                return error_detail_set(reterr, -EBADMSG,
                                                        "%s.%s[%zu]: not a string of at most %u bytes",
                                                        path, f->name, i, ADMISSION_REASON_MAX - 1u);
                        out_strings[i] = strdup(json_string_value(e));
                        if (!out_strings[i])
                                return -ENOMEM;
                        /* the count sits right after the array in AdmissionVerdict */
                        ((AdmissionVerdict *) out)->n_reasons = i + 1;
                }
                return 0;
        }
        case FIELD_PEM:
                if (!json_is_string(v) || json_string_length(v) > f->max ||
                    !pem_is_certificate(json_string_value(v), json_string_length(v)))
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not a PEM certificate of at most %zu bytes",
                                                path, f->name, f->max);
                *(char **) dst = strdup(json_string_value(v));
                return *(char **) dst ? 0 : -ENOMEM;
        case FIELD_PEMS: {
                AdmissionBundle *b = out;
                size_t i;
                json_t *e;

                if (!json_is_array(v) || json_array_size(v) < f->min || json_array_size(v) > f->max)
                        return error_detail_set(reterr, -EBADMSG, "%s.%s: not an array of %zu..%zu certificates", path,
                                                f->name, f->min, f->max);
                json_array_foreach(v, i, e) {
                        if (!json_is_string(e) || json_string_length(e) > ADMISSION_PEM_MAX ||
                            !pem_is_certificate(json_string_value(e), json_string_length(e)))
                                return error_detail_set(reterr, -EBADMSG, "%s.%s[%zu]: not a PEM certificate", path,
                                                        f->name, i);
                        b->member_chain[i] = strdup(json_string_value(e));
                        if (!b->member_chain[i])
                                return -ENOMEM;
                        b->n_member_chain = i + 1;
                }
                return 0;
        }
        case FIELD_SEALED: {
                char sub[MSG_PATH_MAX];

                if (!json_is_object(v))
                        return field_fail(reterr, path, f->name, "not an object");
                snprintf(sub, sizeof(sub), "%s.%s", path, f->name);
                return table_parse(v, sealed_fields, ELEMENTSOF(sealed_fields), dst, sub, reterr);
        }
        }
        return -EINVAL;
}

/* Applies the table in its order (so a bank precedes its values), then
 * refuses members it does not list. */
static int table_parse(const json_t *obj, const Field *fields, size_t n_fields, void *out, const char *path,
                       char **reterr) {
        const char *key;
        json_t *v;
        int r;

        for (size_t i = 0; i < n_fields; i++) {
                v = json_object_get(obj, fields[i].name);
                if (!v) {
                        if (fields[i].required)
                                return error_detail_set(reterr, -EBADMSG, "%s: \"%s\" is missing", path,
                                                        fields[i].name);
                        continue;
                }
                r = field_parse(v, &fields[i], out, path, reterr);
                if (r < 0)
                        return r;
        }
        json_object_foreach((json_t *) obj, key, v) {
                bool known = false;

                for (size_t i = 0; i < n_fields && !known; i++)
                        known = strcmp(key, fields[i].name) == 0;
                if (!known) {
                        char buf[MSG_KEY_SHOWN_MAX + 1];
                        return error_detail_set(reterr, -EBADMSG, "%s: unknown member \"%s\"", path,
                                                shown(key, buf, sizeof(buf)));
                }
        }
        return 0;
}

static int doc_load(const void *data, size_t size, size_t max, json_t **ret, char **reterr) {
        json_error_t jerr;
        json_t *doc;

        if (size > max)
                return error_detail_set(reterr, -E2BIG, "message of %zu bytes, at most %zu", size, max);
        doc = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                /* jansson's text may quote the input ("near '...'") */
                char text[MSG_JSON_ERROR_SHOWN_MAX];
                return error_detail_set(reterr, -EBADMSG, "not JSON: line %d column %d: %s", jerr.line, jerr.column,
                                        shown(jerr.text, text, sizeof(text)));
        }
        if (!json_is_object(doc)) {
                json_decref(doc);
                return error_detail_set(reterr, -EBADMSG, "$: not an object");
        }
        *ret = doc;
        return 0;
}

char *admission_canonical(const json_t *doc) {
        return json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
}

/* Loads, applies the table and, on success, hands out the canonical form
 * (without `drop`, when set). On failure `done` clears what was filled. */
static int msg_parse(const void *data, size_t size, size_t max, const Field *fields, size_t n_fields, void *out,
                     const char *drop, char **ret_canonical, char **reterr) {
        json_auto_t *doc = NULL;
        int r;

        r = doc_load(data, size, max, &doc, reterr);
        if (r < 0)
                return r;
        r = table_parse(doc, fields, n_fields, out, "$", reterr);
        if (r < 0)
                return r;
        if (ret_canonical) {
                if (drop)
                        (void) json_object_del(doc, drop);
                *ret_canonical = admission_canonical(doc);
                if (!*ret_canonical)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- parsers ---- */

void admission_hello_done(AdmissionHello *m) {
        if (!m)
                return;
        blob_clear(&m->ek_pub);
        blob_clear(&m->ek_cert);
        blob_clear(&m->ak_pub);
        blob_clear(&m->chan_pub);
        *m = (AdmissionHello) {};
}

void admission_challenge_done(AdmissionChallenge *m) {
        if (!m)
                return;
        blob_clear(&m->credential);
        blob_clear(&m->secret);
        *m = (AdmissionChallenge) {};
}

void admission_evidence_done(AdmissionEvidence *m) {
        if (!m)
                return;
        blob_clear(&m->attest);
        blob_clear(&m->signature);
        blob_clear(&m->eventlog);
        *m = (AdmissionEvidence) {};
}

void admission_verdict_done(AdmissionVerdict *m) {
        if (!m)
                return;
        for (size_t i = 0; i < ELEMENTSOF(m->reasons); i++)
                free(m->reasons[i]);
        free(m->member_cert);
        blob_clear(&m->bundle.ciphertext);
        *m = (AdmissionVerdict) {};
}

void admission_bundle_done(AdmissionBundle *m) {
        if (!m)
                return;
        for (size_t i = 0; i < ELEMENTSOF(m->member_chain); i++)
                free(m->member_chain[i]);
        free(m->fleet_ca);
        blob_clear(&m->policy);
        blob_clear(&m->policy_sig);
        *m = (AdmissionBundle) {};
}

int admission_hello_parse(const void *data, size_t size, AdmissionHello *ret, char **ret_canonical, char **reterr) {
        AdmissionHello m = {};
        int r = msg_parse(data, size, ADMISSION_MSG_MAX, hello_fields, ELEMENTSOF(hello_fields), &m, NULL,
                          ret_canonical, reterr);
        if (r < 0) {
                admission_hello_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int admission_challenge_parse(const void *data, size_t size, AdmissionChallenge *ret, char **ret_canonical,
                              char **reterr) {
        AdmissionChallenge m = {};
        int r = msg_parse(data, size, ADMISSION_MSG_MAX, challenge_fields, ELEMENTSOF(challenge_fields), &m, NULL,
                          ret_canonical, reterr);
        if (r < 0) {
                admission_challenge_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int admission_evidence_parse(const void *data, size_t size, AdmissionEvidence *ret, char **ret_canonical,
                             char **reterr) {
        AdmissionEvidence m = {};
        int r = msg_parse(data, size, ADMISSION_MSG_MAX, evidence_fields, ELEMENTSOF(evidence_fields), &m, "hmac",
                          ret_canonical, reterr);
        if (r < 0) {
                admission_evidence_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int admission_verdict_parse(const void *data, size_t size, AdmissionVerdict *ret, char **reterr) {
        AdmissionVerdict m = {};
        int r = msg_parse(data, size, ADMISSION_MSG_MAX, verdict_fields, ELEMENTSOF(verdict_fields), &m, NULL, NULL,
                          reterr);
        if (r >= 0) {
                bool has_bundle = m.bundle.ciphertext.size > 0;

                if (m.admitted && (!m.member_cert || !has_bundle || m.n_reasons > 0))
                        r = error_detail_set(reterr, -EBADMSG,
                                             "$: an admitting verdict has member_cert and bundle, and no reasons");
                else if (!m.admitted && (m.member_cert || has_bundle || m.n_reasons == 0))
                        r = error_detail_set(reterr, -EBADMSG,
                                             "$: a refusing verdict has reasons, and no member_cert or bundle");
        }
        if (r < 0) {
                admission_verdict_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int admission_bundle_parse(const void *data, size_t size, AdmissionBundle *ret, char **reterr) {
        AdmissionBundle m = {};
        int r = msg_parse(data, size, ADMISSION_BUNDLE_MAX, bundle_fields, ELEMENTSOF(bundle_fields), &m, NULL, NULL,
                          reterr);
        if (r < 0) {
                admission_bundle_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

/* ---- builders ---- */

static int set_b64(json_t *doc, const char *name, const void *p, size_t n) {
        return json_object_set_new(doc, name, jose_b64_enc(p, n));
}

static int set_blob(json_t *doc, const char *name, const Blob *b) {
        return set_b64(doc, name, b->data, b->size);
}

static json_t *msg_new(const char *type) {
        return json_pack("{s:s, s:i}", "type", type, "version", ADMISSION_VERSION);
}

static json_t *pcr_list(uint32_t mask) {
        json_t *a = json_array();

        for (unsigned i = 0; a && i < ATTEST_PCR_MAX; i++)
                if ((mask & (UINT32_C(1) << i)) && json_array_append_new(a, json_integer(i)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

json_t *admission_hello_build(const AdmissionHello *m) {
        json_auto_t *doc = msg_new("hello");

        if (!doc || json_object_set_new(doc, "machine", json_string(m->machine)) < 0 ||
            set_blob(doc, "ek_pub", &m->ek_pub) < 0 || set_blob(doc, "ak_pub", &m->ak_pub) < 0 ||
            set_blob(doc, "chan_pub", &m->chan_pub) < 0 ||
            (m->ek_cert.size > 0 && set_blob(doc, "ek_cert", &m->ek_cert) < 0))
                return NULL;
        return take_ptr(doc);
}

json_t *admission_challenge_build(const AdmissionChallenge *m) {
        json_auto_t *doc = msg_new("challenge");
        const char *bank = tpm_hash_name(m->selection.hash_alg);

        if (!doc || !bank || set_b64(doc, "nonce", m->nonce, sizeof(m->nonce)) < 0 ||
            json_object_set_new(doc, "expires_in", json_integer(m->expires_in)) < 0 ||
            set_b64(doc, "sponsor_id", m->sponsor_id, sizeof(m->sponsor_id)) < 0 ||
            json_object_set_new(doc, "pcr_bank", json_string(bank)) < 0 ||
            json_object_set_new(doc, "pcrs", pcr_list(m->selection.mask)) < 0 ||
            set_blob(doc, "credential", &m->credential) < 0 || set_blob(doc, "secret", &m->secret) < 0)
                return NULL;
        return take_ptr(doc);
}

json_t *admission_evidence_build(const AdmissionEvidence *m) {
        json_auto_t *doc = msg_new("evidence"), *values = json_object();
        const char *bank = tpm_hash_name(m->pcrs.hash_alg);

        if (!doc || !values || !bank || m->pcrs.size > sizeof(m->pcrs.value[0]))
                return NULL;
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                char key[4], hex[2 * sizeof(m->pcrs.value[0]) + 1];

                if (!(m->pcrs.mask & (UINT32_C(1) << i)))
                        continue;
                snprintf(key, sizeof(key), "%u", i);
                admission_hex(m->pcrs.value[i], m->pcrs.size, hex);
                if (json_object_set_new(values, key, json_string(hex)) < 0)
                        return NULL;
        }
        if (set_b64(doc, "nonce", m->nonce, sizeof(m->nonce)) < 0 || set_blob(doc, "attest", &m->attest) < 0 ||
            set_blob(doc, "signature", &m->signature) < 0 ||
            json_object_set_new(doc, "pcr_bank", json_string(bank)) < 0 ||
            json_object_set(doc, "pcr_values", values) < 0 ||
            (m->eventlog.size > 0 && set_blob(doc, "eventlog", &m->eventlog) < 0))
                return NULL;
        return take_ptr(doc);
}

int admission_evidence_set_hmac(json_t *evidence, const uint8_t hmac[ADMISSION_HMAC_SIZE]) {
        return set_b64(evidence, "hmac", hmac, ADMISSION_HMAC_SIZE) < 0 ? -ENOMEM : 0;
}

json_t *admission_verdict_build(const AdmissionVerdict *m) {
        json_auto_t *doc = msg_new("verdict");

        if (!doc || json_object_set_new(doc, "admitted", json_boolean(m->admitted)) < 0)
                return NULL;
        if (m->admitted) {
                json_auto_t *sealed = json_object();

                if (!sealed || !m->member_cert || set_b64(sealed, "iv", m->bundle.iv, sizeof(m->bundle.iv)) < 0 ||
                    set_b64(sealed, "tag", m->bundle.tag, sizeof(m->bundle.tag)) < 0 ||
                    set_blob(sealed, "ciphertext", &m->bundle.ciphertext) < 0 ||
                    json_object_set_new(doc, "member_cert", json_string(m->member_cert)) < 0 ||
                    json_object_set(doc, "bundle", sealed) < 0)
                        return NULL;
        } else {
                json_auto_t *reasons = json_array();

                for (size_t i = 0; reasons && i < m->n_reasons && i < ADMISSION_REASONS_MAX; i++)
                        if (json_array_append_new(reasons, json_string(m->reasons[i])) < 0)
                                return NULL;
                if (!reasons || json_object_set(doc, "reasons", reasons) < 0)
                        return NULL;
        }
        return take_ptr(doc);
}

json_t *admission_bundle_build(const AdmissionBundle *m) {
        json_auto_t *doc = msg_new("bundle"), *chain = json_array();

        if (!doc || !chain)
                return NULL;
        for (size_t i = 0; i < m->n_member_chain && i < MEMBER_CHAIN_MAX; i++)
                if (json_array_append_new(chain, json_string(m->member_chain[i])) < 0)
                        return NULL;
        if (json_object_set(doc, "member_chain", chain) < 0 ||
            json_object_set_new(doc, "fleet_ca", json_string(m->fleet_ca)) < 0 ||
            set_blob(doc, "policy", &m->policy) < 0 || set_blob(doc, "policy_signature", &m->policy_sig) < 0)
                return NULL;
        return take_ptr(doc);
}
