/* spec: parsing and validating the fleet spec. Bytes become JSON (jansson,
 * duplicate keys refused), then three passes each add errors with paths: the
 * inline-secret scan (which also removes secret-named properties, so the
 * schema does not report them a second time as unknown), the JSON Schema
 * compiled into the binary, and, once the schema passes, the cross-field
 * (semantic) checks below. A Spec is only built when nothing was found. */
#include "core/spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"

#define SPEC_DIGEST_PREFIX "sha256:"
/* First read of a non-regular file, doubled up to SPEC_FILE_MAX + 1. */
#define SPEC_READ_CHUNK (64u * 1024u)
/* How much of jansson's error text is shown. */
#define SPEC_SYNTAX_TEXT_MAX 160u

#define INLINE_SECRET_MESSAGE "inline secrets are not allowed; use a credential reference"

struct Spec {
        json_t *json;
        char *origin;
        const char *fleet; /* borrowed from json */
        size_t n_machines;
        char digest[sizeof(SPEC_DIGEST_PREFIX) + 2 * 32];
};

Spec *spec_free(Spec *s) {
        if (!s)
                return NULL;
        json_decref(s->json);
        free(s->origin);
        free(s);
        return NULL;
}

const char *spec_origin(const Spec *s) {
        return s->origin;
}

const char *spec_fleet(const Spec *s) {
        return s->fleet;
}

const char *spec_digest(const Spec *s) {
        return s->digest;
}

json_t *spec_json(const Spec *s) {
        return s->json;
}

size_t spec_n_machines(const Spec *s) {
        return s->n_machines;
}

const json_t *spec_machine(const Spec *s, const char *name) {
        const json_t *m;
        size_t i;

        if (!name)
                return NULL;
        json_array_foreach(json_object_get(s->json, "inventory"), i, m)
                if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
                        return m;
        return NULL;
}

void spec_errors_clear(SpecErrors *e) {
        json_schema_errors_clear(e);
}

void spec_errors_print(FILE *f, const char *origin, const SpecErrors *e) {
        if (!origin)
                origin = "spec";
        for (size_t i = 0; i < e->n_items; i++)
                fprintf(f, "%s: %s: %s\n", origin, e->items[i].path, e->items[i].message);
        if (e->truncated)
                fprintf(f, "%s: more errors were found; only the first %u are shown\n", origin,
                        JSON_SCHEMA_ERRORS_MAX);
}

__attribute__((format(printf, 3, 4)))
static int add_error(SpecErrors *e, const char *path, const char *format, ...) {
        char buf[JSON_SCHEMA_MESSAGE_MAX];
        va_list ap;

        va_start(ap, format);
        if (vsnprintf(buf, sizeof(buf), format, ap) < 0)
                snprintf(buf, sizeof(buf), "invalid");
        va_end(ap);
        return json_schema_errors_add(e, path, "%s", buf);
}

/* ---- inline secrets ------------------------------------------------------ */

/* Property names that hold secrets, compared case-insensitively with '_',
 * '-', '.' and ' ' ignored (so "privateKey", "private-key" and "PRIVATE_KEY"
 * all match "privatekey"), anywhere in the name. None of the schema's names
 * may match (a unit test walks them). */
static const char *const secret_name_parts[] = {
        "password", "passwd", "passphrase", "secret", "token", "privatekey", "keypem",
        "apikey", "accesskey", "bearer", "cookie",
};

static bool name_separator(char c) {
        return c == '_' || c == '-' || c == '.' || c == ' ';
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* Does `needle` (lower case, no separators) occur in `name` once separators
 * are dropped and case is folded? */
static bool name_contains(const char *name, const char *needle) {
        for (const char *start = name; *start; start++) {
                const char *n = needle, *c = start;

                if (name_separator(*start))
                        continue;
                while (*n && *c) {
                        if (name_separator(*c)) {
                                c++;
                                continue;
                        }
                        if (lower(*c) != *n)
                                break;
                        c++;
                        n++;
                }
                if (!*n)
                        return true;
        }
        return false;
}

bool spec_name_is_secret(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(secret_name_parts); i++)
                if (name_contains(name, secret_name_parts[i]))
                        return true;
        return false;
}

