/* bmc: driving neighbours' BMCs over Redfish. A BmcClient talks to one BMC
 * listed in the spec's inventory, asynchronously on an sd-event loop with
 * the agent's CurlEvent, so a member drives many BMCs at once; bmc_run()
 * is the blocking form for the CLI (its own loop, as unseal_decrypt).
 *
 * Every request passes containment (containment.c): it may only go to a
 * BMC endpoint listed in the inventory, and never follows a redirect or a
 * Location to another host. Errors name the machine, its endpoint and the
 * operation: "r1-ctl1 (https://192.0.2.102): power cycle: 409 Conflict: ...". */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core/curl-event.h"
#include "core/spec.h"

/* Defaults for BmcOptions fields left 0. */
#define BMC_REQUEST_TIMEOUT_USEC (20u * 1000000u) /* one HTTP request, connect included */
#define BMC_RETRIES 3u                            /* retries after the first attempt */
#define BMC_BACKOFF_USEC (500u * 1000u)           /* first retry delay; doubles each time */
#define BMC_POLL_USEC (1000u * 1000u)             /* PowerState and task monitor polling */
#define BMC_SETTLE_USEC (60u * 1000000u)          /* PowerState to reach on/off */
#define BMC_TASK_TIMEOUT_USEC (600u * 1000000u)   /* a 202 task to finish */

typedef enum BmcTlsMode {
        BMC_TLS_SYSTEM,      /* the system's CA store, host name checked */
        BMC_TLS_CA,          /* only ca_file, host name checked */
        BMC_TLS_FINGERPRINT, /* exactly the certificate whose SHA-256 is pinned */
        BMC_TLS_INSECURE,    /* no verification (logged at warning) */
        _BMC_TLS_MODE_MAX,
        _BMC_TLS_MODE_INVALID = -EINVAL,
} BmcTlsMode;

typedef struct BmcTls {
        BmcTlsMode mode;
        char *ca_file;
        uint8_t fingerprint[32]; /* SHA-256 of the DER certificate */
} BmcTls;

/* One inventory entry, as the client needs it. */
typedef struct BmcMachine {
        char *name;
        char *endpoint;        /* as written in the spec */
        char *origin;          /* normalised: scheme://host:port */
        char *username;        /* NULL: the credential is USER:PASSWORD */
        char *credential_file; /* exactly one of these two */
        char *credential_name; /* a systemd credential in $CREDENTIALS_DIRECTORY */
        BmcTls tls;
        char *system_id, *serial, *uuid, *vendor_hint; /* NULL when not given */
        char **macs; /* normalised aa:bb:cc:dd:ee:ff */
        size_t n_macs;
} BmcMachine;

typedef enum BmcOp BmcOp;

/* Consulted before every operation except a status read, for every client
 * of the inventory: a member's stratad installs its lease check here, so no
 * caller can act on a machine the member holds no live lease for. 0 allows;
 * a negative errno refuses and is what bmc_client_start() returns. */
typedef int (*BmcGuardFn)(const char *machine, BmcOp op, void *userdata);

typedef struct BmcInventory {
        BmcMachine *machines;
        size_t n_machines;
        BmcGuardFn guard;    /* NULL: the operator's CLI, which acts by hand */
        void *guard_userdata;
} BmcInventory;

/* Builds the inventory from a (valid) spec. Refuses -EINVAL, with
 * *reterr, an endpoint that does not normalise and two machines sharing an
 * endpoint with different tls settings (they would share connections). */
int bmc_inventory_from_spec(const Spec *spec, BmcInventory **ret, char **reterr);
BmcInventory *bmc_inventory_free(BmcInventory *inv);
const BmcMachine *bmc_inventory_find(const BmcInventory *inv, const char *name);
static inline void bmc_inventory_freep(BmcInventory **p) {
        bmc_inventory_free(*p);
}

enum BmcOp {
        BMC_OP_STATUS,
        BMC_OP_POWER_ON,
        BMC_OP_POWER_OFF,
        BMC_OP_POWER_CYCLE,     /* PowerCycle, else ForceRestart, else ForceOff then On; On when off */
        BMC_OP_PXE_ONCE,        /* Boot: Once + Pxe (+ UEFI mode) */
        BMC_OP_HTTP_BOOT_ONCE,  /* Boot: Once + UefiHttp + HttpBootUri (+ UEFI mode) */
        BMC_OP_BOOT_NOW,        /* boot into the override: ForceRestart when on, else On */
        BMC_OP_INSERT_MEDIA,    /* a CD/DVD slot: Image = URL */
        BMC_OP_EJECT_MEDIA,     /* every inserted CD/DVD slot */
        _BMC_OP_MAX,
        _BMC_OP_INVALID = -EINVAL,
};

