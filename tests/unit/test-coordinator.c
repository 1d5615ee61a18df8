/* Tests for agent/swarm/coordinator.c, against its header's contract: the
 * seed and the inventory, lease grants (cap, networks, BMC spreading,
 * tokens, generations), fencing, progress reports, retries and back-off,
 * release, heartbeats, expiry and deadlines, admission, the journal form
 * (including the crash-restart guarantee that a power cycle is fenced once
 * per lease), status, exclusion, the audit queue, and a small simulation of
 * a fleet growing by fan-out. Specs are built in-process (a lab where one
 * BMC emulator serves several machines); times are fixed. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <cmocka.h>

#include "core/cleanup.h"
#include "core/spec.h"
#include "core/strutil.h"
#include "swarm/coordinator.h"

#define SEC 1000000ull
#define T0 (1000u * SEC) /* an arbitrary start, so that 0 stands out */

/* Everything but inventory and provisioning. */
static const char spec_base[] =
        "{ \"version\": 1, \"fleet\": { \"name\": \"lab\" },"
        "  \"networks\": ["
        "    { \"name\": \"east\", \"cidr\": \"192.0.2.0/24\", \"boot\": { \"enabled\": true } },"
        "    { \"name\": \"west\", \"cidr\": \"198.51.100.0/24\", \"boot\": { \"enabled\": true } } ],"
        "  \"tang\": [ { \"url\": \"http://192.0.2.10:7500\" } ],"
        "  \"unseal\": { \"threshold\": 1, \"tpm2\": { \"enabled\": true, \"pcr_bank\": \"sha256\","
        "                \"pcr_ids\": [7], \"key\": \"ecc\" } },"
        "  \"attestation\": { \"pcr_bank\": \"sha256\", \"pcr_ids\": [0, 4, 7],"
        "                     \"policy_key\": \"/etc/strata/policy.pub.pem\","
        "                     \"ek_ca_bundle\": \"/etc/strata/ek-ca-bundle.pem\" },"
        "  \"quorum\": { \"size\": 1 },"
        "  \"k0s\": { \"version\": \"v1.30.1+k0s.0\" },"
        "  \"capi\": { \"core_version\": \"v1.10.7\", \"bootstrap_version\": \"v1.10.0\","
        "            \"control_plane_version\": \"v1.10.0\", \"infrastructure_version\": \"v1.10.0\" } }";

typedef struct MachineDef {
        const char *name, *role, *network, *bmc;
} MachineDef;

/* The lab: the seed; m1-m4 on east behind one emulator; m5 and m6 on west
 * with BMCs of their own; m7 and m8 on west behind a second emulator. */
#define EMU_EAST "https://192.0.2.200:8000"
#define EMU_WEST "https://198.51.100.200:8000"
static const MachineDef lab[] = {
        { "seed", "seed", "east", "https://192.0.2.100" },
        { "m1", "controller", "east", EMU_EAST },
        { "m2", "worker", "east", EMU_EAST },
        { "m3", "worker", "east", EMU_EAST },
        { "m4", "worker", "east", EMU_EAST },
        { "m5", "worker", "west", "https://198.51.100.105" },
        { "m6", "worker", "west", "https://198.51.100.106" },
        { "m7", "worker", "west", EMU_WEST },
        { "m8", "worker", "west", EMU_WEST },
};
#define LAB_N (sizeof(lab) / sizeof(lab[0]))

typedef struct Prov {
        int fanout, retries, lease_seconds, deadline_seconds;
} Prov;

static const Prov prov_default = { .fanout = 2, .retries = 3, .lease_seconds = 300, .deadline_seconds = 1800 };
/* four at once: one grant per BMC endpoint of the lab before a second */
static const Prov prov_fanout4 = { .fanout = 4, .retries = 3, .lease_seconds = 300, .deadline_seconds = 1800 };

static json_t *machine_json(const MachineDef *d, size_t index) {
        char mac[18];
        json_t *j;

        snprintf(mac, sizeof(mac), "52:54:00:%02x:%02x:%02x", (unsigned) (index >> 16) & 0xff,
                 (unsigned) (index >> 8) & 0xff, (unsigned) index & 0xff);
        j = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:{s:s}, s:{s:s}, s:s}}", "name", d->name, "role", d->role,
                      "network", d->network, "macs", mac, "bmc", "endpoint", d->bmc, "credential", "file",
                      "/etc/strata/credentials/bmc", "tls", "mode", "system", "system_id", d->name);
        assert_non_null(j);
        return j;
}

/* A spec of `defs` with `prov` (NULL: no provisioning section, which the
 * schema refuses, so the caller gets the error count back in *ret_errors). */
static json_t *spec_doc(const MachineDef *defs, size_t n, const Prov *prov) {
        json_t *root = json_loads(spec_base, 0, NULL), *inv = json_array();

        assert_non_null(root);
        assert_non_null(inv);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(json_array_append_new(inv, machine_json(&defs[i], i + 1)), 0);
        assert_int_equal(json_object_set_new(root, "inventory", inv), 0);
        if (prov)
                assert_int_equal(json_object_set_new(root, "provisioning",
                                                     json_pack("{s:i, s:i, s:i, s:i}", "fanout", prov->fanout,
                                                               "retries", prov->retries, "lease_seconds",
                                                               prov->lease_seconds, "deadline_seconds",
                                                               prov->deadline_seconds)),
                                 0);
        return root;
}

static int spec_try(const json_t *doc, Spec **ret) {
        _cleanup_free_ char *text = json_dumps(doc, 0);
        SpecErrors e = {};
        int r;

        assert_non_null(text);
        r = spec_parse(text, strlen(text), "test", ret, &e);
        spec_errors_clear(&e);
        return r;
}

static Spec *spec_make(const MachineDef *defs, size_t n, const Prov *prov) {
        json_auto_t *doc = spec_doc(defs, n, prov);
        _cleanup_free_ char *text = json_dumps(doc, 0);
        SpecErrors e = {};
        Spec *s = NULL;

        assert_non_null(text);
        if (spec_parse(text, strlen(text), "test", &s, &e) < 0) {
                spec_errors_print(stderr, "test", &e);
                spec_errors_clear(&e);
                fail();
        }
        return s;
}

static Coordinator *coord_make(const Spec *s) {
        _cleanup_free_ char *err = NULL;
        Coordinator *c = NULL;

        assert_int_equal(coordinator_new(s, "seed", &c, &err), 0);
        assert_non_null(c);
        assert_null(err);
        return c;
}

/* A lab coordinator with its spec (freed together through Fixture). */
typedef struct Fixture {
        Spec *spec;
        Coordinator *c;
} Fixture;

static Fixture fixture_make(const Prov *prov) {
        Fixture f = { .spec = spec_make(lab, LAB_N, prov) };

        f.c = coord_make(f.spec);
        return f;
}

static void fixture_done(Fixture *f) {
        coordinator_free(f->c);
        spec_free(f->spec);
}
#define _cleanup_fixture_ _cleanup_(fixture_done)

static CoordMachine *M(Coordinator *c, const char *name) {
        CoordMachine *m = coordinator_find(c, name);

        if (!m)
                fail_msg("no machine %s", name);
        return m;
}

/* Grants exactly one lease to `member` and returns it. */
static CoordGrant grant1(Coordinator *c, const char *member, const char *const *networks, size_t n_networks,
                         uint64_t now) {
        CoordGrant g[1] = {};

        assert_int_equal(coordinator_acquire(c, member, 1, networks, n_networks, now, g), 1);
        return g[0];
}

/* An admission in the boot of the machine's current lease. The tests using
 * it are about what an admission does, not which boot it came from
 * (test_coordinator_admitted_stale_* are): a lease whose power cycle is not
 * part of the test counts as cycled at its grant. */
static int admit(Coordinator *c, const char *machine, uint64_t now) {
        CoordMachine *m = coordinator_find(c, machine);

        if (m && m->lease.holder && !m->lease.cycled) {
                m->lease.cycled = true;
                m->lease.cycled_at = m->lease.granted;
        }
        return coordinator_admitted(c, machine, now, now);
}

/* The audit queue's event kinds, comma-separated ("kind:detail" where a
 * detail exists and `details`), and the queue drained as the service does. */
static char *audit_take(Coordinator *c, bool details) {
        char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);
        const json_t *e;
        size_t i;

        assert_non_null(f);
        json_array_foreach(c->audit, i, e) {
                const char *d = json_string_value(json_object_get(e, "detail"));

                fprintf(f, "%s%s", i ? "," : "", json_string_value(json_object_get(e, "event")));
                if (details && d)
                        fprintf(f, ":%s", d);
        }
        fclose(f);
        assert_int_equal(json_array_clear(c->audit), 0);
        return s;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!haystack || !strstr(haystack, needle))
                fail_msg("\"%s\" does not contain \"%s\"", haystack ? haystack : "(null)", needle);
}

/* ---- names ---- */

static void test_coord_state_names(void **state) {
        (void) state;
        for (int s = 0; s < _COORD_STATE_MAX; s++) {
                assert_non_null(coord_state_to_string(s));
                assert_int_equal(coord_state_from_string(coord_state_to_string(s)), s);
        }
        assert_string_equal(coord_state_to_string(COORD_ATTESTING), "attesting");
        assert_null(coord_state_to_string(_COORD_STATE_MAX));
        assert_null(coord_state_to_string(-1));
        assert_int_equal(coord_state_from_string("nope"), _COORD_STATE_INVALID);
        assert_int_equal(coord_state_from_string(NULL), _COORD_STATE_INVALID);

        for (int a = 0; a < _COORD_ACTION_MAX; a++)
                assert_int_equal(coord_action_from_string(coord_action_to_string(a)), a);
        assert_string_equal(coord_action_to_string(COORD_ACTION_POWER_CYCLE), "power-cycle");
        assert_null(coord_action_to_string(_COORD_ACTION_MAX));
        assert_int_equal(coord_action_from_string("reboot"), _COORD_ACTION_INVALID);
        assert_int_equal(coord_action_from_string(NULL), _COORD_ACTION_INVALID);
}

/* ---- new ---- */

static void test_coordinator_new_seed_is_member(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordMember *mb;

        (void) state;
        assert_int_equal(c->cfg.fanout, 2);
        assert_int_equal(c->cfg.retries, 3);
        assert_true(c->cfg.lease_usec == 300 * SEC);
        assert_true(c->cfg.deadline_usec == 1800 * SEC);
        assert_string_equal(c->seed, "seed");
        assert_int_equal(c->n_machines, LAB_N);
        assert_true(c->next_token == 1);
        assert_false(c->halted);

        assert_int_equal(c->n_members, 1);
        mb = coordinator_member(c, "seed");
        assert_non_null(mb);
        assert_int_equal(mb->generation, 0);
        assert_null(coordinator_member(c, "m1"));
        assert_null(coordinator_member(c, NULL));

        assert_int_equal(M(c, "seed")->state, COORD_MEMBER);
        assert_int_equal(M(c, "seed")->generation, 0);
        for (size_t i = 1; i < LAB_N; i++) {
                CoordMachine *m = M(c, lab[i].name);

                assert_int_equal(m->state, COORD_UNKNOWN);
                assert_int_equal(m->generation, -1);
                assert_int_equal(m->attempts, 0);
                assert_null(m->lease.holder);
                assert_string_equal(m->network, lab[i].network);
                assert_string_equal(m->role, lab[i].role);
                assert_string_equal(m->bmc, lab[i].bmc);
        }
        assert_null(coordinator_find(c, "nosuch"));
        assert_null(coordinator_find(c, NULL));
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_int_equal(coordinator_cap(c, "seed"), 2);
        assert_true(coordinator_next_deadline(c) == UINT64_MAX);
        assert_int_equal(json_array_size(c->audit), 0);
}

