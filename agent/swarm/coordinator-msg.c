/* Parsing the members' lease requests (see coordinator-msg.h). */
#include "swarm/coordinator-msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/strutil.h"

static const char *const op_names[_COORD_OP_MAX] = {
        [COORD_OP_ACQUIRE] = "acquire", [COORD_OP_HEARTBEAT] = "heartbeat", [COORD_OP_FENCE] = "fence",
        [COORD_OP_REPORT] = "report",   [COORD_OP_RELEASE] = "release",
};

static const struct {
        int r;
        const char *code;
} error_table[] = {
        { -ESTALE, "stale" },           { -ETIME, "expired" },       { -ECANCELED, "halted" },
        { -EALREADY, "already-done" },  { -ENOENT, "unknown-machine" }, { -EPERM, "not-a-member" },
        { -EINVAL, "bad-request" },
};

const char *coord_op_to_string(CoordOp op) {
        return op >= 0 && op < _COORD_OP_MAX ? op_names[op] : NULL;
}

CoordOp coord_op_from_string(const char *s) {
        for (size_t i = 0; s && i < _COORD_OP_MAX; i++)
                if (streq(op_names[i], s))
                        return (CoordOp) i;
        return _COORD_OP_INVALID;
}

const char *coord_error_code(int r) {
        for (size_t i = 0; i < ELEMENTSOF(error_table); i++)
                if (error_table[i].r == r)
                        return error_table[i].code;
        return "internal";
}

int coord_error_from_code(const char *code) {
        for (size_t i = 0; code && i < ELEMENTSOF(error_table); i++)
                if (streq(error_table[i].code, code))
                        return error_table[i].r;
        return -EPROTO;
}

void coord_request_clear(CoordRequest *r) {
        for (size_t i = 0; i < r->n_networks; i++)
                free(r->networks[i]);
        free(r->networks);
        for (size_t i = 0; i < r->n_leases; i++)
                free(r->machines[i]);
        free(r->machines);
        free(r->tokens);
        free(r->machine);
        free(r->event);
        free(r->reason);
        *r = (CoordRequest) {};
}

static int fail(char **reterr, int r, const char *field, const char *what) {
        if (asprintf(reterr, "%s: %s", field, what) < 0)
                *reterr = NULL;
        return r;
}

