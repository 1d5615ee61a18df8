/* StateStore (see state-store.h): the state file format (state_file_build,
 * state_file_parse), the store directory's lock and stale temp files, and
 * the atomic replace-by-rename of one document. Logs nothing: callers do. */
#include "core/error-detail.h"
#include "core/fileio.h"
#include "core/state-store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cursor.h"

#define STATE_DIR_MODE 0700
#define STATE_FILE_MODE 0600
#define STATE_LOCK_NAME ".lock"
/* Temp files are ".#<name>.<pid>-<counter>"; names are [a-z0-9-], so no
 * document or the lock can start with this. */
#define STATE_TEMP_PREFIX ".#"
/* O_EXCL collisions tolerated before a save gives up (-EEXIST). */
#define STATE_TEMP_ATTEMPTS 16
#define STATE_JSON_DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)
/* What we write must load: jansson escapes U+0000 on dump but refuses it on
 * load unless allowed. Duplicate keys never come from our writer. */
#define STATE_JSON_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

_Static_assert(sizeof(STATE_MAGIC) - 1 == STATE_MAGIC_SIZE, "magic size");
_Static_assert(STATE_FILE_MAX > STATE_HEADER_SIZE, "file cap below header size");

struct StateStore {
        char *dir;         /* as given: for detail messages only */
        int dir_fd;        /* every file operation is relative to this */
        int lock_fd;       /* holds the flock while open */
        uint64_t temp_counter;
};

DEFINE_CLEANUP(DIR *, closedir)

bool state_name_is_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, STATE_NAME_MAX + 1);
        if (n == 0 || n > STATE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
                        return false;
        }
        return true;
}

static int sha256(const uint8_t *data, size_t size, uint8_t ret[static STATE_DIGEST_SIZE]) {
        unsigned int n = 0;

        if (EVP_Digest(data, size, ret, &n, EVP_sha256(), NULL) != 1 || n != STATE_DIGEST_SIZE)
                return -EIO;
        return 0;
}

int state_file_build(const json_t *doc, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ char *payload = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t digest[STATE_DIGEST_SIZE];
        size_t n, size;
        Writer w;
        int r;

        if (!doc || !(json_is_object(doc) || json_is_array(doc)))
                return -EINVAL;
        payload = json_dumps(doc, STATE_JSON_DUMP_FLAGS);
        if (!payload)
                return -ENOMEM;
        n = strlen(payload);
        if (n > STATE_FILE_MAX - STATE_HEADER_SIZE)
                return -E2BIG;
        r = sha256((const uint8_t *) payload, n, digest);
        if (r < 0)
                return r;

        size = STATE_HEADER_SIZE + n;
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        writer_init(&w, buf, size);
        writer_put_bytes(&w, STATE_MAGIC, STATE_MAGIC_SIZE);
        writer_put_be32(&w, STATE_FORMAT_VERSION);
        writer_put_be64(&w, n);
        writer_put_bytes(&w, digest, sizeof(digest));
        writer_put_bytes(&w, payload, n);
        if (writer_error(&w) < 0)
                return writer_error(&w);

        *ret = take_ptr(buf);
        *ret_size = size;
        return 0;
}


