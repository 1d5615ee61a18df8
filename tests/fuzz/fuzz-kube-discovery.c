/* Fuzz target for the discovery map (agent/cluster/kube-resources.c): the
 * input is an APIResourceList as a server (or anything between us and
 * it) sends it; the first byte says whether it is the preferred version.
 * Beyond "no crash, no leak": every kept resource's apiVersion and kind
 * resolve to an entry of that group, version and kind, and every path built from it is printable
 * ASCII without spaces, starts at /api or /apis and never climbs ("..").
 * Seeds: tests/fuzz/fuzz-kube-discovery/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kube-resources.h"
#include "core/cleanup.h"

static void check_path(const char *p) {
        if (strncmp(p, "/api/", 5) != 0 && strncmp(p, "/apis/", 6) != 0)
                abort();
        if (strstr(p, "/../") || strstr(p, "/./") || strstr(p, "//"))
                abort();
        for (const unsigned char *c = (const unsigned char *) p; *c; c++)
                if (*c <= 0x20 || *c >= 0x7f)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeResourceMap m = {};
        json_auto_t *list = NULL;
        bool preferred = false;

        if (size > 0) {
                preferred = data[0] & 1;
                data++;
                size--;
        }
        list = json_loadb((const char *) data, size, 0, NULL);
        if (!list)
                return 0;
        if (kube_resources_add_list(&m, list, preferred, NULL) >= 0 && m.n > 0)
                (void) kube_resources_add_list(&m, list, !preferred, NULL); /* again: no duplicates */
        for (size_t i = 0; i < m.n; i++) {
                const KubeResource *r = &m.v[i], *found = NULL;
                _cleanup_free_ char *av = kube_resource_api_version(r), *p1 = NULL, *p2 = NULL, *name = NULL;

                if (!av)
                        continue;
                found = kube_resources_find(&m, av, r->kind);
                if (!found || strcmp(found->kind, r->kind) != 0 || strcmp(found->group, r->group) != 0 ||
                    strcmp(found->version, r->version) != 0)
                        abort();
                if (kube_resources_lookup(&m, r->name, &found) < 0)
                        abort();
                name = kube_resource_describe(r);
                if (name && kube_resources_lookup(&m, name, &found) < 0)
                        abort();
                if (kube_resource_path(r, "ns", r->name, r->has_status ? "status" : NULL, &p1) == 0)
                        check_path(p1);
                if (kube_resource_path(r, NULL, NULL, NULL, &p2) == 0)
                        check_path(p2);
        }
        kube_resources_done(&m);
        return 0;
}
