/* Tests for agent/bmc/credentials.c: a password file, USER:PASSWORD when the
 * spec names no user, a systemd credential via $CREDENTIALS_DIRECTORY, and
 * the refusals (missing, readable by others, empty, too big, a symlink). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bmc/credentials.h"
#include "core/cleanup.h"

typedef struct Ctx {
        char dir[64];
        char path[128];
} Ctx;

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        snprintf(c->dir, sizeof(c->dir), "/tmp/strata-cred-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        snprintf(c->path, sizeof(c->path), "%s/bmc", c->dir);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        char link[160];
        snprintf(link, sizeof(link), "%s/link", c->dir);
        unlink(link);
        unlink(c->path);
        rmdir(c->dir);
        free(c);
        unsetenv("CREDENTIALS_DIRECTORY");
        return 0;
}

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, size, f), size);
        fclose(f);
        assert_int_equal(chmod(path, mode), 0);
}

static int read_cred(const BmcMachine *m, char **user, Secret **pw, char **err) {
        *user = NULL;
        *pw = NULL;
        return bmc_credential_read(m, user, pw, err);
}

static void test_bmc_credential_read_file(void **state) {
        Ctx *c = *state;
        BmcMachine m = { .name = "m", .username = "admin", .credential_file = c->path };
        _cleanup_free_ char *user = NULL, *err = NULL;
        _cleanup_secret_ Secret *pw = NULL;

        write_file(c->path, "p@ss:word\r\n", 11, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), 0);
        assert_string_equal(user, "admin");
        assert_int_equal(pw->size, 9);
        assert_memory_equal(pw->data, "p@ss:word", 9);
}

static void test_bmc_credential_read_user_in_credential(void **state) {
        Ctx *c = *state;
        BmcMachine m = { .name = "m", .credential_file = c->path };
        _cleanup_free_ char *user = NULL, *err = NULL;
        _cleanup_secret_ Secret *pw = NULL;

        write_file(c->path, "root:calvin:x\n", 14, 0400);
        assert_int_equal(read_cred(&m, &user, &pw, &err), 0);
        assert_string_equal(user, "root");
        assert_int_equal(pw->size, 8);
        assert_memory_equal(pw->data, "calvin:x", 8);
        secret_free(pw);
        pw = NULL;
        free(user);
        user = NULL;
        write_file(c->path, "calvin\n", 7, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
        assert_non_null(strstr(err, "must be USER:PASSWORD"));
        write_file(c->path, ":calvin\n", 8, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
        write_file(c->path, "root:\n", 6, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
        assert_non_null(strstr(err, "empty password"));
}

static void test_bmc_credential_read_refusals(void **state) {
        Ctx *c = *state;
        BmcMachine m = { .name = "m", .username = "admin", .credential_file = c->path };
        _cleanup_free_ char *user = NULL, *err = NULL;
        Secret *pw = NULL;
        char big[BMC_CREDENTIAL_MAX + 1], link[160];

        assert_int_equal(read_cred(&m, &user, &pw, &err), -ENOENT);
        assert_non_null(strstr(err, c->path));
        write_file(c->path, "pw\n", 3, 0604);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EACCES);
        assert_non_null(strstr(err, "readable or writable by others"));
        write_file(c->path, "\n", 1, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
        assert_non_null(strstr(err, "empty"));
        write_file(c->path, "a\nb\n", 4, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
        /* exactly the cap is read; one byte more is refused */
        memset(big, 'x', sizeof(big));
        write_file(c->path, big, BMC_CREDENTIAL_MAX, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), 0);
        assert_int_equal(pw->size, BMC_CREDENTIAL_MAX);
        secret_free(pw);
        free(user);
        user = NULL;
        write_file(c->path, big, BMC_CREDENTIAL_MAX + 1, 0600);
        assert_int_equal(read_cred(&m, &user, &pw, &err), -E2BIG);
        /* no symlinks: the credential is the file named */
        snprintf(link, sizeof(link), "%s/link", c->dir);
        assert_int_equal(symlink(c->path, link), 0);
        m.credential_file = link;
        assert_int_equal(read_cred(&m, &user, &pw, &err), -ELOOP);
        assert_null(pw);
        assert_null(user);
}

static void test_bmc_credential_read_systemd(void **state) {
        Ctx *c = *state;
        BmcMachine m = { .name = "m", .username = "admin", .credential_name = "bmc" };
        _cleanup_free_ char *user = NULL, *err = NULL;
        _cleanup_secret_ Secret *pw = NULL;

        unsetenv("CREDENTIALS_DIRECTORY");
        assert_int_equal(read_cred(&m, &user, &pw, &err), -ENXIO);
        assert_non_null(strstr(err, "$CREDENTIALS_DIRECTORY is not set"));
        setenv("CREDENTIALS_DIRECTORY", c->dir, 1);
        write_file(c->path, "from-systemd", 12, 0400);
        assert_int_equal(read_cred(&m, &user, &pw, &err), 0);
        assert_memory_equal(pw->data, "from-systemd", 12);
        pw = secret_free(pw);
        free(user);
        user = NULL;
        m.credential_name = "..";
        assert_int_equal(read_cred(&m, &user, &pw, &err), -EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_bmc_credential_read_file),
                T(test_bmc_credential_read_user_in_credential),
                T(test_bmc_credential_read_refusals),
                T(test_bmc_credential_read_systemd),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
