/* YAML to JSON (see yaml-json.h): libyaml's event stream folded into
 * jansson values with a stack of open containers, an anchor table for
 * aliases, and the caps that keep a hostile stream small: depth, nodes
 * (alias expansions included), anchors, aliases, documents.
 *
 * Why events and not libyaml's document API: the loader would keep every
 * node and resolve aliases into shared nodes, which we would then have to
 * expand anyway; with events each alias is expanded once, against the node
 * budget, as it is met. */
#include "cluster/yaml-json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/secret.h"

#define YAML_TAG_STR "tag:yaml.org,2002:str"
#define YAML_TAG_BINARY "tag:yaml.org,2002:binary"

typedef struct MarkEntry {
        uintptr_t node;
        YamlMark mark;
} MarkEntry;

/* true, false and null have no identity of their own: their position is
 * kept per (object, key) */
typedef struct MemberMark {
        uintptr_t object;
        char *key;
        YamlMark mark;
} MemberMark;

struct YamlMarks {
        MarkEntry *v;
        size_t n, allocated;
        MemberMark *members;
        size_t n_members, members_allocated;
};

typedef struct Anchor {
        char *name;
        json_t *value; /* a reference we hold */
        size_t nodes;  /* in the subtree, for the node budget */
        unsigned depth;
} Anchor;

typedef struct Frame {
        json_t *container;
        bool is_map;
        char *anchor;
        YamlMark mark;
        size_t nodes_at_start;
        unsigned depth_below; /* deepest container nesting under this one */
        /* mapping state: the key waiting for its value */
        char *key;
        YamlMark key_mark;
        bool key_is_merge;
        json_t *merges; /* objects to merge in at the end, in order (<<) */
} Frame;

typedef struct Converter {
        const char *name;
        unsigned flags;
        json_t *docs;
        json_t *root;
        bool have_root;
        Frame *stack;
        size_t depth, stack_allocated;
        Anchor *anchors;
        size_t n_anchors;
        size_t nodes, aliases, documents;
        YamlMarks *marks;
        char **reterr;
} Converter;

/* go-yaml v2's table for plain scalars (resolve.go) */
static const struct {
        const char *text;
        int kind; /* 1 true, 0 false, -1 null, 2 not-a-number or infinity */
} plain_words[] = {
        { "y", 1 },      { "Y", 1 },      { "yes", 1 },     { "Yes", 1 },   { "YES", 1 },   { "true", 1 },
        { "True", 1 },   { "TRUE", 1 },   { "on", 1 },      { "On", 1 },    { "ON", 1 },    { "n", 0 },
        { "N", 0 },      { "no", 0 },     { "No", 0 },      { "NO", 0 },    { "false", 0 }, { "False", 0 },
        { "FALSE", 0 },  { "off", 0 },    { "Off", 0 },     { "OFF", 0 },   { "", -1 },     { "~", -1 },
        { "null", -1 },  { "Null", -1 },  { "NULL", -1 },   { ".nan", 2 },  { ".NaN", 2 },  { ".NAN", 2 },
        { ".inf", 2 },   { ".Inf", 2 },   { ".INF", 2 },    { "+.inf", 2 }, { "+.Inf", 2 }, { "+.INF", 2 },
        { "-.inf", 2 },  { "-.Inf", 2 },  { "-.INF", 2 },
};

static YamlMark mark_of(yaml_mark_t m) {
        return (YamlMark) { .line = m.line + 1, .column = m.column + 1 };
}

static const char *name_or_input(const Converter *c) {
        return c->name ? c->name : "<input>";
}

static int fail_at(Converter *c, int r, YamlMark m, const char *what, const char *detail) {
        return error_detail_set(c->reterr, r, "%s:%zu:%zu: %s%s%s", name_or_input(c), m.line, m.column, what,
                                detail ? " " : "", detail ? detail : "");
}

YamlMarks *yaml_marks_free(YamlMarks *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_members; i++)
                free(m->members[i].key);
        free(m->members);
        free(m->v);
        free(m);
        return NULL;
}

