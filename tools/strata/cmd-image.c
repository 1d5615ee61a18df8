/* `strata image seed|pxe-oem`: Flatcar boot media carrying a node's
 * Ignition config, rendered by agent/ignition exactly as `strata ignition
 * render` does, and built by agent/image: the seed's disk image (for dd to
 * a USB stick) and the OEM drop-in for Flatcar's PXE initramfs.
 * Exit 0 written, 1 refused or failed (the reason on stderr, once), 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/spec.h"
#include "ignition/render.h"
#include "ignition-cli.h"
#include "image/image.h"

/* Where `make install` puts the agent sysext; a build tree has it in
 * sysext/ next to the strata binary (make sysext). */
#ifndef STRATA_DATADIR
#define STRATA_DATADIR "/usr/share/strata"
#endif
#if defined(__aarch64__)
#define SYSEXT_ARCH "arm64"
#else
#define SYSEXT_ARCH "x86-64"
#endif
#define SYSEXT_DEFAULT_NAME IGNITION_SYSEXT_RELEASE_NAME "-" STRATA_VERSION "-" SYSEXT_ARCH ".raw"
#define SYSEXT_DEFAULT_PATH STRATA_DATADIR "/" SYSEXT_DEFAULT_NAME

static void usage_seed(FILE *f) {
        fprintf(f,
                "Usage: strata image seed --flatcar IMAGE.bin --spec FILE -o SEED.img [OPTIONS]\n"
                "\n"
                "Copies a stock Flatcar disk image (flatcar_production_image.bin, decompressed)\n"
                "and writes into the copy the seed's Ignition config, as /%s on the OEM\n"
                "partition (6), and the agent sysext, as %s/NAME on the ROOT\n"
                "partition (9) linked from %s. No other partition is touched;\n"
                "IMAGE.bin is never changed; SEED.img appears only once complete.\n"
                "Write it to a USB stick with dd. Needs root: the partitions are mounted\n"
                "through loop devices, in a private mount namespace.\n"
                "\n"
                "  --flatcar FILE        the Flatcar disk image (GPT: 6 OEM, 9 ROOT)\n"
                "  --spec FILE           the fleet spec\n"
                "  --machine NAME        the seed (default: the spec's machine with role seed)\n"
                "  --sysext FILE         the agent sysext, %s-VERSION-ARCH.raw\n"
                "                        (default: sysext/%s next to the strata\n"
                "                        binary, else %s)\n"
                "  --spec-version V      Ignition spec version, 3.3.0 (default) or 3.4.0\n"
                "  --fleet-ca FILE       the fleet CA certificate (PEM), written to %s\n"
                "  --boot-assets DIR     the PXE kernel and initrd (%s, %s) the seed\n"
                "                        serves to its neighbours, copied to %s on ROOT\n"
                "  -o, --output FILE     the seed image\n",
                IMAGE_OEM_CONFIG_NAME, IGNITION_SYSEXT_DIR, IGNITION_SYSEXT_LINK, IGNITION_SYSEXT_RELEASE_NAME,
                SYSEXT_DEFAULT_NAME, SYSEXT_DEFAULT_PATH, IGNITION_FLEET_CA_PATH, BOOT_ASSET_KERNEL, BOOT_ASSET_INITRD,
                IGNITION_BOOT_ASSETS_DIR);
}

static void usage_pxe_oem(FILE *f) {
        fprintf(f,
                "Usage: strata image pxe-oem --spec FILE --machine NAME --sysext-url URL -o OEM.cpio.gz [OPTIONS]\n"
                "\n"
                "Writes a gzip'd newc cpio holding %s/%s, the machine's Ignition\n"
                "config, for Flatcar's PXE initramfs: boot with\n"
                "  initrd flatcar_production_pxe_image.cpio.gz,OEM.cpio.gz\n"
                "  append flatcar.first_boot=1\n"
                "A PXE node has no disk copy of the sysext: its config fetches it from\n"
                "--sysext-url and checks it against the sysext's SHA-512. Reproducible: the\n"
                "same inputs give the same bytes (mtimes from SOURCE_DATE_EPOCH, default 0).\n"
                "\n"
                "  --spec FILE           the fleet spec\n"
                "  --machine NAME        the machine ($.inventory[].name)\n"
                "  --role ROLE           seed, controller or worker, instead of the inventory's\n"
                "  --sysext-url URL      where the node fetches the sysext (http or https)\n"
                "  --sysext FILE         the sysext, for its name and SHA-512 (default as for\n"
                "                        `strata image seed`)\n"
                "  --sysext-name NAME --sysext-sha512 HEX   or both given directly\n"
                "  --spec-version V      Ignition spec version, 3.3.0 (default) or 3.4.0\n"
                "  --fleet-ca FILE       the fleet CA certificate (PEM), written to %s\n"
                "  -o, --output FILE     the cpio\n",
                IMAGE_PXE_OEM_DIR, IMAGE_OEM_CONFIG_NAME, IGNITION_FLEET_CA_PATH);
}

