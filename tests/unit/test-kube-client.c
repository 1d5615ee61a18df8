/* Tests for agent/cluster/kube-client.c against a fake API server on the
 * same sd-event loop (agent/core/http-server.c, plain HTTP): discovery and
 * its refresh on a miss, what goes on the wire per verb (method, path,
 * query, content type, body, bearer token), paging, retries, waiting,
 * error replies decoded, and refusals of malformed calls. The real
 * behaviour of a server is the system tests' job (kube_standin.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/kube-client.h"
#include "cluster/kube-resources.h"
#include "core/cleanup.h"
#include "core/http-server.h"

#define ITEMS 5u

typedef struct Fake {
        bool crd_installed;
        unsigned n_api, n_apis, n_requests;
        unsigned fail_503, fail_429; /* the next N non-discovery requests */
        unsigned ready_after, widget_gets;
        char method[16];
        char path[512];
        char query[1024];
        char content_type[128];
        char auth[128];
        json_t *body;
} Fake;

typedef struct Ctx {
        sd_event *event;
        CurlEvent *ce;
        HttpServer *server;
        KubeClient *client;
        Fake fake;
        char url[64];
} Ctx;

static int reply_json(HttpResponse *resp, unsigned status, json_t *j) {
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return http_response_take(resp, status, "application/json", s);
}

static int reply_status(HttpResponse *resp, unsigned code, const char *reason, const char *message) {
        return reply_json(resp, code,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1", "status",
                                    "Failure", "message", message, "reason", reason, "code", code));
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        char *q = cls;
        size_t n = strlen(q);
        (void) kind;
        snprintf(q + n, 1024 - n, "%s%s=%s", n ? "&" : "", key, value ? value : "");
        return MHD_YES;
}

static json_t *api_resources_core(void) {
        return json_pack("{s:s, s:[{s:s, s:s, s:b, s:s, s:[s,s,s,s,s,s], s:[s]}, {s:s, s:s, s:b, s:s}]}", "groupVersion",
                         "v1", "resources", "name", "configmaps", "singularName", "configmap", "namespaced", 1, "kind",
                         "ConfigMap", "verbs", "get", "list", "create", "update", "patch", "delete", "shortNames", "cm",
                         "name",
                         "namespaces", "singularName", "namespace", "namespaced", 0, "kind", "Namespace");
}

static json_t *api_resources_widgets(void) {
        return json_pack("{s:s, s:[{s:s, s:s, s:b, s:s, s:[s]}, {s:s, s:b, s:s}]}", "groupVersion",
                         "widgets.example.io/v1", "resources", "name", "widgets", "singularName", "widget",
                         "namespaced", 1, "kind", "Widget", "shortNames", "wd", "name", "widgets/status", "namespaced",
                         1, "kind", "Widget");
}

/* A page of the configmaps list: items without apiVersion and kind, as a
 * real server sends built-in types. */
static int list_page(Fake *f, const HttpRequest *req, HttpResponse *resp) {
        const char *limit = MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, "limit");
        const char *cont = MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, "continue");
        unsigned start = cont ? (unsigned) atoi(cont + 1) : 0, n = limit ? (unsigned) atoi(limit) : ITEMS;
        json_t *items = json_array(), *list;
        char next[16];

        (void) f;
        for (unsigned i = start; i < ITEMS && i < start + n; i++) {
                char name[16];
                snprintf(name, sizeof(name), "cm%u", i);
                json_array_append_new(items, json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace",
                                                       "default"));
        }
        list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", "ConfigMapList", "apiVersion", "v1", "metadata",
                         "resourceVersion", "7", "items", items);
        if (start + n < ITEMS) {
                snprintf(next, sizeof(next), "c%u", start + n);
                json_object_set_new(json_object_get(list, "metadata"), "continue", json_string(next));
                json_object_set_new(json_object_get(list, "metadata"), "remainingItemCount",
                                    json_integer(ITEMS - start - n));
        }
        return reply_json(resp, 200, list);
}

