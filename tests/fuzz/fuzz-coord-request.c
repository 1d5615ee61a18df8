/* Fuzz target for coord_request_parse() (agent/swarm/coordinator-msg.c):
 * the body of every members' lease request (POST /v1/members/leases/OP),
 * which any holder of a member certificate sends the coordinator. The
 * first input byte picks the operation (modulo, one past the last is an
 * unknown one); the rest is the body. Beyond not crashing or leaking: a
 * refusal is -EBADMSG or -E2BIG with a printable "field: what" detail and
 * leaves the request untouched; an accepted request is within the caps the
 * coordinator relies on (want and lease counts, printable names and event
 * texts, tokens >= 1, a known action), and, written back as JSON, parses
 * to the same request. Seeds in tests/fuzz/fuzz-coord-request/, named
 * <op>-<case>, start with the digit of their operation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "swarm/coordinator-msg.h"

static bool printable(const char *s, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
                        return false;
        return true;
}

static void check_accepted(CoordOp op, const CoordRequest *q) {
        if (q->op != op)
                abort();
        switch (op) {
        case COORD_OP_ACQUIRE:
                if (q->want > COORDINATOR_WANT_MAX || q->n_networks > COORD_NETWORKS_MAX ||
                    (q->n_networks && !q->networks))
                        abort();
                for (size_t i = 0; i < q->n_networks; i++)
                        if (!printable(q->networks[i], COORD_NAME_MAX))
                                abort();
                if (q->machine || q->n_leases || q->event || q->reason)
                        abort();
                break;
        case COORD_OP_HEARTBEAT:
                if (q->n_leases > COORDINATOR_WANT_MAX || !q->machines || !q->tokens)
                        abort();
                for (size_t i = 0; i < q->n_leases; i++)
                        if (!printable(q->machines[i], COORD_NAME_MAX) || q->tokens[i] < 1)
                                abort();
                if (q->machine || q->n_networks || q->event || q->reason)
                        abort();
                break;
        case COORD_OP_FENCE:
        case COORD_OP_REPORT:
        case COORD_OP_RELEASE:
                if (!printable(q->machine, COORD_NAME_MAX) || q->token < 1 || q->n_leases || q->n_networks)
                        abort();
                if ((op == COORD_OP_FENCE) != (q->action >= 0 && q->action < _COORD_ACTION_MAX) ||
                    (op == COORD_OP_FENCE && !coord_action_to_string(q->action)))
                        abort();
                if ((op == COORD_OP_REPORT) != (q->event != NULL) ||
                    (q->event && !printable(q->event, COORD_EVENT_MAX)))
                        abort();
                if (q->reason && (op == COORD_OP_FENCE || !printable(q->reason, COORDINATOR_TEXT_MAX)))
                        abort();
                break;
        default:
                abort(); /* an unknown operation is never accepted */
        }
}

/* The request as a member would send it. NULL on OOM. */
static json_t *request_to_json(const CoordRequest *q) {
        json_auto_t *o = json_object(), *a = NULL;

        if (!o)
                return NULL;
        switch (q->op) {
        case COORD_OP_ACQUIRE:
                if (json_object_set_new(o, "want", json_integer(q->want)) < 0)
                        return NULL;
                if (q->networks) {
                        a = json_array();
                        for (size_t i = 0; a && i < q->n_networks; i++)
                                if (json_array_append_new(a, json_string(q->networks[i])) < 0)
                                        return NULL;
                        if (!a || json_object_set(o, "networks", a) < 0)
                                return NULL;
                }
                break;
        case COORD_OP_HEARTBEAT:
                a = json_array();
                for (size_t i = 0; a && i < q->n_leases; i++)
                        if (json_array_append_new(a, json_pack("{s:s, s:I}", "machine", q->machines[i], "token",
                                                               (json_int_t) q->tokens[i])) < 0)
                                return NULL;
                if (!a || json_object_set(o, "leases", a) < 0 ||
                    json_object_set_new(o, "halt_ack", json_integer((json_int_t) q->halt_ack)) < 0)
                        return NULL;
                break;
        default:
                if (json_object_set_new(o, "machine", json_string(q->machine)) < 0 ||
                    json_object_set_new(o, "token", json_integer((json_int_t) q->token)) < 0)
                        return NULL;
                if (q->op == COORD_OP_FENCE &&
                    json_object_set_new(o, "action", json_string(coord_action_to_string(q->action))) < 0)
                        return NULL;
                if (q->event && json_object_set_new(o, "event", json_string(q->event)) < 0)
                        return NULL;
                if (q->reason && json_object_set_new(o, "reason", json_string(q->reason)) < 0)
                        return NULL;
        }
        return take_ptr(o);
}

static bool same_strv(char **a, char **b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

static bool same_str(const char *a, const char *b) {
        return a && b ? strcmp(a, b) == 0 : a == b;
}

static void check_round_trip(const CoordRequest *q) {
        _cleanup_(coord_request_clear) CoordRequest back = {};
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_auto_t *doc = request_to_json(q);
        int r;

        if (!doc || !(text = json_dumps(doc, JSON_COMPACT)))
                return; /* OOM */
        r = coord_request_parse(q->op, text, strlen(text), &back, &err);
        if (r == -ENOMEM)
                return;
        if (r < 0 || back.op != q->op || back.want != q->want || back.n_networks != q->n_networks ||
            back.n_leases != q->n_leases || back.halt_ack != q->halt_ack || back.token != q->token ||
            back.action != q->action || !same_str(back.machine, q->machine) || !same_str(back.event, q->event) ||
            !same_str(back.reason, q->reason) || !same_strv(back.networks, q->networks, q->n_networks) ||
            !same_strv(back.machines, q->machines, q->n_leases) ||
            (q->n_leases && memcmp(back.tokens, q->tokens, q->n_leases * sizeof(uint64_t)) != 0))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(coord_request_clear) CoordRequest q = {};
        _cleanup_free_ char *err = NULL;
        CoordOp op;
        int r;

        if (size < 1)
                return 0;
        op = (CoordOp) (data[0] % (_COORD_OP_MAX + 1));
        r = coord_request_parse(op, (const char *) data + 1, size - 1, &q, &err);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                /* refused: a named field, nothing handed out */
                if ((r != -EBADMSG && r != -E2BIG) || !printable(err, 1024) || !strchr(err, ':'))
                        abort();
                if (q.machine || q.networks || q.machines || q.tokens || q.event || q.reason || q.n_leases ||
                    q.n_networks)
                        abort();
                return 0;
        }
        if (r != 0 || err)
                abort();
        check_accepted(op, &q);
        check_round_trip(&q);
        return 0;
}
