/* `strata kube ...`: the Kubernetes client (agent/cluster) from the command
 * line, for operators and for the system tests: discovery, get, list,
 * create, replace, server-side apply, patch, delete and wait, against the
 * cluster a kubeconfig names, directly from this host (its own event loop,
 * not through stratad). Exit codes: 0 done, 1 the server refused or a
 * request failed (its message on stderr), 2 usage, 3 local fault. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "cluster/kube-client.h"
#include "cluster/kube-object.h"
#include "cluster/kube-resources.h"
#include "cluster/kubeconfig.h"
#include "cluster/yaml-json.h"
#include "core/cleanup.h"
#include "core/fileio.h"
#include "kube-conn.h"
#include "strata.h"

#define KUBE_CLI_TIMEOUT_MAX_USEC (24ull * 3600u * 1000000u)
#define KUBE_CLI_WAIT_TIMEOUT_USEC (30u * 1000000u)

enum {
        KUBE_EXIT_OK = 0,
        KUBE_EXIT_FAILED = 1,
        KUBE_EXIT_USAGE = 2,
        KUBE_EXIT_FAULT = 3,
};

typedef struct KubeCli {
        const CliContext *ctx;
        const char *kubeconfig, *context, *namespace, *file, *selector, *field_selector, *field_manager;
        const char *subresource, *patch, *patch_type, *wait_for;
        bool all_namespaces, insecure, force, dry_run, ignore_missing, strict;
        KubePropagation cascade;
        unsigned limit;
        uint64_t request_timeout, timeout;
        KubeConn conn;
} KubeCli;

typedef int (*KubeCommandFn)(KubeCli *k, int argc, char **argv);

static int do_api_resources(KubeCli *k, int argc, char **argv);
static int do_get(KubeCli *k, int argc, char **argv);
static int do_list(KubeCli *k, int argc, char **argv);
static int do_create(KubeCli *k, int argc, char **argv);
static int do_replace(KubeCli *k, int argc, char **argv);
static int do_apply(KubeCli *k, int argc, char **argv);
static int do_patch(KubeCli *k, int argc, char **argv);
static int do_delete(KubeCli *k, int argc, char **argv);
static int do_wait(KubeCli *k, int argc, char **argv);

static const struct {
        const char *name;
        KubeCommandFn run;
        int min_args, max_args; /* positional, after the command */
} kube_commands[] = {
        { "api-resources", do_api_resources, 0, 0 },
        { "get", do_get, 2, 2 },
        { "list", do_list, 1, 1 },
        { "create", do_create, 0, 0 },
        { "replace", do_replace, 0, 0 },
        { "apply", do_apply, 0, 0 },
        { "patch", do_patch, 2, 2 },
        { "delete", do_delete, 0, 2 },
        { "wait", do_wait, 2, 2 },
};

static void usage(FILE *f) {
        fprintf(f,
                "usage: strata kube [--kubeconfig FILE] [--context NAME] COMMAND ...\n"
                "  api-resources                         what the server serves (discovery)\n"
                "  get RESOURCE NAME [-n NS] [--subresource status]   the object as JSON\n"
                "  list RESOURCE [-n NS | -A] [-l SELECTOR] [--field-selector S] [--limit N] [--json]\n"
                "                                        every page; NAMESPACE NAME, or the List as JSON\n"
                "  create -f FILE [-n NS]                POST each document\n"
                "  replace -f FILE [-n NS] [--subresource status]   PUT each document\n"
                "  apply -f FILE [-n NS] [--force-conflicts] [--field-manager NAME]\n"
                "                                        server-side apply of each document\n"
                "  patch RESOURCE NAME -p PATCH [--type merge|json] [-n NS] [--subresource status]\n"
                "  delete RESOURCE NAME | -f FILE [-n NS] [--cascade background|orphan|foreground]\n"
                "                                        [--ignore-not-found]\n"
                "  wait RESOURCE NAME --for condition=TYPE[=STATUS] | --for delete [--timeout 30s]\n"
                "options:\n"
                "  --kubeconfig FILE   default: $KUBECONFIG (one file), else ~/.kube/config\n"
                "  --context NAME      a context other than current-context\n"
                "  --insecure-skip-tls-verify  accept a kubeconfig that turns TLS verification\n"
                "                      off, or an http:// server (refused otherwise)\n"
                "  --request-timeout D per HTTP request (default 30s)\n"
                "  --dry-run           writes are validated by the server, not stored\n"
                "  --validate-strict   unknown fields are an error (fieldValidation=Strict)\n"
                "  -f FILE             YAML or JSON, several documents (--- ), '-' for stdin\n"
                "RESOURCE: plural, singular, short name or kind, optionally .group\n"
                "(clusters, cluster.cluster.x-k8s.io). Durations: 500ms, 30s, 2m, or seconds.\n"
                "exit: 0 done, 1 refused or failed, 2 usage, 3 local fault\n");
}