static int widget(Fake *f, HttpResponse *resp) {
        const char *ready = ++f->widget_gets >= f->ready_after ? "True" : "False";
        http_response_add_header(resp, "Warning", "299 - \"widgets are deprecated\"");
        return reply_json(resp, 200,
                          json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:s, s:s}]}}", "apiVersion",
                                    "widgets.example.io/v1", "kind", "Widget", "metadata", "name", "w1", "namespace",
                                    "default", "status", "conditions", "type", "Ready", "status", ready, "reason",
                                    "Provisioning"));
}

static int handle(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Fake *f = userdata;
        const char *p = req->path, *ct, *auth;
        const char *cms = "/api/v1/namespaces/default/configmaps";

        /* discovery */
        if (strcmp(p, "/api") == 0) {
                f->n_api++;
                return reply_json(resp, 200, json_pack("{s:s, s:[s]}", "kind", "APIVersions", "versions", "v1"));
        }
        if (strcmp(p, "/api/v1") == 0)
                return reply_json(resp, 200, api_resources_core());
        if (strcmp(p, "/apis") == 0) {
                f->n_apis++;
                if (!f->crd_installed)
                        return reply_json(resp, 200, json_pack("{s:s, s:[]}", "kind", "APIGroupList", "groups"));
                return reply_json(resp, 200,
                                  json_pack("{s:s, s:[{s:s, s:[{s:s, s:s}], s:{s:s, s:s}}]}", "kind", "APIGroupList",
                                            "groups", "name", "widgets.example.io", "versions", "groupVersion",
                                            "widgets.example.io/v1", "version", "v1", "preferredVersion",
                                            "groupVersion", "widgets.example.io/v1", "version", "v1"));
        }
        if (strcmp(p, "/apis/widgets.example.io/v1") == 0)
                return f->crd_installed ? reply_json(resp, 200, api_resources_widgets())
                                        : http_response_text(resp, 404, "404 page not found");

        /* the request, for the test to look at */
        f->n_requests++;
        snprintf(f->method, sizeof(f->method), "%s", req->method);
        snprintf(f->path, sizeof(f->path), "%s", p);
        f->query[0] = '\0';
        MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, collect_arg, f->query);
        ct = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Content-Type");
        auth = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Authorization");
        snprintf(f->content_type, sizeof(f->content_type), "%s", ct ? ct : "");
        snprintf(f->auth, sizeof(f->auth), "%s", auth ? auth : "");
        json_decref(f->body);
        f->body = req->body ? json_loadb(req->body, req->body_size, 0, NULL) : NULL;

        if (f->fail_429 > 0) {
                f->fail_429--;
                http_response_add_header(resp, "Retry-After", "0");
                return reply_status(resp, 429, "TooManyRequests", "too many requests, please try again later.");
        }
        if (f->fail_503 > 0) {
                f->fail_503--;
                return reply_status(resp, 503, "ServiceUnavailable", "the server is shutting down");
        }
        if (strcmp(p, cms) == 0) {
                if (strcmp(req->method, "GET") == 0)
                        return list_page(f, req, resp);
                return reply_json(resp, 201, json_incref(f->body));
        }
        if (strcmp(p, "/api/v1/namespaces/default/configmaps/gone") == 0 ||
            strcmp(p, "/api/v1/namespaces/default/configmaps/missing") == 0)
                return reply_status(resp, 404, "NotFound", "configmaps \"gone\" not found");
        if (strcmp(p, "/api/v1/namespaces/default/configmaps/stale") == 0)
                return reply_status(resp, 409, "Conflict",
                                    "Operation cannot be fulfilled on configmaps \"stale\": the object has been "
                                    "modified; please apply your changes to the latest version and try again");
        if (strncmp(p, cms, strlen(cms)) == 0 && p[strlen(cms)] == '/')
                return reply_json(resp, 200,
                                  f->body && strcmp(req->method, "DELETE") != 0
                                          ? json_incref(f->body)
                                          : json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                                                      "metadata", "name", p + strlen(cms) + 1));
        if (strcmp(p, "/apis/widgets.example.io/v1/namespaces/default/widgets/w1") == 0)
                return widget(f, resp);
        if (strcmp(p, "/apis/widgets.example.io/v1/namespaces/default/widgets/w1/status") == 0)
                return reply_json(resp, 200, json_incref(f->body));
        return http_response_text(resp, 404, "404 page not found");
}

static const HttpRoute routes[] = {
        { "GET", "/*", handle },    { "POST", "/*", handle },   { "PUT", "/*", handle },
        { "PATCH", "/*", handle },  { "DELETE", "/*", handle },
};

