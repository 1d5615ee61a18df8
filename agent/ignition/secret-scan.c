/* secret-scan: looks through an Ignition config (any JSON) for key
 * material and the shapes of well-known secrets; see render.h. Ignition is
 * served in the clear and readable from metadata services, so anything
 * found here would be public. Names of the shapes follow the vendors'
 * documented formats (kubeadm's bootstrap tokens, AWS access key IDs,
 * GitHub's and Slack's token prefixes, RFC 7515/7516 compact tokens). */
#include "ignition/render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/json-schema.h"
#include "ignition/data-url.h"
#include "unseal/pin-tang.h"

#include <jose/b64.h>

/* Deepest nesting walked (configs need 6; a data: URL's JSON adds the
 * spec's 5). */
#define SCAN_DEPTH_MAX 32u
/* A run of base64 characters this long with this many distinct symbols
 * is random data, so key-like: 64 random bytes are 88 characters with
 * about 48 distinct symbols. Tang thumbprints (at most 86), hex digests
 * (16 symbols) and PEM lines (64) stay below. */
#define SCAN_RUN_MIN 88u
#define SCAN_RUN_DISTINCT_MIN 40u
/* The longest PEM label looked at ("ENCRYPTED PRIVATE KEY" is 21). */
#define SCAN_PEM_LABEL_MAX 64u

typedef struct Scan {
        JsonSchemaPath path;  /* in the config */
        JsonSchemaPath inner; /* in a data: URL's or a string's JSON, while scanning one */
        bool in_data;
        const char *inner_kind; /* "its data: URL" or "its JSON text" */
        const char *entry; /* the "path" or "name" of the file, unit, ... being scanned */
        char **reterr;
} Scan;

