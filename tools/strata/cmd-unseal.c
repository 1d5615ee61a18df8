/* `strata unseal ...`: Clevis-compatible encrypt and decrypt (drop-in for
 * `clevis encrypt` and `clevis decrypt`: stdin to stdout), and the LUKS2
 * commands. Exit codes: 0 done, 1 could not decrypt (no pin or too few pins
 * could open it), 2 bad input or usage, 3 local fault.
 * For luks-unlock, a device with no clevis token at all exits 1 (nothing
 * can open it automatically: ask for a passphrase), not 2: it is a normal
 * state of a disk, not a malformed request. For luks-regen it exits 2 (there
 * is nothing to regenerate: the request was wrong). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "core/secret.h"
#include "core/strutil.h"
#include "strata.h"
#include "core/spec.h"
#include "unseal/jwe.h"
#include "unseal/policy.h"
#include "unseal/luks.h"
#include "unseal/unseal.h"
#include "unseal/volume.h"

/* A key file holds a passphrase: cryptsetup's interactive limit is 512
 * bytes, its key files may be longer; 8 KiB is plenty for either. */
#define UNSEAL_KEY_FILE_MAX (8u * 1024u)

enum {
        UNSEAL_EXIT_OK = 0,
        UNSEAL_EXIT_NOKEY = 1,
        UNSEAL_EXIT_INPUT = 2,
        UNSEAL_EXIT_FAULT = 3,
};

/* Reads all of stdin, at most `max` bytes, into a Secret (the plaintext of
 * encrypt is key material). -E2BIG beyond. */
