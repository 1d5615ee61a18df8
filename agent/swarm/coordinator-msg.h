/* The members' lease API on the wire: what a member sends the coordinator
 * (POST /v1/members/leases/OP over mutual TLS, or a direct call on the seed)
 * and the reply. The parser is pure and fuzzed: the body comes from the
 * network. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "swarm/coordinator.h"

#define COORD_PATH_PREFIX "/v1/members/leases/"
#define COORD_BODY_MAX (64u * 1024u)
#define COORD_NAME_MAX 63u      /* a spec name is a DNS label */
#define COORD_NETWORKS_MAX 64u  /* the spec's limit */
#define COORD_EVENT_MAX 32u

typedef enum CoordOp {
        COORD_OP_ACQUIRE,   /* {"want": N, "networks": [NAME...]} */
        COORD_OP_HEARTBEAT, /* {"leases": [{"machine", "token"}...], "halt_ack": N} */
        COORD_OP_FENCE,     /* {"machine", "token", "action"} */
        COORD_OP_REPORT,    /* {"machine", "token", "event", "reason"?} */
        COORD_OP_RELEASE,   /* {"machine", "token", "reason"?} */
        _COORD_OP_MAX,
        _COORD_OP_INVALID = -EINVAL,
} CoordOp;

const char *coord_op_to_string(CoordOp op);
CoordOp coord_op_from_string(const char *s);

typedef struct CoordRequest {
        CoordOp op;
        unsigned want;
        char **networks;
        size_t n_networks;
        char **machines; /* heartbeat */
        uint64_t *tokens;
        size_t n_leases;
        uint64_t halt_ack;
        char *machine; /* fence, report, release */
        uint64_t token;
        CoordAction action;
        char *event, *reason;
} CoordRequest;

/* Parses the body of `op`. -EBADMSG with *reterr (naming the field) for
 * anything malformed, -E2BIG over the caps, -ENOMEM. */
int coord_request_parse(CoordOp op, const char *body, size_t size, CoordRequest *ret, char **reterr);
void coord_request_clear(CoordRequest *r);

/* The wire code of a coordinator error (-ESTALE "stale", -ETIME "expired",
 * -ECANCELED "halted", -EALREADY "already-done", -ENOENT "unknown-machine",
 * -EPERM "not-a-member") and back (-EPROTO for an unknown code). */
const char *coord_error_code(int r);
int coord_error_from_code(const char *code);