static void usage(FILE *f) {
        fprintf(f, "Usage: strata image seed --flatcar IMAGE.bin --spec FILE -o SEED.img [OPTIONS]\n"
                   "       strata image pxe-oem --spec FILE --machine NAME --sysext-url URL -o OEM.cpio.gz [OPTIONS]\n"
                   "\n"
                   "seed      a Flatcar disk image for the seed, with its Ignition config and the\n"
                   "          agent sysext: dd it to a USB stick (needs root)\n"
                   "pxe-oem   a node's Ignition config as an OEM drop-in for Flatcar's PXE initramfs\n"
                   "\n"
                   "See strata image seed --help, strata image pxe-oem --help.\n");
}

/* The sysext when no --sysext is given: this build's, else the installed one. */
static int default_sysext(char **ret) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        _cleanup_free_ char *path = NULL;

        if (n > 0) {
                exe[n] = '\0';
                if (asprintf(&path, "%s/sysext/" SYSEXT_DEFAULT_NAME, dirname(exe)) < 0)
                        return -ENOMEM;
                if (access(path, R_OK) == 0) {
                        *ret = take_ptr(path);
                        return 0;
                }
        }
        if (access(SYSEXT_DEFAULT_PATH, R_OK) < 0)
                return -ENOENT;
        *ret = strdup(SYSEXT_DEFAULT_PATH);
        return *ret ? 0 : -ENOMEM;
}

/* Options both commands share; the rest are per command. */
enum {
        ARG_FLATCAR = 0x100,
        ARG_SPEC,
        ARG_MACHINE,
        ARG_ROLE,
        ARG_SYSEXT,
        ARG_SYSEXT_URL,
        ARG_SYSEXT_NAME,
        ARG_SYSEXT_SHA512,
        ARG_SPEC_VERSION,
        ARG_FLEET_CA,
        ARG_BOOT_ASSETS,
};

/* The seed reads its config from its own disk, so nothing has waited for
 * its network when Ignition binds the data volume; with PCRs the binding
 * is a custom pin, which asks each tang server once (ignition/README.md,
 * "Binding offline"). A copied advertisement ($.tang[].adv) avoids that. */
static void warn_online_tang_bind(const json_t *spec) {
        const json_t *unseal = json_object_get(spec, "unseal"), *tpm2 = json_object_get(unseal, "tpm2"), *t;
        size_t i;

        if (!json_object_get(unseal, "volume") || !json_is_true(json_object_get(tpm2, "enabled")) ||
            json_array_size(json_object_get(tpm2, "pcr_ids")) == 0)
                return;
        json_array_foreach(json_object_get(spec, "tang"), i, t)
                if (!json_object_get(t, "adv"))
                        fprintf(stderr,
                                "strata: image seed: warning: $.tang[%zu] has no \"adv\": on its first boot the seed "
                                "binds its data volume to %s once, maybe before its network is up; copy the "
                                "server's advertisement (curl %s/adv) into the spec to bind offline\n",
                                i, json_string_value(json_object_get(t, "url")),
                                json_string_value(json_object_get(t, "url")));
}

