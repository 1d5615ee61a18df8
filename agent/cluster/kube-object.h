/* Kubernetes objects as JSON: what a client reads from them (identity,
 * conditions) and what it must remove before writing them back. Pure
 * functions over jansson values. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* An object's identity; pointers borrowed from the object, NULL when the
 * field is missing or not a string. */
typedef struct KubeObjectRef {
        const char *api_version;
        const char *kind;
        const char *namespace;
        const char *name;
} KubeObjectRef;

void kube_object_ref(const json_t *obj, KubeObjectRef *ret);

/* Removes the fields the server owns and refuses, or silently replaces,
 * on create (docs/kube-api-behaviour.md): metadata.resourceVersion (a 500
 * on create), uid, creationTimestamp, generation, managedFields, selfLink,
 * deletionTimestamp, deletionGracePeriodSeconds. In place; 0 or -EINVAL
 * when obj is not an object. */
int kube_object_strip_for_create(json_t *obj);

/* Removes what server-side apply refuses in a body (managedFields). */
int kube_object_strip_for_apply(json_t *obj);

/* Finds status.conditions[type == `type`]; 0 with the borrowed fields
 * (status "True"/"False"/"Unknown", reason, message; NULL when absent),
 * -ENOENT when there is no such condition. */
int kube_object_condition(const json_t *obj, const char *type, const char **ret_status, const char **ret_reason,
                          const char **ret_message);

/* Sets metadata.<field> to a string, creating metadata if needed. */
int kube_object_set_meta(json_t *obj, const char *field, const char *value);

/* Is metadata.deletionTimestamp set (the object is terminating)? */
bool kube_object_is_terminating(const json_t *obj);
