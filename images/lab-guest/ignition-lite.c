/* ignition-lite: the lab guest's stand-in for Flatcar's Ignition. It
 * applies an Ignition 3.x config the way Ignition's disks and files stages
 * do, for exactly the fields Strata's templates emit (the JSON files in ignition/):
 *   storage.luks       LUKS2 on a blank device with a random key, bound with
 *                      clevis through Strata's own `strata unseal luks-bind`
 *                      (tang/tpm2/threshold, or a custom sss pin), then the
 *                      random key's keyslot removed, as Ignition does when a
 *                      clevis binding holds the volume;
 *   storage.filesystems mkfs (ext4 only) on a blank device, mounted at its
 *                      path for the files below it;
 *   storage.directories, files (data: and http(s) sources, sha512
 *                      verification, mode, overwrite), links;
 *   systemd.units      unit files, drop-ins, masks and the enable preset
 *                      (/etc/systemd/system-preset/20-ignition.preset).
 * Anything else in a config, or a malformed entry, is refused before
 * anything is touched, naming its JSON path (ignition-lite-config.c): a lab
 * that silently ignored a field would show a propagation Flatcar would not
 * reproduce. It stands in for Flatcar in the
 * virtual lab only (images/README.md, "Lab guest").
 *
 * usage: ignition-lite [--root DIR] [--check] CONFIG
 *   --root DIR  where the node's / is (/sysroot on a disk boot; / from RAM)
 *   --check     only check the config, change nothing
 * Environment: LAB_STRATA (default strata), LAB_CRYPTSETUP (cryptsetup),
 * LAB_MKFS (mke2fs -q -b 4096), LAB_WGET (wget), LAB_KEY_DIR (/run/ignition-lite).
 *
 * Built static (jansson, libcrypto) by images/lab-guest.mk, with its
 * checker, agent/ignition/data-url.c (the decoder Strata's own secret scan
 * uses) and agent/core/fileio.c. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "ignition-lite-config.h"
#include "ignition/data-url.h"

/* Largest config accepted (Strata's are tens of KiB; a spec is at most 4 MiB). */
#define CONFIG_MAX (16u * 1024u * 1024u)
/* Tries for an http(s) source, one second apart (Ignition retries forever;
 * a lab run should fail visibly instead). */
#define FETCH_TRIES 20
/* The random LUKS key: 256 bits, like Ignition's generated key file. */
#define LUKS_KEY_BYTES 32

typedef struct Ctx {
        const char *root;
        const char *strata, *cryptsetup, *mkfs, *wget, *key_dir;
        char mounted[IGNITION_LITE_MOUNTS_MAX][IGNITION_LITE_PATH_MAX];
        size_t n_mounted;
        struct {
                char name[128], device[IGNITION_LITE_PATH_MAX], key[IGNITION_LITE_PATH_MAX];
                bool open;
        } luks[IGNITION_LITE_LUKS_MAX];
        size_t n_luks;
} Ctx;

/* One error line, "ignition-lite: PATH: WHAT", which /init copies into its
 * LAB-MARK; returns -1 for the caller to pass up. */
__attribute__((format(printf, 2, 3))) static int fail(const char *path, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "ignition-lite: %s: ", path);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -1;
}

/* ---- helpers ------------------------------------------------------------ */