static void test_coordinator_new_seed_not_in_inventory(void **state) {
        _cleanup_spec_ Spec *s = spec_make(lab, LAB_N, &prov_default);
        Coordinator *c = (Coordinator *) 0x1;
        char *err = NULL;

        (void) state;
        assert_int_equal(coordinator_new(s, "nosuch", &c, &err), -EINVAL);
        assert_ptr_equal(c, (Coordinator *) 0x1); /* untouched */
        assert_contains(err, "nosuch");
        free(err);
        err = NULL;

        /* in the inventory, but a worker */
        assert_int_equal(coordinator_new(s, "m2", &c, &err), -EINVAL);
        assert_ptr_equal(c, (Coordinator *) 0x1);
        assert_contains(err, "m2");
        assert_contains(err, "seed");
        free(err);
}

static void test_coordinator_new_without_provisioning(void **state) {
        json_auto_t *doc = spec_doc(lab, LAB_N, NULL);
        _cleanup_spec_ Spec *s = NULL;
        _cleanup_free_ char *err = NULL;
        Coordinator *c = NULL;

        (void) state;
        /* The schema requires $.provisioning, so no valid Spec lacks it... */
        assert_int_equal(spec_try(doc, &s), -EINVAL);
        assert_null(s);
        /* ...and the coordinator's own refusal is defence in depth: take the
         * section out of a valid Spec's document (test only; spec_json() is
         * borrowed and not meant to be modified). */
        s = spec_make(lab, LAB_N, &prov_default);
        assert_int_equal(json_object_del(spec_json(s), "provisioning"), 0);
        assert_int_equal(coordinator_new(s, "seed", &c, &err), -EINVAL);
        assert_null(c);
        assert_contains(err, "provisioning");
}

/* ---- acquire ---- */

static void test_coordinator_acquire_cap_and_want(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g[8] = {};
        CoordMachine *m;

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 0, NULL, 0, T0, g), 0);
        assert_int_equal(coordinator_acquire(c, "seed", 1, NULL, 0, T0, g), 1);
        assert_string_equal(g[0].machine, "m1");
        assert_true(g[0].token == 1);
        assert_int_equal(g[0].generation, 1);
        assert_true(g[0].expires == T0 + 300 * SEC);
        assert_true(g[0].deadline == T0 + 1800 * SEC);
        m = M(c, "m1");
        assert_ptr_equal(g[0].machine, m->name); /* borrowed */
        assert_int_equal(m->state, COORD_LEASED);
        assert_string_equal(m->lease.holder, "seed");
        assert_true(m->lease.token == 1);
        assert_true(m->lease.granted == T0);
        assert_false(m->lease.cycled);
        assert_int_equal(m->generation, 1);
        assert_true(m->since == T0);
        assert_true(M(c, "seed")->state == COORD_MEMBER);

        /* asks for 8, the cap (fan-out 2) leaves room for one more */
        assert_int_equal(coordinator_acquire(c, "seed", 8, NULL, 0, T0 + 1, g), 1);
        assert_true(g[0].token == 2);
        assert_int_equal(coordinator_held(c, "seed"), 2);
        assert_int_equal(coordinator_acquire(c, "seed", 8, NULL, 0, T0 + 2, g), 0);
        assert_int_equal(coordinator_held(c, "seed"), 2);
        assert_true(c->next_token == 3);
}

static void test_coordinator_acquire_refusals(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g[2] = {};

        (void) state;
        /* in the inventory but not a member; not in the inventory at all */
        assert_int_equal(coordinator_acquire(c, "m1", 2, NULL, 0, T0, g), -EPERM);
        assert_int_equal(coordinator_acquire(c, "nosuch", 2, NULL, 0, T0, g), -EPERM);
        coordinator_set_halted(c, true, T0);
        assert_true(c->halt_serial == 1);
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0, g), -ECANCELED);
        assert_int_equal(coordinator_acquire(c, "m1", 2, NULL, 0, T0, g), -EPERM);
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_true(c->next_token == 1);
        coordinator_set_halted(c, false, T0 + SEC);
        assert_true(c->halt_serial == 2);
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0 + SEC, g), 2);
}

static void test_coordinator_acquire_networks(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 8, .retries = 3, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        Coordinator *c = f.c;
        const char *west[] = { "west" }, *none[] = { "north" }, *both[] = { "north", "east", "west" };
        CoordGrant g[8] = {};
        int n;

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 8, none, 1, T0, g), 0);
        /* an empty list (not NULL) allows no network */
        assert_int_equal(coordinator_acquire(c, "seed", 8, west, 0, T0, g), 0);
        n = coordinator_acquire(c, "seed", 8, west, 1, T0, g);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++)
                assert_string_equal(M(c, g[i].machine)->network, "west");
        n = coordinator_acquire(c, "seed", 8, both, 3, T0, g);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++)
                assert_string_equal(M(c, g[i].machine)->network, "east");
        assert_int_equal(coordinator_held(c, "seed"), 8);
        for (size_t i = 1; i < LAB_N; i++)
                assert_int_equal(M(c, lab[i].name)->state, COORD_LEASED);
}

static void test_coordinator_acquire_any_network(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 64, .retries = 3, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        CoordGrant g[COORDINATOR_WANT_MAX] = {};

        (void) state;
        /* NULL: every network; the machines run out before the cap */
        assert_int_equal(coordinator_acquire(f.c, "seed", COORDINATOR_WANT_MAX, NULL, 0, T0, g), LAB_N - 1);
        assert_int_equal(coordinator_acquire(f.c, "seed", COORDINATOR_WANT_MAX, NULL, 0, T0, g), 0);
}

/* The machines of grants g[0..], in order. */
static void assert_granted_n(const CoordGrant *g, const char *const *want, size_t n) {
        for (size_t i = 0; i < n; i++)
                assert_string_equal(g[i].machine, want[i]);
}
#define assert_granted(g, ...)                                                                                  \
        assert_granted_n(g, (const char *const[]) { __VA_ARGS__ },                                             \
                         ELEMENTSOF(((const char *const[]) { __VA_ARGS__ })))

/* With every machine idle, four grants at T0 under prov_fanout4: m1
 * (inventory order), then the BMCs with no lease yet: m5, m6, m7. */
static void acquire_four_spread(Coordinator *c, CoordGrant g[4]) {
        assert_int_equal(coordinator_acquire(c, "seed", 4, NULL, 0, T0, g), 4);
        assert_granted(g, "m1", "m5", "m6", "m7");
}

static void test_coordinator_acquire_spreads_bmc_load(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_fanout4);
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordGrant g[4] = {};

        (void) state;
        /* all idle: m1 (inventory order); then the east emulator has a lease,
         * so the other BMCs first: m5, m6, then m7 on the west emulator */
        acquire_four_spread(c, g);
        /* give m5 and m6 back: every endpoint left has one lease, theirs none */
        assert_int_equal(coordinator_release(c, "seed", "m5", g[1].token, NULL, T0 + 1), 0);
        assert_int_equal(coordinator_release(c, "seed", "m6", g[2].token, NULL, T0 + 1), 0);
        assert_int_equal(coordinator_acquire(c, "seed", 4, NULL, 0, T0 + 2, g), 2);
        assert_granted(g, "m5", "m6");

        /* a fresh coordinator, east only: one emulator, loads tie, inventory order */
        coordinator_free(f.c);
        f.c = c = coord_make(f.spec);
        assert_int_equal(coordinator_acquire(c, "seed", 4, east, 1, T0, g), 4);
        assert_granted(g, "m1", "m2", "m3", "m4");
}

static void test_coordinator_acquire_prefers_fewer_attempts(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordGrant g;

        (void) state;
        g = grant1(c, "seed", east, 1, T0);
        assert_string_equal(g.machine, "m1");
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", "no disk", T0 + SEC), 0);
        assert_int_equal(M(c, "m1")->attempts, 1);
        /* m1 may be retried after its back-off, but m2 has no failures */
        g = grant1(c, "seed", east, 1, T0 + 60 * SEC);
        assert_string_equal(g.machine, "m2");
        g = grant1(c, "seed", east, 1, T0 + 60 * SEC);
        assert_string_equal(g.machine, "m3");
}

/* The retry bug the lab found: a lease whose Ignition config was served
 * leaves a volume behind, so every later lease must not ask Ignition to
 * create it again; a lease that never got that far still creates it. */
static void test_coordinator_volume_create_until_config_served(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordGrant g;

        (void) state;
        assert_string_equal(coord_volume_to_string(COORD_VOLUME_CREATE), "create");
        assert_string_equal(coord_volume_to_string(COORD_VOLUME_EXISTING_OR_CREATE), "existing-or-create");
        assert_int_equal(coord_volume_from_string("existing-or-create"), COORD_VOLUME_EXISTING_OR_CREATE);
        assert_int_equal(coord_volume_from_string("wipe"), -EINVAL);
        assert_null(coord_volume_to_string(_COORD_VOLUME_MAX));

        g = grant1(c, "seed", east, 1, T0);
        assert_string_equal(g.machine, "m1");
        assert_int_equal(g.volume, COORD_VOLUME_CREATE);
        /* as far as the kernel: no config, no volume */
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "kernel-served", NULL, T0 + SEC), 0);
        assert_int_equal(coordinator_release(c, "seed", "m1", g.token, "shutting down", T0 + 2 * SEC), 0);
        g = grant1(c, "seed", east, 1, T0 + 3 * SEC);
        assert_string_equal(g.machine, "m1");
        assert_int_equal(g.volume, COORD_VOLUME_CREATE);
        /* its Ignition config was served: from now on the volume may exist */
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "ignition-served", NULL, T0 + 4 * SEC), 0);
        assert_true(M(c, "m1")->volume_may_exist);
        assert_int_equal(coordinator_release(c, "seed", "m1", g.token, "shutting down", T0 + 5 * SEC), 0);
        g = grant1(c, "seed", east, 1, T0 + 6 * SEC);
        assert_string_equal(g.machine, "m1");
        assert_int_equal(g.volume, COORD_VOLUME_EXISTING_OR_CREATE);
        /* and a failed attempt keeps it for the retry */
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", "ignition failed", T0 + 7 * SEC), 0);
        assert_int_equal(M(c, "m1")->state, COORD_UNKNOWN);
        assert_int_equal(coordinator_volume(M(c, "m1")), COORD_VOLUME_EXISTING_OR_CREATE);
        /* the others are untouched */
        assert_int_equal(coordinator_volume(M(c, "m2")), COORD_VOLUME_CREATE);
}

/* "sysext-served" comes after Ignition fetched its config: the same. A
 * member (admitted, or joined by hand) has a volume whatever its events. */
static void test_coordinator_volume_sysext_and_member(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordGrant g;

        (void) state;
        g = grant1(c, "seed", east, 1, T0);
        assert_int_equal(coordinator_report(c, "seed", g.machine, g.token, "sysext-served", NULL, T0 + SEC), 0);
        assert_int_equal(coordinator_volume(M(c, g.machine)), COORD_VOLUME_EXISTING_OR_CREATE);
        assert_int_equal(coordinator_volume(M(c, "m3")), COORD_VOLUME_CREATE);
        assert_int_equal(coordinator_admitted(c, "m3", T0, T0 + 2 * SEC), 0);
        assert_int_equal(M(c, "m3")->state, COORD_MEMBER);
        assert_int_equal(coordinator_volume(M(c, "m3")), COORD_VOLUME_EXISTING_OR_CREATE);
}

/* The flag survives a restart of the seed (the journal), and a journal
 * from before it was kept is read from the last lease event. */