static int listen_loopback(unsigned short *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -1;
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static void client_make(Ctx *c, const KubeClientOptions *opts) {
        _cleanup_secret_ Secret *token = secret_new_copy("tok", 3);
        KubeConfig kc = { .server = c->url, .token = token, .namespace = NULL };
        KubeClientOptions o = opts ? *opts : (KubeClientOptions) {};

        if (!o.backoff_usec)
                o.backoff_usec = 5000;
        c->client = kube_client_free(c->client);
        assert_int_equal(kube_client_new(c->event, c->ce, &kc, &o, &c->client), 0);
}

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        unsigned short port = 0;
        HttpServerConfig cfg = { .routes = routes, .n_routes = ELEMENTSOF(routes) };
        int fd;

        assert_non_null(c);
        cfg.userdata = &c->fake;
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(curl_event_new(c->event, &c->ce), 0);
        fd = listen_loopback(&port);
        assert_true(fd >= 0);
        assert_int_equal(http_server_new(c->event, fd, &cfg, &c->server), 0);
        snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u", port);
        c->fake.crd_installed = true;
        client_make(c, NULL);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        kube_client_free(c->client);
        curl_event_free(c->ce);
        http_server_free(c->server);
        sd_event_unref(c->event);
        json_decref(c->fake.body);
        free(c);
        return 0;
}

static int call(Ctx *c, const KubeCall *kc, KubeResult *res) {
        kube_result_done(res);
        return kube_client_call_sync(c->client, kc, res);
}

static void test_kube_client_get_discovers_once(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall get = { .verb = KUBE_GET, .api_version = "v1", .kind = "ConfigMap", .name = "a" };

        assert_int_equal(call(c, &get, &res), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(res.object, "metadata"), "name")), "a");
        assert_string_equal(res.resource, "configmaps");
        assert_int_equal(res.status, 200);
        /* the kubeconfig named no namespace: "default" */
        assert_string_equal(c->fake.path, "/api/v1/namespaces/default/configmaps/a");
        assert_string_equal(c->fake.method, "GET");
        assert_string_equal(c->fake.auth, "Bearer tok");
        assert_int_equal(c->fake.n_api, 1);
        /* a known kind does not discover again; a resource name works too */
        get = (KubeCall) { .verb = KUBE_GET, .resource = "cm", .name = "b" };
        assert_int_equal(call(c, &get, &res), 0);
        assert_int_equal(c->fake.n_api, 1);
        assert_int_equal(c->fake.n_apis, 1);
}

static void test_kube_client_discovery_refresh_on_miss(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall get = { .verb = KUBE_GET, .api_version = "widgets.example.io/v1", .kind = "Widget", .name = "w1" };

        c->fake.crd_installed = false;
        assert_int_equal(call(c, &get, &res), -ENOENT);
        assert_non_null(strstr(res.error, "the server has no kind Widget in widgets.example.io/v1"));
        assert_non_null(strstr(res.error, "CustomResourceDefinition"));
        assert_int_equal(c->fake.n_apis, 1);
        /* the CRD appears: the next miss discovers again and finds it */
        c->fake.crd_installed = true;
        assert_int_equal(call(c, &get, &res), 0);
        assert_int_equal(c->fake.n_apis, 2);
        assert_string_equal(res.resource, "widgets.widgets.example.io");
        /* and a known one does not */
        assert_int_equal(call(c, &get, &res), 0);
        assert_int_equal(c->fake.n_apis, 2);
}

static void test_kube_client_discover(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        const KubeResourceMap *m;
        const KubeResource *w;

        assert_int_equal(kube_client_discover_sync(c->client, &res), 0);
        m = kube_client_resources(c->client);
        assert_int_equal(m->n, 3);
        w = kube_resources_find(m, "widgets.example.io/v1", "Widget");
        assert_non_null(w);
        assert_true(w->has_status);
        assert_true(w->preferred);
        /* an explicit discovery always fetches again */
        kube_result_done(&res);
        assert_int_equal(kube_client_discover_sync(c->client, &res), 0);
        assert_int_equal(c->fake.n_api, 2);
}

