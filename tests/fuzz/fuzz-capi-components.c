/* Fuzz target for the Cluster API components reader
 * (agent/cluster/capi-install.c, capi_components_parse): the input is a
 * components file from a local repository on disk. The first byte picks
 * the provider type, the rest is the YAML. Beyond "no crash, no leak": a
 * refusal has one message; a success yields objects that each have
 * apiVersion, kind, metadata.name and both clusterctl labels, ordered
 * Namespaces, CRDs, the rest. Seeds: tests/fuzz/fuzz-capi-components/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/capi-install.h"
#include "core/cleanup.h"

static int rank(const json_t *o) {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (strcmp(kind, "Namespace") == 0 && strcmp(json_string_value(json_object_get(o, "apiVersion")), "v1") == 0)
                return 0;
        return strcmp(kind, "CustomResourceDefinition") == 0 &&
                               strncmp(json_string_value(json_object_get(o, "apiVersion")), "apiextensions.k8s.io/", 21) ==
                                       0 ?
                       1 :
                       2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL, *ns = NULL;
        json_auto_t *objects = NULL;
        CapiProviderType type;
        const json_t *o;
        size_t i;
        int r, last = 0;

        if (size < 1)
                return 0;
        type = (CapiProviderType) (data[0] % _CAPI_PROVIDER_TYPE_MAX);
        r = capi_components_parse(data + 1, size - 1, "fuzz", type, "cluster-api", &objects, &ns, &err);
        if (r < 0) {
                if (r != -ENOMEM && (!err || !*err))
                        abort();
                return 0;
        }
        json_array_foreach(objects, i, o) {
                const json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
                if (!json_string_value(json_object_get(o, "apiVersion")) ||
                    !json_string_value(json_object_get(o, "kind")) ||
                    !json_string_value(json_object_get(json_object_get(o, "metadata"), "name")))
                        abort();
                if (!json_object_get(labels, CAPI_CLUSTERCTL_LABEL))
                        abort();
                if (!json_object_get(labels, type == CAPI_PROVIDER_CERT_MANAGER ? CAPI_CLUSTERCTL_CORE_LABEL
                                                                                  : CAPI_PROVIDER_LABEL))
                        abort();
                int k = rank(o);
                if (k < last)
                        abort();
                last = k;
        }
        return 0;
}
