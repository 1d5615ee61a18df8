/* One Kubernetes connection for a strata command (kube, capi, pivot): a
 * kubeconfig loaded and checked, and a client on its own event loop, the
 * way each command drives the client's sync calls. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "cluster/kube-client.h"
#include "cluster/kubeconfig.h"
#include "core/curl-event.h"

typedef struct KubeConn {
        sd_event *event;
        CurlEvent *ce;
        KubeClient *client;
        bool fault; /* after a failed open: a local fault, not the kubeconfig's */
} KubeConn;

/* Loads `path` (NULL: the default, $KUBECONFIG or ~/.kube/config) with
 * `kopts` and sets up a client with `copts`. On failure, one line
 * "strata: WHO: ..." on stderr (WHO names the command, and the option
 * when there are several kubeconfigs), ret->fault set for a local fault,
 * and -errno. Warns when the kubeconfig turns TLS verification off. */
int kube_conn_open(const char *who, const char *path, const KubeConfigOptions *kopts, const KubeClientOptions *copts,
                   KubeConn *ret);
void kube_conn_close(KubeConn *c);
