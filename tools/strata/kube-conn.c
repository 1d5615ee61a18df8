/* kube_conn_open(): see kube-conn.h. */
#include "kube-conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"

int kube_conn_open(const char *who, const char *path, const KubeConfigOptions *kopts, const KubeClientOptions *copts,
                   KubeConn *ret) {
        _cleanup_(kubeconfig_freep) KubeConfig *kc = NULL;
        _cleanup_free_ char *default_path = NULL, *err = NULL;
        int r;

        *ret = (KubeConn) {};
        if (!path) {
                r = kubeconfig_default_path(&default_path, &err);
                if (r < 0) {
                        fprintf(stderr, "strata: %s: %s\n", who, err ? err : strerror(-r));
                        ret->fault = r == -ENOMEM;
                        return r;
                }
                path = default_path;
        }
        r = kubeconfig_load(path, kopts, &kc, &err);
        if (r < 0) {
                fprintf(stderr, "strata: %s: %s\n", who, err ? err : strerror(-r));
                ret->fault = r == -ENOMEM;
                return r;
        }
        if (kc->insecure)
                fprintf(stderr, "strata: %s: warning: TLS verification of %s is off (insecure-skip-tls-verify)\n",
                        who, kc->server);
        r = sd_event_new(&ret->event);
        if (r >= 0)
                r = curl_event_new(ret->event, &ret->ce);
        if (r >= 0)
                r = kube_client_new(ret->event, ret->ce, kc, copts, &ret->client);
        if (r < 0) {
                fprintf(stderr, "strata: %s: cannot set up the client: %s\n", who, strerror(-r));
                kube_conn_close(ret);
                ret->fault = true;
                return r;
        }
        return 0;
}

void kube_conn_close(KubeConn *c) {
        c->client = kube_client_free(c->client);
        c->ce = curl_event_free(c->ce);
        c->event = sd_event_unref(c->event);
}