static bool is_alnum(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_upper_alnum(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_b64url(char c) {
        return is_alnum(c) || c == '-' || c == '_';
}

static bool is_b64(char c) {
        return is_alnum(c) || c == '+' || c == '/' || c == '-' || c == '_' || c == '=';
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Does a token start at i (not glued to a preceding letter or digit)? */
static bool starts_token(const char *s, size_t i) {
        return i == 0 || !is_alnum(s[i - 1]);
}

static size_t run_max(const char *s, size_t n, size_t i, bool (*in)(char), size_t max) {
        size_t k = i;
        while (k < n && k - i < max && in(s[k]))
                k++;
        return k - i;
}

/* Characters from i on for which `in` holds. */
static size_t run(const char *s, size_t n, size_t i, bool (*in)(char)) {
        return run_max(s, n, i, in, SIZE_MAX);
}

/* ---- shapes: each is a pure predicate over the bytes ----------------------- */

/* "-----BEGIN <label>-----" with PRIVATE in the label: PKCS#1/#8, SEC1,
 * OpenSSH, encrypted PKCS#8, PGP private key blocks. */
static bool has_pem_private_key(const char *s, size_t n) {
        static const char begin[] = "-----BEGIN ";
        const char *p = s, *end = s + n;

        while ((p = memmem(p, (size_t) (end - p), begin, sizeof(begin) - 1))) {
                const char *label = p + sizeof(begin) - 1;
                size_t max = (size_t) (end - label) < SCAN_PEM_LABEL_MAX ? (size_t) (end - label) : SCAN_PEM_LABEL_MAX;
                const char *close = memmem(label, max, "-----", 5);

                if (close && memmem(label, (size_t) (close - label), "PRIVATE", 7))
                        return true;
                p = label;
        }
        return false;
}

/* RFC 7515/7516 compact serialisation: a base64url JSON header ("eyJ" is
 * '{"'), then at least two more dot-separated segments. */
static bool has_jwt(const char *s, size_t n) {
        for (size_t i = 0; i + 3 <= n; i++) {
                size_t head, k, dots = 0;

                if (memcmp(s + i, "eyJ", 3) != 0 || (i > 0 && is_b64url(s[i - 1])))
                        continue;
                head = run(s, n, i, is_b64url);
                if (head < 10)
                        continue;
                for (k = i + head; k < n && (is_b64url(s[k]) || s[k] == '.'); k++)
                        dots += s[k] == '.';
                if (dots >= 2 && k - i >= 24)
                        return true;
                /* a later start inside this token has fewer dots: skip it */
                i = k - 1;
        }
        return false;
}

/* kubeadm bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16}, standing alone. The
 * secret half is random, so it mixes letters and digits (a host name that
 * happens to be 6.16 rarely does). */
static bool has_kube_bootstrap_token(const char *s, size_t n) {
        for (size_t i = 0; i + 23 <= n; i++) {
                bool digit = false, letter = false;

                if (s[i + 6] != '.' || (i > 0 && (is_lower_alnum(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '-')))
                        continue;
                if (run(s, n, i, is_lower_alnum) != 6 || run(s, n, i + 7, is_lower_alnum) != 16)
                        continue;
                if (i + 23 < n && (s[i + 23] == '.' || s[i + 23] == '-'))
                        continue;
                for (size_t k = i + 7; k < i + 23; k++) {
                        digit = digit || (s[k] >= '0' && s[k] <= '9');
                        letter = letter || (s[k] >= 'a' && s[k] <= 'z');
                }
                if (digit && letter)
                        return true;
        }
        return false;
}

/* k0s join tokens are base64 of a gzip'd kubeconfig ("H4sI" is the gzip
 * magic); k3s tokens are K10<64 hex>::<user>:<secret>. */
static bool has_k0s_or_k3s_token(const char *s, size_t n) {
        for (size_t i = 0; i + 4 <= n; i++) {
                if (!starts_token(s, i))
                        continue;
                if (memcmp(s + i, "H4sI", 4) == 0) {
                        size_t len = run(s, n, i, is_b64);
                        if (len >= 64)
                                return true;
                        i += len - 1; /* starts inside this run are shorter */
                        continue;
                }
                if (i + 3 + 64 + 2 <= n && memcmp(s + i, "K10", 3) == 0 && run(s, n, i + 3, is_hex) == 64 &&
                    memcmp(s + i + 67, "::", 2) == 0)
                        return true;
        }
        return false;
}

/* AWS access key IDs: AKIA (long-term) or ASIA (temporary) and 16 more. */
static bool has_aws_key(const char *s, size_t n) {
        for (size_t i = 0; i + 20 <= n; i++)
                if ((memcmp(s + i, "AKIA", 4) == 0 || memcmp(s + i, "ASIA", 4) == 0) && starts_token(s, i) &&
                    run(s, n, i, is_upper_alnum) == 20)
                        return true;
        return false;
}

/* GitHub (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and Slack (xoxb-,
 * xoxp-, xoxa-, xoxr-, xoxs-) tokens. */
static bool has_vendor_token(const char *s, size_t n) {
        static const struct {
                const char *prefix;
                size_t min_rest;
        } prefixes[] = {
                { "ghp_", 30 }, { "gho_", 30 }, { "ghu_", 30 }, { "ghs_", 30 }, { "ghr_", 30 },
                { "github_pat_", 22 }, { "xoxb-", 10 }, { "xoxp-", 10 }, { "xoxa-", 10 }, { "xoxr-", 10 },
                { "xoxs-", 10 },
        };

        for (size_t i = 0; i < n; i++) {
                if (!starts_token(s, i))
                        continue;
                for (size_t p = 0; p < ELEMENTSOF(prefixes); p++) {
                        size_t len = strlen(prefixes[p].prefix);

                        /* counting stops at min_rest: linear however many
                         * prefixes the text repeats */
                        if (n - i > len && memcmp(s + i, prefixes[p].prefix, len) == 0 &&
                            run_max(s, n, i + len, is_b64url, prefixes[p].min_rest) >= prefixes[p].min_rest)
                                return true;
                }
        }
        return false;
}

/* scheme://user:password@host */
static bool has_url_password(const char *s, size_t n) {
        const char *p = s, *end = s + n;

        while ((p = memmem(p, (size_t) (end - p), "://", 3))) {
                const char *colon = NULL;

                for (p += 3; p < end && *p != '/' && *p != '?' && *p != '#' && *p != '"' && *p > ' '; p++) {
                        if (*p == ':' && !colon)
                                colon = p;
                        if (*p == '@' && colon)
                                return true;
                }
        }
        return false;
}

/* A long base64 run with many distinct symbols: random bytes. */
static bool has_random_run(const char *s, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t len = run(s, n, i, is_b64);

                if (len >= SCAN_RUN_MIN) {
                        bool seen[128] = {};
                        size_t distinct = 0;

                        for (size_t k = i; k < i + len; k++)
                                if (!seen[(unsigned char) s[k]]) {
                                        seen[(unsigned char) s[k]] = true;
                                        distinct++;
                                }
                        if (distinct >= SCAN_RUN_DISTINCT_MIN)
                                return true;
                }
                i += len ? len : 1;
        }
        return false;
}

static const struct {
        bool (*found)(const char *s, size_t n);
        const char *what;
} shapes[] = {
        { has_pem_private_key, "a PEM private key" },
        { has_jwt, "a JWT-like token (JWS/JWE compact serialisation)" },
        { has_kube_bootstrap_token, "a Kubernetes bootstrap token" },
        { has_k0s_or_k3s_token, "a k0s or k3s join token" },
        { has_aws_key, "an AWS access key ID" },
        { has_vendor_token, "a GitHub or Slack token" },
        { has_url_password, "a URL with a password" },
        { has_random_run, "a long random base64 string (key-like)" },
};

/* ---- public documents ----------------------------------------------------- */

/* A JWK that is public: an asymmetric key type, none of the private
 * members (RFC 7518 6.2.2, 6.3.2; RFC 8037 2). */
static bool is_public_jwk(const json_t *k) {
        static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
        const char *kty = json_string_value(json_object_get(k, "kty"));

        if (!json_is_object(k) || !kty || (strcmp(kty, "EC") != 0 && strcmp(kty, "OKP") != 0 && strcmp(kty, "RSA") != 0))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(private_members); i++)
                if (json_object_get(k, private_members[i]))
                        return false;
        return true;
}

/* A tang advertisement, as GET /adv returns it and a spec may carry it
 * ($.tang[].adv): a JWS (flattened or general, nothing else in it) whose
 * payload is {"keys": [...]} of public keys only, signed by every signing
 * key it lists. Its payload and signatures look random because they are
 * keys and signatures, but public ones (and a verified signature is no
 * place to hide anything); its headers are still scanned (scan_adv_headers). */
static bool is_public_key_set_jws(const json_t *o) {
        static const char *const members[] = { "payload", "protected", "header", "signature", "signatures" };
        _cleanup_(unseal_report_clear) UnsealReport quiet = { 0 };
        const json_t *payload = json_object_get(o, "payload"), *keys, *k;
        json_auto_t *doc = NULL;
        const char *key;
        const json_t *v;
        size_t i;

        if (!json_is_string(payload) || (!json_object_get(o, "signature") && !json_object_get(o, "signatures")))
                return false;
        json_object_foreach((json_t *) o, key, v) {
                bool known = false;
                for (i = 0; i < ELEMENTSOF(members); i++)
                        known = known || strcmp(key, members[i]) == 0;
                if (!known)
                        return false;
        }
        json_array_foreach(json_object_get(o, "signatures"), i, k) {
                if (!json_is_object(k))
                        return false;
                json_object_foreach((json_t *) k, key, v)
                        if (strcmp(key, "protected") != 0 && strcmp(key, "header") != 0 && strcmp(key, "signature") != 0)
                                return false;
        }
        doc = jose_b64_dec_load(payload);
        keys = json_object_get(doc, "keys");
        if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(keys) || json_array_size(keys) == 0)
                return false;
        json_array_foreach(keys, i, k)
                if (!is_public_jwk(k))
                        return false;
        /* trust_first_use: only whether it is self-consistent, not whose */
        return tang_adv_trust(o, NULL, true, NULL, &quiet, "adv") == 0;
}

/* ---- the walk ---------------------------------------------------------------- */

/* Ignition's own property names that spec_name_is_secret() matches but
 * that name no secret: "passwd" is the users section (its passwordHash is
 * still refused). */
static const char *const public_names[] = { "passwd" };

static bool is_public_name(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(public_names); i++)
                if (strcmp(key, public_names[i]) == 0)
                        return true;
        return false;
}

