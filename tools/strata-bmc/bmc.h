/* strata-bmc: a Redfish BMC emulator for tests and the virtual lab. This
 * header owns the types every file of the emulator shares: limits, the
 * Redfish enums, the personality table, the per-machine state machine, the
 * request parsers, and the Bmc (the one object main builds and every
 * handler gets). Exported names start with their file's noun (personality_,
 * machine_, message_, auth_, task_, render_, media_, qmp_, backend_) or,
 * for the rest, with emu_: agent/bmc (the Redfish client, linked from the
 * same libstrata) owns the bmc_ prefix. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "core/http-server.h"
#include "core/secret.h"

/* Limits: every input has one. */
#define BMC_MACHINES_MAX 64u          /* one bit each in an auth mask */
#define BMC_ID_MAX 64u                /* machine, slot, session, task ids, with NUL */
#define BMC_NAME_MAX 128u
#define BMC_SERIAL_MAX 64u
#define BMC_UUID_LEN 36u
#define BMC_MACS_MAX 8u
#define BMC_MAC_LEN 17u
#define BMC_BODY_MAX (16u * 1024u)    /* request bodies: 413 beyond */
#define BMC_CONFIG_MAX (1024u * 1024u)
#define BMC_SESSIONS_MAX 16u          /* 503 SessionLimitExceeded beyond */
#define BMC_SESSION_TIMEOUT_DEFAULT_S 300u
#define BMC_SESSION_TIMEOUT_MAX_S 86400u
#define BMC_TASKS_MAX 32u             /* 503 when all are running */
#define BMC_TASK_MS_DEFAULT 500u
#define BMC_TASK_MS_MAX 60000u
#define BMC_HISTORY_MAX 128u          /* ring; Seq keeps counting */
#define BMC_HISTORY_DETAIL_MAX 256u
#define BMC_IMAGE_MAX 1024u
#define BMC_URI_MAX 1024u
#define BMC_USERNAME_MAX 64u
#define BMC_PASSWORD_MAX 256u
#define BMC_FAULTS_MAX 16u
#define BMC_HANG_MS_MAX HTTP_RESPONSE_DELAY_MAX_MS
#define BMC_PATH_SEGMENTS_MAX 10u
#define BMC_MEDIA_SLOTS_MAX 2u
#define BMC_MESSAGE_ARGS_MAX 3u
#define BMC_MESSAGE_ARG_MAX 128u
#define BMC_TOKEN_BYTES 32u

/* ---- Redfish enums (Resource and ComputerSystem schemas) ---- */

typedef enum BmcPower {
        BMC_POWER_OFF,
        BMC_POWER_ON,
        _BMC_POWER_MAX,
        _BMC_POWER_INVALID = -EINVAL,
} BmcPower;

typedef enum BmcResetType {
        BMC_RESET_ON,
        BMC_RESET_FORCE_OFF,
        BMC_RESET_GRACEFUL_SHUTDOWN,
        BMC_RESET_GRACEFUL_RESTART,
        BMC_RESET_FORCE_RESTART,
        BMC_RESET_NMI,
        BMC_RESET_FORCE_ON,
        BMC_RESET_PUSH_POWER_BUTTON,
        BMC_RESET_POWER_CYCLE,
        _BMC_RESET_MAX,
        _BMC_RESET_INVALID = -EINVAL,
} BmcResetType;

typedef enum BmcBootEnabled {
        BMC_BOOT_DISABLED,
        BMC_BOOT_ONCE,
        BMC_BOOT_CONTINUOUS,
        _BMC_BOOT_ENABLED_MAX,
        _BMC_BOOT_ENABLED_INVALID = -EINVAL,
} BmcBootEnabled;

typedef enum BmcBootTarget {
        BMC_TARGET_NONE,
        BMC_TARGET_PXE,
        BMC_TARGET_CD,
        BMC_TARGET_USB_CD, /* Supermicro's own value, not in the DMTF enum */
        BMC_TARGET_USB,
        BMC_TARGET_HDD,
        BMC_TARGET_BIOS_SETUP,
        BMC_TARGET_UEFI_SHELL,
        BMC_TARGET_UEFI_HTTP,
        _BMC_TARGET_MAX,
        _BMC_TARGET_INVALID = -EINVAL,
} BmcBootTarget;

