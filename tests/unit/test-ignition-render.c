/* Tests for agent/ignition: the rendered config per role (sysext, hash and
 * link, units, public spec, fleet CA, sponsor, data volume with its
 * LUKS2/clevis binding, custom sss pin when tpm2 binds to PCRs, mount
 * units, and the config for a volume that exists already), the refusals
 * (unknown machine, bad options, a tang server without a thumbprint,
 * secrets in the options), the public spec (no BMC endpoint or credential
 * reference, no sponsor, still a spec stratad accepts), the sponsor URL,
 * the lint (clevis threshold, custom pins, no wiping, sysext naming and
 * hash), the secret scan's shapes and non-shapes, and the helpers under
 * them: data: URLs, systemd unit-name escaping, template expansion (JSON
 * and text) and merging. Specs start from proto/examples (under
 * $STRATA_SRCDIR, default "."). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jose/jose.h>

#include "core/cleanup.h"
#include "core/spec.h"
#include "ignition/data-url.h"
#include "ignition/render.h"
#include "ignition/template.h"
#include "ignition/unit-name.h"
#include "unseal/policy.h"

#define SYSEXT "strata-agent-0.1.0-x86-64.raw"
#define SOURCE "http://192.0.2.11:8080/boot/52-54-00-0a-00-02/" SYSEXT
#define SHA512                                                                                                     \
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47" \
        "417a81a538327af927da3e"
#define UNSEAL_UNIT "strata-unseal@dev-disk-by\\x2dpartlabel-strata\\x2ddata.service"

/* A public test certificate (openssl req -x509, P-256, CN "Strata test
 * fleet CA"); its key was thrown away. */
static const char fleet_ca[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBlTCCATugAwIBAgIUWYiArOTvkUQMytXj94QTmPmYITswCgYIKoZIzj0EAwIw\n"
        "HzEdMBsGA1UEAwwUU3RyYXRhIHRlc3QgZmxlZXQgQ0EwIBcNMjYxMTIyMDI0NTE4\n"
        "WhgPMjEyNjEwMjkwMjQ1MThaMB8xHTAbBgNVBAMMFFN0cmF0YSB0ZXN0IGZsZWV0\n"
        "IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdBjWVDMEabdqQKeoG5Jw23KC\n"
        "Vhci62QZ20LLSzwg+BI03noF6N5K2uFmj+rA2kL0UQ+jRYiQJEeGDT26hPlm66NT\n"
        "MFEwHQYDVR0OBBYEFG2g02GGokubf7JQ/dE1WelJr3BWMB8GA1UdIwQYMBaAFG2g\n"
        "02GGokubf7JQ/dE1WelJr3BWMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\n"
        "SAAwRQIhANh4N1TYnmZs66n2KMD9sw1jYRXKIXY2SQnOFxoAdc0kAiAUH80QpXWB\n"
        "VdJDqRS3v/k4jjN8f0xFgkFmfn8sHkIo1g==\n"
        "-----END CERTIFICATE-----\n";

/* Shaped like key material, not key material. */
#define FAKE_KEY_BODY "MHcCAQEEIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeoAoGCCqGSM49"
static const char fake_private_key[] =
        "-----BEGIN EC PRIVATE KEY-----\n" FAKE_KEY_BODY "\n-----END EC PRIVATE KEY-----\n";
#define FAKE_JWT "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2RlMSJ9.c2lnbmF0dXJlLW5vdC1yZWFsLWF0LWFsbA"

/* ---- helpers -------------------------------------------------------------- */

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static json_t *example(const char *name) {
        const char *dir = getenv("STRATA_SRCDIR");
        _cleanup_free_ char *path = NULL;
        json_error_t err;
        json_t *j;

        assert_true(asprintf(&path, "%s/proto/examples/%s", dir && *dir ? dir : ".", name) > 0);
        j = json_load_file(path, 0, &err);
        if (!j)
                fail_msg("%s: %s", path, err.text);
        return j;
}

static Spec *spec_from(json_t *doc) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        SpecErrors e = {};
        Spec *s = NULL;
        int r;

        assert_non_null(text);
        r = spec_parse(text, strlen(text), "test", &s, &e);
        if (r < 0) {
                spec_errors_print(stderr, "test", &e);
                fail_msg("test spec does not parse: %d", r);
        }
        spec_errors_clear(&e);
        json_decref(doc);
        return s;
}

static Spec *rack(void) {
        return spec_from(example("rack.json"));
}

static json_t *with_volume(json_t *doc) {
        json_t *unseal = json_object_get(doc, "unseal");
        assert_int_equal(json_object_set_new(unseal, "volume",
                                             json_pack("{s:s,s:s}", "device", "/dev/disk/by-partlabel/strata-data",
                                                       "name", "strata-data")),
                         0);
        return doc;
}

static IgnitionRenderOptions options(const char *machine) {
        return (IgnitionRenderOptions) {
                .machine = machine,
                .role = IGNITION_ROLE_INVENTORY,
                .sysext_name = SYSEXT,
                .sysext_source = SOURCE,
                .sysext_sha512 = SHA512,
        };
}

static json_t *render_ok(const Spec *s, const IgnitionRenderOptions *o) {
        _cleanup_free_ char *err = NULL;
        json_t *config = NULL;
        int r = ignition_render(s, o, &config, &err);

        if (r < 0)
                fail_msg("render %s: %d %s", o->machine, r, err ? err : "");
        assert_null(err);
        return config;
}

/* Renders expecting failure `want`; returns the message (caller frees). */
static char *render_fails(const Spec *s, const IgnitionRenderOptions *o, int want) {
        char *err = NULL;
        json_t *config = NULL;
        int r = ignition_render(s, o, &config, &err);

        assert_int_equal(r, want);
        assert_null(config);
        assert_non_null(err);
        return err;
}

static json_t *entry(const json_t *config, const char *section, const char *list, const char *key, const char *value) {
        const json_t *array = json_object_get(json_object_get(config, section), list), *e;
        size_t i;

        json_array_foreach(array, i, e) {
                const char *v = json_string_value(json_object_get(e, key));
                if (v && strcmp(v, value) == 0)
                        return (json_t *) e;
        }
        return NULL;
}

static json_t *file(const json_t *config, const char *path) {
        return entry(config, "storage", "files", "path", path);
}

static json_t *unit(const json_t *config, const char *name) {
        return entry(config, "systemd", "units", "name", name);
}

/* The decoded data: URL of a file (caller frees). */
static char *file_text(const json_t *config, const char *path) {
        const char *source = json_string_value(json_object_get(json_object_get(file(config, path), "contents"), "source"));
        uint8_t *data = NULL;
        size_t size = 0;

        if (!source)
                fail_msg("no file %s with a source", path);
        assert_int_equal(data_url_decode(source, strlen(source), &data, &size), 0);
        return (char *) data;
}

static const char *dropin(const json_t *config, const char *unit_name, const char *name) {
        const json_t *u = unit(config, unit_name), *d;
        size_t i;

        json_array_foreach(json_object_get(u, "dropins"), i, d)
                if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
                        return json_string_value(json_object_get(d, "contents"));
        return NULL;
}

/* ---- rendering ----------------------------------------------------------- */

/* systemd-cryptsetup@NAME.service, which the generator makes /dev/mapper/NAME
 * require (Ignition writes /etc/crypttab): replaced by a unit that requires
 * strata-unseal@, never masked (a masked unit fails the mapper device, the
 * mounts and stratad). */
static void check_cryptsetup_stand_in(const json_t *c) {
        const json_t *u = unit(c, "systemd-cryptsetup@strata\\x2ddata.service");
        const char *text = json_string_value(json_object_get(u, "contents"));

        assert_non_null(u);
        assert_null(json_object_get(u, "mask"));
        assert_non_null(text);
        assert_non_null(strstr(text, "\nRequires=" UNSEAL_UNIT "\nAfter=" UNSEAL_UNIT "\n"));
        assert_non_null(strstr(text, "\nDefaultDependencies=no\n"));
        assert_non_null(strstr(text, "\nExecStart=/usr/bin/true\n"));
}

