/* template: the embedded Ignition templates, placeholder expansion and
 * fragment merging; see template.h and ignition/README.md. */
#include "ignition/template.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/json-schema.h"
#include "ignition/data-url.h"

/* Longest placeholder name. */
#define TEMPLATE_NAME_MAX 32u
/* The member name of a comment in a template (JSON has none of its own). */
#define TEMPLATE_COMMENT "//"

/* agent/ignition/templates.S */
extern const char ignition_template_base[], ignition_template_sysext_fetch[], ignition_template_fleet_ca[],
        ignition_template_role_seed[], ignition_template_role_controller[], ignition_template_role_worker[],
        ignition_template_pods[], ignition_template_data_volume[], ignition_template_data_volume_create[],
        ignition_template_sponsor[], ignition_template_boot_assets[];

static const struct {
        const char *file;
        const char *text;
} templates[_IGNITION_TEMPLATE_MAX] = {
        [IGNITION_TEMPLATE_BASE] = { "ignition/base.json", ignition_template_base },
        [IGNITION_TEMPLATE_SYSEXT_FETCH] = { "ignition/sysext-fetch.json", ignition_template_sysext_fetch },
        [IGNITION_TEMPLATE_FLEET_CA] = { "ignition/fleet-ca.json", ignition_template_fleet_ca },
        [IGNITION_TEMPLATE_ROLE_SEED] = { "ignition/role-seed.json", ignition_template_role_seed },
        [IGNITION_TEMPLATE_ROLE_CONTROLLER] = { "ignition/role-controller.json", ignition_template_role_controller },
        [IGNITION_TEMPLATE_ROLE_WORKER] = { "ignition/role-worker.json", ignition_template_role_worker },
        [IGNITION_TEMPLATE_PODS] = { "ignition/pods.json", ignition_template_pods },
        [IGNITION_TEMPLATE_DATA_VOLUME] = { "ignition/data-volume.json", ignition_template_data_volume },
        [IGNITION_TEMPLATE_DATA_VOLUME_CREATE] = { "ignition/data-volume-create.json",
                                                   ignition_template_data_volume_create },
        [IGNITION_TEMPLATE_SPONSOR] = { "ignition/sponsor.json", ignition_template_sponsor },
        [IGNITION_TEMPLATE_BOOT_ASSETS] = { "ignition/boot-assets.json", ignition_template_boot_assets },
};

/* How Ignition keys the lists it merges (config/merge in coreos/ignition):
 * one row per list name. */
static const struct {
        const char *list;
        const char *key;
} merge_keys[] = {
        { "directories", "path" }, { "dropins", "name" }, { "files", "path" }, { "filesystems", "device" },
        { "links", "path" },       { "luks", "name" },    { "tang", "url" },   { "units", "name" },
};

const char *template_file(IgnitionTemplate t) {
        return t >= 0 && t < _IGNITION_TEMPLATE_MAX ? templates[t].file : "ignition/?";
}

typedef struct Expansion {
        IgnitionTemplate t;
        const TemplateVar *vars;
        size_t n_vars;
        JsonSchemaPath path;
        char **reterr;
} Expansion;

static bool is_name_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of the placeholder name starting after the '@' at s (its closing
 * '@' within n bytes), or 0 if there is none. */
static size_t placeholder_len(const char *s, size_t n) {
        size_t i = 0;

        while (i < n && i <= TEMPLATE_NAME_MAX && is_name_char(s[i]))
                i++;
        return i > 0 && i <= TEMPLATE_NAME_MAX && i < n && s[i] == '@' ? i : 0;
}

static json_t *lookup(const TemplateVar *vars, size_t n_vars, const char *name, size_t len) {
        for (size_t i = 0; i < n_vars; i++)
                if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
                        return vars[i].value;
        return NULL;
}

