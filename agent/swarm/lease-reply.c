/* The member's parser of the coordinator's lease replies (lease-reply.h). */
#include "swarm/lease-reply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/strutil.h"
#include "swarm/coordinator.h"

/* Which fields a lease entry of each list carries. */
typedef enum LeaseList {
        LIST_GRANTED, /* acquire "leases" */
        LIST_FATE,    /* heartbeat "leases" */
        LIST_HELD,    /* heartbeat "held" */
} LeaseList;

static void lease_clear(LeaseReplyLease *l) {
        free(l->machine);
        free(l->status);
        json_decref(l->bmc);
        *l = (LeaseReplyLease) {};
}

void lease_reply_clear(LeaseReply *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_leases; i++)
                lease_clear(&r->leases[i]);
        for (size_t i = 0; i < r->n_held; i++)
                lease_clear(&r->held[i]);
        free(r->leases);
        free(r->held);
        free(r->error);
        free(r->message);
        *r = (LeaseReply) {};
}

static bool text_ok(const char *s, size_t max) {
        size_t n = s ? strnlen(s, max + 1) : 0;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] == 0x7f)
                        return false;
        return true;
}

/* A printable string of 1..max bytes at path.key, copied. */
static int get_text(const json_t *o, const char *path, const char *key, size_t max, bool required, char **ret,
                    char **reterr) {
        const json_t *v = json_object_get(o, key);

        if (!v) {
                if (!required)
                        return 0;
                return error_detail_set(reterr, -EBADMSG, "%s.%s: missing", path, key);
        }
        if (!json_is_string(v) || !text_ok(json_string_value(v), max))
                return error_detail_set(reterr, -EBADMSG, "%s.%s: not a printable string of 1 to %zu bytes", path,
                                        key, max);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* An integer in [min, max] at path.key. */
static int get_uint(const json_t *o, const char *path, const char *key, uint64_t min, uint64_t max, uint64_t *ret,
                    char **reterr) {
        const json_t *v = json_object_get(o, key);

        if (!v)
                return error_detail_set(reterr, -EBADMSG, "%s.%s: missing", path, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t) json_integer_value(v) < min ||
            (uint64_t) json_integer_value(v) > max)
                return error_detail_set(reterr, -EBADMSG, "%s.%s: not an integer from %" PRIu64 " to %" PRIu64,
                                        path, key, min, max);
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

static int get_bool(const json_t *o, const char *path, const char *key, bool *ret, char **reterr) {
        const json_t *v = json_object_get(o, key);

        if (!json_is_boolean(v))
                return error_detail_set(reterr, -EBADMSG, "%s.%s: %s", path, key, v ? "not a boolean" : "missing");
        *ret = json_is_true(v);
        return 0;
}

static int lease_read(const json_t *e, const char *path, LeaseList list, LeaseReplyLease *l, char **reterr) {
        uint64_t gen = 0;
        int r;

        if (!json_is_object(e))
                return error_detail_set(reterr, -EBADMSG, "%s: not an object", path);
        r = get_text(e, path, "machine", COORD_NAME_MAX, true, &l->machine, reterr);
        if (r >= 0)
                r = get_uint(e, path, "token", 1, INT64_MAX, &l->token, reterr);
        if (r >= 0)
                r = get_uint(e, path, "expires_usec", 0, INT64_MAX, &l->expires_usec, reterr);
        if (r < 0)
                return r;
        if (list == LIST_FATE)
                return get_text(e, path, "status", LEASE_REPLY_CODE_MAX, true, &l->status, reterr);
        r = get_uint(e, path, "deadline_usec", 0, INT64_MAX, &l->deadline_usec, reterr);
        if (r >= 0)
                r = get_uint(e, path, "generation", 1, INT32_MAX, &gen, reterr);
        if (r >= 0 && list == LIST_HELD)
                r = get_bool(e, path, "cycled", &l->cycled, reterr);
        if (r < 0)
                return r;
        l->generation = (int) gen;
        if (json_object_get(e, "volume")) {
                const char *v = json_string_value(json_object_get(e, "volume"));
                CoordVolume mode = coord_volume_from_string(v);

                if (mode < 0)
                        return error_detail_set(reterr, -EBADMSG, "%s.volume: not \"create\" or \"existing-or-create\"",
                                                path);
                l->volume_may_exist = mode == COORD_VOLUME_EXISTING_OR_CREATE;
        }
        if (json_object_get(e, "bmc")) {
                if (!json_is_object(json_object_get(e, "bmc")))
                        return error_detail_set(reterr, -EBADMSG, "%s.bmc: not an object", path);
                l->bmc = json_incref(json_object_get(e, "bmc"));
        }
        return 0;
}

/* $.key: an array of lease entries, each machine named once. */
static int list_read(const json_t *doc, const char *key, LeaseList list, LeaseReplyLease **ret, size_t *ret_n,
                     char **reterr) {
        const json_t *a = json_object_get(doc, key), *e;
        LeaseReplyLease *ls;
        size_t i;
        int r;

        if (!json_is_array(a))
                return error_detail_set(reterr, -EBADMSG, "$.%s: %s", key, a ? "not an array" : "missing");
        if (json_array_size(a) > LEASE_REPLY_LEASES_MAX)
                return error_detail_set(reterr, -E2BIG, "$.%s: more than %u leases", key, LEASE_REPLY_LEASES_MAX);
        ls = calloc(json_array_size(a) ?: 1, sizeof(*ls));
        if (!ls)
                return -ENOMEM;
        *ret = ls;
        json_array_foreach(a, i, e) {
                char path[64];

                snprintf(path, sizeof(path), "$.%s[%zu]", key, i);
                r = lease_read(e, path, list, &ls[i], reterr);
                *ret_n = i + 1;
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (streq(ls[k].machine, ls[i].machine))
                                return error_detail_set(reterr, -EBADMSG, "%s.machine: \"%s\" named twice", path,
                                                        ls[i].machine);
        }
        return 0;
}

int lease_reply_from_json(CoordOp op, unsigned status, const json_t *doc, LeaseReply *ret, char **reterr) {
        _cleanup_(lease_reply_clear) LeaseReply q = { .status = status };
        int r;

        if (op < 0 || op >= _COORD_OP_MAX)
                return error_detail_set(reterr, -EINVAL, "op: unknown operation");
        if (!json_is_object(doc))
                return error_detail_set(reterr, -EBADMSG, "$: not a JSON object");
        if (status != 200) {
                r = get_text(doc, "$", "error", LEASE_REPLY_CODE_MAX, true, &q.error, reterr);
                if (r >= 0)
                        r = get_text(doc, "$", "message", LEASE_REPLY_MESSAGE_MAX, false, &q.message, reterr);
                if (r < 0)
                        return r;
                *ret = q;
                q = (LeaseReply) {};
                return 0;
        }
        r = get_bool(doc, "$", "halted", &q.halted, reterr);
        if (r >= 0)
                r = get_uint(doc, "$", "halt_serial", 0, INT64_MAX, &q.halt_serial, reterr);
        if (r >= 0)
                r = get_uint(doc, "$", "heartbeat_usec", 0, INT64_MAX, &q.heartbeat_usec, reterr);
        if (r >= 0 && op == COORD_OP_ACQUIRE)
                r = list_read(doc, "leases", LIST_GRANTED, &q.leases, &q.n_leases, reterr);
        if (r >= 0 && op == COORD_OP_HEARTBEAT)
                r = list_read(doc, "leases", LIST_FATE, &q.leases, &q.n_leases, reterr);
        if (r >= 0 && op == COORD_OP_HEARTBEAT)
                r = list_read(doc, "held", LIST_HELD, &q.held, &q.n_held, reterr);
        if (r < 0)
                return r;
        *ret = q;
        q = (LeaseReply) {};
        return 0;
}

int lease_reply_parse(CoordOp op, unsigned status, const void *data, size_t size, LeaseReply *ret, char **reterr) {
        json_auto_t *doc = NULL;
        json_error_t e;

        if (size > LEASE_REPLY_MAX)
                return error_detail_set(reterr, -E2BIG, "$: a reply of more than %u bytes", LEASE_REPLY_MAX);
        doc = json_loadb(data ? data : "", size, JSON_REJECT_DUPLICATES, &e);
        if (!doc)
                return error_detail_set(reterr, -EBADMSG, "$: not JSON (line %d, column %d)", e.line, e.column);
        return lease_reply_from_json(op, status, doc, ret, reterr);
}
