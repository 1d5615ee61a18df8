/* render: one node's Ignition config from the spec, the options and the
 * templates (ignition/README.md says what each template holds). Options
 * are checked first, then the placeholders' values are computed, the
 * fragments expanded and merged, and the result linted and scanned for
 * secrets; see render.h. */
#include "ignition/render.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/openssl-cleanup.h"
#include "ignition/template.h"
#include "ignition/unit-name.h"
#include "unseal/pin-tang.h"
#include "unseal/policy.h"

#define SHA512_HEX_LEN 128u

static const char *const supported_versions[] = { "3.3.0", "3.4.0" };

/* What each role adds to base.json; pods.json is for roles whose node runs
 * pods (the seed's bootstrap cluster, workers). */
static const struct {
        const char *name;
        IgnitionTemplate templates[2];
        size_t n_templates;
} roles[_IGNITION_ROLE_MAX] = {
        [IGNITION_ROLE_SEED] = { "seed", { IGNITION_TEMPLATE_ROLE_SEED, IGNITION_TEMPLATE_PODS }, 2 },
        [IGNITION_ROLE_CONTROLLER] = { "controller", { IGNITION_TEMPLATE_ROLE_CONTROLLER }, 1 },
        [IGNITION_ROLE_WORKER] = { "worker", { IGNITION_TEMPLATE_ROLE_WORKER, IGNITION_TEMPLATE_PODS }, 2 },
};

IgnitionRole ignition_role_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(roles); i++)
                if (strcmp(s, roles[i].name) == 0)
                        return (IgnitionRole) i;
        return _IGNITION_ROLE_INVALID;
}

const char *ignition_role_to_string(IgnitionRole r) {
        return r >= 0 && r < _IGNITION_ROLE_MAX ? roles[r].name : NULL;
}

static bool is_version_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '+' || c == '~' || c == '-';
}

bool ignition_sysext_name_is_valid(const char *name) {
        static const char prefix[] = IGNITION_SYSEXT_RELEASE_NAME "-";
        static const char *const suffixes[] = { "-x86-64.raw", "-arm64.raw" };
        size_t n;

        if (!name || strncmp(name, prefix, sizeof(prefix) - 1) != 0)
                return false;
        n = strlen(name);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t s = strlen(suffixes[i]), start = sizeof(prefix) - 1;

                if (n <= start + s || strcmp(name + n - s, suffixes[i]) != 0)
                        continue;
                for (size_t c = start; c < n - s; c++)
                        if (!is_version_char(name[c]))
                                return false;
                return true;
        }
        return false;
}

static bool is_sha512_hex(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == SHA512_HEX_LEN;
}

/* An http(s) URL Ignition can fetch: printable ASCII, no spaces or quotes. */
static bool is_fetch_url(const char *s) {
        size_t n = strlen(s);

        if (n > IGNITION_URL_MAX || (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] >= 0x7F || s[i] == '"' || s[i] == '\\' || s[i] == '<' || s[i] == '>')
                        return false;
        return true;
}

static bool has_certificate(const char *pem) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
        _cleanup_(X509_freep) X509 *cert = NULL;

        if (!bio)
                return false;
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        return cert != NULL;
}

static int check_options(const IgnitionRenderOptions *o, char **reterr) {
        bool version_ok = false;

        if (!o->machine)
                return error_detail_set(reterr, -EINVAL, "no machine given");
        for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++)
                version_ok = version_ok || !o->spec_version || strcmp(o->spec_version, supported_versions[i]) == 0;
        if (!version_ok)
                return error_detail_set(reterr, -EINVAL, "Ignition spec version \"%s\" is not supported (3.3.0 or 3.4.0)",
                                        o->spec_version);
        if (o->role != IGNITION_ROLE_INVENTORY && !ignition_role_to_string(o->role))
                return error_detail_set(reterr, -EINVAL, "role %d is not seed, controller or worker", (int) o->role);
        if (!o->sysext_name)
                return error_detail_set(reterr, -EINVAL, "no sysext name given");
        if (!ignition_sysext_name_is_valid(o->sysext_name))
                return error_detail_set(reterr, -EINVAL,
                                        "sysext name \"%.64s\" does not match its extension-release: expected "
                                        IGNITION_SYSEXT_RELEASE_NAME "-VERSION-x86-64.raw (or -arm64.raw)",
                                        o->sysext_name);
        if (o->sysext_source && !is_fetch_url(o->sysext_source))
                return error_detail_set(reterr, -EINVAL, "sysext source is not an http(s) URL Ignition can fetch");
        if (o->sysext_source && !o->sysext_sha512)
                return error_detail_set(reterr, -EINVAL, "a sysext fetched from a URL needs its SHA-512");
        if (o->sysext_sha512 && !is_sha512_hex(o->sysext_sha512))
                return error_detail_set(reterr, -EINVAL, "sysext SHA-512 must be %u lower-case hex digits", SHA512_HEX_LEN);
        if (o->boot_base_url && (!is_fetch_url(o->boot_base_url) || !o->boot_kernel_sha512 || !o->boot_initrd_sha512))
                return error_detail_set(reterr, -EINVAL,
                                        "boot assets need an http(s) base URL Ignition can fetch and both SHA-512s");
        if ((o->boot_kernel_sha512 && !is_sha512_hex(o->boot_kernel_sha512)) ||
            (o->boot_initrd_sha512 && !is_sha512_hex(o->boot_initrd_sha512)))
                return error_detail_set(reterr, -EINVAL, "boot asset SHA-512s must be %u lower-case hex digits",
                                        SHA512_HEX_LEN);
        if (o->sponsor_url && (!is_fetch_url(o->sponsor_url) || strncasecmp(o->sponsor_url, "https://", 8) != 0))
                return error_detail_set(reterr, -EINVAL, "sponsor URL is not https://HOST:PORT");
        if (o->fleet_ca_pem && strlen(o->fleet_ca_pem) > IGNITION_FLEET_CA_MAX)
                return error_detail_set(reterr, -E2BIG, "fleet CA is larger than %u bytes", IGNITION_FLEET_CA_MAX);
        if (o->fleet_ca_pem && !has_certificate(o->fleet_ca_pem))
                return error_detail_set(reterr, -EINVAL, "fleet CA holds no PEM certificate");
        return 0;
}

