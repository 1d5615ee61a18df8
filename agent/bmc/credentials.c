/* BMC credentials (see credentials.h). The file is read with O_NOFOLLOW
 * into a Secret; a file that group-less others can read or write is
 * refused, as ssh refuses a readable key: the spec is shared, the
 * credential must not be. */
#include "bmc/credentials.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error-detail.h"

static int credential_path(const BmcMachine *m, char **ret, char **reterr) {
        const char *dir;

        if (m->credential_file) {
                *ret = strdup(m->credential_file);
                return *ret ? 0 : -ENOMEM;
        }
        if (!m->credential_name || !*m->credential_name || strchr(m->credential_name, '/') ||
            strcmp(m->credential_name, ".") == 0 || strcmp(m->credential_name, "..") == 0)
                return error_detail_set(reterr, -EINVAL, "credential: no file and no valid systemd credential name");
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (!dir || dir[0] != '/')
                return error_detail_set(reterr, -ENXIO,
                                        "systemd credential %s: $CREDENTIALS_DIRECTORY is not set "
                                        "(run under systemd with LoadCredential=%s:...)",
                                        m->credential_name, m->credential_name);
        if (asprintf(ret, "%s/%s", dir, m->credential_name) < 0)
                return -ENOMEM;
        return 0;
}

static int errno_detail(char **reterr, int e, const char *path) {
        return error_detail_set(reterr, -e, "credential %s: %s", path, strerror(e));
}

static int read_secret(const char *path, Secret **ret, char **reterr) {
        _cleanup_close_ int fd = -1;
        _cleanup_secret_ Secret *buf = secret_new(BMC_CREDENTIAL_MAX + 1);
        struct stat st;
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return errno_detail(reterr, errno, path);
        if (fstat(fd, &st) < 0)
                return errno_detail(reterr, errno, path);
        if (!S_ISREG(st.st_mode))
                return error_detail_set(reterr, -EINVAL, "credential %s: not a regular file", path);
        if (st.st_mode & (S_IROTH | S_IWOTH))
                return error_detail_set(reterr, -EACCES, "credential %s: readable or writable by others (chmod o-rw)",
                                        path);
        for (;;) {
                ssize_t k = read(fd, buf->data + n, buf->size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno_detail(reterr, errno, path);
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > BMC_CREDENTIAL_MAX)
                        return error_detail_set(reterr, -E2BIG, "credential %s: larger than %u bytes", path,
                                                BMC_CREDENTIAL_MAX);
        }
        if (n > 0 && buf->data[n - 1] == '\n')
                n--;
        if (n > 0 && buf->data[n - 1] == '\r')
                n--;
        if (n == 0)
                return error_detail_set(reterr, -EINVAL, "credential %s: empty", path);
        if (memchr(buf->data, '\0', n) || memchr(buf->data, '\n', n))
                return error_detail_set(reterr, -EINVAL, "credential %s: more than one line, or NUL bytes", path);
        *ret = secret_new_copy(buf->data, n);
        return *ret ? 0 : -ENOMEM;
}

int bmc_credential_read(const BmcMachine *m, char **ret_username, Secret **ret_password, char **reterr) {
        _cleanup_free_ char *path = NULL, *user = NULL;
        _cleanup_secret_ Secret *raw = NULL;
        Secret *pw;
        uint8_t *colon;
        int r;

        r = credential_path(m, &path, reterr);
        if (r < 0)
                return r;
        r = read_secret(path, &raw, reterr);
        if (r < 0)
                return r;
        if (m->username) {
                user = strdup(m->username);
                pw = secret_new_copy(raw->data, raw->size);
        } else {
                colon = memchr(raw->data, ':', raw->size);
                if (!colon || colon == raw->data || (size_t) (colon - raw->data) > BMC_USERNAME_MAX)
                        return error_detail_set(reterr, -EINVAL,
                                                "credential %s: the spec gives no bmc.username, so the credential "
                                                "must be USER:PASSWORD",
                                                path);
                /* not strndup: the Secret has no NUL to stop at */
                user = malloc((size_t) (colon - raw->data) + 1);
                if (user) {
                        memcpy(user, raw->data, (size_t) (colon - raw->data));
                        user[colon - raw->data] = '\0';
                }
                pw = secret_new_copy(colon + 1, raw->size - (size_t) (colon + 1 - raw->data));
        }
        if (!user || !pw) {
                secret_free(pw);
                return -ENOMEM;
        }
        if (pw->size == 0) {
                secret_free(pw);
                return error_detail_set(reterr, -EINVAL, "credential %s: empty password", path);
        }
        *ret_username = take_ptr(user);
        *ret_password = pw;
        return 0;
}
