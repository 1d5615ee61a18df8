/* KubeDiscovery (see kube-discovery.h): the root requests, a queue of
 * group versions drained KUBE_DISCOVERY_PARALLEL at a time, and the fold
 * into a KubeResourceMap (kube-resources.c parses each reply). */
#include "cluster/kube-discovery.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

typedef struct GvSlot {
        KubeDiscovery *d;
        char *group, *version;
        bool preferred, started;
        json_t *list;
        char *error;
        KubeTransfer *t;
} GvSlot;

struct KubeDiscovery {
        const KubeConnection *conn;
        KubeDiscoveryDoneFn done;
        void *userdata;
        KubeTransfer *api, *apis;
        int r;
        char *error;
        GvSlot **slots;
        size_t n_slots;
        size_t pending; /* replies still to come, started or not */
        size_t running; /* group-version transfers on the wire */
};

static void slot_free(GvSlot *s) {
        if (!s)
                return;
        kube_transfer_free(s->t);
        json_decref(s->list);
        free(s->group);
        free(s->version);
        free(s->error);
        free(s);
}

KubeDiscovery *kube_discovery_free(KubeDiscovery *d) {
        if (!d)
                return NULL;
        kube_transfer_free(d->api);
        kube_transfer_free(d->apis);
        for (size_t i = 0; i < d->n_slots; i++)
                slot_free(d->slots[i]);
        free(d->slots);
        free(d->error);
        free(d);
        return NULL;
}

static void discovery_set_error(KubeDiscovery *d, int r, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void discovery_set_error(KubeDiscovery *d, int r, const char *format, ...) {
        va_list ap;
        if (d->r < 0)
                return; /* the first failure is the one worth telling */
        d->r = r;
        va_start(ap, format);
        if (vasprintf(&d->error, format, ap) < 0)
                d->error = NULL;
        va_end(ap);
}

/* Every reply is in: build the new map, core group first, then the
 * groups in the order /apis listed them. */
static void discovery_finish(KubeDiscovery *d) {
        KubeResourceMap map = {};
        char **failed = NULL;
        size_t n_failed = 0;

        for (int pass = 0; d->r >= 0 && pass < 2; pass++)
                for (size_t i = 0; i < d->n_slots; i++) {
                        GvSlot *s = d->slots[i];
                        _cleanup_free_ char *err = NULL;
                        int r;

                        if ((pass == 0) != (*s->group == '\0'))
                                continue;
                        r = s->list ? kube_resources_add_list(&map, s->list, s->preferred, &err) : -EIO;
                        if (r == -ENOMEM || r == -E2BIG) {
                                discovery_set_error(d, r, "%s", err ? err : strerror(-r));
                                break;
                        }
                        if (r < 0) {
                                char **v = reallocarray(failed, n_failed + 1, sizeof(*failed));
                                if (!v)
                                        continue;
                                failed = v;
                                if (asprintf(&failed[n_failed], "%s%s%s: %s", s->group, *s->group ? "/" : "",
                                             s->version, s->error ? s->error : err ? err : "no reply") >= 0)
                                        n_failed++;
                        }
                }
        {
                KubeDiscoveryResult res = { .r = d->r, .error = d->error, .failed = failed, .n_failed = n_failed };
                if (d->r >= 0)
                        kube_resources_replace(&res.map, &map);
                kube_resources_done(&map);
                /* d may be gone after this: only res is ours */
                d->done(d, &res, d->userdata);
                kube_resources_done(&res.map);
                for (size_t i = 0; i < res.n_failed; i++)
                        free(res.failed[i]);
                free(res.failed);
        }
}

static void discovery_settle(KubeDiscovery *d) {
        if (d->pending == 0)
                discovery_finish(d);
}

static void on_slot_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata);

static int slot_path(const GvSlot *s, char **ret) {
        return (*s->group ? asprintf(ret, "/apis/%s/%s", s->group, s->version)
                          : asprintf(ret, "/api/%s", s->version)) < 0 ? -ENOMEM : 0;
}

/* Starts queued group versions while fewer than KUBE_DISCOVERY_PARALLEL
 * run. One that cannot start counts as failed. */
static void discovery_pump(KubeDiscovery *d) {
        for (size_t i = 0; i < d->n_slots && d->running < KUBE_DISCOVERY_PARALLEL; i++) {
                GvSlot *s = d->slots[i];
                _cleanup_free_ char *path = NULL;
                int r;

                if (s->started)
                        continue;
                s->started = true;
                r = slot_path(s, &path);
                if (r >= 0)
                        r = kube_transfer_start(d->conn, "GET", path, NULL, 0, NULL, true, 0, on_slot_done, s, &s->t);
                if (r < 0) {
                        if (!(s->error = strdup(strerror(-r))))
                                discovery_set_error(d, -ENOMEM, "out of memory");
                        d->pending--;
                        continue;
                }
                d->running++;
        }
}