int state_file_parse(const uint8_t *data, size_t size, json_t **ret, char **reterr_detail) {
        uint8_t magic[STATE_MAGIC_SIZE], digest[STATE_DIGEST_SIZE], actual[STATE_DIGEST_SIZE];
        const uint8_t *payload = NULL;
        uint32_t version = 0;
        uint64_t length = 0;
        json_error_t error;
        json_t *doc;
        Cursor c;
        int r;

        if (size > STATE_FILE_MAX)
                return error_detail_set(reterr_detail, -E2BIG, "file is %zu bytes, over the %u-byte limit",
                                   size, STATE_FILE_MAX);

        cursor_init(&c, data, size);
        if (cursor_get_bytes(&c, sizeof(magic), magic) < 0)
                return error_detail_set(reterr_detail, -EBADMSG, "truncated header (%zu of %u bytes)",
                                   size, STATE_HEADER_SIZE);
        if (memcmp(magic, STATE_MAGIC, sizeof(magic)) != 0)
                return error_detail_set(reterr_detail, -EBADMSG, "not a strata state file (bad magic)");

        /* The version decides how to read the rest, so it is checked first. */
        if (cursor_get_be32(&c, &version) < 0)
                return error_detail_set(reterr_detail, -EBADMSG, "truncated header (%zu of %u bytes)",
                                   size, STATE_HEADER_SIZE);
        if (version == 0)
                return error_detail_set(reterr_detail, -EBADMSG, "invalid format version 0");
        if (version > STATE_FORMAT_VERSION)
                return error_detail_set(reterr_detail, -EPROTONOSUPPORT,
                                   "written by a newer version (format %" PRIu32
                                   ", this build reads up to %u)",
                                   version, STATE_FORMAT_VERSION);

        cursor_get_be64(&c, &length);
        cursor_get_bytes(&c, sizeof(digest), digest);
        if (cursor_error(&c) < 0)
                return error_detail_set(reterr_detail, -EBADMSG, "truncated header (%zu of %u bytes)",
                                   size, STATE_HEADER_SIZE);

        if (length > cursor_remaining(&c))
                return error_detail_set(reterr_detail, -EBADMSG,
                                   "truncated payload (header says %" PRIu64 " bytes, %zu present)",
                                   length, cursor_remaining(&c));
        r = cursor_get_span(&c, (size_t) length, &payload);
        if (r < 0)
                return error_detail_set(reterr_detail, r, "truncated payload");
        if (!cursor_at_end(&c))
                return error_detail_set(reterr_detail, -EBADMSG,
                                   "%zu bytes of trailing data after the %" PRIu64 "-byte payload",
                                   cursor_remaining(&c), length);

        r = sha256(payload, (size_t) length, actual);
        if (r < 0)
                return error_detail_set(reterr_detail, r, "cannot compute SHA-256");
        if (CRYPTO_memcmp(actual, digest, sizeof(digest)) != 0)
                return error_detail_set(reterr_detail, -EBADMSG, "checksum mismatch (payload corrupted)");

        /* An empty payload is refused by jansson itself, as not JSON. */
        doc = json_loadb((const char *) payload, (size_t) length, STATE_JSON_LOAD_FLAGS, &error);
        if (!doc) {
                if (json_error_code(&error) == json_error_out_of_memory)
                        return error_detail_set(reterr_detail, -ENOMEM, "out of memory parsing payload");
                return error_detail_set(reterr_detail, -EBADMSG, "payload is not JSON: %s (line %d, column %d)",
                                   error.text, error.line, error.column);
        }
        *ret = doc;
        return 0;
}

/* Removes the temp files of saves that a crash interrupted. Called with the
 * lock held, so none of them belongs to a live writer. */
