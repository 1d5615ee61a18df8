/* `strata attest ...`: the node's TPM evidence on the command line.
 *   quote   EK (and its NV certificate), AK (created in the state directory
 *           on first use), and a quote over PCRs with the verifier's nonce,
 *           as JSON; with --out-dir also the files tpm2_checkquote reads.
 *   join    the admission exchange with a sponsor (agent/swarm/joiner.c):
 *           admitted, the member certificate, its key, the fleet CA and
 *           the policy land in the member directory.
 *   renew   renews that member certificate over mutual TLS before expiry.
 * Talks to the TPM directly (agent/attest), not through stratad: the TPM
 * is the node's, and this is how an operator checks it by hand.
 * Exit codes: 0 done, 1 the TPM refused or the node's AK is unusable,
 * 2 bad input or usage, 3 local fault (TPM unreachable, I/O). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jose/jose.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/openssl-cleanup.h"
#include "attest-cli.h"
#include "attest/attest.h"
#include "attest/verify.h"
#include "core/cleanup.h"
#include "core/fileio.h"
#include "core/cursor.h"
#include "strata.h"
#include "swarm/swarm.h"

#define ATTEST_DEFAULT_STATE_DIR "/var/lib/strata"
#define ATTEST_MEMBER_SUBDIR "member" /* join's default member directory, in the state directory */
#define ATTEST_PATH_MAX 4096u
#define ATTEST_PCRS_ARG_MAX 128u  /* "0,1,2,...,23" is 61 characters */
#define ATTEST_OUT_FILE_MODE 0644
#define ATTEST_OUT_DIR_MODE 0755
/* quote.pcrs: the C structs tpm2-tools 5.x fwrites (lib/pcr.c,
 * pcr_fwrite_serialized), little-endian: TPML_PCR_SELECTION, UINT32 count,
 * count x TPML_DIGEST of at most 8 digests each, in selection order. */
#define PCRS_BANKS 16u            /* TPM2_NUM_PCR_BANKS */
#define PCRS_SELECTION_SIZE 8u    /* hash u16, sizeofSelect u8, pcrSelect[4], padding */
#define PCRS_SELECT_BYTES 4u      /* TPM2_PCR_SELECT_MAX */
#define PCRS_SIZEOF_SELECT 3u
#define PCRS_DIGESTS_PER_LIST 8u
#define PCRS_DIGEST_BUFFER 64u    /* sizeof(TPMU_HA) */
#define PCRS_DIGEST_SIZE (2u + PCRS_DIGEST_BUFFER)
#define PCRS_LIST_SIZE (4u + PCRS_DIGESTS_PER_LIST * PCRS_DIGEST_SIZE)
#define PCRS_LISTS_MAX ((ATTEST_PCR_MAX + PCRS_DIGESTS_PER_LIST - 1u) / PCRS_DIGESTS_PER_LIST)
#define PCRS_FILE_MAX (4u + PCRS_BANKS * PCRS_SELECTION_SIZE + 4u + PCRS_LISTS_MAX * PCRS_LIST_SIZE)

/* The layout tpm2-tools has on Linux; a different one would not read. */
_Static_assert(sizeof(TPMS_PCR_SELECTION) == PCRS_SELECTION_SIZE, "TPMS_PCR_SELECTION layout");
_Static_assert(offsetof(TPMS_PCR_SELECTION, pcrSelect) == 3, "TPMS_PCR_SELECTION layout");
_Static_assert(sizeof(TPML_PCR_SELECTION) == 4u + PCRS_BANKS * PCRS_SELECTION_SIZE, "TPML_PCR_SELECTION layout");
_Static_assert(sizeof(TPM2B_DIGEST) == PCRS_DIGEST_SIZE, "TPM2B_DIGEST layout");
_Static_assert(sizeof(TPML_DIGEST) == PCRS_LIST_SIZE, "TPML_DIGEST layout");

enum {
        ATTEST_EXIT_OK = 0,
        ATTEST_EXIT_REFUSED = 1,
        ATTEST_EXIT_INPUT = 2,
        ATTEST_EXIT_FAULT = 3,
};

typedef struct AttestBank {
        const char *name;
        uint16_t alg;
} AttestBank;

