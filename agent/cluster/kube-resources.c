/* The discovery map (see kube-resources.h): APIResourceList replies into
 * KubeResource entries, the lookups kubectl users expect, and request
 * paths. The replies are outside input: every string is checked before it
 * is kept, and fuzz-kube-discovery.c feeds this file. */
#include "cluster/kube-resources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"
#include "core/error-detail.h"

static const struct {
        const char *name;
        unsigned flag;
} verb_names[] = {
        { "get", KUBE_VERB_GET },       { "list", KUBE_VERB_LIST },     { "create", KUBE_VERB_CREATE },
        { "update", KUBE_VERB_UPDATE }, { "patch", KUBE_VERB_PATCH },   { "delete", KUBE_VERB_DELETE },
        { "watch", KUBE_VERB_WATCH },
};

/* Lower-case DNS-ish words: plurals, groups, versions. */
static bool is_dns_word(const char *s, bool dots) {
        size_t n = 0;
        for (; *s; s++, n++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || (dots && *s == '.')))
                        return false;
        return n > 0 && n <= KUBE_NAME_MAX;
}

/* API groups: DNS subdomains, dot-separated labels that are never empty
 * (so never ".", "..", or a leading, trailing or doubled dot: a group
 * becomes a path segment). */
static bool is_group(const char *s) {
        size_t label = 0;

        if (!is_dns_word(s, true))
                return false;
        for (; *s; s++) {
                if (*s != '.') {
                        label++;
                        continue;
                }
                if (label == 0)
                        return false;
                label = 0;
        }
        return label > 0;
}

/* Kinds: letters and digits (CamelCase). */
static bool is_kind(const char *s) {
        size_t n = 0;
        for (; *s; s++, n++)
                if (!isalnum((unsigned char) *s))
                        return false;
        return n > 0 && n <= KUBE_NAME_MAX;
}

bool kube_name_is_valid(const char *s) {
        size_t n;
        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > KUBE_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f || *s == '/' || *s == '%')
                        return false;
        return true;
}

static void resource_done(KubeResource *r) {
        free(r->group);
        free(r->version);
        free(r->name);
        free(r->singular);
        free(r->kind);
        for (size_t i = 0; i < r->n_short_names; i++)
                free(r->short_names[i]);
        *r = (KubeResource) {};
}

void kube_resources_done(KubeResourceMap *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++)
                resource_done(&m->v[i]);
        free(m->v);
        *m = (KubeResourceMap) {};
}

void kube_resources_replace(KubeResourceMap *to, KubeResourceMap *from) {
        kube_resources_done(to);
        *to = *from;
        *from = (KubeResourceMap) {};
}

int kube_api_version_split(const char *api_version, char **ret_group, char **ret_version) {
        const char *slash;
        _cleanup_free_ char *g = NULL, *v = NULL;

        if (!api_version || !*api_version)
                return -EINVAL;
        slash = strchr(api_version, '/');
        if (slash) {
                if (strchr(slash + 1, '/'))
                        return -EINVAL;
                g = strndup(api_version, (size_t) (slash - api_version));
                v = strdup(slash + 1);
        } else {
                g = strdup("");
                v = strdup(api_version);
        }
        if (!g || !v)
                return -ENOMEM;
        if ((slash && !is_group(g)) || !is_dns_word(v, false))
                return -EINVAL;
        *ret_group = take_ptr(g);
        *ret_version = take_ptr(v);
        return 0;
}

static KubeResource *find_exact(const KubeResourceMap *m, const char *group, const char *version, const char *name) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->v[i].group, group) == 0 && strcmp(m->v[i].version, version) == 0 &&
                    strcmp(m->v[i].name, name) == 0)
                        return &m->v[i];
        return NULL;
}

static unsigned verbs_parse(const json_t *verbs) {
        unsigned flags = 0;
        const json_t *v;
        size_t i;

        json_array_foreach (verbs, i, v)
                for (size_t k = 0; k < ELEMENTSOF(verb_names); k++)
                        if (json_is_string(v) && strcmp(json_string_value(v), verb_names[k].name) == 0)
                                flags |= verb_names[k].flag;
        return flags;
}