static void test_kube_client_list_all_pages(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall list = { .resource = "configmaps", .namespace = "default", .limit = 2, .label_selector = "a=b,c in (d)" };
        json_t *items, *item;
        size_t i;

        assert_int_equal(kube_client_list_all_sync(c->client, &list, &res), 0);
        items = json_object_get(res.object, "items");
        assert_int_equal(json_array_size(items), ITEMS);
        json_array_foreach (items, i, item) {
                char want[32];
                snprintf(want, sizeof(want), "cm%zu", i);
                assert_string_equal(json_string_value(json_object_get(json_object_get(item, "metadata"), "name")), want);
                /* filled in where the server left them out */
                assert_string_equal(json_string_value(json_object_get(item, "apiVersion")), "v1");
                assert_string_equal(json_string_value(json_object_get(item, "kind")), "ConfigMap");
        }
        assert_null(json_object_get(json_object_get(res.object, "metadata"), "continue"));
        assert_null(json_object_get(json_object_get(res.object, "metadata"), "remainingItemCount"));
        assert_int_equal(c->fake.n_requests, 3);
        /* the last page's query: selector, limit and the token (unescaped by MHD) */
        assert_string_equal(c->fake.query, "labelSelector=a=b,c in (d)&limit=2&continue=c4");
}

static void test_kube_client_list_one_page(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall list = { .verb = KUBE_LIST, .resource = "cm", .namespace = "default", .limit = 2 };

        assert_int_equal(call(c, &list, &res), 0);
        assert_int_equal(json_array_size(json_object_get(res.object, "items")), 2);
        assert_string_equal(json_string_value(json_object_get(json_object_get(res.object, "metadata"), "continue")),
                            "c2");
        assert_int_equal(c->fake.n_requests, 1);
}

static void test_kube_client_create_strips(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *obj = json_loads("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"n\","
                                      "\"resourceVersion\":\"9\",\"uid\":\"u\",\"creationTimestamp\":\"t\",\"generation\":2,"
                                      "\"managedFields\":[],\"labels\":{\"a\":\"b\"}},\"data\":{\"k\":\"v\"}}",
                                      0, NULL);
        KubeCall create = { .verb = KUBE_CREATE, .body = obj, .dry_run = true };
        json_t *meta;

        assert_int_equal(call(c, &create, &res), 0);
        assert_int_equal(res.status, 201);
        assert_string_equal(c->fake.method, "POST");
        assert_string_equal(c->fake.path, "/api/v1/namespaces/default/configmaps");
        assert_string_equal(c->fake.content_type, "application/json");
        assert_string_equal(c->fake.query, "fieldManager=strata&dryRun=All");
        meta = json_object_get(c->fake.body, "metadata");
        assert_null(json_object_get(meta, "resourceVersion"));
        assert_null(json_object_get(meta, "uid"));
        assert_null(json_object_get(meta, "creationTimestamp"));
        assert_null(json_object_get(meta, "generation"));
        assert_null(json_object_get(meta, "managedFields"));
        assert_string_equal(json_string_value(json_object_get(meta, "namespace")), "default");
        assert_non_null(json_object_get(meta, "labels"));
        /* the caller's object is untouched */
        assert_non_null(json_object_get(json_object_get(obj, "metadata"), "uid"));
}

static void test_kube_client_apply(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *obj = json_loads("{\"metadata\":{\"name\":\"a1\",\"namespace\":\"default\",\"managedFields\":[{}]},"
                                      "\"data\":{\"k\":\"v\"}}",
                                      0, NULL);
        KubeCall apply = { .verb = KUBE_APPLY, .api_version = "v1", .kind = "ConfigMap", .body = obj, .force = true,
                           .field_manager = "pivot" };

        assert_int_equal(call(c, &apply, &res), 0);
        assert_string_equal(c->fake.method, "PATCH");
        assert_string_equal(c->fake.path, "/api/v1/namespaces/default/configmaps/a1");
        assert_string_equal(c->fake.content_type, "application/apply-patch+yaml");
        assert_string_equal(c->fake.query, "fieldManager=pivot&force=true");
        /* apply needs apiVersion and kind in the body, and no managedFields */
        assert_string_equal(json_string_value(json_object_get(c->fake.body, "apiVersion")), "v1");
        assert_string_equal(json_string_value(json_object_get(c->fake.body, "kind")), "ConfigMap");
        assert_null(json_object_get(json_object_get(c->fake.body, "metadata"), "managedFields"));
}

