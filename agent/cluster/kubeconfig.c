/* Kubeconfig reading (see kubeconfig.h): the YAML goes through yaml-json,
 * then one context is resolved against clusters and users, field by field,
 * following client-go's clientcmd (names unique per list; a *-data field
 * and its file form are a conflict; relative files against the
 * kubeconfig's directory) and refusing what would widen trust silently.
 * Key material is decoded straight into Secrets; what we read from files
 * is wiped before it is freed. */
#include "cluster/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/yaml-json.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/openssl-cleanup.h"

DEFINE_CLEANUP(EVP_ENCODE_CTX *, EVP_ENCODE_CTX_free)

#define KUBECONFIG_NAME_MAX 253u /* a context, cluster or user name in messages */

/* Fields of a user entry that Strata refuses, with the reason: each would
 * either run a program, send a password, or act as someone else. */
static const struct {
        const char *field;
        const char *why;
} refused_user_fields[] = {
        { "exec", "exec credential plugins are not supported (Strata runs no programs from a kubeconfig): "
                  "use a client certificate or a token" },
        { "auth-provider", "auth-provider plugins are not supported: use a client certificate or a token" },
        { "username", "basic authentication is not supported (Kubernetes removed it in 1.19)" },
        { "password", "basic authentication is not supported (Kubernetes removed it in 1.19)" },
        { "as", "impersonation (as) is not supported" },
        { "as-uid", "impersonation (as-uid) is not supported" },
        { "as-groups", "impersonation (as-groups) is not supported" },
        { "as-user-extra", "impersonation (as-user-extra) is not supported" },
};

typedef struct Reader {
        const char *path;
        char *dir;
        const KubeConfigOptions *opts;
        const YamlMarks *marks;
        char **reterr;
} Reader;

KubeConfig *kubeconfig_free(KubeConfig *k) {
        if (!k)
                return NULL;
        free(k->path);
        free(k->context);
        free(k->cluster);
        free(k->user);
        free(k->namespace);
        free(k->server);
        free(k->proxy_url);
        free(k->ca_pem);
        free(k->cert_pem);
        secret_free(k->key_pem);
        secret_free(k->token);
        free(k);
        return NULL;
}

/* "PATH:LINE:COLUMN: " for `node` (or its nearest marked ancestor the
 * caller passes instead), "PATH: " without a position. */
