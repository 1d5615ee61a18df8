/* `strata pivot --from KUBECONFIG --to KUBECONFIG`: moves the Cluster API
 * objects of a namespace from one cluster to another (agent/cluster/pivot.c)
 * directly from this host, journaled under --state-dir so that running the
 * same command again after an interruption resumes it. --dry-run prints
 * the object graph and the plan and changes nothing. Exit codes: 0 done,
 * 1 the pivot failed (one line on stderr says where and why), 2 usage,
 * 3 local fault. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "cluster/kube-client.h"
#include "cluster/kubeconfig.h"
#include "cluster/pivot.h"
#include "core/cleanup.h"
#include "core/manager.h"
#include "core/state-store.h"
#include "kube-conn.h"
#include "strata.h"

#define PIVOT_CLI_STATE_DIR MANAGER_DEFAULT_STATE_DIR "/pivot"
#define PIVOT_CLI_TIMEOUT_MAX_SEC (7u * 24u * 3600u)
/* The test hook's variable (see on_step). */
#define PIVOT_CRASH_ENV "STRATA_PIVOT_CRASH_AFTER"

enum {
        PIVOT_EXIT_OK = 0,
        PIVOT_EXIT_FAILED = 1,
        PIVOT_EXIT_USAGE = 2,
        PIVOT_EXIT_FAULT = 3,
};

typedef struct PivotCli {
        const char *from, *to, *namespace, *state_dir;
        bool dry_run, insecure, json;
        uint64_t block_move_timeout;
        unsigned crash_after; /* 0: off */
} PivotCli;

static void usage(FILE *f) {
        fprintf(f,
                "usage: strata pivot --from KUBECONFIG --to KUBECONFIG [--namespace NS] [--dry-run]\n"
                "                    [--state-dir DIR] [--block-move-timeout SEC] [--json]\n"
                "Moves the Cluster API objects of NS (default: the source kubeconfig's namespace)\n"
                "from the cluster of --from to the cluster of --to, as clusterctl move does:\n"
                "provider check, discovery, pause, block-move wait, create in the target in owner\n"
                "order, delete from the source, unpause in the target, then an audit.\n"
                "  --dry-run                print the object graph and the plan; change nothing\n"
                "  --state-dir DIR          the journal (default %s); after an\n"
                "                           interruption, the same command resumes from it\n"
                "  --block-move-timeout SEC one deadline for every block-move annotation (default %llu)\n"
                "  --insecure-skip-tls-verify  accept kubeconfigs that turn TLS verification off\n"
                "  --json                   the plan (dry run) or the report as JSON on stdout\n"
                "exit: 0 done, 1 failed, 2 usage, 3 local fault\n",
                PIVOT_CLI_STATE_DIR, (unsigned long long) (PIVOT_BLOCK_MOVE_TIMEOUT_USEC / 1000000u));
}

static void on_progress(const char *line, void *userdata) {
        const PivotCli *cli = userdata;
        /* with --json, stdout carries only the document */
        fprintf(cli->json ? stderr : stdout, "pivot: %s\n", line);
        fflush(cli->json ? stderr : stdout);
}

/* TEST HOOK: with STRATA_PIVOT_CRASH_AFTER=N in the environment, the
 * process ends abruptly (as a crash or a kill would, no clean-up) right
 * after the journal's Nth save in this run. The system tests use it to
 * interrupt a pivot at every step and check that a rerun resumes. Read
 * here, never by the library. */
static int on_step(unsigned step, const char *phase, void *userdata) {
        const PivotCli *cli = userdata;
        if (cli->crash_after != 0 && step == cli->crash_after) {
                fprintf(stderr, "pivot: %s=%u: exiting after step %u (%s)\n", PIVOT_CRASH_ENV, cli->crash_after, step,
                        phase);
                fflush(NULL);
                _exit(137);
        }
        return 0;
}

/* Each side its own connection and loop: the sync calls run one client at
 * a time. */