static const AttestBank attest_banks[] = {
        { "sha1", TPM2_ALG_SHA1 },
        { "sha256", TPM2_ALG_SHA256 },
        { "sha384", TPM2_ALG_SHA384 },
        { "sha512", TPM2_ALG_SHA512 },
};

static const char *const attest_ek_names[_ATTEST_EK_TYPE_MAX] = {
        [ATTEST_EK_RSA2048] = "rsa",
        [ATTEST_EK_ECC_P256] = "ecc",
};

DEFINE_CLEANUP(AttestTpm *, attest_tpm_close)

static int exit_code(int r) {
        switch (r) {
        case 0: return ATTEST_EXIT_OK;
        case -ENOKEY:
        case -EKEYREJECTED:
        case -EBADMSG: /* the AK blobs */
                return ATTEST_EXIT_REFUSED;
        case -EINVAL:
        case -E2BIG:
        case -ENOENT:
                return ATTEST_EXIT_INPUT;
        default: return ATTEST_EXIT_FAULT;
        }
}

static void usage(void) {
        fprintf(stderr,
                "usage: strata attest quote --nonce HEX --pcrs LIST [--bank sha256] [--ek rsa|ecc]\n"
                "                           [--tcti STRING] [--state-dir DIR] [--out-dir DIR]\n"
                "  --nonce HEX       the verifier's nonce (1..%u bytes)\n"
                "  --pcrs LIST       PCRs to quote: \"0,7\" or \"0-7,14\"\n"
                "  --bank NAME       sha1, sha256 (default), sha384 or sha512\n"
                "  --ek TYPE         rsa (default: TCG template L-1) or ecc (P-256, L-2)\n"
                "  --tcti STRING     the TPM (default $STRATA_TCTI or device:/dev/tpmrm0)\n"
                "  --state-dir DIR   where the AK lives (default %s)\n"
                "  --out-dir DIR     also write quote.msg, quote.sig, quote.pcrs and ak.pub (PEM)\n"
                "                    for tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -f quote.pcrs\n"
                "prints JSON: ek_pub, ek_cert (null without one), ak_pub, ak_name, attest, signature\n"
                "(base64url of TPM2B_PUBLIC, DER, TPM2B_PUBLIC, name, TPM2B_ATTEST, TPMT_SIGNATURE) and pcrs.\n"
                "exit: 0 done, 1 the TPM refused or the AK is unusable, 2 bad input, 3 local fault\n"
                "\n"
                "usage: strata attest join --sponsor URL --fleet-ca FILE --machine NAME [--ek rsa|ecc]\n"
                "                          [--tcti STRING] [--state-dir DIR] [--eventlog FILE] [--member-dir DIR]\n"
                "  --sponsor URL     https://ADDR:PORT of a fleet member that sponsors joiners\n"
                "  --fleet-ca FILE   the fleet CA certificate: the sponsor's certificate must chain to it\n"
                "  --machine NAME    the name this node claims (its member certificate's)\n"
                "  --eventlog FILE   the boot event log to send (default: none)\n"
                "  --member-dir DIR  where the admission lands (default STATE-DIR/%s)\n"
                "exit: 0 admitted, 1 refused (each reason printed), 2 bad input, 3 fault (TPM, network, sponsor)\n"
                "\n"
                "usage: strata attest renew --sponsor URL [--member-dir DIR | --state-dir DIR] [--force]\n"
                "  renews the member certificate over mutual TLS once less than 1/%u of its life is left\n"
                "exit: 0 renewed or not due, 1 refused, 2 bad input, 3 fault\n",
                ATTEST_NONCE_MAX, ATTEST_DEFAULT_STATE_DIR, ATTEST_MEMBER_SUBDIR, JOINER_RENEW_DIVISOR);
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int nonce_parse(const char *s, uint8_t *buf, size_t *ret_size) {
        size_t len = strlen(s);

        if (len == 0 || len % 2 != 0) {
                fprintf(stderr, "strata: attest: --nonce: expected an even number of hex digits\n");
                return -EINVAL;
        }
        if (len / 2 > ATTEST_NONCE_MAX) {
                fprintf(stderr, "strata: attest: --nonce: %zu bytes, at most %u\n", len / 2, ATTEST_NONCE_MAX);
                return -E2BIG;
        }
        for (size_t i = 0; i < len; i += 2) {
                int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
                if (hi < 0 || lo < 0) {
                        fprintf(stderr, "strata: attest: --nonce: not hex\n");
                        return -EINVAL;
                }
                buf[i / 2] = (uint8_t) (hi << 4 | lo);
        }
        *ret_size = len / 2;
        return 0;
}

static int pcr_number(const char **p, unsigned *ret) {
        unsigned v = 0, digits = 0;

        while (**p >= '0' && **p <= '9' && digits < 2) {
                v = v * 10u + (unsigned) (**p - '0');
                (*p)++;
                digits++;
        }
        if (digits == 0 || v >= ATTEST_PCR_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "0,7" or "0-7,14": ascending or not, no duplicates. */
static int pcrs_parse(const char *s, uint32_t *ret) {
        const char *p = s;
        uint32_t mask = 0;

        if (strlen(s) > ATTEST_PCRS_ARG_MAX)
                goto bad;
        for (;;) {
                unsigned a, b;

                if (pcr_number(&p, &a) < 0)
                        goto bad;
                b = a;
                if (*p == '-') {
                        p++;
                        if (pcr_number(&p, &b) < 0 || b < a)
                                goto bad;
                }
                for (unsigned i = a; i <= b; i++) {
                        if (mask & (UINT32_C(1) << i))
                                goto bad;
                        mask |= UINT32_C(1) << i;
                }
                if (*p == '\0')
                        break;
                if (*p != ',')
                        goto bad;
                p++;
        }
        *ret = mask;
        return 0;
bad:
        fprintf(stderr, "strata: attest: --pcrs: expected PCR numbers 0..%u like \"0,7\" or \"0-7,14\", got \"%s\"\n",
                ATTEST_PCR_MAX - 1u, s);
        return -EINVAL;
}

static json_t *b64(const Blob *b) {
        return jose_b64_enc(b->data, b->size);
}

static json_t *evidence_json(const Blob *ek_pub, const Blob *ek_cert, const Blob *ak_pub, const Blob *ak_name,
                             const Blob *attest, const Blob *sig, const AttestBank *bank, const PcrValues *v) {
        json_auto_t *values = json_object(), *doc = NULL;

        if (!values)
                return NULL;
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++) {
                char key[4], hex[2 * 64 + 1];

                if (!(v->mask & (UINT32_C(1) << i)))
                        continue;
                for (size_t k = 0; k < v->size; k++)
                        snprintf(hex + 2 * k, 3, "%02x", v->value[i][k]);
                snprintf(key, sizeof(key), "%u", i);
                if (json_object_set_new(values, key, json_string(hex)) < 0)
                        return NULL;
        }
        doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:O}}", "ek_pub", b64(ek_pub), "ek_cert",
                        ek_cert->size ? b64(ek_cert) : json_null(), "ak_pub", b64(ak_pub), "ak_name", b64(ak_name),
                        "attest", b64(attest), "signature", b64(sig), "pcrs", "bank", bank->name, "values", values);
        return take_ptr(doc);
}

