/* `strata bmc ...`: drive BMCs listed in a spec's inventory over Redfish,
 * directly from this host (agent/bmc, its own event loop; not through
 * stratad). Several machines run concurrently. Exit codes: 0 every machine
 * done, 1 a BMC refused or failed, 2 usage or spec errors, 3 local fault. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/bmc.h"
#include "core/cleanup.h"
#include "core/spec.h"
#include "strata.h"

#define BMC_CLI_MACHINES_MAX 256u
#define BMC_CLI_TIMEOUT_MAX_SEC 3600u

enum {
        BMC_EXIT_OK = 0,
        BMC_EXIT_FAILED = 1,
        BMC_EXIT_USAGE = 2,
        BMC_EXIT_FAULT = 3,
};

static const struct {
        const char *word, *sub; /* "power" "cycle"; sub NULL for one word */
        BmcOp op;
} bmc_actions[] = {
        { "status", NULL, BMC_OP_STATUS },
        { "power", "on", BMC_OP_POWER_ON },
        { "power", "off", BMC_OP_POWER_OFF },
        { "power", "cycle", BMC_OP_POWER_CYCLE },
        { "pxe-once", NULL, BMC_OP_PXE_ONCE },
        { "http-boot-once", NULL, BMC_OP_HTTP_BOOT_ONCE },
        { "insert-media", NULL, BMC_OP_INSERT_MEDIA },
        { "eject-media", NULL, BMC_OP_EJECT_MEDIA },
};

static void usage(FILE *f) {
        fprintf(f,
                "usage: strata bmc status MACHINE... --spec FILE [--json]\n"
                "       strata bmc power on|off|cycle MACHINE... --spec FILE [--json]\n"
                "       strata bmc pxe-once MACHINE... --spec FILE [--now] [--json]\n"
                "       strata bmc http-boot-once URL MACHINE... --spec FILE [--now] [--json]\n"
                "       strata bmc insert-media URL MACHINE... --spec FILE [--json]\n"
                "       strata bmc eject-media MACHINE... --spec FILE [--json]\n"
                "options:\n"
                "  --spec FILE      the fleet spec whose inventory lists the BMCs (required)\n"
                "  --now            after setting the boot override, restart into it\n"
                "                   (ForceRestart when on, On when off)\n"
                "  --timeout SEC    per HTTP request (default %u)\n"
                "  --json           one JSON object per machine, in an array\n"
                "exit: 0 done, 1 a BMC refused or failed, 2 usage or spec error, 3 local fault\n",
                (unsigned) (BMC_REQUEST_TIMEOUT_USEC / 1000000u));
}

static const char *or_dash(const char *s) {
        return s && *s ? s : "-";
}

static void print_status(const BmcInventory *inv, const BmcOutcome *o) {
        const BmcMachine *m = bmc_inventory_find(inv, o->machine);
        const BmcStatus *s = &o->result.status;

        printf("%-10s %s\n", "MACHINE", o->machine);
        printf("%-10s %s (%s, quirks %s)\n", "BMC", m ? m->endpoint : "-", or_dash(s->auth), or_dash(s->quirks));
        printf("%-10s %s %s, Redfish %s\n", "SERVICE", or_dash(s->vendor), s->product ? s->product : "",
               or_dash(s->redfish_version));
        printf("%-10s %s (by %s)\n", "SYSTEM", or_dash(s->system), or_dash(s->matched_by));
        printf("%-10s %s %s\n", "MODEL", or_dash(s->manufacturer), s->model ? s->model : "");
        printf("%-10s %s\n", "SERIAL", or_dash(s->serial));
        printf("%-10s %s\n", "UUID", or_dash(s->uuid));
        printf("%-10s %s\n", "POWER", or_dash(s->power_state));
        printf("%-10s %s (%s)%s%s%s\n", "BOOT", or_dash(s->boot_target), or_dash(s->boot_enabled),
               s->boot_mode ? ", mode " : "", s->boot_mode ? s->boot_mode : "",
               s->boot_pending ? ", change pending until the next reset" : "");
        if (s->http_boot_uri && *s->http_boot_uri)
                printf("%-10s %s\n", "HTTPBOOT", s->http_boot_uri);
        if (s->media_slot)
                printf("%-10s %s (%s)\n", "MEDIA", s->media_inserted ? or_dash(s->media_image) : "(empty)",
                       s->media_slot);
        else
                printf("%-10s (no virtual media)\n", "MEDIA");
}