typedef enum BmcBootMode {
        BMC_MODE_UEFI,
        BMC_MODE_LEGACY,
        _BMC_MODE_MAX,
        _BMC_MODE_INVALID = -EINVAL,
} BmcBootMode;

const char *emu_power_to_string(BmcPower p);
const char *emu_reset_to_string(BmcResetType t);
BmcResetType emu_reset_from_string(const char *s);
const char *emu_enabled_to_string(BmcBootEnabled e);
BmcBootEnabled emu_enabled_from_string(const char *s);
const char *emu_target_to_string(BmcBootTarget t);
BmcBootTarget emu_target_from_string(const char *s);
const char *emu_mode_to_string(BmcBootMode m);
BmcBootMode emu_mode_from_string(const char *s);

/* ---- Redfish messages (message.c) ---- */

typedef enum BmcMessage {
        BMC_MSG_SUCCESS,
        BMC_MSG_CREATED,
        BMC_MSG_GENERAL_ERROR,
        BMC_MSG_MALFORMED_JSON,
        BMC_MSG_EMPTY_JSON,
        BMC_MSG_PROPERTY_UNKNOWN,
        BMC_MSG_PROPERTY_NOT_WRITABLE,
        BMC_MSG_PROPERTY_MISSING,
        BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST,
        BMC_MSG_PROPERTY_VALUE_TYPE_ERROR,
        BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR,
        BMC_MSG_ACTION_PARAMETER_MISSING,
        BMC_MSG_ACTION_PARAMETER_UNKNOWN,
        BMC_MSG_ACTION_PARAMETER_NOT_SUPPORTED,
        BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST,
        BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR,
        BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR,
        BMC_MSG_RESOURCE_MISSING_AT_URI,
        BMC_MSG_OPERATION_NOT_ALLOWED,
        BMC_MSG_NO_VALID_SESSION,
        BMC_MSG_INSUFFICIENT_PRIVILEGE,
        BMC_MSG_PRECONDITION_FAILED,
        BMC_MSG_PRECONDITION_REQUIRED,
        BMC_MSG_RESOURCE_IN_USE,
        BMC_MSG_HEADER_MISSING,
        BMC_MSG_INTERNAL_ERROR,
        BMC_MSG_SERVICE_TEMPORARILY_UNAVAILABLE,
        BMC_MSG_SESSION_LIMIT_EXCEEDED,
        _BMC_MSG_MAX,
        _BMC_MSG_INVALID = -EINVAL,
} BmcMessage;

/* What a refusal says: the HTTP status, the registry message and its
 * arguments (which may be client-supplied: escaped by jansson, cut at
 * BMC_MESSAGE_ARG_MAX). `message_id` overrides the registry id (a vendor
 * registry such as Ami.1.0.PreconditionHeaderMissing). */
typedef struct BmcError {
        unsigned status;
        BmcMessage message;
        const char *message_id;
        char args[BMC_MESSAGE_ARGS_MAX][BMC_MESSAGE_ARG_MAX];
        size_t n_args;
} BmcError;

/* Fills `e` (status from the registry's default unless `status` is
 * non-zero); returns -EINVAL so parsers can `return message_set(...)`. */
int message_set(BmcError *e, unsigned status, BmcMessage m, const char *arg1, const char *arg2,
                const char *arg3);
/* "Base.1.16.MalformedJSON" */
const char *message_id(BmcMessage m);
unsigned message_status(BmcMessage m);
/* The Redfish error object {"error":{"code","message","@Message.ExtendedInfo"}};
 * NULL on OOM. */
json_t *message_error_json(const BmcError *e);
/* One Message object, for ExtendedInfo and Task.Messages. */
json_t *message_json(BmcMessage m, const char *arg1);

/* ---- personalities (personality.c) ---- */

