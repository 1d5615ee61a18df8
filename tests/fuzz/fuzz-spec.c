/* Fuzz target for spec_parse() (agent/core/spec.c): the input is a whole
 * spec file. Beyond "no crash, no leak", it checks what callers rely on: a
 * refusal always explains itself (-EINVAL with at least one error), every
 * error has a "$" path and a printable-ASCII message (they reach
 * terminals and the journal), and an accepted spec re-parses from its
 * canonical text to the same digest. Seeds in tests/fuzz/fuzz-spec/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/spec.h"

static bool printable(const char *s) {
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        return false;
        return true;
}

static void check_errors(const SpecErrors *e) {
        _cleanup_free_ char *out = NULL;
        size_t out_size = 0;
        FILE *f;

        for (size_t i = 0; i < e->n_items; i++)
                if (e->items[i].path[0] != '$' || !printable(e->items[i].path) ||
                    !e->items[i].message[0] || !printable(e->items[i].message))
                        abort();
        f = open_memstream(&out, &out_size);
        if (!f)
                return;
        spec_errors_print(f, "fuzz", e);
        fclose(f);
}

static void check_round_trip(const Spec *spec) {
        _cleanup_free_ char *canonical = json_dumps(spec_json(spec), JSON_SORT_KEYS | JSON_COMPACT);
        Spec *again = NULL;

        if (!canonical)
                return;
        if (spec_parse(canonical, strlen(canonical), NULL, &again, NULL) < 0)
                abort();
        if (strcmp(spec_digest(spec), spec_digest(again)) != 0)
                abort();
        spec_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SpecErrors errors = {};
        Spec *spec = NULL;
        int r;

        r = spec_parse(data, size, "fuzz", &spec, &errors);
        if (r == 0) {
                if (!spec || errors.n_items > 0 || !spec_fleet(spec) || strlen(spec_digest(spec)) != 7 + 64)
                        abort();
                check_round_trip(spec);
        } else {
                if (spec)
                        abort();
                if ((r == -EINVAL || r == -E2BIG) && errors.n_items == 0)
                        abort();
                check_errors(&errors);
        }
        spec_free(spec);
        spec_errors_clear(&errors);
        return 0;
}
