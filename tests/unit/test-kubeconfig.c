/* Tests for agent/cluster/kubeconfig.c: inline data and files (relative
 * to the kubeconfig), context selection, tokens, and every refusal: exec
 * and auth-provider plugins, basic auth, impersonation, conflicts, bad
 * base64, mismatched keys, insecure TLS, malformed files. Errors must say
 * where (file:line:column). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/kubeconfig.h"
#include "core/cleanup.h"

/* Static vectors: a CA, a self-signed client certificate with its P-256
 * key, another key, and the client key encrypted (passphrase "pw"). */
static const char ca_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBezCCASGgAwIBAgIUcIybZ35hhqpE46KAVtuAza0BzWQwCgYIKoZIzj0EAwIw\n"
        "EjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjIwNDEzMThaGA8yMTI2MTAyOTA0\n"
        "MTMxOFowEjEQMA4GA1UEAwwHdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
        "A0IABPJegf9F3/imTq0CqsdYJKg1O+n5dDG8aqBYgaV3Wm4qmHDa3WbqSlURtLuh\n"
        "u5OL8Frmc74M/t+cIBXrZ0m0yvWjUzBRMB0GA1UdDgQWBBSXnp+eMCG71kLrPBF8\n"
        "vZYHoTqagzAfBgNVHSMEGDAWgBSXnp+eMCG71kLrPBF8vZYHoTqagzAPBgNVHRMB\n"
        "Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIBEkcrWFA8w72zpeFwvVo5zpgi4I\n"
        "uuPE6Ao9E0oehtj2AiEAhu8i+MLteXzD2k74ZMyZq2SDgz6jhlNq+s9SJdlOJ0A=\n"
        "-----END CERTIFICATE-----\n";
static const char client_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBgjCCASmgAwIBAgIUPRNLSrrTQACQ5/7GCbntngQ81YYwCgYIKoZIzj0EAwIw\n"
        "FjEUMBIGA1UEAwwLdGVzdC1jbGllbnQwIBcNMjYxMTIyMDQxMzE4WhgPMjEyNjEw\n"
        "MjkwNDEzMThaMBYxFDASBgNVBAMMC3Rlc3QtY2xpZW50MFkwEwYHKoZIzj0CAQYI\n"
        "KoZIzj0DAQcDQgAE/f/L4thv0P+ttHSAfsZOExe4111WYWktZCfhmcLyX13qQm8w\n"
        "fqyePXMKobvnaGntuGop3SOpE5i6qpEASz5YbqNTMFEwHQYDVR0OBBYEFJl5ZZle\n"
        "fE39wwVj+PQmGn9Lg4a0MB8GA1UdIwQYMBaAFJl5ZZlefE39wwVj+PQmGn9Lg4a0\n"
        "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgClb32NaSNtdgRZTk\n"
        "rIiLF0ur3eQMVvdJkwKYgrgHxIgCIHd6wr9yGW68nI+rVhIDssMDys2afMNxnm9s\n"
        "Yku8bFTt\n"
        "-----END CERTIFICATE-----\n";
static const char client_key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtXbbqRVqJ65Ylq3g\n"
        "JkK5d/I3/qoyyvedqGZidzEjMXahRANCAAT9/8vi2G/Q/620dIB+xk4TF7jXXVZh\n"
        "aS1kJ+GZwvJfXepCbzB+rJ49cwqhu+doae24aindI6kTmLqqkQBLPlhu\n"
        "-----END PRIVATE KEY-----\n";
static const char other_key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1ZR4ulEj28yt/EJu\n"
        "tgRs0yQeecSOwWuRvLOhQxSwxkqhRANCAAQTy5UBx7EInDaD03MqlVvWjoq5fmeG\n"
        "Pi2vFy6U/gdZ57IxVXKjXV0IATMYOZJcQtmEOeJANtOwDJlTQ/jTuy0L\n"
        "-----END PRIVATE KEY-----\n";