/* Runs argv (NULL-terminated), its output on our stderr; the exit code or -1. */
static int run(char *const argv[]) {
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -1;
        if (pid == 0) {
                dup2(STDERR_FILENO, STDOUT_FILENO);
                execvp(argv[0], argv);
                fprintf(stderr, "ignition-lite: cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Splits a command from the environment ("mke2fs -q -b 4096") into argv
 * and appends the rest; returns the exit code. */
static int run_cmd(const char *cmd, const char *const extra[]) {
        char *copy = strdup(cmd), *argv[32], *save = NULL;
        size_t n = 0;
        int r;

        if (!copy)
                return -1;
        for (char *t = strtok_r(copy, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
                argv[n++] = t;
        for (size_t i = 0; extra[i] && n < 31; i++)
                argv[n++] = (char *) extra[i];
        argv[n] = NULL;
        r = run(argv);
        free(copy);
        return r;
}

static int join(const Ctx *c, const char *path, char out[IGNITION_LITE_PATH_MAX]) {
        int n = snprintf(out, IGNITION_LITE_PATH_MAX, "%s%s", strcmp(c->root, "/") == 0 ? "" : c->root, path);
        return n > 0 && n < IGNITION_LITE_PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* mkdir -p of path's parents, mode 0755 (Ignition's default for them). */
static int mkdir_parents(const char *full) {
        char buf[IGNITION_LITE_PATH_MAX];

        snprintf(buf, sizeof(buf), "%s", full);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

static int sha512_hex(const void *data, size_t n, char out[129]) {
        unsigned char md[64];
        unsigned len = 0;

        if (!EVP_Digest(data, n, md, &len, EVP_sha512(), NULL) || len != 64)
                return -1;
        for (unsigned i = 0; i < len; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
        return 0;
}

/* The whole file at `path`, at most `max` bytes (read_fd_capped: NULL and
 * 0 for an empty file). */
static int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = read_fd_capped(fd, max, ret, ret_size);
        close(fd);
        return r;
}

/* Writes data to full via a temporary file and rename, mode `mode`. */
static int write_atomic(const char *full, const void *data, size_t n, mode_t mode) {
        char tmp[IGNITION_LITE_PATH_MAX + 16];
        int fd, r;

        snprintf(tmp, sizeof(tmp), "%s.ign-tmp", full);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_fd_all(fd, data, n);
        if (r < 0) {
                close(fd);
                unlink(tmp);
                return r;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
                int e = -errno;
                unlink(tmp);
                return e;
        }
        if (rename(tmp, full) < 0) {
                int e = -errno;
                unlink(tmp);
                return e;
        }
        return 0;
}

/* The bytes of a contents.source: a data: URL, or http(s) fetched with
 * busybox wget (retried, as Ignition retries fetches). */
static int fetch_source(const Ctx *c, const char *url, const char *where, uint8_t **ret, size_t *ret_size) {
        char tmp[IGNITION_LITE_PATH_MAX];
        int r;

        if (data_url_is(url, strlen(url))) {
                r = data_url_decode(url, strlen(url), ret, ret_size);
                return r < 0 ? fail(where, "cannot decode the data: URL: %s", strerror(-r)) : 0;
        }
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
                return fail(where, "only data:, http: and https: sources are supported");
        snprintf(tmp, sizeof(tmp), "%s/fetch.tmp", c->key_dir);
        for (int i = 0; i < FETCH_TRIES; i++) {
                const char *extra[] = { "-q", "-O", tmp, url, NULL };
                unlink(tmp);
                if (run_cmd(c->wget, extra) == 0) {
                        r = read_file(tmp, SIZE_MAX / 2, ret, ret_size);
                        unlink(tmp);
                        return r < 0 ? fail(where, "cannot read what %s returned: %s", url, strerror(-r)) : 0;
                }
                sleep(1);
        }
        unlink(tmp);
        return fail(where, "cannot fetch %s (%d tries)", url, FETCH_TRIES);
}

/* ---- storage.luks ------------------------------------------------------- */

/* A device Ignition may format: nothing but zeros in its first MiB
 * (Ignition refuses to touch a device holding anything, wipeVolume false). */
static int device_is_blank(const char *dev) {
        static uint8_t buf[1024 * 1024];
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0)
                return -errno;
        for (ssize_t i = 0; i < n; i++)
                if (buf[i])
                        return 0;
        return 1;
}

static int apply_luks(Ctx *c, const json_t *e, size_t i) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *dev = json_string_value(json_object_get(e, "device"));
        char where[64], key[IGNITION_LITE_PATH_MAX], *pin = NULL, *config = NULL;
        unsigned char k[LUKS_KEY_BYTES];
        int fd, r;

        snprintf(where, sizeof(where), "$.storage.luks[%zu]", i);
        /* name, device and the count: ignition_lite_check */
        r = device_is_blank(dev);
        if (r < 0)
                return fail(where, "device %s: %s", dev, strerror(-r));
        if (r == 0)
                return fail(where, "device %s is not blank, and wipeVolume is false: Ignition never reuses a "
                                   "clevis-bound volume, this boot fails closed", dev);
        if (ignition_lite_clevis(json_object_get(e, "clevis"), &pin, &config) < 0)
                return fail(where, "out of memory");

        /* the random key, on tmpfs only while the volume is being set up */
        snprintf(key, sizeof(key), "%s/%s.key", c->key_dir, name);
        if (RAND_bytes(k, sizeof(k)) != 1)
                return fail(where, "no random key");
        fd = open(key, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write(fd, k, sizeof(k)) != (ssize_t) sizeof(k) || close(fd) < 0) {
                OPENSSL_cleanse(k, sizeof(k));
                return fail(where, "cannot write the key file %s: %s", key, strerror(errno));
        }
        OPENSSL_cleanse(k, sizeof(k));
        snprintf(c->luks[c->n_luks].name, sizeof(c->luks[0].name), "%s", name);
        snprintf(c->luks[c->n_luks].device, sizeof(c->luks[0].device), "%s", dev);
        snprintf(c->luks[c->n_luks].key, sizeof(c->luks[0].key), "%s", key);
        c->n_luks++;

        /* pbkdf2 with few iterations: the key is 256 random bits, so a slow
         * KDF adds nothing, and argon2's memory would not fit the guest */
        const char *format[] = { "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                                 "--pbkdf-force-iterations", "1000", "--key-file", key, dev, NULL };
        if (run_cmd(c->cryptsetup, format) != 0)
                r = fail(where, "cryptsetup luksFormat %s failed", dev);
        else {
                const char *bind[] = { "unseal", "luks-bind", dev, pin, config, "--key-file", key, "-y", NULL };
                if (run_cmd(c->strata, bind) != 0)
                        r = fail(where, "strata unseal luks-bind %s %s failed", dev, pin);
                else {
                        const char *open_[] = { "open", "--key-file", key, dev, name, NULL };
                        r = run_cmd(c->cryptsetup, open_) == 0 ? 0 : fail(where, "cryptsetup open %s failed", dev);
                        c->luks[c->n_luks - 1].open = r == 0;
                }
        }
        if (r == 0)
                printf("ignition-lite | %s: LUKS2 on %s bound with clevis pin %s\n", where, dev, pin);
        free(pin);
        free(config);
        return r;
}

/* After the files: close every volume and remove the random key's keyslot,
 * so only the clevis binding opens it (stratad does, as on every boot). */
static int finish_luks(Ctx *c) {
        int ret = 0;

        for (size_t i = 0; i < c->n_luks; i++) {
                char where[64];
                snprintf(where, sizeof(where), "$.storage.luks[%zu]", i);
                if (c->luks[i].open) {
                        const char *close_[] = { "close", c->luks[i].name, NULL };
                        if (run_cmd(c->cryptsetup, close_) != 0)
                                ret = fail(where, "cryptsetup close %s failed", c->luks[i].name);
                }
                const char *remove[] = { "luksRemoveKey", "--batch-mode", "--key-file", c->luks[i].key,
                                         c->luks[i].device, NULL };
                if (ret == 0 && run_cmd(c->cryptsetup, remove) != 0)
                        ret = fail(where, "cannot remove the initial key from %s", c->luks[i].device);
                /* tmpfs: overwriting is the wipe there is */
                int fd = open(c->luks[i].key, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        static const unsigned char zero[LUKS_KEY_BYTES];
                        (void) !write(fd, zero, sizeof(zero));
                        close(fd);
                }
                unlink(c->luks[i].key);
        }
        return ret;
}

/* ---- storage.filesystems ------------------------------------------------ */

static int has_ext_superblock(const char *dev) {
        unsigned char magic[2];
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = pread(fd, magic, 2, 1080);
        close(fd);
        return n == 2 && magic[0] == 0x53 && magic[1] == 0xEF;
}

/* Is dev the mapping of a LUKS volume created by this run? */
static bool created_here(const Ctx *c, const char *dev) {
        for (size_t i = 0; i < c->n_luks; i++) {
                char mapper[IGNITION_LITE_PATH_MAX];
                snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", c->luks[i].name);
                if (c->luks[i].open && strcmp(dev, mapper) == 0)
                        return true;
        }
        return false;
}

static int apply_filesystem(Ctx *c, const json_t *e, size_t i) {
        const char *dev = json_string_value(json_object_get(e, "device"));
        const char *label = json_string_value(json_object_get(e, "label"));
        const char *path = json_string_value(json_object_get(e, "path"));
        char where[64], full[IGNITION_LITE_PATH_MAX];
        int r;

        snprintf(where, sizeof(where), "$.storage.filesystems[%zu]", i);
        r = has_ext_superblock(dev);
        if (r < 0)
                return fail(where, "device %s: %s", dev, strerror(-r));
        if (r == 0) {
                /* a volume this run just created reads as noise (zeros,
                 * decrypted): it is as blank as a device can be */
                r = created_here(c, dev) ? 1 : device_is_blank(dev);
                if (r <= 0)
                        return fail(where, "device %s holds something that is not ext4, and wipeFilesystem is "
                                           "false", dev);
                const char *extra[] = { "-L", label ? label : "", dev, NULL };
                const char *nolabel[] = { dev, NULL };
                if (run_cmd(c->mkfs, label ? extra : nolabel) != 0)
                        return fail(where, "mkfs on %s failed", dev);
        }
        if (!path)
                return 0;
        if (join(c, path, full) < 0)
                return fail(where, "%s under %s is too long", path, c->root);
        if (mkdir_parents(full) < 0 || (mkdir(full, 0755) < 0 && errno != EEXIST))
                return fail(where, "cannot create %s: %s", full, strerror(errno));
        if (mount(dev, full, "ext4", 0, NULL) < 0)
                return fail(where, "cannot mount %s on %s: %s", dev, full, strerror(errno));
        snprintf(c->mounted[c->n_mounted++], IGNITION_LITE_PATH_MAX, "%s", full);
        return 0;
}

/* ---- storage.directories, files, links ---------------------------------- */

static mode_t mode_of(const json_t *e, mode_t dflt) {
        const json_t *m = json_object_get(e, "mode");
        return json_is_integer(m) ? (mode_t) (json_integer_value(m) & 07777) : dflt;
}

static int apply_directory(const Ctx *c, const json_t *e, size_t i) {
        const char *path = json_string_value(json_object_get(e, "path"));
        char where[64], full[IGNITION_LITE_PATH_MAX];
        struct stat st;

        snprintf(where, sizeof(where), "$.storage.directories[%zu]", i);
        if (join(c, path, full) < 0)
                return fail(where, "%s under %s is too long", path, c->root);
        if (mkdir_parents(full) < 0)
                return fail(where, "cannot create the parents of %s", path);
        if (lstat(full, &st) == 0 && !S_ISDIR(st.st_mode))
                return fail(where, "%s exists and is not a directory", path);
        if (mkdir(full, 0700) < 0 && errno != EEXIST)
                return fail(where, "cannot create %s: %s", path, strerror(errno));
        if (chmod(full, mode_of(e, 0755)) < 0)
                return fail(where, "cannot chmod %s: %s", path, strerror(errno));
        return 0;
}

static int apply_file(const Ctx *c, const json_t *e, size_t i) {
        const char *path = json_string_value(json_object_get(e, "path"));
        const json_t *contents = json_object_get(e, "contents");
        const char *source = json_string_value(json_object_get(contents, "source"));
        const char *hash = json_string_value(json_object_get(json_object_get(contents, "verification"), "hash"));
        char where[64], full[IGNITION_LITE_PATH_MAX], hex[129];
        uint8_t *data = NULL;
        size_t n = 0;
        int r;

        snprintf(where, sizeof(where), "$.storage.files[%zu]", i);
        if (join(c, path, full) < 0)
                return fail(where, "%s under %s is too long", path, c->root);
        if (!json_is_true(json_object_get(e, "overwrite")) && access(full, F_OK) == 0)
                return fail(where, "%s exists and overwrite is false", path);
        if (source && fetch_source(c, source, where, &data, &n) < 0)
                return -1;
        if (hash) {
                if (sha512_hex(data ? (const void *) data : "", n, hex) < 0 || strcmp(hex, hash + 7) != 0) {
                        free(data);
                        return fail(where, "%s: its SHA-512 is %.16s..., the config says %.16s...", source, hex,
                                    hash + 7);
                }
        }
        r = mkdir_parents(full);
        if (r >= 0)
                r = write_atomic(full, data ? (const void *) data : "", n, mode_of(e, 0644));
        free(data);
        return r < 0 ? fail(where, "cannot write %s: %s", path, strerror(-r)) : 0;
}

static int apply_link(const Ctx *c, const json_t *e, size_t i) {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *target = json_string_value(json_object_get(e, "target"));
        char where[64], full[IGNITION_LITE_PATH_MAX];

        snprintf(where, sizeof(where), "$.storage.links[%zu]", i);
        if (join(c, path, full) < 0)
                return fail(where, "%s under %s is too long", path, c->root);
        if (mkdir_parents(full) < 0)
                return fail(where, "cannot create the parents of %s", path);
        if (json_is_true(json_object_get(e, "overwrite")))
                (void) unlink(full);
        if (symlink(target, full) < 0)
                return fail(where, "cannot link %s: %s", path, strerror(errno));
        return 0;
}

/* ---- systemd.units ------------------------------------------------------ */

static int write_text(const Ctx *c, const char *path, const char *text, const char *where) {
        char full[IGNITION_LITE_PATH_MAX];

        if (join(c, path, full) < 0 || mkdir_parents(full) < 0)
                return fail(where, "cannot create the parents of %s", path);
        if (write_atomic(full, text, strlen(text), 0644) < 0)
                return fail(where, "cannot write %s: %s", path, strerror(errno));
        return 0;
}

static int apply_unit(const Ctx *c, const json_t *e, size_t i, FILE *preset) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *contents = json_string_value(json_object_get(e, "contents"));
        const json_t *dropins = json_object_get(e, "dropins"), *d, *enabled = json_object_get(e, "enabled");
        char where[96], path[IGNITION_LITE_PATH_MAX], full[IGNITION_LITE_PATH_MAX];
        size_t k;

        snprintf(where, sizeof(where), "$.systemd.units[%zu]", i);
        snprintf(path, sizeof(path), "/etc/systemd/system/%s", name);
        if (json_is_true(json_object_get(e, "mask"))) {
                if (join(c, path, full) < 0 || mkdir_parents(full) < 0)
                        return fail(where, "cannot create /etc/systemd/system");
                (void) unlink(full);
                if (symlink("/dev/null", full) < 0)
                        return fail(where, "cannot mask %s: %s", name, strerror(errno));
        } else if (contents && write_text(c, path, contents, where) < 0)
                return -1;
        json_array_foreach(dropins, k, d) {
                const char *dn = json_string_value(json_object_get(d, "name"));
                const char *dc = json_string_value(json_object_get(d, "contents"));
                snprintf(where, sizeof(where), "$.systemd.units[%zu].dropins[%zu]", i, k);
                snprintf(path, sizeof(path), "/etc/systemd/system/%s.d/%s", name, dn);
                if (write_text(c, path, dc, where) < 0)
                        return -1;
        }
        if (json_is_boolean(enabled))
                fprintf(preset, "%s %s\n", json_is_true(enabled) ? "enable" : "disable", name);
        return 0;
}

static int apply_units(const Ctx *c, const json_t *units) {
        char *text = NULL;
        size_t len = 0, i;
        const json_t *e;
        FILE *preset = open_memstream(&text, &len);
        int r = 0;

        if (!preset)
                return fail("$.systemd.units", "out of memory");
        json_array_foreach(units, i, e)
                if ((r = apply_unit(c, e, i, preset)) < 0)
                        break;
        fclose(preset);
        if (r == 0 && len > 0)
                r = write_text(c, "/etc/systemd/system-preset/20-ignition.preset", text, "$.systemd.units");
        free(text);
        return r;
}

/* ---- main --------------------------------------------------------------- */

static int apply(Ctx *c, const json_t *config) {
        const json_t *storage = json_object_get(config, "storage"), *e;
        size_t i;
        int r = 0;

        /* Ignition's stages in order: disks (luks, filesystems), mount, files */
        json_array_foreach(json_object_get(storage, "luks"), i, e)
                if ((r = apply_luks(c, e, i)) < 0)
                        goto out;
        json_array_foreach(json_object_get(storage, "filesystems"), i, e)
                if ((r = apply_filesystem(c, e, i)) < 0)
                        goto out;
        json_array_foreach(json_object_get(storage, "directories"), i, e)
                if ((r = apply_directory(c, e, i)) < 0)
                        goto out;
        json_array_foreach(json_object_get(storage, "files"), i, e)
                if ((r = apply_file(c, e, i)) < 0)
                        goto out;
        json_array_foreach(json_object_get(storage, "links"), i, e)
                if ((r = apply_link(c, e, i)) < 0)
                        goto out;
        r = apply_units(c, json_object_get(json_object_get(config, "systemd"), "units"));
out:
        while (c->n_mounted > 0) {
                const char *m = c->mounted[--c->n_mounted];
                if (umount(m) < 0 && r == 0)
                        r = fail(m, "cannot unmount: %s", strerror(errno));
        }
        if (finish_luks(c) < 0)
                r = -1;
        return r;
}

static const char *env_or(const char *name, const char *dflt) {
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

int main(int argc, char **argv) {
        Ctx c = { .root = "/" };
        const char *file = NULL;
        bool check_only = false;
        char check_err[IGNITION_LITE_ERR_MAX];
        json_error_t err;
        json_t *config;
        uint8_t *text = NULL;
        size_t n = 0;
        int r;

        /* one log for stdout and stderr (the guest's /init): in order */
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
                        c.root = argv[++i];
                else if (strcmp(argv[i], "--check") == 0)
                        check_only = true;
                else if (argv[i][0] != '-' && !file)
                        file = argv[i];
                else {
                        fprintf(stderr, "usage: ignition-lite [--root DIR] [--check] CONFIG\n");
                        return 2;
                }
        }
        if (!file) {
                fprintf(stderr, "usage: ignition-lite [--root DIR] [--check] CONFIG\n");
                return 2;
        }
        c.strata = env_or("LAB_STRATA", "strata");
        c.cryptsetup = env_or("LAB_CRYPTSETUP", "cryptsetup");
        c.mkfs = env_or("LAB_MKFS", "mke2fs -q -b 4096");
        c.wget = env_or("LAB_WGET", "wget");
        c.key_dir = env_or("LAB_KEY_DIR", "/run/ignition-lite");

        r = read_file(file, CONFIG_MAX, &text, &n);
        if (r < 0) {
                fail(file, "cannot read: %s", strerror(-r));
                return 1;
        }
        config = json_loadb(text ? (const char *) text : "", n, JSON_REJECT_DUPLICATES, &err);
        free(text);
        if (!config || !json_is_object(config)) {
                fail("$", "not a JSON object (line %d: %s)", err.line, config ? "" : err.text);
                json_decref(config);
                return 1;
        }
        if (ignition_lite_check(config, check_err) < 0) {
                fprintf(stderr, "ignition-lite: %s\n", check_err);
                json_decref(config);
                return 1;
        }
        if (check_only) {
                json_decref(config);
                printf("ignition-lite | %s: every field is supported\n", file);
                return 0;
        }
        if (mkdir(c.key_dir, 0700) < 0 && errno != EEXIST) {
                fail(c.key_dir, "cannot create: %s", strerror(errno));
                json_decref(config);
                return 1;
        }
        r = apply(&c, config);
        json_decref(config);
        if (r < 0)
                return 1;
        printf("ignition-lite | applied %s to %s\n", file, c.root);
        return 0;
}