static int exit_for(int r) {
        return r == -ENOMEM ? KUBE_EXIT_FAULT : KUBE_EXIT_FAILED;
}

/* "500ms", "30s", "2m", "1h", or plain seconds; -EINVAL otherwise. */
static int parse_duration(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = { { "ms", 1000u }, { "s", 1000000u }, { "m", 60000000u }, { "h", 3600000000u }, { "", 1000000u } };
        char *end;
        double v;

        v = strtod(s, &end);
        if (end == s || v <= 0)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(end, units[i].suffix) == 0) {
                        double usec = v * (double) units[i].usec;
                        if (usec < 1000 || usec > (double) KUBE_CLI_TIMEOUT_MAX_USEC)
                                return -ERANGE;
                        *ret = (uint64_t) usec;
                        return 0;
                }
        return -EINVAL;
}

static void print_warnings(const KubeResult *res) {
        for (size_t i = 0; i < res->n_warnings; i++)
                fprintf(stderr, "Warning: %s\n", res->warnings[i]);
}

static int report(const KubeResult *res) {
        print_warnings(res);
        if (res->r >= 0)
                return KUBE_EXIT_OK;
        fprintf(stderr, "strata: kube: %s\n", res->error ? res->error : strerror(-res->r));
        return exit_for(res->r);
}

static int print_json(const json_t *j) {
        _cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));
        if (!s)
                return KUBE_EXIT_FAULT;
        printf("%s\n", s);
        return KUBE_EXIT_OK;
}

static int client_open(KubeCli *k) {
        KubeConfigOptions kopts = { .context = k->context, .allow_insecure = k->insecure };
        KubeClientOptions copts = { .timeout_usec = k->request_timeout, .field_manager = k->field_manager };

        if (kube_conn_open("kube", k->kubeconfig, &kopts, &copts, &k->conn) < 0)
                return k->conn.fault ? KUBE_EXIT_FAULT : KUBE_EXIT_FAILED;
        return KUBE_EXIT_OK;
}

/* The documents of -f FILE (a v1 List's items expanded), with positions. */
static int read_documents(const char *file, json_t **ret_docs, YamlMarks **ret_marks) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int fd = -1;
        json_auto_t *docs = NULL, *out = NULL;
        json_t *doc;
        size_t size = 0, i;
        int r;

        if (strcmp(file, "-") == 0)
                r = read_fd_capped(STDIN_FILENO, YAML_JSON_INPUT_MAX, &data, &size);
        else {
                fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                r = fd < 0 ? -errno : read_fd_capped(fd, YAML_JSON_INPUT_MAX, &data, &size);
        }
        if (r < 0) {
                fprintf(stderr, "strata: kube: %s: %s\n", file,
                        r == -E2BIG ? "larger than the YAML input cap" : strerror(-r));
                return r;
        }
        r = yaml_json_parse(data, size, strcmp(file, "-") == 0 ? "<stdin>" : file, YAML_JSON_SKIP_EMPTY, &docs,
                            ret_marks, &err);
        if (r < 0) {
                fprintf(stderr, "strata: kube: %s\n", err ? err : strerror(-r));
                return r;
        }
        out = json_array();
        if (!out)
                return -ENOMEM;
        json_array_foreach (docs, i, doc) {
                const char *kind = json_string_value(json_object_get(doc, "kind"));
                const json_t *items = json_object_get(doc, "items");
                int k;
                if (kind && strcmp(kind, "List") == 0 && json_is_array(items))
                        k = json_array_extend(out, (json_t *) items);
                else
                        k = json_array_append(out, doc);
                if (k < 0)
                        return -ENOMEM;
        }
        if (json_array_size(out) == 0) {
                fprintf(stderr, "strata: kube: %s: no objects\n", file);
                return -EINVAL;
        }
        *ret_docs = take_ptr(out);
        return 0;
}