/* A reason if the string value is itself a secret: PEM private keys (any
 * "... PRIVATE KEY-----" armour) and URLs with a password in the userinfo. */
static const char *value_secret_reason(const char *s, size_t n) {
        static const char private_key[] = "PRIVATE KEY-----";
        const char *scheme, *authority_end;

        if (memmem(s, n, private_key, sizeof(private_key) - 1))
                return "this value holds a private key";
        scheme = memmem(s, n, "://", 3);
        if (scheme) {
                const char *a = scheme + 3, *end = s + n, *colon = NULL;

                authority_end = a;
                while (authority_end < end && *authority_end != '/' && *authority_end != '?' && *authority_end != '#')
                        authority_end++;
                for (const char *c = a; c < authority_end; c++) {
                        if (*c == ':' && !colon)
                                colon = c;
                        if (*c == '@' && colon)
                                return "this URL carries a password";
                }
        }
        return NULL;
}

/* Walks the whole document. Secret-named properties are reported and
 * removed; secret values are reported. Errors go to `e`. */
static int scan_secrets(json_t *node, JsonSchemaPath *path, unsigned depth, SpecErrors *e) {
        int r = 0;

        if (json_is_string(node)) {
                const char *why = value_secret_reason(json_string_value(node), json_string_length(node));
                return why ? add_error(e, path->buf, INLINE_SECRET_MESSAGE " (%s)", why) : 0;
        }
        if ((json_is_object(node) && json_object_size(node) > 0) || (json_is_array(node) && json_array_size(node) > 0)) {
                if (depth >= SPEC_DEPTH_MAX)
                        return add_error(e, path->buf, "nesting deeper than %u levels", SPEC_DEPTH_MAX);
        }
        if (json_is_object(node)) {
                const char *key;
                json_t *value;
                void *tmp;

                json_object_foreach_safe(node, tmp, key, value) {
                        size_t mark = json_schema_path_push_key(path, key);

                        if (spec_name_is_secret(key)) {
                                r = add_error(e, path->buf, INLINE_SECRET_MESSAGE);
                                json_object_del(node, key);
                        } else
                                r = scan_secrets(value, path, depth + 1, e);
                        json_schema_path_pop(path, mark);
                        if (r < 0)
                                return r;
                }
        } else if (json_is_array(node))
                for (size_t i = 0; i < json_array_size(node); i++) {
                        size_t mark = json_schema_path_push_index(path, i);
                        r = scan_secrets(json_array_get(node, i), path, depth + 1, e);
                        json_schema_path_pop(path, mark);
                        if (r < 0)
                                return r;
                }
        return r;
}

static bool path_is_within(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '.' || path[n] == '[');
}

/* The schema's complaints about a value already reported as a secret (a
 * private key given as policy_key fails its oneOf too) would only repeat it,
 * and quote part of the secret: drop them. */
static void drop_errors_within(SpecErrors *schema_errors, const SpecErrors *secrets) {
        for (size_t i = 0; i < schema_errors->n_items;) {
                bool drop = false;

                for (size_t j = 0; j < secrets->n_items && !drop; j++)
                        drop = path_is_within(schema_errors->items[i].path, secrets->items[j].path);
                if (drop)
                        json_schema_errors_remove(schema_errors, i);
                else
                        i++;
        }
}

/* ---- semantic checks (the document is schema-valid here) ---------------- */

typedef struct Key {
        const char *key;
        size_t index;
} Key;

