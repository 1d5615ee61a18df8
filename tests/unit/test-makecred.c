/* Tests for agent/attest/makecred.c against a real TPM: on a swtpm with
 * EKs from tpm2_createek (RSA-2048 L-1, ECC P-256 L-2) and AKs from
 * tpm2_createak under them, our credential blob is opened by
 * tpm2_activatecredential and yields the secret; tpm2_makecredential -T
 * none's blob for the same secret, name and EK activates to the same
 * secret and has the same shape; a blob for another name is refused by
 * the TPM (TPM_RC_INTEGRITY); bad inputs are refused without a TPM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/verify.h"
#include "core/cursor.h"
#include "tpm-fixture.h"

#define FLUSH "tpm2_flushcontext -t && tpm2_flushcontext -s"
#define TOOLS_MAGIC 0xBADCC0DEu

typedef struct Key {
        const char *tag; /* file prefix */
        TPM2B_PUBLIC ek;
        uint8_t ak_name[TPM_NAME_MAX];
        size_t ak_name_size;
} Key;

typedef struct Ctx {
        TpmFixture tpm;
        Key rsa, ecc;
} Ctx;

static int sh(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(Ctx *c, const char *fmt, ...) {
        char cmd[2048], full[2300];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        snprintf(full, sizeof(full), "cd %s && %s", c->tpm.dir, cmd);
        char *argv[] = { "sh", "-c", full, NULL };
        return tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL);
}

static uint8_t *slurp(Ctx *c, const char *name, size_t *ret_size) {
        char path[256];
        uint8_t *buf = malloc(65536);
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", c->tpm.dir, name);
        f = fopen(path, "rb");
        if (!f || !buf) {
                if (f)
                        fclose(f);
                free(buf);
                return NULL;
        }
        *ret_size = fread(buf, 1, 65536, f);
        fclose(f);
        return buf;
}

static int spew(Ctx *c, const char *name, const void *p, size_t n) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", c->tpm.dir, name);
        f = fopen(path, "wb");
        if (!f)
                return -1;
        if (fwrite(p, 1, n, f) != n) {
                fclose(f);
                return -1;
        }
        return fclose(f);
}

static int make_key(Ctx *c, Key *k, const char *tag, const char *alg) {
        _cleanup_free_ uint8_t *pub = NULL, *name = NULL;
        size_t size, name_size;

        k->tag = tag;
        if (sh(c, "tpm2_createek -c ek-%s.ctx -G %s -u ek-%s.tss && " FLUSH
                  " && tpm2_readpublic -c ek-%s.ctx -f pem -o ek-%s.pem >/dev/null && " FLUSH
                  " && tpm2_createak -C ek-%s.ctx -c ak-%s.ctx -G %s -g sha256 -s %s -u ak-%s.tss -r ak-%s.priv "
                  "-n ak-%s.name >/dev/null && " FLUSH,
               tag, alg, tag, tag, tag, tag, tag, alg, strcmp(alg, "rsa") == 0 ? "rsassa" : "ecdsa", tag, tag,
               tag) != 0) {
                fprintf(stderr, "test-makecred: creating the %s EK/AK failed (see %s/run.log)\n", tag, c->tpm.dir);
                return -1;
        }
        char f[64];
        snprintf(f, sizeof(f), "ek-%s.tss", tag);
        pub = slurp(c, f, &size);
        snprintf(f, sizeof(f), "ak-%s.name", tag);
        name = slurp(c, f, &name_size);
        if (!pub || !name || name_size > TPM_NAME_MAX || tpm_public_parse(pub, size, &k->ek, NULL) < 0)
                return -1;
        memcpy(k->ak_name, name, name_size);
        k->ak_name_size = name_size;
        return 0;
}