typedef enum PersonalityFlag {
        PERS_NO_SESSIONS = 1u << 0,            /* no SessionService: basic auth only */
        PERS_ETAG_REQUIRED = 1u << 1,          /* PATCH without If-Match: 428 */
        PERS_ETAG_WEAK = 1u << 2,              /* serves W/"n", and If-Match W/"n" fails with 412 */
        PERS_IF_MATCH_REFUSED = 1u << 3,       /* any If-Match but "*": 412 */
        PERS_BOOT_SETTINGS = 1u << 4,          /* Boot read-only on the system; PATCH .../Settings */
        PERS_BOOT_MODE_READONLY = 1u << 5,     /* a PATCH naming BootSourceOverrideMode: 400 */
        PERS_BOOT_FULL_TRIPLE = 1u << 6,       /* Boot PATCH must carry mode, enabled and target */
        PERS_BOOT_ENABLED_REQUIRED = 1u << 7,  /* Boot PATCH must carry BootSourceOverrideEnabled */
        PERS_BOOT_MODE_REVERTS = 1u << 8,      /* Boot PATCH without mode resets it to the default */
        PERS_NO_CONTINUOUS = 1u << 9,          /* BootSourceOverrideEnabled Continuous: 400 */
        PERS_MEDIA_ON_SYSTEM = 1u << 10,       /* VirtualMedia under Systems/{id}, not Managers/{id} */
        PERS_MEDIA_TASK = 1u << 11,            /* InsertMedia: 202 + task monitor */
        PERS_MEDIA_STRICT_FIELDS = 1u << 12,   /* InsertMedia with Inserted/WriteProtected: 400 */
        PERS_MEDIA_PATCH_NEEDS_INSERTED = 1u << 13, /* slot PATCH without Inserted: 400 */
        PERS_EJECT_NEEDS_BODY = 1u << 14,      /* EjectMedia without a JSON body: 415 */
} PersonalityFlag;

typedef struct PersonalitySlot {
        const char *id;          /* NULL: unused */
        const char *media_types; /* comma-separated MediaTypes */
        bool no_actions;         /* no InsertMedia/EjectMedia: POST answers 405 */
} PersonalitySlot;

typedef struct Personality {
        const char *name;
        const char *vendor, *product;         /* service root */
        const char *manufacturer, *model;     /* ComputerSystem */
        const char *manager_model;
        uint32_t reset_types;                 /* bit (1u << BmcResetType) */
        uint32_t boot_targets;                /* bit (1u << BmcBootTarget) */
        BmcBootMode default_mode;
        const char *precondition_message_id;  /* for 428; NULL: Base PreconditionRequired */
        unsigned flags;                       /* PersonalityFlag */
        PersonalitySlot slots[BMC_MEDIA_SLOTS_MAX];
} Personality;

extern const Personality personality_table[];
extern const size_t personality_table_size;
const Personality *personality_find(const char *name);
bool personality_allows_reset(const Personality *p, BmcResetType t);
bool personality_allows_target(const Personality *p, BmcBootTarget t);
size_t personality_n_slots(const Personality *p);
/* index of slot `id`, or -ENOENT */
int personality_slot_find(const Personality *p, const char *id);

/* ---- the per-machine state machine (machine.c) ---- */

typedef struct BmcBoot {
        BmcBootEnabled enabled;
        BmcBootTarget target;
        BmcBootMode mode;
        char http_uri[BMC_URI_MAX];
} BmcBoot;

typedef struct BmcMedia {
        char image[BMC_IMAGE_MAX];
        bool inserted;
        bool write_protected;
} BmcMedia;

typedef enum BmcEventKind {
        BMC_EVENT_POWER_ON,
        BMC_EVENT_POWER_OFF,
        BMC_EVENT_RESET,
        BMC_EVENT_BOOT,
        BMC_EVENT_NMI,
        BMC_EVENT_SHUTDOWN_REQUESTED,
        BMC_EVENT_BOOT_OVERRIDE_SET,
        BMC_EVENT_SETTINGS_PENDING,
        BMC_EVENT_SETTINGS_APPLIED,
        BMC_EVENT_MEDIA_INSERTED,
        BMC_EVENT_MEDIA_EJECTED,
        BMC_EVENT_FAULT,
        _BMC_EVENT_MAX,
        _BMC_EVENT_INVALID = -EINVAL,
} BmcEventKind;