/* "power cycle", "pxe-once", ... (for messages). */
const char *bmc_op_to_string(BmcOp op);
/* Does `op` take a URL? */
bool bmc_op_needs_url(BmcOp op);

typedef struct BmcOptions {
        uint64_t request_timeout_usec;
        unsigned retries;
        uint64_t backoff_usec;
        uint64_t poll_usec;
        uint64_t settle_usec;
        uint64_t task_timeout_usec;
} BmcOptions;

/* What the BMC reported at the end of an operation; NULL when unknown. */
typedef struct BmcStatus {
        char *system;     /* the ComputerSystem's @odata.id */
        char *matched_by; /* system_id, serial, uuid, mac, only system */
        char *vendor, *product, *redfish_version; /* service root */
        char *quirks;     /* the quirk row's name */
        char *auth;       /* session, basic */
        char *manufacturer, *model, *serial, *uuid, *power_state;
        char *boot_enabled, *boot_target, *boot_mode, *http_boot_uri;
        bool boot_pending; /* written to @Redfish.Settings: applies at the next reset */
        char *media_slot, *media_image;
        bool media_inserted;
} BmcStatus;

typedef struct BmcResult {
        BmcOp op;
        char *summary; /* what was done: "PowerCycle accepted (204)", "already On" */
        BmcStatus status;
} BmcResult;

void bmc_result_done(BmcResult *r);

typedef struct BmcClient BmcClient;

/* `error` (NULL on success) is the full message, naming machine, endpoint
 * and operation. `res` is valid during the call only. Runs from the event
 * loop, never from inside bmc_client_start(); the client may be freed in
 * it. */
typedef void (*BmcDoneFn)(BmcClient *c, int r, const BmcResult *res, const char *error, void *userdata);
typedef void (*BmcCloseFn)(BmcClient *c, int r, void *userdata);

/* A client for inventory machine `machine`: reads its credential now
 * (credentials.c); `inv` and `event`/`ce` must outlive it. -ENOENT for a
 * machine not in the inventory; credential errors as bmc_credential_read().
 * `o` may be NULL (defaults). A `tls.mode` of insecure is logged here at
 * warning, naming the BMC. */
int bmc_client_new(sd_event *event, CurlEvent *ce, const BmcInventory *inv, const char *machine,
                   const BmcOptions *o, BmcClient **ret, char **reterr);
/* Starts `op` (one at a time per client: -EBUSY otherwise). `url` is for
 * the ops that take one (-EINVAL if missing or not http(s)). The
 * inventory's guard, when set, is asked first and its refusal returned. */
int bmc_client_start(BmcClient *c, BmcOp op, const char *url, BmcDoneFn done, void *userdata);
/* Ends the session (DELETE of its Location) if there is one; `done` runs
 * from the loop either way. */
int bmc_client_close(BmcClient *c, BmcCloseFn done, void *userdata);
/* Cancels whatever runs (no callbacks), wipes token and password. The
 * session is not deleted: use bmc_client_close() first. */
BmcClient *bmc_client_free(BmcClient *c);
const BmcMachine *bmc_client_machine(const BmcClient *c);
static inline void bmc_client_freep(BmcClient **p) {
        bmc_client_free(*p);
}

/* One machine's outcome of bmc_run(). */
typedef struct BmcOutcome {
        const char *machine; /* borrowed from the caller's list */
        int r;
        char *error; /* NULL on success */
        BmcResult result;
} BmcOutcome;

/* Runs `op` on each of `machines` concurrently on a private loop, closes
 * every session, and fills `ret[i]` for machines[i]. Returns 0 (look at
 * each outcome), or a negative errno if the loop could not run. */
int bmc_run(const BmcInventory *inv, const char *const *machines, size_t n, BmcOp op, const char *url,
            const BmcOptions *o, BmcOutcome *ret);
void bmc_outcome_done(BmcOutcome *o);

/* The outcome as JSON, for `strata bmc ... --json` (new reference). */
json_t *bmc_outcome_to_json(const BmcInventory *inv, const BmcOutcome *o);