/* One resource entry (not a subresource) into *r; false when unusable. */
static int resource_parse(const json_t *e, const char *group, const char *version, bool preferred, KubeResource *r) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *singular = json_string_value(json_object_get(e, "singularName"));
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const json_t *shorts = json_object_get(e, "shortNames"), *s;
        size_t i;

        if (!name || !is_dns_word(name, false) || !kind || !is_kind(kind))
                return 0;
        if (singular && *singular && !is_dns_word(singular, false))
                singular = NULL;
        *r = (KubeResource) {
                .group = strdup(group),
                .version = strdup(version),
                .name = strdup(name),
                .singular = strdup(singular ? singular : ""),
                .kind = strdup(kind),
                .verbs = verbs_parse(json_object_get(e, "verbs")),
                .namespaced = json_is_true(json_object_get(e, "namespaced")),
                .preferred = preferred,
        };
        if (!r->group || !r->version || !r->name || !r->singular || !r->kind)
                return -ENOMEM;
        json_array_foreach (shorts, i, s) {
                if (r->n_short_names >= KUBE_RESOURCE_SHORT_NAMES_MAX)
                        break;
                if (!json_is_string(s) || !is_dns_word(json_string_value(s), false))
                        continue;
                r->short_names[r->n_short_names] = strdup(json_string_value(s));
                if (!r->short_names[r->n_short_names])
                        return -ENOMEM;
                r->n_short_names++;
        }
        return 1;
}

int kube_resources_add_list(KubeResourceMap *m, const json_t *list, bool preferred, char **reterr) {
        const char *gv = json_string_value(json_object_get(list, "groupVersion"));
        const json_t *resources = json_object_get(list, "resources"), *e;
        _cleanup_free_ char *group = NULL, *version = NULL;
        size_t i;
        int r;

        if (!json_is_object(list) || !gv || !json_is_array(resources))
                return error_detail_set(reterr, -EBADMSG, "not an APIResourceList (groupVersion and resources)");
        if (kube_api_version_split(gv, &group, &version) < 0)
                return error_detail_set(reterr, -EBADMSG, "APIResourceList: groupVersion is not group/version");
        if (json_array_size(resources) > KUBE_RESOURCE_LIST_MAX)
                return error_detail_set(reterr, -E2BIG, "APIResourceList %s: more than %u resources", gv,
                                        KUBE_RESOURCE_LIST_MAX);
        /* resources first, then their subresources: the order of the
         * list is not promised */
        json_array_foreach (resources, i, e) {
                const char *name = json_string_value(json_object_get(e, "name"));
                KubeResource *v;

                if (!name || strchr(name, '/') || find_exact(m, group, version, name))
                        continue;
                if (m->n >= KUBE_RESOURCES_MAX)
                        return error_detail_set(reterr, -E2BIG, "more than %u resources", KUBE_RESOURCES_MAX);
                v = reallocarray(m->v, m->n + 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                m->v = v;
                r = resource_parse(e, group, version, preferred, &m->v[m->n]);
                if (r < 0) {
                        resource_done(&m->v[m->n]);
                        return r;
                }
                if (r > 0)
                        m->n++;
        }
        json_array_foreach (resources, i, e) {
                const char *name = json_string_value(json_object_get(e, "name")), *slash;
                _cleanup_free_ char *parent = NULL;
                KubeResource *p;

                if (!name || !(slash = strchr(name, '/')))
                        continue;
                parent = strndup(name, (size_t) (slash - name));
                if (!parent)
                        return -ENOMEM;
                p = find_exact(m, group, version, parent);
                if (!p)
                        continue;
                if (strcmp(slash + 1, "status") == 0)
                        p->has_status = true;
                else if (strcmp(slash + 1, "scale") == 0)
                        p->has_scale = true;
        }
        return 0;
}

const KubeResource *kube_resources_find(const KubeResourceMap *m, const char *api_version, const char *kind) {
        _cleanup_free_ char *group = NULL, *version = NULL;

        if (!m || !kind || kube_api_version_split(api_version, &group, &version) < 0)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->v[i].group, group) == 0 && strcmp(m->v[i].version, version) == 0 &&
                    strcmp(m->v[i].kind, kind) == 0)
                        return &m->v[i];
        return NULL;
}

