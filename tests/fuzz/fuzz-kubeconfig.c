/* Fuzz target for the kubeconfig reader (agent/cluster/kubeconfig.c) and,
 * through it, the YAML converter, base64 and the PEM checks: the input is
 * a kubeconfig. References to other files are refused (no_files), so the
 * target never touches the file system. It runs twice, with and without
 * allow_insecure. Beyond "no crash, no leak": a refusal explains itself in
 * one printable line; an accepted kubeconfig has an http(s) server without
 * a trailing '/', a certificate only with its key, and a token that is
 * printable ASCII without spaces. Seeds: tests/fuzz/fuzz-kubeconfig/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kubeconfig.h"
#include "core/cleanup.h"

static void check(const KubeConfig *k) {
        size_t n = strlen(k->server);
        if (strncmp(k->server, "https://", 8) != 0 && strncmp(k->server, "http://", 7) != 0)
                abort();
        if (n == 0 || k->server[n - 1] == '/')
                abort();
        if (!k->cert_pem != !k->key_pem)
                abort();
        if (k->token)
                for (size_t i = 0; i < k->token->size; i++)
                        if (k->token->data[i] <= 0x20 || k->token->data[i] >= 0x7f)
                                abort();
        if (k->ca_pem && strlen(k->ca_pem) > k->ca_pem_size)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        for (int insecure = 0; insecure < 2; insecure++) {
                KubeConfigOptions o = { .no_files = true, .allow_insecure = insecure, .context = size % 3 ? NULL : "x" };
                _cleanup_(kubeconfig_freep) KubeConfig *k = NULL;
                _cleanup_free_ char *err = NULL;
                int r = kubeconfig_parse(data, size, "fuzz/config", &o, &k, &err);

                if (r >= 0) {
                        check(k);
                        continue;
                }
                if (r == -ENOMEM)
                        continue;
                if (!err || strncmp(err, "fuzz/config", 11) != 0)
                        abort();
                for (const unsigned char *c = (const unsigned char *) err; *c; c++)
                        if (*c < 0x20 && *c != '\t')
                                abort();
        }
        return 0;
}