static const json_t *find_machine(const Spec *spec, const char *name, size_t *ret_index) {
        const json_t *inventory = json_object_get(spec_json(spec), "inventory"), *m;
        size_t i;

        json_array_foreach(inventory, i, m) {
                const char *n = json_string_value(json_object_get(m, "name"));
                if (n && strcmp(n, name) == 0) {
                        *ret_index = i;
                        return m;
                }
        }
        return NULL;
}

/* The data volume's placeholder values, from $.unseal and $.tang. */
typedef struct Volume {
        const char *name, *device;
        json_t *clevis; /* Ignition's luks[].clevis */
        char *unseal_unit, *cryptsetup_unit;
} Volume;

static void volume_done(Volume *v) {
        json_decref(v->clevis);
        free(v->unseal_unit);
        free(v->cryptsetup_unit);
}

/* A tang server's advertisement copied into the spec goes into the custom
 * pin's config, where clevis binds to it offline: checked here as clevis
 * would check it (signed by the thumbprint's key), so a stale or mistyped
 * copy is refused at rendering, not on the node's first boot. */
static int adv_check(const json_t *t, size_t i, char **reterr) {
        const json_t *adv = json_object_get(t, "adv");
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        char where[48];
        int r;

        if (!adv)
                return 0;
        snprintf(where, sizeof(where), "$.tang[%zu].adv", i);
        r = tang_adv_trust(adv, json_string_value(json_object_get(t, "thumbprint")), false, NULL, &report, where);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_detail_set(reterr, -EINVAL, "%s", report.n_lines > 0 ? report.lines[0] : where);
        return 0;
}

/* Ignition's clevis binding for the spec's unseal policy. Its own form
 * ({tang, tpm2, threshold}) binds tpm2 with no PCR policy at all: Ignition
 * (luks.go) hands clevis "tpm2": {}. So when the policy binds tpm2 to
 * PCRs, the binding is a custom sss pin whose config is the policy's
 * clevis config as unseal_policy_config() builds it for stratad and
 * `strata unseal policy` (one builder, so Ignition's binding and a later
 * `strata unseal luks-bind`/regen from the spec agree), with needsNetwork
 * so Ignition brings the network up in the initramfs for tang. Without
 * PCRs both forms bind the same, and Ignition's own form is kept: Ignition
 * fetches the tang advertisements itself first, retrying until the
 * network is up. */
