/* Cluster API install without clusterctl: reading a local repository's
 * components (capi_components_parse is the pure, fuzzed part) and applying
 * them in clusterctl's order; see capi-install.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/capi-install.h"
#include "cluster/kube-object.h"
#include "cluster/kube-transfer.h"
#include "cluster/yaml-json.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/fileio.h"
#include "core/strutil.h"

DEFINE_CLEANUP(DIR *, closedir)

/* One row per provider, in install order (clusterctl init: cert-manager,
 * then core, bootstrap, control plane, infrastructure). Folder and file
 * names are clusterctl's local-repository conventions
 * (docs/book/src/clusterctl/configuration.md, "local repository"). */
static const struct {
        const char *name, *label, *file, *type;
        bool optional;
} provider_table[_CAPI_PROVIDER_TYPE_MAX] = {
        [CAPI_PROVIDER_CERT_MANAGER] = { "cert-manager", "cert-manager", "cert-manager.yaml", NULL, true },
        [CAPI_PROVIDER_CORE] = { "cluster-api", "cluster-api", "core-components.yaml", "CoreProvider", false },
        [CAPI_PROVIDER_BOOTSTRAP] = { "k0sproject-k0smotron", "bootstrap-k0sproject-k0smotron",
                                      "bootstrap-components.yaml", "BootstrapProvider", false },
        [CAPI_PROVIDER_CONTROL_PLANE] = { "k0sproject-k0smotron", "control-plane-k0sproject-k0smotron",
                                          "control-plane-components.yaml", "ControlPlaneProvider", false },
        [CAPI_PROVIDER_INFRASTRUCTURE] = { "k0sproject-k0smotron", "infrastructure-k0sproject-k0smotron",
                                           "infrastructure-components.yaml", "InfrastructureProvider", false },
};

const char *capi_provider_type_to_string(CapiProviderType t) {
        if (t < 0 || t >= _CAPI_PROVIDER_TYPE_MAX)
                return NULL;
        return provider_table[t].type;
}