static void test_ignition_render_controller(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = render_ok(s, &o), *spec_copy = NULL, *public_spec = NULL;
        _cleanup_free_ char *hostname = NULL, *spec = NULL, *env = NULL;
        const json_t *sysext, *link;

        (void) state;
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "ignition"), "version")), "3.3.0");

        hostname = file_text(c, "/etc/hostname");
        assert_string_equal(hostname, "r1-ctl1\n");

        /* the public spec, mode 0644: the spec without what only members get */
        assert_int_equal(json_integer_value(json_object_get(file(c, IGNITION_SPEC_PATH), "mode")), 0644);
        spec = file_text(c, IGNITION_SPEC_PATH);
        spec_copy = json_loads(spec, 0, NULL);
        assert_non_null(spec_copy);
        assert_int_equal(ignition_public_spec(spec_json(s), NULL, &public_spec), 0);
        assert_true(json_equal(spec_copy, public_spec));
        assert_null(strstr(spec, "credentials/bmc"));
        assert_null(strstr(spec, "192.0.2.101"));

        /* the sysext: fetched with its SHA-512, linked under its release name */
        sysext = file(c, IGNITION_SYSEXT_DIR "/" SYSEXT);
        assert_non_null(sysext);
        assert_string_equal(json_string_value(json_object_get(json_object_get(sysext, "contents"), "source")), SOURCE);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(sysext, "contents"), "verification"), "hash")),
                            "sha512-" SHA512);
        link = entry(c, "storage", "links", "path", IGNITION_SYSEXT_LINK);
        assert_non_null(link);
        assert_string_equal(json_string_value(json_object_get(link, "target")), IGNITION_SYSEXT_DIR "/" SYSEXT);

        /* stratad's units: enabled, and held up by their targets */
        assert_true(json_is_true(json_object_get(unit(c, "stratad.service"), "enabled")));
        assert_true(json_is_true(json_object_get(unit(c, "stratad.socket"), "enabled")));
        assert_true(json_is_true(json_object_get(unit(c, "strata-member-renew.timer"), "enabled")));
        assert_non_null(strstr(dropin(c, "multi-user.target", "50-strata.conf"), "Upholds=stratad.service\n"));
        assert_non_null(strstr(dropin(c, "sockets.target", "50-strata.conf"), "Wants=stratad.socket\n"));
        /* stratad knows its machine (--machine from $STRATA_MACHINE) */
        assert_non_null(strstr(dropin(c, "stratad.service", "50-strata-node.conf"),
                               "EnvironmentFile=-/etc/strata/node.env\n"));

        env = file_text(c, "/etc/strata/node.env");
        assert_string_equal(env, "STRATA_MACHINE=r1-ctl1\nSTRATA_ROLE=controller\n");
        /* controllers run no pods; no volume in rack.json; no CA or sponsor given */
        assert_null(file(c, "/etc/sysctl.d/50-strata-pods.conf"));
        assert_null(json_object_get(json_object_get(c, "storage"), "luks"));
        assert_null(file(c, IGNITION_FLEET_CA_PATH));
        assert_null(file(c, IGNITION_SPONSOR_ENV_PATH));
}

static void test_ignition_render_roles(void **state) {
        static const struct {
                const char *machine;
                IgnitionRole role;
                const char *env;
                bool pods;
        } cases[] = {
                { "r1-seed", IGNITION_ROLE_INVENTORY, "STRATA_MACHINE=r1-seed\nSTRATA_ROLE=seed\n", true },
                { "r2-wrk1", IGNITION_ROLE_INVENTORY, "STRATA_MACHINE=r2-wrk1\nSTRATA_ROLE=worker\n", true },
                { "r1-ctl2", IGNITION_ROLE_INVENTORY, "STRATA_MACHINE=r1-ctl2\nSTRATA_ROLE=controller\n", false },
                /* --role overrides the inventory */
                { "r1-ctl2", IGNITION_ROLE_WORKER, "STRATA_MACHINE=r1-ctl2\nSTRATA_ROLE=worker\n", true },
                { "r2-wrk2", IGNITION_ROLE_CONTROLLER, "STRATA_MACHINE=r2-wrk2\nSTRATA_ROLE=controller\n", false },
        };
        _cleanup_spec_ Spec *s = rack();

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                IgnitionRenderOptions o = options(cases[i].machine);
                json_auto_t *c = NULL;
                _cleanup_free_ char *env = NULL;

                o.role = cases[i].role;
                c = render_ok(s, &o);
                env = file_text(c, "/etc/strata/node.env");
                assert_string_equal(env, cases[i].env);
                if (cases[i].pods) {
                        _cleanup_free_ char *sysctl = file_text(c, "/etc/sysctl.d/50-strata-pods.conf");
                        _cleanup_free_ char *modules = file_text(c, "/etc/modules-load.d/50-strata-pods.conf");
                        assert_non_null(strstr(sysctl, "net.ipv4.ip_forward = 1\n"));
                        assert_non_null(strstr(modules, "br_netfilter\n"));
                } else
                        assert_null(file(c, "/etc/sysctl.d/50-strata-pods.conf"));
        }
}

static void test_ignition_role_names(void **state) {
        (void) state;
        for (IgnitionRole r = 0; r < _IGNITION_ROLE_MAX; r++)
                assert_int_equal(ignition_role_from_string(ignition_role_to_string(r)), r);
        assert_int_equal(ignition_role_from_string("Seed"), _IGNITION_ROLE_INVALID);
        assert_int_equal(ignition_role_from_string(NULL), _IGNITION_ROLE_INVALID);
        assert_null(ignition_role_to_string(IGNITION_ROLE_INVENTORY));
}

/* The seed image has the sysext on its disk: link only, nothing fetched. */
static void test_ignition_render_sysext_on_disk(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-seed");
        json_auto_t *c = NULL;

        (void) state;
        o.sysext_source = NULL;
        o.sysext_sha512 = NULL;
        c = render_ok(s, &o);
        assert_null(file(c, IGNITION_SYSEXT_DIR "/" SYSEXT));
        assert_non_null(entry(c, "storage", "links", "path", IGNITION_SYSEXT_LINK));
}

static void test_ignition_render_spec_version(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = NULL;
        _cleanup_free_ char *err = NULL;

        (void) state;
        o.spec_version = "3.4.0";
        c = render_ok(s, &o);
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "ignition"), "version")), "3.4.0");
        o.spec_version = "3.5.0";
        err = render_fails(s, &o, -EINVAL);
        assert_non_null(strstr(err, "\"3.5.0\" is not supported"));
}

static void test_ignition_render_data_volume(void **state) {
        _cleanup_spec_ Spec *s = spec_from(with_volume(example("rack.json")));
        IgnitionRenderOptions o = options("r2-wrk1");
        json_auto_t *c = render_ok(s, &o);
        const json_t *luks = json_array_get(json_object_get(json_object_get(c, "storage"), "luks"), 0);
        const json_t *clevis = json_object_get(luks, "clevis"), *custom = json_object_get(clevis, "custom"), *tang;
        const json_t *fs = entry(c, "storage", "filesystems", "device", "/dev/mapper/strata-data");
        json_auto_t *config = NULL, *policy = NULL;
        const char *mount;

        (void) state;
        assert_non_null(luks);
        assert_string_equal(json_string_value(json_object_get(luks, "name")), "strata-data");
        assert_string_equal(json_string_value(json_object_get(luks, "device")), "/dev/disk/by-partlabel/strata-data");
        assert_true(json_is_false(json_object_get(luks, "wipeVolume")));
        assert_null(json_object_get(luks, "keyFile"));
        /* the spec's unseal policy binds tpm2 to PCR 7, which Ignition's own
         * clevis form cannot say: a custom sss pin with the policy's config
         * (both tang servers with their thumbprints, tpm2 on PCR 7, t 2),
         * exactly as `strata unseal policy` builds it */
        assert_null(json_object_get(clevis, "tang"));
        assert_null(json_object_get(clevis, "tpm2"));
        assert_null(json_object_get(clevis, "threshold"));
        assert_string_equal(json_string_value(json_object_get(custom, "pin")), "sss");
        assert_true(json_is_true(json_object_get(custom, "needsNetwork")));
        config = json_loads(json_string_value(json_object_get(custom, "config")), 0, NULL);
        assert_non_null(config);
        assert_int_equal(unseal_policy_config(spec_json(s), &policy, NULL), 0);
        assert_true(json_equal(config, policy));
        tang = json_object_get(json_object_get(config, "pins"), "tang");
        assert_int_equal(json_array_size(tang), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(tang, 1), "thp")),
                            "qAfHp2symCDqKjkIwcFXmyNwejyqG88EF0TO4flo0j0");
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(config, "pins"), "tpm2"),
                                                              "pcr_ids")),
                            "7");
        assert_int_equal(json_integer_value(json_object_get(config, "t")), 2);

        assert_non_null(fs);
        assert_string_equal(json_string_value(json_object_get(fs, "format")), "ext4");
        assert_string_equal(json_string_value(json_object_get(fs, "path")), "/var/mnt/strata");
        assert_true(json_is_false(json_object_get(fs, "wipeFilesystem")));
        assert_non_null(entry(c, "storage", "directories", "path", "/var/mnt/strata/state"));

        /* the volume opened by strata-unseal, bind-mounted where stratad and k0s keep state */
        mount = json_string_value(json_object_get(unit(c, "var-mnt-strata.mount"), "contents"));
        assert_non_null(strstr(mount, "Requires=" UNSEAL_UNIT "\n"));
        assert_non_null(strstr(mount, "What=/dev/mapper/strata-data\n"));
        mount = json_string_value(json_object_get(unit(c, "var-lib-strata.mount"), "contents"));
        assert_non_null(strstr(mount, "What=/var/mnt/strata/state\nWhere=/var/lib/strata\n"));
        mount = json_string_value(json_object_get(unit(c, "var-lib-k0s.mount"), "contents"));
        assert_non_null(strstr(mount, "Where=/var/lib/k0s\n"));
        assert_true(json_is_true(json_object_get(unit(c, "var-lib-k0s.mount"), "enabled")));
        assert_non_null(strstr(dropin(c, UNSEAL_UNIT, "50-strata-volume.conf"), "STRATA_VOLUME_NAME=strata-data\n"));
        /* no condition on /dev/mapper: strata-unseal itself succeeds when
         * the volume is open already, and checks it is this volume */
        assert_null(strstr(dropin(c, UNSEAL_UNIT, "50-strata-volume.conf"), "Condition"));
        check_cryptsetup_stand_in(c);
        /* merged into base.json's entry, not a second stratad.service */
        assert_true(json_is_true(json_object_get(unit(c, "stratad.service"), "enabled")));
        assert_non_null(strstr(dropin(c, "stratad.service", "50-strata-data.conf"),
                               "RequiresMountsFor=/var/lib/strata /var/lib/k0s\n"));
}