static int image_seed_cmd(int argc, char **argv) {
        static const struct option options[] = {
                { "flatcar", required_argument, NULL, ARG_FLATCAR },
                { "spec", required_argument, NULL, ARG_SPEC },
                { "machine", required_argument, NULL, ARG_MACHINE },
                { "sysext", required_argument, NULL, ARG_SYSEXT },
                { "spec-version", required_argument, NULL, ARG_SPEC_VERSION },
                { "fleet-ca", required_argument, NULL, ARG_FLEET_CA },
                { "boot-assets", required_argument, NULL, ARG_BOOT_ASSETS },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *flatcar = NULL, *spec_path = NULL, *machine = NULL, *sysext = NULL, *fleet_ca = NULL,
                   *output = NULL, *boot_assets = NULL;
        /* the seed coordinates and sponsors: it needs the whole spec (every
         * BMC, the fleet CA key's reference); its config stays on its own
         * disk, never on the wire */
        IgnitionRenderOptions o = { .role = IGNITION_ROLE_SEED, .full_spec = true };
        _cleanup_free_ char *sysext_default = NULL, *sysext_copy = NULL, *ca = NULL, *err = NULL;
        _cleanup_spec_ Spec *spec = NULL;
        json_auto_t *config = NULL;
        int c, r;

        optind = 0; /* 0, not 1: also resets glibc's state from strata's own "+h" parse */
        while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_FLATCAR: flatcar = optarg; break;
                case ARG_SPEC: spec_path = optarg; break;
                case ARG_MACHINE: machine = optarg; break;
                case ARG_SYSEXT: sysext = optarg; break;
                case ARG_SPEC_VERSION: o.spec_version = optarg; break;
                case ARG_FLEET_CA: fleet_ca = optarg; break;
                case ARG_BOOT_ASSETS: boot_assets = optarg; break;
                case 'o': output = optarg; break;
                case 'h': usage_seed(stdout); return EXIT_SUCCESS;
                default: usage_seed(stderr); return 2;
                }
        }
        if (optind != argc || !flatcar || !spec_path || !output) {
                usage_seed(stderr);
                return 2;
        }
        if (!sysext) {
                if (default_sysext(&sysext_default) < 0) {
                        fprintf(stderr,
                                "strata: image seed: no agent sysext found (sysext/%s next to strata, %s): "
                                "give --sysext FILE\n",
                                SYSEXT_DEFAULT_NAME, SYSEXT_DEFAULT_PATH);
                        return EXIT_FAILURE;
                }
                sysext = sysext_default;
        }
        sysext_copy = strdup(sysext);
        if (!sysext_copy)
                return EXIT_FAILURE;
        o.sysext_name = basename(sysext_copy);
        if (fleet_ca && ignition_cli_read_fleet_ca("image seed", fleet_ca, &ca) < 0)
                return EXIT_FAILURE;
        o.fleet_ca_pem = ca;

        if (ignition_cli_load_spec("image seed", spec_path, &spec) < 0)
                return EXIT_FAILURE;
        r = image_seed_machine(spec, machine, &o.machine, &err);
        if (r < 0) {
                fprintf(stderr, "strata: image seed: %s: %s\n", spec_path, err ? err : strerror(-r));
                return EXIT_FAILURE;
        }
        /* no sysext_source: the sysext is on the disk, the config only links it */
        if (ignition_cli_render("image seed", spec, &o, &config) < 0)
                return EXIT_FAILURE;
        warn_online_tang_bind(spec_json(spec));

        r = image_seed_build(&(ImageSeedOptions){ .flatcar = flatcar, .output = output, .config = config,
                                                  .sysext = sysext, .sysext_name = o.sysext_name,
                                                  .boot_assets = boot_assets },
                             &err);
        if (r < 0) {
                fprintf(stderr, "strata: image seed: %s\n", err ? err : strerror(-r));
                return EXIT_FAILURE;
        }
        printf("%s: seed image for %s (fleet %s): /%s on OEM, %s/%s on ROOT\n", output, o.machine, spec_fleet(spec),
               IMAGE_OEM_CONFIG_NAME, IGNITION_SYSEXT_DIR, o.sysext_name);
        if (boot_assets)
                printf("%s: boot assets from %s in %s on ROOT\n", output, boot_assets, IGNITION_BOOT_ASSETS_DIR);
        return EXIT_SUCCESS;
}