static void test_coordinator_volume_journaled(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        _cleanup_fixture_ Fixture f2 = fixture_make(&prov_default);
        _cleanup_fixture_ Fixture f3 = fixture_make(&prov_default);
        json_auto_t *doc = NULL;
        _cleanup_free_ char *err = NULL;
        const char *east[] = { "east" };
        const json_t *e;
        size_t i;
        CoordGrant g;

        (void) state;
        g = grant1(f.c, "seed", east, 1, T0);
        assert_int_equal(coordinator_report(f.c, "seed", "m1", g.token, "ignition-served", NULL, T0 + SEC), 0);
        assert_int_equal(coordinator_report(f.c, "seed", "m1", g.token, "failed", "boot stopped", T0 + 2 * SEC), 0);
        doc = coordinator_to_json(f.c);
        assert_non_null(doc);
        assert_int_equal(coordinator_load_json(f2.c, doc, &err), 0);
        assert_int_equal(coordinator_volume(M(f2.c, "m1")), COORD_VOLUME_EXISTING_OR_CREATE);
        assert_int_equal(coordinator_volume(M(f2.c, "m2")), COORD_VOLUME_CREATE);
        /* an older journal: no volume_may_exist, the last event tells */
        json_array_foreach(json_object_get(doc, "machines"), i, e) {
                assert_true(!json_object_get(e, "volume_may_exist") ||
                            streq(json_string_value(json_object_get(e, "name")), "m1"));
                (void) json_object_del((json_t *) e, "volume_may_exist");
        }
        assert_int_equal(coordinator_load_json(f3.c, doc, &err), 0);
        assert_int_equal(coordinator_volume(M(f3.c, "m1")), COORD_VOLUME_EXISTING_OR_CREATE);
        assert_int_equal(coordinator_volume(M(f3.c, "m2")), COORD_VOLUME_CREATE);
}

static void test_coordinator_acquire_tokens_increase(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 3, .retries = 3, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        Coordinator *c = f.c;
        uint64_t last = 0, now = T0;
        CoordGrant g[3] = {};

        (void) state;
        /* grant, release one, expire the rest, again: every token is new */
        for (int round = 0; round < 6; round++) {
                int n = coordinator_acquire(c, "seed", 3, NULL, 0, now, g);

                assert_int_equal(n, 3);
                for (int i = 0; i < n; i++) {
                        assert_true(g[i].token > last);
                        last = g[i].token;
                }
                assert_int_equal(coordinator_release(c, "seed", g[0].machine, g[0].token, "test", now + 1), 0);
                now += 301 * SEC;
                assert_int_equal(coordinator_tick(c, now), 2);
        }
        assert_true(c->next_token == last + 1);
}

static void test_coordinator_acquire_generation(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g[2] = {};

        (void) state;
        g[0] = grant1(c, "seed", NULL, 0, T0);
        assert_int_equal(g[0].generation, 1);
        assert_int_equal(admit(c, g[0].machine, T0 + SEC), 0);
        assert_int_equal(coordinator_member(c, "m1")->generation, 1);
        assert_int_equal(coordinator_acquire(c, "m1", 2, NULL, 0, T0 + 2 * SEC, g), 2);
        assert_int_equal(g[0].generation, 2);
        assert_int_equal(g[1].generation, 2);
        assert_int_equal(M(c, g[0].machine)->generation, 2);
        assert_int_equal(admit(c, g[0].machine, T0 + 3 * SEC), 0);
        assert_int_equal(coordinator_acquire(c, g[0].machine, 1, NULL, 0, T0 + 4 * SEC, g), 1);
        assert_int_equal(g[0].generation, 3);
}

static void test_coordinator_cap_seed_drops_to_one(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g[2] = {};

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0, g), 2);
        assert_int_equal(admit(c, "m1", T0 + SEC), 0);
        assert_int_equal(c->n_members, 2);
        assert_int_equal(coordinator_cap(c, "seed"), 1);
        assert_int_equal(coordinator_cap(c, "m1"), 2);
        /* the seed holds one lease (m5), its cap: nothing more */
        assert_int_equal(coordinator_held(c, "seed"), 1);
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0 + 2 * SEC, g), 0);
        assert_int_equal(admit(c, "m5", T0 + 3 * SEC), 0);
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0 + 4 * SEC, g), 1);
        assert_int_equal(coordinator_acquire(c, "m1", 3, NULL, 0, T0 + 4 * SEC, g), 2);
        assert_int_equal(coordinator_acquire(c, "m5", 3, NULL, 0, T0 + 4 * SEC, g), 2);
        assert_int_equal(coordinator_held(c, "seed"), 1);
        assert_int_equal(coordinator_held(c, "m1"), 2);
        assert_int_equal(coordinator_held(c, "m5"), 2);
}

static void test_coordinator_acquire_skips_unleasable(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 8, .retries = 0, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        Coordinator *c = f.c;
        CoordGrant g[8] = {};
        int n;

        (void) state;
        /* m1 member, m2 excluded, m3 failed (no retries), m4 waiting for a retry */
        assert_int_equal(admit(c, "m1", T0), 0);
        assert_int_equal(coordinator_exclude(c, "m2", true, T0), 0);
        g[0] = grant1(c, "seed", (const char *[]) { "east" }, 1, T0);
        assert_string_equal(g[0].machine, "m3");
        assert_int_equal(coordinator_report(c, "seed", "m3", g[0].token, "failed", NULL, T0), 0);
        assert_int_equal(M(c, "m3")->state, COORD_FAILED);
        M(c, "m4")->retry_after = T0 + 100 * SEC; /* as a retry would leave it */

        /* m1 asks: the seed's cap is 1 now that m1 is a member */
        n = coordinator_acquire(c, "m1", 8, NULL, 0, T0 + 99 * SEC, g);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++) {
                assert_string_not_equal(g[i].machine, "m1");
                assert_string_not_equal(g[i].machine, "m2");
                assert_string_not_equal(g[i].machine, "m3");
                assert_string_not_equal(g[i].machine, "m4");
        }
        /* at its retry time, m4 is leasable */
        g[0] = grant1(c, "m1", NULL, 0, T0 + 100 * SEC);
        assert_string_equal(g[0].machine, "m4");
        assert_int_equal(coordinator_acquire(c, "seed", 8, NULL, 0, T0 + 1000 * SEC, g), 0);
        assert_int_equal(coordinator_acquire(c, "m1", 8, NULL, 0, T0 + 1000 * SEC, g), 0);
        assert_int_equal(M(c, "m1")->state, COORD_MEMBER);
        assert_int_equal(M(c, "m2")->state, COORD_EXCLUDED);
        assert_int_equal(M(c, "m3")->state, COORD_FAILED);
}

/* ---- lease_check, fence ---- */

static void test_coordinator_lease_check(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);

        (void) state;
        assert_int_equal(admit(c, "m5", T0), 0);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, T0), 0);
        assert_int_equal(coordinator_lease_check(c, "m5", "m1", g.token, T0), -ESTALE);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token + 1, T0), -ESTALE);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", 0, T0), -ESTALE);
        assert_int_equal(coordinator_lease_check(c, "seed", "m2", g.token, T0), -ESTALE); /* not leased */
        assert_int_equal(coordinator_lease_check(c, "seed", "nosuch", g.token, T0), -ENOENT);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, g.expires - 1), 0);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, g.expires), -ETIME);
        /* a stale token is stale whatever the time */
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token + 1, g.expires), -ESTALE);
}

static void test_coordinator_fence_power_cycle_once(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");

        (void) state;
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_BOOT_OVERRIDE, T0 + 1), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_BOOT_OVERRIDE, T0 + 2), 0);
        assert_int_equal(m->state, COORD_LEASED);
        assert_false(m->lease.cycled);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 3), 0);
        assert_int_equal(m->state, COORD_POWERING);
        assert_true(m->since == T0 + 3);
        assert_true(m->lease.cycled);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 4), -EALREADY);
        /* the boot override stays repeatable, and so does power-off */
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_BOOT_OVERRIDE, T0 + 5), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_OFF, T0 + 6), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_OFF, T0 + 7), 0);
        assert_int_equal(m->state, COORD_POWERING);
}

static void test_coordinator_fence_refusals(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);

        (void) state;
        assert_int_equal(coordinator_fence(c, "m5", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0), -ESTALE);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token + 7, COORD_ACTION_POWER_CYCLE, T0), -ESTALE);
        assert_int_equal(coordinator_fence(c, "seed", "nosuch", g.token, COORD_ACTION_POWER_CYCLE, T0), -ENOENT);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, g.expires), -ETIME);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_OFF, g.expires), -ETIME);
        /* none of the refusals used up the power cycle */
        assert_false(M(c, "m1")->lease.cycled);
        assert_int_equal(M(c, "m1")->state, COORD_LEASED);

        /* halted: nothing destructive but giving the machine up */
        coordinator_set_halted(c, true, T0 + 1);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_BOOT_OVERRIDE, T0 + 2), -ECANCELED);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 2), -ECANCELED);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_OFF, T0 + 2), 0);
        /* a stale holder is still told it is stale */
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token + 1, COORD_ACTION_POWER_OFF, T0 + 2), -ESTALE);
        assert_false(M(c, "m1")->lease.cycled);
        coordinator_set_halted(c, false, T0 + 3);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 4), 0);
}

static void test_coordinator_fence_new_lease_may_cycle_again(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0), g2;

        (void) state;
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0), 0);
        assert_int_equal(coordinator_tick(c, g.expires), 1); /* no heartbeat: expired */
        assert_int_equal(M(c, "m1")->state, COORD_UNKNOWN);
        g2 = grant1(c, "seed", NULL, 0, g.expires + 1);
        assert_string_equal(g2.machine, "m1");
        assert_true(g2.token > g.token);
        assert_false(M(c, "m1")->lease.cycled);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, g.expires + 2), -ESTALE);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g2.token, COORD_ACTION_POWER_CYCLE, g.expires + 2), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g2.token, COORD_ACTION_POWER_CYCLE, g.expires + 3),
                         -EALREADY);
}

/* ---- report ---- */

static void test_coordinator_report_progress(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");

        (void) state;
        assert_null(m->last_event);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 1), 0);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "offered", NULL, T0 + 2), 0);
        assert_int_equal(m->state, COORD_BOOTING);
        assert_string_equal(m->last_event, "offered");
        assert_true(m->since == T0 + 2);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "kernel-served", NULL, T0 + 3), 0);
        assert_int_equal(m->state, COORD_BOOTING);
        assert_true(m->since == T0 + 2); /* same state: same since */
        assert_string_equal(m->last_event, "kernel-served");
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "ignition-served", NULL, T0 + 4), 0);
        assert_int_equal(m->state, COORD_ATTESTING);
        /* a late event is recorded but never moves the machine back */
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "offered", NULL, T0 + 5), 0);
        assert_int_equal(m->state, COORD_ATTESTING);
        assert_string_equal(m->last_event, "offered");
        assert_true(m->since == T0 + 4);
        assert_int_equal(m->attempts, 0);

        /* every boot-server event name is known */
        static const char *const events[] = { "offered",       "tftp-served",   "nbp-served",    "script-served",
                                              "kernel-served", "initrd-served", "sysext-served", "ignition-served" };
        for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
                assert_int_equal(coordinator_report(c, "seed", "m1", g.token, events[i], NULL, T0 + 6), 0);
        assert_int_equal(m->state, COORD_ATTESTING);
}

static void test_coordinator_report_refusals(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "bogus", NULL, T0), -EINVAL);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, NULL, NULL, T0), -EINVAL);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "OFFERED", NULL, T0), -EINVAL);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token + 1, "offered", NULL, T0), -ESTALE);
        assert_int_equal(coordinator_report(c, "m5", "m1", g.token, "offered", NULL, T0), -ESTALE);
        assert_int_equal(coordinator_report(c, "seed", "nosuch", g.token, "offered", NULL, T0), -ENOENT);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "offered", NULL, g.expires), -ETIME);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token + 1, "failed", "x", T0), -ESTALE);
        assert_int_equal(m->state, COORD_LEASED);
        assert_null(m->last_event);
        assert_int_equal(m->attempts, 0);
}

