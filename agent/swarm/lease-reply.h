/* lease-reply: a member's reading of the coordinator's replies to the lease
 * API (coordinator-msg.h has the requests). The reply comes over the network
 * from whatever answers at the sponsor's address, so the provisioner acts
 * only on what this pure parser accepted: every field typed and bounded,
 * machine names printable and unique per list, tokens >= 1. Fuzzed
 * (tests/fuzz/fuzz-provisioner-reply.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swarm/coordinator-msg.h"

#define LEASE_REPLY_MAX (1024u * 1024u)  /* the body; BMC entries make acquire replies the largest */
#define LEASE_REPLY_LEASES_MAX 256u      /* per list: a member holds at most the fan-out (<= 64) */
#define LEASE_REPLY_CODE_MAX 32u         /* an error or lease status code */
#define LEASE_REPLY_MESSAGE_MAX 1024u

typedef struct LeaseReplyLease {
        char *machine;
        uint64_t token;
        uint64_t expires_usec;   /* 0 when the status is not "ok" */
        uint64_t deadline_usec;  /* acquire and held */
        int generation;          /* acquire and held */
        bool cycled;             /* held: the power cycle was fenced already */
        char *status;            /* heartbeat leases: "ok", "done" or an error code */
        json_t *bmc;             /* acquire and held: the BMC handed over, or NULL (a new reference) */
        bool volume_may_exist;   /* acquire and held: "volume": "existing-or-create" (absent or
                                  * "create": false, as coordinators before it meant) */
} LeaseReplyLease;

typedef struct LeaseReply {
        unsigned status;         /* the HTTP status it came with */
        char *error, *message;   /* status != 200: the error code (coord_error_code()) and its text */
        bool halted;
        uint64_t halt_serial, heartbeat_usec;
        LeaseReplyLease *leases; /* acquire: granted; heartbeat: the fate of each lease named */
        size_t n_leases;
        LeaseReplyLease *held;   /* heartbeat: every lease the coordinator says this member holds */
        size_t n_held;
} LeaseReply;

/* Reads the reply to `op` that came with HTTP `status`: `doc` as parsed, or
 * `size` bytes of JSON (lease_reply_parse). -EBADMSG with *reterr naming the
 * field ("$.leases[2].token: not an integer >= 1"), -E2BIG over the caps,
 * -ENOMEM. On failure *ret is left empty. */
int lease_reply_from_json(CoordOp op, unsigned status, const json_t *doc, LeaseReply *ret, char **reterr);
int lease_reply_parse(CoordOp op, unsigned status, const void *data, size_t size, LeaseReply *ret, char **reterr);
void lease_reply_clear(LeaseReply *r);
