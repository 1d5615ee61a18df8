/* Tests for agent/cluster/pivot-journal.c: the resume table (from every
 * phase a pivot can be interrupted in, the right action on the right
 * group), and the document both ways, refusals included. */
#include <errno.h>

#include "cluster/pivot-journal.h"
#include "pivot-fixture.h"

/* The actions of a whole pivot from `phase`, as "pause wait c0 c1 d1 ...". */
static void walk(PivotPhase phase, unsigned group, unsigned n_groups, char *out, size_t size) {
        out[0] = '\0';
        for (unsigned guard = 0; guard < 100; guard++) {
                PivotAction a;
                PivotPhase begin, end;
                unsigned g;
                char word[32];

                assert_int_equal(pivot_journal_next(phase, group, n_groups, &a, &g), 0);
                snprintf(word, sizeof(word), "%s%s", out[0] ? " " : "",
                         a == PIVOT_ACTION_CREATE   ? "c"
                         : a == PIVOT_ACTION_DELETE ? "d"
                                                    : pivot_action_to_string(a));
                strncat(out, word, size - strlen(out) - 1);
                if (a == PIVOT_ACTION_CREATE || a == PIVOT_ACTION_DELETE) {
                        snprintf(word, sizeof(word), "%u", g);
                        strncat(out, word, size - strlen(out) - 1);
                }
                if (a == PIVOT_ACTION_AUDIT)
                        return;
                pivot_action_phases(a, &begin, &end);
                phase = end;
                group = g;
        }
        fail_msg("the walk did not end");
}

static void test_pivot_journal_next_whole_pivot(void **state) {
        char out[256];
        (void) state;

        walk(PIVOT_PHASE_PLANNED, 0, 3, out, sizeof(out));
        assert_string_equal(out, "pause wait c0 c1 c2 d2 d1 d0 unpause audit");
        walk(PIVOT_PHASE_PLANNED, 0, 1, out, sizeof(out));
        assert_string_equal(out, "pause wait c0 d0 unpause audit");
}

static void test_pivot_journal_next_resumes_interrupted_action(void **state) {
        char out[256];
        (void) state;

        /* killed after journaling the start of an action: that action again */
        walk(PIVOT_PHASE_PAUSING, 0, 2, out, sizeof(out));
        assert_string_equal(out, "pause wait c0 c1 d1 d0 unpause audit");
        walk(PIVOT_PHASE_CREATING, 1, 3, out, sizeof(out));
        assert_string_equal(out, "c1 c2 d2 d1 d0 unpause audit");
        walk(PIVOT_PHASE_DELETING, 0, 3, out, sizeof(out));
        assert_string_equal(out, "d0 unpause audit");
        walk(PIVOT_PHASE_UNPAUSING, 0, 3, out, sizeof(out));
        assert_string_equal(out, "unpause audit");
        /* killed after journaling its end: the next one */
        walk(PIVOT_PHASE_CREATED, 2, 3, out, sizeof(out));
        assert_string_equal(out, "d2 d1 d0 unpause audit");
        walk(PIVOT_PHASE_DELETED, 0, 3, out, sizeof(out));
        assert_string_equal(out, "unpause audit");
        walk(PIVOT_PHASE_DONE, 0, 3, out, sizeof(out));
        assert_string_equal(out, "audit");
}

static void test_pivot_journal_next_every_phase_has_a_step(void **state) {
        (void) state;
        for (int p = 0; p < _PIVOT_PHASE_MAX; p++)
                for (unsigned g = 0; g < 3; g++) {
                        PivotAction a;
                        unsigned ng;
                        assert_int_equal(pivot_journal_next((PivotPhase) p, g, 3, &a, &ng), 0);
                        assert_true(ng < 3);
                        assert_non_null(pivot_phase_to_string((PivotPhase) p));
                        assert_int_equal(pivot_phase_from_string(pivot_phase_to_string((PivotPhase) p)), p);
                }
}