static void test_coordinator_report_failed_retries_then_fails(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default); /* retries 3 */
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordMachine *m = M(c, "m1");
        uint64_t now = T0, backoff = 10 * SEC;

        (void) state;
        /* m1 the only east machine left */
        for (const char *const *n = (const char *const[]) { "m2", "m3", "m4", NULL }; *n; n++)
                assert_int_equal(coordinator_exclude(c, *n, true, T0), 0);
        /* three retries with doubling back-off, the fourth failure is final */
        for (unsigned attempt = 1; attempt <= 4; attempt++) {
                CoordGrant g = grant1(c, "seed", east, 1, now);

                assert_string_equal(g.machine, "m1");
                assert_null(m->last_event); /* a new lease starts without events */
                assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "kernel-served", NULL, now + 1), 0);
                assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", "no disk", now + 2), 0);
                assert_int_equal(m->attempts, attempt);
                assert_contains(m->reason, "no disk");
                assert_contains(m->reason, "kernel-served");
                assert_null(m->lease.holder);
                assert_int_equal(coordinator_held(c, "seed"), 0);
                assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, now + 3), -ESTALE);
                if (attempt <= 3) {
                        assert_int_equal(m->state, COORD_UNKNOWN);
                        assert_true(m->retry_after == now + 2 + backoff);
                        assert_true(coordinator_next_deadline(c) == m->retry_after);
                        /* m1 is not leased before its time, others are */
                        assert_int_equal(coordinator_acquire(c, "seed", 1, east, 1, m->retry_after - 1, &g), 0);
                        g = grant1(c, "seed", NULL, 0, m->retry_after - 1);
                        assert_string_not_equal(g.machine, "m1");
                        assert_int_equal(coordinator_release(c, "seed", g.machine, g.token, NULL, m->retry_after - 1),
                                         0);
                        now = m->retry_after;
                        backoff *= 2;
                } else
                        assert_int_equal(m->state, COORD_FAILED);
        }
        /* failed: never leased again, however long we wait */
        {
                CoordGrant g;

                assert_int_equal(coordinator_acquire(c, "seed", 1, east, 1, now + 10000 * SEC, &g), 0);
        }
}

static void test_coordinator_report_failed_without_events(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", NULL, T0 + 1), 0);
        assert_contains(M(c, "m1")->reason, "none");
}

static void test_coordinator_backoff_capped(void **state) {
        /* lease time = deadline: the holder is alive to the end, so the
         * attempt is the machine's fault, not an expired lease */
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 2, .retries = 10, .lease_seconds = 1800,
                                                              .deadline_seconds = 1800 });
        static const uint64_t expect[] = { 10, 20, 40, 80, 160, 320, 600, 600, 600, 600 };
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordMachine *m = M(c, "m1");
        uint64_t now = T0;

        (void) state;
        /* m2-m4 out of the way, so m1 is the only east machine */
        for (const char *const *n = (const char *const[]) { "m2", "m3", "m4", NULL }; *n; n++)
                assert_int_equal(coordinator_exclude(c, *n, true, T0), 0);
        for (size_t i = 0; i <= 10; i++) {
                CoordGrant g = grant1(c, "seed", east, 1, now);

                /* this time the attempt ends at its deadline (tick) */
                assert_int_equal(coordinator_tick(c, g.deadline), 1);
                assert_int_equal(m->attempts, i + 1);
                if (i < 10) {
                        assert_int_equal(m->state, COORD_UNKNOWN);
                        if (m->retry_after - g.deadline != expect[i] * SEC)
                                fail_msg("attempt %zu: back-off %" PRIu64 " s, expected %" PRIu64 " s", i + 1,
                                         (m->retry_after - g.deadline) / SEC, expect[i]);
                        now = m->retry_after;
                } else
                        assert_int_equal(m->state, COORD_FAILED);
        }
}

/* ---- release ---- */

static void test_coordinator_release(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0), g2;
        CoordMachine *m = M(c, "m1");

        (void) state;
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 1), 0);
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "offered", NULL, T0 + 2), 0);
        assert_int_equal(coordinator_release(c, "seed", "m1", g.token + 1, "bye", T0 + 3), -ESTALE);
        assert_int_equal(coordinator_release(c, "m5", "m1", g.token, "bye", T0 + 3), -ESTALE);
        assert_int_equal(coordinator_release(c, "seed", "nosuch", g.token, "bye", T0 + 3), -ENOENT);
        assert_int_equal(coordinator_release(c, "seed", "m1", g.token, "bye", g.expires), -ETIME);
        assert_int_equal(m->state, COORD_BOOTING);

        assert_int_equal(coordinator_release(c, "seed", "m1", g.token, "shutting down", T0 + 3), 0);
        assert_int_equal(m->state, COORD_UNKNOWN);
        assert_int_equal(m->attempts, 0);
        assert_true(m->retry_after == 0);
        assert_null(m->lease.holder);
        assert_contains(m->reason, "shutting down");
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_int_equal(coordinator_release(c, "seed", "m1", g.token, "again", T0 + 4), -ESTALE);
        /* leasable again at once, under a new token */
        g2 = grant1(c, "seed", NULL, 0, T0 + 4);
        assert_string_equal(g2.machine, "m1");
        assert_true(g2.token > g.token);
}

/* ---- heartbeat ---- */

static void test_coordinator_heartbeat(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_fanout4);
        Coordinator *c = f.c;
        CoordGrant g[4] = {};
        int out[5];

        (void) state;
        acquire_four_spread(c, g);
        assert_int_equal(admit(c, "m7", T0 + SEC), 0);

        {
                const char *machines[] = { "m1", "m5", "m6", "m7", "nosuch" };
                const uint64_t tokens[] = { g[0].token, g[1].token + 100, g[2].token, g[3].token, 1 };

                /* m6 is let lapse: the heartbeat comes after its expiry, before a tick */
                M(c, "m6")->lease.expires = T0 + 50 * SEC;
                memset(out, 0x55, sizeof(out));
                assert_int_equal(coordinator_heartbeat(c, "seed", machines, tokens, 5, 0, T0 + 100 * SEC, out), 0);
                assert_int_equal(out[0], 0);
                assert_int_equal(out[1], -ESTALE);
                assert_int_equal(out[2], -ETIME);
                assert_int_equal(out[3], 1);
                assert_int_equal(out[4], -ENOENT);
        }
        assert_true(M(c, "m1")->lease.expires == T0 + 400 * SEC);
        assert_true(M(c, "m5")->lease.expires == T0 + 300 * SEC); /* stale: untouched */
        assert_true(M(c, "m6")->lease.expires == T0 + 50 * SEC);
        assert_true(coordinator_member(c, "seed")->last_seen == T0 + 100 * SEC);

        /* near the deadline the lease is extended only up to it */
        {
                const char *machines[] = { "m1" };
                const uint64_t tokens[] = { g[0].token };

                for (uint64_t now = T0 + 300 * SEC; now < g[0].deadline - 10 * SEC; now += 200 * SEC) {
                        assert_int_equal(coordinator_heartbeat(c, "seed", machines, tokens, 1, 0, now, out), 0);
                        assert_int_equal(out[0], 0);
                        assert_true(M(c, "m1")->lease.expires == MIN(now + 300 * SEC, g[0].deadline));
                }
                assert_int_equal(coordinator_heartbeat(c, "seed", machines, tokens, 1, 0, g[0].deadline - 10 * SEC,
                                                       out),
                                 0);
                assert_int_equal(out[0], 0);
                assert_true(M(c, "m1")->lease.expires == g[0].deadline);
                assert_int_equal(coordinator_heartbeat(c, "nosuch", machines, tokens, 1, 0, T0, out), -EPERM);
                assert_int_equal(coordinator_heartbeat(c, "m1", machines, tokens, 1, 0, T0, out), -EPERM);
                /* a heartbeat of nothing is fine */
                assert_int_equal(coordinator_heartbeat(c, "seed", NULL, NULL, 0, 0, T0, NULL), 0);
        }
}

static void test_coordinator_heartbeat_halt_ack(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordMember *mb, *seed;

        (void) state;
        assert_int_equal(admit(c, "m1", T0), 0);
        /* after admitting: adding a member may move the array */
        seed = coordinator_member(c, "seed");
        mb = coordinator_member(c, "m1");
        assert_true(mb->halt_ack == 0);
        coordinator_set_halted(c, true, T0);
        assert_true(c->halt_serial == 1);
        /* the coordinator has seen its own halt */
        assert_true(seed->halt_ack == 1);
        mb = coordinator_member(c, "m1");
        /* a serial the coordinator never issued is not recorded */
        assert_int_equal(coordinator_heartbeat(c, "m1", NULL, NULL, 0, 5, T0 + 1, NULL), 0);
        assert_true(mb->halt_ack == 0);
        assert_int_equal(coordinator_heartbeat(c, "m1", NULL, NULL, 0, 1, T0 + 2, NULL), 0);
        assert_true(mb->halt_ack == 1);
        coordinator_set_halted(c, false, T0 + 3);
        assert_int_equal(coordinator_heartbeat(c, "m1", NULL, NULL, 0, 2, T0 + 4, NULL), 0);
        assert_true(mb->halt_ack == 2);
        assert_int_equal(coordinator_heartbeat(c, "m1", NULL, NULL, 0, 3, T0 + 5, NULL), 0);
        assert_true(mb->halt_ack == 2);
}

/* ---- tick, next_deadline ---- */

static void test_coordinator_tick_expiry(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "offered", NULL, T0 + 1), 0);
        assert_true(coordinator_next_deadline(c) == g.expires);
        assert_int_equal(coordinator_tick(c, g.expires - 1), 0);
        assert_int_equal(m->state, COORD_BOOTING);
        assert_int_equal(coordinator_tick(c, g.expires), 1);
        assert_int_equal(m->state, COORD_UNKNOWN);
        assert_int_equal(m->attempts, 0);
        assert_true(m->retry_after == 0);
        assert_true(m->since == g.expires);
        assert_null(m->lease.holder);
        assert_contains(m->reason, "seed");
        assert_contains(m->reason, "expired");
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_int_equal(coordinator_tick(c, g.expires + 1), 0);
        assert_true(coordinator_next_deadline(c) == UINT64_MAX);
}

static void test_coordinator_tick_deadline(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");
        const char *machines[] = { "m1" };
        const uint64_t tokens[] = { g.token };
        uint64_t now;
        int out[1];

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "kernel-served", NULL, T0 + 1), 0);
        /* the holder keeps renewing, the machine never joins */
        for (now = T0 + 100 * SEC; now < g.deadline; now += 100 * SEC) {
                assert_int_equal(coordinator_tick(c, now), 0);
                assert_int_equal(coordinator_heartbeat(c, "seed", machines, tokens, 1, 0, now, out), 0);
                assert_int_equal(out[0], 0);
                assert_true(coordinator_next_deadline(c) == MIN(now + 300 * SEC, g.deadline));
        }
        assert_true(m->lease.expires == g.deadline);
        assert_int_equal(coordinator_tick(c, g.deadline - 1), 0);
        assert_int_equal(coordinator_tick(c, g.deadline), 1);
        assert_int_equal(m->state, COORD_UNKNOWN);
        assert_int_equal(m->attempts, 1);
        assert_true(m->retry_after == g.deadline + 10 * SEC);
        assert_contains(m->reason, "kernel-served");
        assert_contains(m->reason, "1800");
        assert_null(m->lease.holder);
        assert_true(coordinator_next_deadline(c) == m->retry_after);
}

