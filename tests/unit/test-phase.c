/* Tests for agent/core/phase.c. SPEC below is the transition table written
 * out independently from the design brief; the tests check that phase.c
 * implements exactly it: every row allowed, every other (phase, event) pair
 * refused, names round-trip, every phase reachable from boot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/phase.h"

static const PhaseTransition SPEC[] = {
        { PHASE_BOOT,         PHASE_EVENT_SPEC_LOADED,    PHASE_UNSEAL },
        { PHASE_UNSEAL,       PHASE_EVENT_UNSEALED,       PHASE_ATTEST },
        { PHASE_ATTEST,       PHASE_EVENT_ADMITTED,       PHASE_MEMBER },
        { PHASE_MEMBER,       PHASE_EVENT_LEASE_TAKEN,    PHASE_PROVISIONING },
        { PHASE_PROVISIONING, PHASE_EVENT_LEASE_TAKEN,    PHASE_PROVISIONING },
        { PHASE_PROVISIONING, PHASE_EVENT_LEASES_DONE,    PHASE_MEMBER },
        { PHASE_MEMBER,       PHASE_EVENT_QUORUM_REACHED, PHASE_QUORUM },
        { PHASE_PROVISIONING, PHASE_EVENT_QUORUM_REACHED, PHASE_QUORUM },
        { PHASE_QUORUM,       PHASE_EVENT_CLUSTER_JOINED, PHASE_CLUSTER },
        { PHASE_CLUSTER,      PHASE_EVENT_PIVOT_STARTED,  PHASE_PIVOT },
        { PHASE_PIVOT,        PHASE_EVENT_PIVOT_DONE,     PHASE_MANAGED },
        { PHASE_CLUSTER,      PHASE_EVENT_PIVOT_DONE,     PHASE_MANAGED },
        { PHASE_MEMBER,       PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_PROVISIONING, PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_QUORUM,       PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_HALTED,       PHASE_EVENT_RESUME,         PHASE_MEMBER },
};

static const PhaseTransition *spec_find(Phase from, PhaseEvent ev) {
        for (size_t i = 0; i < ELEMENTSOF(SPEC); i++)
                if (SPEC[i].from == from && SPEC[i].event == ev)
                        return &SPEC[i];
        return NULL;
}

static void test_phase_transition_listed_rows_ok(void **state) {
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(SPEC); i++) {
                Phase to = _PHASE_INVALID;
                assert_int_equal(phase_transition(SPEC[i].from, SPEC[i].event, &to), 0);
                assert_int_equal(to, SPEC[i].to);
        }
}

static void test_phase_transition_unlisted_refused(void **state) {
        unsigned refused = 0;
        (void) state;

        for (Phase p = 0; p < _PHASE_MAX; p++)
                for (PhaseEvent ev = 0; ev < _PHASE_EVENT_MAX; ev++) {
                        Phase to = _PHASE_INVALID;
                        if (spec_find(p, ev))
                                continue;
                        assert_int_equal(phase_transition(p, ev, &to), -EPERM);
                        assert_int_equal(to, _PHASE_INVALID);
                        refused++;
                }
        assert_int_equal(refused, _PHASE_MAX * _PHASE_EVENT_MAX - ELEMENTSOF(SPEC));
}

static void test_phase_transition_table_matches_spec(void **state) {
        const PhaseTransition *t;
        size_t n;
        (void) state;

        t = phase_transition_table(&n);
        assert_int_equal(n, ELEMENTSOF(SPEC));
        for (size_t i = 0; i < n; i++) {
                const PhaseTransition *row = spec_find(t[i].from, t[i].event);
                assert_non_null(row);
                assert_int_equal(row->to, t[i].to);
                /* no (from, event) pair listed twice */
                for (size_t j = i + 1; j < n; j++)
                        assert_false(t[j].from == t[i].from && t[j].event == t[i].event);
        }
}

static void test_phase_transition_out_of_range_invalid(void **state) {
        Phase to = PHASE_BOOT;
        (void) state;

        assert_int_equal(phase_transition(_PHASE_MAX, PHASE_EVENT_HALT, &to), -EINVAL);
        assert_int_equal(phase_transition(_PHASE_INVALID, PHASE_EVENT_HALT, &to), -EINVAL);
        assert_int_equal(phase_transition(PHASE_MEMBER, _PHASE_EVENT_MAX, &to), -EINVAL);
        assert_int_equal(phase_transition(PHASE_MEMBER, _PHASE_EVENT_INVALID, &to), -EINVAL);
        assert_int_equal(to, PHASE_BOOT);
}