static void test_pivot_journal_next_invalid(void **state) {
        PivotAction a;
        unsigned g;
        (void) state;

        assert_int_equal(pivot_journal_next(PIVOT_PHASE_CREATED, 3, 3, &a, &g), -EINVAL);
        assert_int_equal(pivot_journal_next(PIVOT_PHASE_PLANNED, 0, 0, &a, &g), -EINVAL);
        assert_int_equal(pivot_journal_next(_PIVOT_PHASE_INVALID, 0, 1, &a, &g), -EINVAL);
        assert_int_equal(pivot_journal_next(_PIVOT_PHASE_MAX, 0, 1, &a, &g), -EINVAL);
        assert_int_equal(pivot_phase_from_string("creeping"), _PIVOT_PHASE_INVALID);
        assert_int_equal(pivot_phase_from_string(NULL), _PIVOT_PHASE_INVALID);
        assert_null(pivot_phase_to_string(_PIVOT_PHASE_MAX));
}

static PivotJournal *fleet_journal(void) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        PivotPlan *plan = NULL;
        PivotJournal *j = NULL;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &plan, NULL), 0);
        assert_int_equal(pivot_journal_new("https://127.0.0.1:1", "https://127.0.0.1:2", "ns", plan, &j), 0);
        return j;
}

static void test_pivot_journal_roundtrip(void **state) {
        _cleanup_(pivot_journal_freep) PivotJournal *j = fleet_journal(), *back = NULL;
        json_auto_t *doc = NULL, *doc2 = NULL;
        (void) state;

        j->phase = PIVOT_PHASE_CREATED;
        j->group = 1;
        j->steps = 9;
        j->plan->v[0].target_uid = strdup("target-uid-0");
        doc = pivot_journal_to_json(j);
        assert_non_null(doc);
        assert_int_equal(pivot_journal_parse(doc, &back, NULL), 0);
        assert_string_equal(back->source, "https://127.0.0.1:1");
        assert_string_equal(back->target, "https://127.0.0.1:2");
        assert_string_equal(back->namespace, "ns");
        assert_int_equal(back->phase, PIVOT_PHASE_CREATED);
        assert_int_equal(back->group, 1);
        assert_int_equal(back->steps, 9);
        assert_string_equal(back->plan->v[0].target_uid, "target-uid-0");
        doc2 = pivot_journal_to_json(back);
        assert_true(json_equal(doc, doc2));
}

/* A journal written by version 1 (the plan as objects) still resumes. */
static void test_pivot_journal_parse_version1(void **state) {
        _cleanup_(pivot_journal_freep) PivotJournal *j = fleet_journal(), *back = NULL;
        json_auto_t *doc = NULL, *v2 = NULL;
        (void) state;

        j->plan->v[1].target_uid = strdup("target-uid-1");
        doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "version", 1, "source", j->source, "target",
                        j->target, "namespace", j->namespace, "phase", "creating", "group", 1, "steps", 4, "objects",
                        pivot_plan_to_json(j->plan));
        assert_non_null(doc);
        assert_int_equal(pivot_journal_parse(doc, &back, NULL), 0);
        assert_int_equal(back->phase, PIVOT_PHASE_CREATING);
        assert_int_equal(back->plan->n, j->plan->n);
        assert_string_equal(back->plan->v[1].target_uid, "target-uid-1");
        for (size_t i = 0; i < j->plan->n; i++) {
                assert_string_equal(back->plan->v[i].uid, j->plan->v[i].uid);
                assert_string_equal(back->plan->v[i].kind, j->plan->v[i].kind);
                assert_int_equal(back->plan->v[i].n_owners, j->plan->v[i].n_owners);
        }
        /* written back as version 2, which is smaller */
        v2 = pivot_journal_to_json(back);
        assert_int_equal(json_integer_value(json_object_get(v2, "version")), 2);
        {
                _cleanup_free_ char *a = json_dumps(doc, JSON_COMPACT), *b = json_dumps(v2, JSON_COMPACT);
                assert_true(strlen(b) * 2 < strlen(a));
        }
}

