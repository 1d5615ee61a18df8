/* `strata capi install`: Cluster API installed from a clusterctl local
 * repository (images/capi/build.sh) into the cluster a kubeconfig names,
 * without clusterctl (agent/cluster/capi-install.c), directly from this
 * host. `strata capi fleet`: the fleet's Cluster API objects
 * (agent/cluster/fleet-objects.c) printed, or applied the way stratad
 * keeps them in step. Exit codes: 0 done (installed and the webhooks
 * answer), 1 refused or failed (the reason on stderr), 2 usage, 3 local
 * fault. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "cluster/capi-install.h"
#include "cluster/fleet-objects.h"
#include "cluster/kube-client.h"
#include "cluster/kubeconfig.h"
#include "core/cleanup.h"
#include "core/spec.h"
#include "kube-conn.h"
#include "strata.h"

#define CAPI_CLI_TIMEOUT_MAX_SEC (24u * 3600u)

enum {
        CAPI_EXIT_OK = 0,
        CAPI_EXIT_FAILED = 1,
        CAPI_EXIT_USAGE = 2,
        CAPI_EXIT_FAULT = 3,
};

static void usage(FILE *f) {
        fprintf(f,
                "usage: strata capi install --kubeconfig FILE --repo DIR [--without-cert-manager]\n"
                "                           [--timeout SEC] [--context NAME] [--insecure-skip-tls-verify]\n"
                "  Applies cert-manager (when the repository has it), then the cluster-api core,\n"
                "  k0smotron bootstrap, control-plane and infrastructure providers from the\n"
                "  clusterctl local repository DIR with server-side apply, CRDs first (waited for\n"
                "  until Established), records the clusterctl Provider inventory, and waits until\n"
                "  a dry-run create of a Cluster is admitted (the webhooks answer). Running it\n"
                "  again changes nothing.\n"
                "  --without-cert-manager  install although DIR has no cert-manager: the webhooks\n"
                "                          then need certificates from elsewhere\n"
                "  --timeout SEC           one deadline for everything (default 600)\n"
                "usage: strata capi fleet --spec FILE --members FILE --endpoint HOST[:PORT]\n"
                "                         [--kubeconfig FILE [--paused] | --print]\n"
                "  The fleet as Cluster API objects (Cluster, RemoteCluster, K0sControlPlane,\n"
                "  per member a bootstrap config, RemoteMachine and Machine). --members: a JSON\n"
                "  document with \"members\": [{\"name\", optional \"address\", \"node\"}] (the\n"
                "  coordinator's status): each name once and in the spec's inventory, address an\n"
                "  IP address or DNS name (default: the name), node a Kubernetes Node name.\n"
                "  --print writes them as JSON; with --kubeconfig they are applied (server-side\n"
                "  apply) and Machines of members no longer listed are named, never deleted.\n"
                "  --paused: all but the Cluster carry cluster.x-k8s.io/paused.\n"
                "exit: 0 done, 1 refused or failed, 2 usage, 3 local fault\n");
}

static void print_step(const char *step, void *userdata) {
        (void) userdata;
        fprintf(stderr, "strata: capi: %s\n", step);
}

static int do_install(int argc, char **argv) {
        enum { ARG_KUBECONFIG = 0x100, ARG_REPO, ARG_WITHOUT_CM, ARG_TIMEOUT, ARG_CONTEXT, ARG_INSECURE };
        static const struct option options[] = {
                { "kubeconfig", required_argument, NULL, ARG_KUBECONFIG },
                { "repo", required_argument, NULL, ARG_REPO },
                { "without-cert-manager", no_argument, NULL, ARG_WITHOUT_CM },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "context", required_argument, NULL, ARG_CONTEXT },
                { "insecure-skip-tls-verify", no_argument, NULL, ARG_INSECURE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *kubeconfig = NULL, *repo_dir = NULL, *context = NULL;
        bool without_cm = false, insecure = false;
        unsigned long timeout = 0;
        _cleanup_(capi_repo_freep) CapiRepo *repo = NULL;
        _cleanup_free_ char *err = NULL;
        KubeConn conn = {};
        char *end;
        int c, r, ret;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_KUBECONFIG: kubeconfig = optarg; break;
                case ARG_REPO: repo_dir = optarg; break;
                case ARG_WITHOUT_CM: without_cm = true; break;
                case ARG_CONTEXT: context = optarg; break;
                case ARG_INSECURE: insecure = true; break;
                case ARG_TIMEOUT:
                        errno = 0;
                        timeout = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || timeout == 0 || timeout > CAPI_CLI_TIMEOUT_MAX_SEC) {
                                fprintf(stderr, "strata: capi: --timeout: seconds from 1 to %u, got \"%s\"\n",
                                        CAPI_CLI_TIMEOUT_MAX_SEC, optarg);
                                return CAPI_EXIT_USAGE;
                        }
                        break;
                case 'h': usage(stdout); return CAPI_EXIT_OK;
                default: usage(stderr); return CAPI_EXIT_USAGE;
                }
        }
        if (optind != argc || !kubeconfig || !repo_dir) {
                fprintf(stderr, "strata: capi install: --kubeconfig and --repo are required\n");
                usage(stderr);
                return CAPI_EXIT_USAGE;
        }

        /* the repository first: a broken one is refused before any request */
        r = capi_repo_load(repo_dir, NULL, &repo, &err);
        if (r < 0) {
                fprintf(stderr, "strata: capi: %s\n", err ? err : strerror(-r));
                return r == -ENOMEM ? CAPI_EXIT_FAULT : CAPI_EXIT_FAILED;
        }
        KubeConfigOptions kopts = { .context = context, .allow_insecure = insecure };
        KubeClientOptions copts = { .field_manager = CAPI_FIELD_MANAGER };
        if (kube_conn_open("capi", kubeconfig, &kopts, &copts, &conn) < 0)
                return conn.fault ? CAPI_EXIT_FAULT : CAPI_EXIT_FAILED;
        CapiInstallOptions iopts = { .without_cert_manager = without_cm,
                                     .timeout_usec = (uint64_t) timeout * 1000000u,
                                     .progress = print_step };
        if (!repo->present[CAPI_PROVIDER_CERT_MANAGER] && without_cm)
                fprintf(stderr, "strata: capi: warning: %s has no cert-manager; installing without it "
                                "(--without-cert-manager)\n", repo_dir);
        r = capi_install(conn.client, repo, &iopts, &err);
        if (r < 0) {
                fprintf(stderr, "strata: capi: %s\n", err ? err : strerror(-r));
                ret = r == -ENOMEM ? CAPI_EXIT_FAULT : CAPI_EXIT_FAILED;
                goto out;
        }
        printf("installed: cluster-api %s, k0smotron bootstrap %s, control-plane %s, infrastructure %s%s\n",
               repo->providers[CAPI_PROVIDER_CORE].version, repo->providers[CAPI_PROVIDER_BOOTSTRAP].version,
               repo->providers[CAPI_PROVIDER_CONTROL_PLANE].version,
               repo->providers[CAPI_PROVIDER_INFRASTRUCTURE].version,
               repo->present[CAPI_PROVIDER_CERT_MANAGER] ? ", cert-manager" : " (without cert-manager)");
        ret = CAPI_EXIT_OK;