static void test_ignition_render_data_volume_without_tpm2(void **state) {
        json_t *doc = with_volume(example("rack.json"));
        _cleanup_spec_ Spec *s = NULL;
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = NULL;
        const json_t *clevis;

        (void) state;
        json_object_set_new(json_object_get(json_object_get(doc, "unseal"), "tpm2"), "enabled", json_false());
        json_object_set_new(json_object_get(doc, "unseal"), "threshold", json_integer(1));
        s = spec_from(doc);
        c = render_ok(s, &o);
        clevis = json_object_get(json_array_get(json_object_get(json_object_get(c, "storage"), "luks"), 0), "clevis");
        assert_true(json_is_false(json_object_get(clevis, "tpm2")));
        assert_int_equal(json_integer_value(json_object_get(clevis, "threshold")), 1);
}

/* tpm2 without a PCR policy: Ignition's own form says the same. */
static void test_ignition_render_data_volume_tpm2_without_pcrs(void **state) {
        json_t *doc = with_volume(example("rack.json"));
        _cleanup_spec_ Spec *s = NULL;
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = NULL;
        const json_t *clevis;

        (void) state;
        json_object_set_new(json_object_get(json_object_get(doc, "unseal"), "tpm2"), "pcr_ids", json_array());
        s = spec_from(doc);
        c = render_ok(s, &o);
        clevis = json_object_get(json_array_get(json_object_get(json_object_get(c, "storage"), "luks"), 0), "clevis");
        assert_null(json_object_get(clevis, "custom"));
        assert_true(json_is_true(json_object_get(clevis, "tpm2")));
        assert_int_equal(json_array_size(json_object_get(clevis, "tang")), 2);
        assert_int_equal(json_integer_value(json_object_get(clevis, "threshold")), 2);
}

/* A machine whose volume exists (a PXE node re-runs Ignition at every
 * boot): Ignition refuses to reuse a clevis-bound volume and would fail
 * the boot, so the config leaves the disk alone and only opens and mounts
 * it. */
static void test_ignition_render_volume_exists(void **state) {
        _cleanup_spec_ Spec *s = spec_from(with_volume(example("rack.json")));
        IgnitionRenderOptions o = options("r2-wrk1");
        json_auto_t *c = NULL;
        const json_t *storage;

        (void) state;
        o.volume_exists = true;
        c = render_ok(s, &o);
        storage = json_object_get(c, "storage");
        assert_null(json_object_get(storage, "luks"));
        assert_null(json_object_get(storage, "filesystems"));
        assert_null(entry(c, "storage", "directories", "path", "/var/mnt/strata/state"));
        assert_non_null(strstr(json_string_value(json_object_get(unit(c, "var-mnt-strata.mount"), "contents")),
                               "Requires=" UNSEAL_UNIT "\n"));
        assert_non_null(unit(c, "var-lib-k0s.mount"));
        assert_non_null(strstr(dropin(c, UNSEAL_UNIT, "50-strata-volume.conf"), "STRATA_VOLUME_NAME=strata-data\n"));
        check_cryptsetup_stand_in(c);
        /* stratad's unseal phase (and strata-unseal@) learn they may make a
         * blank device into the volume, as Ignition would have */
        {
                _cleanup_free_ char *env = file_text(c, "/etc/strata/volume.env");
                assert_string_equal(env, "STRATA_VOLUME_IF_BLANK=create\n");
                assert_non_null(strstr(dropin(c, "stratad.service", "50-strata-volume.conf"),
                                       "EnvironmentFile=-/etc/strata/volume.env\n"));
                assert_non_null(strstr(dropin(c, UNSEAL_UNIT, "50-strata-volume.conf"),
                                       "EnvironmentFile=-/etc/strata/volume.env\n"));
        }
        /* the creating config: Ignition makes the volume, a blank device later is refused */
        {
                json_auto_t *created = NULL;
                _cleanup_free_ char *env = NULL;

                o.volume_exists = false;
                created = render_ok(s, &o);
                assert_non_null(json_object_get(json_object_get(created, "storage"), "luks"));
                env = file_text(created, "/etc/strata/volume.env");
                assert_string_equal(env, "STRATA_VOLUME_IF_BLANK=refuse\n");
                o.volume_exists = true;
        }
        /* without a volume in the spec the flag changes nothing */
        {
                _cleanup_spec_ Spec *plain = rack();
                json_auto_t *a = NULL, *b = NULL;
                a = render_ok(plain, &o);
                o.volume_exists = false;
                b = render_ok(plain, &o);
                assert_true(json_equal(a, b));
        }
}

static void test_ignition_render_sponsor(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = NULL;
        _cleanup_free_ char *env = NULL;
        static const char *const refused[] = { "http://192.0.2.11:7443", "https://192.0.2.11:7443/a b",
                                               "https://192.0.2.11:7443\nX=1", "192.0.2.11:7443" };

        (void) state;
        o.sponsor_url = "https://192.0.2.11:7443";
        c = render_ok(s, &o);
        env = file_text(c, IGNITION_SPONSOR_ENV_PATH);
        assert_string_equal(env, "STRATA_SPONSOR=https://192.0.2.11:7443\n");
        assert_int_equal(json_integer_value(json_object_get(file(c, IGNITION_SPONSOR_ENV_PATH), "mode")), 0644);
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_free_ char *err = NULL;
                o.sponsor_url = refused[i];
                err = render_fails(s, &o, -EINVAL);
                assert_non_null(strstr(err, "sponsor URL"));
        }
}

/* The seed's own medium carries the whole spec: it coordinates and
 * provisions from the full inventory from its first boot. */
static void test_ignition_render_full_spec(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-seed");
        json_auto_t *c = NULL, *copy = NULL;
        _cleanup_free_ char *spec = NULL;

        (void) state;
        o.full_spec = true;
        o.fleet_ca_pem = fleet_ca;
        c = render_ok(s, &o);
        spec = file_text(c, IGNITION_SPEC_PATH);
        copy = json_loads(spec, 0, NULL);
        assert_true(json_equal(copy, spec_json(s)));
}

/* minimal.json's tang server is trust-on-first-use: Ignition cannot bind. */
static void test_ignition_render_tang_without_thumbprint(void **state) {
        _cleanup_spec_ Spec *s = spec_from(with_volume(example("minimal.json")));
        IgnitionRenderOptions o = options("node1");
        _cleanup_free_ char *err = render_fails(s, &o, -EINVAL);

        (void) state;
        assert_non_null(strstr(err, "$.tang[0]"));
        assert_non_null(strstr(err, "thumbprint"));
}

