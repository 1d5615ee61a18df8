/* Kubernetes objects as JSON (see kube-object.h): identity, conditions,
 * and the server-owned fields stripped before a write. */
#include "cluster/kube-object.h"

#include <errno.h>
#include <string.h>

#include "core/cleanup.h"

/* Server-owned metadata: refused (resourceVersion, a 500 on POST) or
 * silently replaced on create; copying them from another cluster (a
 * pivot) would be wrong even where the server tolerates them. */
static const char *const create_strip[] = {
        "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
        "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
};

/* Server-side apply refuses a body with managedFields ("must be nil"). */
static const char *const apply_strip[] = {
        "managedFields",
};

void kube_object_ref(const json_t *obj, KubeObjectRef *ret) {
        const json_t *meta = json_object_get(obj, "metadata");

        *ret = (KubeObjectRef) {
                .api_version = json_string_value(json_object_get(obj, "apiVersion")),
                .kind = json_string_value(json_object_get(obj, "kind")),
                .namespace = json_string_value(json_object_get(meta, "namespace")),
                .name = json_string_value(json_object_get(meta, "name")),
        };
}

static int strip(json_t *obj, const char *const *fields, size_t n) {
        json_t *meta;

        if (!json_is_object(obj))
                return -EINVAL;
        meta = json_object_get(obj, "metadata");
        if (!json_is_object(meta))
                return 0;
        for (size_t i = 0; i < n; i++)
                (void) json_object_del(meta, fields[i]);
        return 0;
}

int kube_object_strip_for_create(json_t *obj) {
        return strip(obj, create_strip, ELEMENTSOF(create_strip));
}

int kube_object_strip_for_apply(json_t *obj) {
        return strip(obj, apply_strip, ELEMENTSOF(apply_strip));
}

int kube_object_condition(const json_t *obj, const char *type, const char **ret_status, const char **ret_reason,
                          const char **ret_message) {
        const json_t *conditions = json_object_get(json_object_get(obj, "status"), "conditions"), *c;
        size_t i;

        json_array_foreach (conditions, i, c) {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (!t || !type || strcmp(t, type) != 0)
                        continue;
                if (ret_status)
                        *ret_status = json_string_value(json_object_get(c, "status"));
                if (ret_reason)
                        *ret_reason = json_string_value(json_object_get(c, "reason"));
                if (ret_message)
                        *ret_message = json_string_value(json_object_get(c, "message"));
                return 0;
        }
        return -ENOENT;
}

int kube_object_set_meta(json_t *obj, const char *field, const char *value) {
        json_t *meta;

        if (!json_is_object(obj))
                return -EINVAL;
        meta = json_object_get(obj, "metadata");
        if (!meta) {
                meta = json_object();
                if (!meta || json_object_set_new(obj, "metadata", meta) < 0)
                        return -ENOMEM;
        }
        if (!json_is_object(meta))
                return -EINVAL;
        return json_object_set_new(meta, field, json_string(value)) < 0 ? -ENOMEM : 0;
}

bool kube_object_is_terminating(const json_t *obj) {
        const json_t *t = json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp");
        return json_is_string(t) && json_string_length(t) > 0;
}
