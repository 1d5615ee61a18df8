/* strata sim: the propagation simulation (issue 8). The orchestrator is a
 * Python 3 program using only the standard library (tools/sim/): building
 * namespaces, starting and stopping a few hundred processes by PID,
 * speaking raw DHCP and HTTP as firmware would, and reading JSON is what
 * Python's standard library does in a page, and none of it runs on a node.
 * This command finds it and execs it with the directory of the binaries
 * (stratad, strata-bmc and this strata, side by side in a build or an
 * install), so `strata sim` is all an operator types. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata.h"

#define SIM_SCRIPT "strata_sim.py"
/* Where `make install` puts tools/sim/ (PREFIX is /usr by default). */
#define SIM_INSTALLED_DIR "/usr/lib/strata/sim"

static void help(void) {
        printf("usage: strata sim --nodes N [--fanout F] [--boot-seconds S] [--keep] [--light]\n"
               "                  [--central] [--outsider] [--kill-seed K] [--halt-after N]\n"
               "                  [--log-dir DIR] [--timeout SEC] [--json]\n"
               "\n"
               "Runs a fleet without QEMU, as root, entirely inside network namespaces it\n"
               "creates (10.233.0.0/16): a seed with its real stratad, N machines whose BMCs\n"
               "(strata-bmc, memory back end) start a simulated firmware and OS at power-on,\n"
               "which boot over the network from the member holding their lease and start\n"
               "their own swtpm and real stratad, join, and provision further machines.\n"
               "Prints a line per change, then the time per generation and to all members;\n"
               "exit 0 only if all N became members. See tools/sim/strata_sim.py --help.\n"
               "\n"
               "  --nodes N           machines to provision besides the seed\n"
               "  --fanout F          provisioning.fanout (default 2)\n"
               "  --boot-seconds S    simulated boot time after Ignition (default 5)\n"
               "  --keep              keep the work directory (state dirs, TPMs, roots)\n"
               "  --light             scale runs only: no measured boot, an EK allowlist\n"
               "                      instead of EK certificates\n"
               "  --central           the central model: only the seed provisions\n"
               "  --outsider          a reachable BMC not in the inventory; a member is told\n"
               "                      to take it, by requests and by forged coordinator replies\n"
               "  --kill-seed K       SIGKILL the seed's stratad up to K times at random moments\n"
               "                      (--kill-seed-rng SEED) and restart it on its state\n"
               "  --halt-after N      strata halt once N are members, strata resume later\n"
               "                      (--halt-hold S)\n"
               "\n"
               "environment: STRATA_SIM_DIR, the directory holding " SIM_SCRIPT "\n");
}

/* The directory of this executable. */
static int self_dir(char *buf, size_t size) {
        char path[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

        if (n < 0)
                return -errno;
        path[n] = '\0';
        if (snprintf(buf, size, "%s", dirname(path)) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

/* $STRATA_SIM_DIR; else tools/sim in the source tree above a build
 * directory (BUILD/strata, BUILD/x/strata); else the installed copy. */
static int find_script(const char *bindir, char *buf, size_t size) {
        const char *env = getenv("STRATA_SIM_DIR");
        static const char *const ups[] = { "/../tools/sim", "/../../tools/sim", "/../../../tools/sim" };

        if (env) {
                snprintf(buf, size, "%s/%s", env, SIM_SCRIPT);
                return access(buf, R_OK) == 0 ? 0 : -ENOENT;
        }
        for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
                snprintf(buf, size, "%s%s/%s", bindir, ups[i], SIM_SCRIPT);
                if (access(buf, R_OK) == 0)
                        return 0;
        }
        snprintf(buf, size, "%s/%s", SIM_INSTALLED_DIR, SIM_SCRIPT);
        return access(buf, R_OK) == 0 ? 0 : -ENOENT;
}

int cmd_sim(const CliContext *ctx, int argc, char **argv) {
        char bindir[PATH_MAX], script[PATH_MAX + 64], bindir_arg[PATH_MAX + 16];
        char **args;
        int n = 0, r;

        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        help();
                        return EXIT_SUCCESS;
                }
        r = self_dir(bindir, sizeof(bindir));
        if (r < 0) {
                fprintf(stderr, "strata sim: cannot tell where this binary is: %s\n", strerror(-r));
                return 3;
        }
        if (find_script(bindir, script, sizeof(script)) < 0) {
                fprintf(stderr,
                        "strata sim: %s not found (set STRATA_SIM_DIR to the tools/sim directory of the source)\n",
                        SIM_SCRIPT);
                return 3;
        }
        snprintf(bindir_arg, sizeof(bindir_arg), "--bindir=%s", bindir);
        args = calloc((size_t) argc + 5, sizeof(char *));
        if (!args) {
                fprintf(stderr, "strata sim: out of memory\n");
                return 3;
        }
        args[n++] = (char *) "python3";
        args[n++] = script;
        args[n++] = bindir_arg;
        if (ctx->json) /* the CLI took --json for itself */
                args[n++] = (char *) "--json";
        for (int i = 1; i < argc; i++)
                args[n++] = argv[i];
        args[n] = NULL;
        execvp(args[0], args);
        fprintf(stderr, "strata sim: cannot run python3: %s\n", strerror(errno));
        free(args);
        return 3;
}
