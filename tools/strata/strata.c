/* strata: the operator CLI's entry point and command table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"
#include "strata.h"
#include "ignition-cli.h"

typedef struct Command {
        const char *name;
        int (*run)(const CliContext *ctx, int argc, char **argv);
        const char *summary;
} Command;

static const Command commands[] = {
        { "bmc", cmd_bmc, "bmc ACTION MACHINE...   Redfish: status, power on|off|cycle, pxe-once, media (see strata bmc -h)" },
        { "boot", cmd_boot, "boot lease|release|leases  network boot leases on this node (see strata boot -h)" },
        { "attest", cmd_attest, "attest quote --nonce HEX --pcrs LIST  this node's TPM evidence (EK, AK, quote) as JSON" },
        { "capi", cmd_capi, "capi install|fleet ...  Cluster API from a clusterctl local repository; the fleet's CAPI objects (see strata capi -h)" },
        { "halt", cmd_fleet, "halt --fleet-key FILE --spec FILE  stop provisioning fleet-wide (signed; see strata halt -h)" },
        { "ignition", cmd_ignition, "ignition render --spec FILE --machine NAME  a node's Ignition config (see strata ignition -h)" },
        { "image", cmd_image, "image seed|pxe-oem       Flatcar boot media: the seed's disk image, a PXE OEM drop-in (see strata image -h)" },
        { "init", cmd_init, "init --fleet NAME --out DIR  create the fleet CA and the policy signing key" },
        { "kube", cmd_kube, "kube get|list|apply|delete|wait|api-resources ...  the Kubernetes API (see strata kube -h)" },
        { "pivot", cmd_pivot, "pivot --from KUBECONFIG --to KUBECONFIG [--dry-run]  move Cluster API objects to another cluster (see strata pivot -h)" },
        { "resume", cmd_fleet, "resume --fleet-key FILE --spec FILE  end a fleet-wide halt (see strata resume -h)" },
        { "sim", cmd_sim, "sim --nodes N [--fanout F]  a fleet propagating in network namespaces, as root (see strata sim -h)" },
        { "spec", cmd_spec, "spec validate FILE...   check a fleet spec; every error with its JSON path" },
        { "status", cmd_status, "status [--json] [--watch [N]]  this node's phase, spec, leases; the fleet on the coordinator" },
        { "unseal", cmd_unseal, "unseal encrypt|decrypt  clevis-compatible encrypt/decrypt (see strata unseal)" },
};

static void help(void) {
        printf("Usage: strata [--socket PATH] COMMAND [ARGS]\n\n"
               "The Strata operator CLI. Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                printf("  %s\n", commands[i].summary);
        printf("\nOptions:\n"
               "  --socket PATH   stratad's local API socket (default %s)\n"
               "  --json          machine-readable output where a command has it\n"
               "  -h, --help      show this help\n"
               "  --version       show the version\n",
               STRATA_DEFAULT_SOCKET);
}

int main(int argc, char **argv) {
        enum { ARG_SOCKET = 0x100, ARG_JSON, ARG_VERSION };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        CliContext ctx = { .socket_path = STRATA_DEFAULT_SOCKET };
        int c;

        secret_json_alloc_install();
        /* tpm2-tss prints its own WARNING/ERROR lines to stderr; the unseal
         * report already names what the TPM answered. A user's TSS2_LOG wins. */
        setenv("TSS2_LOG", "all+none", 0);

        /* options may come before or after the command: `strata status --json` */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SOCKET: ctx.socket_path = optarg; break;
                case ARG_JSON: ctx.json = 1; break;
                case 'h': help(); return EXIT_SUCCESS;
                case ARG_VERSION: printf("strata %s\n", STRATA_VERSION); return EXIT_SUCCESS;
                default: return 2;
                }
        }
        if (optind >= argc) {
                help();
                return 2;
        }
        const char *name = argv[optind];
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;

        /* pick up options after the command too, keeping the positional rest */
        int n = 1;
        for (int i = 1; i < sub_argc; i++) {
                if (strcmp(sub_argv[i], "--json") == 0)
                        ctx.json = 1;
                else if (strcmp(sub_argv[i], "--socket") == 0 && i + 1 < sub_argc)
                        ctx.socket_path = sub_argv[++i];
                else
                        sub_argv[n++] = sub_argv[i];
        }
        sub_argc = n;

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(name, commands[i].name) == 0)
                        return commands[i].run(&ctx, sub_argc, sub_argv);
        fprintf(stderr, "strata: unknown command \"%s\" (see --help)\n", name);
        return 2;
}