/* SOURCE_DATE_EPOCH (reproducible-builds.org): decimal seconds; unset is 0. */
static int source_date_epoch(int64_t *ret) {
        const char *s = getenv("SOURCE_DATE_EPOCH");
        char *end;
        long long v;

        *ret = 0;
        if (!s || !*s)
                return 0;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v < 0 || s[0] < '0' || s[0] > '9')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int image_pxe_oem_cmd(int argc, char **argv) {
        static const struct option options[] = {
                { "spec", required_argument, NULL, ARG_SPEC },
                { "machine", required_argument, NULL, ARG_MACHINE },
                { "role", required_argument, NULL, ARG_ROLE },
                { "sysext", required_argument, NULL, ARG_SYSEXT },
                { "sysext-url", required_argument, NULL, ARG_SYSEXT_URL },
                { "sysext-name", required_argument, NULL, ARG_SYSEXT_NAME },
                { "sysext-sha512", required_argument, NULL, ARG_SYSEXT_SHA512 },
                { "spec-version", required_argument, NULL, ARG_SPEC_VERSION },
                { "fleet-ca", required_argument, NULL, ARG_FLEET_CA },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *spec_path = NULL, *sysext = NULL, *fleet_ca = NULL, *output = NULL;
        IgnitionRenderOptions o = { .role = IGNITION_ROLE_INVENTORY };
        _cleanup_free_ char *sysext_default = NULL, *sysext_copy = NULL, *ca = NULL, *err = NULL;
        _cleanup_spec_ Spec *spec = NULL;
        json_auto_t *config = NULL;
        char sha512[129];
        int64_t mtime;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SPEC: spec_path = optarg; break;
                case ARG_MACHINE: o.machine = optarg; break;
                case ARG_ROLE:
                        if (ignition_cli_parse_role("image pxe-oem", optarg, &o.role) < 0)
                                return 2;
                        break;
                case ARG_SYSEXT: sysext = optarg; break;
                case ARG_SYSEXT_URL: o.sysext_source = optarg; break;
                case ARG_SYSEXT_NAME: o.sysext_name = optarg; break;
                case ARG_SYSEXT_SHA512: o.sysext_sha512 = optarg; break;
                case ARG_SPEC_VERSION: o.spec_version = optarg; break;
                case ARG_FLEET_CA: fleet_ca = optarg; break;
                case 'o': output = optarg; break;
                case 'h': usage_pxe_oem(stdout); return EXIT_SUCCESS;
                default: usage_pxe_oem(stderr); return 2;
                }
        }
        if (optind != argc || !spec_path || !o.machine || !output) {
                usage_pxe_oem(stderr);
                return 2;
        }
        if (!o.sysext_source) {
                fprintf(stderr, "strata: image pxe-oem: a PXE node has no disk copy of the sysext: "
                                "give --sysext-url URL\n");
                return 2;
        }
        if (sysext && (o.sysext_name || o.sysext_sha512)) {
                fprintf(stderr, "strata: image pxe-oem: give --sysext FILE, or --sysext-name and "
                                "--sysext-sha512, not both\n");
                return 2;
        }
        if (!sysext && (!o.sysext_name) != (!o.sysext_sha512)) {
                fprintf(stderr, "strata: image pxe-oem: --sysext-name and --sysext-sha512 go together\n");
                return 2;
        }
        if (source_date_epoch(&mtime) < 0) {
                fprintf(stderr, "strata: image pxe-oem: SOURCE_DATE_EPOCH: expected seconds since 1970, got \"%s\"\n",
                        getenv("SOURCE_DATE_EPOCH"));
                return 2;
        }

        if (!o.sysext_name) {
                if (!sysext) {
                        if (default_sysext(&sysext_default) < 0) {
                                fprintf(stderr,
                                        "strata: image pxe-oem: no agent sysext found (sysext/%s next to strata, %s): "
                                        "give --sysext FILE, or --sysext-name and --sysext-sha512\n",
                                        SYSEXT_DEFAULT_NAME, SYSEXT_DEFAULT_PATH);
                                return EXIT_FAILURE;
                        }
                        sysext = sysext_default;
                }
                if (ignition_cli_sysext("image pxe-oem", sysext, true, &o, &sysext_copy, sha512) < 0)
                        return EXIT_FAILURE;
        }
        if (fleet_ca && ignition_cli_read_fleet_ca("image pxe-oem", fleet_ca, &ca) < 0)
                return EXIT_FAILURE;
        o.fleet_ca_pem = ca;

        if (ignition_cli_load_spec("image pxe-oem", spec_path, &spec) < 0)
                return EXIT_FAILURE;
        if (ignition_cli_render("image pxe-oem", spec, &o, &config) < 0)
                return EXIT_FAILURE;
        r = image_oem_cpio_build(output, config, mtime, &err);
        if (r < 0) {
                fprintf(stderr, "strata: image pxe-oem: %s\n", err ? err : strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int cmd_image(const CliContext *ctx, int argc, char **argv) {
        (void) ctx;
        if (argc >= 2 && strcmp(argv[1], "seed") == 0)
                return image_seed_cmd(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "pxe-oem") == 0)
                return image_pxe_oem_cmd(argc - 1, argv + 1);
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                usage(stdout);
                return EXIT_SUCCESS;
        }
        usage(stderr);
        return 2;
}