static void test_ignition_render_unknown_machine(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r9-ghost");
        _cleanup_free_ char *err = render_fails(s, &o, -ENOENT);

        (void) state;
        assert_string_equal(err, "machine \"r9-ghost\" is not in the inventory of fleet rack-a");
}

static void test_ignition_render_bad_options(void **state) {
        static const struct {
                const char *sysext_name, *source, *sha512, *ca;
                int role;
                const char *message;
        } cases[] = {
                { "strata-0.1.0.raw", SOURCE, SHA512, NULL, -1, "does not match its extension-release" },
                { "strata-agent-0.1.0-amd64.raw", SOURCE, SHA512, NULL, -1, "does not match its extension-release" },
                { "strata-agent-1/2-x86-64.raw", SOURCE, SHA512, NULL, -1, "does not match its extension-release" },
                { SYSEXT, SOURCE, NULL, NULL, -1, "needs its SHA-512" },
                { SYSEXT, SOURCE, "CF83" SHA512, NULL, -1, "128 lower-case hex digits" },
                { SYSEXT, "ftp://192.0.2.11/x.raw", SHA512, NULL, -1, "not an http(s) URL" },
                { SYSEXT, "http://192.0.2.11/a b", SHA512, NULL, -1, "not an http(s) URL" },
                { SYSEXT, SOURCE, SHA512, "not a certificate\n", -1, "no PEM certificate" },
                { SYSEXT, SOURCE, SHA512, NULL, 7, "role 7" },
                { NULL, SOURCE, SHA512, NULL, -1, "no sysext name" },
        };
        _cleanup_spec_ Spec *s = rack();

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                IgnitionRenderOptions o = options("r1-ctl1");
                _cleanup_free_ char *err = NULL;

                o.sysext_name = cases[i].sysext_name;
                o.sysext_source = cases[i].source;
                o.sysext_sha512 = cases[i].sha512;
                o.fleet_ca_pem = cases[i].ca;
                o.role = cases[i].role;
                err = render_fails(s, &o, -EINVAL);
                if (!strstr(err, cases[i].message))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].message);
        }
}

static void test_ignition_render_fleet_ca(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        json_auto_t *c = NULL;
        _cleanup_free_ char *pem = NULL;

        (void) state;
        o.fleet_ca_pem = fleet_ca;
        c = render_ok(s, &o);
        pem = file_text(c, IGNITION_FLEET_CA_PATH);
        assert_string_equal(pem, fleet_ca);
        assert_int_equal(json_integer_value(json_object_get(file(c, IGNITION_FLEET_CA_PATH), "mode")), 0644);
}

/* A CA file with its key appended (an easy mistake) never leaves. */
static void test_ignition_render_refuses_fleet_ca_with_key(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        _cleanup_free_ char *bundle = NULL, *err = NULL;

        (void) state;
        assert_true(asprintf(&bundle, "%s%s", fleet_ca, fake_private_key) > 0);
        o.fleet_ca_pem = bundle;
        err = render_fails(s, &o, -EPERM);
        assert_non_null(strstr(err, "$.storage.files["));
        assert_non_null(strstr(err, ".contents.source (" IGNITION_FLEET_CA_PATH "): a PEM private key"));
        assert_null(strstr(err, FAKE_KEY_BODY));
}

/* Strings the spec check lets through in a machine's BMC (shaped like a
 * JWT, a bootstrap token, an AWS key) never reach Ignition: the public spec
 * withholds every BMC. */
static void test_ignition_render_withholds_bmc_fields(void **state) {
        static const struct {
                const char *field, *value;
        } cases[] = {
                { "serial", FAKE_JWT },
                { "username", "k8s9z1.0a1b2c3d4e5f6g7h" },
                { "serial", "AKIAIOSFODNN7EXAMPLE" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *doc = example("rack.json");
                _cleanup_spec_ Spec *s = NULL;
                IgnitionRenderOptions o = options("r1-ctl1");
                json_auto_t *c = NULL;
                _cleanup_free_ char *text = NULL, *spec = NULL;

                json_object_set_new(json_object_get(json_array_get(json_object_get(doc, "inventory"), 3), "bmc"),
                                    cases[i].field, json_string(cases[i].value));
                s = spec_from(doc); /* the spec check lets these through */
                c = render_ok(s, &o);
                text = json_dumps(c, JSON_COMPACT);
                spec = file_text(c, IGNITION_SPEC_PATH);
                assert_null(strstr(text, cases[i].value));
                assert_null(strstr(spec, cases[i].value));
        }
}

/* ---- the public spec --------------------------------------------------------- */

static void assert_public(const json_t *pub, const json_t *full) {
        const json_t *m;
        size_t i;

        /* every machine kept with its identity; its BMC withheld */
        assert_int_equal(json_array_size(json_object_get(pub, "inventory")),
                         json_array_size(json_object_get(full, "inventory")));
        json_array_foreach(json_object_get(pub, "inventory"), i, m) {
                const json_t *f = json_array_get(json_object_get(full, "inventory"), i);
                json_auto_t *want_bmc = json_pack("{s:s,s:{s:s},s:{s:s}}", "endpoint", IGNITION_WITHHELD_BMC_ENDPOINT,
                                                  "credential", "systemd_credential", IGNITION_WITHHELD_CREDENTIAL,
                                                  "tls", "mode", "system");
                static const char *const kept[] = { "name", "role", "network", "macs" };

                for (size_t k = 0; k < ELEMENTSOF(kept); k++)
                        assert_true(json_equal(json_object_get(m, kept[k]), json_object_get(f, kept[k])));
                assert_true(json_equal(json_object_get(m, "bmc"), want_bmc));
        }
        /* the sponsor stays findable (join-phase.c dials its listen
         * address); the reference to the fleet CA's key does not leave */
        {
                const json_t *ps = json_object_get(json_object_get(pub, "attestation"), "sponsor");
                const json_t *fs = json_object_get(json_object_get(full, "attestation"), "sponsor");
                json_auto_t *want = json_deep_copy(fs);

                if (fs) {
                        json_object_set_new(want, "fleet_ca_key",
                                            json_pack("{s:s}", "systemd_credential", IGNITION_WITHHELD_CREDENTIAL));
                        assert_true(json_equal(ps, want));
                } else
                        assert_null(ps);
        }
        assert_null(json_object_get(pub, "$schema"));
        static const char *const same[] = { "version", "fleet", "networks", "tang", "unseal", "provisioning",
                                             "quorum", "k0s", "capi" };
        for (size_t k = 0; k < ELEMENTSOF(same); k++)
                assert_true(json_equal(json_object_get(pub, same[k]), json_object_get(full, same[k])));
}

/* Every example, and one with what only the seed or members may know (a
 * sponsor with the CA key's reference, a fleet CA path on the operator's
 * machine, BMC TLS by CA and fingerprint): the public spec withholds it and
 * still parses as a spec (stratad on the node validates it against the
 * same schema). */
static void test_ignition_public_spec(void **state) {
        static const char *const files[] = { "minimal.json", "rack.json" };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(files) + 1; i++) {
                json_t *doc = example(i < ELEMENTSOF(files) ? files[i] : "rack.json");
                json_auto_t *pub = NULL, *with_ca = NULL;
                _cleanup_spec_ Spec *s = NULL, *ps = NULL;
                _cleanup_free_ char *text = NULL;
                SpecErrors e = {};

                if (i == ELEMENTSOF(files)) {
                        json_t *att = json_object_get(doc, "attestation");
                        json_object_set_new(doc, "$schema", json_string("https://strata.invalid/proto/spec.schema.json"));
                        json_object_set_new(att, "fleet_ca", json_string("/etc/strata/operator/fleet-ca.pem"));
                        json_object_set_new(att, "sponsor",
                                            json_pack("{s:s,s:s,s:s,s:{s:s}}", "listen", "0.0.0.0:7443", "policy",
                                                      "/etc/strata/policy.json", "policy_signature",
                                                      "/etc/strata/policy.sig", "fleet_ca_key", "file",
                                                      "/etc/strata/credentials/fleet-ca.key"));
                }
                s = spec_from(doc);
                assert_int_equal(ignition_public_spec(spec_json(s), NULL, &pub), 0);
                assert_public(pub, spec_json(s));
                assert_null(json_object_get(json_object_get(pub, "attestation"), "fleet_ca"));
                text = json_dumps(pub, JSON_COMPACT);
                assert_null(strstr(text, "/etc/strata/credentials"));
                assert_null(strstr(text, "\"username\""));
                assert_null(strstr(text, "/etc/strata/operator"));
                if (spec_parse(text, strlen(text), "public", &ps, &e) < 0) {
                        spec_errors_print(stderr, "public", &e);
                        fail_msg("%zu: the public spec does not parse", i);
                }
                spec_errors_clear(&e);

                /* the fleet CA: where Ignition writes it */
                assert_int_equal(ignition_public_spec(spec_json(s), IGNITION_FLEET_CA_PATH, &with_ca), 0);
                assert_string_equal(json_string_value(json_object_get(json_object_get(with_ca, "attestation"), "fleet_ca")),
                                    IGNITION_FLEET_CA_PATH);
        }
}