int template_text_expand(const char *file, const char *path, const char *text, size_t n, const TemplateVar *vars,
                         size_t n_vars, char **ret, size_t *ret_len, char **reterr) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t k = text[i] == '@' ? placeholder_len(text + i + 1, n - i - 1) : 0;
                json_t *v;

                if (k == 0) {
                        fputc(text[i], f);
                        continue;
                }
                v = lookup(vars, n_vars, text + i + 1, k);
                if (!v) {
                        fclose(f);
                        return error_detail_set(reterr, -EINVAL, "%s: %s%sunknown placeholder @%.*s@", file,
                                                path ? path : "", path ? ": " : "", (int) k, text + i + 1);
                }
                if (!json_is_string(v)) {
                        fclose(f);
                        return error_detail_set(reterr, -EINVAL,
                                                "%s: %s%s@%.*s@ is not text and cannot be part of a string", file,
                                                path ? path : "", path ? ": " : "", (int) k, text + i + 1);
                }
                /* the value as it is: never scanned for placeholders again */
                fwrite(json_string_value(v), 1, json_string_length(v), f);
                i += k + 1;
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = take_ptr(out);
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* A new value for the template string s. */
static int expand_string(const Expansion *x, const char *s, size_t n, json_t **ret) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        int r;

        /* the whole string is one placeholder: any JSON type */
        if (n >= 3 && s[0] == '@' && placeholder_len(s + 1, n - 1) == n - 2) {
                json_t *v = lookup(x->vars, x->n_vars, s + 1, n - 2);
                if (!v)
                        return error_detail_set(x->reterr, -EINVAL, "%s: %s: unknown placeholder @%.*s@",
                                                template_file(x->t), x->path.buf, (int) (n - 2), s + 1);
                *ret = json_deep_copy(v);
                return *ret ? 0 : -ENOMEM;
        }

        r = template_text_expand(template_file(x->t), x->path.buf, s, n, x->vars, x->n_vars, &out, &len, x->reterr);
        if (r < 0)
                return r;
        *ret = json_stringn(out, len);
        if (!*ret)
                return error_detail_set(x->reterr, -EINVAL, "%s: %s: the text is not UTF-8", template_file(x->t),
                                        x->path.buf);
        return 0;
}

/* "inline": TEXT becomes "source": "data:,..." in the object o. */
static int inline_to_source(const Expansion *x, json_t *o) {
        json_t *text = json_object_get(o, "inline");
        _cleanup_free_ char *url = NULL;
        int r;

        if (!text)
                return 0;
        if (!json_is_string(text) || json_object_get(o, "source"))
                return error_detail_set(x->reterr, -EINVAL, "%s: %s: \"inline\" must be text, without \"source\"",
                                        template_file(x->t), x->path.buf);
        r = data_url_encode(json_string_value(text), json_string_length(text), &url);
        if (r == -E2BIG)
                return error_detail_set(x->reterr, r, "%s: %s.inline: more than %u bytes as a data: URL",
                                        template_file(x->t), x->path.buf, DATA_URL_MAX);
        if (r < 0)
                return r;
        if (json_object_set_new(o, "source", json_string(url)) < 0 || json_object_del(o, "inline") < 0)
                return -ENOMEM;
        return 0;
}