/* "FILE:LINE: " for a document, "FILE: document N: " without a position. */
static void doc_where(const char *file, const YamlMarks *marks, const json_t *doc, size_t index, char *buf,
                      size_t size) {
        YamlMark m;
        if (yaml_marks_find(marks, doc, &m))
                snprintf(buf, size, "%s:%zu: ", file, m.line);
        else
                snprintf(buf, size, "%s: document %zu: ", file, index + 1);
}

static const char *object_name(const json_t *obj) {
        const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        return n ? n : "?";
}

static bool is_terminating_with_finalizers(const json_t *obj) {
        return kube_object_is_terminating(obj) &&
               json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0;
}

/* What a delete did, as kubectl words it, plus the finalizers that keep
 * an object terminating. */
static void print_deleted(const char *resource, const char *name, const KubeResult *res, bool dry_run) {
        printf("%s \"%s\" deleted%s", resource, name, dry_run ? " (dry run)" : "");
        if (is_terminating_with_finalizers(res->object)) {
                _cleanup_free_ char *f =
                        json_dumps(json_object_get(json_object_get(res->object, "metadata"), "finalizers"), JSON_COMPACT);
                printf(" (terminating: finalizers %s remain)", f ? f : "[...]");
        }
        printf("\n");
}

/* create, replace, apply, delete -f: one call per document, in order;
 * a failed document does not stop the others. */
static int for_each_document(KubeCli *k, KubeVerb verb, const char *done_word) {
        _cleanup_(yaml_marks_freep) YamlMarks *marks = NULL;
        json_auto_t *docs = NULL;
        const char *file;
        json_t *doc;
        size_t i;
        int r, code = KUBE_EXIT_OK;

        if (!k->file) {
                fprintf(stderr, "strata: kube: -f FILE is required\n");
                return KUBE_EXIT_USAGE;
        }
        file = strcmp(k->file, "-") == 0 ? "<stdin>" : k->file;
        r = read_documents(k->file, &docs, &marks);
        if (r < 0)
                return exit_for(r);
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        json_array_foreach (docs, i, doc) {
                KubeCall call = {
                        .verb = verb,
                        .namespace = k->namespace,
                        .subresource = k->subresource,
                        .body = verb == KUBE_DELETE ? NULL : doc,
                        .field_manager = k->field_manager,
                        .force = k->force,
                        .dry_run = k->dry_run,
                        .strict = k->strict,
                        .propagation = k->cascade,
                        .missing_ok = k->ignore_missing,
                };
                _cleanup_(kube_result_done) KubeResult res = {};
                KubeObjectRef ref;
                char where[512];

                kube_object_ref(doc, &ref);
                doc_where(file, marks, doc, i, where, sizeof(where));
                if (!json_is_object(doc) || !ref.api_version || !ref.kind) {
                        fprintf(stderr, "strata: kube: %snot an object with apiVersion and kind\n", where);
                        code = KUBE_EXIT_FAILED;
                        continue;
                }
                if (verb == KUBE_DELETE) {
                        call.api_version = ref.api_version;
                        call.kind = ref.kind;
                        call.name = ref.name;
                        call.namespace = k->namespace ? k->namespace : ref.namespace;
                }
                r = kube_client_call_sync(k->conn.client, &call, &res);
                print_warnings(&res);
                if (r < 0) {
                        fprintf(stderr, "strata: kube: %s%s\n", where, res.error ? res.error : strerror(-r));
                        if (r == -ENOMEM)
                                code = KUBE_EXIT_FAULT;
                        else if (code == KUBE_EXIT_OK)
                                code = KUBE_EXIT_FAILED;
                        continue;
                }
                if (verb == KUBE_DELETE) {
                        if (!res.missing)
                                print_deleted(res.resource ? res.resource : ref.kind, object_name(doc), &res,
                                              k->dry_run);
                        continue;
                }
                printf("%s/%s %s%s\n", res.resource ? res.resource : ref.kind,
                       res.object ? object_name(res.object) : object_name(doc), done_word,
                       k->dry_run ? " (dry run)" : "");
        }
        return code;
}

static int do_create(KubeCli *k, int argc, char **argv) {
        (void) argc, (void) argv;
        return for_each_document(k, KUBE_CREATE, "created");
}

static int do_replace(KubeCli *k, int argc, char **argv) {
        (void) argc, (void) argv;
        return for_each_document(k, KUBE_UPDATE, "replaced");
}

static int do_apply(KubeCli *k, int argc, char **argv) {
        (void) argc, (void) argv;
        return for_each_document(k, KUBE_APPLY, "serverside-applied");
}