static void test_ignition_sponsor_url(void **state) {
        static const struct {
                const char *listen, *address;
                int r;
                const char *url;
        } cases[] = {
                { "192.0.2.11:7443", NULL, 0, "https://192.0.2.11:7443" },
                { "192.0.2.11:7443", "10.77.0.1", 0, "https://192.0.2.11:7443" }, /* it listens there only */
                { "0.0.0.0:7443", "10.77.0.1", 0, "https://10.77.0.1:7443" },
                { "[::]:7443", "10.77.0.1", 0, "https://10.77.0.1:7443" },
                { "[::]:7443", "fd00::1", 0, "https://[fd00::1]:7443" },
                { "[fd00::5]:8443", NULL, 0, "https://[fd00::5]:8443" },
                { "0.0.0.0:7443", NULL, -EADDRNOTAVAIL, NULL },
                { "127.0.0.1:7443", "10.77.0.1", -EADDRNOTAVAIL, NULL }, /* another machine cannot reach it */
                { "[::1]:7443", "10.77.0.1", -EADDRNOTAVAIL, NULL },
                { NULL, "10.77.0.1", -ENOENT, NULL },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_auto_t *spec = json_pack("{s:{}}", "attestation");
                _cleanup_free_ char *url = NULL;
                int r;

                if (cases[i].listen)
                        json_object_set_new(json_object_get(spec, "attestation"), "sponsor",
                                            json_pack("{s:s}", "listen", cases[i].listen));
                r = ignition_sponsor_url(spec, cases[i].address, &url);
                if (r != cases[i].r)
                        fail_msg("case %zu: %d", i, r);
                if (cases[i].url)
                        assert_string_equal(url, cases[i].url);
        }
}

static void test_ignition_render_refuses_url_with_password(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options("r1-ctl1");
        _cleanup_free_ char *err = NULL;

        (void) state;
        o.sysext_source = "http://boot:hunter2@192.0.2.11/" SYSEXT;
        err = render_fails(s, &o, -EPERM);
        assert_non_null(strstr(err, ".contents.source (" IGNITION_SYSEXT_DIR "/" SYSEXT "): a URL with a password"));
        assert_null(strstr(err, "hunter2"));
}

/* Every example spec, every role, with and without a volume where it can
 * have one: rendered, linted and scanned clean, nothing left unexpanded. */
static void test_ignition_render_every_example_is_clean(void **state) {
        static const struct {
                const char *file, *machine;
                bool volume;
        } specs[] = {
                { "minimal.json", "node2", false },
                { "rack.json", "r1-ctl2", false },
                { "rack.json", "r2-wrk2", true },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                for (IgnitionRole role = IGNITION_ROLE_SEED; role < _IGNITION_ROLE_MAX; role++) {
                        json_t *doc = example(specs[i].file);
                        _cleanup_spec_ Spec *s = spec_from(specs[i].volume ? with_volume(doc) : doc);
                        IgnitionRenderOptions o = options(specs[i].machine);
                        json_auto_t *c = NULL;
                        _cleanup_free_ char *text = NULL, *err = NULL;

                        o.role = role;
                        o.fleet_ca_pem = fleet_ca;
                        o.sponsor_url = "https://192.0.2.11:7443";
                        o.volume_exists = role == IGNITION_ROLE_WORKER;
                        c = render_ok(s, &o);
                        assert_int_equal(ignition_lint(c, &err), 0);
                        assert_int_equal(ignition_scan_secrets(c, &err), 0);
                        text = json_dumps(c, JSON_COMPACT);
                        assert_null(strstr(text, "\"inline\""));
                        for (const char *at = strchr(text, '@'); at; at = strchr(at + 1, '@'))
                                if (at[1] >= 'A' && at[1] <= 'Z')
                                        fail_msg("%s/%s: unexpanded placeholder near %.20s", specs[i].file,
                                                 ignition_role_to_string(role), at);
                }
}

/* ---- lint ------------------------------------------------------------------ */

static int lint(const char *config_text, char **err) {
        json_auto_t *c = json_loads(config_text, 0, NULL);

        assert_non_null(c);
        return ignition_lint(c, err);
}

static void test_ignition_lint_clevis_threshold(void **state) {
        static const struct {
                const char *clevis;
                int want;
                const char *message;
        } cases[] = {
                { "{\"tang\":[{\"url\":\"http://t\",\"thumbprint\":\"x\"}],\"tpm2\":true,\"threshold\":2}", 0, NULL },
                { "{\"tang\":[{\"url\":\"http://t\",\"thumbprint\":\"x\"}],\"tpm2\":true,\"threshold\":3}", -EINVAL,
                  "$.storage.luks[0].clevis.threshold: 3 exceeds the 2 key sources (tang servers + tpm2)" },
                { "{\"tang\":[{\"url\":\"http://t\",\"thumbprint\":\"x\"}],\"threshold\":2}", -EINVAL,
                  "$.storage.luks[0].clevis.threshold: 2 exceeds the 1 key source (tang servers + tpm2)" },
                { "{\"tpm2\":true,\"threshold\":0}", -EINVAL, "$.storage.luks[0].clevis.threshold: must be a number from 1" },
                /* Ignition's default threshold is 1: still needs a source */
                { "{\"tpm2\":false}", -EINVAL, "$.storage.luks[0].clevis.threshold: 1 exceeds the 0 key sources" },
                { "{\"tang\":[{\"url\":\"http://t\"}],\"threshold\":1}", -EINVAL,
                  "$.storage.luks[0].clevis.tang[0]: no thumbprint" },
                /* a custom pin: its clevis config is counted the same way */
                { "{\"custom\":{\"pin\":\"sss\",\"needsNetwork\":true,\"config\":"
                  "\"{\\\"t\\\":2,\\\"pins\\\":{\\\"tang\\\":[{\\\"url\\\":\\\"http://t\\\",\\\"thp\\\":\\\"x\\\"}],"
                  "\\\"tpm2\\\":{\\\"pcr_ids\\\":\\\"7\\\",\\\"pcr_bank\\\":\\\"sha256\\\"}}}\"}}", 0, NULL },
                { "{\"custom\":{\"pin\":\"sss\",\"config\":\"{\\\"t\\\":1,\\\"pins\\\":{\\\"tpm2\\\":[{},{}]}}\"}}", 0, NULL },
                { "{\"custom\":{\"pin\":\"sss\",\"needsNetwork\":true,\"config\":"
                  "\"{\\\"t\\\":3,\\\"pins\\\":{\\\"tang\\\":[{\\\"url\\\":\\\"http://t\\\",\\\"thp\\\":\\\"x\\\"}],"
                  "\\\"tpm2\\\":{}}}\"}}", -EINVAL,
                  "$.storage.luks[0].clevis.custom.config: threshold \"t\" must be from 1 to its 2 key sources" },
                { "{\"custom\":{\"pin\":\"sss\",\"config\":\"{\\\"t\\\":1,\\\"pins\\\":{\\\"tang\\\":[{\\\"url\\\":\\\"http://t\\\",\\\"thp\\\":\\\"x\\\"}]}}\"}}",
                  -EINVAL, "$.storage.luks[0].clevis.custom.needsNetwork: must be true with a tang server" },
                { "{\"custom\":{\"pin\":\"sss\",\"needsNetwork\":true,\"config\":\"{\\\"t\\\":1,\\\"pins\\\":{\\\"tang\\\":[{\\\"url\\\":\\\"http://t\\\"}]}}\"}}",
                  -EINVAL, "$.storage.luks[0].clevis.custom.config: a tang server without \"thp\"" },
                { "{\"custom\":{\"pin\":\"sss\",\"config\":\"{\\\"t\\\":1,\\\"pins\\\":{\\\"null\\\":[{}]}}\"}}", -EINVAL,
                  "$.storage.luks[0].clevis.custom.config: a pin other than tang and tpm2" },
                { "{\"custom\":{\"pin\":\"sss\",\"config\":\"not json\"}}", -EINVAL,
                  "$.storage.luks[0].clevis.custom.config: not a JSON object" },
                { "{\"custom\":{\"pin\":\"null\",\"config\":\"{}\"}}", -EINVAL,
                  "$.storage.luks[0].clevis.custom.pin: expected sss, tang or tpm2" },
                { "{\"custom\":{\"pin\":\"tang\",\"needsNetwork\":true,\"config\":\"{\\\"url\\\":\\\"http://t\\\"}\"}}",
                  -EINVAL, "$.storage.luks[0].clevis.custom.config: a tang server without \"thp\"" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL, *err = NULL;

                assert_true(asprintf(&text, "{\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":%s}]}}",
                                     cases[i].clevis) > 0);
                assert_int_equal(lint(text, &err), cases[i].want);
                if (cases[i].message && (!err || !strstr(err, cases[i].message)))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err ? err : "(none)", cases[i].message);
        }
}