static int read_stdin(size_t max, Secret **ret) {
        _cleanup_secret_ Secret *buf = secret_new(max + 1);
        size_t n = 0;
        ssize_t k;

        if (!buf)
                return -ENOMEM;
        while ((k = read(STDIN_FILENO, buf->data + n, buf->size - n)) != 0) {
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
                if (n > max)
                        return -E2BIG;
        }
        Secret *s = secret_new_copy(buf->data, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void report_print(const UnsealReport *r) {
        for (size_t i = 0; i < r->n_lines; i++)
                fprintf(stderr, "strata: unseal: %s\n", r->lines[i]);
        if (r->dropped)
                fprintf(stderr, "strata: unseal: (%zu more)\n", r->dropped);
}

static int exit_code(int r) {
        switch (r) {
        case 0: return UNSEAL_EXIT_OK;
        case -ENOKEY: return UNSEAL_EXIT_NOKEY;
        case -EBADMSG:
        case -EINVAL:
        case -E2BIG:
        case -EPERM: /* an untrusted tang advertisement: the user must pin or trust it */
                return UNSEAL_EXIT_INPUT;
        default: return UNSEAL_EXIT_FAULT;
        }
}

static void usage(void) {
        fprintf(stderr,
                "usage: strata unseal encrypt PIN CONFIG [-y] [OPTIONS] < PLAINTEXT > JWE\n"
                "       strata unseal decrypt [OPTIONS] < JWE > PLAINTEXT\n"
                "       strata unseal policy SPEC   (the spec's unseal policy as PIN CONFIG)\n"
                "       strata unseal luks-bind DEVICE PIN CONFIG --key-file FILE [-y] [OPTIONS]\n"
                "       strata unseal luks-unlock DEVICE NAME [OPTIONS]\n"
                "       strata unseal luks-unlock DEVICE --test [OPTIONS]\n"
                "       strata unseal luks-regen DEVICE [--slot N] [--key-file FILE] [PIN CONFIG] [-y] [OPTIONS]\n"
                "options:\n"
                "  -y, --trust          trust a tang advertisement on first use (as clevis -y)\n"
                "  --tcti STRING        the TPM (default $STRATA_TCTI or %s)\n"
                "  --tang-timeout SEC   per tang request (default %u)\n"
                "  -k, --key-file FILE  luks: an existing passphrase, the file's bytes verbatim (-: stdin)\n"
                "  -s, --slot N         luks-regen: only the clevis binding of keyslot N (default: all)\n"
                "  --test               luks-unlock: only check that a token opens its keyslot\n"
                "pins: sss, tang, tpm2 (and null, for tests); CONFIG is clevis' JSON.\n"
                "luks-unlock: NAME open already as this DEVICE is done (exit 0); as another one, exit 3.\n"
                "  With STRATA_VOLUME_IF_BLANK=create (/etc/strata/volume.env), a blank DEVICE is first\n"
                "  made into the volume, bound by the policy of $STRATA_SPEC (default\n"
                "  /etc/strata/spec.json), and given its ext4 once open; anything but blank or LUKS2\n"
                "  is refused (exit 2), never wiped.\n"
                "exit: 0 done, 1 could not decrypt (luks-unlock: also no clevis token), 2 bad input,\n"
                "      3 local fault\n",
                UNSEAL_DEFAULT_TCTI, (unsigned) (UNSEAL_DEFAULT_TANG_TIMEOUT_USEC / 1000000u));
}

/* Parses the options shared by every unseal command; leaves positionals. */
static int parse_options(int *argc, char **argv, UnsealOptions *o) {
        enum { ARG_TCTI = 0x100, ARG_TANG_TIMEOUT };
        static const struct option options[] = {
                { "trust", no_argument, NULL, 'y' },
                { "tcti", required_argument, NULL, ARG_TCTI },
                { "tang-timeout", required_argument, NULL, ARG_TANG_TIMEOUT },
                {}
        };
        int c;

        o->tcti = getenv("STRATA_TCTI");
        optind = 0;
        while ((c = getopt_long(*argc, argv, "y", options, NULL)) >= 0) {
                switch (c) {
                case 'y': o->trust_tang_adv = true; break;
                case ARG_TCTI: o->tcti = optarg; break;
                case ARG_TANG_TIMEOUT: {
                        char *end;
                        double s = strtod(optarg, &end);
                        if (*end || s <= 0 || s > 3600) {
                                fprintf(stderr, "strata: --tang-timeout: expected seconds (0 < s <= 3600), got \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        o->tang_timeout_usec = (uint64_t) (s * 1e6);
                        break;
                }
                default: return -EINVAL;
                }
        }
        /* shift positionals down: argv[0] stays the command */
        int n = 1;
        for (int i = optind; i < *argc; i++)
                argv[n++] = argv[i];
        *argc = n;
        return 0;
}

static int unseal_encrypt_cmd(int argc, char **argv) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        _cleanup_secret_ Secret *pt = NULL;
        _cleanup_free_ char *jwe = NULL;
        UnsealOptions o = { 0 };
        json_error_t err;
        int r;

        /* clevis accepts -y anywhere: encrypt PIN CONFIG -y */
        if (parse_options(&argc, argv, &o) < 0 || argc != 3) {
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        json_auto_t *config = json_loads(argv[2], 0, &err);
        if (!json_is_object(config)) {
                fprintf(stderr, "strata: unseal: CONFIG is not a JSON object: %s (column %d)\n",
                        config ? "not an object" : err.text, err.column);
                return UNSEAL_EXIT_INPUT;
        }
        r = read_stdin(JWE_PLAINTEXT_MAX, &pt);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: reading the plaintext: %s\n",
                        r == -E2BIG ? "over the size limit" : strerror(-r));
                return exit_code(r);
        }
        r = unseal_encrypt(&o, argv[1], config, pt->data, pt->size, &jwe, &report);
        report_print(&report);
        if (r < 0) {
                if (report.n_lines == 0)
                        fprintf(stderr, "strata: unseal: encrypt failed: %s\n", strerror(-r));
                return exit_code(r);
        }
        r = write_fd_all(STDOUT_FILENO, jwe, strlen(jwe));
        if (r < 0) {
                fprintf(stderr, "strata: unseal: writing the JWE: %s\n", strerror(-r));
                return UNSEAL_EXIT_FAULT;
        }
        return UNSEAL_EXIT_OK;
}

static int unseal_decrypt_cmd(int argc, char **argv) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        _cleanup_secret_ Secret *in = NULL, *pt = NULL;
        UnsealOptions o = { 0 };
        int r;

        if (parse_options(&argc, argv, &o) < 0 || argc != 1) {
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        r = read_stdin(JWE_COMPACT_MAX, &in);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: reading the JWE: %s\n",
                        r == -E2BIG ? "over the size limit" : strerror(-r));
                return exit_code(r);
        }
        r = unseal_decrypt(&o, (const char *) in->data, in->size, &pt, &report);
        report_print(&report);
        if (r < 0) {
                if (report.n_lines == 0)
                        fprintf(stderr, "strata: unseal: decrypt failed: %s\n", strerror(-r));
                return exit_code(r);
        }
        r = write_fd_all(STDOUT_FILENO, pt->data, pt->size);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: writing the plaintext: %s\n", strerror(-r));
                return UNSEAL_EXIT_FAULT;
        }
        return UNSEAL_EXIT_OK;
}