static int marks_add(Converter *c, const json_t *node, YamlMark mark) {
        YamlMarks *m = c->marks;

        /* jansson shares true, false and null: no position can be theirs */
        if (!m || !node || json_is_true(node) || json_is_false(node) || json_is_null(node))
                return 0;
        if (m->n == m->allocated) {
                size_t n = m->allocated ? m->allocated * 2 : 64;
                MarkEntry *v = reallocarray(m->v, n, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                m->v = v;
                m->allocated = n;
        }
        m->v[m->n++] = (MarkEntry) { .node = (uintptr_t) node, .mark = mark };
        return 0;
}

static int member_mark_add(Converter *c, const json_t *object, const char *key, const json_t *value, YamlMark mark) {
        YamlMarks *m = c->marks;

        if (!m || !(json_is_true(value) || json_is_false(value) || json_is_null(value)))
                return 0;
        if (m->n_members == m->members_allocated) {
                size_t n = m->members_allocated ? m->members_allocated * 2 : 16;
                MemberMark *v = reallocarray(m->members, n, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                m->members = v;
                m->members_allocated = n;
        }
        m->members[m->n_members] = (MemberMark) { .object = (uintptr_t) object, .key = strdup(key), .mark = mark };
        if (!m->members[m->n_members].key)
                return -ENOMEM;
        m->n_members++;
        return 0;
}

static int member_mark_cmp(const void *a, const void *b) {
        const MemberMark *x = a, *y = b;
        if (x->object != y->object)
                return x->object < y->object ? -1 : 1;
        return strcmp(x->key, y->key);
}

static int mark_cmp(const void *a, const void *b) {
        uintptr_t x = ((const MarkEntry *) a)->node, y = ((const MarkEntry *) b)->node;
        return x < y ? -1 : x > y;
}

bool yaml_marks_find(const YamlMarks *m, const json_t *node, YamlMark *ret) {
        MarkEntry key = { .node = (uintptr_t) node }, *e;

        if (!m || !node || m->n == 0)
                return false;
        e = bsearch(&key, m->v, m->n, sizeof(*m->v), mark_cmp);
        if (!e)
                return false;
        if (ret)
                *ret = e->mark;
        return true;
}

bool yaml_marks_find_member(const YamlMarks *m, const json_t *object, const char *key, YamlMark *ret) {
        const json_t *v = json_object_get(object, key);
        MemberMark k = { .object = (uintptr_t) object, .key = (char *) key }, *e;

        if (!m || !v)
                return false;
        if (!(json_is_true(v) || json_is_false(v) || json_is_null(v)))
                return yaml_marks_find(m, v, ret);
        if (m->n_members == 0)
                return false;
        e = bsearch(&k, m->members, m->n_members, sizeof(*m->members), member_mark_cmp);
        if (!e)
                return false;
        if (ret)
                *ret = e->mark;
        return true;
}

static void anchors_clear(Converter *c) {
        for (size_t i = 0; i < c->n_anchors; i++) {
                free(c->anchors[i].name);
                json_decref(c->anchors[i].value);
        }
        free(c->anchors);
        c->anchors = NULL;
        c->n_anchors = 0;
}

static void frame_done(Frame *f) {
        json_decref(f->container);
        json_decref(f->merges);
        free(f->anchor);
        free(f->key);
        *f = (Frame) {};
}

static void converter_done(Converter *c) {
        while (c->depth > 0)
                frame_done(&c->stack[--c->depth]);
        free(c->stack);
        anchors_clear(c);
        json_decref(c->root);
        json_decref(c->docs);
        yaml_marks_free(c->marks);
}

/* ---- scalars ---- */

static int digit_value(char ch, unsigned base) {
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                                 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : 99;
        return v < (int) base ? v : -1;
}

/* Go's strconv.ParseInt(s, 0, 64) after go-yaml removed every '_': a sign,
 * then 0x/0o/0b or a leading 0 (octal), or decimal. 1 with *ret, or 2 with
 * *ret_big for a positive value past INT64_MAX that fits 64 bits unsigned
 * (ParseUint), 0 when it is no integer. */
static int parse_int(const char *s, long long *ret, unsigned long long *ret_big) {
        bool neg = false;
        unsigned base = 10;
        unsigned long long v = 0;

        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                base = 16, s += 2;
        else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                base = 8, s += 2;
        else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
                base = 2, s += 2;
        else if (s[0] == '0' && s[1])
                base = 8, s += 1;
        if (!*s)
                return 0;
        for (; *s; s++) {
                int d = digit_value(*s, base);
                if (d < 0)
                        return 0;
                if (v > (ULLONG_MAX - (unsigned) d) / base)
                        return 0;
                v = v * base + (unsigned) d;
        }
        if (neg) {
                if (v > (unsigned long long) LLONG_MAX + 1)
                        return 0;
                *ret = v == (unsigned long long) LLONG_MAX + 1 ? LLONG_MIN : -(long long) v;
                return 1;
        }
        if (v > (unsigned long long) LLONG_MAX) {
                *ret_big = v;
                return 2;
        }
        *ret = (long long) v;
        return 1;
}

/* go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool is_yaml_float(const char *s) {
        size_t digits = 0;

        if (*s == '+' || *s == '-')
                s++;
        if (*s == '.') {
                s++;
                while (*s >= '0' && *s <= '9')
                        s++, digits++;
                if (digits == 0)
                        return false;
        } else {
                while (*s >= '0' && *s <= '9')
                        s++, digits++;
                if (digits == 0)
                        return false;
                if (*s == '.') {
                        s++;
                        while (*s >= '0' && *s <= '9')
                                s++;
                }
        }
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                digits = 0;
                while (*s >= '0' && *s <= '9')
                        s++, digits++;
                if (digits == 0)
                        return false;
        }
        return *s == '\0';
}

/* A plain scalar typed; NULL with *reterr set on refusal or OOM (r). */
static json_t *plain_resolve(Converter *c, const char *v, size_t len, YamlMark mark, int *r) {
        _cleanup_free_ char *plain = NULL;
        long long i;
        unsigned long long big;
        size_t n = 0;
        json_t *j;

        for (size_t k = 0; k < ELEMENTSOF(plain_words); k++) {
                if (strlen(plain_words[k].text) != len || memcmp(plain_words[k].text, v, len) != 0)
                        continue;
                switch (plain_words[k].kind) {
                case 1: return json_true();
                case 0: return json_false();
                case -1: return json_null();
                default:
                        *r = fail_at(c, -EBADMSG, mark, "not-a-number and infinity have no JSON form:", "quote it");
                        return NULL;
                }
        }
        /* only signs, dots and digits start a number (go-yaml's hint table) */
        if (len == 0 || !strchr("+-.0123456789", v[0]) || memchr(v, '\0', len))
                return json_stringn(v, len);
        plain = malloc(len + 1);
        if (!plain) {
                *r = -ENOMEM;
                return NULL;
        }
        for (size_t k = 0; k < len; k++)
                if (v[k] != '_')
                        plain[n++] = v[k];
        plain[n] = '\0';
        switch (parse_int(plain, &i, &big)) {
        case 1: j = json_integer(i); break;
        case 2: j = json_real((double) big); break; /* jansson's integers are signed */
        default:
                j = NULL;
                if (is_yaml_float(plain)) {
                        double d = strtod(plain, NULL);
                        /* out of range: go-yaml keeps the string */
                        if (!isinf(d))
                                j = json_real(d);
                }
                if (!j)
                        j = json_stringn(v, len);
        }
        secret_wipe(plain, n);
        if (!j)
                *r = -ENOMEM;
        return j;
}

static json_t *scalar_value(Converter *c, const yaml_event_t *ev, int *r) {
        const char *v = (const char *) ev->data.scalar.value, *tag = (const char *) ev->data.scalar.tag;
        size_t len = ev->data.scalar.length;
        json_t *j;

        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            !(tag && (strcmp(tag, YAML_TAG_STR) == 0 || strcmp(tag, YAML_TAG_BINARY) == 0 || strcmp(tag, "!") == 0))) {
                *r = 0;
                j = plain_resolve(c, v, len, mark_of(ev->start_mark), r);
                if (!j && *r == 0)
                        *r = fail_at(c, -EBADMSG, mark_of(ev->start_mark), "not valid UTF-8", NULL);
                return j;
        }
        j = json_stringn(v, len);
        if (!j)
                *r = fail_at(c, -EBADMSG, mark_of(ev->start_mark), "not valid UTF-8", NULL);
        return j;
}

/* ---- the tree ---- */

static int count_node(Converter *c, size_t n, YamlMark mark) {
        if (n > YAML_JSON_NODES_MAX - c->nodes) {
                char detail[64];
                snprintf(detail, sizeof(detail), "(%u, aliases expanded)", YAML_JSON_NODES_MAX);
                return fail_at(c, -E2BIG, mark, "too many values", detail);
        }
        c->nodes += n;
        return 0;
}

static int anchor_add(Converter *c, const char *name, json_t *value, size_t nodes, unsigned depth, YamlMark mark) {
        Anchor *v;

        if (c->n_anchors >= YAML_JSON_ANCHORS_MAX)
                return fail_at(c, -E2BIG, mark, "too many anchors", NULL);
        v = reallocarray(c->anchors, c->n_anchors + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        c->anchors = v;
        v[c->n_anchors] = (Anchor) { .name = strdup(name), .value = json_incref(value), .nodes = nodes, .depth = depth };
        if (!v[c->n_anchors].name) {
                json_decref(value);
                return -ENOMEM;
        }
        c->n_anchors++;
        return 0;
}

static const Anchor *anchor_find(const Converter *c, const char *name) {
        /* the latest definition wins: YAML lets an anchor be redefined */
        for (size_t i = c->n_anchors; i > 0; i--)
                if (strcmp(c->anchors[i - 1].name, name) == 0)
                        return &c->anchors[i - 1];
        return NULL;
}

/* The parent of a finished subtree learns how deep it went: `depth` counts
 * container levels, 0 for a scalar. */
static void update_depth(Converter *c, unsigned depth) {
        if (c->depth > 0 && c->stack[c->depth - 1].depth_below < depth)
                c->stack[c->depth - 1].depth_below = depth;
}

/* A finished value (`value` is consumed) goes to its parent or becomes
 * the document's root. */
static int attach(Converter *c, json_t *value, YamlMark mark) {
        Frame *f;
        int r;

        if (c->depth == 0) {
                json_decref(c->root);
                c->root = value;
                c->have_root = true;
                return 0;
        }
        f = &c->stack[c->depth - 1];
        if (!f->is_map)
                return json_array_append_new(f->container, value) < 0 ? -ENOMEM : 0;
        if (f->key_is_merge) {
                /* << takes a mapping or a sequence of mappings */
                bool ok = json_is_object(value) || (json_is_array(value) && json_array_size(value) > 0);
                size_t i;
                json_t *e;

                json_array_foreach (value, i, e)
                        ok = ok && json_is_object(e);
                if (!ok) {
                        json_decref(value);
                        return fail_at(c, -EBADMSG, f->key_mark, "merge key <<", "needs a mapping or a list of mappings");
                }
                if (!f->merges && !(f->merges = json_array())) {
                        json_decref(value);
                        return -ENOMEM;
                }
                if (json_is_object(value))
                        r = json_array_append_new(f->merges, value);
                else {
                        r = json_array_extend(f->merges, value);
                        json_decref(value);
                }
                f->key_is_merge = false;
                return r < 0 ? -ENOMEM : 0;
        }
        if (!f->key) {
                json_decref(value);
                return fail_at(c, -EBADMSG, mark, "value without a key", NULL);
        }
        r = member_mark_add(c, f->container, f->key, value, mark);
        if (r < 0) {
                json_decref(value);
                return r;
        }
        r = json_object_set_new(f->container, f->key, value);
        free(f->key);
        f->key = NULL;
        return r < 0 ? -ENOMEM : 0;
}

/* A scalar (or aliased string) in key position of the innermost mapping. */
static int take_key(Converter *c, const char *key, size_t len, bool merge, YamlMark mark) {
        Frame *f = &c->stack[c->depth - 1];

        if (memchr(key, '\0', len))
                return fail_at(c, -EBADMSG, mark, "a key holds a NUL character", NULL);
        if (merge) {
                if (f->merges)
                        return fail_at(c, -EBADMSG, mark, "duplicate key", "\"<<\"");
                f->key_is_merge = true;
                f->key_mark = mark;
                return 0;
        }
        f->key = memdup_nul(key, len);
        if (!f->key)
                return -ENOMEM;
        if (json_object_get(f->container, f->key)) {
                _cleanup_free_ char *quoted = NULL;
                if (asprintf(&quoted, "\"%.64s\"%s", f->key, strlen(f->key) > 64 ? "..." : "") < 0)
                        quoted = NULL;
                return fail_at(c, -EBADMSG, mark, "duplicate key", quoted);
        }
        f->key_mark = mark;
        return 0;
}

static bool expecting_key(const Converter *c) {
        const Frame *f;
        if (c->depth == 0)
                return false;
        f = &c->stack[c->depth - 1];
        return f->is_map && !f->key && !f->key_is_merge;
}

/* A node ended: count it, remember its position and anchor, attach it. */
static int finish(Converter *c, json_t *value, const char *anchor, size_t nodes, unsigned depth, YamlMark mark) {
        int r;

        r = count_node(c, 1, mark);
        if (r >= 0)
                r = marks_add(c, value, mark);
        if (r >= 0 && anchor)
                r = anchor_add(c, anchor, value, nodes, depth, mark);
        if (r < 0) {
                json_decref(value);
                return r;
        }
        update_depth(c, depth);
        return attach(c, value, mark);
}

static int on_start(Converter *c, const yaml_event_t *ev, bool is_map) {
        const char *anchor = (const char *) (is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
        YamlMark mark = mark_of(ev->start_mark);
        Frame *f;

        if (expecting_key(c))
                return fail_at(c, -EBADMSG, mark, "a key that is a mapping or a sequence is not supported", NULL);
        if (c->depth >= YAML_JSON_DEPTH_MAX) {
                char detail[32];
                snprintf(detail, sizeof(detail), "(%u levels)", YAML_JSON_DEPTH_MAX);
                return fail_at(c, -E2BIG, mark, "nested too deep", detail);
        }
        if (c->depth == c->stack_allocated) {
                size_t n = c->stack_allocated ? c->stack_allocated * 2 : 16;
                Frame *s = reallocarray(c->stack, n, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                c->stack = s;
                c->stack_allocated = n;
        }
        f = &c->stack[c->depth];
        *f = (Frame) { .is_map = is_map, .mark = mark, .nodes_at_start = c->nodes };
        f->container = is_map ? json_object() : json_array();
        if (!f->container || (anchor && !(f->anchor = strdup(anchor)))) {
                frame_done(f);
                return -ENOMEM;
        }
        c->depth++;
        return 0;
}

static int on_end(Converter *c, bool is_map) {
        Frame f;
        json_t *m;
        size_t i;
        int r;

        if (c->depth == 0 || c->stack[c->depth - 1].is_map != is_map)
                return -EBADMSG; /* libyaml never does this */
        f = c->stack[--c->depth];
        json_array_foreach (f.merges, i, m)
                /* explicit keys win, and earlier merges over later ones */
                if (json_object_update_missing(f.container, m) < 0) {
                        frame_done(&f);
                        return -ENOMEM;
                }
        r = finish(c, take_ptr(f.container), f.anchor, c->nodes - f.nodes_at_start + 1, f.depth_below + 1, f.mark);
        frame_done(&f);
        return r;
}

static int on_scalar(Converter *c, const yaml_event_t *ev) {
        YamlMark mark = mark_of(ev->start_mark);
        const char *anchor = (const char *) ev->data.scalar.anchor;
        json_t *value;
        int r = 0;

        if (expecting_key(c)) {
                bool merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
                             ev->data.scalar.length == 2 && memcmp(ev->data.scalar.value, "<<", 2) == 0;
                r = take_key(c, (const char *) ev->data.scalar.value, ev->data.scalar.length, merge, mark);
                if (r < 0)
                        return r;
                if (!anchor)
                        return count_node(c, 1, mark);
                /* an anchored key: its typed value is what an alias gets */
                value = scalar_value(c, ev, &r);
                if (!value)
                        return r;
                r = count_node(c, 1, mark);
                if (r >= 0)
                        r = anchor_add(c, anchor, value, 1, 0, mark);
                json_decref(value);
                return r;
        }
        value = scalar_value(c, ev, &r);
        if (!value)
                return r;
        return finish(c, value, anchor, 1, 0, mark);
}

static int on_alias(Converter *c, const yaml_event_t *ev) {
        const char *name = (const char *) ev->data.alias.anchor;
        YamlMark mark = mark_of(ev->start_mark);
        const Anchor *a = anchor_find(c, name);
        json_t *copy;
        int r;

        if (!a) {
                _cleanup_free_ char *quoted = NULL;
                if (asprintf(&quoted, "*%.64s", name) < 0)
                        quoted = NULL;
                return fail_at(c, -EBADMSG, mark, "undefined alias", quoted);
        }
        if (++c->aliases > YAML_JSON_ALIASES_MAX)
                return fail_at(c, -E2BIG, mark, "too many aliases", NULL);
        if (expecting_key(c)) {
                if (!json_is_string(a->value))
                        return fail_at(c, -EBADMSG, mark, "an alias used as a key must name a string", NULL);
                r = take_key(c, json_string_value(a->value), json_string_length(a->value), false, mark);
                return r < 0 ? r : count_node(c, 1, mark);
        }
        if (c->depth + a->depth > YAML_JSON_DEPTH_MAX)
                return fail_at(c, -E2BIG, mark, "nested too deep through an alias", NULL);
        /* the budget first: a copy that would pass the cap is never made */
        r = count_node(c, a->nodes - 1, mark);
        if (r < 0)
                return r;
        /* a copy, not a shared reference: consumers edit objects in place */
        copy = json_deep_copy(a->value);
        if (!copy)
                return -ENOMEM;
        return finish(c, copy, NULL, a->nodes, a->depth, mark);
}

static int on_document_end(Converter *c) {
        json_t *doc = c->have_root ? take_ptr(c->root) : json_null();
        int r;

        c->have_root = false;
        anchors_clear(c); /* anchors do not cross documents */
        if ((c->flags & YAML_JSON_SKIP_EMPTY) && json_is_null(doc))
                return 0;
        r = json_array_append_new(c->docs, doc);
        return r < 0 ? -ENOMEM : 0;
}

static int parser_error(Converter *c, const yaml_parser_t *p) {
        const char *problem = p->problem ? p->problem : "malformed YAML";

        switch (p->error) {
        case YAML_MEMORY_ERROR: return -ENOMEM;
        case YAML_READER_ERROR:
                /* the reader knows a byte offset, not a line */
                return error_detail_set(c->reterr, -EBADMSG, "%s: byte %zu: %s", name_or_input(c), p->problem_offset,
                                        problem);
        default:
                if (p->context)
                        return error_detail_set(c->reterr, -EBADMSG, "%s:%zu:%zu: %s (%s at line %zu)",
                                                name_or_input(c), p->problem_mark.line + 1,
                                                p->problem_mark.column + 1, problem, p->context,
                                                p->context_mark.line + 1);
                return error_detail_set(c->reterr, -EBADMSG, "%s:%zu:%zu: %s", name_or_input(c),
                                        p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
        }
}

/* libyaml frees its buffers without wiping them; they hold the input. */
static void parser_wipe_delete(yaml_parser_t *p) {
        if (p->buffer.start)
                secret_wipe(p->buffer.start, (size_t) (p->buffer.end - p->buffer.start));
        if (p->raw_buffer.start)
                secret_wipe(p->raw_buffer.start, (size_t) (p->raw_buffer.end - p->raw_buffer.start));
        yaml_parser_delete(p);
}

static void event_wipe_delete(yaml_event_t *ev) {
        if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value)
                secret_wipe(ev->data.scalar.value, ev->data.scalar.length);
        yaml_event_delete(ev);
}

static int dispatch(Converter *c, const yaml_event_t *ev) {
        switch (ev->type) {
        case YAML_DOCUMENT_START_EVENT:
                if (++c->documents > YAML_JSON_DOCUMENTS_MAX)
                        return fail_at(c, -E2BIG, mark_of(ev->start_mark), "too many documents", NULL);
                return 0;
        case YAML_DOCUMENT_END_EVENT: return on_document_end(c);
        case YAML_SEQUENCE_START_EVENT: return on_start(c, ev, false);
        case YAML_SEQUENCE_END_EVENT: return on_end(c, false);
        case YAML_MAPPING_START_EVENT: return on_start(c, ev, true);
        case YAML_MAPPING_END_EVENT: return on_end(c, true);
        case YAML_SCALAR_EVENT: return on_scalar(c, ev);
        case YAML_ALIAS_EVENT: return on_alias(c, ev);
        default: return 0; /* stream start and end, no event */
        }
}

int yaml_json_parse(const void *data, size_t size, const char *name, unsigned flags, json_t **ret_docs,
                    YamlMarks **ret_marks, char **reterr) {
        _cleanup_(converter_done) Converter c = { .name = name, .flags = flags, .reterr = reterr };
        yaml_parser_t p;
        bool end = false;
        int r = 0;

        if (size > YAML_JSON_INPUT_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: larger than %u bytes", name ? name : "<input>",
                                        YAML_JSON_INPUT_MAX);
        c.docs = json_array();
        if (!c.docs)
                return -ENOMEM;
        if (ret_marks && !(c.marks = calloc(1, sizeof(*c.marks))))
                return -ENOMEM;
        if (!yaml_parser_initialize(&p))
                return -ENOMEM;
        yaml_parser_set_input_string(&p, data ? data : (const unsigned char *) "", size);
        while (!end && r >= 0) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&p, &ev)) {
                        r = parser_error(&c, &p);
                        break;
                }
                end = ev.type == YAML_STREAM_END_EVENT;
                r = dispatch(&c, &ev);
                event_wipe_delete(&ev);
        }
        parser_wipe_delete(&p);
        if (r < 0)
                return r;
        /* qsort's array may not be NULL, even for no elements */
        if (c.marks && c.marks->n > 0)
                qsort(c.marks->v, c.marks->n, sizeof(*c.marks->v), mark_cmp);
        if (c.marks && c.marks->n_members > 0)
                qsort(c.marks->members, c.marks->n_members, sizeof(*c.marks->members), member_mark_cmp);
        *ret_docs = take_ptr(c.docs);
        if (ret_marks)
                *ret_marks = take_ptr(c.marks);
        return 0;
}

int yaml_json_parse_one(const void *data, size_t size, const char *name, json_t **ret, YamlMarks **ret_marks,
                        char **reterr) {
        _cleanup_(yaml_marks_freep) YamlMarks *marks = NULL;
        json_auto_t *docs = NULL;
        size_t n;
        int r;

        r = yaml_json_parse(data, size, name, YAML_JSON_SKIP_EMPTY, &docs, ret_marks ? &marks : NULL, reterr);
        if (r < 0)
                return r;
        n = json_array_size(docs);
        if (n != 1)
                return n == 0 ? error_detail_set(reterr, -EBADMSG, "%s: no document", name ? name : "<input>")
                              : error_detail_set(reterr, -EBADMSG, "%s: %zu documents, expected one",
                                                 name ? name : "<input>", n);
        *ret = json_incref(json_array_get(docs, 0));
        if (ret_marks)
                *ret_marks = take_ptr(marks);
        return 0;
}