static void test_phase_transition_halt_only_while_provisioning(void **state) {
        static const Phase unaffected[] = {
                PHASE_BOOT, PHASE_UNSEAL, PHASE_ATTEST, PHASE_CLUSTER,
                PHASE_PIVOT, PHASE_MANAGED, PHASE_HALTED,
        };
        Phase to;
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(unaffected); i++)
                assert_int_equal(phase_transition(unaffected[i], PHASE_EVENT_HALT, &to), -EPERM);
        assert_int_equal(phase_transition(PHASE_QUORUM, PHASE_EVENT_HALT, &to), 0);
        assert_int_equal(to, PHASE_HALTED);
        assert_int_equal(phase_transition(to, PHASE_EVENT_RESUME, &to), 0);
        assert_int_equal(to, PHASE_MEMBER);
}

static void test_phase_transition_every_phase_reachable_from_boot(void **state) {
        bool seen[_PHASE_MAX] = { [PHASE_BOOT] = true };
        bool grew = true;
        (void) state;

        /* fixpoint over phase_transition() itself, not over any table */
        while (grew) {
                grew = false;
                for (Phase p = 0; p < _PHASE_MAX; p++) {
                        if (!seen[p])
                                continue;
                        for (PhaseEvent ev = 0; ev < _PHASE_EVENT_MAX; ev++) {
                                Phase to;
                                if (phase_transition(p, ev, &to) == 0 && !seen[to])
                                        seen[to] = grew = true;
                        }
                }
        }
        for (Phase p = 0; p < _PHASE_MAX; p++)
                if (!seen[p])
                        fail_msg("phase %s is not reachable from boot", phase_to_string(p));
}

static void test_phase_transition_only_managed_is_final(void **state) {
        (void) state;

        for (Phase p = 0; p < _PHASE_MAX; p++) {
                bool leaves = false;
                for (PhaseEvent ev = 0; ev < _PHASE_EVENT_MAX; ev++) {
                        Phase to;
                        leaves |= phase_transition(p, ev, &to) == 0 && to != p;
                }
                if (leaves == (p == PHASE_MANAGED))
                        fail_msg("phase %s: %s", phase_to_string(p),
                                 leaves ? "managed must be final" : "stuck, no way out");
        }
}

static void test_phase_to_string_round_trip(void **state) {
        (void) state;

        for (Phase p = 0; p < _PHASE_MAX; p++) {
                const char *s = phase_to_string(p);
                assert_non_null(s);
                assert_int_equal(phase_from_string(s), p);
        }
        assert_string_equal(phase_to_string(PHASE_PROVISIONING), "provisioning");
}

static void test_phase_to_string_out_of_range_null(void **state) {
        (void) state;

        assert_null(phase_to_string(_PHASE_MAX));
        assert_null(phase_to_string(_PHASE_INVALID));
        assert_null(phase_event_to_string(_PHASE_EVENT_MAX));
        assert_null(phase_event_to_string(_PHASE_EVENT_INVALID));
}

static void test_phase_from_string_junk_invalid(void **state) {
        static const char *const junk[] = { "", "BOOT", "boot ", " boot", "halt", "bootx", "halted\n" };
        (void) state;

        assert_int_equal(phase_from_string(NULL), _PHASE_INVALID);
        for (size_t i = 0; i < ELEMENTSOF(junk); i++)
                assert_int_equal(phase_from_string(junk[i]), _PHASE_INVALID);
}

static void test_phase_event_to_string_round_trip(void **state) {
        (void) state;

        for (PhaseEvent ev = 0; ev < _PHASE_EVENT_MAX; ev++) {
                const char *s = phase_event_to_string(ev);
                assert_non_null(s);
                assert_int_equal(phase_event_from_string(s), ev);
        }
        assert_string_equal(phase_event_to_string(PHASE_EVENT_LEASE_TAKEN), "lease-taken");
}

static void test_phase_event_from_string_junk_invalid(void **state) {
        static const char *const junk[] = { "", "HALT", "halted", "lease_taken", "resume ", "boot" };
        (void) state;

        assert_int_equal(phase_event_from_string(NULL), _PHASE_EVENT_INVALID);
        for (size_t i = 0; i < ELEMENTSOF(junk); i++)
                assert_int_equal(phase_event_from_string(junk[i]), _PHASE_EVENT_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_phase_transition_listed_rows_ok),
                cmocka_unit_test(test_phase_transition_unlisted_refused),
                cmocka_unit_test(test_phase_transition_table_matches_spec),
                cmocka_unit_test(test_phase_transition_out_of_range_invalid),
                cmocka_unit_test(test_phase_transition_halt_only_while_provisioning),
                cmocka_unit_test(test_phase_transition_every_phase_reachable_from_boot),
                cmocka_unit_test(test_phase_transition_only_managed_is_final),
                cmocka_unit_test(test_phase_to_string_round_trip),
                cmocka_unit_test(test_phase_to_string_out_of_range_null),
                cmocka_unit_test(test_phase_from_string_junk_invalid),
                cmocka_unit_test(test_phase_event_to_string_round_trip),
                cmocka_unit_test(test_phase_event_from_string_junk_invalid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