static int state_store_remove_temps(StateStore *s) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        for (;;) {
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (strncmp(de->d_name, STATE_TEMP_PREFIX, strlen(STATE_TEMP_PREFIX)) != 0)
                        continue;
                /* only regular files: anything else there is not ours */
                if (fstatat(s->dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (unlinkat(s->dir_fd, de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

int state_store_open(const char *dir, StateStore **ret) {
        _cleanup_state_store_ StateStore *s = NULL;
        int r;

        if (!dir || !*dir)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->lock_fd = -1;
        s->dir = strdup(dir);
        if (!s->dir)
                return -ENOMEM;

        if (mkdir(dir, STATE_DIR_MODE) < 0 && errno != EEXIST)
                return -errno;
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;
        s->lock_fd = openat(s->dir_fd, STATE_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                            STATE_FILE_MODE);
        if (s->lock_fd < 0)
                return -errno;
        /* flock, not fcntl locks: it belongs to this open file description,
         * so a second open in the same process is refused as well, and the
         * kernel drops it when a killed holder's descriptors close. */
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;

        r = state_store_remove_temps(s);
        if (r < 0)
                return r;

        *ret = take_ptr(s);
        return 0;
}

StateStore *state_store_free(StateStore *s) {
        if (!s)
                return NULL;
        closep(&s->lock_fd);
        closep(&s->dir_fd);
        free(s->dir);
        free(s);
        return NULL;
}

/* mkostemp() relative to the store's directory fd (there is no mkostempat):
 * a unique name, created O_EXCL, so a later chdir or a rename of the
 * directory's path cannot redirect our writes. */
static int state_store_temp_create(StateStore *s, const char *name, int *ret_fd, char **ret_name) {
        for (unsigned attempt = 0; attempt < STATE_TEMP_ATTEMPTS; attempt++) {
                _cleanup_free_ char *t = NULL;
                int fd;

                if (asprintf(&t, STATE_TEMP_PREFIX "%s.%jd-%" PRIu64, name, (intmax_t) getpid(),
                             s->temp_counter++) < 0)
                        return -ENOMEM;
                fd = openat(s->dir_fd, t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                            STATE_FILE_MODE);
                if (fd >= 0) {
                        *ret_fd = fd;
                        *ret_name = take_ptr(t);
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Writes, flushes and closes the temp file, then renames it over `name`. */
static int state_store_commit(StateStore *s, int fd, const char *temp, const char *name,
                              const uint8_t *data, size_t size) {
        _cleanup_close_ int owned = fd;
        int r;

        r = write_fd_all(owned, data, size);
        if (r < 0)
                return r;
        /* the data must be on disk before the name can point at it */
        if (fsync(owned) < 0)
                return -errno;
        if (close(take_fd(owned)) < 0)
                return -errno;
        if (renameat(s->dir_fd, temp, s->dir_fd, name) < 0)
                return -errno;
        return 0;
}

int state_store_save(StateStore *s, const char *name, const json_t *doc) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *temp = NULL;
        size_t size = 0;
        int fd = -1, r;

        if (!state_name_is_valid(name))
                return -EINVAL;
        r = state_file_build(doc, &data, &size);
        if (r < 0)
                return r;
        r = state_store_temp_create(s, name, &fd, &temp);
        if (r < 0)
                return r;
        r = state_store_commit(s, fd, temp, name, data, size);
        if (r < 0) {
                (void) unlinkat(s->dir_fd, temp, 0);
                return r;
        }
        /* makes the rename itself durable */
        if (fsync(s->dir_fd) < 0)
                return -errno;
        return 0;
}

int state_store_load_full(StateStore *s, const char *name, json_t **ret, char **reterr_detail) {
        _cleanup_free_ char *detail = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t size = 0;
        int r;

        if (!state_name_is_valid(name))
                return -EINVAL;
        /* O_NONBLOCK: a FIFO planted under a document's name must not hang
         * us; it has no effect on regular files. */
        fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return error_detail_set(reterr_detail, -EBADMSG, "%s/%s: not a regular file", s->dir, name);
        if ((uint64_t) st.st_size > STATE_FILE_MAX)
                return error_detail_set(reterr_detail, -E2BIG, "%s/%s: file is %jd bytes, over the %u-byte limit",
                                   s->dir, name, (intmax_t) st.st_size, STATE_FILE_MAX);

        r = read_fd_capped(fd, STATE_FILE_MAX, &data, &size);
        if (r == -E2BIG)
                return error_detail_set(reterr_detail, r, "%s/%s: file grew over the %u-byte limit", s->dir, name,
                                   STATE_FILE_MAX);
        if (r < 0)
                return r;

        r = state_file_parse(data, size, ret, &detail);
        if (r < 0)
                return error_detail_set(reterr_detail, r, "%s/%s: %s", s->dir, name,
                                   detail ? detail : strerror(-r));
        return 0;
}

int state_store_load(StateStore *s, const char *name, json_t **ret) {
        return state_store_load_full(s, name, ret, NULL);
}