static void test_coordinator_next_deadline_after_retry_time(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        uint64_t retry;

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", "x", T0 + 1), 0);
        retry = M(c, "m1")->retry_after;
        assert_true(retry == T0 + 1 + 10 * SEC);
        assert_true(coordinator_next_deadline(c) == retry);
        /* Once the back-off is over, nothing is left for a tick to do even if
         * no member has room to lease m1: the next deadline must not stay in
         * the past, or a service arming its timer with it would spin. */
        coordinator_set_halted(c, true, retry);
        (void) coordinator_tick(c, retry);
        assert_true(coordinator_next_deadline(c) == UINT64_MAX);
        assert_int_equal(coordinator_tick(c, retry + SEC), 0);
        assert_int_equal(M(c, "m1")->state, COORD_UNKNOWN);
        assert_int_equal(M(c, "m1")->attempts, 1);
        coordinator_set_halted(c, false, retry + SEC);
        for (const char *const *n = (const char *const[]) { "m2", "m3", "m4", NULL }; *n; n++)
                assert_int_equal(coordinator_exclude(c, *n, true, T0), 0);
        g = grant1(c, "seed", (const char *[]) { "east" }, 1, retry + SEC);
        assert_string_equal(g.machine, "m1"); /* still leasable */
}

/* ---- admitted ---- */

static void test_coordinator_admitted(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");
        CoordMember *mb;

        (void) state;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "ignition-served", NULL, T0 + 1), 0);
        assert_int_equal(admit(c, "nosuch", T0 + 2), -ENOENT);
        assert_int_equal(admit(c, "m1", T0 + 2), 0);
        assert_int_equal(m->state, COORD_MEMBER);
        assert_int_equal(m->generation, 1);
        assert_null(m->lease.holder);
        assert_null(m->reason);
        assert_true(m->since == T0 + 2);
        assert_int_equal(coordinator_held(c, "seed"), 0);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, T0 + 3), -ESTALE);
        mb = coordinator_member(c, "m1");
        assert_non_null(mb);
        assert_int_equal(mb->generation, 1);
        assert_true(mb->last_seen == T0 + 2);
        /* admitted twice: still one member */
        assert_int_equal(admit(c, "m1", T0 + 3), 0);
        assert_int_equal(c->n_members, 2);
        /* admitted without a lease (joined by hand): generation 1 */
        assert_int_equal(admit(c, "m8", T0 + 4), 0);
        assert_int_equal(coordinator_member(c, "m8")->generation, 1);
        assert_int_equal(c->n_members, 3);
        assert_true(coordinator_next_deadline(c) == UINT64_MAX);
}

/* Issue 8 fault at 500 nodes: an admission from a previous boot was
 * credited after the machine was re-leased. Only a join begun after the
 * current lease's power cycle counts for a leased machine. */
static void test_coordinator_admitted_stale_before_cycle(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        CoordMachine *m = M(c, "m1");
        _cleanup_free_ char *a = NULL, *b = NULL;

        (void) state;
        (void) json_array_clear(c->audit);
        /* leased, not power-cycled yet: whatever runs there is an older boot */
        assert_int_equal(coordinator_admitted(c, "m1", T0 + SEC, T0 + 2 * SEC), -ESTALE);
        assert_int_equal(m->state, COORD_LEASED);
        assert_string_equal(m->lease.holder, "seed");
        assert_int_equal(c->n_members, 1);
        a = audit_take(c, true);
        assert_string_equal(a, "admission-stale:the current lease has not power-cycled it yet");
        assert_int_equal(coordinator_fence(c, "seed", "m1", g.token, COORD_ACTION_POWER_CYCLE, T0 + 10 * SEC), 0);
        assert_true(m->lease.cycled_at == T0 + 10 * SEC);
        (void) json_array_clear(c->audit);
        /* a join whose hello came before the power cycle: the old boot's */
        assert_int_equal(coordinator_admitted(c, "m1", T0 + 9 * SEC, T0 + 12 * SEC), -ESTALE);
        assert_int_equal(m->state, COORD_POWERING);
        assert_int_equal(coordinator_lease_check(c, "seed", "m1", g.token, T0 + 12 * SEC), 0);
        b = audit_take(c, true);
        assert_string_equal(b, "admission-stale:the join began before the current lease's power cycle");
        /* unknown start (0) under a lease: not credited either */
        assert_int_equal(coordinator_admitted(c, "m1", 0, T0 + 12 * SEC), -ESTALE);
        /* the new boot's join: credited */
        assert_int_equal(coordinator_admitted(c, "m1", T0 + 10 * SEC, T0 + 13 * SEC), 0);
        assert_int_equal(m->state, COORD_MEMBER);
        assert_null(m->lease.holder);
        /* not leased (joined by hand): credited whenever it began */
        assert_int_equal(coordinator_admitted(c, "m8", 0, T0 + 14 * SEC), 0);
        assert_int_equal(M(c, "m8")->state, COORD_MEMBER);
}

static void test_coordinator_admitted_stale_after_release(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g1 = grant1(c, "seed", NULL, 0, T0), g2;
        CoordMachine *m = M(c, "m1");
        json_auto_t *doc = NULL;
        _cleanup_(coordinator_freep) Coordinator *c2 = NULL;
        _cleanup_free_ char *err = NULL;

        (void) state;
        /* lease 1 boots m1, whose stratad starts joining at T0+30s; then the
         * holder dies and the lease expires: m1 is re-leased */
        assert_int_equal(coordinator_fence(c, "seed", "m1", g1.token, COORD_ACTION_POWER_CYCLE, T0 + SEC), 0);
        assert_int_equal(coordinator_tick(c, g1.expires), 1);
        assert_int_equal(m->state, COORD_UNKNOWN);
        g2 = grant1(c, "seed", NULL, 0, g1.expires + SEC);
        assert_string_equal(g2.machine, "m1");
        assert_int_equal(coordinator_fence(c, "seed", "m1", g2.token, COORD_ACTION_POWER_CYCLE, g1.expires + 2 * SEC),
                         0);
        /* the first boot's join completes after the second power cycle */
        assert_int_equal(coordinator_admitted(c, "m1", T0 + 30 * SEC, g1.expires + 3 * SEC), -ESTALE);
        assert_int_equal(m->state, COORD_POWERING);
        assert_true(m->lease.token == g2.token);
        /* the journal keeps when the cycle was fenced: a restarted seed
         * refuses the same stale admission */
        doc = coordinator_to_json(c);
        assert_non_null(doc);
        c2 = coord_make(f.spec);
        assert_int_equal(coordinator_load_json(c2, doc, &err), 0);
        assert_true(M(c2, "m1")->lease.cycled_at == g1.expires + 2 * SEC);
        assert_int_equal(coordinator_admitted(c2, "m1", T0 + 30 * SEC, g1.expires + 4 * SEC), -ESTALE);
        assert_int_equal(coordinator_admitted(c2, "m1", g1.expires + 5 * SEC, g1.expires + 6 * SEC), 0);
        assert_int_equal(M(c2, "m1")->state, COORD_MEMBER);
}

/* ---- stall ---- */

static void test_coordinator_stall_observe(void **state) {
        CoordStallWatch w = { .period = SEC };

        (void) state;
        assert_true(coordinator_stall_observe(&w, T0) == 0); /* the first: nothing to compare */
        assert_true(coordinator_stall_observe(&w, T0 + SEC) == 0);
        /* late, but within the slack: a busy loop, not a stall */
        assert_true(coordinator_stall_observe(&w, T0 + 3 * SEC) == 0);
        /* 31 s without an observation: 30 s beyond the period */
        assert_true(coordinator_stall_observe(&w, T0 + 34 * SEC) == 30 * SEC);
        assert_true(w.last == T0 + 34 * SEC);
        /* a clock that does not move forward changes nothing */
        assert_true(coordinator_stall_observe(&w, T0 + 20 * SEC) == 0);
        assert_true(w.last == T0 + 34 * SEC);
        assert_true(coordinator_stall_observe(&w, T0 + 35 * SEC) == 0);
}

/* The seed's loop stops for 15 minutes (SIGSTOP, a long fsync): the
 * holders' heartbeats could not be answered, so their leases must not all
 * lapse at the next tick. A coordinator without the stall handled does
 * expire them, the same moment. */
static void test_coordinator_stalled_extends_leases(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_fanout4), f2 = fixture_make(&prov_fanout4);
        Coordinator *c = f.c;
        CoordGrant g[4], g2[4];
        CoordStallWatch w = { .period = SEC };
        const uint64_t mono0 = 5 * SEC, stall_wall = T0 + 100 * SEC + 900 * SEC;
        uint64_t stall, exp_before, dl_before, retry_before;
        _cleanup_free_ char *a = NULL;

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0, g), 2);
        assert_int_equal(coordinator_acquire(f2.c, "seed", 2, NULL, 0, T0, g2), 2);
        /* a third machine waits out a back-off */
        assert_int_equal(coordinator_acquire(c, "seed", 1, NULL, 0, T0, g + 2), 1);
        assert_int_equal(coordinator_report(c, "seed", g[2].machine, g[2].token, "failed", "x", T0 + SEC), 0);
        retry_before = M(c, g[2].machine)->retry_after;
        exp_before = M(c, g[0].machine)->lease.expires;
        dl_before = M(c, g[0].machine)->lease.deadline;
        assert_true(exp_before == T0 + 300 * SEC);
        /* the pulse ran at mono0, then nothing for 900 s */
        assert_true(coordinator_stall_observe(&w, mono0) == 0);
        stall = coordinator_stall_observe(&w, mono0 + 900 * SEC);
        assert_true(stall == 899 * SEC);
        (void) json_array_clear(c->audit);
        assert_int_equal(coordinator_stalled(c, stall, stall_wall), 2);
        assert_true(M(c, g[0].machine)->lease.expires == exp_before + stall);
        assert_true(M(c, g[1].machine)->lease.expires == exp_before + stall);
        assert_true(M(c, g[0].machine)->lease.deadline == dl_before + stall);
        assert_true(M(c, g[2].machine)->retry_after == retry_before + stall);
        a = audit_take(c, true);
        assert_contains(a, "stall:the coordinator's loop stalled for 899.000 s: 2 lease(s) extended by it");
        /* the tick right after the stall expires nothing here... */
        assert_int_equal(coordinator_tick(c, stall_wall), 0);
        assert_int_equal(M(c, g[0].machine)->state, COORD_LEASED);
        assert_int_equal(coordinator_lease_check(c, "seed", g[1].machine, g[1].token, stall_wall), 0);
        /* ...where, unhandled, both leases lapse at once */
        assert_int_equal(coordinator_tick(f2.c, stall_wall), 2);
        assert_int_equal(M(f2.c, g2[0].machine)->state, COORD_UNKNOWN);
        /* the holders renew as usual afterwards; without renewal, a lease
         * still ends one lease time after the stall */
        assert_int_equal(coordinator_tick(c, exp_before + stall), 2);
        /* no stall: nothing changes, nothing audited */
        (void) json_array_clear(c->audit);
        assert_int_equal(coordinator_stalled(c, 0, stall_wall), 0);
        assert_int_equal(json_array_size(c->audit), 0);
}