/* Each case edits one field of a valid document. */
static void test_pivot_journal_parse_refusals(void **state) {
        static const struct {
                const char *field, *value; /* value as JSON; NULL: remove the field */
                int r;
                const char *needle;
        } cases[] = {
                { "version", "3", -EPROTONOSUPPORT, "newer" },
                { "version", "0", -EBADMSG, "version" },
                { "version", NULL, -EBADMSG, "version" },
                { "source", "\"\"", -EBADMSG, "source" },
                { "target", "7", -EBADMSG, "target" },
                { "namespace", "\"a/b\"", -EBADMSG, "namespace" },
                { "phase", "\"exploded\"", -EBADMSG, "phase" },
                { "group", "4", -EBADMSG, "group" },
                { "group", "-1", -EBADMSG, "group" },
                { "steps", "\"x\"", -EBADMSG, "steps" },
                { "objects", "[]", -EBADMSG, "objects" },
                { "types", NULL, -EBADMSG, "types" },
                { "types", "[[\"v1\"]]", -EBADMSG, "type 0" },
                { "namespaces", "[]", -EBADMSG, "namespace 0" },
                { "objects", "[[\"u\", 0, 0, \"n\", 0, 0, []]]", -EBADMSG, "8 fields" },
                { "objects", "[[\"u\", 9, 0, \"n\", 0, 0, [], null]]", -EBADMSG, "type 9" },
                { "objects", "[[\"u\", 0, -2, \"n\", 0, 0, [], null]]", -EBADMSG, "namespace -2" },
                { "objects", "[[\"u\", 0, 0, \"n\", 0, 4, [], null]]", -EBADMSG, "flags" },
                { "objects", "[[\"u\", 0, 0, \"n\", 0, 0, [0], null]]", -EBADMSG, "pairs" },
                { "objects", "[[\"u\", 0, 0, \"n\", 1, 0, [0, 5], null]]", -EBADMSG, "owners[0]" },
                { "objects", "[[\"u\", 0, 0, \"a/b\", 0, 0, [], null]]", -EBADMSG, "name" },
        };
        _cleanup_(pivot_journal_freep) PivotJournal *j = fleet_journal();
        (void) state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_auto_t *doc = pivot_journal_to_json(j);
                _cleanup_free_ char *err = NULL;
                PivotJournal *out = NULL;

                assert_non_null(doc);
                if (cases[i].value)
                        json_object_set_new(doc, cases[i].field, json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
                else
                        json_object_del(doc, cases[i].field);
                assert_int_equal(pivot_journal_parse(doc, &out, &err), cases[i].r);
                assert_null(out);
                if (!err || !strstr(err, cases[i].needle))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err ? err : "(null)", cases[i].needle);
        }
        {
                json_auto_t *arr = json_array();
                PivotJournal *out = NULL;
                assert_int_equal(pivot_journal_parse(arr, &out, NULL), -EBADMSG);
        }
}

static void test_pivot_action_phases(void **state) {
        PivotPhase b, e;
        (void) state;

        pivot_action_phases(PIVOT_ACTION_CREATE, &b, &e);
        assert_int_equal(b, PIVOT_PHASE_CREATING);
        assert_int_equal(e, PIVOT_PHASE_CREATED);
        pivot_action_phases(PIVOT_ACTION_AUDIT, &b, &e);
        assert_int_equal(b, _PIVOT_PHASE_INVALID); /* the audit changes nothing: no "before" */
        assert_int_equal(e, PIVOT_PHASE_DONE);
        pivot_action_phases(_PIVOT_ACTION_MAX, &b, &e);
        assert_int_equal(e, _PIVOT_PHASE_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pivot_journal_next_whole_pivot),
                cmocka_unit_test(test_pivot_journal_next_resumes_interrupted_action),
                cmocka_unit_test(test_pivot_journal_next_every_phase_has_a_step),
                cmocka_unit_test(test_pivot_journal_next_invalid),
                cmocka_unit_test(test_pivot_journal_roundtrip),
                cmocka_unit_test(test_pivot_journal_parse_refusals),
                cmocka_unit_test(test_pivot_journal_parse_version1),
                cmocka_unit_test(test_pivot_action_phases),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
