/* `strata spec validate FILE...`: the fleet spec checked offline, exactly as stratad checks it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec-check.h"
#include "strata.h"

int cmd_spec(const CliContext *ctx, int argc, char **argv) {
        int ret = EXIT_SUCCESS;

        (void) ctx;
        if (argc < 3 || strcmp(argv[1], "validate") != 0) {
                fprintf(stderr, "usage: strata spec validate FILE...\n");
                return 2;
        }
        for (int i = 2; i < argc; i++)
                if (spec_check_report(argv[i], stdout, stderr) != EXIT_SUCCESS)
                        ret = EXIT_FAILURE;
        return ret;
}
