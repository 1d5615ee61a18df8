/* Fuzz target for Kubernetes error replies (agent/cluster/kube-status.c):
 * the first two bytes pick the HTTP status (100 to 599), the rest is the
 * body (a Status, plain text, HTML, anything). Beyond "no crash, no leak":
 * the errno is negative for every non-2xx status, the one-line description
 * exists and carries no control character (it reaches a terminal), and
 * stays within the text caps. Seeds: tests/fuzz/fuzz-kube-status/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kube-status.h"
#include "core/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *msg = NULL;
        long code = 404;
        KubeStatus s;
        int r;

        if (size >= 2) {
                code = 100 + ((data[0] << 8 | data[1]) % 500);
                data += 2;
                size -= 2;
        }
        r = kube_status_parse(code, (const char *) data, size, &s);
        if (r == -ENOMEM)
                return 0;
        if ((code >= 200 && code < 300) != (r == 0) || r != s.error)
                abort();
        msg = kube_status_describe(&s);
        if (msg) {
                for (const unsigned char *c = (const unsigned char *) msg; *c; c++)
                        if (*c < 0x20 || *c == 0x7f)
                                abort();
                /* message, causes (each capped), the status: bounded */
                if (strlen(msg) > (KUBE_STATUS_CAUSES_MAX + 1) * (2 * KUBE_STATUS_TEXT_MAX + 16) + 128)
                        abort();
        }
        kube_status_done(&s);
        return 0;
}
