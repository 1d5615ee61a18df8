/* `strata ignition render`: one node's Ignition config from the fleet spec,
 * rendered by agent/ignition exactly as stratad's boot server renders it.
 * The sysext is named and hashed here (from --sysext FILE, or given as
 * --sysext-name and --sysext-sha512); the config goes to stdout or,
 * atomically, to -o FILE. Exit 0 written, 1 refused or failed, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "core/spec.h"
#include "image/image.h"
#include "ignition-cli.h"
#include "ignition/render.h"

static void usage(void) {
        fprintf(stderr,
                "usage: strata ignition render --spec FILE --machine NAME [OPTIONS]\n"
                "  Writes the machine's Ignition config (spec %s by default).\n"
                "  --role seed|controller|worker   instead of the machine's inventory role\n"
                "  --spec-version 3.3.0|3.4.0      Ignition spec version (3.4.0 needs Flatcar >= 3535.0.0)\n"
                "  --sysext FILE                   the agent sysext: its name and SHA-512 are taken from it\n"
                "  --sysext-name NAME --sysext-sha512 HEX   or given directly\n"
                "  --sysext-url URL                where Ignition fetches the sysext; without it the\n"
                "                                  sysext must already be on the disk (the seed image)\n"
                "  --fleet-ca FILE                 the fleet CA certificate (PEM), written to %s\n"
                "  --sponsor URL                   https://ADDR:PORT of the member the node attests to,\n"
                "                                  written to %s\n"
                "  --full-spec                     the whole spec, not the public one: only for a config\n"
                "                                  that never crosses the network (the seed's own medium)\n"
                "  --volume-exists                 the data volume was created before (a re-provision, or\n"
                "                                  a PXE node's later boots): open it, never create it\n"
                "  --pretty                        indented JSON\n"
                "  -o, --output FILE               write FILE atomically instead of stdout (a regular\n"
                "                                  file; never a device or directory)\n",
                IGNITION_SPEC_VERSION_DEFAULT, IGNITION_FLEET_CA_PATH, IGNITION_SPONSOR_ENV_PATH);
}

/* Writes `text` to `path` as image_output_open() does for images: a new
 * file that replaces `path` only when complete, and never a device or a
 * directory (`-o /dev/null` would otherwise replace the device node with
 * a file, as root). */
static int write_output(const char *path, const char *text) {
        _cleanup_(image_output_donep) ImageOutput o = IMAGE_OUTPUT_NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = image_output_open(path, 0644, -1, &o, &err);
        if (r < 0) {
                fprintf(stderr, "strata: ignition: %s: %s\n", path, err ? err : strerror(-r));
                return r;
        }
        r = write_fd_all(o.fd, text, strlen(text));
        if (r >= 0)
                r = image_output_commit(&o);
        if (r < 0)
                fprintf(stderr, "strata: ignition: cannot write %s: %s\n", path, strerror(-r));
        return r;
}

