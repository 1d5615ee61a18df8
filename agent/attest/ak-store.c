/* The AK blob pair on disk (see ak-store.h): parsing, the lock, and the
 * atomic, never-replacing write. Logs nothing: attest_ak's caller does. */
#include "attest/ak-store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_mu.h>

#include "core/fileio.h"
#include "core/cleanup.h"
#include "core/error-detail.h"

#define AK_STORE_DIR_MODE 0700
#define AK_STORE_FILE_MODE 0600
/* Temp files are ".#ak.pub.<pid>-<n>"; O_EXCL collisions tolerated. */
#define AK_STORE_TEMP_ATTEMPTS 16

int ak_store_parse(const uint8_t *pub, size_t pub_size, const uint8_t *priv, size_t priv_size,
                   TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv, char **reterr) {
        TPM2B_PUBLIC p = {};
        TPM2B_PRIVATE k = {};
        size_t off = 0;

        if (pub_size > AK_STORE_PUB_MAX)
                return error_detail_set(reterr, -E2BIG, AK_STORE_PUB_NAME ": %zu bytes, more than any TPM2B_PUBLIC",
                                        pub_size);
        if (priv_size > AK_STORE_PRIV_MAX)
                return error_detail_set(reterr, -E2BIG, AK_STORE_PRIV_NAME ": %zu bytes, more than any TPM2B_PRIVATE",
                                        priv_size);
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_size, &off, &p) != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG, AK_STORE_PUB_NAME ": not a marshalled TPM2B_PUBLIC (%zu bytes)",
                                        pub_size);
        if (off != pub_size || (size_t) p.size + 2u != pub_size)
                return error_detail_set(reterr, -EBADMSG, AK_STORE_PUB_NAME ": %zu bytes, but its TPM2B_PUBLIC takes %zu",
                                        pub_size, (size_t) p.size + 2u);
        if (p.size == 0)
                return error_detail_set(reterr, -EBADMSG, AK_STORE_PUB_NAME ": empty TPM2B_PUBLIC");
        off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv, priv_size, &off, &k) != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EBADMSG,
                                        AK_STORE_PRIV_NAME ": not a marshalled TPM2B_PRIVATE (%zu bytes)", priv_size);
        if (off != priv_size || (size_t) k.size + 2u != priv_size)
                return error_detail_set(reterr, -EBADMSG,
                                        AK_STORE_PRIV_NAME ": %zu bytes, but its TPM2B_PRIVATE takes %zu", priv_size,
                                        (size_t) k.size + 2u);
        if (k.size == 0)
                return error_detail_set(reterr, -EBADMSG, AK_STORE_PRIV_NAME ": empty TPM2B_PRIVATE");
        *ret_pub = p;
        *ret_priv = k;
        return 0;
}

int ak_store_lock(const char *dir, int *ret_fd, char **reterr) {
        _cleanup_close_ int dfd = -1, fd = -1;

        if (mkdir(dir, AK_STORE_DIR_MODE) < 0 && errno != EEXIST)
                return error_detail_set(reterr, -errno, "%s: cannot create the state directory: %m", dir);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return error_detail_set(reterr, -errno, "%s: cannot open the state directory: %m", dir);
        fd = openat(dfd, AK_STORE_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, AK_STORE_FILE_MODE);
        if (fd < 0)
                return error_detail_set(reterr, -errno, "%s/" AK_STORE_LOCK_NAME ": cannot open: %m", dir);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return error_detail_set(reterr, -errno, "%s/" AK_STORE_LOCK_NAME ": cannot lock: %m", dir);
        *ret_fd = take_fd(fd);
        return 0;
}

/* Reads a whole regular file of at most `max` bytes. -ENOENT if absent,
 * -E2BIG beyond max. */
static int read_file_capped(int dfd, const char *name, size_t max, uint8_t *buf, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t n = 0;

        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        _cleanup_free_ uint8_t *data = NULL;
        int r = read_fd_capped(fd, max, &data, &n);
        if (r < 0)
                return r;
        if (n)
                memcpy(buf, data, n);
        *ret_size = n;
        return 0;
}