static int group_setup(void **state) {
        static Ctx c;

        if (tpm_fixture_start(&c.tpm) < 0) {
                fprintf(stderr, "test-makecred: FAIL: no TPM simulator, nothing can be tested\n");
                return -1;
        }
        if (make_key(&c, &c.rsa, "rsa", "rsa") < 0 || make_key(&c, &c.ecc, "ecc", "ecc") < 0) {
                tpm_fixture_stop(&c.tpm);
                return -1;
        }
        *state = &c;
        return 0;
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (c)
                tpm_fixture_stop(&c->tpm);
        return 0;
}

/* The tpm2-tools credential file (tools/tpm2_makecredential.c). */
static int write_tools_file(Ctx *c, const char *name, const Blob *id, const Blob *sec) {
        uint8_t buf[8 + sizeof(TPM2B_ID_OBJECT) + sizeof(TPM2B_ENCRYPTED_SECRET)];
        Writer w;

        writer_init(&w, buf, sizeof(buf));
        writer_put_be32(&w, TOOLS_MAGIC);
        writer_put_be32(&w, 1);
        writer_put_bytes(&w, id->data, id->size);
        writer_put_bytes(&w, sec->data, sec->size);
        if (writer_error(&w) < 0)
                return -1;
        return spew(c, name, buf, writer_length(&w));
}

/* Activates `cred` with the key pair `tag`; 0 and the secret, or the tool's exit code. */
static int activate(Ctx *c, const char *tag, const char *cred, uint8_t *ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *out = NULL;
        int rc;

        rc = sh(c, "rm -f recovered.bin && tpm2_startauthsession --policy-session -S s.ctx && "
                   "tpm2_policysecret -S s.ctx -c e >/dev/null && "
                   "tpm2_activatecredential -c ak-%s.ctx -C ek-%s.ctx -i %s -o recovered.bin -P session:s.ctx; "
                   "rc=$?; tpm2_flushcontext s.ctx; " FLUSH "; exit $rc",
                tag, tag, cred);
        if (rc != 0)
                return rc;
        out = slurp(c, "recovered.bin", ret_size);
        if (!out || *ret_size > 64)
                return -1;
        memcpy(ret, out, *ret_size);
        return 0;
}

static void check_activates(Ctx *c, Key *k) {
        static const uint8_t secret_bytes[32] = "strata join key, 32 bytes long!";
        _cleanup_secret_ Secret *secret = secret_new_copy(secret_bytes, sizeof(secret_bytes));
        _cleanup_free_ uint8_t *tools = NULL;
        uint8_t got[64];
        size_t got_size = 0, tools_size = 0;
        Blob id = {}, sec = {};
        char cmd_name[2 * TPM_NAME_MAX + 1];

        assert_non_null(secret);
        assert_int_equal(makecred_build(&k->ek.publicArea, k->ak_name, k->ak_name_size, secret, &id, &sec, NULL), 0);
        assert_int_equal(write_tools_file(c, "ours.cred", &id, &sec), 0);
        assert_int_equal(activate(c, k->tag, "ours.cred", got, &got_size), 0);
        assert_int_equal(got_size, 32);
        assert_memory_equal(got, secret_bytes, 32);

        /* tpm2_makecredential -T none, same secret, name and EK: activates to
         * the same secret, and its blob has exactly our shape */
        assert_int_equal(spew(c, "secret.bin", secret_bytes, 32), 0);
        for (size_t i = 0; i < k->ak_name_size; i++)
                sprintf(cmd_name + 2 * i, "%02x", k->ak_name[i]);
        assert_int_equal(sh(c, "tpm2_makecredential -T none -u ek-%s.pem -G %s -s secret.bin -n %s -o tools.cred",
                            k->tag, k->tag, cmd_name),
                         0);
        assert_int_equal(activate(c, k->tag, "tools.cred", got, &got_size), 0);
        assert_memory_equal(got, secret_bytes, 32);
        tools = slurp(c, "tools.cred", &tools_size);
        assert_non_null(tools);
        assert_memory_equal(tools + 8, id.data, 4); /* sizes: TPM2B and integrity */
        if (k->ek.publicArea.type == TPM2_ALG_RSA) {
                assert_int_equal(tools_size, 8 + id.size + sec.size);
                assert_memory_equal(tools + 8 + id.size, sec.data, 2);
                assert_int_equal(tools_size, 336); /* doc 2.3 step 6 */
        } else {
                /* tpm2-tools writes the ephemeral point's coordinates without
                 * leading zero bytes (one run in 128 has one); we pad them to
                 * the curve size. The TPM takes both, so compare the shape. */
                const uint8_t *p = tools + 8 + id.size;
                size_t left, total, xs, ys;

                assert_true(tools_size >= 8 + id.size + 6);
                left = tools_size - 8 - id.size;
                total = (size_t) p[0] << 8 | p[1];
                xs = (size_t) p[2] << 8 | p[3];
                assert_true(4 + xs <= left);
                ys = (size_t) p[4 + xs] << 8 | p[5 + xs];
                assert_int_equal(left, 2 + total);
                assert_int_equal(total, 4 + xs + ys);
                assert_in_range(xs, 1, sec.size / 2);
                assert_in_range(ys, 1, sec.size / 2);
                assert_true(total <= sec.size - 2);
        }
        free(id.data);
        free(sec.data);
}