/* SIGHUP on the seed: the coordinator follows the reloaded inventory. */
static void test_coordinator_rebuild_inventory_changed(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        MachineDef defs[LAB_N];
        _cleanup_(spec_freep) Spec *spec2 = NULL;
        _cleanup_(coordinator_freep) Coordinator *c2 = NULL;
        _cleanup_free_ char *err = NULL, *a = NULL;
        const char *west[] = { "west" };
        CoordGrant g8, g1, g9;
        uint64_t next;

        (void) state;
        /* the seed holds m1 (east) and m8 (west), m5 is a member */
        g1 = grant1(c, "seed", NULL, 0, T0);
        assert_string_equal(g1.machine, "m1");
        assert_int_equal(admit(c, "m5", T0 + 1), 0);
        assert_int_equal(coordinator_exclude(c, "m6", true, T0 + 2), 0);
        assert_int_equal(coordinator_exclude(c, "m7", true, T0 + 2), 0);
        g8 = grant1(c, "m5", west, 1, T0 + 2);
        assert_string_equal(g8.machine, "m8");
        next = c->next_token;
        /* the operator removes m8 and adds m9 */
        memcpy(defs, lab, sizeof(defs));
        defs[LAB_N - 1] = (MachineDef) { "m9", "worker", "east", EMU_EAST };
        spec2 = spec_make(defs, LAB_N, &prov_default);
        (void) json_array_clear(c->audit);
        assert_int_equal(coordinator_rebuild(c, spec2, T0 + 3, &c2, &err), 0);
        assert_null(err);
        /* the old one is untouched */
        assert_non_null(coordinator_find(c, "m8"));
        assert_int_equal(json_array_size(c->audit), 0);
        a = audit_take(c2, true);
        assert_string_equal(a, "lease-revoked:the machine was removed from the inventory,inventory-removed:leased,"
                               "inventory-added");
        assert_null(coordinator_find(c2, "m8"));
        assert_int_equal(coordinator_lease_check(c2, "m5", "m8", g8.token, T0 + 4), -ENOENT);
        assert_int_equal(coordinator_fence(c2, "m5", "m8", g8.token, COORD_ACTION_POWER_CYCLE, T0 + 4), -ENOENT);
        /* the rest carried over: m1's lease, m5 a member, tokens go on */
        assert_int_equal(coordinator_lease_check(c2, "seed", "m1", g1.token, T0 + 4), 0);
        assert_int_equal(M(c2, "m5")->state, COORD_MEMBER);
        assert_non_null(coordinator_member(c2, "m5"));
        assert_true(c2->next_token == next);
        assert_int_equal(M(c2, "m9")->state, COORD_UNKNOWN);
        (void) json_array_clear(c2->audit);
        g9 = grant1(c2, "m5", NULL, 0, T0 + 5);
        assert_true(g9.token == next);
}

/* Machines behind one BMC endpoint share a bmc_id (the grant's load count). */
static void test_coordinator_bmc_ids(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;

        (void) state;
        assert_int_equal(M(c, "m1")->bmc_id, M(c, "m4")->bmc_id);
        assert_int_equal(M(c, "m2")->bmc_id, M(c, "m3")->bmc_id);
        assert_int_equal(M(c, "m1")->bmc_id, M(c, "m2")->bmc_id);
        assert_int_equal(M(c, "m7")->bmc_id, M(c, "m8")->bmc_id);
        assert_int_not_equal(M(c, "m5")->bmc_id, M(c, "m6")->bmc_id);
        assert_int_not_equal(M(c, "m1")->bmc_id, M(c, "m7")->bmc_id);
        assert_int_not_equal(M(c, "seed")->bmc_id, M(c, "m1")->bmc_id);
        assert_true(M(c, "m5")->bmc_id < c->n_machines && M(c, "m8")->bmc_id < c->n_machines);
}

/* ---- journal ---- */

static json_t *through_text(const json_t *doc) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        json_t *j;

        assert_non_null(text);
        j = json_loads(text, 0, NULL);
        assert_non_null(j);
        return j;
}

static void assert_machines_equal(const CoordMachine *a, const CoordMachine *b) {
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->state, b->state);
        assert_int_equal(a->generation, b->generation);
        assert_int_equal(a->attempts, b->attempts);
        assert_true(a->retry_after == b->retry_after);
        assert_true(a->since == b->since);
        assert_true(streq_ptr(a->last_event, b->last_event));
        assert_true(streq_ptr(a->reason, b->reason));
        assert_true(streq_ptr(a->lease.holder, b->lease.holder));
        assert_true(a->lease.token == b->lease.token);
        assert_true(a->lease.granted == b->lease.granted);
        assert_true(a->lease.expires == b->lease.expires);
        assert_true(a->lease.deadline == b->lease.deadline);
        assert_int_equal(a->lease.cycled, b->lease.cycled);
}

static void test_coordinator_journal_round_trip(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_fanout4);
        Coordinator *c = f.c;
        _cleanup_(coordinator_freep) Coordinator *c2 = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *doc = NULL, *doc2 = NULL;
        CoordGrant g[4] = {}, g2;

        (void) state;
        /* m1 power-cycled and booting; m5 leased; m6 retrying; m7 member
         * holding m2; m8 excluded; halt then resume, a halt ack */
        assert_int_equal(coordinator_acquire(c, "seed", 4, NULL, 0, T0, g), 4);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g[0].token, COORD_ACTION_POWER_CYCLE, T0 + 1), 0);
        assert_int_equal(coordinator_report(c, "seed", "m1", g[0].token, "offered", NULL, T0 + 2), 0);
        assert_int_equal(coordinator_report(c, "seed", "m6", g[2].token, "failed", "pxe timeout", T0 + 3), 0);
        assert_int_equal(admit(c, "m7", T0 + 4), 0);
        g2 = grant1(c, "m7", (const char *[]) { "east" }, 1, T0 + 5);
        assert_string_equal(g2.machine, "m2");
        assert_int_equal(coordinator_exclude(c, "m8", true, T0 + 6), 0);
        coordinator_set_halted(c, true, T0 + 7);
        coordinator_set_halted(c, false, T0 + 8);
        coordinator_set_halted(c, true, T0 + 9);
        assert_int_equal(coordinator_heartbeat(c, "m7", NULL, NULL, 0, 2, T0 + 10, NULL), 0);

        doc = coordinator_to_json(c);
        assert_non_null(doc);
        doc2 = through_text(doc); /* as read back from the journal file */
        c2 = coord_make(f.spec);
        assert_int_equal(coordinator_load_json(c2, doc2, &err), 0);
        assert_null(err);

        assert_true(c2->next_token == c->next_token);
        assert_true(c2->halted);
        assert_true(c2->halt_serial == 3);
        assert_int_equal(c2->n_machines, c->n_machines);
        for (size_t i = 0; i < c->n_machines; i++)
                assert_machines_equal(&c->machines[i], M(c2, c->machines[i].name));
        assert_int_equal(c2->n_members, 2);
        for (size_t i = 0; i < c->n_members; i++) {
                CoordMember *a = &c->members[i], *b = coordinator_member(c2, a->name);

                assert_non_null(b);
                assert_int_equal(a->generation, b->generation);
                assert_true(a->last_seen == b->last_seen);
                assert_true(a->halt_ack == b->halt_ack);
        }
        assert_true(coordinator_member(c2, "m7")->halt_ack == 2);
        assert_true(json_equal(json_object_get(doc, "events"), c2->events));
        {
                json_auto_t *again = coordinator_to_json(c2);

                assert_true(json_equal(doc, again));
        }

        /* the crash-restart guarantee: the power cycle fenced before the
         * restart is not fenced again for the same lease */
        coordinator_set_halted(c2, false, T0 + 11);
        assert_int_equal(coordinator_fence(c2, "seed", "m1", g[0].token, COORD_ACTION_POWER_CYCLE, T0 + 12),
                         -EALREADY);
        assert_int_equal(coordinator_fence(c2, "seed", "m1", g[0].token, COORD_ACTION_BOOT_OVERRIDE, T0 + 12), 0);
        assert_int_equal(coordinator_fence(c2, "seed", "m5", g[1].token, COORD_ACTION_POWER_CYCLE, T0 + 12), 0);
        assert_int_equal(coordinator_fence(c2, "m7", "m2", g2.token, COORD_ACTION_POWER_CYCLE, T0 + 12), 0);
        assert_int_equal(coordinator_held(c2, "seed"), 2);
        assert_int_equal(coordinator_held(c2, "m7"), 1);
        assert_int_equal(coordinator_cap(c2, "seed"), 1);
        /* tokens go on from where they were */
        g2 = grant1(c2, "m7", NULL, 0, T0 + 20 * SEC);
        assert_true(g2.token == c->next_token);
        assert_int_equal(g2.generation, 2);
}

static void test_coordinator_journal_inventory_changed(void **state) {
        static const MachineDef lab2[] = {
                { "seed", "seed", "east", "https://192.0.2.100" },
                { "m1", "controller", "east", EMU_EAST },
                { "m9", "worker", "west", "https://198.51.100.109" },
                { "m5", "worker", "west", "https://198.51.100.105" },
        };
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        _cleanup_spec_ Spec *s2 = spec_make(lab2, sizeof(lab2) / sizeof(lab2[0]), &prov_default);
        _cleanup_(coordinator_freep) Coordinator *c2 = coord_make(s2);
        _cleanup_free_ char *err = NULL;
        json_auto_t *doc = NULL;
        CoordGrant g[2] = {};

        (void) state;
        assert_int_equal(coordinator_acquire(f.c, "seed", 2, NULL, 0, T0, g), 2);
        assert_string_equal(g[1].machine, "m5");
        assert_int_equal(coordinator_exclude(f.c, "m8", true, T0), 0);
        doc = coordinator_to_json(f.c);
        assert_non_null(doc);
        assert_int_equal(coordinator_load_json(c2, doc, &err), 0);
        assert_int_equal(c2->n_machines, 4);
        assert_null(coordinator_find(c2, "m8")); /* gone from the spec: dropped */
        assert_int_equal(M(c2, "m1")->state, COORD_LEASED);
        assert_int_equal(M(c2, "m5")->state, COORD_LEASED);
        assert_true(M(c2, "m5")->lease.token == g[1].token);
        assert_int_equal(M(c2, "m9")->state, COORD_UNKNOWN); /* new in the spec */
        assert_int_equal(M(c2, "m9")->generation, -1);
        assert_int_equal(M(c2, "seed")->state, COORD_MEMBER);
        assert_int_equal(coordinator_acquire(c2, "seed", 2, NULL, 0, T0 + 1, g), 0);
        assert_int_equal(coordinator_release(c2, "seed", "m5", M(c2, "m5")->lease.token, NULL, T0 + 1), 0);
        g[0] = grant1(c2, "seed", NULL, 0, T0 + 2);
        assert_string_equal(g[0].machine, "m9");
        assert_true(g[0].token == 3);
}

typedef void (*Breaker)(json_t *doc);

static json_t *doc_machine(json_t *doc, const char *name) {
        json_t *e;
        size_t i;

        json_array_foreach(json_object_get(doc, "machines"), i, e)
                if (streq(json_string_value(json_object_get(e, "name")), name))
                        return e;
        fail_msg("no %s in the document", name);
        return NULL;
}

static void break_version(json_t *doc) {
        json_object_set_new(doc, "version", json_integer(2));
}
static void break_no_version(json_t *doc) {
        json_object_del(doc, "version");
}
static void break_machines(json_t *doc) {
        json_object_set_new(doc, "machines", json_object());
}
static void break_members(json_t *doc) {
        json_object_del(doc, "members");
}
static void break_next_token(json_t *doc) {
        json_object_set_new(doc, "next_token", json_integer(0));
}
static void break_leased_without_lease(json_t *doc) {
        json_object_del(doc_machine(doc, "m5"), "lease");
}
static void break_token_too_big(json_t *doc) {
        json_object_set_new(json_object_get(doc_machine(doc, "m5"), "lease"), "token",
                            json_integer(json_integer_value(json_object_get(doc, "next_token"))));
}
static void break_state(json_t *doc) {
        json_object_set_new(doc_machine(doc, "m6"), "state", json_string("rebooting"));
}
static void break_member_name(json_t *doc) {
        json_object_del(json_array_get(json_object_get(doc, "members"), 0), "name");
}

