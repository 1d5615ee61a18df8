/* Test fixture: a swtpm manufactured like a real TPM, with EK certificates
 * from a throwaway local CA, as in docs/attestation.md section 3:
 * swtpm_setup --create-ek-cert with swtpm_localca (RSA 2048 EK cert at NV
 * 0x01c00002; swtpm 0.7 makes its ECC EK P-384, high range), plus an ECC
 * P-256 EK certificate at 0x01c0000a that the same CA issues for the key
 * tpm2_createek -G ecc makes (template L-2). Everything lives in a fresh
 * /tmp/strata-tpm-* directory: nothing is cached across runs. The TPM is
 * shut down (TPM2_Shutdown) before swtpm is stopped by its PID, so no
 * dictionary-attack counter moves. A missing tool is a failure, never a pass. */
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tpm-fixture.h"

#define EK_FIXTURE_RSA_CERT_INDEX "0x01c00002"
#define EK_FIXTURE_ECC_CERT_INDEX "0x01c0000a"
/* swtpm_setup's own attributes for the EK cert indices */
#define EK_FIXTURE_NV_ATTRS "ppwrite|writedefine|ppread|ownerread|authread|no_da|platformcreate"

static const char *const ek_fixture_tools[] = {
        "swtpm", "swtpm_setup", "swtpm_localca", "tpm2_createek", "tpm2_nvdefine", "tpm2_nvwrite",
        "tpm2_nvundefine", "tpm2_flushcontext", "tpm2_shutdown", "tpm2_getcap", "tpm2_makecredential",
        "tpm2_checkquote", "tpm2_print", "tpm2_pcrread", "tpm2_pcrextend", "openssl",
};

static inline int ek_fixture_write(const TpmFixture *f, const char *name, const char *text) {
        char path[160];
        FILE *o;

        snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        o = fopen(path, "w");
        if (!o)
                return -1;
        fputs(text, o);
        return fclose(o) == 0 ? 0 : -1;
}

/* Runs argv, reporting a failure on stderr. */
static inline int ek_fixture_must(const TpmFixture *f, char *const argv[]) {
        int rc = tpm_fixture_run(f, argv, NULL, 0, NULL, NULL);

        if (rc != 0)
                fprintf(stderr, "ek-fixture: %s exited %d (see %s/run.log)\n", argv[0], rc, f->dir);
        return rc == 0 ? 0 : -1;
}

/* x and y of the P-256 point in a PEM public key, as hex. */
static inline int ek_fixture_point_hex(const char *pem_path, char x[65], char y[65]) {
        uint8_t point[65];
        size_t n = 0;
        EVP_PKEY *k = NULL;
        FILE *in = fopen(pem_path, "r");

        if (!in)
                return -1;
        k = PEM_read_PUBKEY(in, NULL, NULL, NULL);
        fclose(in);
        if (!k)
                return -1;
        if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n) != 1 ||
            n != sizeof(point) || point[0] != 0x04) {
                EVP_PKEY_free(k);
                return -1;
        }
        EVP_PKEY_free(k);
        for (int i = 0; i < 32; i++) {
                snprintf(x + 2 * i, 3, "%02x", point[1 + i]);
                snprintf(y + 2 * i, 3, "%02x", point[33 + i]);
        }
        return 0;
}

/* Writes `path` (in the fixture dir) into NV `index` by the platform
 * hierarchy, defining the index with `size` bytes (0: the file's size). */
static inline int ek_fixture_nv_put(const TpmFixture *f, const char *index, const char *file, size_t size) {
        char path[160], size_s[24];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", f->dir, file);
        if (stat(path, &st) < 0)
                return -1;
        snprintf(size_s, sizeof(size_s), "%zu", size ? size : (size_t) st.st_size);
        char *define[] = { "tpm2_nvdefine", (char *) index, "-C", "p", "-s", size_s, "-a", EK_FIXTURE_NV_ATTRS, NULL };
        char *write[] = { "tpm2_nvwrite", (char *) index, "-C", "p", "-i", path, NULL };
        if (ek_fixture_must(f, define) < 0 || ek_fixture_must(f, write) < 0)
                return -1;
        return 0;
}

static inline int ek_fixture_nv_drop(const TpmFixture *f, const char *index) {
        char *undefine[] = { "tpm2_nvundefine", (char *) index, "-C", "p", NULL };
        return ek_fixture_must(f, undefine);
}

/* Issues the ECC P-256 EK certificate (dir/ek-p256.der) and puts it at
 * 0x01c0000a, as a manufacturer would. */