static void test_kube_client_patches(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *merge = json_loads("{\"metadata\":{\"finalizers\":null}}", 0, NULL);
        json_auto_t *jp = json_loads("[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]", 0, NULL);
        KubeCall m = { .verb = KUBE_PATCH_MERGE, .resource = "configmaps", .name = "p", .body = merge };
        KubeCall j = { .verb = KUBE_PATCH_JSON, .resource = "configmaps", .name = "p", .body = jp };

        assert_int_equal(call(c, &m, &res), 0);
        assert_string_equal(c->fake.content_type, "application/merge-patch+json");
        assert_true(json_equal(c->fake.body, merge));
        assert_int_equal(call(c, &j, &res), 0);
        assert_string_equal(c->fake.content_type, "application/json-patch+json");
        assert_true(json_equal(c->fake.body, jp));
        /* a JSON patch is an array, a merge patch an object */
        j.body = merge;
        assert_int_equal(call(c, &j, &res), -EINVAL);
        assert_non_null(strstr(res.error, "must be an array"));
}

static void test_kube_client_status_subresource(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *obj = json_loads("{\"apiVersion\":\"widgets.example.io/v1\",\"kind\":\"Widget\",\"metadata\":"
                                      "{\"name\":\"w1\",\"resourceVersion\":\"3\"},\"status\":{\"ready\":true}}",
                                      0, NULL);
        KubeCall put = { .verb = KUBE_UPDATE, .body = obj, .subresource = "status" };
        KubeCall cm = { .verb = KUBE_UPDATE, .resource = "cm", .name = "w1", .body = obj, .subresource = "status" };

        assert_int_equal(call(c, &put, &res), 0);
        assert_string_equal(c->fake.method, "PUT");
        assert_string_equal(c->fake.path, "/apis/widgets.example.io/v1/namespaces/default/widgets/w1/status");
        /* an update keeps the resourceVersion: it is the precondition */
        assert_string_equal(json_string_value(json_object_get(json_object_get(c->fake.body, "metadata"),
                                                              "resourceVersion")),
                            "3");
        assert_int_equal(call(c, &cm, &res), -EOPNOTSUPP);
        assert_non_null(strstr(res.error, "configmaps has no status subresource"));
}

static void test_kube_client_delete(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall del = { .verb = KUBE_DELETE, .resource = "configmaps", .name = "x",
                         .propagation = KUBE_PROPAGATION_BACKGROUND };

        assert_int_equal(call(c, &del, &res), 0);
        assert_false(res.missing);
        assert_string_equal(c->fake.method, "DELETE");
        assert_string_equal(json_string_value(json_object_get(c->fake.body, "propagationPolicy")), "Background");
        assert_string_equal(json_string_value(json_object_get(c->fake.body, "kind")), "DeleteOptions");
        /* already gone: success when asked for, an error otherwise */
        del.name = "gone";
        del.missing_ok = true;
        assert_int_equal(call(c, &del, &res), 0);
        assert_true(res.missing);
        assert_null(res.object);
        del.missing_ok = false;
        assert_int_equal(call(c, &del, &res), -ENOENT);
        assert_string_equal(res.reason, "NotFound");
        assert_string_equal(res.error, "delete configmaps default/gone: configmaps \"gone\" not found (404 Not Found)");
        /* a plain-text 404 is an unknown path, never "already gone" */
        del = (KubeCall) { .verb = KUBE_DELETE, .api_version = "v1", .kind = "Namespace", .name = "x", .missing_ok = true };
        assert_int_equal(call(c, &del, &res), -ENOENT);
        assert_non_null(strstr(res.error, "404 page not found"));
}