static int do_get(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_GET, .resource = argv[0], .name = argv[1], .namespace = k->namespace,
                          .subresource = k->subresource };
        int r;

        (void) argc;
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        kube_client_call_sync(k->conn.client, &call, &res);
        r = report(&res);
        return r != KUBE_EXIT_OK ? r : print_json(res.object);
}

static int do_list(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .resource = argv[0], .label_selector = k->selector,
                          .field_selector = k->field_selector, .limit = k->limit };
        const json_t *item;
        size_t i;
        int r;

        (void) argc;
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        /* kubectl's rule: the context's namespace unless -A */
        if (!k->all_namespaces)
                call.namespace = k->namespace ? k->namespace : kube_client_namespace(k->conn.client);
        kube_client_list_all_sync(k->conn.client, &call, &res);
        r = report(&res);
        if (r != KUBE_EXIT_OK)
                return r;
        if (k->ctx->json)
                return print_json(res.object);
        json_array_foreach (json_object_get(res.object, "items"), i, item) {
                KubeObjectRef ref;
                kube_object_ref(item, &ref);
                if (i == 0)
                        printf("%-24s %s\n", "NAMESPACE", "NAME");
                printf("%-24s %s%s\n", ref.namespace ? ref.namespace : "-", ref.name ? ref.name : "?",
                       kube_object_is_terminating(item) ? " (terminating)" : "");
        }
        if (json_array_size(json_object_get(res.object, "items")) == 0)
                fprintf(stderr, "strata: kube: no %s found\n", res.resource ? res.resource : argv[0]);
        return KUBE_EXIT_OK;
}

static int do_patch(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        json_auto_t *patch = NULL;
        json_error_t je;
        KubeCall call = { .resource = argv[0], .name = argv[1], .namespace = k->namespace,
                          .subresource = k->subresource, .dry_run = k->dry_run, .strict = k->strict,
                          .field_manager = k->field_manager };
        int r;

        (void) argc;
        if (!k->patch) {
                fprintf(stderr, "strata: kube: patch needs -p PATCH\n");
                return KUBE_EXIT_USAGE;
        }
        if (!k->patch_type || strcmp(k->patch_type, "merge") == 0)
                call.verb = KUBE_PATCH_MERGE;
        else if (strcmp(k->patch_type, "json") == 0)
                call.verb = KUBE_PATCH_JSON;
        else {
                fprintf(stderr, "strata: kube: --type is merge or json\n");
                return KUBE_EXIT_USAGE;
        }
        patch = json_loads(k->patch, 0, &je);
        if (!patch) {
                fprintf(stderr, "strata: kube: -p: not JSON: %s (column %d)\n", je.text, je.column);
                return KUBE_EXIT_USAGE;
        }
        call.body = patch;
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        kube_client_call_sync(k->conn.client, &call, &res);
        r = report(&res);
        if (r == KUBE_EXIT_OK)
                printf("%s/%s patched%s\n", res.resource, argv[1], k->dry_run ? " (dry run)" : "");
        return r;
}

static int do_delete(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_DELETE, .namespace = k->namespace, .propagation = k->cascade,
                          .dry_run = k->dry_run, .missing_ok = k->ignore_missing };
        int r;

        if (k->file) {
                if (argc > 0) {
                        fprintf(stderr, "strata: kube: delete takes -f FILE or RESOURCE NAME, not both\n");
                        return KUBE_EXIT_USAGE;
                }
                return for_each_document(k, KUBE_DELETE, "deleted");
        }
        if (argc != 2) {
                fprintf(stderr, "strata: kube: delete needs RESOURCE NAME or -f FILE\n");
                return KUBE_EXIT_USAGE;
        }
        call.resource = argv[0];
        call.name = argv[1];
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        kube_client_call_sync(k->conn.client, &call, &res);
        r = report(&res);
        if (r == KUBE_EXIT_OK && !res.missing)
                print_deleted(res.resource, argv[1], &res, k->dry_run);
        return r;
}