/* ---- --out-dir: the files tpm2_quote writes ---- */

static int file_write(int dfd, const char *name, const void *data, size_t size) {
        _cleanup_close_ int fd = -1;

        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, ATTEST_OUT_FILE_MODE);
        if (fd < 0)
                return -errno;
        return write_fd_all(fd, data, size);
}

static int pcrs_file_build(const PcrValues *v, uint8_t *buf, size_t *ret_size) {
        uint8_t select[PCRS_SELECT_BYTES] = {};
        unsigned n = (unsigned) __builtin_popcount(v->mask), n_lists, k = 0;
        Writer w;

        if (v->size > PCRS_DIGEST_BUFFER)
                return -EINVAL;
        for (unsigned i = 0; i < ATTEST_PCR_MAX; i++)
                if (v->mask & (UINT32_C(1) << i))
                        select[i / 8u] |= (uint8_t) (1u << (i % 8u));
        n_lists = (n + PCRS_DIGESTS_PER_LIST - 1u) / PCRS_DIGESTS_PER_LIST;
        writer_init(&w, buf, PCRS_FILE_MAX);
        writer_put_le32(&w, 1);
        writer_put_le16(&w, v->hash_alg);
        writer_put_u8(&w, PCRS_SIZEOF_SELECT);
        writer_put_bytes(&w, select, sizeof(select));
        writer_put_zeros(&w, 1); /* padding */
        writer_put_zeros(&w, (PCRS_BANKS - 1u) * PCRS_SELECTION_SIZE);
        writer_put_le32(&w, n_lists);
        for (unsigned l = 0; l < n_lists; l++) {
                unsigned in_list = n - l * PCRS_DIGESTS_PER_LIST;

                if (in_list > PCRS_DIGESTS_PER_LIST)
                        in_list = PCRS_DIGESTS_PER_LIST;
                writer_put_le32(&w, in_list);
                for (unsigned d = 0; d < PCRS_DIGESTS_PER_LIST; d++) {
                        if (d >= in_list) {
                                writer_put_zeros(&w, PCRS_DIGEST_SIZE);
                                continue;
                        }
                        while (!(v->mask & (UINT32_C(1) << k)))
                                k++;
                        writer_put_le16(&w, (uint16_t) v->size);
                        writer_put_bytes(&w, v->value[k], v->size);
                        writer_put_zeros(&w, PCRS_DIGEST_BUFFER - v->size);
                        k++;
                }
        }
        if (writer_error(&w) < 0)
                return -EINVAL;
        *ret_size = writer_length(&w);
        return 0;
}