static const char encrypted_key_pem[] =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAh9Ssb3GxV0BQICCAAw\n"
        "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEJK3KpJ5tdGXaNxTqbLTzzYEgZAA\n"
        "MnO3+U6gQD1qvF5TIeS5iwajugAu76ehIHskTMH03nVoPmcG2i/FfgOsKW1njltx\n"
        "38MGqHaHrJji4ixUZK6jeibrjdv0AkyGGqYiwiCaO2RTDFK78wCBHVqglT1tgk9+\n"
        "KCMEK2rWh05GJtG9qUs5++ERnKK/racC4uTjy8/yvo+frZ64pWoEFnYZvq7AUUI=\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n";

static char *b64(const char *s) {
        size_t n = strlen(s);
        char *out = malloc(4 * ((n + 2) / 3) + 1);
        assert_non_null(out);
        EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) s, (int) n);
        return out;
}

/* A kubeconfig with one cluster, one user, one context; `cluster_extra`
 * and `user_extra` are lines (already indented four spaces) appended to
 * the cluster and user mappings. */
static char *kubeconfig(const char *cluster_extra, const char *user_extra) {
        char *s;
        assert_true(asprintf(&s,
                             "apiVersion: v1\n"
                             "kind: Config\n"
                             "clusters:\n"
                             "- name: lab\n"
                             "  cluster:\n"
                             "    server: https://10.0.0.1:6443/\n"
                             "%s"
                             "users:\n"
                             "- name: admin\n"
                             "  user:\n"
                             "%s"
                             "contexts:\n"
                             "- name: admin@lab\n"
                             "  context:\n"
                             "    cluster: lab\n"
                             "    user: admin\n"
                             "    namespace: capi\n"
                             "current-context: admin@lab\n",
                             cluster_extra, user_extra) > 0);
        return s;
}

static char *inline_user(void) {
        _cleanup_free_ char *c = b64(client_pem), *k = b64(client_key_pem);
        char *s;
        assert_true(asprintf(&s, "    client-certificate-data: %s\n    client-key-data: %s\n", c, k) > 0);
        return s;
}

static char *inline_ca(void) {
        _cleanup_free_ char *c = b64(ca_pem);
        char *s;
        assert_true(asprintf(&s, "    certificate-authority-data: %s\n", c) > 0);
        return s;
}

static int parse(const char *text, const KubeConfigOptions *o, KubeConfig **ret, char **reterr) {
        return kubeconfig_parse(text, strlen(text), "/etc/kube/config", o, ret, reterr);
}

static void expect_refused(const char *cluster_extra, const char *user_extra, const KubeConfigOptions *o, int want,
                           const char *substring) {
        _cleanup_free_ char *text = kubeconfig(cluster_extra, user_extra), *err = NULL;
        KubeConfig *k = NULL;
        int r = parse(text, o, &k, &err);
        if (r != want)
                fail_msg("got %d, want %d: %s", r, want, err ? err : "(no message)");
        assert_null(k);
        assert_non_null(err);
        if (substring && !strstr(err, substring))
                fail_msg("error \"%s\" lacks \"%s\"", err, substring);
}

static void test_kubeconfig_parse_inline(void **state) {
        _cleanup_free_ char *user = inline_user(), *ca = inline_ca(), *text = kubeconfig(ca, user), *err = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        (void) state;

        assert_int_equal(parse(text, NULL, &k, &err), 0);
        assert_string_equal(k->path, "/etc/kube/config");
        assert_string_equal(k->context, "admin@lab");
        assert_string_equal(k->cluster, "lab");
        assert_string_equal(k->user, "admin");
        assert_string_equal(k->namespace, "capi");
        assert_string_equal(k->server, "https://10.0.0.1:6443"); /* trailing '/' trimmed */
        assert_string_equal(k->ca_pem, ca_pem);
        assert_int_equal(k->ca_pem_size, strlen(ca_pem));
        assert_string_equal(k->cert_pem, client_pem);
        assert_int_equal(k->key_pem->size, strlen(client_key_pem));
        assert_memory_equal(k->key_pem->data, client_key_pem, strlen(client_key_pem));
        assert_null(k->token);
        assert_false(k->insecure);
}