static int do_wait(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        _cleanup_free_ char *type = NULL, *what = NULL;
        KubeCall call = { .resource = argv[0], .name = argv[1], .namespace = k->namespace };
        KubeCondition cond = {};
        KubeWait wait = { .timeout_usec = k->timeout ? k->timeout : KUBE_CLI_WAIT_TIMEOUT_USEC };
        bool deletion = false;
        int r;

        (void) argc;
        if (!k->wait_for) {
                fprintf(stderr, "strata: kube: wait needs --for condition=TYPE[=STATUS] or --for delete\n");
                return KUBE_EXIT_USAGE;
        }
        if (strcmp(k->wait_for, "delete") == 0) {
                deletion = true;
                wait.predicate = kube_wait_deleted;
                wait.what = "deletion";
        } else if (strncmp(k->wait_for, "condition=", 10) == 0 && k->wait_for[10]) {
                char *eq;
                type = strdup(k->wait_for + 10);
                if (!type)
                        return KUBE_EXIT_FAULT;
                eq = strchr(type, '=');
                if (eq) {
                        *eq = '\0';
                        cond.status = eq + 1;
                }
                if (!*type || (cond.status && !*cond.status)) {
                        fprintf(stderr, "strata: kube: --for condition=TYPE[=STATUS]\n");
                        return KUBE_EXIT_USAGE;
                }
                cond.type = type;
                if (asprintf(&what, "condition %s=%s", type, cond.status ? cond.status : "True") < 0)
                        return KUBE_EXIT_FAULT;
                wait.predicate = kube_wait_condition;
                wait.userdata = &cond;
                wait.what = what;
        } else {
                fprintf(stderr, "strata: kube: --for condition=TYPE[=STATUS] or --for delete\n");
                return KUBE_EXIT_USAGE;
        }
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        kube_client_wait_sync(k->conn.client, &call, &wait, &res);
        r = report(&res);
        if (r == KUBE_EXIT_OK)
                printf("%s/%s %s\n", res.resource, argv[1], deletion ? "deleted" : "condition met");
        return r;
}

static int do_api_resources(KubeCli *k, int argc, char **argv) {
        _cleanup_(kube_result_done) KubeResult res = {};
        const KubeResourceMap *m;
        int r;

        (void) argc, (void) argv;
        r = client_open(k);
        if (r != KUBE_EXIT_OK)
                return r;
        kube_client_discover_sync(k->conn.client, &res);
        r = report(&res);
        if (r != KUBE_EXIT_OK)
                return r;
        m = kube_client_resources(k->conn.client);
        if (k->ctx->json) {
                json_auto_t *a = json_array();
                if (!a)
                        return KUBE_EXIT_FAULT;
                for (size_t i = 0; i < m->n; i++) {
                        const KubeResource *e = &m->v[i];
                        json_t *shorts = json_array();
                        for (size_t j = 0; shorts && j < e->n_short_names; j++)
                                json_array_append_new(shorts, json_string(e->short_names[j]));
                        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o*}", "group",
                                                               e->group, "version", e->version, "name", e->name,
                                                               "kind", e->kind, "namespaced", e->namespaced,
                                                               "preferred", e->preferred, "status", e->has_status,
                                                               "shortNames", shorts)) < 0)
                                return KUBE_EXIT_FAULT;
                }
                return print_json(a);
        }
        printf("%-40s %-12s %-40s %-10s %s\n", "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND");
        for (size_t i = 0; i < m->n; i++) {
                const KubeResource *e = &m->v[i];
                _cleanup_free_ char *name = NULL, *av = NULL;
                char shorts[128] = "";

                /* kubectl shows each group's preferred version */
                if (!e->preferred)
                        continue;
                for (size_t j = 0; j < e->n_short_names; j++)
                        snprintf(shorts + strlen(shorts), sizeof(shorts) - strlen(shorts), "%s%s", j ? "," : "",
                                 e->short_names[j]);
                name = kube_resource_describe(e);
                av = kube_resource_api_version(e);
                if (!name || !av)
                        return KUBE_EXIT_FAULT;
                printf("%-40s %-12s %-40s %-10s %s\n", name, shorts, av, e->namespaced ? "true" : "false", e->kind);
        }
        return KUBE_EXIT_OK;
}

