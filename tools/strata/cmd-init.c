/* `strata init --fleet NAME --out DIR`: creates the fleet CA and the
 * attestation policy signing key, or takes the operator's existing ones. The private keys stay with the operator
 * (and the seed); the public parts go into the spec and Ignition. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "strata.h"
#include "swarm/pki.h"

int cmd_init(const CliContext *ctx, int argc, char **argv) {
        static const struct option options[] = {
                { "fleet", required_argument, NULL, 'f' },
                { "out", required_argument, NULL, 'o' },
                { "ca-key", required_argument, NULL, 'k' },
                { "ca-cert", required_argument, NULL, 'c' },
                { "policy-key", required_argument, NULL, 'p' },
                {}
        };
        const char *fleet = NULL, *out = NULL;
        PkiImport import = { 0 };
        _cleanup_free_ char *err = NULL;
        int c, r;

        (void) ctx;
        optind = 0;
        while ((c = getopt_long(argc, argv, "f:o:", options, NULL)) >= 0) {
                switch (c) {
                case 'f': fleet = optarg; break;
                case 'o': out = optarg; break;
                case 'k': import.ca_key = optarg; break;
                case 'c': import.ca_cert = optarg; break;
                case 'p': import.policy_key = optarg; break;
                default: goto usage;
                }
        }
        if (!fleet || !out || optind != argc)
                goto usage;

        r = pki_init_dir(out, fleet, &import, &err);
        if (r < 0) {
                fprintf(stderr, "strata: init: %s\n", err ? err : strerror(-r));
                return EXIT_FAILURE;
        }
        printf("Created the fleet keys for %s in %s:\n"
               "  %s, %s   private: keep them with the operator (and the seed); never in Ignition\n"
               "  %s             the fleet CA certificate: Ignition carries it to every node\n"
               "  %s          the policy public key: set attestation.policy_key in the spec to it\n",
               fleet, out, PKI_CA_KEY_FILE, PKI_POLICY_KEY_FILE, PKI_CA_CERT_FILE, PKI_POLICY_PUB_FILE);
        return EXIT_SUCCESS;
usage:
        fprintf(stderr, "usage: strata init --fleet NAME --out DIR [--ca-key PEM --ca-cert PEM] [--policy-key PEM]\n"
                        "  creates the fleet CA and the policy signing key, or takes existing ones\n");
        return 2;
}