/* The AK's public key as PEM (SubjectPublicKeyInfo). */
static int public_pem(const Blob *pub, char **ret, size_t *ret_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        TPM2B_PUBLIC p = {};
        size_t off = 0;
        char *data = NULL, *out;
        long len;
        int r;

        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub->data, pub->size, &off, &p) != TSS2_RC_SUCCESS || off != pub->size)
                return -EBADMSG;
        r = tpm_public_pkey(&p.publicArea, &pkey, NULL);
        if (r < 0)
                return r;
        bio = BIO_new(BIO_s_mem());
        if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1)
                return -ENOMEM;
        len = BIO_get_mem_data(bio, &data);
        if (len <= 0 || !(out = malloc((size_t) len)))
                return -ENOMEM;
        memcpy(out, data, (size_t) len);
        *ret = out;
        *ret_size = (size_t) len;
        return 0;
}

static int out_dir_write(const char *dir, const Blob *ak_pub, const Blob *attest, const Blob *sig,
                         const PcrValues *v) {
        uint8_t pcrs[PCRS_FILE_MAX];
        _cleanup_free_ char *pem = NULL;
        _cleanup_close_ int dfd = -1;
        size_t pcrs_size = 0, pem_size = 0, off = 0;
        TPM2B_ATTEST a = {};
        int r;

        /* quote.msg is the TPMS_ATTEST without its TPM2B size, as tpm2_quote -m */
        if (Tss2_MU_TPM2B_ATTEST_Unmarshal(attest->data, attest->size, &off, &a) != TSS2_RC_SUCCESS ||
            off != attest->size)
                return -EBADMSG;
        r = pcrs_file_build(v, pcrs, &pcrs_size);
        if (r < 0)
                return r;
        r = public_pem(ak_pub, &pem, &pem_size);
        if (r < 0)
                return r;
        if (mkdir(dir, ATTEST_OUT_DIR_MODE) < 0 && errno != EEXIST)
                return -errno;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if ((r = file_write(dfd, "quote.msg", a.attestationData, a.size)) < 0 ||
            (r = file_write(dfd, "quote.sig", sig->data, sig->size)) < 0 ||
            (r = file_write(dfd, "quote.pcrs", pcrs, pcrs_size)) < 0 ||
            (r = file_write(dfd, "ak.pub", pem, pem_size)) < 0)
                return r;
        return 0;
}

typedef struct QuoteArgs {
        const char *nonce, *pcrs, *tcti, *state_dir, *out_dir;
        const AttestBank *bank;
        AttestEkType ek;
} QuoteArgs;