static int ignition_render_cmd(int argc, char **argv) {
        enum { ARG_SPEC = 0x100, ARG_MACHINE, ARG_ROLE, ARG_SPEC_VERSION, ARG_SYSEXT, ARG_SYSEXT_NAME,
               ARG_SYSEXT_SHA512, ARG_SYSEXT_URL, ARG_FLEET_CA, ARG_SPONSOR, ARG_FULL_SPEC, ARG_VOLUME_EXISTS,
               ARG_PRETTY };
        static const struct option options[] = {
                { "spec", required_argument, NULL, ARG_SPEC },
                { "machine", required_argument, NULL, ARG_MACHINE },
                { "role", required_argument, NULL, ARG_ROLE },
                { "spec-version", required_argument, NULL, ARG_SPEC_VERSION },
                { "sysext", required_argument, NULL, ARG_SYSEXT },
                { "sysext-name", required_argument, NULL, ARG_SYSEXT_NAME },
                { "sysext-sha512", required_argument, NULL, ARG_SYSEXT_SHA512 },
                { "sysext-url", required_argument, NULL, ARG_SYSEXT_URL },
                { "fleet-ca", required_argument, NULL, ARG_FLEET_CA },
                { "sponsor", required_argument, NULL, ARG_SPONSOR },
                { "full-spec", no_argument, NULL, ARG_FULL_SPEC },
                { "volume-exists", no_argument, NULL, ARG_VOLUME_EXISTS },
                { "pretty", no_argument, NULL, ARG_PRETTY },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        IgnitionRenderOptions o = { .role = IGNITION_ROLE_INVENTORY };
        const char *spec_path = NULL, *sysext = NULL, *fleet_ca = NULL, *output = NULL;
        char sha512[129];
        _cleanup_free_ char *sysext_copy = NULL, *ca = NULL, *text = NULL, *file = NULL;
        _cleanup_spec_ Spec *spec = NULL;
        json_auto_t *config = NULL;
        bool pretty = false;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SPEC: spec_path = optarg; break;
                case ARG_MACHINE: o.machine = optarg; break;
                case ARG_ROLE:
                        if (ignition_cli_parse_role("ignition", optarg, &o.role) < 0)
                                return 2;
                        break;
                case ARG_SPEC_VERSION: o.spec_version = optarg; break;
                case ARG_SYSEXT: sysext = optarg; break;
                case ARG_SYSEXT_NAME: o.sysext_name = optarg; break;
                case ARG_SYSEXT_SHA512: o.sysext_sha512 = optarg; break;
                case ARG_SYSEXT_URL: o.sysext_source = optarg; break;
                case ARG_FLEET_CA: fleet_ca = optarg; break;
                case ARG_SPONSOR: o.sponsor_url = optarg; break;
                case ARG_FULL_SPEC: o.full_spec = true; break;
                case ARG_VOLUME_EXISTS: o.volume_exists = true; break;
                case ARG_PRETTY: pretty = true; break;
                case 'o': output = optarg; break;
                case 'h': usage(); return EXIT_SUCCESS;
                default: usage(); return 2;
                }
        }
        if (optind != argc || !spec_path || !o.machine) {
                usage();
                return 2;
        }
        if (sysext && (o.sysext_name || o.sysext_sha512)) {
                fprintf(stderr, "strata: ignition: give --sysext FILE, or --sysext-name and --sysext-sha512, not both\n");
                return 2;
        }
        if (!sysext && !o.sysext_name) {
                fprintf(stderr, "strata: ignition: the sysext is needed: --sysext FILE, or --sysext-name NAME\n");
                return 2;
        }
        if (o.sysext_source && !sysext && !o.sysext_sha512) {
                fprintf(stderr, "strata: ignition: --sysext-url needs the sysext's hash: --sysext FILE or --sysext-sha512 HEX\n");
                return 2;
        }

        if (sysext && ignition_cli_sysext("ignition", sysext, false, &o, &sysext_copy, sha512) < 0)
                return EXIT_FAILURE;
        if (fleet_ca && ignition_cli_read_fleet_ca("ignition", fleet_ca, &ca) < 0)
                return EXIT_FAILURE;
        o.fleet_ca_pem = ca;

        if (ignition_cli_load_spec("ignition", spec_path, &spec) < 0)
                return EXIT_FAILURE;
        if (ignition_cli_render("ignition", spec, &o, &config) < 0)
                return EXIT_FAILURE;
        text = json_dumps(config, pretty ? JSON_INDENT(2) : JSON_COMPACT);
        if (!text) {
                fprintf(stderr, "strata: ignition: out of memory\n");
                return EXIT_FAILURE;
        }
        if (!output) {
                if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
                        fprintf(stderr, "strata: ignition: cannot write the config: %m\n");
                        return EXIT_FAILURE;
                }
                return EXIT_SUCCESS;
        }
        if (asprintf(&file, "%s\n", text) < 0)
                return EXIT_FAILURE;
        return write_output(output, file) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int cmd_ignition(const CliContext *ctx, int argc, char **argv) {
        (void) ctx;
        if (argc >= 2 && strcmp(argv[1], "render") == 0)
                return ignition_render_cmd(argc - 1, argv + 1);
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                usage();
                return EXIT_SUCCESS;
        }
        usage();
        return 2;
}