static int key_cmp(const void *x, const void *y) {
        const Key *a = x, *b = y;
        int c = strcmp(a->key, b->key);

        return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* For n keys, sets first_of[i] to the index of the first equal key before i,
 * or SIZE_MAX. O(n log n): inventories run to thousands of machines. */
static int find_duplicates(const char *const *keys, size_t n, size_t *first_of) {
        _cleanup_free_ Key *sorted = NULL;

        for (size_t i = 0; i < n; i++)
                first_of[i] = SIZE_MAX;
        if (n < 2)
                return 0;
        sorted = calloc(n, sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = (Key) { .key = keys[i], .index = i };
        qsort(sorted, n, sizeof(*sorted), key_cmp);
        for (size_t i = 1, group = 0; i < n; i++) {
                if (strcmp(sorted[group].key, sorted[i].key) != 0)
                        group = i;
                else
                        first_of[sorted[i].index] = sorted[group].index;
        }
        return 0;
}

typedef struct IpNet {
        int family;
        uint8_t addr[16];
        unsigned prefix; /* networks only */
} IpNet;

static size_t family_bits(int family) {
        return family == AF_INET ? 32 : 128;
}

static int ip_parse(const char *s, IpNet *ret) {
        int family = strchr(s, ':') ? AF_INET6 : AF_INET;

        *ret = (IpNet) { .family = family };
        return inet_pton(family, s, ret->addr) == 1 ? 0 : -EINVAL;
}

static bool ip_in_net(const IpNet *ip, const IpNet *net) {
        if (ip->family != net->family)
                return false;
        for (unsigned bit = 0; bit < net->prefix; bit++) {
                uint8_t mask = (uint8_t) (0x80u >> (bit % 8));
                if ((ip->addr[bit / 8] & mask) != (net->addr[bit / 8] & mask))
                        return false;
        }
        return true;
}

static void ip_format(const IpNet *ip, char *buf, size_t size) {
        if (!inet_ntop(ip->family, ip->addr, buf, (socklen_t) size))
                snprintf(buf, size, "?");
}

/* Checks one network's cidr (address, prefix, no host bits) and fills *ret;
 * returns 1 if usable, 0 if an error was added, or -ENOMEM. */
static int check_cidr(const char *cidr, const char *path, IpNet *ret, SpecErrors *e) {
        char addr[64], text[INET6_ADDRSTRLEN];
        const char *slash = strchr(cidr, '/');
        unsigned long prefix;
        IpNet net;

        /* the schema pattern guarantees "ADDRESS/DIGITS", short */
        if (!slash || (size_t) (slash - cidr) >= sizeof(addr))
                return add_error(e, path, "\"%s\" is not ADDRESS/PREFIX", cidr);
        memcpy(addr, cidr, (size_t) (slash - cidr));
        addr[slash - cidr] = 0;
        if (ip_parse(addr, &net) < 0)
                return add_error(e, path, "\"%s\" is not a valid IPv%c address", addr,
                            strchr(addr, ':') ? '6' : '4');
        prefix = strtoul(slash + 1, NULL, 10);
        if (prefix > family_bits(net.family))
                return add_error(e, path, "prefix length %lu exceeds %zu", prefix, family_bits(net.family));
        net.prefix = (unsigned) prefix;
        for (size_t bit = net.prefix; bit < family_bits(net.family); bit++)
                if (net.addr[bit / 8] & (0x80u >> (bit % 8))) {
                        IpNet base = net;
                        for (size_t b = net.prefix; b < family_bits(net.family); b++)
                                base.addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
                        ip_format(&base, text, sizeof(text));
                        return add_error(e, path, "host bits are set; the network is %s/%u", text, net.prefix);
                }
        *ret = net;
        return 1;
}

/* An address that must lie inside the network (if the network parsed). */
static int check_address_in(const json_t *value, const char *path, const IpNet *net, const char *cidr,
                            SpecErrors *e) {
        const char *s = json_string_value(value);
        IpNet ip;

        if (!s)
                return 0;
        if (ip_parse(s, &ip) < 0)
                return add_error(e, path, "\"%s\" is not a valid IP address", s);
        if (net && !ip_in_net(&ip, net))
                return add_error(e, path, "%s is outside the network %s", s, cidr);
        return 0;
}

static int check_networks(const json_t *networks, SpecErrors *e) {
        size_t n = json_array_size(networks);
        _cleanup_free_ const char **names = calloc(n ? n : 1, sizeof(*names));
        _cleanup_free_ size_t *first = calloc(n ? n : 1, sizeof(*first));
        char path[128];
        int r;

        if (!names || !first)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                names[i] = json_string_value(json_object_get(json_array_get(networks, i), "name"));
        r = find_duplicates(names, n, first);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const json_t *net = json_array_get(networks, i);
                const char *cidr = json_string_value(json_object_get(net, "cidr"));
                IpNet ipnet;
                int ok;

                if (first[i] != SIZE_MAX) {
                        snprintf(path, sizeof(path), "$.networks[%zu].name", i);
                        r = add_error(e, path, "duplicate network name \"%s\" (first at $.networks[%zu])", names[i], first[i]);
                        if (r < 0)
                                return r;
                }
                snprintf(path, sizeof(path), "$.networks[%zu].cidr", i);
                ok = check_cidr(cidr, path, &ipnet, e);
                if (ok < 0)
                        return ok;
                snprintf(path, sizeof(path), "$.networks[%zu].gateway", i);
                r = check_address_in(json_object_get(net, "gateway"), path, ok ? &ipnet : NULL, cidr, e);
                if (r < 0)
                        return r;
                snprintf(path, sizeof(path), "$.networks[%zu].boot.server_address", i);
                r = check_address_in(json_object_get(json_object_get(net, "boot"), "server_address"), path,
                                     ok ? &ipnet : NULL, cidr, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool network_is_defined(const json_t *networks, const char *name) {
        for (size_t i = 0; i < json_array_size(networks); i++)
                if (strcmp(json_string_value(json_object_get(json_array_get(networks, i), "name")), name) == 0)
                        return true;
        return false;
}

/* Per-mode TLS fields: the schema lists them all as optional. */
static int check_bmc_tls(const json_t *tls, size_t machine, SpecErrors *e) {
        static const struct {
                const char *mode;
                const char *field;
        } fields[] = {
                { "ca", "ca_file" },
                { "fingerprint", "fingerprint" },
        };
        const char *mode = json_string_value(json_object_get(tls, "mode"));
        char path[128];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                bool wanted = strcmp(mode, fields[i].mode) == 0;
                bool present = json_object_get(tls, fields[i].field) != NULL;

                if (wanted && !present) {
                        snprintf(path, sizeof(path), "$.inventory[%zu].bmc.tls", machine);
                        r = add_error(e, path, "mode \"%s\" requires \"%s\"", mode, fields[i].field);
                } else if (!wanted && present) {
                        snprintf(path, sizeof(path), "$.inventory[%zu].bmc.tls.%s", machine, fields[i].field);
                        r = add_error(e, path, "only used with mode \"%s\", not \"%s\"", fields[i].mode, mode);
                } else
                        r = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct Roles {
        size_t seeds;
        size_t controllers; /* seed or controller: can join the control plane */
} Roles;

static int check_inventory(const json_t *inventory, const json_t *networks, Roles *ret, SpecErrors *e) {
        size_t n = json_array_size(inventory), n_macs = 0, k = 0;
        _cleanup_free_ const char **names = NULL, **macs = NULL;
        _cleanup_free_ size_t *first = NULL, *mac_owner = NULL, *mac_index = NULL;
        _cleanup_free_ char (*mac_text)[18] = NULL;
        char path[128];
        Roles roles = {};
        int r;

        for (size_t i = 0; i < n; i++)
                n_macs += json_array_size(json_object_get(json_array_get(inventory, i), "macs"));
        names = calloc(n ? n : 1, sizeof(*names));
        macs = calloc(n_macs ? n_macs : 1, sizeof(*macs));
        mac_text = calloc(n_macs ? n_macs : 1, sizeof(*mac_text));
        mac_owner = calloc(n_macs ? n_macs : 1, sizeof(*mac_owner));
        mac_index = calloc(n_macs ? n_macs : 1, sizeof(*mac_index));
        first = calloc((n > n_macs ? n : n_macs) + 1, sizeof(*first));
        if (!names || !macs || !mac_text || !mac_owner || !mac_index || !first)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                const json_t *m = json_array_get(inventory, i), *list = json_object_get(m, "macs");
                const char *role = json_string_value(json_object_get(m, "role"));
                const char *network = json_string_value(json_object_get(m, "network"));

                names[i] = json_string_value(json_object_get(m, "name"));
                if (strcmp(role, "seed") == 0)
                        roles.seeds++;
                if (strcmp(role, "seed") == 0 || strcmp(role, "controller") == 0)
                        roles.controllers++;
                if (!network_is_defined(networks, network)) {
                        snprintf(path, sizeof(path), "$.inventory[%zu].network", i);
                        r = add_error(e, path, "network \"%s\" is not defined in $.networks", network);
                        if (r < 0)
                                return r;
                }
                r = check_bmc_tls(json_object_get(json_object_get(m, "bmc"), "tls"), i, e);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < json_array_size(list); j++, k++) {
                        /* the pattern makes it exactly aa:bb:cc:dd:ee:ff */
                        const char *mac = json_string_value(json_array_get(list, j));
                        for (size_t c = 0; c < 17; c++)
                                mac_text[k][c] = lower(mac[c]);
                        mac_text[k][17] = 0;
                        macs[k] = mac_text[k];
                        mac_owner[k] = i;
                        mac_index[k] = j;
                }
        }

        r = find_duplicates(names, n, first);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (first[i] == SIZE_MAX)
                        continue;
                snprintf(path, sizeof(path), "$.inventory[%zu].name", i);
                r = add_error(e, path, "duplicate machine name \"%s\" (first at $.inventory[%zu])", names[i], first[i]);
                if (r < 0)
                        return r;
        }

        r = find_duplicates(macs, n_macs, first);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_macs; i++) {
                size_t f = first[i];
                if (f == SIZE_MAX)
                        continue;
                snprintf(path, sizeof(path), "$.inventory[%zu].macs[%zu]", mac_owner[i], mac_index[i]);
                r = add_error(e, path, "MAC address %s is already used by $.inventory[%zu].macs[%zu]", macs[i],
                         mac_owner[f], mac_index[f]);
                if (r < 0)
                        return r;
        }

        if (roles.seeds != 1) {
                r = add_error(e, "$.inventory", "expected exactly one machine with role \"seed\", found %zu", roles.seeds);
                if (r < 0)
                        return r;
        }
        *ret = roles;
        return 0;
}

static int check_tang(const json_t *tang, SpecErrors *e) {
        size_t n = json_array_size(tang);
        _cleanup_free_ const char **urls = calloc(n ? n : 1, sizeof(*urls));
        _cleanup_free_ size_t *first = calloc(n ? n : 1, sizeof(*first));
        char path[128];
        int r;

        if (!urls || !first)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                urls[i] = json_string_value(json_object_get(json_array_get(tang, i), "url"));
        r = find_duplicates(urls, n, first);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const json_t *t = json_array_get(tang, i);
                const char *trust = json_string_value(json_object_get(t, "trust"));

                if (first[i] != SIZE_MAX) {
                        snprintf(path, sizeof(path), "$.tang[%zu].url", i);
                        /* a repeated server would count twice towards the threshold */
                        r = add_error(e, path, "tang server %s is already listed at $.tang[%zu]", urls[i], first[i]);
                        if (r < 0)
                                return r;
                }
                if (trust && strcmp(trust, "pinned") == 0 && !json_object_get(t, "thumbprint")) {
                        snprintf(path, sizeof(path), "$.tang[%zu]", i);
                        r = add_error(e, path, "trust \"pinned\" requires \"thumbprint\"");
                        if (r < 0)
                                return r;
                }
                /* a copied advertisement is only as good as the key it is checked against */
                if (json_object_get(t, "adv") && !json_object_get(t, "thumbprint")) {
                        snprintf(path, sizeof(path), "$.tang[%zu].adv", i);
                        r = add_error(e, path, "requires \"thumbprint\" (the advertisement must be signed by it)");
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* PCRs 16 (debug) and 23 (application) can be reset by the running OS, so a
 * policy over them proves nothing (docs/attestation.md). */
static int check_pcr_ids(const json_t *ids, const char *base, SpecErrors *e) {
        char path[128];

        for (size_t i = 0; i < json_array_size(ids); i++) {
                json_int_t pcr = json_integer_value(json_array_get(ids, i));
                int r;

                if (pcr != 16 && pcr != 23)
                        continue;
                snprintf(path, sizeof(path), "%s[%zu]", base, i);
                r = add_error(e, path, "PCR %" JSON_INTEGER_FORMAT " can be reset by the running OS; a policy must not depend on it", pcr);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_semantics(const json_t *root, SpecErrors *e) {
        const json_t *networks = json_object_get(root, "networks");
        const json_t *tang = json_object_get(root, "tang");
        const json_t *unseal = json_object_get(root, "unseal");
        const json_t *tpm2 = json_object_get(unseal, "tpm2");
        const json_t *attestation = json_object_get(root, "attestation");
        json_int_t quorum = json_integer_value(json_object_get(json_object_get(root, "quorum"), "size"));
        json_int_t threshold = json_integer_value(json_object_get(unseal, "threshold"));
        bool tpm2_enabled = json_is_true(json_object_get(tpm2, "enabled"));
        size_t pins = json_array_size(tang) + (tpm2_enabled ? 1 : 0);
        Roles roles = {};
        int r;

        r = check_networks(networks, e);
        if (r < 0)
                return r;
        r = check_inventory(json_object_get(root, "inventory"), networks, &roles, e);
        if (r < 0)
                return r;
        if (quorum > 0 && (size_t) quorum > roles.controllers) {
                r = add_error(e, "$.quorum.size",
                         "quorum size %" JSON_INTEGER_FORMAT " exceeds the %zu machine%s that can be controllers "
                         "(role \"seed\" or \"controller\")",
                         quorum, roles.controllers, roles.controllers == 1 ? "" : "s");
                if (r < 0)
                        return r;
        }
        r = check_tang(tang, e);
        if (r < 0)
                return r;
        if (threshold > 0 && (size_t) threshold > pins) {
                r = add_error(e, "$.unseal.threshold",
                         "threshold %" JSON_INTEGER_FORMAT " exceeds the %zu unseal pin%s configured "
                         "(%zu tang server%s, tpm2 %s)",
                         threshold, pins, pins == 1 ? "" : "s", json_array_size(tang),
                         json_array_size(tang) == 1 ? "" : "s", tpm2_enabled ? "enabled" : "disabled");
                if (r < 0)
                        return r;
        }
        r = check_pcr_ids(json_object_get(tpm2, "pcr_ids"), "$.unseal.tpm2.pcr_ids", e);
        if (r < 0)
                return r;
        r = check_pcr_ids(json_object_get(attestation, "pcr_ids"), "$.attestation.pcr_ids", e);
        if (r < 0)
                return r;
        if (!json_object_get(attestation, "ek_ca_bundle") &&
            json_array_size(json_object_get(attestation, "ek_allowlist")) == 0) {
                r = add_error(e, "$.attestation",
                         "set \"ek_ca_bundle\" or \"ek_allowlist\": without either, any TPM, even a software one, "
                         "would be trusted");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- parsing ------------------------------------------------------------- */

/* jansson's message may quote raw input bytes ("near '...'"): keep it
 * printable ASCII. */
static void syntax_text(const char *in, char *out, size_t size) {
        size_t o = 0;

        for (const unsigned char *c = (const unsigned char *) in; *c && o + 5 < size; c++) {
                if (*c >= 0x20 && *c < 0x7F)
                        out[o++] = (char) *c;
                else
                        o += (size_t) snprintf(out + o, size - o, "\\x%02x", *c);
        }
        out[o] = 0;
}

static int spec_digest_compute(const json_t *root, char ret[static sizeof(SPEC_DIGEST_PREFIX) + 64]) {
        _cleanup_free_ char *canonical = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        char *p;

        if (!canonical)
                return -ENOMEM;
        if (EVP_Digest(canonical, strlen(canonical), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
                return -ENOMEM; /* OpenSSL fails here only on allocation */
        p = stpcpy(ret, SPEC_DIGEST_PREFIX);
        for (unsigned i = 0; i < md_len; i++, p += 2)
                snprintf(p, 3, "%02x", md[i]);
        return 0;
}

static int too_big(SpecErrors *reterr) {
        int r = json_schema_errors_add(reterr, "$", "the spec is larger than %u bytes", SPEC_FILE_MAX);
        return r < 0 ? r : -E2BIG;
}

int spec_parse(const void *data, size_t size, const char *origin, Spec **ret, SpecErrors *reterr) {
        _cleanup_json_schema_ JsonSchema *schema = NULL;
        json_auto_t *root = NULL;
        _cleanup_(spec_freep) Spec *s = NULL;
        SpecErrors errors = {}, schema_errors = {};
        JsonSchemaPath path;
        json_error_t jerr;
        int r;

        if (!data && size > 0)
                return -EINVAL;
        if (size > SPEC_FILE_MAX)
                return too_big(reterr);

        root = json_loadb(data ? data : "", size, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                char text[SPEC_SYNTAX_TEXT_MAX];

                if (json_error_code(&jerr) == json_error_out_of_memory)
                        return -ENOMEM;
                syntax_text(jerr.text, text, sizeof(text));
                r = json_schema_errors_add(reterr, "$", "invalid JSON at line %d, column %d: %s", jerr.line,
                                           jerr.column, text);
                return r < 0 ? r : -EINVAL;
        }

        r = json_schema_new_from_string(spec_schema_json, &schema, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -EPROTO;

        json_schema_path_init(&path);
        r = scan_secrets(root, &path, 0, &errors);
        if (r < 0)
                goto fail;
        r = json_schema_validate(schema, root, &schema_errors);
        if (r == -ENOMEM)
                goto fail;
        drop_errors_within(&schema_errors, &errors);
        if (r == 0)
                r = check_semantics(root, &schema_errors);
        if (r == -ENOMEM)
                goto fail;
        r = json_schema_errors_move(&errors, &schema_errors);
        if (r < 0)
                goto fail;
        if (errors.n_items > 0 || errors.truncated) {
                r = json_schema_errors_move(reterr, &errors);
                if (r < 0)
                        goto fail;
                return -EINVAL;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if (origin) {
                s->origin = strdup(origin);
                if (!s->origin)
                        return -ENOMEM;
        }
        r = spec_digest_compute(root, s->digest);
        if (r < 0)
                return r;
        s->fleet = json_string_value(json_object_get(json_object_get(root, "fleet"), "name"));
        s->n_machines = json_array_size(json_object_get(root, "inventory"));
        s->json = take_ptr(root);
        *ret = take_ptr(s);
        return 0;

fail:
        json_schema_errors_clear(&errors);
        json_schema_errors_clear(&schema_errors);
        return r;
}

int spec_load_file(const char *path, Spec **ret, SpecErrors *reterr) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode) && st.st_size > (off_t) SPEC_FILE_MAX)
                return too_big(reterr);
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        /* regular files: their size (+1 to see the end); others: grow */
        cap = S_ISREG(st.st_mode) ? (size_t) st.st_size + 1 : SPEC_READ_CHUNK;
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        size_t new_cap = cap * 2 > SPEC_FILE_MAX + 1 ? SPEC_FILE_MAX + 1 : cap * 2;
                        char *b;

                        if (len > SPEC_FILE_MAX)
                                break;
                        b = realloc(buf, new_cap);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        cap = new_cap;
                } else if (!buf) {
                        buf = malloc(cap);
                        if (!buf)
                                return -ENOMEM;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        return spec_parse(buf ? buf : "", len, path, ret, reterr);
}