typedef struct BmcEvent {
        uint64_t seq;
        BmcEventKind kind;
        BmcBootTarget source; /* Boot events: where it booted; else NONE */
        char detail[BMC_HISTORY_DETAIL_MAX];
} BmcEvent;

typedef struct MachineState {
        BmcPower power;
        BmcBoot boot;
        BmcBoot pending;           /* the @Redfish.Settings object, applied at reset */
        bool has_pending;
        BmcMedia media[BMC_MEDIA_SLOTS_MAX];
        uint64_t generation;       /* the ETag; bumped by every change */
        unsigned boot_count;
        BmcBootTarget last_boot;   /* where the last boot went: Hdd when no override */
        BmcEvent history[BMC_HISTORY_MAX]; /* ring */
        uint64_t next_seq;         /* events recorded so far */
} MachineState;

/* What the back end does for a reset type in a power state. */
typedef enum BmcPowerAction {
        BMC_ACTION_POWER_ON,  /* off -> on, boots */
        BMC_ACTION_POWER_OFF, /* on -> off at once */
        BMC_ACTION_SHUTDOWN,  /* ask the OS (ACPI); memory: off at once */
        BMC_ACTION_RESTART,   /* on -> on through a reset, boots */
        BMC_ACTION_CYCLE,     /* on -> off -> on, boots */
        BMC_ACTION_NMI,
        _BMC_ACTION_MAX,
        _BMC_ACTION_INVALID = -EINVAL,
} BmcPowerAction;

typedef struct BmcResetPlan {
        BmcResetType type;
        BmcPowerAction action;
        BmcPower to;
        bool boots;
        BmcBoot boot;            /* the settings this boot uses (pending applied) */
        BmcBootTarget source;    /* where it boots: the override, else Hdd */
        bool apply_pending;
        bool consume_once;
} BmcResetPlan;

void machine_init(MachineState *m, BmcPower power, BmcBootMode mode);
/* The transition for `t` from the current power state, without changing
 * anything: -EBUSY when the table has no row (a redundant or impossible
 * request, answered 409). */
int machine_reset_plan(const MachineState *m, BmcResetType t, BmcResetPlan *ret);
/* Records a plan the back end carried out; `observed` is the power state
 * the back end reports afterwards (the plan's for the memory back end). */
void machine_reset_commit(MachineState *m, const BmcResetPlan *p, BmcPower observed);
/* Power changed behind our back (QEMU: the guest powered off). */
void machine_power_observed(MachineState *m, BmcPower observed);

typedef struct BmcBootPatch {
        bool has_enabled, has_target, has_mode, has_uri;
        BmcBootEnabled enabled;
        BmcBootTarget target;
        BmcBootMode mode;
        bool uri_null;
        char uri[BMC_URI_MAX];
} BmcBootPatch;

/* Applies a Boot PATCH under the personality's rules, to the system or (to_settings)
 * to its pending settings. -EINVAL with `reterr` filled when refused;
 * nothing changes then. */
int machine_boot_patch(MachineState *m, const Personality *p, const BmcBootPatch *patch, bool to_settings,
                       BmcError *reterr);
