/* spec_check_report(): the spec verdict the two commands print (see spec-check.h). */
#include "core/spec-check.h"

#include <stdlib.h>
#include <string.h>

#include "core/spec.h"

int spec_check_report(const char *path, FILE *out, FILE *err) {
        SpecErrors errors = { 0 };
        Spec *spec = NULL;
        int r;

        r = spec_load_file(path, &spec, &errors);
        if (r < 0) {
                if (errors.n_items > 0)
                        spec_errors_print(err, path, &errors);
                else
                        fprintf(err, "%s: %s\n", path, strerror(-r));
                fprintf(err, "%s: invalid spec (%zu error%s)\n", path,
                        errors.n_items ? errors.n_items : 1, errors.n_items > 1 ? "s" : "");
                spec_errors_clear(&errors);
                return EXIT_FAILURE;
        }
        fprintf(out, "%s: valid (fleet %s, %zu machines, %s)\n", path, spec_fleet(spec),
                spec_n_machines(spec), spec_digest(spec));
        spec_free(spec);
        return EXIT_SUCCESS;
}