/* ---- LUKS2 ---------------------------------------------------------------- */

typedef struct LuksArgs {
        const char *key_file; /* NULL: none */
        int slot;             /* -1: every clevis binding */
        bool test;
} LuksArgs;

/* Parses the common options plus the luks ones, anywhere on the line;
 * leaves the positionals in argv[1..]. */
static int parse_luks_options(int *argc, char **argv, UnsealOptions *o, LuksArgs *a) {
        enum { ARG_TCTI = 0x100, ARG_TANG_TIMEOUT, ARG_TEST };
        static const struct option options[] = {
                { "trust", no_argument, NULL, 'y' },
                { "tcti", required_argument, NULL, ARG_TCTI },
                { "tang-timeout", required_argument, NULL, ARG_TANG_TIMEOUT },
                { "key-file", required_argument, NULL, 'k' },
                { "slot", required_argument, NULL, 's' },
                { "test", no_argument, NULL, ARG_TEST },
                {}
        };
        int c;

        *a = (LuksArgs) { .slot = -1 };
        o->tcti = getenv("STRATA_TCTI");
        optind = 0;
        while ((c = getopt_long(*argc, argv, "yk:s:", options, NULL)) >= 0) {
                switch (c) {
                case 'y': o->trust_tang_adv = true; break;
                case ARG_TCTI: o->tcti = optarg; break;
                case ARG_TANG_TIMEOUT: {
                        char *end;
                        double sec = strtod(optarg, &end);
                        if (*end || sec <= 0 || sec > 3600) {
                                fprintf(stderr, "strata: --tang-timeout: expected seconds (0 < s <= 3600), got \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        o->tang_timeout_usec = (uint64_t) (sec * 1e6);
                        break;
                }
                case 'k': a->key_file = optarg; break;
                case 's': {
                        char *end;
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || end == optarg || *end || v < 0 || v >= LUKS_KEYSLOT_MAX) {
                                fprintf(stderr, "strata: --slot: expected a keyslot 0..%d, got \"%s\"\n",
                                        LUKS_KEYSLOT_MAX - 1, optarg);
                                return -EINVAL;
                        }
                        a->slot = (int) v;
                        break;
                }
                case ARG_TEST: a->test = true; break;
                default: return -EINVAL;
                }
        }
        int n = 1;
        for (int i = optind; i < *argc; i++)
                argv[n++] = argv[i];
        *argc = n;
        return 0;
}

/* Reads a key file (- : stdin) into a Secret, its bytes verbatim as
 * cryptsetup --key-file does: a trailing newline is part of it. */
static int read_key_file(const char *path, Secret **ret) {
        _cleanup_secret_ Secret *buf = secret_new(UNSEAL_KEY_FILE_MAX + 1);
        _cleanup_close_ int fd = -1;
        size_t n = 0;
        ssize_t k;

        if (!buf)
                return -ENOMEM;
        if (strcmp(path, "-") == 0)
                fd = dup(STDIN_FILENO);
        else
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (n < buf->size && (k = read(fd, buf->data + n, buf->size - n)) != 0) {
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
        }
        if (n > UNSEAL_KEY_FILE_MAX)
                return -E2BIG;
        if (n == 0)
                return -ENODATA;
        Secret *s = secret_new_copy(buf->data, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int load_key_file(const char *path, Secret **ret) {
        int r = read_key_file(path, ret);
        if (r < 0)
                fprintf(stderr, "strata: unseal: key file %s: %s\n", path,
                        r == -E2BIG ? "over the 8 KiB limit" : r == -ENODATA ? "empty" : strerror(-r));
        return r;
}

static int parse_config(const char *text, json_t **ret) {
        json_error_t err;
        json_t *config = json_loads(text, 0, &err);
        if (!json_is_object(config)) {
                fprintf(stderr, "strata: unseal: CONFIG is not a JSON object: %s (column %d)\n",
                        config ? "not an object" : err.text, err.column);
                json_decref(config);
                return -EINVAL;
        }
        *ret = config;
        return 0;
}

/* As exit_code(), with what "no clevis token" means for this command. */
static int luks_exit_code(int r, int if_no_token) {
        if (r == -ENOENT)
                return if_no_token;
        return exit_code(r);
}

static int unseal_luks_bind_cmd(int argc, char **argv) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        _cleanup_secret_ Secret *key = NULL;
        json_auto_t *config = NULL;
        UnsealOptions o = { 0 };
        LuksArgs a;
        int slot = -1, r;

        if (parse_luks_options(&argc, argv, &o, &a) < 0 || argc != 4 || !a.key_file || a.test || a.slot >= 0) {
                if (!a.key_file)
                        fprintf(stderr, "strata: unseal: luks-bind needs --key-file with an existing passphrase\n");
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        if (parse_config(argv[3], &config) < 0)
                return UNSEAL_EXIT_INPUT;
        r = load_key_file(a.key_file, &key);
        if (r < 0)
                return r == -ENOMEM ? UNSEAL_EXIT_FAULT : UNSEAL_EXIT_INPUT;
        r = luks_bind(argv[1], argv[2], config, key, &o, &report, &slot);
        report_print(&report);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: luks-bind %s failed: %s\n", argv[1], strerror(-r));
                return exit_code(r);
        }
        printf("%s: keyslot %d bound with pin %s\n", argv[1], slot, argv[2]);
        return UNSEAL_EXIT_OK;
}

/* strata-unseal@ opens the data volume before stratad runs (on Flatcar the
 * volume's mounts sit between them), so a node whose Ignition config did
 * not create the volume (STRATA_VOLUME_IF_BLANK=create, volume.h) makes a
 * blank device into it here, bound by the spec's unseal policy
 * ($STRATA_SPEC, default /etc/strata/spec.json). */
static int luks_unlock_prepare(const char *device, const UnsealOptions *cli, UnsealReport *report) {
        _cleanup_(spec_errors_clear) SpecErrors errors = { 0 };
        const char *path = getenv("STRATA_SPEC") ?: "/etc/strata/spec.json";
        json_auto_t *config = NULL;
        UnsealOptions o = { 0 };
        Spec *spec = NULL;
        int r;

        r = spec_load_file(path, &spec, &errors);
        if (r < 0) {
                spec_errors_print(stderr, path, &errors);
                fprintf(stderr, "strata: unseal: %s: invalid spec: cannot tell how to bind a blank volume\n", path);
                return r;
        }
        (void) unseal_policy_config(spec_json(spec), &config, &o);
        spec_free(spec);
        /* the command line's TPM and time-out win, as for every other command */
        if (cli->tcti)
                o.tcti = cli->tcti;
        if (cli->tang_timeout_usec)
                o.tang_timeout_usec = cli->tang_timeout_usec;
        o.trust_tang_adv = o.trust_tang_adv || cli->trust_tang_adv;
        return unseal_volume_prepare(device, true, config, &o, report);
}

static int unseal_luks_unlock_cmd(int argc, char **argv) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        bool create_if_blank = streq_ptr(getenv(UNSEAL_VOLUME_ENV), "create");
        UnsealOptions o = { 0 };
        LuksArgs a;
        int slot = -1, r;

        if (parse_luks_options(&argc, argv, &o, &a) < 0 || a.key_file || a.slot >= 0 ||
            argc != (a.test ? 2 : 3)) {
                if (argc == 2 && !a.test)
                        fprintf(stderr, "strata: unseal: luks-unlock needs a NAME to activate, or --test\n");
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        if (create_if_blank) {
                r = luks_unlock_prepare(argv[1], &o, &report);
                if (r < 0) {
                        report_print(&report);
                        fprintf(stderr, "strata: unseal: luks-unlock %s: %s\n", argv[1],
                                r == -EMEDIUMTYPE ? "refused: it holds something else, nothing was written"
                                : r == -ENOMEDIUM ? "refused: blank"
                                                  : strerror(-r));
                        return r == -EMEDIUMTYPE || r == -ENOMEDIUM ? UNSEAL_EXIT_INPUT : exit_code(r);
                }
        }
        r = luks_unlock(argv[1], a.test ? NULL : argv[2], &o, &report, &slot);
        if (r >= 0 && !a.test && create_if_blank) {
                char mapper[256];
                snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", argv[2]);
                if (unseal_volume_filesystem(mapper, &report) < 0)
                        r = -EIO;
        }
        report_print(&report);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: luks-unlock %s failed: %s\n", argv[1],
                        r == -ENOKEY   ? "no clevis token could open it"
                        : r == -ENOENT ? "no clevis token"
                                       : strerror(-r));
                return luks_exit_code(r, UNSEAL_EXIT_NOKEY);
        }
        if (a.test)
                printf("%s: keyslot %d opens (test only, not activated)\n", argv[1], slot);
        else if (r == 1)
                /* idempotent: a unit started twice, or after Ignition opened it */
                printf("%s: open already as %s\n", argv[1], argv[2]);
        else
                printf("%s: unlocked as %s with keyslot %d\n", argv[1], argv[2], slot);
        return UNSEAL_EXIT_OK;
}