void machine_media_insert(MachineState *m, unsigned slot, const char *image, bool write_protected);
void machine_media_eject(MachineState *m, unsigned slot);
void machine_record(MachineState *m, BmcEventKind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *machine_event_to_string(BmcEventKind k);
/* Oldest first: the i-th of the events still held, or NULL. */
const BmcEvent *machine_history_get(const MachineState *m, size_t i);
size_t machine_history_size(const MachineState *m);

/* ---- paths (path.c) ---- */

typedef enum BmcResource {
        BMC_RES_VERSIONS,
        BMC_RES_ROOT,
        BMC_RES_SESSION_SERVICE,
        BMC_RES_SESSIONS,
        BMC_RES_SESSION,
        BMC_RES_SYSTEMS,
        BMC_RES_SYSTEM,
        BMC_RES_SYSTEM_SETTINGS,
        BMC_RES_SYSTEM_RESET,
        BMC_RES_NICS,
        BMC_RES_NIC,
        BMC_RES_SYS_MEDIA_COLL,
        BMC_RES_SYS_MEDIA,
        BMC_RES_SYS_MEDIA_INSERT,
        BMC_RES_SYS_MEDIA_EJECT,
        BMC_RES_MANAGERS,
        BMC_RES_MANAGER,
        BMC_RES_MGR_MEDIA_COLL,
        BMC_RES_MGR_MEDIA,
        BMC_RES_MGR_MEDIA_INSERT,
        BMC_RES_MGR_MEDIA_EJECT,
        BMC_RES_TASK_SERVICE,
        BMC_RES_TASKS,
        BMC_RES_TASK,
        BMC_RES_TASK_MONITOR,
        BMC_RES_HISTORY,
        BMC_RES_FAULTS,
        _BMC_RES_MAX,
        _BMC_RES_INVALID = -EINVAL,
} BmcResource;

typedef struct BmcPath {
        BmcResource resource;
        char id[BMC_ID_MAX];  /* the first {} : machine, session or task */
        char sub[BMC_ID_MAX]; /* the second {} : NIC or media slot */
} BmcPath;

/* Matches a request path (no query) against the resource table. -ENOENT:
 * no such resource; -EINVAL: an empty or ill-formed segment; -ENAMETOOLONG:
 * an id of BMC_ID_MAX or more; -E2BIG: more than BMC_PATH_SEGMENTS_MAX. */
int emu_path_parse(const char *path, BmcPath *ret);
/* true for ids we accept and render unescaped: [A-Za-z0-9._~:@-], not "." or "..". */
bool emu_id_is_valid(const char *id);

/* ---- request bodies (request.c): pure, fuzzed ---- */

int emu_reset_parse(const char *body, size_t size, BmcResetType *ret, BmcError *reterr);
int emu_system_patch_parse(const char *body, size_t size, BmcBootPatch *ret, BmcError *reterr);

typedef struct BmcInsertMedia {
        char image[BMC_IMAGE_MAX];
        bool has_inserted, inserted;
        bool has_write_protected, write_protected;
        bool has_credentials;
        char transfer_protocol[16];
} BmcInsertMedia;
int emu_insert_media_parse(const char *body, size_t size, BmcInsertMedia *ret, BmcError *reterr);
/* EjectMedia takes no parameters: an absent body, "" or {}. */
int emu_eject_media_parse(const char *body, size_t size, bool *ret_has_body, BmcError *reterr);

typedef struct BmcMediaPatch {
        bool has_image, image_null;
        char image[BMC_IMAGE_MAX];
        bool has_inserted, inserted;
        bool has_write_protected, write_protected;
} BmcMediaPatch;
int emu_media_patch_parse(const char *body, size_t size, BmcMediaPatch *ret, BmcError *reterr);

typedef struct BmcLogin {
        char username[BMC_USERNAME_MAX];
        Secret *password; /* owned: secret_free() it */
} BmcLogin;
int emu_login_parse(const char *body, size_t size, BmcLogin *ret, BmcError *reterr);

typedef struct BmcFaults {
        unsigned fail_next[BMC_FAULTS_MAX]; /* statuses for the next requests, in order */
        size_t n_fail;
        unsigned hang_ms;    /* hold each answer this long */
        unsigned hang_next;  /* ... for this many requests; 0: every request */
        bool hang_counted;   /* hang_next was given */
} BmcFaults;
/* From a JSON object (config or the /strata-bmc/v1/faults endpoint). */
int emu_faults_parse(const json_t *j, BmcFaults *ret, BmcError *reterr);
int emu_faults_parse_text(const char *body, size_t size, BmcFaults *ret, BmcError *reterr);

/* ---- the emulator (handlers.c, auth.c, tasks.c, media.c, render.c) ---- */

typedef struct BmcMachine BmcMachine;

typedef struct BmcBackend {
        const char *name;
        /* Power as the machine really is; memory: the model's. */
        int (*power_get)(BmcMachine *m, BmcPower *ret);
        /* Carries out a plan; returns the power state after it. */
        int (*power_apply)(BmcMachine *m, const BmcResetPlan *p, BmcPower *ret_observed, char *reterr,
                           size_t reterr_size);
        int (*media_insert)(BmcMachine *m, unsigned slot, const char *image, bool write_protected, char *reterr,
                            size_t reterr_size);
        int (*media_eject)(BmcMachine *m, unsigned slot, char *reterr, size_t reterr_size);
} BmcBackend;

extern const BmcBackend backend_memory;
extern const BmcBackend backend_qemu;

typedef enum QemuDevice {
        QEMU_DEVICE_DISK,
        QEMU_DEVICE_NIC,
        QEMU_DEVICE_CDROM,
        _QEMU_DEVICE_MAX,
        _QEMU_DEVICE_INVALID = -EINVAL,
} QemuDevice;

QemuDevice qemu_device_from_string(const char *s);

typedef struct QemuConfig {
        char qmp[108];                            /* sun_path */
        char devices[_QEMU_DEVICE_MAX][BMC_ID_MAX]; /* qdev ids; "" when absent */
        QemuDevice boot_order[_QEMU_DEVICE_MAX];  /* the order when no override */
        size_t n_boot_order;
} QemuConfig;

struct BmcMachine {
        size_t index; /* bit in an auth mask */
        char id[BMC_ID_MAX];
        char name[BMC_NAME_MAX];
        char uuid[BMC_UUID_LEN + 1];
        char serial[BMC_SERIAL_MAX];
        char macs[BMC_MACS_MAX][BMC_MAC_LEN + 1];
        size_t n_macs;
        const Personality *personality;
        const BmcBackend *backend;
        QemuConfig qemu;
        char username[BMC_USERNAME_MAX];
        Secret *password;
        BmcFaults faults;
        unsigned task_ms;
        bool unreachable; /* the back end did not answer the last power query */
        const char *on_power_on; /* memory back end, for simulation: --on-power-on (borrowed) */
        MachineState *state;
};

typedef struct BmcSession {
        bool used;
        unsigned id;
        Secret *token; /* hex, NUL-terminated */
        char username[BMC_USERNAME_MAX];
        uint64_t machines; /* mask of machines these credentials open */
        uint64_t last_used_usec;
} BmcSession;

typedef enum BmcTaskState {
        BMC_TASK_RUNNING,
        BMC_TASK_COMPLETED,
        BMC_TASK_EXCEPTION,
        _BMC_TASK_STATE_MAX,
        _BMC_TASK_STATE_INVALID = -EINVAL,
} BmcTaskState;

typedef struct BmcTask {
        bool used;
        unsigned id;
        size_t machine;
        unsigned slot;
        BmcInsertMedia request;
        BmcTaskState state;
        uint64_t start_usec, done_usec; /* CLOCK_MONOTONIC */
        char start_time[32];            /* ISO 8601, for the Task resource */
        char end_time[32];
        BmcError error;                 /* when state is EXCEPTION */
} BmcTask;

typedef struct Bmc {
        sd_event *event;
        HttpServer *server;
        const Personality *personality; /* the service root's */
        bool sessions;
        unsigned session_timeout_s;
        char uuid[BMC_UUID_LEN + 1];
        BmcMachine *machines;
        size_t n_machines;
        BmcSession sessions_table[BMC_SESSIONS_MAX];
        unsigned next_session_id;
        BmcTask tasks[BMC_TASKS_MAX];
        unsigned next_task_id;
} Bmc;

typedef struct BmcConfigOptions {
        bool no_sessions;        /* --no-sessions */
        const char *on_power_on; /* --on-power-on CMD: memory machines run it at every power-on */
} BmcConfigOptions;

/* config.c: loads `path` into `b` (machines, personalities, secrets).
 * -errno with a human message in `reterr`. */
int emu_config_load(Bmc *b, const char *path, const BmcConfigOptions *opts, char *reterr, size_t reterr_size);
void emu_done(Bmc *b);
BmcMachine *emu_machine_find(Bmc *b, const char *id);

/* listen.c: parses "ADDR:PORT" / "[ADDR]:PORT" and refuses what is
 * neither loopback nor (in a non-init network namespace) an address of one
 * of its interfaces; returns a listening socket, or -errno with the reason
 * in `reterr`. */
int emu_listen_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);
bool emu_listen_is_loopback(const struct sockaddr_storage *sa);
int emu_listen_open(const char *s, char *reterr, size_t reterr_size);