/* A printable ASCII string of 1..max bytes. */
static int get_text(const json_t *o, const char *field, size_t max, bool required, char **ret, char **reterr) {
        const json_t *v = json_object_get(o, field);
        const char *s;
        size_t n;

        if (!v) {
                if (required)
                        return fail(reterr, -EBADMSG, field, "missing");
                return 0;
        }
        if (!json_is_string(v))
                return fail(reterr, -EBADMSG, field, "not a string");
        s = json_string_value(v);
        n = json_string_length(v);
        if (n == 0 || n > max)
                return fail(reterr, -EBADMSG, field, "empty or too long");
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
                        return fail(reterr, -EBADMSG, field, "not printable ASCII");
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_token(const json_t *o, const char *field, uint64_t *ret, char **reterr) {
        const json_t *v = json_object_get(o, field);

        if (!json_is_integer(v) || json_integer_value(v) < 1)
                return fail(reterr, -EBADMSG, field, "not a positive integer");
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

static int parse_acquire(const json_t *o, CoordRequest *q, char **reterr) {
        const json_t *want = json_object_get(o, "want"), *nets = json_object_get(o, "networks"), *n;
        size_t i;
        int r;

        if (!json_is_integer(want) || json_integer_value(want) < 0 ||
            json_integer_value(want) > COORDINATOR_WANT_MAX)
                return fail(reterr, -EBADMSG, "want", "not an integer in 0..64");
        q->want = (unsigned) json_integer_value(want);
        if (!nets)
                return 0;
        if (!json_is_array(nets))
                return fail(reterr, -EBADMSG, "networks", "not an array");
        if (json_array_size(nets) > COORD_NETWORKS_MAX)
                return fail(reterr, -E2BIG, "networks", "too many");
        q->networks = calloc(json_array_size(nets) ?: 1, sizeof(char *));
        if (!q->networks)
                return -ENOMEM;
        json_array_foreach(nets, i, n) {
                json_auto_t *w = json_pack("{s:O}", "network", n);

                if (!w)
                        return -ENOMEM;
                r = get_text(w, "network", COORD_NAME_MAX, true, &q->networks[i], reterr);
                if (r < 0)
                        return r;
                q->n_networks++;
        }
        return 0;
}

static int parse_heartbeat(const json_t *o, CoordRequest *q, char **reterr) {
        const json_t *leases = json_object_get(o, "leases"), *ack = json_object_get(o, "halt_ack"), *l;
        size_t i, n;
        int r;

        if (!json_is_array(leases))
                return fail(reterr, -EBADMSG, "leases", "not an array");
        n = json_array_size(leases);
        if (n > COORDINATOR_WANT_MAX)
                return fail(reterr, -E2BIG, "leases", "too many");
        if (ack && (!json_is_integer(ack) || json_integer_value(ack) < 0))
                return fail(reterr, -EBADMSG, "halt_ack", "not a non-negative integer");
        q->halt_ack = ack ? (uint64_t) json_integer_value(ack) : 0;
        q->machines = calloc(n ?: 1, sizeof(char *));
        q->tokens = calloc(n ?: 1, sizeof(uint64_t));
        if (!q->machines || !q->tokens)
                return -ENOMEM;
        json_array_foreach(leases, i, l) {
                if (!json_is_object(l))
                        return fail(reterr, -EBADMSG, "leases[]", "not an object");
                r = get_text(l, "machine", COORD_NAME_MAX, true, &q->machines[i], reterr);
                if (r < 0)
                        return r;
                q->n_leases++;
                r = get_token(l, "token", &q->tokens[i], reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

int coord_request_parse(CoordOp op, const char *body, size_t size, CoordRequest *ret, char **reterr) {
        _cleanup_(coord_request_clear) CoordRequest q = { .op = op, .action = _COORD_ACTION_INVALID };
        json_auto_t *o = NULL;
        json_error_t err;
        int r;

        if (size > COORD_BODY_MAX)
                return fail(reterr, -E2BIG, "body", "too large");
        o = json_loadb(body ? body : "", size, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(o))
                return fail(reterr, -EBADMSG, "body", "not a JSON object");
        switch (op) {
        case COORD_OP_ACQUIRE:
                r = parse_acquire(o, &q, reterr);
                break;
        case COORD_OP_HEARTBEAT:
                r = parse_heartbeat(o, &q, reterr);
                break;
        case COORD_OP_FENCE:
        case COORD_OP_REPORT:
        case COORD_OP_RELEASE:
                r = get_text(o, "machine", COORD_NAME_MAX, true, &q.machine, reterr);
                if (r >= 0)
                        r = get_token(o, "token", &q.token, reterr);
                if (r >= 0 && op == COORD_OP_FENCE) {
                        _cleanup_free_ char *a = NULL;

                        r = get_text(o, "action", COORD_EVENT_MAX, true, &a, reterr);
                        if (r >= 0 && (q.action = coord_action_from_string(a)) < 0)
                                r = fail(reterr, -EBADMSG, "action", "unknown action");
                }
                if (r >= 0 && op == COORD_OP_REPORT)
                        r = get_text(o, "event", COORD_EVENT_MAX, true, &q.event, reterr);
                if (r >= 0 && op != COORD_OP_FENCE)
                        r = get_text(o, "reason", COORDINATOR_TEXT_MAX, false, &q.reason, reterr);
                break;
        default:
                return fail(reterr, -EBADMSG, "operation", "unknown");
        }
        if (r < 0)
                return r;
        *ret = q;
        q = (CoordRequest) {};
        return 0;
}