static void test_coordinator_journal_malformed(void **state) {
        static const struct {
                Breaker breaker;
                const char *message;
        } cases[] = {
                { break_version, "version" },
                { break_no_version, "version" },
                { break_machines, "machines" },
                { break_members, "members" },
                { break_next_token, "next_token" },
                { break_leased_without_lease, "lease" },
                { break_token_too_big, "token" },
                { break_state, "state" },
                { break_member_name, "name" },
        };
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        CoordGrant g[2] = {};

        (void) state;
        /* m1 and m5 leased; m1 first in the document, so a half-applied load
         * would show there */
        assert_int_equal(coordinator_acquire(f.c, "seed", 2, NULL, 0, T0, g), 2);
        assert_int_equal(coordinator_fence(f.c, "seed", "m1", g[0].token, COORD_ACTION_POWER_CYCLE, T0), 0);
        assert_int_equal(admit(f.c, "m7", T0), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_auto_t *doc = coordinator_to_json(f.c), *copy = NULL;
                _cleanup_(coordinator_freep) Coordinator *c2 = coord_make(f.spec);
                json_auto_t *before = coordinator_to_json(c2), *after = NULL;
                char *err = NULL;

                assert_non_null(doc);
                copy = json_deep_copy(doc);
                cases[i].breaker(copy);
                assert_int_equal(coordinator_load_json(c2, copy, &err), -EBADMSG);
                assert_non_null(err);
                assert_contains(err, "coordinator journal");
                assert_contains(err, cases[i].message);
                free(err);
                /* a refused document changes nothing: a leftover lease with a
                 * token at or above next_token would be handed out again */
                after = coordinator_to_json(c2);
                if (!json_equal(before, after))
                        fail_msg("case %zu (%s): a refused journal changed the coordinator", i, cases[i].message);
        }
        {
                _cleanup_(coordinator_freep) Coordinator *c2 = coord_make(f.spec);
                char *err = NULL;

                assert_int_equal(coordinator_load_json(c2, NULL, &err), -EBADMSG);
                free(err);
        }
}

/* ---- status ---- */

static void test_coordinator_status_json(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        json_auto_t *st = NULL;
        const json_t *counts, *members, *e, *machines;
        CoordGrant g[2] = {};
        size_t i;

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 2, NULL, 0, T0, g), 2); /* m1, m5 */
        assert_int_equal(coordinator_fence(c, "seed", "m5", g[1].token, COORD_ACTION_POWER_CYCLE, T0), 0);
        assert_int_equal(admit(c, "m1", T0 + SEC), 0);
        g[0] = grant1(c, "m1", NULL, 0, T0 + 2 * SEC);
        assert_int_equal(admit(c, g[0].machine, T0 + 3 * SEC), 0); /* generation 2 */
        g[0] = grant1(c, "m1", (const char *[]) { "east" }, 1, T0 + 4 * SEC);
        assert_int_equal(coordinator_report(c, "m1", g[0].machine, g[0].token, "offered", NULL, T0 + 5 * SEC), 0);
        assert_int_equal(coordinator_exclude(c, "m8", true, T0), 0);
        coordinator_set_halted(c, true, T0 + 6 * SEC);
        assert_int_equal(coordinator_heartbeat(c, "m1", NULL, NULL, 0, 1, T0 + 7 * SEC, NULL), 0);

        st = coordinator_status_json(c, T0 + 65 * SEC);
        assert_non_null(st);
        assert_string_equal(json_string_value(json_object_get(st, "coordinator")), "seed");
        assert_true(json_is_true(json_object_get(st, "halted")));
        assert_int_equal(json_integer_value(json_object_get(st, "halt_serial")), 1);
        assert_int_equal(json_integer_value(json_object_get(st, "fanout")), 2);
        assert_int_equal(json_integer_value(json_object_get(st, "generations")), 2);
        counts = json_object_get(st, "counts");
        assert_int_equal(json_object_size(counts), _COORD_STATE_MAX);
        assert_int_equal(json_integer_value(json_object_get(counts, "member")), 3);
        assert_int_equal(json_integer_value(json_object_get(counts, "powering")), 1);
        assert_int_equal(json_integer_value(json_object_get(counts, "booting")), 1);
        assert_int_equal(json_integer_value(json_object_get(counts, "excluded")), 1);
        assert_int_equal(json_integer_value(json_object_get(counts, "unknown")), 3);
        assert_int_equal(json_integer_value(json_object_get(counts, "leased")), 0);
        assert_int_equal(json_integer_value(json_object_get(counts, "failed")), 0);

        members = json_object_get(st, "members");
        assert_int_equal(json_array_size(members), 3);
        json_array_foreach(members, i, e) {
                const char *name = json_string_value(json_object_get(e, "name"));

                if (streq(name, "seed")) {
                        assert_int_equal(json_integer_value(json_object_get(e, "generation")), 0);
                        assert_int_equal(json_integer_value(json_object_get(e, "leases")), 1);
                        assert_int_equal(json_integer_value(json_object_get(e, "cap")), 1);
                        /* the coordinator confirms its own halts */
                        assert_true(json_is_true(json_object_get(e, "halt_confirmed")));
                } else if (streq(name, "m1")) {
                        assert_int_equal(json_integer_value(json_object_get(e, "generation")), 1);
                        assert_int_equal(json_integer_value(json_object_get(e, "leases")), 1);
                        assert_int_equal(json_integer_value(json_object_get(e, "cap")), 2);
                        assert_true(json_is_true(json_object_get(e, "halt_confirmed")));
                } else {
                        assert_int_equal(json_integer_value(json_object_get(e, "generation")), 2);
                        assert_int_equal(json_integer_value(json_object_get(e, "leases")), 0);
                }
        }
        machines = json_object_get(st, "machines");
        assert_int_equal(json_array_size(machines), LAB_N);
        json_array_foreach(machines, i, e)
                if (streq(json_string_value(json_object_get(e, "name")), "m5")) {
                        assert_string_equal(json_string_value(json_object_get(e, "state")), "powering");
                        assert_int_equal(json_integer_value(json_object_get(e, "seconds_in_state")), 65);
                        assert_true(json_is_true(json_object_get(json_object_get(e, "lease"), "cycled")));
                }
        assert_true(json_array_size(json_object_get(st, "events")) > 0);
}

/* ---- exclude ---- */

static void test_coordinator_exclude(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 2, .retries = 0, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        Coordinator *c = f.c;
        const char *east[] = { "east" };
        CoordGrant g = grant1(c, "seed", east, 1, T0);

        (void) state;
        assert_string_equal(g.machine, "m1");
        assert_int_equal(coordinator_exclude(c, "m1", true, T0), -EBUSY);
        assert_int_equal(coordinator_exclude(c, "seed", true, T0), -EBUSY); /* a member */
        assert_int_equal(coordinator_exclude(c, "nosuch", true, T0), -ENOENT);
        assert_int_equal(M(c, "m1")->state, COORD_LEASED);

        assert_int_equal(coordinator_exclude(c, "m2", true, T0 + 1), 0);
        assert_int_equal(M(c, "m2")->state, COORD_EXCLUDED);
        g = grant1(c, "seed", east, 1, T0 + 2);
        assert_string_equal(g.machine, "m3"); /* m2 skipped */
        assert_int_equal(coordinator_report(c, "seed", "m3", g.token, "failed", "dead", T0 + 3), 0);
        assert_int_equal(M(c, "m3")->state, COORD_FAILED);

        /* re-included: leasable again (a failed machine gets a fresh start) */
        assert_int_equal(coordinator_exclude(c, "m2", false, T0 + 4), 0);
        assert_int_equal(M(c, "m2")->state, COORD_UNKNOWN);
        assert_int_equal(coordinator_exclude(c, "m3", false, T0 + 4), 0);
        assert_int_equal(M(c, "m3")->state, COORD_UNKNOWN);
        assert_int_equal(M(c, "m3")->attempts, 0);
        assert_int_equal(coordinator_release(c, "seed", "m1", M(c, "m1")->lease.token, NULL, T0 + 5), 0);
        assert_int_equal(coordinator_exclude(c, "m1", true, T0 + 5), 0);
        g = grant1(c, "seed", east, 1, T0 + 6);
        assert_string_equal(g.machine, "m2");
        g = grant1(c, "seed", east, 1, T0 + 6);
        assert_string_equal(g.machine, "m3");
}

/* ---- audit ---- */

static void test_coordinator_audit_events(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&(Prov) { .fanout = 3, .retries = 1, .lease_seconds = 300,
                                                              .deadline_seconds = 1800 });
        Coordinator *c = f.c;
        CoordGrant g[3] = {};
        _cleanup_free_ char *a1 = NULL, *a2 = NULL, *a3 = NULL, *a4 = NULL, *a5 = NULL;
        const json_t *e;

        (void) state;
        assert_int_equal(coordinator_acquire(c, "seed", 3, NULL, 0, T0, g), 3); /* m1, m5, m6 */
        a1 = audit_take(c, false);
        assert_string_equal(a1, "lease-granted,lease-granted,lease-granted");

        assert_int_equal(coordinator_fence(c, "seed", "m1", g[0].token, COORD_ACTION_BOOT_OVERRIDE, T0 + 1), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g[0].token, COORD_ACTION_POWER_CYCLE, T0 + 2), 0);
        assert_int_equal(coordinator_fence(c, "seed", "m1", g[0].token, COORD_ACTION_POWER_CYCLE, T0 + 3), -EALREADY);
        assert_int_equal(coordinator_fence(c, "seed", "m1", 999, COORD_ACTION_POWER_OFF, T0 + 3), -ESTALE);
        assert_int_equal(coordinator_report(c, "seed", "m1", g[0].token, "offered", NULL, T0 + 4), 0);
        assert_int_equal(coordinator_report(c, "seed", "m1", g[0].token, "ignition-served", NULL, T0 + 5), 0);
        assert_int_equal(admit(c, "m1", T0 + 6), 0);
        a2 = audit_take(c, true);
        assert_string_equal(a2, "fence:boot-override,fence:power-cycle,fence-refused:power-cycle already done,"
                                "fence-refused:power-off,progress:offered,progress:ignition-served,"
                                "admitted:ignition-served");

        assert_int_equal(coordinator_release(c, "seed", "m5", g[1].token, "no route", T0 + 7), 0);
        assert_int_equal(coordinator_report(c, "seed", "m6", g[2].token, "failed", "a", T0 + 8), 0);
        g[2] = grant1(c, "m1", (const char *[]) { "west" }, 1, T0 + 9);
        assert_string_equal(g[2].machine, "m5");
        assert_int_equal(coordinator_tick(c, g[2].expires), 1);
        a3 = audit_take(c, false);
        assert_string_equal(a3, "lease-released,retry,lease-granted,lease-expired");

        /* west: m5 (no attempts), m7 (its emulator idle, no attempts), then
         * m6 (one attempt, but an idle BMC beats m8 behind m7's emulator) */
        assert_int_equal(coordinator_acquire(c, "m1", 3, (const char *[]) { "west" }, 1, T0 + 400 * SEC, g), 3);
        assert_granted(g, "m5", "m7", "m6");
        a4 = audit_take(c, false);
        assert_string_equal(a4, "lease-granted,lease-granted,lease-granted");
        assert_int_equal(coordinator_report(c, "m1", "m6", g[2].token, "failed", "b", T0 + 401 * SEC), 0);
        assert_int_equal(M(c, "m6")->state, COORD_FAILED);
        coordinator_set_halted(c, true, T0 + 402 * SEC);
        coordinator_set_halted(c, false, T0 + 403 * SEC);
        assert_int_equal(coordinator_exclude(c, "m8", true, T0 + 404 * SEC), 0);
        assert_int_equal(coordinator_exclude(c, "m8", false, T0 + 405 * SEC), 0);
        a5 = audit_take(c, false);
        assert_string_equal(a5, "failed,halted,resumed,excluded,included");

        /* the fields of one event: the grant */
        assert_int_equal(coordinator_acquire(c, "m1", 1, NULL, 0, T0 + 470 * SEC, g), 1);
        e = json_array_get(c->audit, 0);
        assert_string_equal(json_string_value(json_object_get(e, "event")), "lease-granted");
        assert_string_equal(json_string_value(json_object_get(e, "machine")), g[0].machine);
        assert_string_equal(json_string_value(json_object_get(e, "member")), "m1");
        assert_true((uint64_t) json_integer_value(json_object_get(e, "token")) == g[0].token);
        assert_true((uint64_t) json_integer_value(json_object_get(e, "time_usec")) == T0 + 470 * SEC);

        /* the status ring keeps the last COORDINATOR_EVENTS_MAX; the audit
         * queue keeps everything until drained */
        json_array_clear(c->audit);
        for (unsigned i = 0; i < COORDINATOR_EVENTS_MAX + 10; i++)
                coordinator_set_halted(c, i % 2 == 0, T0 + 1000 * SEC + i);
        assert_int_equal(json_array_size(c->events), COORDINATOR_EVENTS_MAX);
        assert_int_equal(json_array_size(c->audit), COORDINATOR_EVENTS_MAX + 10);
        e = json_array_get(c->events, COORDINATOR_EVENTS_MAX - 1);
        assert_true((uint64_t) json_integer_value(json_object_get(e, "time_usec")) ==
                    T0 + 1000 * SEC + COORDINATOR_EVENTS_MAX + 9);
}