static void test_kube_client_conflict_message(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *obj = json_loads("{\"metadata\":{\"name\":\"stale\",\"resourceVersion\":\"1\"}}", 0, NULL);
        KubeCall put = { .verb = KUBE_UPDATE, .resource = "configmaps", .body = obj };

        assert_int_equal(call(c, &put, &res), -ESTALE);
        assert_int_equal(res.status, 409);
        assert_string_equal(res.reason, "Conflict");
        assert_string_equal(res.error, "update configmaps default/stale: Operation cannot be fulfilled on configmaps "
                                       "\"stale\": the object has been modified; please apply your changes to the "
                                       "latest version and try again (409 Conflict)");
        /* a plain-text 404 stays readable too */
        put.resource = NULL;
        put.api_version = "v1";
        put.kind = "Namespace";
        assert_int_equal(call(c, &put, &res), -ENOENT);
        assert_string_equal(res.error, "update namespaces stale: 404 page not found (404 Not Found)");
}

static void test_kube_client_retries(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *obj = json_loads("{\"metadata\":{\"name\":\"n\"}}", 0, NULL);
        KubeCall get = { .verb = KUBE_GET, .resource = "configmaps", .name = "x" };
        KubeCall create = { .verb = KUBE_CREATE, .resource = "configmaps", .body = obj };

        /* a read is retried through 503s */
        assert_int_equal(call(c, &get, &res), 0);
        c->fake.n_requests = 0;
        c->fake.fail_503 = 2;
        assert_int_equal(call(c, &get, &res), 0);
        assert_int_equal(c->fake.n_requests, 3);
        /* a create is not: the server may have acted */
        c->fake.n_requests = 0;
        c->fake.fail_503 = 1;
        assert_int_equal(call(c, &create, &res), -EAGAIN);
        assert_int_equal(c->fake.n_requests, 1);
        assert_non_null(strstr(res.error, "the server is shutting down (503 Service Unavailable)"));
        /* but 429 says nothing was done: retried even for a create */
        c->fake.n_requests = 0;
        c->fake.fail_429 = 2;
        assert_int_equal(call(c, &create, &res), 0);
        assert_int_equal(c->fake.n_requests, 3);
        /* the retries run out */
        c->fake.n_requests = 0;
        c->fake.fail_503 = 100;
        assert_int_equal(call(c, &get, &res), -EAGAIN);
        assert_int_equal(c->fake.n_requests, 1 + KUBE_RETRIES_DEFAULT);
        c->fake.fail_503 = 0;
}

static void test_kube_client_no_retries(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall get = { .verb = KUBE_GET, .resource = "configmaps", .name = "x" };
        KubeClientOptions o = { .no_retries = true };

        client_make(c, &o);
        assert_int_equal(call(c, &get, &res), 0);
        c->fake.n_requests = 0;
        c->fake.fail_503 = 1;
        assert_int_equal(call(c, &get, &res), -EAGAIN);
        assert_int_equal(c->fake.n_requests, 1);
}

static void test_kube_client_wait(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCondition ready = { .type = "Ready" };
        KubeWait wait = { .predicate = kube_wait_condition, .userdata = &ready, .timeout_usec = 5000000,
                          .interval_usec = 1000, .what = "condition Ready=True" };
        KubeCall target = { .resource = "widgets", .name = "w1" };

        c->fake.ready_after = 3;
        assert_int_equal(kube_client_wait_sync(c->client, &target, &wait, &res), 0);
        assert_int_equal(c->fake.widget_gets, 3);
        assert_non_null(res.object);
        /* the server's Warning header reaches the caller */
        assert_int_equal(res.n_warnings, 1);
        assert_string_equal(res.warnings[0], "widgets are deprecated");
        /* never ready: a time-out saying what was seen last */
        kube_result_done(&res);
        c->fake.ready_after = 1000000;
        wait.timeout_usec = 100000;
        assert_int_equal(kube_client_wait_sync(c->client, &target, &wait, &res), -ETIMEDOUT);
        assert_string_equal(res.error, "timed out after 0.1s waiting for widgets.widgets.example.io default/w1: "
                                       "condition Ready=True (last seen: Ready=False, Provisioning)");
}

static void test_kube_client_wait_deleted(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeWait wait = { .predicate = kube_wait_deleted, .timeout_usec = 2000000, .interval_usec = 1000 };
        KubeCall target = { .resource = "configmaps", .name = "gone" };

        assert_int_equal(kube_client_wait_sync(c->client, &target, &wait, &res), 0);
        assert_true(res.missing);
        /* a wait needs a predicate and a time-out */
        kube_result_done(&res);
        wait.timeout_usec = 0;
        assert_int_equal(kube_client_wait_sync(c->client, &target, &wait, &res), -EINVAL);
}