/* handlers.c: the HTTP routes (for http_server_new) */
extern const HttpRoute emu_http_routes[];
extern const size_t emu_http_routes_size;

/* auth.c */
typedef struct BmcPrincipal {
        uint64_t machines;   /* 0: not authenticated */
        BmcSession *session; /* when authenticated by token */
} BmcPrincipal;
int auth_check(Bmc *b, struct MHD_Connection *c, uint64_t now_usec, BmcPrincipal *ret);
uint64_t auth_credentials_match(const Bmc *b, const char *username, const Secret *password);
int auth_session_new(Bmc *b, const char *username, uint64_t machines, uint64_t now_usec, BmcSession **ret);
void auth_session_delete(Bmc *b, BmcSession *s);
BmcSession *auth_session_find(Bmc *b, unsigned id);
void auth_sessions_expire(Bmc *b, uint64_t now_usec);
void auth_done(Bmc *b);

/* tasks.c */
int task_new(Bmc *b, const BmcMachine *m, unsigned slot, const BmcInsertMedia *req, uint64_t now_usec,
             BmcTask **ret);
BmcTask *task_find(Bmc *b, unsigned id);
/* Finishes every task whose time has come (carrying out its operation). */
void task_advance(Bmc *b, uint64_t now_usec);
const char *task_state_to_string(BmcTaskState s);