static int found(const Scan *x, const char *what) {
        _cleanup_free_ char *entry = NULL;

        if (x->entry && asprintf(&entry, " (%.200s)", x->entry) < 0)
                entry = NULL;
        if (x->in_data)
                return error_detail_set(x->reterr, -EPERM, "%s%s: %s, inside %s at %s", x->path.buf,
                                        entry ? entry : "", what, x->inner_kind, x->inner.buf);
        return error_detail_set(x->reterr, -EPERM, "%s%s: %s", x->path.buf, entry ? entry : "", what);
}

static JsonSchemaPath *current(Scan *x) {
        return x->in_data ? &x->inner : &x->path;
}

static bool is_utf8_text(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n;) {
                uint8_t c = p[i];
                size_t len;
                uint32_t cp;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
                                return false;
                        i++;
                        continue;
                }
                if ((c & 0xE0) == 0xC0)
                        len = 2, cp = c & 0x1F;
                else if ((c & 0xF0) == 0xE0)
                        len = 3, cp = c & 0x0F;
                else if ((c & 0xF8) == 0xF0)
                        len = 4, cp = c & 0x07;
                else
                        return false;
                if (n - i < len)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xC0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i + k] & 0x3F);
                }
                /* overlong forms, surrogates, beyond Unicode */
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                        return false;
                i += len;
        }
        return true;
}