static int side_open(const PivotCli *cli, const char *option, const char *path, KubeConn *ret) {
        KubeConfigOptions kopts = { .allow_insecure = cli->insecure };
        char who[32];

        snprintf(who, sizeof(who), "pivot: %s", option);
        if (kube_conn_open(who, path, &kopts, &(KubeClientOptions) {}, ret) < 0)
                return ret->fault ? PIVOT_EXIT_FAULT : PIVOT_EXIT_FAILED;
        return PIVOT_EXIT_OK;
}

static int print_json(json_t *j) {
        _cleanup_free_ char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!s)
                return PIVOT_EXIT_FAULT;
        printf("%s\n", s);
        return PIVOT_EXIT_OK;
}

/* {"source": {"list": 12, ...}, "target": {...}, "total": N}: verbs with
 * no request are left out. */
static json_t *requests_json(const PivotReport *rep) {
        json_auto_t *o = json_object();

        if (!o)
                return NULL;
        for (int s = 0; s < _PIVOT_SIDE_MAX; s++) {
                json_t *side = json_object();
                if (!side || json_object_set_new(o, pivot_side_to_string(s), side) < 0)
                        return NULL;
                for (int v = 0; v < _KUBE_VERB_MAX; v++) {
                        /* both patch verbs are "patch" */
                        json_int_t n = (json_int_t) rep->requests[s][v] +
                                       json_integer_value(json_object_get(side, kube_verb_to_string(v)));
                        if (n > 0 && json_object_set_new(side, kube_verb_to_string(v), json_integer(n)) < 0)
                                return NULL;
                }
        }
        if (json_object_set_new(o, "total", json_integer((json_int_t) pivot_report_requests(rep))) < 0)
                return NULL;
        return take_ptr(o);
}

static json_t *report_json(const PivotReport *rep, int r, const char *error) {
        return json_pack("{s:b, s:s?, s:b, s:s?, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o*, s:o*}", "ok", r >= 0, "error",
                         error, "resumed", rep->resumed, "resumedFrom",
                         rep->resumed ? pivot_phase_to_string(rep->resumed_from) : NULL, "steps", (int) rep->steps,
                         "created", (json_int_t) rep->created, "updated", (json_int_t) rep->updated, "statusCopied",
                         (json_int_t) rep->status_copied, "marked", (json_int_t) rep->marked, "deleted",
                         (json_int_t) rep->deleted, "finalizersCleared", (json_int_t) rep->finalizers_cleared,
                         "requests", requests_json(rep), "plan", rep->plan ? pivot_plan_to_json(rep->plan) : NULL);
}