/* ---- text limits ---- */

static void test_coordinator_reason_truncated(void **state) {
        _cleanup_fixture_ Fixture f = fixture_make(&prov_default);
        Coordinator *c = f.c;
        CoordGrant g = grant1(c, "seed", NULL, 0, T0);
        json_auto_t *doc = NULL;
        const json_t *e;
        char reason[2 * COORDINATOR_TEXT_MAX + 2];
        const char *kept;
        size_t n = 0;

        (void) state;
        /* "x" then two-byte characters, so that the cut falls inside one */
        reason[n++] = 'x';
        while (n + 2 < sizeof(reason)) {
                reason[n++] = (char) 0xc3;
                reason[n++] = (char) 0xa9; /* é */
        }
        reason[n] = 0;
        assert_int_equal(coordinator_report(c, "seed", "m1", g.token, "failed", reason, T0 + 1), 0);
        assert_true(strlen(M(c, "m1")->reason) <= COORDINATOR_TEXT_MAX);
        /* the journal keeps it (a cut character would make it invalid UTF-8,
         * which jansson refuses, and the reason would vanish) */
        doc = coordinator_to_json(c);
        kept = json_string_value(json_object_get(doc_machine(doc, "m1"), "reason"));
        assert_non_null(kept);
        assert_true(kept[0] == 'x');
        assert_true(strlen(kept) <= COORDINATOR_TEXT_MAX);
        assert_true(strlen(kept) >= COORDINATOR_TEXT_MAX - 3);
        e = json_array_get(c->audit, json_array_size(c->audit) - 1);
        assert_string_equal(json_string_value(json_object_get(e, "event")), "retry");
        assert_non_null(json_string_value(json_object_get(e, "detail")));
}

/* ---- simulation ---- */

#define SIM_N 40          /* machines besides the seed */
#define SIM_TICK (10 * SEC)
#define SIM_ADMIT_AFTER 4 /* ticks from grant to admission */

static void test_coordinator_simulation_fanout(void **state) {
        MachineDef defs[SIM_N + 1];
        char names[SIM_N + 1][8], bmcs[SIM_N + 1][48];
        _cleanup_spec_ Spec *s = NULL;
        _cleanup_(coordinator_freep) Coordinator *c = NULL;
        unsigned granted_tick[SIM_N + 1] = {};
        uint64_t last_token = 0;
        unsigned t, bound = 0, max_gen = 0;
        const unsigned fanout = 2;

        (void) state;
        defs[0] = (MachineDef) { "seed", "seed", "east", "https://192.0.2.100" };
        for (size_t i = 1; i <= SIM_N; i++) {
                snprintf(names[i], sizeof(names[i]), "n%02zu", i);
                /* emulators serving five machines each, on both networks */
                snprintf(bmcs[i], sizeof(bmcs[i]), "https://emu%zu.lab:8000", (i - 1) / 5);
                defs[i] = (MachineDef) { names[i], i <= 2 ? "controller" : "worker", i % 2 ? "east" : "west",
                                         bmcs[i] };
        }
        s = spec_make(defs, SIM_N + 1,
                      &(Prov) { .fanout = (int) fanout, .retries = 3, .lease_seconds = 300,
                                .deadline_seconds = 1800 });
        c = coord_make(s);

        for (t = 1; t <= 100 && c->n_members < SIM_N + 1; t++) {
                uint64_t now = T0 + t * SIM_TICK;
                size_t n_members = c->n_members;

                assert_int_equal(coordinator_tick(c, now), 0);
                /* every member asks for as much as it may */
                for (size_t i = 0; i < n_members; i++) {
                        const char *member = c->members[i].name;
                        unsigned held = coordinator_held(c, member), cap = coordinator_cap(c, member);
                        CoordGrant g[COORDINATOR_WANT_MAX];
                        int n = coordinator_acquire(c, member, fanout, NULL, 0, now, g);

                        assert_in_range(n, 0, fanout);
                        assert_int_equal(coordinator_held(c, member), held + (unsigned) n);
                        if (n > 0 && coordinator_held(c, member) > cap)
                                fail_msg("tick %u: %s holds %u leases, cap %u", t, member,
                                         coordinator_held(c, member), cap);
                        for (int k = 0; k < n; k++) {
                                CoordMachine *m = M(c, g[k].machine);

                                assert_true(g[k].token > last_token);
                                last_token = g[k].token;
                                assert_int_equal(g[k].generation, c->members[i].generation + 1);
                                assert_int_equal(coordinator_fence(c, member, m->name, g[k].token,
                                                                   COORD_ACTION_BOOT_OVERRIDE, now),
                                                 0);
                                assert_int_equal(coordinator_fence(c, member, m->name, g[k].token,
                                                                   COORD_ACTION_POWER_CYCLE, now),
                                                 0);
                                assert_int_equal(coordinator_fence(c, member, m->name, g[k].token,
                                                                   COORD_ACTION_POWER_CYCLE, now),
                                                 -EALREADY);
                                granted_tick[m - c->machines] = t;
                        }
                }
                /* the leased machines boot, one step a tick, then join */
                for (size_t i = 0; i < c->n_machines; i++) {
                        CoordMachine *m = &c->machines[i];
                        static const char *const steps[] = { NULL, "offered", "kernel-served", "ignition-served" };
                        unsigned age;

                        if (m->state < COORD_LEASED || m->state > COORD_ATTESTING)
                                continue;
                        age = t - granted_tick[i];
                        if (age >= 1 && age < SIM_ADMIT_AFTER)
                                assert_int_equal(coordinator_report(c, m->lease.holder, m->name, m->lease.token,
                                                                    steps[age], NULL, now + 1),
                                                 0);
                        else if (age == SIM_ADMIT_AFTER)
                                assert_int_equal(admit(c, m->name, now + 2), 0);
                }
                /* heartbeats of every member for what it holds */
                for (size_t i = 0; i < c->n_members; i++) {
                        const char *machines[COORDINATOR_WANT_MAX];
                        uint64_t tokens[COORDINATOR_WANT_MAX];
                        int out[COORDINATOR_WANT_MAX];
                        size_t k = 0;

                        for (size_t j = 0; j < c->n_machines; j++)
                                if (c->machines[j].lease.holder && streq(c->machines[j].lease.holder, c->members[i].name)) {
                                        assert_true(k < COORDINATOR_WANT_MAX);
                                        machines[k] = c->machines[j].name;
                                        tokens[k++] = c->machines[j].lease.token;
                                }
                        assert_int_equal(coordinator_heartbeat(c, c->members[i].name, machines, tokens, k, 0, now + 3,
                                                               out),
                                         0);
                        for (size_t j = 0; j < k; j++)
                                assert_int_equal(out[j], 0);
                        /* nobody ever holds more than the fan-out */
                        assert_true(coordinator_held(c, c->members[i].name) <= fanout);
                }
                json_array_clear(c->audit);
        }

        for (size_t i = 0; i < c->n_machines; i++) {
                if (c->machines[i].state != COORD_MEMBER)
                        fail_msg("%s is %s after %u ticks", c->machines[i].name,
                                 coord_state_to_string(c->machines[i].state), t);
                max_gen = MAX(max_gen, (unsigned) c->machines[i].generation);
        }
        assert_int_equal(c->n_members, SIM_N + 1);
        /* the fleet grows by about (fan-out + 1) a round: generations near
         * log_{fanout+1}(N), a little more since the seed drops to one lease */
        for (unsigned p = 1; p < SIM_N; p *= fanout + 1)
                bound++;
        print_message("simulation: %u machines members after %u ticks, %u generations (log bound %u)\n", SIM_N,
                      t - 1, max_gen, bound);
        assert_in_range(max_gen, bound - 1, bound + 2);
        assert_true(t - 1 <= (bound + 3) * (SIM_ADMIT_AFTER + 1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_coord_state_names),
                cmocka_unit_test(test_coordinator_new_seed_is_member),
                cmocka_unit_test(test_coordinator_new_seed_not_in_inventory),
                cmocka_unit_test(test_coordinator_new_without_provisioning),
                cmocka_unit_test(test_coordinator_acquire_cap_and_want),
                cmocka_unit_test(test_coordinator_acquire_refusals),
                cmocka_unit_test(test_coordinator_acquire_networks),
                cmocka_unit_test(test_coordinator_acquire_any_network),
                cmocka_unit_test(test_coordinator_acquire_spreads_bmc_load),
                cmocka_unit_test(test_coordinator_acquire_prefers_fewer_attempts),
                cmocka_unit_test(test_coordinator_volume_create_until_config_served),
                cmocka_unit_test(test_coordinator_volume_sysext_and_member),
                cmocka_unit_test(test_coordinator_volume_journaled),
                cmocka_unit_test(test_coordinator_acquire_tokens_increase),
                cmocka_unit_test(test_coordinator_acquire_generation),
                cmocka_unit_test(test_coordinator_cap_seed_drops_to_one),
                cmocka_unit_test(test_coordinator_acquire_skips_unleasable),
                cmocka_unit_test(test_coordinator_lease_check),
                cmocka_unit_test(test_coordinator_fence_power_cycle_once),
                cmocka_unit_test(test_coordinator_fence_refusals),
                cmocka_unit_test(test_coordinator_fence_new_lease_may_cycle_again),
                cmocka_unit_test(test_coordinator_report_progress),
                cmocka_unit_test(test_coordinator_report_refusals),
                cmocka_unit_test(test_coordinator_report_failed_retries_then_fails),
                cmocka_unit_test(test_coordinator_report_failed_without_events),
                cmocka_unit_test(test_coordinator_backoff_capped),
                cmocka_unit_test(test_coordinator_release),
                cmocka_unit_test(test_coordinator_heartbeat),
                cmocka_unit_test(test_coordinator_heartbeat_halt_ack),
                cmocka_unit_test(test_coordinator_tick_expiry),
                cmocka_unit_test(test_coordinator_tick_deadline),
                cmocka_unit_test(test_coordinator_next_deadline_after_retry_time),
                cmocka_unit_test(test_coordinator_admitted),
                cmocka_unit_test(test_coordinator_admitted_stale_before_cycle),
                cmocka_unit_test(test_coordinator_admitted_stale_after_release),
                cmocka_unit_test(test_coordinator_stall_observe),
                cmocka_unit_test(test_coordinator_stalled_extends_leases),
                cmocka_unit_test(test_coordinator_rebuild_inventory_changed),
                cmocka_unit_test(test_coordinator_bmc_ids),
                cmocka_unit_test(test_coordinator_journal_round_trip),
                cmocka_unit_test(test_coordinator_journal_inventory_changed),
                cmocka_unit_test(test_coordinator_journal_malformed),
                cmocka_unit_test(test_coordinator_status_json),
                cmocka_unit_test(test_coordinator_exclude),
                cmocka_unit_test(test_coordinator_audit_events),
                cmocka_unit_test(test_coordinator_reason_truncated),
                cmocka_unit_test(test_coordinator_simulation_fanout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