static void test_makecred_build_rsa_ek_activates(void **state) {
        Ctx *c = *state;
        check_activates(c, &c->rsa);
}

static void test_makecred_build_ecc_ek_activates(void **state) {
        Ctx *c = *state;
        check_activates(c, &c->ecc);
}

/* Bound to the name: a blob for another object fails the TPM's integrity check. */
static void test_makecred_build_wrong_name_refused_by_tpm(void **state) {
        Ctx *c = *state;
        _cleanup_secret_ Secret *secret = secret_new(32);
        uint8_t name[TPM_NAME_MAX], got[64];
        size_t got_size;
        Blob id = {}, sec = {};

        assert_non_null(secret);
        memcpy(name, c->rsa.ak_name, c->rsa.ak_name_size);
        name[5] ^= 1;
        assert_int_equal(makecred_build(&c->rsa.ek.publicArea, name, c->rsa.ak_name_size, secret, &id, &sec, NULL),
                         0);
        assert_int_equal(write_tools_file(c, "wrong.cred", &id, &sec), 0);
        assert_int_not_equal(activate(c, "rsa", "wrong.cred", got, &got_size), 0);
        free(id.data);
        free(sec.data);
}

static void test_makecred_build_bad_input_refused(void **state) {
        Ctx *c = *state;
        _cleanup_secret_ Secret *big = secret_new(33), *ok = secret_new(32);
        _cleanup_free_ char *err = NULL;
        Blob id = {}, sec = {};
        TPM2B_PUBLIC ek = c->rsa.ek;

        assert_non_null(big);
        assert_non_null(ok);
        /* longer than the EK nameAlg digest */
        assert_int_equal(makecred_build(&c->rsa.ek.publicArea, c->rsa.ak_name, c->rsa.ak_name_size, big, &id, &sec,
                                        &err),
                         -EINVAL);
        /* a name that is not nameAlg || digest */
        assert_int_equal(makecred_build(&c->rsa.ek.publicArea, c->rsa.ak_name, 20, ok, &id, &sec, &err), -EINVAL);
        /* not a restricted decryption key */
        ek.publicArea.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
        assert_int_equal(makecred_build(&ek.publicArea, c->rsa.ak_name, c->rsa.ak_name_size, ok, &id, &sec, &err),
                         -EOPNOTSUPP);
        /* not AES-CFB */
        ek = c->rsa.ek;
        ek.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
        assert_int_equal(makecred_build(&ek.publicArea, c->rsa.ak_name, c->rsa.ak_name_size, ok, &id, &sec, &err),
                         -EOPNOTSUPP);
        assert_null(id.data);
        assert_null(sec.data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_makecred_build_rsa_ek_activates),
                cmocka_unit_test(test_makecred_build_ecc_ek_activates),
                cmocka_unit_test(test_makecred_build_wrong_name_refused_by_tpm),
                cmocka_unit_test(test_makecred_build_bad_input_refused),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