static inline int ek_fixture_ecc_cert(TpmFixture *f) {
        char pem[128], ctx[128], out[128], conf[128], opts[128], ek[200], x[65], y[65];
        char *createek[] = { "tpm2_createek", "-G", "ecc", "-c", ctx, "-u", pem, "-f", "pem", NULL };
        char *flush[] = { "tpm2_flushcontext", "-t", NULL };
        char *localca[] = { "swtpm_localca", "--type", "ek", "--ek", ek, "--dir", out, "--tpm-spec-family", "2.0",
                            "--tpm-spec-level", "0", "--tpm-spec-revision", "164", "--tpm-manufacturer",
                            "id:00001014", "--tpm-model", "swtpm", "--tpm-version", "id:20191023", "--tpm2",
                            "--configfile", conf, "--optsfile", opts, NULL };
        char cert[160], der[160];

        snprintf(pem, sizeof(pem), "%s/ek-p256.pem", f->dir);
        snprintf(ctx, sizeof(ctx), "%s/ek-p256.ctx", f->dir);
        snprintf(out, sizeof(out), "%s/ecc", f->dir);
        snprintf(conf, sizeof(conf), "%s/localca.conf", f->dir);
        snprintf(opts, sizeof(opts), "%s/localca.options", f->dir);
        if (mkdir(out, 0700) < 0 || ek_fixture_must(f, createek) < 0 || ek_fixture_must(f, flush) < 0)
                return -1;
        if (ek_fixture_point_hex(pem, x, y) < 0) {
                fprintf(stderr, "ek-fixture: cannot read the P-256 EK from %s\n", pem);
                return -1;
        }
        snprintf(ek, sizeof(ek), "x=%s,y=%s,id=secp256r1", x, y);
        if (ek_fixture_must(f, localca) < 0)
                return -1;
        snprintf(cert, sizeof(cert), "%s/ek.cert", out);
        snprintf(der, sizeof(der), "%s/ek-p256.der", f->dir);
        if (rename(cert, der) < 0)
                return -1;
        return ek_fixture_nv_put(f, EK_FIXTURE_ECC_CERT_INDEX, "ek-p256.der", 0);
}

/* Manufactures the vTPM (about a second) and starts it. 0, or -1 with a
 * message on stderr. Files: ca/ (the local CA: swtpm-localca-rootca-cert.pem,
 * issuercert.pem), certs/ek-rsa2048.crt (DER), ek-p256.der, ek-p256.pem. */
static inline int ek_fixture_start(TpmFixture *f) {
        char conf[1024], state[128], setup[128], certs[128], ca[128];

        memset(f, 0, sizeof(*f));
        for (size_t i = 0; i < sizeof(ek_fixture_tools) / sizeof(ek_fixture_tools[0]); i++) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", ek_fixture_tools[i]);
                if (system(cmd) != 0) {
                        fprintf(stderr, "ek-fixture: FAIL: %s is not installed (apt-get install swtpm swtpm-tools "
                                        "tpm2-tools openssl)\n", ek_fixture_tools[i]);
                        return -1;
                }
        }
        snprintf(f->dir, sizeof(f->dir), "/tmp/strata-tpm-XXXXXX");
        if (!mkdtemp(f->dir)) {
                perror("ek-fixture: mkdtemp");
                return -1;
        }
        snprintf(state, sizeof(state), "%s/state", f->dir);
        snprintf(certs, sizeof(certs), "%s/certs", f->dir);
        snprintf(ca, sizeof(ca), "%s/ca", f->dir);
        snprintf(setup, sizeof(setup), "%s/setup.conf", f->dir);
        if (mkdir(state, 0700) < 0 || mkdir(certs, 0700) < 0 || mkdir(ca, 0700) < 0) {
                perror("ek-fixture: mkdir");
                return -1;
        }
        snprintf(conf, sizeof(conf), "statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\n"
                 "certserial = %s/certserial\n", ca, ca, ca, ca);
        if (ek_fixture_write(f, "localca.conf", conf) < 0 ||
            ek_fixture_write(f, "localca.options",
                             "--platform-manufacturer Strata\n--platform-version 2.1\n--platform-model swtpm\n") < 0)
                return -1;
        snprintf(conf, sizeof(conf), "create_certs_tool = /usr/bin/swtpm_localca\n"
                 "create_certs_tool_config = %s/localca.conf\ncreate_certs_tool_options = %s/localca.options\n",
                 f->dir, f->dir);
        if (ek_fixture_write(f, "setup.conf", conf) < 0)
                return -1;

        char *swtpm_setup[] = { "swtpm_setup", "--tpm2", "--tpmstate", state, "--config", setup, "--create-ek-cert",
                                "--create-platform-cert", "--pcr-banks", "sha1,sha256", "--write-ek-cert-files", certs,
                                "--overwrite", NULL };
        if (ek_fixture_must(f, swtpm_setup) < 0)
                return -1;
        if (tpm_fixture_launch(f) < 0)
                return -1;
        return ek_fixture_ecc_cert(f);
}

/* TPM2_Shutdown(CLEAR), as at an orderly power-off. */
static inline void ek_fixture_shutdown(const TpmFixture *f) {
        char *shutdown[] = { "tpm2_shutdown", "-c", NULL };

        if (f->pid > 0)
                (void) tpm_fixture_run(f, shutdown, NULL, 0, NULL, NULL);
}

/* A reboot: orderly shutdown, swtpm restarted on the same state (PCRs
 * reset, transient objects and sessions gone). */
static inline int ek_fixture_restart(TpmFixture *f) {
        ek_fixture_shutdown(f);
        return tpm_fixture_restart(f);
}

static inline void ek_fixture_stop(TpmFixture *f) {
        ek_fixture_shutdown(f);
        tpm_fixture_stop(f);
}
