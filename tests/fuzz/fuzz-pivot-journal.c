/* Fuzz target for the pivot's journal (agent/cluster/pivot-journal.c and
 * pivot_plan_from_json): the input is the document's JSON payload, as
 * state_store_load hands it over after the file's own checks (a random
 * file almost never carries the right SHA-256, so the payload is fuzzed
 * directly). Beyond "no crash, no leak": a document that parses serializes
 * back to one that parses to the same thing, its owner edges point at
 * earlier groups, and the resume table has a next step for its phase.
 * Seeds: tests/fuzz/fuzz-pivot-journal/. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "cluster/pivot-journal.h"
#include "core/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_auto_t *doc = NULL, *again = NULL;
        _cleanup_(pivot_journal_freep) PivotJournal *j = NULL, *back = NULL;
        _cleanup_free_ char *err = NULL;
        PivotAction a;
        unsigned g;

        doc = json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);
        if (!doc)
                return 0;
        if (pivot_journal_parse(doc, &j, &err) < 0)
                return 0;
        for (size_t i = 0; i < j->plan->n; i++)
                for (size_t k = 0; k < j->plan->v[i].n_owners; k++)
                        if (j->plan->v[j->plan->v[i].owners[k].entry].group >= j->plan->v[i].group)
                                abort();
        if (pivot_journal_next(j->phase, j->group, j->plan->n_groups, &a, &g) < 0 || g >= j->plan->n_groups)
                abort();
        again = pivot_journal_to_json(j);
        if (!again)
                return 0;
        if (pivot_journal_parse(again, &back, NULL) < 0)
                abort();
        json_decref(again);
        again = pivot_journal_to_json(back);
        if (again) {
                json_auto_t *first = pivot_journal_to_json(j);
                if (first && !json_equal(first, again))
                        abort();
        }
        return 0;
}
