/* Fuzz target for lease_reply_parse() (agent/swarm/lease-reply.c): the
 * coordinator's replies to a member's lease calls, which come over the
 * network from whatever answers at the sponsor's address. The first input
 * byte picks the operation (modulo the operations) and whether the reply is
 * an error (odd: HTTP 409); the rest is the body. Beyond not crashing or
 * leaking: a refusal is -EBADMSG or -E2BIG with a printable "field: what"
 * detail and hands nothing out; an accepted reply is within the caps the
 * provisioner relies on (list sizes, printable unique machine names,
 * tokens >= 1, generations >= 1, a status on every heartbeat lease). Seeds
 * in tests/fuzz/fuzz-provisioner-reply/, named <op>-<case>. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "swarm/lease-reply.h"

static bool printable(const char *s, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] == 0x7f)
                        return false;
        return true;
}

static void check_list(const LeaseReplyLease *ls, size_t n, bool fate, bool granted) {
        if (n > LEASE_REPLY_LEASES_MAX || (n && !ls))
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!printable(ls[i].machine, COORD_NAME_MAX) || ls[i].token < 1)
                        abort();
                if (fate != (ls[i].status != NULL) || (fate && !printable(ls[i].status, LEASE_REPLY_CODE_MAX)))
                        abort();
                if (granted && (ls[i].generation < 1 || (ls[i].bmc && !json_is_object(ls[i].bmc))))
                        abort();
                for (size_t k = 0; k < i; k++)
                        if (strcmp(ls[k].machine, ls[i].machine) == 0)
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL;
        CoordOp op;
        unsigned status;
        int ret;

        if (size < 1)
                return 0;
        op = (CoordOp) ((data[0] >> 1) % _COORD_OP_MAX);
        status = data[0] & 1 ? 409 : 200;
        ret = lease_reply_parse(op, status, data + 1, size - 1, &r, &err);
        if (ret == -ENOMEM)
                return 0;
        if (ret < 0) {
                if ((ret != -EBADMSG && ret != -E2BIG) || !printable(err, 2048) || !strchr(err, ':'))
                        abort();
                if (r.leases || r.held || r.n_leases || r.n_held || r.error || r.message)
                        abort();
                return 0;
        }
        if (ret != 0 || err || r.status != status)
                abort();
        if (status != 200) {
                if (!printable(r.error, LEASE_REPLY_CODE_MAX) || r.leases || r.held)
                        abort();
                return 0;
        }
        if (r.error || r.message)
                abort();
        check_list(r.leases, r.n_leases, op == COORD_OP_HEARTBEAT, op == COORD_OP_ACQUIRE);
        check_list(r.held, r.n_held, false, true);
        if ((op != COORD_OP_ACQUIRE && op != COORD_OP_HEARTBEAT && r.n_leases) ||
            (op != COORD_OP_HEARTBEAT && r.n_held))
                abort();
        return 0;
}