static void on_slot_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata) {
        GvSlot *s = userdata;
        KubeDiscovery *d = s->d;

        if (res->r >= 0 && json_is_object(res->json))
                s->list = json_incref(res->json);
        else if (!(s->error = strdup(res->r < 0 ? res->error : "the reply is not an object")))
                discovery_set_error(d, -ENOMEM, "out of memory");
        s->t = kube_transfer_free(t);
        d->running--;
        d->pending--;
        discovery_pump(d);
        discovery_settle(d);
}

/* Queues a group version (once); discovery_pump() starts it. */
static int slot_add(KubeDiscovery *d, const char *group, const char *version, bool preferred) {
        GvSlot **v, *s;

        if (d->n_slots >= KUBE_DISCOVERY_GROUP_VERSIONS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < d->n_slots; i++)
                if (strcmp(d->slots[i]->group, group) == 0 && strcmp(d->slots[i]->version, version) == 0)
                        return 0;
        v = reallocarray(d->slots, d->n_slots + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        d->slots = v;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (GvSlot) { .d = d, .group = strdup(group), .version = strdup(version), .preferred = preferred };
        if (!s->group || !s->version) {
                slot_free(s);
                return -ENOMEM;
        }
        d->slots[d->n_slots++] = s;
        d->pending++;
        return 0;
}

/* /api: {"versions": ["v1"]} */
static void on_api_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata) {
        KubeDiscovery *d = userdata;
        const json_t *versions = json_object_get(res->json, "versions"), *v;
        size_t i;
        int r;

        if (res->r < 0)
                discovery_set_error(d, res->r, "GET /api: %s", res->error);
        else if (!json_is_array(versions))
                discovery_set_error(d, -EBADMSG, "GET /api: not an APIVersions object");
        else
                json_array_foreach (versions, i, v) {
                        const char *version = json_string_value(v);
                        _cleanup_free_ char *g = NULL, *ver = NULL;
                        /* a version must be one path segment */
                        if (!version || kube_api_version_split(version, &g, &ver) < 0 || *g)
                                continue;
                        r = slot_add(d, "", version, i == 0);
                        if (r < 0) {
                                discovery_set_error(d, r, "GET /api: %s", strerror(-r));
                                break;
                        }
                }
        d->api = kube_transfer_free(t);
        d->pending--;
        discovery_pump(d);
        discovery_settle(d);
}

/* /apis: an APIGroupList, each group with its versions and the preferred */
static void on_apis_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata) {
        KubeDiscovery *d = userdata;
        const json_t *groups = json_object_get(res->json, "groups"), *g, *v;
        size_t i, j;
        int r = 0;

        if (res->r < 0)
                discovery_set_error(d, res->r, "GET /apis: %s", res->error);
        else if (!json_is_array(groups))
                discovery_set_error(d, -EBADMSG, "GET /apis: not an APIGroupList");
        else
                json_array_foreach (groups, i, g) {
                        const char *name = json_string_value(json_object_get(g, "name"));
                        const char *preferred =
                                json_string_value(json_object_get(json_object_get(g, "preferredVersion"), "version"));
                        json_array_foreach (json_object_get(g, "versions"), j, v) {
                                const char *version = json_string_value(json_object_get(v, "version"));
                                _cleanup_free_ char *gg = NULL, *vv = NULL, *gv = NULL;
                                if (!name || !version || asprintf(&gv, "%s/%s", name, version) < 0)
                                        continue;
                                /* both must be path segments before they go into a URL */
                                if (kube_api_version_split(gv, &gg, &vv) < 0 || !*gg)
                                        continue;
                                r = slot_add(d, name, version, preferred ? strcmp(preferred, version) == 0 : j == 0);
                                if (r < 0)
                                        break;
                        }
                        if (r < 0) {
                                discovery_set_error(d, r, "GET /apis: %s",
                                                    r == -E2BIG ? "too many group versions" : strerror(-r));
                                break;
                        }
                }
        d->apis = kube_transfer_free(t);
        d->pending--;
        discovery_pump(d);
        discovery_settle(d);
}

int kube_discovery_start(const KubeConnection *conn, KubeDiscoveryDoneFn done, void *userdata, KubeDiscovery **ret) {
        KubeDiscovery *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = (KubeDiscovery) { .conn = conn, .done = done, .userdata = userdata };
        r = kube_transfer_start(conn, "GET", "/api", NULL, 0, NULL, true, 0, on_api_done, d, &d->api);
        if (r >= 0) {
                d->pending++;
                r = kube_transfer_start(conn, "GET", "/apis", NULL, 0, NULL, true, 0, on_apis_done, d, &d->apis);
        }
        if (r < 0) {
                kube_discovery_free(d);
                return r;
        }
        d->pending++;
        *ret = d;
        return 0;
}