static const char *str_member(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static bool is_crd(const json_t *o) {
        const char *av = str_member(o, "apiVersion");
        return streq_ptr(str_member(o, "kind"), "CustomResourceDefinition") && av &&
               strncmp(av, "apiextensions.k8s.io/", 21) == 0;
}

/* ---- parsing ---- */

static int label_object(json_t *o, CapiProviderType type, const char *label) {
        json_t *meta = json_object_get(o, "metadata"), *labels = json_object_get(meta, "labels");

        if (!labels || json_is_null(labels)) {
                labels = json_object();
                if (!labels || json_object_set_new(meta, "labels", labels) < 0)
                        return -ENOMEM;
        }
        if (!json_is_object(labels))
                return -EBADMSG;
        if (json_object_set_new(labels, CAPI_CLUSTERCTL_LABEL, json_string("")) < 0)
                return -ENOMEM;
        if (type == CAPI_PROVIDER_CERT_MANAGER)
                return json_object_set_new(labels, CAPI_CLUSTERCTL_CORE_LABEL, json_string("cert-manager")) < 0 ?
                               -ENOMEM : 0;
        return json_object_set_new(labels, CAPI_PROVIDER_LABEL, json_string(label)) < 0 ? -ENOMEM : 0;
}

/* Checks one document and appends it (or a List's items) to `out`. */
static int take_document(json_t *doc, size_t index, const char *name, json_t *out, char **reterr) {
        const char *kind = str_member(doc, "kind"), *av = str_member(doc, "apiVersion");
        json_t *meta = json_object_get(doc, "metadata");

        if (!json_is_object(doc))
                return error_detail_set(reterr, -EBADMSG, "%s: document %zu: not a mapping", name, index + 1);
        if (!kind || !*kind || !av || !*av)
                return error_detail_set(reterr, -EBADMSG, "%s: document %zu: apiVersion and kind are required", name,
                            index + 1);
        if (streq_ptr(av, "v1") && strcmp(kind, "List") == 0) {
                json_t *items = json_object_get(doc, "items"), *item;
                size_t i;

                if (!json_is_array(items))
                        return error_detail_set(reterr, -EBADMSG, "%s: document %zu: a List without items", name, index + 1);
                json_array_foreach(items, i, item) {
                        if (streq_ptr(str_member(item, "kind"), "List"))
                                return error_detail_set(reterr, -EBADMSG, "%s: document %zu: a List inside a List", name,
                                            index + 1);
                        int r = take_document(item, index, name, out, reterr);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_is_object(meta) || !json_is_string(json_object_get(meta, "name")) ||
            !*json_string_value(json_object_get(meta, "name")))
                return error_detail_set(reterr, -EBADMSG, "%s: document %zu (%s): metadata.name is required", name, index + 1,
                            kind);
        if (json_object_get(meta, "namespace") && !json_is_string(json_object_get(meta, "namespace")))
                return error_detail_set(reterr, -EBADMSG, "%s: document %zu (%s %s): metadata.namespace is not a string", name,
                            index + 1, kind, str_member(meta, "name"));
        if (json_array_size(out) >= CAPI_OBJECTS_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: more than %u objects", name, CAPI_OBJECTS_MAX);
        return json_array_append(out, doc) < 0 ? -ENOMEM : 0;
}

int capi_components_parse(const void *data, size_t size, const char *name, CapiProviderType type,
                          const char *label, json_t **ret_objects, char **ret_namespace, char **reterr) {
        json_auto_t *docs = NULL, *flat = json_array(), *ordered = json_array();
        _cleanup_free_ char *err = NULL, *ns = NULL;
        json_t *doc;
        size_t i;
        int r;

        if (!name)
                name = "components";
        if (type < 0 || type >= _CAPI_PROVIDER_TYPE_MAX || !label)
                return -EINVAL;
        if (!flat || !ordered)
                return -ENOMEM;
        if (size > CAPI_COMPONENTS_FILE_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: larger than %u bytes", name, CAPI_COMPONENTS_FILE_MAX);
        r = yaml_json_parse(data, size, name, YAML_JSON_SKIP_EMPTY, &docs, NULL, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s", err ? err : strerror(-r));
        json_array_foreach(docs, i, doc) {
                r = take_document(doc, i, name, flat, reterr);
                if (r < 0)
                        return r;
        }
        if (json_array_size(flat) == 0)
                return error_detail_set(reterr, -EBADMSG, "%s: no objects", name);
        /* Namespaces, CRDs, the rest, as clusterctl orders components
         * before creating them: kinds and namespaces exist before the
         * objects that need them. */
        for (int pass = 0; pass < 3; pass++)
                json_array_foreach(flat, i, doc) {
                        bool nsobj = streq_ptr(str_member(doc, "kind"), "Namespace") &&
                                     streq_ptr(str_member(doc, "apiVersion"), "v1");
                        int which = nsobj ? 0 : is_crd(doc) ? 1 : 2;

                        if (which != pass)
                                continue;
                        if (nsobj && !ns) {
                                ns = strdup(str_member(json_object_get(doc, "metadata"), "name"));
                                if (!ns)
                                        return -ENOMEM;
                        }
                        r = label_object(doc, type, label);
                        if (r == -EBADMSG)
                                return error_detail_set(reterr, r, "%s: %s %s: metadata.labels is not a mapping", name,
                                            str_member(doc, "kind"),
                                            str_member(json_object_get(doc, "metadata"), "name"));
                        if (r < 0)
                                return r;
                        if (json_array_append(ordered, doc) < 0)
                                return -ENOMEM;
                }
        *ret_objects = take_ptr(ordered);
        if (ret_namespace)
                *ret_namespace = take_ptr(ns);
        return 0;
}

/* ---- the repository ---- */

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd_capped(fd, CAPI_COMPONENTS_FILE_MAX, ret, ret_size);
}

/* "vMAJOR.MINOR.PATCH[-pre]" into three numbers; false otherwise. */
static bool semver_parse(const char *s, unsigned long v[3]) {
        char *end;

        if (!s || s[0] != 'v')
                return false;
        s++;
        for (int i = 0; i < 3; i++) {
                if (*s < '0' || *s > '9')
                        return false;
                errno = 0;
                v[i] = strtoul(s, &end, 10);
                if (errno || end == s)
                        return false;
                s = end;
                if (i < 2) {
                        if (*s != '.')
                                return false;
                        s++;
                }
        }
        return *s == '\0' || *s == '-' || *s == '+';
}

/* The highest version folder under `dir`, or -ENOENT. */
static int pick_version(const char *dir, char **ret) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        _cleanup_free_ char *best = NULL;
        unsigned long bv[3] = {}, v[3];
        struct dirent *de;
        unsigned seen = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (!semver_parse(de->d_name, v))
                        continue;
                if (++seen > CAPI_VERSIONS_MAX)
                        return -E2BIG;
                if (!best || v[0] > bv[0] || (v[0] == bv[0] && (v[1] > bv[1] || (v[1] == bv[1] && v[2] > bv[2])))) {
                        free(best);
                        best = strdup(de->d_name);
                        if (!best)
                                return -ENOMEM;
                        memcpy(bv, v, sizeof(bv));
                }
        }
        if (!best)
                return -ENOENT;
        *ret = take_ptr(best);
        return 0;
}

static const char *wanted_version(const CapiVersions *v, CapiProviderType t) {
        if (!v)
                return NULL;
        switch (t) {
        case CAPI_PROVIDER_CERT_MANAGER: return v->cert_manager;
        case CAPI_PROVIDER_CORE: return v->core;
        case CAPI_PROVIDER_BOOTSTRAP: return v->bootstrap;
        case CAPI_PROVIDER_CONTROL_PLANE: return v->control_plane;
        case CAPI_PROVIDER_INFRASTRUCTURE: return v->infrastructure;
        default: return NULL;
        }
}

static int load_provider(CapiRepo *repo, CapiProviderType t, const CapiVersions *versions, char **reterr) {
        CapiProvider *p = &repo->providers[t];
        _cleanup_free_ char *pdir = NULL, *meta = NULL, *version = NULL, *path = NULL, *err = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        const char *want = wanted_version(versions, t);
        int r;

        if (asprintf(&pdir, "%s/%s", repo->path, provider_table[t].label) < 0)
                return -ENOMEM;
        if (want) {
                unsigned long v[3];
                if (!semver_parse(want, v) || strchr(want, '/'))
                        return error_detail_set(reterr, -EINVAL, "%s: not a version: \"%s\"", provider_table[t].label, want);
                version = strdup(want);
                if (!version)
                        return -ENOMEM;
        } else {
                r = pick_version(pdir, &version);
                if (r == -ENOENT && provider_table[t].optional)
                        return 0;
                if (r < 0)
                        return error_detail_set(reterr, r == -ENOENT ? -ENOENT : r, "%s: no provider version folder (vX.Y.Z): %s",
                                    pdir, strerror(-r));
        }
        if (asprintf(&path, "%s/%s/%s", pdir, version, provider_table[t].file) < 0)
                return -ENOMEM;
        r = read_file(path, &data, &size);
        if (r == -ENOENT && provider_table[t].optional && !want)
                return 0;
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", path, strerror(-r));
        /* clusterctl refuses a provider version without its metadata
         * (release series and contract): so does this, so that the
         * repository stays usable by clusterctl itself. */
        if (t != CAPI_PROVIDER_CERT_MANAGER) {
                if (asprintf(&meta, "%s/%s/metadata.yaml", pdir, version) < 0)
                        return -ENOMEM;
                if (access(meta, R_OK) < 0)
                        return error_detail_set(reterr, -errno, "%s: %s", meta, strerror(errno));
        }
        r = capi_components_parse(data, size, path, t, provider_table[t].label, &p->objects, &p->namespace, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s", err ? err : strerror(-r));
        if (!p->namespace && t != CAPI_PROVIDER_CERT_MANAGER)
                return error_detail_set(reterr, -EBADMSG, "%s: no Namespace object (the Provider inventory needs one)", path);
        p->type = t;
        p->name = provider_table[t].name;
        p->label = provider_table[t].label;
        p->version = take_ptr(version);
        p->path = take_ptr(path);
        repo->present[t] = true;
        return 0;
}

int capi_repo_load(const char *dir, const CapiVersions *versions, CapiRepo **ret, char **reterr) {
        _cleanup_(capi_repo_freep) CapiRepo *repo = calloc(1, sizeof(CapiRepo));
        _cleanup_free_ char *inv = NULL, *err = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        if (!repo || !(repo->path = strdup(dir)))
                return -ENOMEM;
        for (CapiProviderType t = 0; t < _CAPI_PROVIDER_TYPE_MAX; t++) {
                r = load_provider(repo, t, versions, reterr);
                if (r < 0)
                        return r;
        }
        if (asprintf(&inv, "%s/%s", dir, CAPI_INVENTORY_FILE) < 0)
                return -ENOMEM;
        r = read_file(inv, &data, &size);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", inv, strerror(-r));
        r = capi_components_parse(data, size, inv, CAPI_PROVIDER_CORE, "cluster-api", &repo->inventory_crds, NULL,
                                  &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s", err ? err : strerror(-r));
        /* clusterctl's own inventory CRD is labelled as clusterctl's, not
         * as the core provider's (cmd/clusterctl/client/cluster/inventory.go) */
        size_t i;
        json_t *o;
        json_array_foreach(repo->inventory_crds, i, o) {
                json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
                if (!is_crd(o))
                        return error_detail_set(reterr, -EBADMSG, "%s: %s %s is not a CustomResourceDefinition", inv,
                                    str_member(o, "kind"), str_member(json_object_get(o, "metadata"), "name"));
                json_object_del(labels, CAPI_PROVIDER_LABEL);
                if (json_object_set_new(labels, CAPI_CLUSTERCTL_CORE_LABEL, json_string("inventory")) < 0)
                        return -ENOMEM;
        }
        *ret = take_ptr(repo);
        return 0;
}

CapiRepo *capi_repo_free(CapiRepo *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < _CAPI_PROVIDER_TYPE_MAX; i++) {
                free(r->providers[i].version);
                free(r->providers[i].path);
                free(r->providers[i].namespace);
                json_decref(r->providers[i].objects);
        }
        json_decref(r->inventory_crds);
        free(r->path);
        free(r);
        return NULL;
}

json_t *capi_provider_inventory(const CapiProvider *p) {
        if (!p || p->type == CAPI_PROVIDER_CERT_MANAGER || !provider_table[p->type].type)
                return NULL;
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s, s:s, s:s}", "apiVersion",
                         "clusterctl.cluster.x-k8s.io/v1alpha3", "kind", "Provider", "metadata", "name", p->label,
                         "namespace", p->namespace, "labels", CAPI_CLUSTERCTL_LABEL, "", CAPI_PROVIDER_LABEL, p->label,
                         "providerName", p->name, "type", provider_table[p->type].type, "version", p->version);
}

json_t *capi_probe_cluster(const char *namespace) {
        return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion", "cluster.x-k8s.io/v1beta1", "kind", "Cluster",
                         "metadata", "name", CAPI_PROBE_NAME, "namespace", namespace, "spec");
}