/* media.c: the VirtualMedia operations, shared by actions, PATCH and tasks */
int media_insert(Bmc *b, BmcMachine *m, unsigned slot, const BmcInsertMedia *req, BmcError *reterr);
int media_eject(Bmc *b, BmcMachine *m, unsigned slot, BmcError *reterr);
int media_check_insert(const BmcMachine *m, unsigned slot, const BmcInsertMedia *req, BmcError *reterr);

/* render.c: resources as JSON, NULL on OOM */
json_t *render_root(const Bmc *b);
json_t *render_systems(const Bmc *b, uint64_t mask);
json_t *render_system(const BmcMachine *m);
json_t *render_settings(const BmcMachine *m);
json_t *render_nics(const BmcMachine *m);
json_t *render_nic(const BmcMachine *m, size_t i);
json_t *render_managers(const Bmc *b, uint64_t mask);
json_t *render_manager(const BmcMachine *m);
json_t *render_media_collection(const BmcMachine *m);
json_t *render_media(const BmcMachine *m, unsigned slot);
json_t *render_session_service(const Bmc *b);
json_t *render_sessions(const Bmc *b);
json_t *render_session(const BmcSession *s);
json_t *render_task_service(const Bmc *b);
json_t *render_tasks(const Bmc *b, uint64_t mask);
json_t *render_task(const BmcTask *t);
json_t *render_history(const BmcMachine *m);
json_t *render_faults(const BmcMachine *m);
/* "/redfish/v1/Systems/{id}" and friends, into `buf` */
const char *render_system_uri(const BmcMachine *m, char *buf, size_t size);
const char *render_media_base_uri(const BmcMachine *m, char *buf, size_t size);
/* The ETag as served (strong "n", or W/"n" for PERS_ETAG_WEAK) */
const char *render_etag(const BmcMachine *m, char *buf, size_t size);
