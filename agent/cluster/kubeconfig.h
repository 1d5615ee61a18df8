/* Kubeconfig: one context of a kubeconfig file resolved into what a client
 * needs (server URL, CA, client certificate and key, bearer token), read
 * the way kubectl reads it, with the refusals Strata needs because its
 * users trust it with their keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/secret.h"

#define KUBECONFIG_SIZE_MAX (4u * 1024u * 1024u) /* the kubeconfig itself */
#define KUBECONFIG_FILE_MAX (1024u * 1024u)      /* a CA, certificate, key or token file it names */
#define KUBECONFIG_TOKEN_MAX (64u * 1024u)       /* a bearer token (JWTs run to a few KiB) */
#define KUBECONFIG_ENTRIES_MAX 1000u             /* clusters, users, contexts: each */

typedef struct KubeConfigOptions {
        const char *context; /* NULL: the file's current-context */
        /* insecure-skip-tls-verify: true, and http:// servers (a token in
         * the clear), are refused unless this is set: an operator's
         * explicit --insecure-skip-tls-verify. */
        bool allow_insecure;
        /* Refuse fields naming other files (certificate-authority,
         * client-certificate, client-key, tokenFile): for fuzzing, and for
         * kubeconfigs that did not come from the operator. */
        bool no_files;
} KubeConfigOptions;

typedef struct KubeConfig {
        char *path;      /* the file read, for messages */
        char *context;   /* the context used */
        char *cluster;   /* its cluster */
        char *user;      /* its user; NULL when the context names none */
        char *namespace; /* the context's namespace; NULL when it sets none */
        char *server;    /* "https://host:port[/prefix]", no trailing '/' */
        char *proxy_url; /* proxy-url, or NULL */
        char *ca_pem;    /* CA bundle (PEM, NUL-terminated); NULL: the system's store */
        size_t ca_pem_size;
        bool insecure;   /* insecure-skip-tls-verify (only with allow_insecure) */
        char *cert_pem;  /* client certificate (PEM, NUL-terminated), or NULL */
        size_t cert_pem_size;
        Secret *key_pem; /* its private key (PEM), or NULL */
        Secret *token;   /* bearer token, or NULL */
} KubeConfig;

/* Reads and resolves `path`: the context (opts->context, else
 * current-context), its cluster and user; files the kubeconfig names are
 * read relative to its directory, as kubectl does; *-data fields are
 * base64 of PEM. The CA must hold a certificate, the client key must be an
 * unencrypted PEM key matching the client certificate.
 *
 * Refused with -EINVAL and *reterr ("PATH:LINE:COLUMN: users[0] \"name\":
 * ..."): exec and auth-provider plugins, basic auth, impersonation,
 * tls-server-name, a field given both inline and as a file, token with
 * tokenFile, a certificate without its key, insecure-skip-tls-verify and
 * http:// without allow_insecure, insecure together with a CA. YAML errors
 * are -EBADMSG, caps -E2BIG, unreadable files -errno, all with *reterr. */
int kubeconfig_load(const char *path, const KubeConfigOptions *opts, KubeConfig **ret, char **reterr);

/* The same over `size` bytes already read; `path` names them in messages
 * and anchors relative file names (NULL: "<kubeconfig>" and the current
 * directory). */
int kubeconfig_parse(const void *data, size_t size, const char *path, const KubeConfigOptions *opts,
                     KubeConfig **ret, char **reterr);

/* Wipes the key and token; accepts NULL; returns NULL. */
KubeConfig *kubeconfig_free(KubeConfig *k);

/* The file kubectl would read: $KUBECONFIG when it names one file (a
 * list is -EINVAL: Strata does not merge kubeconfigs), else
 * $HOME/.kube/config. malloc'd into *ret. */
int kubeconfig_default_path(char **ret, char **reterr);

static inline void kubeconfig_freep(KubeConfig **k) {
        kubeconfig_free(*k);
}