static int unseal_luks_regen_cmd(int argc, char **argv) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        _cleanup_secret_ Secret *key = NULL;
        json_auto_t *config = NULL;
        LuksRegenResult res = { 0 };
        UnsealOptions o = { 0 };
        LuksArgs a;
        int r;

        if (parse_luks_options(&argc, argv, &o, &a) < 0 || a.test || (argc != 2 && argc != 4)) {
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        if (argc == 4 && parse_config(argv[3], &config) < 0)
                return UNSEAL_EXIT_INPUT;
        if (a.key_file) {
                r = load_key_file(a.key_file, &key);
                if (r < 0)
                        return r == -ENOMEM ? UNSEAL_EXIT_FAULT : UNSEAL_EXIT_INPUT;
        }
        r = luks_regen(argv[1], a.slot, argc == 4 ? argv[2] : NULL, config, key, &o, &report, &res);
        report_print(&report);
        for (size_t i = 0; i < res.n; i++)
                printf("%s: keyslot %d regenerated as keyslot %d\n", argv[1], res.done[i].old_keyslot,
                       res.done[i].new_keyslot);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: luks-regen %s failed: %s\n", argv[1],
                        r == -ENOENT ? "no clevis binding to regenerate" : strerror(-r));
                return luks_exit_code(r, UNSEAL_EXIT_INPUT);
        }
        return UNSEAL_EXIT_OK;
}