out:
        kube_conn_close(&conn);
        return ret;
}

static int read_json_file(const char *path, json_t **ret) {
        json_error_t e;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
                fprintf(stderr, "strata: capi: %s:%d: %s\n", path, e.line, e.text);
                return -EINVAL;
        }
        *ret = j;
        return 0;
}

static int do_fleet(int argc, char **argv) {
        enum { ARG_SPEC = 0x100, ARG_MEMBERS, ARG_ENDPOINT, ARG_KUBECONFIG, ARG_PAUSED, ARG_PRINT };
        static const struct option options[] = {
                { "spec", required_argument, NULL, ARG_SPEC },
                { "members", required_argument, NULL, ARG_MEMBERS },
                { "endpoint", required_argument, NULL, ARG_ENDPOINT },
                { "kubeconfig", required_argument, NULL, ARG_KUBECONFIG },
                { "paused", no_argument, NULL, ARG_PAUSED },
                { "print", no_argument, NULL, ARG_PRINT },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *spec_path = NULL, *members_path = NULL, *endpoint = NULL, *kubeconfig = NULL;
        bool paused = false, print = false;
        _cleanup_spec_ Spec *spec = NULL;
        _cleanup_free_ FleetMember *members = NULL;
        _cleanup_free_ char *err = NULL, *host = NULL;
        json_auto_t *status = NULL, *objects = NULL;
        SpecErrors errors = {};
        size_t n = 0;
        unsigned port = 0;
        KubeConn conn = {};
        int c, r, ret;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SPEC: spec_path = optarg; break;
                case ARG_MEMBERS: members_path = optarg; break;
                case ARG_ENDPOINT: endpoint = optarg; break;
                case ARG_KUBECONFIG: kubeconfig = optarg; break;
                case ARG_PAUSED: paused = true; break;
                case ARG_PRINT: print = true; break;
                case 'h': usage(stdout); return CAPI_EXIT_OK;
                default: usage(stderr); return CAPI_EXIT_USAGE;
                }
        }
        if (optind != argc || !spec_path || !members_path || !endpoint || (!kubeconfig == !print)) {
                fprintf(stderr, "strata: capi fleet: --spec, --members, --endpoint and one of --kubeconfig or "
                                "--print are required\n");
                return CAPI_EXIT_USAGE;
        }
        r = fleet_endpoint_parse(endpoint, &host, &port);
        if (r == -ENOMEM)
                return CAPI_EXIT_FAULT;
        if (r < 0) {
                fprintf(stderr, "strata: capi fleet: --endpoint \"%s\": expected HOST, HOST:PORT or [V6]:PORT\n",
                        endpoint);
                return CAPI_EXIT_USAGE;
        }
        r = spec_load_file(spec_path, &spec, &errors);
        if (r < 0) {
                spec_errors_print(stderr, spec_path, &errors);
                spec_errors_clear(&errors);
                if (r != -EINVAL)
                        fprintf(stderr, "strata: capi: %s: %s\n", spec_path, strerror(-r));
                return CAPI_EXIT_FAILED;
        }
        if (read_json_file(members_path, &status) < 0)
                return CAPI_EXIT_FAILED;
        r = fleet_members_from_status(spec_json(spec), status, &members, &n, &err);
        if (r < 0) {
                fprintf(stderr, "strata: capi: %s: %s\n", members_path, err ? err : strerror(-r));
                return CAPI_EXIT_FAILED;
        }
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        FleetObjectsConfig cfg = { .endpoint_host = host, .endpoint_port = port, .paused = paused, .now = now };
        if (print) {
                r = fleet_objects_build(spec_json(spec), members, n, &cfg, &objects, &err);
                if (r < 0) {
                        fprintf(stderr, "strata: capi: %s\n", err ? err : strerror(-r));
                        return CAPI_EXIT_FAILED;
                }
                _cleanup_free_ char *s = json_dumps(objects, JSON_INDENT(2));
                if (!s)
                        return CAPI_EXIT_FAULT;
                printf("%s\n", s);
                return CAPI_EXIT_OK;
        }
        KubeClientOptions copts = { .field_manager = FLEET_FIELD_MANAGER };
        if (kube_conn_open("capi", kubeconfig, &(KubeConfigOptions) {}, &copts, &conn) < 0)
                return conn.fault ? CAPI_EXIT_FAULT : CAPI_EXIT_FAILED;
        FleetSyncResult res = {};
        r = fleet_objects_sync(conn.client, spec_json(spec), members, n, &cfg, &res, &err);
        if (r < 0) {
                fprintf(stderr, "strata: capi: %s\n", err ? err : strerror(-r));
                ret = CAPI_EXIT_FAILED;
                goto out;
        }
        printf("applied %zu objects, wrote %zu statuses\n", res.applied, res.status_written);
        const json_t *name;
        size_t i;
        json_array_foreach(res.left_alone, i, name)
                printf("left alone: Machine %s (not a member)\n", json_string_value(name));
        fleet_sync_result_done(&res);
        ret = CAPI_EXIT_OK;
out:
        kube_conn_close(&conn);
        return ret;
}

int cmd_capi(const CliContext *ctx, int argc, char **argv) {
        (void) ctx;
        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? CAPI_EXIT_USAGE : CAPI_EXIT_OK;
        }
        if (strcmp(argv[1], "install") == 0)
                return do_install(argc - 1, argv + 1);
        if (strcmp(argv[1], "fleet") == 0)
                return do_fleet(argc - 1, argv + 1);
        fprintf(stderr, "strata: capi: unknown command \"%s\"\n", argv[1]);
        usage(stderr);
        return CAPI_EXIT_USAGE;
}
