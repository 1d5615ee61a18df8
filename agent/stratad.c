/* stratad: the Strata node agent's entry point. Parses the command line,
 * builds the Manager and runs its loop; `--check-spec` validates a spec file
 * and exits. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot-server.h"
#include "cluster/cluster-service.h"
#include "core/cleanup.h"
#include "core/secret.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/spec-check.h"

static void help(void) {
        printf("Usage: stratad [OPTIONS]\n"
               "       stratad --check-spec FILE\n"
               "\n"
               "The Strata node agent: unseals this node's disk, attests it, provisions its\n"
               "neighbours and builds the cluster, as the fleet spec says.\n"
               "\n"
               "  --spec FILE          fleet spec (default %s)\n"
               "  --state-dir DIR      persistent state (default %s)\n"
               "  --api-socket PATH    local API socket (default %s; a socket passed by\n"
               "                       systemd socket activation takes precedence)\n"
               "  --log-target TARGET  auto, journal or stderr (default auto: the journal when\n"
               "                       stderr is connected to it, stderr otherwise)\n"
               "  --log-level LEVEL    0-7 or debug, info, notice, warning, err (default info)\n"
               "  --tcti STRING        the TPM for unseal (default $STRATA_TCTI or\n"
               "                       device:/dev/tpmrm0)\n"
               "  --boot-assets DIR    kernel, initrd and agent sysext served to machines this\n"
               "                       node boots (default %s if it holds the kernel,\n"
               "                       else /var/cache/strata/boot, the copy Ignition or\n"
               "                       strata image seed --boot-assets made)\n"
               "  --ipxe-dir DIR       iPXE binaries served over TFTP (default %s)\n"
               "  --machine NAME       this node's name in the spec's inventory (default\n"
               "                       $STRATA_MACHINE, which Ignition writes to node.env)\n"
               "\n"
               "Cluster API, on the seed (the coordinator):\n"
               "  --bootstrap-kubeconfig FILE  the seed's bootstrap cluster: install Cluster API\n"
               "                       there and keep the fleet's objects in step with members\n"
               "  --target-kubeconfig FILE  the new cluster's admin kubeconfig: once it exists\n"
               "                       and the quorum's Nodes are Ready, install Cluster API\n"
               "                       there and pivot (journaled in STATE/cluster/)\n"
               "  --capi-repo DIR      provider components, clusterctl's local repository\n"
               "                       layout (default %s)\n"
               "  --control-plane-endpoint HOST[:PORT]  the new cluster's API endpoint\n"
               "                       (default: the spec's k0s.api_endpoint)\n"
               "  --capi-without-cert-manager  install without the cert-manager slot\n"
               "\n"
               "  --unseal-test        verify the data volume opens, without activating it\n"
               "                       (for machines without device-mapper)\n"
               "  --check-spec FILE    validate FILE, print every error with its JSON path,\n"
               "                       exit 0 if it is valid and 1 if not\n"
               "  -h, --help           show this help\n"
               "  --version            show the version\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the spec (a spec that\n"
               "fails validation is refused and the running one kept).\n",
               MANAGER_DEFAULT_SPEC, MANAGER_DEFAULT_STATE_DIR, MANAGER_DEFAULT_API_SOCKET,
               BOOT_DEFAULT_ASSETS_DIR, BOOT_DEFAULT_IPXE_DIR, CLUSTER_SERVICE_REPO_DEFAULT);
}

int main(int argc, char **argv) {
        enum { ARG_SPEC = 0x100, ARG_STATE_DIR, ARG_API_SOCKET, ARG_LOG_TARGET, ARG_LOG_LEVEL,
               ARG_CHECK_SPEC, ARG_VERSION, ARG_TCTI, ARG_UNSEAL_TEST,
               ARG_BOOT_ASSETS, ARG_IPXE_DIR, ARG_MACHINE, ARG_BOOTSTRAP_KUBECONFIG,
               ARG_TARGET_KUBECONFIG, ARG_CAPI_REPO, ARG_CONTROL_PLANE_ENDPOINT, ARG_CAPI_WITHOUT_CERT_MANAGER };
        static const struct option options[] = {
                { "spec", required_argument, NULL, ARG_SPEC },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "api-socket", required_argument, NULL, ARG_API_SOCKET },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "check-spec", required_argument, NULL, ARG_CHECK_SPEC },
                { "tcti", required_argument, NULL, ARG_TCTI },
                { "unseal-test", no_argument, NULL, ARG_UNSEAL_TEST },
                { "boot-assets", required_argument, NULL, ARG_BOOT_ASSETS },
                { "ipxe-dir", required_argument, NULL, ARG_IPXE_DIR },
                { "machine", required_argument, NULL, ARG_MACHINE },
                { "bootstrap-kubeconfig", required_argument, NULL, ARG_BOOTSTRAP_KUBECONFIG },
                { "target-kubeconfig", required_argument, NULL, ARG_TARGET_KUBECONFIG },
                { "capi-repo", required_argument, NULL, ARG_CAPI_REPO },
                { "control-plane-endpoint", required_argument, NULL, ARG_CONTROL_PLANE_ENDPOINT },
                { "capi-without-cert-manager", no_argument, NULL, ARG_CAPI_WITHOUT_CERT_MANAGER },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        ManagerConfig cfg = { 0 };
        LogTarget target = LOG_TARGET_AUTO;
        int level = LOG_INFO, c, r;
        const char *check = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;

        secret_json_alloc_install();
        /* tpm2-tss prints its own WARNING/ERROR lines to stderr; the unseal
         * report already names what the TPM answered. A user's TSS2_LOG wins. */
        setenv("TSS2_LOG", "all+none", 0);

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SPEC: cfg.spec_path = optarg; break;
                case ARG_STATE_DIR: cfg.state_dir = optarg; break;
                case ARG_API_SOCKET: cfg.api_socket = optarg; break;
                case ARG_CHECK_SPEC: check = optarg; break;
                case ARG_TCTI: cfg.tcti = optarg; break;
                case ARG_UNSEAL_TEST: cfg.unseal_verify_only = true; break;
                case ARG_BOOT_ASSETS: cfg.boot_assets = optarg; break;
                case ARG_IPXE_DIR: cfg.ipxe_dir = optarg; break;
                case ARG_MACHINE: cfg.machine = optarg; break;
                case ARG_BOOTSTRAP_KUBECONFIG: cfg.bootstrap_kubeconfig = optarg; break;
                case ARG_TARGET_KUBECONFIG: cfg.target_kubeconfig = optarg; break;
                case ARG_CAPI_REPO: cfg.capi_repo = optarg; break;
                case ARG_CONTROL_PLANE_ENDPOINT: cfg.control_plane_endpoint = optarg; break;
                case ARG_CAPI_WITHOUT_CERT_MANAGER: cfg.capi_without_cert_manager = true; break;
                case ARG_LOG_TARGET:
                        target = log_target_from_string(optarg);
                        if (target < 0) {
                                fprintf(stderr, "stratad: --log-target: expected auto, journal or stderr, got \"%s\"\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0) {
                                fprintf(stderr, "stratad: --log-level: expected 0-7 or a level name, got \"%s\"\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'h': help(); return EXIT_SUCCESS;
                case ARG_VERSION: printf("stratad %s\n", STRATA_VERSION); return EXIT_SUCCESS;
                default: return EXIT_FAILURE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "stratad: unexpected argument \"%s\" (see --help)\n", argv[optind]);
                return EXIT_FAILURE;
        }

        if (check)
                return spec_check_report(check, stdout, stderr);
        if (!cfg.tcti)
                cfg.tcti = getenv("STRATA_TCTI");
        if (!cfg.machine)
                cfg.machine = getenv("STRATA_MACHINE");

        log_setup(target, level, "stratad");

        r = manager_new(&cfg, &m);
        if (r < 0) {
                log_error_errno(r, "Cannot set up");
                return EXIT_FAILURE;
        }
        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_run(m);
        if (r < 0) {
                log_error_errno(r, "Event loop failed");
                return EXIT_FAILURE;
        }
        log_info("Stopped");
        return r;
}