static int fail(const Reader *rd, int r, const json_t *node, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
static int fail_va(const Reader *rd, int r, const json_t *node, const json_t *object, const char *key,
                   const char *format, va_list ap) {
        _cleanup_free_ char *what = NULL;
        YamlMark m;

        if (vasprintf(&what, format, ap) < 0)
                return r;
        if ((object && yaml_marks_find_member(rd->marks, object, key, &m)) || yaml_marks_find(rd->marks, node, &m))
                return error_detail_set(rd->reterr, r, "%s:%zu:%zu: %s", rd->path, m.line, m.column, what);
        return error_detail_set(rd->reterr, r, "%s: %s", rd->path, what);
}

static int fail(const Reader *rd, int r, const json_t *node, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        r = fail_va(rd, r, node, NULL, NULL, format, ap);
        va_end(ap);
        return r;
}

/* The same, positioned at object[key]'s value, or at `object` when it has
 * no position (a value that is true, false or null). */
static int fail_member(const Reader *rd, int r, const json_t *object, const char *key, const char *format, ...)
        __attribute__((format(printf, 5, 6)));
static int fail_member(const Reader *rd, int r, const json_t *object, const char *key, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        r = fail_va(rd, r, object, object, key, format, ap);
        va_end(ap);
        return r;
}

/* A string field: NULL when absent, null or "" (kubectl treats them
 * alike); -EINVAL when it is another type. */
static int get_string(const Reader *rd, const json_t *obj, const char *field, const char *where, const char **ret) {
        const json_t *v = json_object_get(obj, field);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return fail_member(rd, -EINVAL, obj, field, "%s: %s must be a string", where, field);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return fail(rd, -EINVAL, v, "%s: %s holds a NUL character", where, field);
        *ret = json_string_length(v) > 0 ? json_string_value(v) : NULL;
        return 0;
}

static bool is_empty(const json_t *v) {
        return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
               (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
}

/* Finds the entry `name` in the list `field` ("clusters", ...), whose
 * entries are {name, <inner>}; checks every entry on the way (names
 * unique, inner an object). *ret NULL when absent. */
static int find_entry(const Reader *rd, const json_t *root, const char *field, const char *inner, const char *name,
                      const json_t **ret, const json_t **ret_entry) {
        const json_t *list = json_object_get(root, field), *e, *found = NULL, *found_entry = NULL;
        size_t i;

        *ret = NULL;
        if (!list || json_is_null(list))
                return 0;
        if (!json_is_array(list))
                return fail(rd, -EINVAL, list, "%s must be a list", field);
        if (json_array_size(list) > KUBECONFIG_ENTRIES_MAX)
                return fail(rd, -E2BIG, list, "%s: more than %u entries", field, KUBECONFIG_ENTRIES_MAX);
        json_array_foreach (list, i, e) {
                const char *n = json_string_value(json_object_get(e, "name"));
                const json_t *in = json_object_get(e, inner);

                if (!json_is_object(e) || !n || !*n)
                        return fail(rd, -EINVAL, json_is_object(e) ? e : list, "%s[%zu]: needs a name", field, i);
                if (in && !json_is_null(in) && !json_is_object(in))
                        return fail(rd, -EINVAL, e, "%s[%zu] \"%.*s\": %s must be a mapping", field, i,
                                    (int) KUBECONFIG_NAME_MAX, n, inner);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(n, json_string_value(json_object_get(json_array_get(list, j), "name")) ?: "") == 0)
                                return fail(rd, -EINVAL, e, "%s[%zu]: duplicate name \"%.*s\"", field, i,
                                            (int) KUBECONFIG_NAME_MAX, n);
                if (name && strcmp(n, name) == 0) {
                        found = in && json_is_object(in) ? in : e;
                        found_entry = e;
                }
        }
        *ret = found;
        if (ret_entry)
                *ret_entry = found_entry;
        return 0;
}

static int path_resolve(const Reader *rd, const char *file, char **ret) {
        if (file[0] == '/' || !rd->dir)
                *ret = strdup(file);
        else if (asprintf(ret, "%s/%s", rd->dir, file) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

/* A regular file read whole into a Secret (a key or a token may be in it;
 * the size is known up front, so no buffer is grown and left behind
 * unwiped). -errno; -EINVAL for a file that is not regular, -E2BIG past
 * `max`, -EIO when it shrinks under us. */
static int regular_file_read(const char *path, size_t max, Secret **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_secret_ Secret *s = NULL;
        struct stat st;
        size_t got = 0;

        /* O_NONBLOCK: a FIFO named here must not hang us before fstat */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max)
                return -E2BIG;
        s = secret_new((size_t) st.st_size);
        if (!s)
                return -ENOMEM;
        while (got < s->size) {
                ssize_t n = read(fd, s->data + got, s->size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EIO;
                got += (size_t) n;
        }
        *ret = take_ptr(s);
        return 0;
}

static const char *file_error(int r, char *buf, size_t size) {
        if (r == -EINVAL)
                return "not a regular file";
        if (r == -E2BIG) {
                snprintf(buf, size, "larger than %u bytes", KUBECONFIG_FILE_MAX);
                return buf;
        }
        if (r == -EIO)
                return "changed while being read";
        return strerror(-r);
}

/* A file a field names, relative to the kubeconfig's directory. */
static int file_read(const Reader *rd, const json_t *at, const char *where, const char *field, const char *file,
                     Secret **ret) {
        _cleanup_free_ char *p = NULL;
        char buf[64];
        int r;

        if (rd->opts->no_files)
                return fail(rd, -EPERM, at, "%s: %s names a file, which is not allowed here", where, field);
        r = path_resolve(rd, file, &p);
        if (r < 0)
                return r;
        r = regular_file_read(p, KUBECONFIG_FILE_MAX, ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(rd, r, at, "%s: %s: %s: %s", where, field, p, file_error(r, buf, sizeof(buf)));
        return 0;
}

/* Standard base64 (Go's []byte in YAML), line breaks allowed. OpenSSL's
 * decoder stops quietly at a '-', so the alphabet is checked first. */
static int base64_decode(const char *in, size_t len, Secret **ret) {
        _cleanup_(EVP_ENCODE_CTX_freep) EVP_ENCODE_CTX *ctx = NULL;
        _cleanup_secret_ Secret *out = NULL;
        int n = 0, m = 0;

        for (size_t i = 0; i < len; i++) {
                char ch = in[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                      ch == '/' || ch == '=' || ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t'))
                        return -EINVAL;
        }
        if (len > INT32_MAX)
                return -E2BIG;
        out = secret_new(len / 4 * 3 + 3);
        ctx = EVP_ENCODE_CTX_new();
        if (!out || !ctx)
                return -ENOMEM;
        EVP_DecodeInit(ctx);
        if (EVP_DecodeUpdate(ctx, out->data, &n, (const unsigned char *) in, (int) len) < 0 ||
            EVP_DecodeFinal(ctx, out->data + n, &m) < 0)
                return -EINVAL;
        out->size = (size_t) (n + m);
        *ret = take_ptr(out);
        return 0;
}

/* One of a pair of fields: `data_field` (base64) or `file_field`. Both
 * set is a conflict (clientcmd refuses it too); neither leaves *ret NULL. */
static int data_or_file(const Reader *rd, const json_t *obj, const char *where, const char *data_field,
                        const char *file_field, Secret **ret) {
        const char *data, *file;
        int r;

        *ret = NULL;
        r = get_string(rd, obj, data_field, where, &data);
        if (r >= 0)
                r = get_string(rd, obj, file_field, where, &file);
        if (r < 0)
                return r;
        if (data && file)
                return fail(rd, -EINVAL, obj, "%s: both %s and %s are set: keep one", where, data_field, file_field);
        if (file)
                return file_read(rd, json_object_get(obj, file_field), where, file_field, file, ret);
        if (!data)
                return 0;
        r = base64_decode(data, strlen(data), ret);
        if (r == -EINVAL)
                return fail(rd, r, json_object_get(obj, data_field), "%s: %s is not valid base64", where, data_field);
        return r;
}

static int no_password(char *buf, int size, int rwflag, void *u) {
        (void) buf, (void) size, (void) rwflag, (void) u;
        return 0; /* never prompt: an encrypted key is refused */
}

/* Counts the certificates of a PEM bundle: 0 when it has none. */
static int pem_count_certs(const void *pem, size_t size) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int) size);
        int n = 0;

        if (!bio)
                return -ENOMEM;
        for (;;) {
                X509 *x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
                if (!x)
                        break;
                X509_free(x);
                n++;
        }
        return n;
}

static char *pem_string(const Secret *s) {
        return memdup_nul(s->data, s->size);
}

static int read_ca(const Reader *rd, const json_t *cluster, const char *where, KubeConfig *k) {
        _cleanup_secret_ Secret *ca = NULL;
        int r;

        r = data_or_file(rd, cluster, where, "certificate-authority-data", "certificate-authority", &ca);
        if (r < 0 || !ca)
                return r;
        r = pem_count_certs(ca->data, ca->size);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(rd, -EINVAL, cluster, "%s: the certificate authority holds no PEM certificate", where);
        k->ca_pem = pem_string(ca);
        if (!k->ca_pem)
                return -ENOMEM;
        k->ca_pem_size = ca->size;
        return 0;
}

static bool url_is_clean(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

static int read_cluster(const Reader *rd, const json_t *cluster, KubeConfig *k) {
        _cleanup_free_ char *where = NULL;
        const char *server, *proxy, *sni;
        const json_t *insecure = json_object_get(cluster, "insecure-skip-tls-verify");
        size_t n;
        int r;

        if (asprintf(&where, "cluster \"%.*s\"", (int) KUBECONFIG_NAME_MAX, k->cluster) < 0)
                return -ENOMEM;
        r = get_string(rd, cluster, "server", where, &server);
        if (r >= 0)
                r = get_string(rd, cluster, "proxy-url", where, &proxy);
        if (r >= 0)
                r = get_string(rd, cluster, "tls-server-name", where, &sni);
        if (r < 0)
                return r;
        if (!server)
                return fail(rd, -EINVAL, cluster, "%s: no server", where);
        if (!url_is_clean(server) || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0))
                return fail(rd, -EINVAL, json_object_get(cluster, "server"),
                            "%s: server must be an https:// URL without spaces", where);
        if (strncmp(server, "http://", 7) == 0 && !rd->opts->allow_insecure)
                return fail(rd, -EINVAL, json_object_get(cluster, "server"),
                            "%s: refusing plain http:// (credentials would travel in the clear); "
                            "--insecure-skip-tls-verify allows it", where);
        if (sni)
                return fail(rd, -EINVAL, json_object_get(cluster, "tls-server-name"),
                            "%s: tls-server-name is not supported", where);
        if (proxy && (!url_is_clean(proxy) || !strstr(proxy, "://")))
                return fail(rd, -EINVAL, json_object_get(cluster, "proxy-url"), "%s: proxy-url must be a URL", where);
        if (insecure && !json_is_null(insecure) && !json_is_boolean(insecure))
                return fail_member(rd, -EINVAL, cluster, "insecure-skip-tls-verify",
                                   "%s: insecure-skip-tls-verify must be true or false", where);
        k->insecure = json_is_true(insecure);

        k->server = strdup(server);
        if (!k->server || (proxy && !(k->proxy_url = strdup(proxy))))
                return -ENOMEM;
        n = strlen(k->server);
        while (n > 0 && k->server[n - 1] == '/')
                k->server[--n] = '\0';

        r = read_ca(rd, cluster, where, k);
        if (r < 0)
                return r;
        if (k->insecure) {
                if (!rd->opts->allow_insecure)
                        return fail_member(rd, -EINVAL, cluster, "insecure-skip-tls-verify",
                                           "%s: refusing insecure-skip-tls-verify (the server would not be authenticated); "
                                    "--insecure-skip-tls-verify allows it", where);
                /* clientcmd's rule: the two contradict each other */
                if (k->ca_pem)
                        return fail_member(rd, -EINVAL, cluster, "insecure-skip-tls-verify",
                                           "%s: insecure-skip-tls-verify together with a certificate authority", where);
        }
        return 0;
}

static int check_key_pair(const Reader *rd, const json_t *user, const char *where, KubeConfig *k) {
        _cleanup_(BIO_freep) BIO *cb = NULL, *kb = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;

        cb = BIO_new_mem_buf(k->cert_pem, (int) k->cert_pem_size);
        kb = BIO_new_mem_buf(k->key_pem->data, (int) k->key_pem->size);
        if (!cb || !kb)
                return -ENOMEM;
        cert = PEM_read_bio_X509(cb, NULL, no_password, NULL);
        if (!cert)
                return fail(rd, -EINVAL, user, "%s: the client certificate is not a PEM certificate", where);
        key = PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL);
        if (!key)
                return fail(rd, -EINVAL, user, "%s: the client key is not an unencrypted PEM private key", where);
        if (X509_check_private_key(cert, key) != 1)
                return fail(rd, -EINVAL, user, "%s: the client key does not match the client certificate", where);
        return 0;
}

static bool token_is_clean(const Secret *t) {
        /* it goes into an HTTP header: no spaces, no line breaks */
        for (size_t i = 0; i < t->size; i++)
                if (t->data[i] <= 0x20 || t->data[i] >= 0x7f)
                        return false;
        return t->size > 0;
}

static int read_token(const Reader *rd, const json_t *user, const char *where, KubeConfig *k) {
        const char *token, *file;
        _cleanup_secret_ Secret *t = NULL;
        size_t start = 0, end;
        int r;

        r = get_string(rd, user, "token", where, &token);
        if (r >= 0)
                r = get_string(rd, user, "tokenFile", where, &file);
        if (r < 0)
                return r;
        if (token && file)
                return fail(rd, -EINVAL, user, "%s: both token and tokenFile are set: keep one", where);
        if (file) {
                r = file_read(rd, json_object_get(user, "tokenFile"), where, "tokenFile", file, &t);
                if (r < 0)
                        return r;
        } else if (token) {
                t = secret_new_copy(token, strlen(token));
                if (!t)
                        return -ENOMEM;
        } else
                return 0;
        /* client-go trims a token file's surrounding white space */
        end = t->size;
        while (start < end && strchr(" \t\r\n", t->data[start]))
                start++;
        while (end > start && strchr(" \t\r\n", t->data[end - 1]))
                end--;
        if (end - start > KUBECONFIG_TOKEN_MAX)
                return fail(rd, -E2BIG, user, "%s: the token is longer than %u bytes", where, KUBECONFIG_TOKEN_MAX);
        k->token = secret_new_copy(t->data + start, end - start);
        if (!k->token)
                return -ENOMEM;
        if (!token_is_clean(k->token))
                return fail(rd, -EINVAL, user, "%s: the token is empty or holds spaces or control characters", where);
        return 0;
}

static int read_user(const Reader *rd, const json_t *user, KubeConfig *k) {
        _cleanup_free_ char *where = NULL;
        _cleanup_secret_ Secret *cert = NULL;
        int r;

        if (asprintf(&where, "user \"%.*s\"", (int) KUBECONFIG_NAME_MAX, k->user) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(refused_user_fields); i++) {
                const json_t *v = json_object_get(user, refused_user_fields[i].field);
                if (!is_empty(v))
                        return fail_member(rd, -EINVAL, user, refused_user_fields[i].field, "%s: %s", where,
                                           refused_user_fields[i].why);
        }
        r = data_or_file(rd, user, where, "client-certificate-data", "client-certificate", &cert);
        if (r >= 0)
                r = data_or_file(rd, user, where, "client-key-data", "client-key", &k->key_pem);
        if (r < 0)
                return r;
        if (!cert != !k->key_pem)
                return fail(rd, -EINVAL, user, "%s: a client %s without its %s", where, cert ? "certificate" : "key",
                            cert ? "key" : "certificate");
        if (cert) {
                k->cert_pem = pem_string(cert);
                if (!k->cert_pem)
                        return -ENOMEM;
                k->cert_pem_size = cert->size;
                r = check_key_pair(rd, user, where, k);
                if (r < 0)
                        return r;
        }
        return read_token(rd, user, where, k);
}

static int resolve(const Reader *rd, const json_t *root, KubeConfig *k) {
        const json_t *context, *cluster, *user, *entry;
        const char *name, *cluster_name, *user_name, *ns, *kind;
        _cleanup_free_ char *where = NULL;
        int r;

        if (!json_is_object(root))
                return fail(rd, -EINVAL, root, "a kubeconfig is a mapping");
        r = get_string(rd, root, "kind", "kubeconfig", &kind);
        if (r < 0)
                return r;
        if (kind && strcmp(kind, "Config") != 0)
                return fail(rd, -EINVAL, root, "kind is \"%.64s\", not Config", kind);
        r = get_string(rd, root, "current-context", "kubeconfig", &name);
        if (r < 0)
                return r;
        if (rd->opts->context)
                name = rd->opts->context;
        if (!name)
                return fail(rd, -EINVAL, root, "no current-context: name one with --context");
        k->context = strdup(name);
        if (!k->context)
                return -ENOMEM;
        /* every list is checked, used or not: a broken file is refused whole */
        r = find_entry(rd, root, "contexts", "context", name, &context, &entry);
        if (r >= 0)
                r = find_entry(rd, root, "clusters", "cluster", NULL, &cluster, NULL);
        if (r >= 0)
                r = find_entry(rd, root, "users", "user", NULL, &user, NULL);
        if (r < 0)
                return r;
        if (!context)
                return fail(rd, -EINVAL, root, "context \"%.*s\" is not in contexts", (int) KUBECONFIG_NAME_MAX, name);
        if (asprintf(&where, "context \"%.*s\"", (int) KUBECONFIG_NAME_MAX, name) < 0)
                return -ENOMEM;
        r = get_string(rd, context, "cluster", where, &cluster_name);
        if (r >= 0)
                r = get_string(rd, context, "user", where, &user_name);
        if (r >= 0)
                r = get_string(rd, context, "namespace", where, &ns);
        if (r < 0)
                return r;
        if (!cluster_name)
                return fail(rd, -EINVAL, context, "%s: names no cluster", where);
        r = find_entry(rd, root, "clusters", "cluster", cluster_name, &cluster, NULL);
        if (r < 0)
                return r;
        if (!cluster)
                return fail(rd, -EINVAL, context, "%s: cluster \"%.*s\" is not in clusters", where,
                            (int) KUBECONFIG_NAME_MAX, cluster_name);
        k->cluster = strdup(cluster_name);
        if (!k->cluster || (ns && !(k->namespace = strdup(ns))))
                return -ENOMEM;
        r = read_cluster(rd, cluster, k);
        if (r < 0)
                return r;
        if (!user_name)
                return 0; /* anonymous: the server decides what that may do */
        r = find_entry(rd, root, "users", "user", user_name, &user, NULL);
        if (r < 0)
                return r;
        if (!user)
                return fail(rd, -EINVAL, context, "%s: user \"%.*s\" is not in users", where, (int) KUBECONFIG_NAME_MAX,
                            user_name);
        k->user = strdup(user_name);
        if (!k->user)
                return -ENOMEM;
        return read_user(rd, user, k);
}

int kubeconfig_parse(const void *data, size_t size, const char *path, const KubeConfigOptions *opts,
                     KubeConfig **ret, char **reterr) {
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        _cleanup_(yaml_marks_freep) YamlMarks *marks = NULL;
        _cleanup_free_ char *copy = NULL;
        static const KubeConfigOptions defaults = {};
        json_auto_t *root = NULL;
        Reader rd = { .path = path ? path : "<kubeconfig>", .opts = opts ? opts : &defaults, .reterr = reterr };
        int r;

        if (size > KUBECONFIG_SIZE_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: larger than %u bytes", rd.path, KUBECONFIG_SIZE_MAX);
        r = yaml_json_parse_one(data, size, rd.path, &root, &marks, reterr);
        if (r < 0)
                return r;
        rd.marks = marks;
        if (path) {
                copy = strdup(path);
                if (!copy)
                        return -ENOMEM;
                rd.dir = dirname(copy);
        }
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->path = strdup(rd.path);
        if (!k->path)
                return -ENOMEM;
        r = resolve(&rd, root, k);
        if (r < 0)
                return r;
        *ret = take_ptr(k);
        return 0;
}

int kubeconfig_load(const char *path, const KubeConfigOptions *opts, KubeConfig **ret, char **reterr) {
        _cleanup_secret_ Secret *data = NULL;
        int r;

        /* read like the files it names: regular, capped, into memory that
         * is wiped (it may embed the client key) */
        r = regular_file_read(path, KUBECONFIG_SIZE_MAX, &data);
        if (r == -E2BIG)
                return error_detail_set(reterr, r, "%s: larger than %u bytes", path, KUBECONFIG_SIZE_MAX);
        if (r == -EINVAL)
                return error_detail_set(reterr, r, "%s: not a regular file", path);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", path, strerror(-r));
        return kubeconfig_parse(data->data, data->size, path, opts, ret, reterr);
}

int kubeconfig_default_path(char **ret, char **reterr) {
        const char *env = getenv("KUBECONFIG"), *home;

        if (env && *env) {
                if (strchr(env, ':'))
                        return error_detail_set(reterr, -EINVAL,
                                                "KUBECONFIG names several files; Strata reads one: use --kubeconfig");
                *ret = strdup(env);
                return *ret ? 0 : -ENOMEM;
        }
        home = getenv("HOME");
        if (!home || !*home)
                return error_detail_set(reterr, -ENOENT, "no --kubeconfig, KUBECONFIG or HOME");
        if (asprintf(ret, "%s/.kube/config", home) < 0)
                return -ENOMEM;
        return 0;
}