static const struct option kube_options[] = {
        { "kubeconfig", required_argument, NULL, 'K' },
        { "context", required_argument, NULL, 'C' },
        { "namespace", required_argument, NULL, 'n' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "filename", required_argument, NULL, 'f' },
        { "selector", required_argument, NULL, 'l' },
        { "field-selector", required_argument, NULL, 'S' },
        { "limit", required_argument, NULL, 'L' },
        { "field-manager", required_argument, NULL, 'M' },
        { "force-conflicts", no_argument, NULL, 'F' },
        { "dry-run", no_argument, NULL, 'D' },
        { "validate-strict", no_argument, NULL, 'V' },
        { "subresource", required_argument, NULL, 'u' },
        { "patch", required_argument, NULL, 'p' },
        { "type", required_argument, NULL, 'T' },
        { "cascade", required_argument, NULL, 'c' },
        { "ignore-not-found", no_argument, NULL, 'I' },
        { "for", required_argument, NULL, 'w' },
        { "timeout", required_argument, NULL, 't' },
        { "request-timeout", required_argument, NULL, 'R' },
        { "insecure-skip-tls-verify", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        {}
};

/* Options anywhere: 0, 1 for --help, or -EINVAL (already said why). */
static int parse_options(KubeCli *k, int argc, char **argv, const char *optstring) {
        unsigned long v;
        char *end;
        int c;

        optind = 0; /* glibc: forget any earlier scan */
        while ((c = getopt_long(argc, argv, optstring, kube_options, NULL)) >= 0) {
                switch (c) {
                case 'K': k->kubeconfig = optarg; break;
                case 'C': k->context = optarg; break;
                case 'n': k->namespace = optarg; break;
                case 'A': k->all_namespaces = true; break;
                case 'f': k->file = optarg; break;
                case 'l': k->selector = optarg; break;
                case 'S': k->field_selector = optarg; break;
                case 'L':
                        v = strtoul(optarg, &end, 10);
                        if (*end || v == 0 || v > 100000) {
                                fprintf(stderr, "strata: kube: --limit: 1 to 100000\n");
                                return -EINVAL;
                        }
                        k->limit = (unsigned) v;
                        break;
                case 'M': k->field_manager = optarg; break;
                case 'F': k->force = true; break;
                case 'D': k->dry_run = true; break;
                case 'V': k->strict = true; break;
                case 'u': k->subresource = optarg; break;
                case 'p': k->patch = optarg; break;
                case 'T': k->patch_type = optarg; break;
                case 'c':
                        k->cascade = kube_propagation_from_string(optarg);
                        if (k->cascade < 0) {
                                fprintf(stderr, "strata: kube: --cascade: background, orphan or foreground\n");
                                return -EINVAL;
                        }
                        break;
                case 'I': k->ignore_missing = true; break;
                case 'w': k->wait_for = optarg; break;
                case 't':
                case 'R':
                        if (parse_duration(optarg, c == 't' ? &k->timeout : &k->request_timeout) < 0) {
                                fprintf(stderr, "strata: kube: --%s: a duration such as 30s (1ms to 24h)\n",
                                        c == 't' ? "timeout" : "request-timeout");
                                return -EINVAL;
                        }
                        break;
                case 'k': k->insecure = true; break;
                case 'h': return 1;
                default: return -EINVAL;
                }
        }
        return 0;
}

int cmd_kube(const CliContext *ctx, int argc, char **argv) {
        KubeCli k = { .ctx = ctx };
        const char *name;
        int r, first, n;

        r = parse_options(&k, argc, argv, "+n:Af:l:p:h");
        if (r != 0) {
                usage(r > 0 ? stdout : stderr);
                return r > 0 ? KUBE_EXIT_OK : KUBE_EXIT_USAGE;
        }
        first = optind;
        if (first >= argc) {
                usage(stderr);
                return KUBE_EXIT_USAGE;
        }
        name = argv[first];
        /* the command's own arguments, options among them */
        argv[first] = argv[0];
        argc -= first;
        argv += first;
        r = parse_options(&k, argc, argv, "n:Af:l:p:h");
        if (r != 0) {
                if (r > 0)
                        usage(stdout);
                else
                        fprintf(stderr, "strata: kube: see strata kube --help\n");
                return r > 0 ? KUBE_EXIT_OK : KUBE_EXIT_USAGE;
        }
        n = argc - optind;
        for (size_t i = 0; i < ELEMENTSOF(kube_commands); i++) {
                if (strcmp(name, kube_commands[i].name) != 0)
                        continue;
                if (n < kube_commands[i].min_args || n > kube_commands[i].max_args) {
                        fprintf(stderr, "strata: kube: %s: wrong number of arguments (see strata kube --help)\n",
                                name);
                        return KUBE_EXIT_USAGE;
                }
                if (k.all_namespaces && k.namespace) {
                        fprintf(stderr, "strata: kube: -n and -A do not go together\n");
                        return KUBE_EXIT_USAGE;
                }
                r = kube_commands[i].run(&k, n, argv + optind);
                kube_conn_close(&k.conn);
                return r;
        }
        fprintf(stderr, "strata: kube: unknown command \"%s\" (see strata kube --help)\n", name);
        return KUBE_EXIT_USAGE;
}