static int quote_args_parse(int argc, char **argv, QuoteArgs *a) {
        enum { ARG_NONCE = 0x100, ARG_PCRS, ARG_BANK, ARG_TCTI, ARG_STATE_DIR, ARG_EK, ARG_OUT_DIR };
        static const struct option options[] = {
                { "nonce", required_argument, NULL, ARG_NONCE },
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "bank", required_argument, NULL, ARG_BANK },
                { "tcti", required_argument, NULL, ARG_TCTI },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "ek", required_argument, NULL, ARG_EK },
                { "out-dir", required_argument, NULL, ARG_OUT_DIR },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        *a = (QuoteArgs) { .state_dir = ATTEST_DEFAULT_STATE_DIR, .bank = &attest_banks[1],
                           .ek = ATTEST_EK_RSA2048 };
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_NONCE: a->nonce = optarg; break;
                case ARG_PCRS: a->pcrs = optarg; break;
                case ARG_TCTI: a->tcti = optarg; break;
                case ARG_STATE_DIR: a->state_dir = optarg; break;
                case ARG_OUT_DIR: a->out_dir = optarg; break;
                case ARG_BANK:
                        a->bank = NULL;
                        for (size_t i = 0; i < ELEMENTSOF(attest_banks); i++)
                                if (strcmp(optarg, attest_banks[i].name) == 0)
                                        a->bank = &attest_banks[i];
                        if (!a->bank) {
                                fprintf(stderr, "strata: attest: --bank: not sha1, sha256, sha384 or sha512\n");
                                return -EINVAL;
                        }
                        break;
                case ARG_EK:
                        a->ek = _ATTEST_EK_TYPE_INVALID;
                        for (int i = 0; i < _ATTEST_EK_TYPE_MAX; i++)
                                if (strcmp(optarg, attest_ek_names[i]) == 0)
                                        a->ek = (AttestEkType) i;
                        if (a->ek == _ATTEST_EK_TYPE_INVALID) {
                                fprintf(stderr, "strata: attest: --ek: not rsa or ecc\n");
                                return -EINVAL;
                        }
                        break;
                case 'h': usage(); return 1;
                default: usage(); return -EINVAL;
                }
        }
        if (optind < argc || !a->nonce || !a->pcrs) {
                if (optind < argc)
                        fprintf(stderr, "strata: attest quote: unexpected argument \"%s\"\n", argv[optind]);
                else
                        fprintf(stderr, "strata: attest quote: --nonce and --pcrs are required\n");
                usage();
                return -EINVAL;
        }
        return 0;
}

/* Reports a failed library call once, with the detail the TPM layer kept. */
static int attest_fail(const AttestTpm *t, int r, const char *step) {
        const char *why = attest_tpm_error(t);

        fprintf(stderr, "strata: attest: %s: %s\n", step, why ? why : strerror(-r));
        return r;
}

static int quote_run(const QuoteArgs *a) {
        _cleanup_(attest_tpm_closep) AttestTpm *t = NULL;
        Blob ek_pub = {}, ek_cert = {}, ak_pub = {}, ak_name = {}, attest = {}, sig = {};
        json_auto_t *doc = NULL;
        uint8_t nonce[ATTEST_NONCE_MAX];
        size_t nonce_size = 0;
        PcrSelection sel = { .hash_alg = a->bank->alg };
        PcrValues v;
        int r;

        r = nonce_parse(a->nonce, nonce, &nonce_size);
        if (r < 0)
                return r;
        r = pcrs_parse(a->pcrs, &sel.mask);
        if (r < 0)
                return r;
        r = attest_tpm_open(a->tcti, &t);
        if (r < 0) {
                fprintf(stderr, "strata: attest: cannot reach the TPM at TCTI \"%s\": %s\n",
                        a->tcti ? a->tcti : getenv("STRATA_TCTI") ? getenv("STRATA_TCTI") : "device:/dev/tpmrm0",
                        strerror(-r));
                return r;
        }
        r = attest_ek(t, a->ek, &ek_pub, &ek_cert);
        if (r < 0) {
                attest_fail(t, r, "EK");
                goto out;
        }
        r = attest_ak(t, a->ek, a->state_dir, &ak_pub, &ak_name);
        if (r < 0) {
                attest_fail(t, r, "AK");
                goto out;
        }
        r = attest_quote(t, a->ek, a->state_dir, &sel, nonce, nonce_size, &attest, &sig, &v);
        if (r < 0) {
                attest_fail(t, r, "quote");
                goto out;
        }
        doc = evidence_json(&ek_pub, &ek_cert, &ak_pub, &ak_name, &attest, &sig, a->bank, &v);
        if (!doc) {
                r = -ENOMEM;
                fprintf(stderr, "strata: attest: out of memory\n");
                goto out;
        }
        if (a->out_dir) {
                r = out_dir_write(a->out_dir, &ak_pub, &attest, &sig, &v);
                if (r < 0) {
                        fprintf(stderr, "strata: attest: --out-dir %s: %s\n", a->out_dir, strerror(-r));
                        r = r == -EBADMSG || r == -EOPNOTSUPP ? -EIO : r;
                        goto out;
                }
        }
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', stdout) == EOF ||
            fflush(stdout) != 0) {
                r = -EIO;
                goto out;
        }
        r = 0;