static int scan_node(Scan *x, const json_t *node, unsigned depth);

/* The shape found in s, or NULL. */
static const char *shape_of(const char *s, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(shapes); i++)
                if (shapes[i].found(s, n))
                        return shapes[i].what;
        return NULL;
}

static bool has_shape(const char *s, size_t n) {
        return shape_of(s, n) != NULL;
}

static int scan_text(const Scan *x, const char *s, size_t n) {
        const char *what = shape_of(s, n);
        return what ? found(x, what) : 0;
}

/* A JSON document inside one of the config's strings, scanned as JSON and
 * named by its path in there. */
static int scan_inner(Scan *x, const json_t *doc, unsigned depth, const char *kind) {
        int r;

        json_schema_path_init(&x->inner);
        x->in_data = true;
        x->inner_kind = kind;
        r = scan_node(x, doc, depth + 1);
        x->in_data = false;
        return r;
}

static int scan_data_url(Scan *x, const char *s, size_t n, unsigned depth) {
        _cleanup_free_ uint8_t *data = NULL;
        json_auto_t *doc = NULL;
        size_t size = 0, lead = 0;
        int r;

        r = data_url_decode(s, n, &data, &size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return found(x, "a data: URL that does not decode (its contents cannot be checked)");
        if (!is_utf8_text(data, size))
                return found(x, "binary data in a data: URL (it cannot be told apart from key material)");

        /* JSON inside (the spec) is scanned as JSON: its property names
         * count too, and a hit is named by its path in there */
        while (lead < size && (data[lead] == ' ' || data[lead] == '\n' || data[lead] == '\t' || data[lead] == '\r'))
                lead++;
        if (!x->in_data && lead < size && (data[lead] == '{' || data[lead] == '['))
                doc = json_loadb((const char *) data, size, 0, NULL);
        if (!doc)
                return scan_text(x, (const char *) data, size);
        return scan_inner(x, doc, depth, "its data: URL");
}

/* The headers of a public advertisement (is_public_key_set_jws): free
 * text its maker chose, scanned as anything else. */
static int scan_adv_headers(Scan *x, const json_t *jws, unsigned depth) {
        static const char *const headers[] = { "protected", "header" };
        const json_t *sigs = json_object_get(jws, "signatures"), *sig;
        size_t i;
        int r;

        for (size_t h = 0; h < ELEMENTSOF(headers); h++) {
                const json_t *v = json_object_get(jws, headers[h]);
                size_t mark = json_schema_path_push_key(current(x), headers[h]);

                r = v ? scan_node(x, v, depth + 1) : 0;
                json_schema_path_pop(current(x), mark);
                if (r < 0)
                        return r;
        }
        json_array_foreach(sigs, i, sig) {
                size_t mark = json_schema_path_push_key(current(x), "signatures");
                size_t mark_i = json_schema_path_push_index(current(x), i);

                r = 0;
                for (size_t h = 0; h < ELEMENTSOF(headers) && r == 0; h++) {
                        const json_t *v = json_object_get(sig, headers[h]);
                        size_t mark_h = json_schema_path_push_key(current(x), headers[h]);

                        r = v ? scan_node(x, v, depth + 3) : 0;
                        json_schema_path_pop(current(x), mark_h);
                }
                json_schema_path_pop(current(x), mark_i);
                json_schema_path_pop(current(x), mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int scan_node(Scan *x, const json_t *node, unsigned depth) {
        int r = 0;

        if (depth > SCAN_DEPTH_MAX)
                return found(x, "nesting too deep to check");
        if (json_is_string(node)) {
                const char *s = json_string_value(node);
                size_t n = json_string_length(node);

                if (data_url_is(s, n))
                        return scan_data_url(x, s, n, depth);
                /* JSON in a string (a custom clevis pin's config) is
                 * scanned as JSON, so a public advertisement in it is
                 * told apart (below) */
                if (!x->in_data && n > 0 && s[0] == '{') {
                        json_auto_t *doc = json_loadb(s, n, 0, NULL);
                        if (doc)
                                return scan_inner(x, doc, depth, "its JSON text");
                }
                return scan_text(x, s, n);
        }
        if (json_is_object(node)) {
                const char *key, *saved = x->entry, *entry = json_string_value(json_object_get(node, "path"));
                json_t *value;

                if (is_public_key_set_jws(node))
                        return scan_adv_headers(x, node, depth);
                if (!entry)
                        entry = json_string_value(json_object_get(node, "name"));
                /* name the config's entry (a file's path, a unit's name) in
                 * messages, not the spec's own entries inside a data: URL */
                if (entry && !x->in_data && !has_shape(entry, strlen(entry)))
                        x->entry = entry;
                json_object_foreach((json_t *) node, key, value) {
                        const char *what = shape_of(key, strlen(key));
                        size_t mark;

                        /* a name is text too (JSON in a string used to be
                         * scanned as text, names and all); named by the
                         * object it is in, never quoted */
                        if (what) {
                                r = found(x, what);
                                break;
                        }
                        mark = json_schema_path_push_key(current(x), key);
                        if (spec_name_is_secret(key) && !is_public_name(key))
                                r = found(x, "a property named like a secret");
                        else
                                r = scan_node(x, value, depth + 1);
                        json_schema_path_pop(current(x), mark);
                        if (r < 0)
                                break;
                }
                x->entry = saved;
                return r;
        } else if (json_is_array(node)) {
                const json_t *e;
                size_t i;

                json_array_foreach(node, i, e) {
                        size_t mark = json_schema_path_push_index(current(x), i);

                        r = scan_node(x, e, depth + 1);
                        json_schema_path_pop(current(x), mark);
                        if (r < 0)
                                return r;
                }
        }
        return r;
}

int ignition_scan_secrets(const json_t *config, char **reterr) {
        Scan x = { .reterr = reterr };

        json_schema_path_init(&x.path);
        json_schema_path_init(&x.inner);
        return scan_node(&x, config, 0);
}