static int run(PivotCli *cli) {
        _cleanup_(state_store_freep) StateStore *store = NULL;
        _cleanup_free_ char *err = NULL;
        KubeConn from = {}, to = {};
        PivotReport rep = {};
        PivotOptions opts = { .namespace = cli->namespace, .dry_run = cli->dry_run,
                              .block_move_timeout_usec = cli->block_move_timeout, .progress = on_progress,
                              .step_hook = on_step, .userdata = cli };
        int r, code;

        code = side_open(cli, "--from", cli->from, &from);
        if (code == PIVOT_EXIT_OK)
                code = side_open(cli, "--to", cli->to, &to);
        if (code != PIVOT_EXIT_OK)
                goto out;
        if (!cli->dry_run) {
                r = state_store_open(cli->state_dir, &store);
                if (r < 0) {
                        fprintf(stderr, "strata: pivot: --state-dir %s: %s\n", cli->state_dir,
                                r == -EBUSY ? "in use by another process (a pivot or stratad)" : strerror(-r));
                        code = PIVOT_EXIT_FAILED;
                        goto out;
                }
        }
        r = pivot_run(from.client, to.client, store, &opts, &rep, &err);
        if (cli->dry_run && rep.graph) {
                if (cli->json) {
                        json_t *doc = json_pack("{s:o, s:o*, s:s?}", "graph", pivot_graph_to_json(rep.graph), "plan",
                                                rep.plan ? pivot_plan_to_json(rep.plan) : NULL, "error", err);
                        code = print_json(doc);
                } else {
                        pivot_graph_print(rep.graph, stdout);
                        if (rep.plan)
                                pivot_plan_print(rep.plan, stdout);
                        printf("dry run: nothing was changed\n");
                }
        } else if (cli->json)
                code = print_json(report_json(&rep, r, err));
        if (r < 0) {
                fprintf(stderr, "strata: pivot: %s\n", err ? err : strerror(-r));
                code = r == -ENOMEM ? PIVOT_EXIT_FAULT : PIVOT_EXIT_FAILED;
        } else if (!cli->dry_run && !cli->json) {
                size_t n = rep.plan ? rep.plan->n : 0;
                printf("pivot: done: %zu objects moved (created %zu, updated %zu, status copied %zu, marked %zu, "
                       "deleted %zu, finalizers cleared %zu)%s\n",
                       n, rep.created, rep.updated, rep.status_copied, rep.marked, rep.deleted,
                       rep.finalizers_cleared, rep.resumed ? ", resumed from the journal" : "");
                printf("pivot: %zu API requests (%.2f per object):", pivot_report_requests(&rep),
                       n ? (double) pivot_report_requests(&rep) / (double) n : 0.0);
                for (int s = 0; s < _PIVOT_SIDE_MAX; s++)
                        for (int v = 0; v < _KUBE_VERB_MAX; v++)
                                if (rep.requests[s][v] > 0)
                                        printf(" %s %s %zu", pivot_side_to_string(s), kube_verb_to_string(v),
                                               rep.requests[s][v]);
                printf("\n");
        }
out:
        pivot_report_done(&rep);
        kube_conn_close(&from);
        kube_conn_close(&to);
        return code;
}

int cmd_pivot(const CliContext *ctx, int argc, char **argv) {
        enum { ARG_FROM = 0x100, ARG_TO, ARG_STATE_DIR, ARG_TIMEOUT, ARG_DRY_RUN, ARG_INSECURE };
        static const struct option options[] = {
                { "from", required_argument, NULL, ARG_FROM },
                { "to", required_argument, NULL, ARG_TO },
                { "namespace", required_argument, NULL, 'n' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "block-move-timeout", required_argument, NULL, ARG_TIMEOUT },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "insecure-skip-tls-verify", no_argument, NULL, ARG_INSECURE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        PivotCli cli = { .state_dir = PIVOT_CLI_STATE_DIR, .json = ctx->json };
        const char *crash = getenv(PIVOT_CRASH_ENV);
        unsigned long v;
        char *end;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_FROM: cli.from = optarg; break;
                case ARG_TO: cli.to = optarg; break;
                case 'n': cli.namespace = optarg; break;
                case ARG_STATE_DIR: cli.state_dir = optarg; break;
                case ARG_DRY_RUN: cli.dry_run = true; break;
                case ARG_INSECURE: cli.insecure = true; break;
                case ARG_TIMEOUT:
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || v == 0 || v > PIVOT_CLI_TIMEOUT_MAX_SEC) {
                                fprintf(stderr, "strata: pivot: --block-move-timeout: seconds, 1 to %u\n",
                                        PIVOT_CLI_TIMEOUT_MAX_SEC);
                                return PIVOT_EXIT_USAGE;
                        }
                        cli.block_move_timeout = (uint64_t) v * 1000000u;
                        break;
                case 'h': usage(stdout); return PIVOT_EXIT_OK;
                default: usage(stderr); return PIVOT_EXIT_USAGE;
                }
        }
        if (optind < argc || !cli.from || !cli.to) {
                fprintf(stderr, "strata: pivot: --from and --to are required, and nothing else (see strata pivot -h)\n");
                return PIVOT_EXIT_USAGE;
        }
        if (crash) {
                v = strtoul(crash, &end, 10);
                if (*end || v == 0 || v > 100000) {
                        fprintf(stderr, "strata: pivot: %s: a step number expected\n", PIVOT_CRASH_ENV);
                        return PIVOT_EXIT_USAGE;
                }
                cli.crash_after = (unsigned) v;
        }
        return run(&cli);
}
