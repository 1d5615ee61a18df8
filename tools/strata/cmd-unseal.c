/* `strata unseal ...`: Clevis-compatible encrypt and decrypt (drop-in for
 * `clevis encrypt` and `clevis decrypt`: stdin to stdout), and the LUKS2
 * commands. Exit codes: 0 done, 1 could not decrypt (no pin or too few pins
 * could open it), 2 bad input or usage, 3 local fault. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/secret.h"
#include "strata.h"
#include "unseal/jwe.h"
#include "unseal/unseal.h"

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

static int write_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t k = write(fd, b, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += k;
                n -= (size_t) k;
        }
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
                "options:\n"
                "  -y, --trust          trust a tang advertisement on first use (as clevis -y)\n"
                "  --tcti STRING        the TPM (default $STRATA_TCTI or %s)\n"
                "  --tang-timeout SEC   per tang request (default %u)\n"
                "pins: sss, tang, tpm2 (and null, for tests); CONFIG is clevis' JSON.\n"
                "exit: 0 done, 1 could not decrypt, 2 bad input, 3 local fault\n",
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
        while ((c = getopt_long(*argc, argv, "+y", options, NULL)) >= 0) {
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
        r = write_all(STDOUT_FILENO, jwe, strlen(jwe));
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
        r = write_all(STDOUT_FILENO, pt->data, pt->size);
        if (r < 0) {
                fprintf(stderr, "strata: unseal: writing the plaintext: %s\n", strerror(-r));
                return UNSEAL_EXIT_FAULT;
        }
        return UNSEAL_EXIT_OK;
}

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} unseal_commands[] = {
        { "encrypt", unseal_encrypt_cmd },
        { "decrypt", unseal_decrypt_cmd },
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