static void test_kubeconfig_parse_base64_with_line_breaks(void **state) {
        _cleanup_free_ char *c = b64(ca_pem), *folded = NULL, *cluster = NULL, *text = NULL, *err = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        size_t n = strlen(c);
        (void) state;

        /* a folded block scalar: Go's decoder skips the line breaks */
        folded = malloc(n * 2 + 1);
        assert_non_null(folded);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                folded[j++] = c[i];
                if (i % 60 == 59)
                        folded[j++] = '\n';
        }
        folded[j] = '\0';
        assert_true(asprintf(&cluster, "    certificate-authority-data: \"%s\"\n", folded) > 0);
        text = kubeconfig(cluster, "    token: abc\n");
        assert_int_equal(parse(text, NULL, &k, &err), 0);
        assert_string_equal(k->ca_pem, ca_pem);
}

static char *make_dir(void) {
        char *d = strdup("/tmp/test-kubeconfig-XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = NULL;
        FILE *f;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        f = fopen(p, "w");
        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
}

static void remove_dir(const char *dir) {
        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
}

static void test_kubeconfig_load_relative_files(void **state) {
        _cleanup_free_ char *dir = make_dir(), *sub = NULL, *text = NULL, *path = NULL, *err = NULL, *abs_ca = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        (void) state;

        /* files next to the kubeconfig, named relative to it (kubectl's
         * rule), not to the current directory */
        assert_true(asprintf(&sub, "%s/pki", dir) > 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(sub, "client.crt", client_pem);
        write_file(sub, "client.key", client_key_pem);
        write_file(dir, "ca.crt", ca_pem);
        assert_true(asprintf(&abs_ca, "    certificate-authority: %s/ca.crt\n", dir) > 0);
        text = kubeconfig(abs_ca, "    client-certificate: pki/client.crt\n    client-key: ./pki/client.key\n");
        write_file(dir, "config", text);
        assert_true(asprintf(&path, "%s/config", dir) > 0);
        assert_int_equal(kubeconfig_load(path, NULL, &k, &err), 0);
        assert_string_equal(k->path, path);
        assert_string_equal(k->ca_pem, ca_pem);
        assert_string_equal(k->cert_pem, client_pem);
        assert_memory_equal(k->key_pem->data, client_key_pem, strlen(client_key_pem));
        remove_dir(dir);
}

static void test_kubeconfig_load_token_file(void **state) {
        _cleanup_free_ char *dir = make_dir(), *text = NULL, *path = NULL, *err = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        (void) state;

        write_file(dir, "token", "  s3cr3t.t0ken\n\n");
        text = kubeconfig("", "    tokenFile: token\n");
        write_file(dir, "config", text);
        assert_true(asprintf(&path, "%s/config", dir) > 0);
        assert_int_equal(kubeconfig_load(path, NULL, &k, &err), 0);
        /* trimmed as client-go trims it */
        assert_int_equal(k->token->size, strlen("s3cr3t.t0ken"));
        assert_memory_equal(k->token->data, "s3cr3t.t0ken", k->token->size);
        assert_null(k->cert_pem);
        assert_null(k->ca_pem);
        remove_dir(dir);
}

static void test_kubeconfig_load_missing_file(void **state) {
        _cleanup_free_ char *dir = make_dir(), *text = NULL, *path = NULL, *err = NULL, *err2 = NULL, *err3 = NULL;
        KubeConfig *k = NULL;
        (void) state;

        text = kubeconfig("    certificate-authority: nope.crt\n", "    token: t\n");
        write_file(dir, "config", text);
        assert_true(asprintf(&path, "%s/config", dir) > 0);
        assert_int_equal(kubeconfig_load(path, NULL, &k, &err), -ENOENT);
        /* which field, which file, and where in the kubeconfig */
        assert_non_null(strstr(err, "config:7:28: cluster \"lab\": certificate-authority: "));
        assert_non_null(strstr(err, "/nope.crt: No such file or directory"));
        /* a directory named as a file, and the kubeconfig itself missing */
        free(text);
        text = kubeconfig("    certificate-authority: .\n", "    token: t\n");
        write_file(dir, "config", text);
        assert_int_equal(kubeconfig_load(path, NULL, &k, &err2), -EINVAL);
        assert_non_null(strstr(err2, "/.: not a regular file"));
        assert_int_equal(kubeconfig_load("/nonexistent/kubeconfig", NULL, &k, &err3), -ENOENT);
        assert_string_equal(err3, "/nonexistent/kubeconfig: No such file or directory");
        assert_null(k);
        remove_dir(dir);
}

static void test_kubeconfig_load_fifo_refused(void **state) {
        _cleanup_free_ char *dir = make_dir(), *path = NULL, *err = NULL;
        KubeConfig *k = NULL;
        (void) state;

        /* must fail at once, not block waiting for a writer */
        assert_true(asprintf(&path, "%s/fifo", dir) > 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(kubeconfig_load(path, NULL, &k, &err), -EINVAL);
        assert_non_null(strstr(err, "not a regular file"));
        remove_dir(dir);
}

static void test_kubeconfig_parse_context_choice(void **state) {
        const char *text = "clusters:\n"
                           "- {name: a, cluster: {server: 'https://a:6443'}}\n"
                           "- {name: b, cluster: {server: 'https://b:6443'}}\n"
                           "users:\n"
                           "- {name: u, user: {token: tok}}\n"
                           "contexts:\n"
                           "- {name: ca, context: {cluster: a, user: u}}\n"
                           "- {name: cb, context: {cluster: b}}\n"
                           "current-context: ca\n";
        _cleanup_(kubeconfig_freep) KubeConfig *k1 = NULL, *k2 = NULL;
        _cleanup_free_ char *err = NULL;
        KubeConfigOptions o = { .context = "cb" };
        KubeConfig *k3 = NULL;
        (void) state;

        assert_int_equal(parse(text, NULL, &k1, NULL), 0);
        assert_string_equal(k1->server, "https://a:6443");
        assert_memory_equal(k1->token->data, "tok", 3);
        assert_null(k1->namespace);
        assert_int_equal(parse(text, &o, &k2, NULL), 0);
        assert_string_equal(k2->server, "https://b:6443");
        /* a context without a user: anonymous */
        assert_null(k2->user);
        assert_null(k2->token);
        o.context = "nope";
        assert_int_equal(parse(text, &o, &k3, &err), -EINVAL);
        assert_non_null(strstr(err, "context \"nope\" is not in contexts"));
}

static void test_kubeconfig_parse_missing_parts(void **state) {
        static const struct {
                const char *text, *error;
        } vectors[] = {
                { "clusters: []\n", "no current-context: name one with --context" },
                { "current-context: x\n", "context \"x\" is not in contexts" },
                { "current-context: x\ncontexts: [{name: x, context: {user: u}}]\n", "context \"x\": names no cluster" },
                { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
                  "cluster \"c\" is not in clusters" },
                { "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "clusters: [{name: c, cluster: {server: 'https://h'}}]\n",
                  "user \"u\" is not in users" },
                { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n",
                  "cluster \"c\": no server" },
                { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c}]\n",
                  "cluster \"c\": no server" },
                { "current-context: x\ncontexts: [{context: {cluster: c}}]\n", "contexts[0]: needs a name" },
                { "current-context: x\ncontexts: {x: 1}\n", "contexts must be a list" },
                { "current-context: x\ncontexts: [{name: x, context: [1]}]\n", "context must be a mapping" },
                { "current-context: x\ncontexts: [{name: x, context: {cluster: c}}, {name: x}]\n",
                  "contexts[1]: duplicate name \"x\"" },
                { "current-context: 7\n", "current-context must be a string" },
                { "kind: Pod\n", "kind is \"Pod\", not Config" },
                { "- a\n", "a kubeconfig is a mapping" },
                { "a: [1\n", "/etc/kube/config:2:1:" },
                { "", "/etc/kube/config: no document" },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                _cleanup_free_ char *err = NULL;
                KubeConfig *k = NULL;
                int r = parse(vectors[i].text, NULL, &k, &err);
                if (r >= 0 || !err || !strstr(err, vectors[i].error))
                        fail_msg("vector %zu: %d \"%s\", want \"%s\"", i, r, err ? err : "", vectors[i].error);
                assert_null(k);
        }
}

static void test_kubeconfig_parse_plugins_refused(void **state) {
        KubeConfigOptions o = {};
        (void) state;
        expect_refused("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n", &o,
                       -EINVAL, "/etc/kube/config:11:7: user \"admin\": exec credential plugins are not supported");
        expect_refused("", "    auth-provider:\n      name: oidc\n", &o, -EINVAL, "auth-provider plugins are not supported");
        expect_refused("", "    username: admin\n    password: pw\n", &o, -EINVAL, "basic authentication");
        expect_refused("", "    token: t\n    as: someone\n", &o, -EINVAL, "impersonation (as)");
        expect_refused("", "    token: t\n    as-groups: [system:masters]\n", &o, -EINVAL, "impersonation (as-groups)");
}

static void test_kubeconfig_parse_empty_plugin_fields_ignored(void **state) {
        _cleanup_free_ char *text = kubeconfig("", "    token: t\n    exec: null\n    as: \"\"\n    as-groups: []\n");
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        (void) state;
        assert_int_equal(parse(text, NULL, &k, NULL), 0);
}

static void test_kubeconfig_parse_conflicts(void **state) {
        _cleanup_free_ char *ca = inline_ca(), *both_ca = NULL, *user = inline_user(), *both_cert = NULL;
        (void) state;
        assert_true(asprintf(&both_ca, "%s    certificate-authority: ca.crt\n", ca) > 0);
        expect_refused(both_ca, "    token: t\n", NULL, -EINVAL,
                       "both certificate-authority-data and certificate-authority are set");
        assert_true(asprintf(&both_cert, "%s    client-certificate: c.crt\n", user) > 0);
        expect_refused("", both_cert, NULL, -EINVAL,
                       "both client-certificate-data and client-certificate are set");
        expect_refused("", "    token: a\n    tokenFile: b\n", NULL, -EINVAL, "both token and tokenFile are set");
}

static void test_kubeconfig_parse_bad_base64(void **state) {
        _cleanup_free_ char *k = b64(client_key_pem), *dash = NULL, *cert_only = NULL, *c = b64(client_pem);
        (void) state;
        expect_refused("    certificate-authority-data: \"not base64!\"\n", "", NULL, -EINVAL,
                       "cluster \"lab\": certificate-authority-data is not valid base64");
        /* OpenSSL would stop quietly at a '-' */
        assert_true(asprintf(&dash, "    client-certificate-data: %s\n    client-key-data: LS0t-%s\n", c, k) > 0);
        expect_refused("", dash, NULL, -EINVAL, "client-key-data is not valid base64");
        expect_refused("    certificate-authority-data: QUJD\n", "", NULL, -EINVAL, "holds no PEM certificate");
        expect_refused("    certificate-authority-data: QUJ\n", "", NULL, -EINVAL, "not valid base64");
        expect_refused("    certificate-authority-data: 42\n", "", NULL, -EINVAL,
                       "certificate-authority-data must be a string");
        assert_true(asprintf(&cert_only, "    client-certificate-data: %s\n", c) > 0);
        expect_refused("", cert_only, NULL, -EINVAL, "a client certificate without its key");
}

static void test_kubeconfig_parse_key_checks(void **state) {
        _cleanup_free_ char *c = b64(client_pem), *other = b64(other_key_pem), *enc = b64(encrypted_key_pem),
                            *garbage = b64("not a key"), *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL, *k = b64(client_key_pem),
                            *notcert = b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        (void) state;
        assert_true(asprintf(&u1, "    client-certificate-data: %s\n    client-key-data: %s\n", c, other) > 0);
        expect_refused("", u1, NULL, -EINVAL, "the client key does not match the client certificate");
        assert_true(asprintf(&u2, "    client-certificate-data: %s\n    client-key-data: %s\n", c, enc) > 0);
        expect_refused("", u2, NULL, -EINVAL, "not an unencrypted PEM private key");
        assert_true(asprintf(&u3, "    client-certificate-data: %s\n    client-key-data: %s\n", c, garbage) > 0);
        expect_refused("", u3, NULL, -EINVAL, "not an unencrypted PEM private key");
        assert_true(asprintf(&u4, "    client-certificate-data: %s\n    client-key-data: %s\n", notcert, k) > 0);
        expect_refused("", u4, NULL, -EINVAL, "the client certificate is not a PEM certificate");
}

static void test_kubeconfig_parse_tokens(void **state) {
        (void) state;
        expect_refused("", "    token: \"a b\"\n", NULL, -EINVAL, "holds spaces or control characters");
        expect_refused("", "    token: \"a\\nX-Evil: 1\"\n", NULL, -EINVAL, "holds spaces or control characters");
        expect_refused("", "    token: \"   \"\n", NULL, -EINVAL, "the token is empty");
        expect_refused("", "    token: [a]\n", NULL, -EINVAL, "token must be a string");
}

static void test_kubeconfig_parse_insecure(void **state) {
        _cleanup_free_ char *text = kubeconfig("    insecure-skip-tls-verify: true\n", "    token: t\n");
        const char *http = "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                           "clusters: [{name: c, cluster: {server: 'http://10.0.0.1:6443'}}]\n"
                           "users: [{name: u, user: {token: t}}]\n";
        _cleanup_free_ char *ca = inline_ca(), *both = NULL, *err = NULL;
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL, *k2 = NULL;
        KubeConfigOptions allow = { .allow_insecure = true };
        (void) state;

        expect_refused("    insecure-skip-tls-verify: true\n", "    token: t\n", NULL, -EINVAL,
                       "/etc/kube/config:7:31: cluster \"lab\": refusing insecure-skip-tls-verify");
        /* YAML 1.1: yes is true, as kubectl reads it */
        expect_refused("    insecure-skip-tls-verify: yes\n", "", NULL, -EINVAL, "refusing insecure-skip-tls-verify");
        expect_refused("    insecure-skip-tls-verify: \"true\"\n", "", NULL, -EINVAL, "must be true or false");
        assert_int_equal(parse(text, &allow, &k, NULL), 0);
        assert_true(k->insecure);
        assert_true(asprintf(&both, "%s    insecure-skip-tls-verify: true\n", ca) > 0);
        expect_refused(both, "", &allow, -EINVAL, "insecure-skip-tls-verify together with a certificate authority");
        /* plain http: the token would travel in the clear */
        assert_int_equal(parse(http, NULL, &k2, &err), -EINVAL);
        assert_non_null(strstr(err, "refusing plain http://"));
        assert_int_equal(parse(http, &allow, &k2, NULL), 0);
        assert_string_equal(k2->server, "http://10.0.0.1:6443");
}

static void test_kubeconfig_parse_server_checks(void **state) {
        (void) state;
        expect_refused("    tls-server-name: kubernetes\n", "", NULL, -EINVAL, "tls-server-name is not supported");
        expect_refused("    proxy-url: nonsense\n", "", NULL, -EINVAL, "proxy-url must be a URL");
        {
                const char *text = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                                   "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n";
                _cleanup_free_ char *err = NULL;
                KubeConfig *k = NULL;
                assert_int_equal(parse(text, NULL, &k, &err), -EINVAL);
                assert_non_null(strstr(err, "server must be an https:// URL"));
        }
        {
                const char *text = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                                   "clusters: [{name: c, cluster: {server: 'https://h/ x'}}]\n";
                KubeConfig *k = NULL;
                assert_int_equal(parse(text, NULL, &k, NULL), -EINVAL);
        }
}

static void test_kubeconfig_parse_proxy(void **state) {
        _cleanup_free_ char *text = kubeconfig("    proxy-url: socks5://127.0.0.1:1080\n", "");
        _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
        (void) state;
        assert_int_equal(parse(text, NULL, &k, NULL), 0);
        assert_string_equal(k->proxy_url, "socks5://127.0.0.1:1080");
        /* a user with no credentials at all */
        assert_null(k->token);
        assert_null(k->key_pem);
}

static void test_kubeconfig_parse_no_files(void **state) {
        KubeConfigOptions o = { .no_files = true };
        (void) state;
        expect_refused("    certificate-authority: /etc/ssl/ca.crt\n", "", &o, -EPERM,
                       "certificate-authority names a file, which is not allowed here");
        expect_refused("", "    tokenFile: /etc/shadow\n", &o, -EPERM, "tokenFile names a file");
}

static void test_kubeconfig_parse_size_cap(void **state) {
        _cleanup_free_ char *err = NULL;
        KubeConfig *k = NULL;
        (void) state;
        assert_int_equal(kubeconfig_parse("a", KUBECONFIG_SIZE_MAX + 1, "big", NULL, &k, &err), -E2BIG);
        assert_string_equal(err, "big: larger than 4194304 bytes");
}

static void test_kubeconfig_default_path(void **state) {
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *err = NULL;
        char *p3 = NULL;
        const char *old_kc = getenv("KUBECONFIG"), *old_home = getenv("HOME");
        _cleanup_free_ char *saved_kc = old_kc ? strdup(old_kc) : NULL, *saved_home = old_home ? strdup(old_home) : NULL;
        (void) state;

        setenv("KUBECONFIG", "/tmp/one", 1);
        assert_int_equal(kubeconfig_default_path(&p1, NULL), 0);
        assert_string_equal(p1, "/tmp/one");
        setenv("KUBECONFIG", "/tmp/a:/tmp/b", 1);
        assert_int_equal(kubeconfig_default_path(&p3, &err), -EINVAL);
        assert_non_null(strstr(err, "several files"));
        unsetenv("KUBECONFIG");
        setenv("HOME", "/home/op", 1);
        assert_int_equal(kubeconfig_default_path(&p2, NULL), 0);
        assert_string_equal(p2, "/home/op/.kube/config");
        if (saved_kc)
                setenv("KUBECONFIG", saved_kc, 1);
        if (saved_home)
                setenv("HOME", saved_home, 1);
        else
                unsetenv("HOME");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kubeconfig_parse_inline),
                cmocka_unit_test(test_kubeconfig_parse_base64_with_line_breaks),
                cmocka_unit_test(test_kubeconfig_load_relative_files),
                cmocka_unit_test(test_kubeconfig_load_token_file),
                cmocka_unit_test(test_kubeconfig_load_missing_file),
                cmocka_unit_test(test_kubeconfig_load_fifo_refused),
                cmocka_unit_test(test_kubeconfig_parse_context_choice),
                cmocka_unit_test(test_kubeconfig_parse_missing_parts),
                cmocka_unit_test(test_kubeconfig_parse_plugins_refused),
                cmocka_unit_test(test_kubeconfig_parse_empty_plugin_fields_ignored),
                cmocka_unit_test(test_kubeconfig_parse_conflicts),
                cmocka_unit_test(test_kubeconfig_parse_bad_base64),
                cmocka_unit_test(test_kubeconfig_parse_key_checks),
                cmocka_unit_test(test_kubeconfig_parse_tokens),
                cmocka_unit_test(test_kubeconfig_parse_insecure),
                cmocka_unit_test(test_kubeconfig_parse_server_checks),
                cmocka_unit_test(test_kubeconfig_parse_proxy),
                cmocka_unit_test(test_kubeconfig_parse_no_files),
                cmocka_unit_test(test_kubeconfig_parse_size_cap),
                cmocka_unit_test(test_kubeconfig_default_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