out:
        blob_clear(&ek_pub);
        blob_clear(&ek_cert);
        blob_clear(&ak_pub);
        blob_clear(&ak_name);
        blob_clear(&attest);
        blob_clear(&sig);
        return r;
}

typedef struct AttestCommand {
        const char *name;
        int (*run)(int argc, char **argv);
} AttestCommand;

static int attest_quote_cmd(int argc, char **argv) {
        QuoteArgs a;
        int r = quote_args_parse(argc, argv, &a);

        if (r == 1)
                return ATTEST_EXIT_OK;
        if (r < 0)
                return ATTEST_EXIT_INPUT;
        return exit_code(quote_run(&a));
}

/* ---- join and renew ---- */

typedef struct JoinArgs {
        const char *sponsor, *fleet_ca, *machine, *tcti, *state_dir, *eventlog, *member_dir;
        AttestEkType ek;
        bool force;
} JoinArgs;

static int join_args_parse(int argc, char **argv, bool renew, JoinArgs *a) {
        enum { ARG_SPONSOR = 0x100, ARG_FLEET_CA, ARG_MACHINE, ARG_TCTI, ARG_STATE_DIR, ARG_EVENTLOG, ARG_MEMBER_DIR,
               ARG_EK, ARG_FORCE };
        static const struct option options[] = {
                { "sponsor", required_argument, NULL, ARG_SPONSOR },
                { "fleet-ca", required_argument, NULL, ARG_FLEET_CA },
                { "machine", required_argument, NULL, ARG_MACHINE },
                { "tcti", required_argument, NULL, ARG_TCTI },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "eventlog", required_argument, NULL, ARG_EVENTLOG },
                { "member-dir", required_argument, NULL, ARG_MEMBER_DIR },
                { "ek", required_argument, NULL, ARG_EK },
                { "force", no_argument, NULL, ARG_FORCE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *cmd = renew ? "renew" : "join";
        int c;

        *a = (JoinArgs) { .state_dir = ATTEST_DEFAULT_STATE_DIR, .ek = ATTEST_EK_RSA2048 };
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SPONSOR: a->sponsor = optarg; break;
                case ARG_FLEET_CA: a->fleet_ca = optarg; break;
                case ARG_MACHINE: a->machine = optarg; break;
                case ARG_TCTI: a->tcti = optarg; break;
                case ARG_STATE_DIR: a->state_dir = optarg; break;
                case ARG_EVENTLOG: a->eventlog = optarg; break;
                case ARG_MEMBER_DIR: a->member_dir = optarg; break;
                case ARG_FORCE: a->force = true; break;
                case ARG_EK:
                        a->ek = _ATTEST_EK_TYPE_INVALID;
                        for (int i = 0; i < _ATTEST_EK_TYPE_MAX; i++)
                                if (strcmp(optarg, attest_ek_names[i]) == 0)
                                        a->ek = (AttestEkType) i;
                        if (a->ek == _ATTEST_EK_TYPE_INVALID) {
                                fprintf(stderr, "strata: attest %s: --ek: not rsa or ecc\n", cmd);
                                return -EINVAL;
                        }
                        break;
                case 'h': usage(); return 1;
                default: usage(); return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "strata: attest %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
                return -EINVAL;
        }
        if (!a->sponsor || strncmp(a->sponsor, "https://", 8) != 0) {
                fprintf(stderr, "strata: attest %s: --sponsor https://ADDR:PORT is required\n", cmd);
                return -EINVAL;
        }
        if (!renew && (!a->fleet_ca || !a->machine)) {
                fprintf(stderr, "strata: attest join: --fleet-ca and --machine are required\n");
                return -EINVAL;
        }
        if (strlen(a->state_dir) >= ATTEST_PATH_MAX || (a->member_dir && strlen(a->member_dir) >= ATTEST_PATH_MAX)) {
                fprintf(stderr, "strata: attest %s: path too long\n", cmd);
                return -EINVAL;
        }
        return 0;
}