/* Strata never asks Ignition to destroy data: a re-provisioned or
 * re-booted machine keeps its volume. */
static void test_ignition_lint_no_wipe(void **state) {
        static const struct {
                const char *config, *message;
        } cases[] = {
                { "{\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"wipeVolume\":true}]}}",
                  "$.storage.luks[0].wipeVolume: Strata never lets Ignition wipe a volume" },
                { "{\"storage\":{\"filesystems\":[{\"device\":\"/dev/vdb\",\"format\":\"ext4\",\"wipeFilesystem\":true}]}}",
                  "$.storage.filesystems[0].wipeFilesystem: Strata never lets Ignition wipe a filesystem" },
        };
        _cleanup_free_ char *err = NULL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(lint(cases[i].config, &err), -EINVAL);
                assert_string_equal(err, cases[i].message);
        }
        assert_int_equal(lint("{\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"wipeVolume\":false}],"
                              "\"filesystems\":[{\"device\":\"/dev/vdb\",\"wipeFilesystem\":false}]}}",
                              &err),
                         0);
}

static void test_ignition_lint_sysext(void **state) {
        static const struct {
                const char *storage;
                int want;
                const char *message;
        } cases[] = {
                { "\"links\":[{\"path\":\"/etc/extensions/strata-agent.raw\",\"target\":\"/opt/extensions/strata/" SYSEXT "\"}]",
                  0, NULL },
                /* systemd-sysext would look for extension-release.strata */
                { "\"links\":[{\"path\":\"/etc/extensions/strata.raw\",\"target\":\"/opt/extensions/strata/" SYSEXT "\"}]",
                  -EINVAL, "$.storage.links[0].path" },
                { "\"links\":[{\"path\":\"/etc/extensions/strata-agent.raw\",\"target\":\"/opt/extensions/strata/strata-agent.raw\"}]",
                  -EINVAL, "$.storage.links[0].target" },
                /* other extensions are not Strata's business */
                { "\"links\":[{\"path\":\"/etc/extensions/docker-flatcar.raw\",\"target\":\"/usr/share/flatcar/sysext/docker.raw\"}]",
                  0, NULL },
                { "\"files\":[{\"path\":\"/opt/extensions/strata/" SYSEXT "\",\"contents\":{\"source\":\"http://x/y\"}}]",
                  -EINVAL, "$.storage.files[0].contents.verification.hash" },
                { "\"files\":[{\"path\":\"/opt/extensions/strata/" SYSEXT "\",\"contents\":{\"source\":\"http://x/y\","
                  "\"verification\":{\"hash\":\"sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}}]",
                  -EINVAL, "$.storage.files[0].contents.verification.hash" },
                { "\"files\":[{\"path\":\"/opt/extensions/strata/" SYSEXT "\",\"contents\":{\"source\":\"http://x/y\","
                  "\"verification\":{\"hash\":\"sha512-" SHA512 "\"}}}]",
                  0, NULL },
                { "\"files\":[{\"path\":\"/opt/extensions/strata/agent.raw\"}]", -EINVAL, "$.storage.files[0].path" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL, *err = NULL;

                assert_true(asprintf(&text, "{\"storage\":{%s}}", cases[i].storage) > 0);
                assert_int_equal(lint(text, &err), cases[i].want);
                if (cases[i].message && (!err || !strstr(err, cases[i].message)))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err ? err : "(none)", cases[i].message);
        }
}

static void test_ignition_sysext_name_is_valid(void **state) {
        (void) state;
        assert_true(ignition_sysext_name_is_valid(SYSEXT));
        assert_true(ignition_sysext_name_is_valid("strata-agent-1.2.3-rc1+g0abc-arm64.raw"));
        assert_false(ignition_sysext_name_is_valid("strata-agent--x86-64.raw"));
        assert_false(ignition_sysext_name_is_valid("strata-agent-x86-64.raw"));
        assert_false(ignition_sysext_name_is_valid("strata-agent-0.1.0-x86-64.img"));
        assert_false(ignition_sysext_name_is_valid("../strata-agent-0.1.0-x86-64.raw"));
        assert_false(ignition_sysext_name_is_valid(NULL));
}

/* ---- secret scan ----------------------------------------------------------- */