static int expand_node(Expansion *x, json_t *node, unsigned depth, json_t **replacement) {
        int r = 0;

        *replacement = NULL;
        if (depth > TEMPLATE_DEPTH_MAX)
                return error_detail_set(x->reterr, -EPROTO, "%s: %s: nested deeper than %u", template_file(x->t),
                                        x->path.buf, TEMPLATE_DEPTH_MAX);
        if (json_is_string(node))
                return expand_string(x, json_string_value(node), json_string_length(node), replacement);
        if (json_is_object(node)) {
                const char *key;
                json_t *value;

                /* before expansion: a comment may name placeholders */
                (void) json_object_del(node, TEMPLATE_COMMENT);
                json_object_foreach(node, key, value) {
                        size_t mark = json_schema_path_push_key(&x->path, key);
                        json_t *nv = NULL;

                        r = expand_node(x, value, depth + 1, &nv);
                        if (r >= 0 && nv && json_object_set_new(node, key, nv) < 0)
                                r = -ENOMEM;
                        json_schema_path_pop(&x->path, mark);
                        if (r < 0)
                                return r;
                }
                return inline_to_source(x, node);
        }
        if (json_is_array(node))
                for (size_t i = 0; i < json_array_size(node); i++) {
                        size_t mark = json_schema_path_push_index(&x->path, i);
                        json_t *nv = NULL;

                        r = expand_node(x, json_array_get(node, i), depth + 1, &nv);
                        if (r >= 0 && nv && json_array_set_new(node, i, nv) < 0)
                                r = -ENOMEM;
                        json_schema_path_pop(&x->path, mark);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int template_expand(IgnitionTemplate t, const TemplateVar *vars, size_t n_vars, json_t **ret, char **reterr) {
        Expansion x = { .t = t, .vars = vars, .n_vars = n_vars, .reterr = reterr };
        json_auto_t *doc = NULL;
        json_t *replacement = NULL;
        json_error_t jerr;
        int r;

        if (t < 0 || t >= _IGNITION_TEMPLATE_MAX)
                return -EINVAL;
        doc = json_loads(templates[t].text, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(doc))
                return error_detail_set(reterr, -EPROTO, "%s: built in broken (line %d: %s)", templates[t].file,
                                        jerr.line, doc ? "not an object" : jerr.text);
        json_schema_path_init(&x.path);
        r = expand_node(&x, doc, 0, &replacement);
        if (r < 0)
                return r;
        if (replacement) {
                /* the whole template was one placeholder: not a template */
                json_decref(replacement);
                return error_detail_set(reterr, -EPROTO, "%s: not an object", templates[t].file);
        }
        *ret = take_ptr(doc);
        return 0;
}

/* ---- merging ------------------------------------------------------------- */

typedef struct Merge {
        IgnitionTemplate from;
        JsonSchemaPath path;
        char **reterr;
} Merge;

static const char *list_key(const char *list) {
        for (size_t i = 0; i < ELEMENTSOF(merge_keys); i++)
                if (strcmp(merge_keys[i].list, list) == 0)
                        return merge_keys[i].key;
        return NULL;
}

static int merge_value(Merge *m, json_t *dst_parent, const char *name, json_t *dst, const json_t *src, unsigned depth);

static int merge_object(Merge *m, json_t *dst, const json_t *src, unsigned depth) {
        const char *key;
        json_t *value;

        json_object_foreach((json_t *) src, key, value) {
                size_t mark = json_schema_path_push_key(&m->path, key);
                int r = merge_value(m, dst, key, json_object_get(dst, key), value, depth + 1);

                json_schema_path_pop(&m->path, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

static json_t *find_keyed(json_t *array, const char *key, const char *value) {
        json_t *e;
        size_t i;

        json_array_foreach(array, i, e) {
                const char *v = json_string_value(json_object_get(e, key));
                if (v && strcmp(v, value) == 0)
                        return e;
        }
        return NULL;
}

static int merge_array(Merge *m, json_t *dst, const json_t *src, const char *list, unsigned depth) {
        const char *key = list_key(list);
        json_t *e;
        size_t i;

        json_array_foreach((json_t *) src, i, e) {
                const char *k = key ? json_string_value(json_object_get(e, key)) : NULL;
                json_t *same = k ? find_keyed(dst, key, k) : NULL;
                int r;

                if (same) {
                        size_t mark = json_schema_path_push_index(&m->path, i);
                        r = merge_object(m, same, e, depth + 1);
                        json_schema_path_pop(&m->path, mark);
                        if (r < 0)
                                return r;
                } else if (json_array_append_new(dst, json_deep_copy(e)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int merge_value(Merge *m, json_t *dst_parent, const char *name, json_t *dst, const json_t *src, unsigned depth) {
        if (depth > TEMPLATE_DEPTH_MAX)
                return error_detail_set(m->reterr, -EPROTO, "%s: %s: nested deeper than %u", template_file(m->from),
                                        m->path.buf, TEMPLATE_DEPTH_MAX);
        if (!dst)
                return json_object_set_new(dst_parent, name, json_deep_copy(src)) < 0 ? -ENOMEM : 0;
        if (json_is_object(dst) && json_is_object(src))
                return merge_object(m, dst, src, depth);
        if (json_is_array(dst) && json_is_array(src))
                return merge_array(m, dst, src, name, depth);
        if (json_equal(dst, src))
                return 0;
        return error_detail_set(m->reterr, -EINVAL, "%s: %s: contradicts what an earlier template set there",
                                template_file(m->from), m->path.buf);
}

int template_merge(json_t *dst, const json_t *src, IgnitionTemplate from, char **reterr) {
        Merge m = { .from = from, .reterr = reterr };

        if (!json_is_object(dst) || !json_is_object(src))
                return -EINVAL;
        json_schema_path_init(&m.path);
        return merge_object(&m, dst, src, 0);
}