static int join_exit(int r) {
        switch (r) {
        case 0: return ATTEST_EXIT_OK;
        case -EACCES: return ATTEST_EXIT_REFUSED;
        case -EINVAL: return ATTEST_EXIT_INPUT;
        default: return ATTEST_EXIT_FAULT;
        }
}

static void print_until(const char *label, int64_t t) {
        char stamp[32] = "?";
        time_t tt = (time_t) t;
        struct tm tm;

        if (gmtime_r(&tt, &tm))
                strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("  %s: %s\n", label, stamp);
}

/* --member-dir, or the state directory's member/ (where join puts it and
 * renew finds it). malloc'd; NULL on OOM. */
static char *join_member_dir(const JoinArgs *a) {
        char *d = NULL;
        if (a->member_dir)
                return strdup(a->member_dir);
        return asprintf(&d, "%s/%s", a->state_dir, ATTEST_MEMBER_SUBDIR) < 0 ? NULL : d;
}

static int attest_join_cmd(int argc, char **argv) {
        _cleanup_(joiner_result_clear) JoinerResult res = {};
        _cleanup_free_ char *err = NULL, *member_dir = NULL;
        JoinArgs a;
        int r;

        r = join_args_parse(argc, argv, false, &a);
        if (r != 0)
                return r > 0 ? ATTEST_EXIT_OK : ATTEST_EXIT_INPUT;
        member_dir = join_member_dir(&a);
        if (!member_dir)
                return ATTEST_EXIT_FAULT;
        JoinerConfig cfg = {
                .sponsor = a.sponsor,
                .fleet_ca = a.fleet_ca,
                .machine = a.machine,
                .tcti = a.tcti,
                .ek = a.ek,
                .state_dir = a.state_dir,
                .eventlog = a.eventlog,
                .member_dir = member_dir,
        };
        r = joiner_run(&cfg, &res, &err);
        if (r == -EACCES) {
                printf("refused: %zu check%s failed\n", res.reasons.n_lines, res.reasons.n_lines == 1 ? "" : "s");
                for (size_t i = 0; i < res.reasons.n_lines; i++)
                        printf("  - %s\n", res.reasons.lines[i]);
                return ATTEST_EXIT_REFUSED;
        }
        if (r < 0) {
                fprintf(stderr, "strata: attest join: %s\n", err ? err : strerror(-r));
                return join_exit(r);
        }
        printf("admitted as %s\n  member directory: %s\n", a.machine, member_dir);
        print_until("member certificate valid until", res.not_after);
        return ATTEST_EXIT_OK;
}

static int attest_renew_cmd(int argc, char **argv) {
        _cleanup_free_ char *err = NULL, *member_dir = NULL;
        int64_t not_after = 0;
        JoinArgs a;
        int r;

        r = join_args_parse(argc, argv, true, &a);
        if (r != 0)
                return r > 0 ? ATTEST_EXIT_OK : ATTEST_EXIT_INPUT;
        member_dir = join_member_dir(&a);
        if (!member_dir)
                return ATTEST_EXIT_FAULT;
        r = joiner_renew(a.sponsor, member_dir, a.force, 0, &not_after, &err);
        if (r < 0) {
                fprintf(stderr, "strata: attest renew: %s\n", err ? err : strerror(-r));
                return join_exit(r);
        }
        printf("%s\n", r > 0 ? "not due" : "renewed");
        print_until("member certificate valid until", not_after);
        return ATTEST_EXIT_OK;
}

static const AttestCommand attest_commands[] = {
        { "join", attest_join_cmd },
        { "quote", attest_quote_cmd },
        { "renew", attest_renew_cmd },
        { "verify", attest_verify_cmd },
};

int cmd_attest(const CliContext *ctx, int argc, char **argv) {
        (void) ctx;
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage();
                return argc < 2 ? ATTEST_EXIT_INPUT : ATTEST_EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(attest_commands); i++)
                if (strcmp(argv[1], attest_commands[i].name) == 0)
                        return attest_commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "strata: attest: unknown command \"%s\"\n", argv[1]);
        usage();
        return ATTEST_EXIT_INPUT;
}