/* Prints the spec's unseal policy as the two arguments the other commands
 * take: `sss` and its JSON config, one per line, so that
 * `strata unseal luks-bind DEV sss "$(strata unseal policy SPEC | tail -1)"`
 * binds exactly what stratad will unlock. */
static int unseal_policy_cmd(int argc, char **argv) {
        _cleanup_(spec_errors_clear) SpecErrors errors = { 0 };
        json_auto_t *config = NULL;
        Spec *spec = NULL;
        int r;

        if (argc != 2) {
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        r = spec_load_file(argv[1], &spec, &errors);
        if (r < 0) {
                spec_errors_print(stderr, argv[1], &errors);
                fprintf(stderr, "strata: unseal: %s: invalid spec\n", argv[1]);
                return UNSEAL_EXIT_INPUT;
        }
        r = unseal_policy_config(spec_json(spec), &config, NULL);
        spec_free(spec);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: %s: the unseal policy has no pin (no tang server, tpm2 disabled)\n", argv[1]);
                return UNSEAL_EXIT_INPUT;
        }
        _cleanup_free_ char *s = json_dumps(config, JSON_COMPACT);
        if (!s)
                return UNSEAL_EXIT_FAULT;
        printf("sss\n%s\n", s);
        return UNSEAL_EXIT_OK;
}

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} unseal_commands[] = {
        { "policy", unseal_policy_cmd },
        { "encrypt", unseal_encrypt_cmd },
        { "decrypt", unseal_decrypt_cmd },
        { "luks-bind", unseal_luks_bind_cmd },
        { "luks-unlock", unseal_luks_unlock_cmd },
        { "luks-regen", unseal_luks_regen_cmd },
};

int cmd_unseal(const CliContext *ctx, int argc, char **argv) {
        (void) ctx;
        if (argc < 2) {
                usage();
                return UNSEAL_EXIT_INPUT;
        }
        for (size_t i = 0; i < ELEMENTSOF(unseal_commands); i++)
                if (strcmp(argv[1], unseal_commands[i].name) == 0)
                        return unseal_commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "strata: unseal: unknown command \"%s\"\n", argv[1]);
        usage();
        return UNSEAL_EXIT_INPUT;
}