/* Each value placed at $.a[0].b of a config; want: the shape named, or NULL. */
static const struct {
        const char *value;
        const char *what;
} scan_vectors[] = {
        { "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n", "a PEM private key" },
        { "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", "a PEM private key" },
        { "-----BEGIN PGP PRIVATE KEY BLOCK-----\n", "a PEM private key" },
        { "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", "a PEM private key" },
        { "Authorization: Bearer " FAKE_JWT, "a JWT-like token" },
        { "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..c2FsdA.Y2lwaGVy.dGFn", "a JWT-like token" },
        { "KUBE_TOKEN=abcdef.0123456789abcdef\n", "a Kubernetes bootstrap token" },
        { "H4sIAAAAAAAA/6xWW2/bNhR+z68w8jxoSU7SNoNhwEnRbMWGoMi2AsMwQIwmWqGlJHpykYzr3", "a k0s or k3s join token" },
        { "K10" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "::server:s3cr3t", "a k0s or k3s join token" },
        { "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "an AWS access key ID" },
        { "ghp_0123456789abcdefghijABCDEFGHIJklmnop", "a GitHub or Slack token" },
        { "xoxb-123456789012-abcdefghij", "a GitHub or Slack token" },
        { "https://admin:pa55@192.0.2.1/redfish/v1", "a URL with a password" },
        /* 66 random bytes, base64 (88 characters, 48 distinct) */
        { "WeKRlldK6WwxmJUTRz4JLAWYNWGs+XF4SQqTya2MAyvpBVA7InWYou3/2X9lGF0YqdXKzwKaH+JyLzrXBEE+aWOW",
          "a long random base64 string (key-like)" },
        { "data:;base64,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "binary data in a data: URL" },
        { "data:,%2D%2D%2D%2D%2DBEGIN%20RSA%20PRIVATE%20KEY%2D%2D%2D%2D%2D", "a PEM private key" },
        { "data:;base64,LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==", "a PEM private key" },
        { "data:,%ZZ", "a data: URL that does not decode" },
        /* not secrets */
        { "-----BEGIN CERTIFICATE-----\nMIIBlTCCATugAwIBAgIU\n-----END CERTIFICATE-----\n", NULL },
        { "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n", NULL },
        { "sha512-" SHA512, NULL },
        { "qAfHp2symCDqKjkIwcFXmyNwejyqG88EF0TO4flo0j0", NULL },
        { "http://192.0.2.10:7500", NULL },
        { "Requires=" UNSEAL_UNIT "\n", NULL },
        { "abcdef.ghijklmnopqrstuv", NULL },
        { "r1-ctl1.rack-a.example", NULL },
        { "data:,STRATA_ROLE%3Dworker%0A", NULL },
        { "/var/mnt/strata/state", NULL },
};

static void test_ignition_scan_secrets_shapes(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(scan_vectors); i++) {
                json_auto_t *c = json_pack("{s:[{s:s}]}", "a", "b", scan_vectors[i].value);
                _cleanup_free_ char *err = NULL, *want = NULL;
                int r;

                assert_non_null(c);
                r = ignition_scan_secrets(c, &err);
                if (!scan_vectors[i].what) {
                        if (r != 0)
                                fail_msg("vector %zu flagged: %s", i, err ? err : "");
                        continue;
                }
                assert_true(asprintf(&want, "$.a[0].b: %s", scan_vectors[i].what) > 0);
                if (r != -EPERM || !err || strncmp(err, want, strlen(want)) != 0)
                        fail_msg("vector %zu: %d \"%s\", want \"%s\"", i, r, err ? err : "", want);
        }
}

static void test_ignition_scan_secrets_names(void **state) {
        json_auto_t *c = json_pack("{s:{s:[{s:s,s:s}]}}", "passwd", "users", "name", "core", "passwordHash", "$6$x");
        json_auto_t *inside = NULL;
        _cleanup_free_ char *err = NULL, *url = NULL;
        static const char spec_like[] = "{\"inventory\":[{\"bmc\":{\"apiToken\":\"x\"}}]}";

        (void) state;
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_string_equal(err, "$.passwd.users[0].passwordHash (core): a property named like a secret");

        /* in JSON inside a data: URL too */
        assert_int_equal(data_url_encode(spec_like, strlen(spec_like), &url), 0);
        inside = json_pack("{s:{s:[{s:s,s:{s:s}}]}}", "storage", "files", "path", "/etc/x.json", "contents", "source", url);
        assert_int_equal(ignition_scan_secrets(inside, &err), -EPERM);
        assert_string_equal(err, "$.storage.files[0].contents.source (/etc/x.json): a property named like a secret, "
                                 "inside its data: URL at $.inventory[0].bmc.apiToken");
}

/* A tang advertisement as tangd makes one: an ES512 signing key and an
 * ECMR exchange key, public halves in the payload, signed by the first.
 * `leak` puts the exchange key's private half in the payload instead. */
static json_t *make_adv(bool leak) {
        json_auto_t *sig = json_pack("{s:s, s:[s,s]}", "alg", "ES512", "key_ops", "sign", "verify");
        json_auto_t *exc = json_pack("{s:s, s:[s]}", "alg", "ECMR", "key_ops", "deriveKey");
        json_auto_t *payload = NULL;
        json_t *sig_pub, *exc_pub, *jws;

        assert_true(jose_jwk_gen(NULL, sig) && jose_jwk_gen(NULL, exc));
        sig_pub = json_deep_copy(sig);
        exc_pub = json_deep_copy(exc);
        assert_true(jose_jwk_pub(NULL, sig_pub) && jose_jwk_pub(NULL, exc_pub));
        json_object_set_new(sig_pub, "key_ops", json_pack("[s]", "verify"));
        if (leak) {
                json_decref(exc_pub);
                exc_pub = json_incref(exc);
        }
        payload = json_pack("{s:[o,o]}", "keys", sig_pub, exc_pub);
        jws = json_pack("{s:o}", "payload", jose_b64_enc_dump(payload));
        assert_non_null(jws);
        assert_true(jose_jws_sig(NULL, jws, NULL, sig));
        return jws;
}

/* An advertisement is public: keys and signatures that look random are
 * let through when the payload holds public keys only and the signature
 * verifies; its headers are still scanned, as is anything else beside it.
 * JSON inside a string (a custom clevis pin's config) is scanned as JSON. */
static void test_ignition_scan_secrets_public_advertisement(void **state) {
        json_auto_t *adv = make_adv(false), *leaky = make_adv(true), *c = NULL, *cfg = NULL;
        _cleanup_free_ char *err = NULL, *text = NULL;

        (void) state;
        c = json_pack("{s:{s:O}}", "tang", "adv", adv);
        assert_int_equal(ignition_scan_secrets(c, &err), 0);
        json_decref(c);

        /* in a custom pin's config: a JSON text in a string */
        cfg = json_pack("{s:i, s:{s:[{s:s, s:O}]}}", "t", 1, "pins", "tang", "url", "http://t", "adv", adv);
        text = json_dumps(cfg, JSON_COMPACT);
        c = json_pack("{s:{s:s}}", "custom", "config", text);
        assert_int_equal(ignition_scan_secrets(c, &err), 0);
        json_decref(c);

        /* a private key in the payload: scanned like any other string */
        c = json_pack("{s:{s:O}}", "tang", "adv", leaky);
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_non_null(strstr(err, "$.tang.adv.payload: a long random base64 string"));
        free(err);
        err = NULL;
        json_decref(c);

        /* an unprotected header is free text: scanned */
        json_object_set_new(adv, "header", json_pack("{s:s}", "note", FAKE_JWT));
        c = json_pack("{s:{s:O}}", "tang", "adv", adv);
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_string_equal(err, "$.tang.adv.header.note: a JWT-like token (JWS/JWE compact serialisation)");
        free(err);
        err = NULL;
        json_decref(c);
        json_object_del(adv, "header");

        /* a member a JWS does not have makes it an ordinary object */
        json_object_set_new(adv, "extra", json_string("x"));
        c = json_pack("{s:{s:O}}", "tang", "adv", adv);
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        json_decref(c);
        free(err);
        err = NULL;
        json_object_del(adv, "extra");

        /* a key-like property name is found too */
        c = json_pack("{s:{s:s}}", "custom", "config", "{\"" FAKE_JWT "\":1}");
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_string_equal(err, "$.custom.config: a JWT-like token (JWS/JWE compact serialisation), inside its JSON "
                                 "text at $");
        free(err);
        err = NULL;
        json_decref(c);

        /* a secret in JSON text inside a string is found, and named there */
        c = json_pack("{s:{s:s}}", "custom", "config", "{\"t\":1,\"token\":\"x\"}");
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_string_equal(err, "$.custom.config: a property named like a secret, inside its JSON text at $.token");
        json_decref(c);
        c = NULL;
}

/* The entry named in a message (a file's path, a unit's name) is left out
 * when it is itself the secret. */
static void test_ignition_scan_secrets_never_quotes(void **state) {
        json_auto_t *c = json_pack("{s:{s:[{s:s,s:b}]}}", "systemd", "units", "name", FAKE_JWT, "enabled", 1);
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(ignition_scan_secrets(c, &err), -EPERM);
        assert_string_equal(err, "$.systemd.units[0].name: a JWT-like token (JWS/JWE compact serialisation)");
}

/* ---- helpers: data: URLs, unit names, templates ------------------------------- */

static void test_data_url_round_trip(void **state) {
        static const char text[] = "[Unit]\nRequires=a@b.service\n100% ~ok_\xc3\xa4\n";
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ uint8_t *back = NULL;
        size_t size = 0;

        (void) state;
        assert_int_equal(data_url_encode(text, strlen(text), &url), 0);
        assert_string_equal(url, "data:,%5BUnit%5D%0ARequires%3Da%40b.service%0A100%25%20~ok_%C3%A4%0A");
        assert_int_equal(data_url_decode(url, strlen(url), &back, &size), 0);
        assert_int_equal(size, strlen(text));
        assert_memory_equal(back, text, size);
}

static void test_data_url_decode(void **state) {
        static const struct {
                const char *url;
                int want;
                const char *text;
        } cases[] = {
                { "data:;base64,aGVsbG8=", 0, "hello" },
                { "data:text/plain;charset=utf-8;base64,aGVsbG8", 0, "hello" },
                { "DATA:,a%2Cb", 0, "a,b" },
                { "data:,", 0, "" },
                { "data:;base64,aGVsbG8%3D", 0, "hello" },
                { "data:;base64,-_8", 0, "\xfb\xff" },
                { "data:text/plain", -EINVAL, NULL },
                { "data:,%4", -EINVAL, NULL },
                { "data:,%g0", -EINVAL, NULL },
                { "data:;base64,aGVsbG8=x", -EINVAL, NULL },
                { "data:;base64,a", -EINVAL, NULL },
                { "data:;base64,a$==", -EINVAL, NULL },
                { "http://x", -EINVAL, NULL },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ uint8_t *out = NULL;
                size_t size = 0;
                int r = data_url_decode(cases[i].url, strlen(cases[i].url), &out, &size);

                if (r != cases[i].want)
                        fail_msg("case %zu (%s): %d", i, cases[i].url, r);
                if (cases[i].text) {
                        assert_int_equal(size, strlen(cases[i].text));
                        assert_memory_equal(out, cases[i].text, size);
                }
        }
}

/* Expected values from systemd-escape (systemd 252). */
static void test_unit_name_escape(void **state) {
        static const struct {
                const char *in, *out;
                bool path;
        } cases[] = {
                { "/dev/disk/by-partlabel/strata-data", "dev-disk-by\\x2dpartlabel-strata\\x2ddata", true },
                { "/var/mnt/strata", "var-mnt-strata", true },
                { "//a/./b/", "a-b", true },
                { "/", "-", true },
                { "/.hidden", "\\x2ehidden", true },
                { "strata-data", "strata\\x2ddata", false },
                { ".foo/bar b\xc3\xa4", "\\x2efoo-bar\\x20b\\xc3\\xa4", false },
                { "a:b_c.d", "a:b_c.d", false },
        };
        static const char *const refused_paths[] = { "relative", "/a/../b", "" };
        char *out = NULL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = cases[i].path ? unit_name_path_escape(cases[i].in, &out) : unit_name_escape(cases[i].in, &out);
                assert_int_equal(r, 0);
                assert_string_equal(out, cases[i].out);
                free(out);
        }
        for (size_t i = 0; i < ELEMENTSOF(refused_paths); i++)
                assert_int_equal(unit_name_path_escape(refused_paths[i], &out), -EINVAL);
        assert_int_equal(unit_name_escape("", &out), -EINVAL);
}