static int print_json(const BmcInventory *inv, const BmcOutcome *outs, size_t n) {
        json_auto_t *a = json_array();
        _cleanup_free_ char *s = NULL;

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(a, bmc_outcome_to_json(inv, &outs[i])) < 0)
                        return -ENOMEM;
        s = json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!s)
                return -ENOMEM;
        printf("%s\n", s);
        return 0;
}

static int exit_code(const BmcOutcome *outs, size_t n) {
        int code = BMC_EXIT_OK;
        for (size_t i = 0; i < n; i++) {
                if (outs[i].r == -ENOMEM)
                        return BMC_EXIT_FAULT;
                if (outs[i].r < 0)
                        code = BMC_EXIT_FAILED;
        }
        return code;
}

typedef struct BmcCliOptions {
        const char *spec;
        bool now;
        BmcOptions bmc;
} BmcCliOptions;

static const struct option bmc_options[] = {
        { "spec", required_argument, NULL, 's' },
        { "now", no_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        {}
};

/* Options before and after the action: 0, 1 for --help, or -EINVAL. */
static int parse_options(int argc, char **argv, const char *optstring, BmcCliOptions *o) {
        int c;

        /* 0, not 1: glibc then forgets the previous scan's state (the
         * caller's and ours, with different optstrings) */
        optind = 0;
        while ((c = getopt_long(argc, argv, optstring, bmc_options, NULL)) >= 0) {
                char *end;
                unsigned long v;

                switch (c) {
                case 's': o->spec = optarg; break;
                case 'n': o->now = true; break;
                case 't':
                        v = strtoul(optarg, &end, 10);
                        if (*end || v == 0 || v > BMC_CLI_TIMEOUT_MAX_SEC) {
                                fprintf(stderr, "strata: bmc: --timeout: 1 to %u seconds\n", BMC_CLI_TIMEOUT_MAX_SEC);
                                return -EINVAL;
                        }
                        o->bmc.request_timeout_usec = (uint64_t) v * 1000000u;
                        break;
                case 'h': return 1;
                default: return -EINVAL;
                }
        }
        return 0;
}

int cmd_bmc(const CliContext *ctx, int argc, char **argv) {
        _cleanup_(bmc_inventory_freep) BmcInventory *inv = NULL;
        _cleanup_free_ BmcOutcome *outs = NULL;
        _cleanup_free_ char *err = NULL;
        SpecErrors errors = {};
        BmcCliOptions cli = {};
        const char *url = NULL;
        const char *const *machines;
        int r, first, n, code;
        BmcOp op = _BMC_OP_INVALID;
        Spec *spec = NULL;

        r = parse_options(argc, argv, "+h", &cli);
        if (r != 0) {
                usage(r > 0 ? stdout : stderr);
                return r > 0 ? BMC_EXIT_OK : BMC_EXIT_USAGE;
        }
        /* getopt stops at the action; options may also follow it */
        first = optind;
        for (size_t i = 0; first < argc && i < ELEMENTSOF(bmc_actions); i++) {
                if (strcmp(argv[first], bmc_actions[i].word) != 0)
                        continue;
                if (bmc_actions[i].sub && (first + 1 >= argc || strcmp(argv[first + 1], bmc_actions[i].sub) != 0))
                        continue;
                op = bmc_actions[i].op;
                first += bmc_actions[i].sub ? 2 : 1;
                break;
        }
        if (op < 0) {
                fprintf(stderr, "strata: bmc: unknown or missing action%s%s\n", first < argc ? " " : "",
                        first < argc ? argv[first] : "");
                usage(stderr);
                return BMC_EXIT_USAGE;
        }
        argv[first - 1] = argv[0];
        argc -= first - 1;
        argv += first - 1;
        r = parse_options(argc, argv, "h", &cli);
        if (r != 0) {
                if (r > 0)
                        usage(stdout);
                else
                        fprintf(stderr, "strata: bmc: see strata bmc --help\n");
                return r > 0 ? BMC_EXIT_OK : BMC_EXIT_USAGE;
        }
        if (bmc_op_needs_url(op)) {
                if (optind >= argc) {
                        fprintf(stderr, "strata: bmc: %s needs a URL\n", bmc_op_to_string(op));
                        return BMC_EXIT_USAGE;
                }
                url = argv[optind++];
                if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
                        fprintf(stderr, "strata: bmc: %s: the URL must be http:// or https://\n", bmc_op_to_string(op));
                        return BMC_EXIT_USAGE;
                }
        }
        n = argc - optind;
        if (n <= 0 || (unsigned) n > BMC_CLI_MACHINES_MAX || !cli.spec) {
                fprintf(stderr, "strata: bmc: %s (see strata bmc --help)\n",
                        !cli.spec ? "--spec FILE is required" : "name 1 to 256 machines");
                return BMC_EXIT_USAGE;
        }
        if (cli.now && op != BMC_OP_PXE_ONCE && op != BMC_OP_HTTP_BOOT_ONCE) {
                fprintf(stderr, "strata: bmc: --now goes with pxe-once and http-boot-once\n");
                return BMC_EXIT_USAGE;
        }
        machines = (const char *const *) argv + optind;

        r = spec_load_file(cli.spec, &spec, &errors);
        if (r < 0) {
                if (errors.n_items > 0)
                        spec_errors_print(stderr, cli.spec, &errors);
                else
                        fprintf(stderr, "strata: bmc: %s: %s\n", cli.spec, strerror(-r));
                spec_errors_clear(&errors);
                return BMC_EXIT_USAGE;
        }
        r = bmc_inventory_from_spec(spec, &inv, &err);
        spec_free(spec);
        if (r < 0) {
                fprintf(stderr, "strata: bmc: %s: %s\n", cli.spec, err ? err : strerror(-r));
                return r == -ENOMEM ? BMC_EXIT_FAULT : BMC_EXIT_USAGE;
        }

        for (int i = 0; i < n; i++)
                if (!bmc_inventory_find(inv, machines[i])) {
                        fprintf(stderr, "strata: bmc: %s: not a machine in %s's inventory\n", machines[i], cli.spec);
                        return BMC_EXIT_USAGE;
                }
        outs = calloc((size_t) n, sizeof(*outs));
        if (!outs)
                return BMC_EXIT_FAULT;
        r = bmc_run(inv, machines, (size_t) n, op, url, &cli.bmc, outs);
        if (r < 0) {
                fprintf(stderr, "strata: bmc: cannot run: %s\n", strerror(-r));
                return BMC_EXIT_FAULT;
        }
        /* --now: restart into the override, where setting it worked */
        if (cli.now) {
                for (int i = 0; i < n; i++) {
                        BmcOutcome again = {};
                        _cleanup_free_ char *summary = NULL;
                        if (outs[i].r < 0)
                                continue;
                        r = bmc_run(inv, &machines[i], 1, BMC_OP_BOOT_NOW, NULL, &cli.bmc, &again);
                        if (r < 0) {
                                fprintf(stderr, "strata: bmc: cannot run: %s\n", strerror(-r));
                                return BMC_EXIT_FAULT;
                        }
                        if (asprintf(&summary, "%s; %s", or_dash(outs[i].result.summary),
                                     again.r < 0 ? "restart failed" : or_dash(again.result.summary)) < 0)
                                summary = NULL;
                        outs[i].r = again.r;
                        free(outs[i].error);
                        outs[i].error = take_ptr(again.error);
                        free(outs[i].result.summary);
                        outs[i].result.summary = take_ptr(summary);
                        bmc_outcome_done(&again);
                }
        }

        if (ctx->json) {
                if (print_json(inv, outs, (size_t) n) < 0)
                        return BMC_EXIT_FAULT;
        } else
                for (int i = 0; i < n; i++) {
                        if (outs[i].r < 0)
                                continue;
                        if (op == BMC_OP_STATUS) {
                                if (i > 0)
                                        printf("\n");
                                print_status(inv, &outs[i]);
                        } else
                                printf("%s: %s: %s\n", outs[i].machine, bmc_op_to_string(op),
                                       or_dash(outs[i].result.summary));
                }
        for (int i = 0; i < n; i++)
                if (outs[i].r < 0)
                        fprintf(stderr, "strata: bmc: %s\n", outs[i].error ? outs[i].error : strerror(-outs[i].r));
        code = exit_code(outs, (size_t) n);
        for (int i = 0; i < n; i++)
                bmc_outcome_done(&outs[i]);
        return code;
}
