/* Redfish operations on one BMC: finding the system, power and reset with
 * an AllowableValues fallback order, the one-time boot override (with
 * ETags and the settings object), virtual media, and 202 task monitors.
 * Each operation is a chain of requests on a RedfishClient; BmcClient
 * (bmc.c) runs one at a time. */
#pragma once

#include <systemd/sd-event.h>

#include "bmc/bmc.h"
#include "bmc/quirks.h"
#include "bmc/redfish-client.h"
#include "bmc/redfish-parse.h"

/* What an operation needs about its BMC, and what discovery learnt about it
 * (kept across operations of one client). */
typedef struct RedfishTarget {
        sd_event *event;
        RedfishClient *rc;
        const BmcMachine *m;
        BmcOptions opts; /* defaults filled in */
        bool discovered;
        RedfishRoot root;
        const RedfishQuirks *quirks;
        char *system;     /* the chosen ComputerSystem */
        char *matched_by;
} RedfishTarget;

void redfish_target_done(RedfishTarget *t);

typedef struct RedfishOp RedfishOp;

/* `error` is the full message ("NAME (ENDPOINT): OP: ..."), NULL on
 * success; `res` may be taken apart (its strings stolen) by the callee.
 * Runs from a deferred event source, never inside redfish_op_start(); the
 * op is freed right after. */
typedef void (*RedfishOpDoneFn)(int r, BmcResult *res, const char *error, void *userdata);

int redfish_op_start(RedfishTarget *t, BmcOp op, const char *url, RedfishOpDoneFn done, void *userdata,
                     RedfishOp **ret);
/* Stops an operation (its callback never runs). Accepts NULL. */
void redfish_op_cancel(RedfishOp *op);