static void test_kube_client_malformed_calls(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *named = json_loads("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
                                        "\"namespace\":\"other\"}}",
                                        0, NULL);
        KubeCall none = { .verb = KUBE_GET, .name = "x" };
        KubeCall noname = { .verb = KUBE_GET, .resource = "cm" };
        KubeCall mismatch = { .verb = KUBE_APPLY, .body = named, .name = "b" };
        KubeCall ns = { .verb = KUBE_APPLY, .body = named, .namespace = "default" };
        KubeCall bad_name = { .verb = KUBE_GET, .resource = "cm", .name = "../secrets" };
        KubeCall unknown = { .verb = KUBE_GET, .resource = "pods", .name = "x" };
        KubeCall verb = { .verb = (KubeVerb) 99, .resource = "cm", .name = "x" };

        assert_int_equal(call(c, &none, &res), -EINVAL);
        assert_non_null(strstr(res.error, "no resource, and no apiVersion and kind"));
        assert_int_equal(call(c, &noname, &res), -EINVAL);
        assert_non_null(strstr(res.error, "get configmaps: no name"));
        assert_int_equal(call(c, &mismatch, &res), -EINVAL);
        assert_non_null(strstr(res.error, "the object's name \"a\" is not the name \"b\""));
        assert_int_equal(call(c, &ns, &res), -EINVAL);
        assert_non_null(strstr(res.error, "namespace \"other\" is not the namespace \"default\""));
        assert_int_equal(call(c, &bad_name, &res), -EINVAL);
        assert_int_equal(call(c, &unknown, &res), -ENOENT);
        assert_string_equal(res.error, "get pods: the server has no resource \"pods\"");
        assert_int_equal(call(c, &verb, &res), -EINVAL);
        /* nothing of these reached the server */
        assert_int_equal(c->fake.n_requests, 0);
}

static int counted;

static void count_reply(KubeClient *client, const KubeReply *reply, void *userdata) {
        (void) client, (void) reply, (void) userdata;
        counted++;
}

static void test_kube_client_cancel(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall get = { .verb = KUBE_GET, .resource = "configmaps", .name = "x" };
        KubeRequest *rq = NULL, *rq2 = NULL;

        counted = 0;
        assert_int_equal(kube_client_call(c->client, &get, count_reply, NULL, &rq, NULL), 0);
        assert_int_equal(kube_client_call(c->client, &get, count_reply, NULL, &rq2, NULL), 0);
        kube_request_cancel(rq);
        /* the other one still completes, and the loop stays usable */
        assert_int_equal(call(c, &get, &res), 0);
        while (counted < 1)
                assert_true(sd_event_run(c->event, 100000) >= 0);
        assert_int_equal(counted, 1);
        /* one left running is cancelled by freeing the client */
        assert_int_equal(kube_client_call(c->client, &get, count_reply, NULL, &rq, NULL), 0);
        c->client = kube_client_free(c->client);
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(c->event, 10000) >= 0);
        assert_int_equal(counted, 1);
}

static void test_kube_client_unreachable(void **state) {
        Ctx *c = *state;
        _cleanup_(kube_result_done) KubeResult res = {};
        _cleanup_secret_ Secret *token = secret_new_copy("tok", 3);
        KubeConfig kc = { .server = (char *) "http://127.0.0.1:1", .token = token };
        KubeClientOptions o = { .retries = 1, .backoff_usec = 1000 };
        KubeCall get = { .verb = KUBE_GET, .resource = "configmaps", .name = "x" };

        c->client = kube_client_free(c->client);
        assert_int_equal(kube_client_new(c->event, c->ce, &kc, &o, &c->client), 0);
        assert_int_equal(call(c, &get, &res), -ECONNREFUSED);
        assert_non_null(strstr(res.error, "get configmaps: discovery failed: GET /api: cannot connect"));
        assert_int_equal(res.status, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_kube_client_get_discovers_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_discovery_refresh_on_miss, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_discover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_list_all_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_list_one_page, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_create_strips, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_apply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_patches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_status_subresource, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_conflict_message, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_retries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_no_retries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_wait, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_wait_deleted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_malformed_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kube_client_unreachable, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