static bool names_match(const KubeResource *r, const char *what) {
        if (strcmp(r->name, what) == 0 || (*r->singular && strcmp(r->singular, what) == 0) ||
            strcasecmp(r->kind, what) == 0)
                return true;
        for (size_t i = 0; i < r->n_short_names; i++)
                if (strcmp(r->short_names[i], what) == 0)
                        return true;
        return false;
}

/* Better match: preferred version, then the core group, then earlier. */
static bool better(const KubeResource *a, const KubeResource *b) {
        if (!b)
                return true;
        if (a->preferred != b->preferred)
                return a->preferred;
        if ((*a->group == '\0') != (*b->group == '\0'))
                return *a->group == '\0';
        return false;
}

int kube_resources_lookup(const KubeResourceMap *m, const char *what, const KubeResource **ret) {
        const KubeResource *best = NULL;
        const char *dot;

        if (!m || !what || !*what)
                return -ENOENT;
        dot = strchr(what, '.');
        for (size_t i = 0; i < m->n; i++) {
                const KubeResource *r = &m->v[i];
                bool match;

                if (!dot)
                        match = names_match(r, what);
                else {
                        _cleanup_free_ char *name = strndup(what, (size_t) (dot - what));
                        const char *rest = dot + 1, *dot2 = strchr(rest, '.');
                        if (!name)
                                return -ENOMEM;
                        /* name.group, or name.version.group */
                        match = names_match(r, name) &&
                                (strcmp(r->group, rest) == 0 ||
                                 (dot2 && strncmp(r->version, rest, (size_t) (dot2 - rest)) == 0 &&
                                  r->version[dot2 - rest] == '\0' && strcmp(r->group, dot2 + 1) == 0));
                }
                if (match && better(r, best))
                        best = r;
        }
        if (!best)
                return -ENOENT;
        *ret = best;
        return 0;
}

char *kube_resource_describe(const KubeResource *r) {
        char *s;
        if (!*r->group)
                return strdup(r->name);
        return asprintf(&s, "%s.%s", r->name, r->group) < 0 ? NULL : s;
}

char *kube_resource_api_version(const KubeResource *r) {
        char *s;
        if (!*r->group)
                return strdup(r->version);
        return asprintf(&s, "%s/%s", r->group, r->version) < 0 ? NULL : s;
}

/* A path segment: unreserved characters and a few sub-delimiters pass,
 * everything else is %XX. */
static void put_segment(FILE *f, const char *s) {
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if (isalnum(ch) || strchr("-._~:@!$&'()*+,;=", ch))
                        fputc(ch, f);
                else
                        fprintf(f, "%%%02X", ch);
        }
}

int kube_resource_path(const KubeResource *r, const char *ns, const char *name, const char *subresource, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        FILE *f;

        if ((ns && !kube_name_is_valid(ns)) || (name && !kube_name_is_valid(name)) ||
            (subresource && !is_dns_word(subresource, false)))
                return -EINVAL;
        f = open_memstream(&out, &size);
        if (!f)
                return -ENOMEM;
        if (*r->group)
                fprintf(f, "/apis/%s/%s", r->group, r->version);
        else
                fprintf(f, "/api/%s", r->version);
        if (r->namespaced && ns) {
                fputs("/namespaces/", f);
                put_segment(f, ns);
        }
        fprintf(f, "/%s", r->name);
        if (name) {
                fputc('/', f);
                put_segment(f, name);
        }
        if (subresource)
                fprintf(f, "/%s", subresource);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = take_ptr(out);
        return 0;
}