int ak_store_load(const char *dir, TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv, char **reterr) {
        uint8_t pub[AK_STORE_PUB_MAX], priv[AK_STORE_PRIV_MAX];
        size_t pub_size = 0, priv_size = 0;
        _cleanup_close_ int dfd = -1;
        _cleanup_free_ char *why = NULL;
        int r_pub, r_priv, r;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                return error_detail_set(reterr, -errno, "%s: cannot open the state directory: %m", dir);
        }
        r_pub = read_file_capped(dfd, AK_STORE_PUB_NAME, sizeof(pub), pub, &pub_size);
        r_priv = read_file_capped(dfd, AK_STORE_PRIV_NAME, sizeof(priv), priv, &priv_size);
        if (r_pub == -ENOENT && r_priv == -ENOENT)
                return -ENOENT;
        if (r_pub == -ENOENT || r_priv == -ENOENT)
                return error_detail_set(reterr, -EBADMSG, "%s/%s exists but %s/%s does not", dir,
                                        r_pub == -ENOENT ? AK_STORE_PRIV_NAME : AK_STORE_PUB_NAME, dir,
                                        r_pub == -ENOENT ? AK_STORE_PUB_NAME : AK_STORE_PRIV_NAME);
        if (r_pub < 0 || r_priv < 0) {
                const char *name = r_pub < 0 ? AK_STORE_PUB_NAME : AK_STORE_PRIV_NAME;
                r = r_pub < 0 ? r_pub : r_priv;
                if (r == -E2BIG)
                        return error_detail_set(reterr, r, "%s/%s: larger than any marshalled key blob", dir, name);
                if (r == -EBADMSG)
                        return error_detail_set(reterr, r, "%s/%s: not a regular file", dir, name);
                return error_detail_set(reterr, r, "%s/%s: cannot read: %s", dir, name, strerror(-r));
        }
        r = ak_store_parse(pub, pub_size, priv, priv_size, ret_pub, ret_priv, &why);
        if (r < 0)
                return error_detail_set(reterr, r, "%s/%s", dir, why ? why : "malformed");
        return 0;
}

/* Writes `data` to a new temp file in dfd, fsynced; its name in `ret`. */
static int temp_write(int dfd, const char *name, const uint8_t *data, size_t size, char *ret, size_t ret_size) {
        static unsigned counter;
        _cleanup_close_ int fd = -1;
        int r;

        for (int i = 0; i < AK_STORE_TEMP_ATTEMPTS; i++) {
                snprintf(ret, ret_size, ".#%s.%ld-%u", name, (long) getpid(), counter++);
                fd = openat(dfd, ret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, AK_STORE_FILE_MODE);
                if (fd >= 0 || errno != EEXIST)
                        break;
        }
        if (fd < 0)
                return -errno;
        r = write_fd_all(fd, data, size);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, ret, 0);
        return r;
}

/* Renames temp to name unless name exists (-EEXIST). renameat2 where the
 * filesystem has it; link+unlink (just as exclusive) where it does not. */
static int rename_noreplace(int dfd, const char *temp, const char *name) {
        if (renameat2(dfd, temp, dfd, name, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (linkat(dfd, temp, dfd, name, 0) < 0)
                return -errno;
        (void) unlinkat(dfd, temp, 0);
        return 0;
}

typedef struct AkFile {
        const char *name;
        uint8_t *data;
        size_t size;
        char temp[64];
        bool have_temp;
} AkFile;

int ak_store_save(const char *dir, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, char **reterr) {
        uint8_t pub_buf[AK_STORE_PUB_MAX], priv_buf[AK_STORE_PRIV_MAX];
        /* ak.priv first: ak.pub appearing completes the pair */
        AkFile files[] = {
                { .name = AK_STORE_PRIV_NAME, .data = priv_buf },
                { .name = AK_STORE_PUB_NAME, .data = pub_buf },
        };
        _cleanup_close_ int dfd = -1;
        int r = 0;

        if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_buf, sizeof(pub_buf), &files[1].size) != TSS2_RC_SUCCESS ||
            Tss2_MU_TPM2B_PRIVATE_Marshal(priv, priv_buf, sizeof(priv_buf), &files[0].size) != TSS2_RC_SUCCESS)
                return error_detail_set(reterr, -EINVAL, "the AK blobs do not marshal");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return error_detail_set(reterr, -errno, "%s: cannot open the state directory: %m", dir);
        for (size_t i = 0; i < ELEMENTSOF(files) && r == 0; i++) {
                if (faccessat(dfd, files[i].name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        r = error_detail_set(reterr, -EEXIST, "%s/%s already exists; an AK is never replaced", dir,
                                             files[i].name);
        }
        for (size_t i = 0; i < ELEMENTSOF(files) && r == 0; i++) {
                r = temp_write(dfd, files[i].name, files[i].data, files[i].size, files[i].temp,
                               sizeof(files[i].temp));
                if (r < 0)
                        r = error_detail_set(reterr, r, "%s/%s: cannot write: %s", dir, files[i].name, strerror(-r));
                else
                        files[i].have_temp = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(files) && r == 0; i++) {
                r = rename_noreplace(dfd, files[i].temp, files[i].name);
                if (r < 0) {
                        r = error_detail_set(reterr, r, "%s/%s: cannot put in place: %s", dir, files[i].name,
                                             strerror(-r));
                        /* the ak.priv placed a moment ago is ours and was
                         * never used: take it back rather than leave half
                         * a pair that the next load must refuse */
                        for (size_t j = 0; j < i; j++)
                                (void) unlinkat(dfd, files[j].name, 0);
                } else
                        files[i].have_temp = false;
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i].have_temp)
                        (void) unlinkat(dfd, files[i].temp, 0);
        if (r < 0)
                return r;
        if (fsync(dfd) < 0)
                return error_detail_set(reterr, -errno, "%s: fsync of the directory failed: %m", dir);
        return 0;
}