/* Every placeholder any template uses, so each expands completely. */
static void test_template_every_template_expands(void **state) {
        json_auto_t *store = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:b},"
                                       "s:s,s:s,s:s,s:s,s:s,s:s}",
                                       "IGNITION_VERSION", "3.3.0", "MACHINE", "m", "ROLE", "worker", "FLEET", "f",
                                       "SPEC_JSON", "{}", "SYSEXT_NAME", SYSEXT, "SYSEXT_SOURCE", SOURCE,
                                       "SYSEXT_SHA512", SHA512, "FLEET_CA_PEM", fleet_ca, "VOLUME_NAME", "v",
                                       "VOLUME_DEVICE", "/dev/vdb", "UNSEAL_UNIT", "strata-unseal@dev-vdb.service",
                                       "CRYPTSETUP_UNIT", "systemd-cryptsetup@v.service", "SPONSOR_URL",
                                       "https://192.0.2.11:7443", "CLEVIS", "tpm2", 1, "BOOT_BASE_URL",
                                       "http://192.0.2.11:8080/boot/52-54-00-0a-00-02", "BOOT_KERNEL", "k", "BOOT_INITRD",
                                       "i", "BOOT_KERNEL_SHA512", SHA512, "BOOT_INITRD_SHA512", SHA512, "VOLUME_IF_BLANK", "create");
        TemplateVar vars[32];
        size_t n = 0;
        const char *key;
        json_t *value;
        char *text = NULL;

        (void) state;
        assert_non_null(store);
        json_object_foreach(store, key, value)
                vars[n++] = (TemplateVar) { .name = key, .value = value };
        for (IgnitionTemplate t = 0; t < _IGNITION_TEMPLATE_MAX; t++) {
                json_auto_t *doc = NULL;
                _cleanup_free_ char *err = NULL;
                int r = template_expand(t, vars, n, &doc, &err);

                if (r < 0)
                        fail_msg("%s: %d %s", template_file(t), r, err ? err : "");
                assert_true(json_is_object(doc));
                /* comments never leave */
                text = json_dumps(doc, JSON_COMPACT);
                assert_null(strstr(text, "\"//\""));
                text = mfree_str(text);
        }
}

/* The text substitution the iPXE script shares with the templates. */
static void test_template_text_expand(void **state) {
        json_auto_t *a = json_string("x@B@y"), *b = json_string("2"), *n = json_integer(3);
        TemplateVar vars[] = { { "A", a }, { "B", b }, { "N", n } };
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t len = 0;

        (void) state;
        /* one pass: A's "@B@" stays; a lone '@' or "@lower@" is text */
        static const char text[] = "@A@-@B@ a@b.c @x@ strata-unseal@.service @@";

        assert_int_equal(template_text_expand("f", NULL, text, strlen(text), vars, 3, &out, &len, &err), 0);
        assert_string_equal(out, "x@B@y-2 a@b.c @x@ strata-unseal@.service @@");
        assert_int_equal(len, strlen(out));
        out = mfree_str(out);
        assert_int_equal(template_text_expand("f", NULL, "a @C@", 5, vars, 3, &out, NULL, &err), -EINVAL);
        assert_string_equal(err, "f: unknown placeholder @C@");
        assert_null(out);
        assert_int_equal(template_text_expand("f", "$.x", "@N@!", 4, vars, 3, &out, NULL, &err), -EINVAL);
        assert_string_equal(err, "f: $.x: @N@ is not text and cannot be part of a string");
}

static void test_template_expand_missing_placeholder(void **state) {
        json_auto_t *doc = NULL;
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(template_expand(IGNITION_TEMPLATE_BASE, NULL, 0, &doc, &err), -EINVAL);
        assert_string_equal(err, "ignition/base.json: $.ignition.version: unknown placeholder @IGNITION_VERSION@");
        assert_null(doc);
}

static void test_template_merge(void **state) {
        json_auto_t *dst = json_loads("{\"storage\":{\"files\":[{\"path\":\"/a\",\"mode\":420}]},"
                                      "\"systemd\":{\"units\":[{\"name\":\"x.service\",\"enabled\":true}]}}",
                                      0, NULL);
        json_auto_t *add = json_loads("{\"storage\":{\"files\":[{\"path\":\"/b\"}]},\"systemd\":{\"units\":"
                                      "[{\"name\":\"x.service\",\"dropins\":[{\"name\":\"a.conf\",\"contents\":\"\"}]}]}}",
                                      0, NULL);
        json_auto_t *clash = json_loads("{\"storage\":{\"files\":[{\"path\":\"/a\",\"mode\":384}]}}", 0, NULL);
        json_auto_t *want = json_loads("{\"storage\":{\"files\":[{\"path\":\"/a\",\"mode\":420},{\"path\":\"/b\"}]},"
                                       "\"systemd\":{\"units\":[{\"name\":\"x.service\",\"enabled\":true,"
                                       "\"dropins\":[{\"name\":\"a.conf\",\"contents\":\"\"}]}]}}",
                                       0, NULL);
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(template_merge(dst, add, IGNITION_TEMPLATE_PODS, &err), 0);
        assert_true(json_equal(dst, want));
        assert_int_equal(template_merge(dst, clash, IGNITION_TEMPLATE_PODS, &err), -EINVAL);
        assert_string_equal(err, "ignition/pods.json: $.storage.files[0].mode: contradicts what an earlier template set there");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ignition_render_controller),
                cmocka_unit_test(test_ignition_render_roles),
                cmocka_unit_test(test_ignition_role_names),
                cmocka_unit_test(test_ignition_render_sysext_on_disk),
                cmocka_unit_test(test_ignition_render_spec_version),
                cmocka_unit_test(test_ignition_render_data_volume),
                cmocka_unit_test(test_ignition_render_data_volume_without_tpm2),
                cmocka_unit_test(test_ignition_render_data_volume_tpm2_without_pcrs),
                cmocka_unit_test(test_ignition_render_volume_exists),
                cmocka_unit_test(test_ignition_render_sponsor),
                cmocka_unit_test(test_ignition_render_full_spec),
                cmocka_unit_test(test_ignition_render_tang_without_thumbprint),
                cmocka_unit_test(test_ignition_render_unknown_machine),
                cmocka_unit_test(test_ignition_render_bad_options),
                cmocka_unit_test(test_ignition_render_fleet_ca),
                cmocka_unit_test(test_ignition_render_refuses_fleet_ca_with_key),
                cmocka_unit_test(test_ignition_render_withholds_bmc_fields),
                cmocka_unit_test(test_ignition_public_spec),
                cmocka_unit_test(test_ignition_sponsor_url),
                cmocka_unit_test(test_ignition_render_refuses_url_with_password),
                cmocka_unit_test(test_ignition_render_every_example_is_clean),
                cmocka_unit_test(test_ignition_lint_clevis_threshold),
                cmocka_unit_test(test_ignition_lint_no_wipe),
                cmocka_unit_test(test_ignition_lint_sysext),
                cmocka_unit_test(test_ignition_sysext_name_is_valid),
                cmocka_unit_test(test_ignition_scan_secrets_shapes),
                cmocka_unit_test(test_ignition_scan_secrets_names),
                cmocka_unit_test(test_ignition_scan_secrets_public_advertisement),
                cmocka_unit_test(test_ignition_scan_secrets_never_quotes),
                cmocka_unit_test(test_data_url_round_trip),
                cmocka_unit_test(test_data_url_decode),
                cmocka_unit_test(test_unit_name_escape),
                cmocka_unit_test(test_template_every_template_expands),
                cmocka_unit_test(test_template_expand_missing_placeholder),
                cmocka_unit_test(test_template_text_expand),
                cmocka_unit_test(test_template_merge),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