/* ---- installing ---- */

typedef struct Install {
        KubeClient *c;
        const CapiInstallOptions *opts;
        uint64_t deadline;
        char **reterr;
} Install;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = usec / 1000000u, .tv_nsec = (long) (usec % 1000000u) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void progress(Install *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(Install *in, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        if (!in->opts->progress)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (s)
                in->opts->progress(s, in->opts->userdata);
}

static void describe(const json_t *o, char *buf, size_t size) {
        KubeObjectRef ref;
        kube_object_ref(o, &ref);
        snprintf(buf, size, "%s %s%s%s", ref.kind ? ref.kind : "?", ref.namespace ? ref.namespace : "",
                 ref.namespace ? "/" : "", ref.name ? ref.name : "?");
}

/* A kind whose CRD was Established a moment ago may still be unknown to
 * discovery or answer a plain 404 (docs/kube-api-behaviour.md, Reading):
 * retried until the deadline. */
static bool apply_retryable(const KubeResult *res) {
        return res->r == -ENOENT || (res->status == 404 && !res->reason);
}

static int apply_one(Install *in, const json_t *o) {
        uint64_t backoff = CAPI_PROBE_BACKOFF_USEC;
        char what[512];

        describe(o, what, sizeof(what));
        for (;;) {
                KubeCall call = { .verb = KUBE_APPLY, .body = o, .force = true, .field_manager = CAPI_FIELD_MANAGER };
                KubeResult res;
                int r = kube_client_call_sync(in->c, &call, &res);

                if (r >= 0) {
                        kube_result_done(&res);
                        return 0;
                }
                if (!apply_retryable(&res) || now_usec() + backoff >= in->deadline) {
                        r = error_detail_set(in->reterr, r, "applying %s: %s", what, res.error ? res.error : strerror(-r));
                        kube_result_done(&res);
                        return r;
                }
                kube_result_done(&res);
                sleep_usec(backoff);
                backoff = backoff * 3 / 2 > CAPI_PROBE_BACKOFF_MAX_USEC ? CAPI_PROBE_BACKOFF_MAX_USEC : backoff * 3 / 2;
                /* a kind unknown to the client's map: look again */
                KubeResult d;
                (void) kube_client_discover_sync(in->c, &d);
                kube_result_done(&d);
        }
}

static uint64_t remaining(const Install *in) {
        uint64_t n = now_usec();
        return n >= in->deadline ? 1 : in->deadline - n;
}

static int wait_established(Install *in, const json_t *crd) {
        const char *name = str_member(json_object_get(crd, "metadata"), "name");
        KubeCondition cond = { .type = "Established" };
        KubeCall call = { .verb = KUBE_GET, .api_version = "apiextensions.k8s.io/v1",
                          .kind = "CustomResourceDefinition", .name = name };
        KubeWait wait = { .predicate = kube_wait_condition, .userdata = &cond, .timeout_usec = remaining(in),
                          .what = "condition Established=True" };
        KubeResult res;
        int r = kube_client_wait_sync(in->c, &call, &wait, &res);

        if (r < 0)
                r = error_detail_set(in->reterr, r, "CustomResourceDefinition %s: %s", name, res.error ? res.error : strerror(-r));
        kube_result_done(&res);
        return r;
}

static bool is_cert_manager_object(const json_t *o) {
        const char *av = str_member(o, "apiVersion");
        return av && (strncmp(av, "cert-manager.io/", 16) == 0 || strncmp(av, "acme.cert-manager.io/", 21) == 0);
}

static bool is_namespace(const json_t *o) {
        return streq_ptr(str_member(o, "kind"), "Namespace") && streq_ptr(str_member(o, "apiVersion"), "v1");
}

/* Applies Namespaces, CRDs (and waits for them), then everything else, in
 * the order given. */
static int apply_set(Install *in, const json_t *objects, const char *what) {
        const json_t *o;
        size_t i, n_crds = 0, skipped = 0;
        int r;

        json_array_foreach(objects, i, o)
                if (is_namespace(o) && (r = apply_one(in, o)) < 0)
                        return r;
        json_array_foreach(objects, i, o)
                if (is_crd(o)) {
                        r = apply_one(in, o);
                        if (r < 0)
                                return r;
                        n_crds++;
                }
        if (n_crds > 0) {
                progress(in, "%s: waiting for %zu CustomResourceDefinitions to be Established", what, n_crds);
                json_array_foreach(objects, i, o)
                        if (is_crd(o) && (r = wait_established(in, o)) < 0)
                                return r;
                KubeResult d;
                r = kube_client_discover_sync(in->c, &d);
                if (r < 0)
                        r = error_detail_set(in->reterr, r, "discovery after installing CRDs: %s", d.error ? d.error : strerror(-r));
                kube_result_done(&d);
                if (r < 0)
                        return r;
        }
        json_array_foreach(objects, i, o) {
                if (is_crd(o) || is_namespace(o))
                        continue;
                if (in->opts->without_cert_manager && is_cert_manager_object(o)) {
                        skipped++;
                        continue;
                }
                r = apply_one(in, o);
                if (r < 0)
                        return r;
        }
        if (skipped > 0)
                progress(in, "%s: left out %zu cert-manager.io objects (--without-cert-manager)", what, skipped);
        return 0;
}

/* The webhook probe: a dry-run create of a Cluster is admitted only once
 * the webhook configurations' services answer (clusterctl's e2e waits the
 * same way before writing objects, cluster-api #11856). */
static int probe_webhooks(Install *in, const char *namespace) {
        json_auto_t *probe = capi_probe_cluster(namespace);
        _cleanup_free_ char *last = NULL;
        uint64_t backoff = CAPI_PROBE_BACKOFF_USEC;
        unsigned attempts = 0;

        if (!probe)
                return -ENOMEM;
        for (;;) {
                KubeCall call = { .verb = KUBE_CREATE, .body = probe, .dry_run = true,
                                  .field_manager = CAPI_FIELD_MANAGER };
                KubeResult res;
                int r = kube_client_call_sync(in->c, &call, &res);

                attempts++;
                if (r >= 0) {
                        kube_result_done(&res);
                        progress(in, "webhooks answer (dry-run create of a Cluster admitted after %u attempts)",
                                 attempts);
                        return 0;
                }
                free(last);
                /* the client's line ends with the Status reason: "(500 ...: InternalError)" */
                last = strdup(res.error ? res.error : strerror(-r));
                /* 5xx: the webhook's service has no ready endpoint yet; 404:
                 * the Cluster kind is not served yet; 429: throttled. Any
                 * other refusal will not go away by waiting. */
                bool transient = res.status >= 500 || res.status == 404 || res.status == 429 || res.status == 0;
                kube_result_done(&res);
                if (!transient)
                        return error_detail_set(in->reterr, r, "webhook probe (dry-run create of Cluster %s/%s) refused: %s",
                                    namespace, CAPI_PROBE_NAME, last ? last : "?");
                if (now_usec() + backoff >= in->deadline) {
                        char d[32];
                        kube_format_duration(in->opts->timeout_usec ? in->opts->timeout_usec : CAPI_INSTALL_TIMEOUT_USEC,
                                             d, sizeof(d));
                        return error_detail_set(in->reterr, -ETIMEDOUT,
                                    "webhooks did not answer within %s (%u dry-run creates of a Cluster); last: %s", d,
                                    attempts, last ? last : "?");
                }
                sleep_usec(backoff);
                backoff = backoff * 3 / 2 > CAPI_PROBE_BACKOFF_MAX_USEC ? CAPI_PROBE_BACKOFF_MAX_USEC : backoff * 3 / 2;
        }
}

int capi_install(KubeClient *c, const CapiRepo *repo, const CapiInstallOptions *opts, char **reterr) {
        static const CapiInstallOptions defaults = {};
        Install in = { .c = c, .opts = opts ? opts : &defaults, .reterr = reterr };
        int r;

        if (!c || !repo)
                return -EINVAL;
        for (CapiProviderType t = CAPI_PROVIDER_CORE; t < _CAPI_PROVIDER_TYPE_MAX; t++)
                if (!repo->present[t])
                        return error_detail_set(reterr, -ENOENT, "%s: the %s provider is missing", repo->path,
                                    provider_table[t].label);
        if (!repo->present[CAPI_PROVIDER_CERT_MANAGER] && !in.opts->without_cert_manager)
                return error_detail_set(reterr, -ENOPKG,
                            "%s has no cert-manager (cert-manager/VERSION/cert-manager.yaml): the providers' "
                            "webhooks need the certificates it issues; add it to the repository, or pass "
                            "--without-cert-manager when something else provides the webhook certificates",
                            repo->path);
        in.deadline = now_usec() + (in.opts->timeout_usec ? in.opts->timeout_usec : CAPI_INSTALL_TIMEOUT_USEC);

        progress(&in, "inventory: the clusterctl Provider CRD");
        r = apply_set(&in, repo->inventory_crds, "inventory");
        if (r < 0)
                return r;
        for (CapiProviderType t = 0; t < _CAPI_PROVIDER_TYPE_MAX; t++) {
                const CapiProvider *p = &repo->providers[t];
                json_auto_t *inv = NULL;

                if (!repo->present[t])
                        continue;
                progress(&in, "%s %s: %zu objects from %s", p->label, p->version, json_array_size(p->objects),
                         p->path);
                r = apply_set(&in, p->objects, p->label);
                if (r < 0)
                        return r;
                if (t == CAPI_PROVIDER_CERT_MANAGER)
                        continue;
                inv = capi_provider_inventory(p);
                if (!inv)
                        return -ENOMEM;
                r = apply_one(&in, inv);
                if (r < 0)
                        return r;
        }
        progress(&in, "waiting for the webhooks to answer");
        return probe_webhooks(&in, repo->providers[CAPI_PROVIDER_CORE].namespace);
}