static int clevis_build(const json_t *root, json_t **ret, char **reterr) {
        const json_t *unseal = json_object_get(root, "unseal"), *tpm2 = json_object_get(unseal, "tpm2");
        const json_t *tang = json_object_get(root, "tang"), *t;
        json_int_t threshold = json_integer_value(json_object_get(unseal, "threshold"));
        bool tpm2_on = json_is_true(json_object_get(tpm2, "enabled"));
        size_t i, sources = json_array_size(tang) + (tpm2_on ? 1 : 0);
        json_auto_t *list = json_array(), *config = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if (!list)
                return -ENOMEM;
        json_array_foreach(tang, i, t) {
                const json_t *url = json_object_get(t, "url"), *thp = json_object_get(t, "thumbprint");

                /* Ignition 2.14 dereferences the thumbprint (luks.go), and
                 * clevis would ask whether to trust an unpinned key, which
                 * nobody answers in the initramfs */
                if (!thp)
                        return error_detail_set(reterr, -EINVAL,
                                                "$.tang[%zu]: the data volume's clevis binding needs this tang server's "
                                                "\"thumbprint\" (Ignition cannot bind with trust on first use)", i);
                if (json_array_append_new(list, json_pack("{s:O,s:O}", "url", url, "thumbprint", thp)) < 0)
                        return -ENOMEM;
                r = adv_check(t, i, reterr);
                if (r < 0)
                        return r;
        }
        if (threshold < 1 || (size_t) threshold > sources)
                return error_detail_set(reterr, -EINVAL,
                                        "$.unseal.threshold: %" JSON_INTEGER_FORMAT " is more than the %zu key sources "
                                        "(tang servers + tpm2) the clevis binding would have",
                                        threshold, sources);

        if (!tpm2_on || json_array_size(json_object_get(tpm2, "pcr_ids")) == 0) {
                *ret = json_pack("{s:O,s:b,s:I}", "tang", list, "tpm2", tpm2_on, "threshold", threshold);
                return *ret ? 0 : -ENOMEM;
        }
        r = unseal_policy_config(root, &config, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_detail_set(reterr, -EINVAL, "$.unseal: cannot build its clevis config");
        text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        *ret = json_pack("{s:{s:s,s:s,s:b}}", "custom", "pin", "sss", "config", text, "needsNetwork",
                         json_array_size(tang) > 0);
        return *ret ? 0 : -ENOMEM;
}

static int volume_build(const json_t *root, Volume *v, char **reterr) {
        const json_t *volume = json_object_get(json_object_get(root, "unseal"), "volume");
        _cleanup_free_ char *dev = NULL, *name = NULL;
        int r;

        v->name = json_string_value(json_object_get(volume, "name"));
        v->device = json_string_value(json_object_get(volume, "device"));
        if (!v->name || !v->device)
                return error_detail_set(reterr, -EINVAL, "$.unseal.volume: needs \"device\" and \"name\"");
        r = clevis_build(root, &v->clevis, reterr);
        if (r < 0)
                return r;

        r = unit_name_path_escape(v->device, &dev);
        if (r >= 0)
                r = unit_name_escape(v->name, &name);
        if (r < 0)
                return error_detail_set(reterr, r, "$.unseal.volume: cannot name its units");
        if (asprintf(&v->unseal_unit, "strata-unseal@%s.service", dev) < 0) {
                v->unseal_unit = NULL;
                return -ENOMEM;
        }
        if (asprintf(&v->cryptsetup_unit, "systemd-cryptsetup@%s.service", name) < 0) {
                v->cryptsetup_unit = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Placeholder values, strings owned by `vars_json` (an object keeping
 * each value alive). */
static int add_var(json_t *store, TemplateVar *vars, size_t *n, const char *name, json_t *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_set_new(store, name, value) < 0)
                return -ENOMEM;
        vars[(*n)++] = (TemplateVar) { .name = name, .value = value };
        return 0;
}

static int add_string_var(json_t *store, TemplateVar *vars, size_t *n, const char *name, const char *value,
                          char **reterr) {
        json_t *s = json_string(value);

        if (!s)
                return error_detail_set(reterr, -EINVAL, "%s is not UTF-8 text", name);
        return add_var(store, vars, n, name, s);
}

int ignition_render(const Spec *spec, const IgnitionRenderOptions *o, json_t **ret, char **reterr) {
        IgnitionTemplate fragments[_IGNITION_TEMPLATE_MAX];
        TemplateVar vars[24];
        size_t n_fragments = 0, n_vars = 0, index = 0;
        _cleanup_(volume_done) Volume volume = {};
        json_auto_t *store = json_object(), *config = NULL;
        _cleanup_free_ char *spec_text = NULL, *spec_file = NULL;
        json_auto_t *public_spec = NULL;
        const json_t *machine, *root;
        IgnitionRole role;
        int r;

        if (!spec || !o || !ret)
                return -EINVAL;
        if (!store)
                return -ENOMEM;
        r = check_options(o, reterr);
        if (r < 0)
                return r;
        root = spec_json(spec);
        machine = find_machine(spec, o->machine, &index);
        if (!machine)
                return error_detail_set(reterr, -ENOENT, "machine \"%.63s\" is not in the inventory of fleet %s",
                                        o->machine, spec_fleet(spec));
        role = o->role;
        if (role == IGNITION_ROLE_INVENTORY)
                role = ignition_role_from_string(json_string_value(json_object_get(machine, "role")));
        if (role < 0)
                return error_detail_set(reterr, -EINVAL, "$.inventory[%zu].role: not seed, controller or worker", index);

        if (!o->full_spec) {
                r = ignition_public_spec(root, o->fleet_ca_pem ? IGNITION_FLEET_CA_PATH : NULL, &public_spec);
                if (r < 0)
                        return r;
        }
        spec_text = json_dumps(public_spec ? public_spec : root, JSON_COMPACT | JSON_SORT_KEYS);
        if (!spec_text || asprintf(&spec_file, "%s\n", spec_text) < 0)
                return -ENOMEM;

        fragments[n_fragments++] = IGNITION_TEMPLATE_BASE;
        r = add_string_var(store, vars, &n_vars, "IGNITION_VERSION",
                           o->spec_version ? o->spec_version : IGNITION_SPEC_VERSION_DEFAULT, reterr);
        if (r >= 0)
                r = add_string_var(store, vars, &n_vars, "MACHINE", o->machine, reterr);
        if (r >= 0)
                r = add_string_var(store, vars, &n_vars, "ROLE", ignition_role_to_string(role), reterr);
        if (r >= 0)
                r = add_string_var(store, vars, &n_vars, "FLEET", spec_fleet(spec), reterr);
        if (r >= 0)
                r = add_string_var(store, vars, &n_vars, "SPEC_JSON", spec_file, reterr);
        if (r >= 0)
                r = add_string_var(store, vars, &n_vars, "SYSEXT_NAME", o->sysext_name, reterr);
        if (r < 0)
                return r;

        if (o->sysext_source) {
                fragments[n_fragments++] = IGNITION_TEMPLATE_SYSEXT_FETCH;
                r = add_string_var(store, vars, &n_vars, "SYSEXT_SOURCE", o->sysext_source, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "SYSEXT_SHA512", o->sysext_sha512, reterr);
                if (r < 0)
                        return r;
        }
        if (o->boot_base_url) {
                fragments[n_fragments++] = IGNITION_TEMPLATE_BOOT_ASSETS;
                r = add_string_var(store, vars, &n_vars, "BOOT_BASE_URL", o->boot_base_url, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "BOOT_KERNEL", BOOT_ASSET_KERNEL, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "BOOT_INITRD", BOOT_ASSET_INITRD, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "BOOT_KERNEL_SHA512", o->boot_kernel_sha512, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "BOOT_INITRD_SHA512", o->boot_initrd_sha512, reterr);
                if (r < 0)
                        return r;
        }
        if (o->fleet_ca_pem) {
                fragments[n_fragments++] = IGNITION_TEMPLATE_FLEET_CA;
                r = add_string_var(store, vars, &n_vars, "FLEET_CA_PEM", o->fleet_ca_pem, reterr);
                if (r < 0)
                        return r;
        }
        if (o->sponsor_url) {
                fragments[n_fragments++] = IGNITION_TEMPLATE_SPONSOR;
                r = add_string_var(store, vars, &n_vars, "SPONSOR_URL", o->sponsor_url, reterr);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < roles[role].n_templates; i++)
                fragments[n_fragments++] = roles[role].templates[i];
        if (json_object_get(json_object_get(root, "unseal"), "volume")) {
                r = volume_build(root, &volume, reterr);
                if (r < 0)
                        return r;
                fragments[n_fragments++] = IGNITION_TEMPLATE_DATA_VOLUME;
                if (!o->volume_exists)
                        fragments[n_fragments++] = IGNITION_TEMPLATE_DATA_VOLUME_CREATE;
                r = add_string_var(store, vars, &n_vars, "VOLUME_NAME", volume.name, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "VOLUME_DEVICE", volume.device, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "UNSEAL_UNIT", volume.unseal_unit, reterr);
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "CRYPTSETUP_UNIT", volume.cryptsetup_unit, reterr);
                /* what stratad's unseal phase does with a blank device
                 * (unseal-phase.h): only a config that does not create the
                 * volume lets it, for a retried or re-run first boot */
                if (r >= 0)
                        r = add_string_var(store, vars, &n_vars, "VOLUME_IF_BLANK",
                                           o->volume_exists ? "create" : "refuse", reterr);
                if (r >= 0)
                        r = add_var(store, vars, &n_vars, "CLEVIS", json_incref(volume.clevis));
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n_fragments; i++) {
                json_auto_t *part = NULL;

                r = template_expand(fragments[i], vars, n_vars, &part, reterr);
                if (r < 0)
                        return r;
                if (!config)
                        config = take_ptr(part);
                else {
                        r = template_merge(config, part, fragments[i], reterr);
                        if (r < 0)
                                return r;
                }
        }

        r = ignition_lint(config, reterr);
        if (r < 0)
                return r;
        r = ignition_scan_secrets(config, reterr);
        if (r < 0)
                return r;
        *ret = take_ptr(config);
        return 0;
}
