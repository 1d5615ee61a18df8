/* Redfish operations (see redfish-ops.h), written as continuation chains:
 * each step sends one request and names the function that handles its
 * reply. docs/redfish.md §4-§8 is the protocol; §9 the quirks, applied
 * through the row quirks.c picked. Order of the fallbacks:
 *   reset:    ResetType@Redfish.AllowableValues (or the ActionInfo) decides
 *             which of a table row's types is tried first; a 400 moves to
 *             the next; ForceOff-then-On is the last resort for a cycle.
 *   boot:     one PATCH (Once + target [+ UEFI mode] [+ HttpBootUri]) with
 *             If-Match from the GET; 412: re-GET and once more with the
 *             fresh ETag (then the weak prefix stripped, then no If-Match
 *             when the ETag did not change: the BMC refuses its own); 428:
 *             re-GET and send it (or "*"); 400/403/405: the
 *             @Redfish.Settings object, then target + enabled only.
 *   media:    Manager's VirtualMedia, then the System's (reversed for
 *             Dell); InsertMedia/EjectMedia, else PATCH of the slot; a
 *             slot answering 405 is skipped. */
#include "bmc/redfish-ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "core/cleanup.h"

#define REDFISH_PROBE_MAX 64u          /* GETs spent finding the system */
#define REDFISH_SLOTS_MAX 16u          /* virtual media slots looked at */
#define REDFISH_CONFLICT_RETRIES 5u    /* On refused with 409 after power-off */
#define REDFISH_EJECT_POLLS_MAX 10u    /* slot still shown inserted after eject */
#define REDFISH_TASK_POLL_MAX_USEC (10u * 1000000u) /* longest wait between task polls */
#define REDFISH_PATCH_ATTEMPTS_MAX 5u  /* Boot PATCHes in one operation, fallbacks included */

#define OFF_THEN_ON "ForceOff, then On"
#define WORDS(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct RedfishOp RedfishOp;
typedef void (*OpStepFn)(RedfishOp *op);
typedef void (*OpReplyFn)(RedfishOp *op, const RedfishReply *rep);

typedef struct OpKind {
        BmcOp op;
        const char *name;
        bool needs_url;
        OpStepFn start; /* runs once the system is known */
} OpKind;

/* Reset plans: the ResetTypes to try, in order, and the PowerState that
 * ends the operation (NULL: none awaited). */
typedef struct ResetPlan {
        BmcOp op;
        const char *want;
        const char *const *types;
} ResetPlan;

static const ResetPlan reset_plans[] = {
        /* no PushPowerButton: it toggles, and a BMC that refused On may be on */
        { BMC_OP_POWER_ON, "On", WORDS("On", "ForceOn") },
        { BMC_OP_POWER_OFF, "Off", WORDS("ForceOff", "GracefulShutdown") },
        /* bmclib: PowerCycle, then off + on when refused */
        { BMC_OP_POWER_CYCLE, NULL, WORDS("PowerCycle", "ForceRestart", OFF_THEN_ON) },
        /* Ironic's reboot into the override: ForceRestart */
        { BMC_OP_BOOT_NOW, NULL, WORDS("ForceRestart", "PowerCycle", OFF_THEN_ON) },
};

/* Which ResetTypes may be sent twice without harm: only those are retried
 * after a time-out or a plain 5xx (redfish-client.h). */
static const char *const reset_idempotent[] = { "On", "ForceOn", "ForceOff", "GracefulShutdown" };

/* HTTP status of a final failure to errno. */
static const struct {
        long status;
        int error;
} status_errors[] = {
        { 400, -EINVAL }, { 401, -EACCES }, { 403, -EACCES }, { 404, -ENOENT }, { 405, -EOPNOTSUPP },
        { 406, -EINVAL }, { 409, -EBUSY }, { 412, -ESTALE }, { 415, -EINVAL }, { 428, -ESTALE },
        { 429, -EAGAIN }, { 501, -EOPNOTSUPP }, { 503, -EAGAIN },
};

typedef enum EtagUse {
        ETAG_SEND,     /* the ETag we have (or "*" where required) */
        ETAG_STRIPPED, /* its W/ prefix dropped */
        ETAG_NONE,     /* no If-Match at all */
} EtagUse;

struct RedfishOp {
        RedfishTarget *t;
        const OpKind *kind;
        char *url;
        RedfishOpDoneFn done;
        void *userdata;
        RedfishRequest *rq;
        OpReplyFn on_reply;
        sd_event_source *timer;
        OpStepFn after_timer;
        sd_event_source *defer;
        int r;
        char *error;
        BmcResult res;
        bool soft_fail; /* status: media discovery may fail without failing the op */

        /* discovery */
        OpStepFn after_system;
        RedfishStrings members, nics;
        size_t probe_i, nic_i;
        unsigned probes;
        RedfishSystem probe;
        RedfishSystem sys;
        char *etag; /* of the last GET of the resource being PATCHed */

        /* power */
        const ResetPlan *plan;
        const char *want;
        size_t type_i;
        RedfishStrings allowed;
        bool allowed_known;
        bool off_then_on_stage2;
        unsigned conflicts;
        uint64_t deadline;
        OpStepFn after_accept;

        /* boot */
        const char *boot_target;
        char *patch_path;
        bool via_settings, minimal, had_etag;
        EtagUse etag_use;
        char *sent_etag;
        unsigned patches, rereads, precondition_required;

        /* media */
        size_t loc_i;
        char *slot_collection;
        RedfishStrings slot_paths;
        RedfishMedia *slots;
        char **slot_etags;
        size_t n_slots, slot_i;
        RedfishStrings eject_queue;
        size_t eject_i;
        unsigned eject_polls;
        bool transfer_fields, insert_patch_retried;
        /* a refusal held while re-reading whether it matters */
        int held_r;
        char *held_error;
        OpStepFn after_media;

        /* tasks */
        char *task;
        uint64_t task_deadline;
        OpStepFn after_task;
};

static void status_start(RedfishOp *op);
static void power_start(RedfishOp *op);
static void boot_start(RedfishOp *op);
static void media_insert_start(RedfishOp *op);
static void media_eject_start(RedfishOp *op);

static const OpKind op_kinds[] = {
        { BMC_OP_STATUS, "status", false, status_start },
        { BMC_OP_POWER_ON, "power on", false, power_start },
        { BMC_OP_POWER_OFF, "power off", false, power_start },
        { BMC_OP_POWER_CYCLE, "power cycle", false, power_start },
        { BMC_OP_PXE_ONCE, "pxe-once", false, boot_start },
        { BMC_OP_HTTP_BOOT_ONCE, "http-boot-once", true, boot_start },
        { BMC_OP_BOOT_NOW, "boot now", false, power_start },
        { BMC_OP_INSERT_MEDIA, "insert-media", true, media_insert_start },
        { BMC_OP_EJECT_MEDIA, "eject-media", false, media_eject_start },
};

static const OpKind *op_kind(BmcOp op) {
        for (size_t i = 0; i < ELEMENTSOF(op_kinds); i++)
                if (op_kinds[i].op == op)
                        return &op_kinds[i];
        return NULL;
}

const char *bmc_op_to_string(BmcOp op) {
        const OpKind *k = op_kind(op);
        return k ? k->name : NULL;
}

bool bmc_op_needs_url(BmcOp op) {
        const OpKind *k = op_kind(op);
        return k && k->needs_url;
}

void redfish_target_done(RedfishTarget *t) {
        redfish_root_done(&t->root);
        free(t->system);
        free(t->matched_by);
        t->system = t->matched_by = NULL;
        t->discovered = false;
}

/* ---- completion ---------------------------------------------------- */

static void op_free(RedfishOp *op) {
        if (!op)
                return;
        redfish_request_cancel(op->rq);
        sd_event_source_disable_unref(op->timer);
        sd_event_source_disable_unref(op->defer);
        free(op->url);
        free(op->error);
        bmc_result_done(&op->res);
        redfish_strings_done(&op->members);
        redfish_strings_done(&op->nics);
        redfish_system_done(&op->probe);
        redfish_system_done(&op->sys);
        free(op->etag);
        redfish_strings_done(&op->allowed);
        free(op->patch_path);
        free(op->sent_etag);
        free(op->slot_collection);
        redfish_strings_done(&op->slot_paths);
        for (size_t i = 0; i < op->n_slots; i++) {
                redfish_media_done(&op->slots[i]);
                free(op->slot_etags[i]);
        }
        free(op->slots);
        free(op->slot_etags);
        redfish_strings_done(&op->eject_queue);
        free(op->held_error);
        free(op->task);
        free(op);
}

void redfish_op_cancel(RedfishOp *op) {
        op_free(op);
}

static int on_defer(sd_event_source *s, void *userdata) {
        RedfishOp *op = userdata;
        (void) s;
        op->defer = sd_event_source_disable_unref(op->defer);
        op->done(op->r, &op->res, op->error, op->userdata);
        op_free(op);
        return 0;
}

static int set_str(char **dst, const char *src) {
        char *n = NULL;
        if (src && !(n = strdup(src)))
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

/* What the BMC reported, into the result (on success and failure alike). */
static void op_fill_status(RedfishOp *op) {
        BmcStatus *st = &op->res.status;
        RedfishTarget *t = op->t;

        (void) set_str(&st->system, t->system);
        (void) set_str(&st->matched_by, t->matched_by);
        (void) set_str(&st->vendor, t->root.vendor);
        (void) set_str(&st->product, t->root.product);
        (void) set_str(&st->redfish_version, t->root.redfish_version);
        (void) set_str(&st->quirks, t->quirks ? t->quirks->name : NULL);
        (void) set_str(&st->auth, t->discovered ? redfish_client_auth(t->rc) : NULL);
        if (!op->sys.id && !op->sys.power_state)
                return;
        (void) set_str(&st->manufacturer, op->sys.manufacturer);
        (void) set_str(&st->model, op->sys.model);
        (void) set_str(&st->serial, op->sys.serial);
        (void) set_str(&st->uuid, op->sys.uuid);
        (void) set_str(&st->power_state, op->sys.power_state);
        (void) set_str(&st->boot_enabled, op->sys.boot_enabled);
        (void) set_str(&st->boot_target, op->sys.boot_target);
        (void) set_str(&st->boot_mode, op->sys.boot_mode);
        (void) set_str(&st->http_boot_uri, op->sys.http_boot_uri);
}

static void op_finish(RedfishOp *op, int r, char *error) {
        int k;

        if (op->defer) { /* finished already */
                free(error);
                return;
        }
        redfish_request_cancel(op->rq);
        op->rq = NULL;
        op->timer = sd_event_source_disable_unref(op->timer);
        op->r = r;
        op->error = error;
        op->res.op = op->kind->op;
        op_fill_status(op);
        k = sd_event_add_defer(op->t->event, &op->defer, on_defer, op);
        if (k < 0) {
                /* cannot even report: run the callback now rather than never */
                op->done(r < 0 ? r : k, &op->res, op->error, op->userdata);
                op->defer = NULL;
        }
}

static void op_succeed(RedfishOp *op) {
        op_finish(op, 0, NULL);
}

static void op_failv(RedfishOp *op, int r, const char *format, va_list ap) {
        _cleanup_free_ char *detail = NULL;
        char *msg = NULL;

        if (op->soft_fail) {
                op->soft_fail = false;
                op_succeed(op);
                return;
        }
        if (vasprintf(&detail, format, ap) < 0)
                detail = NULL;
        if (asprintf(&msg, "%s (%s): %s: %s", op->t->m->name, op->t->m->endpoint, op->kind->name,
                     detail ? detail : "out of memory") < 0)
                msg = NULL;
        op_finish(op, r < 0 ? r : -EIO, msg);
}

static void op_fail(RedfishOp *op, int r, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void op_fail(RedfishOp *op, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        op_failv(op, r, format, ap);
        va_end(ap);
}

static int reply_errno(const RedfishReply *rep) {
        if (rep->r < 0)
                return rep->r;
        if (rep->status >= 300 && rep->status < 400)
                return -EPERM; /* a redirect we refuse to follow */
        for (size_t i = 0; i < ELEMENTSOF(status_errors); i++)
                if (status_errors[i].status == rep->status)
                        return status_errors[i].error;
        return -EIO;
}

/* "STATUS Phrase: BMC message[: note] (METHOD path)". */
static void op_fail_reply(RedfishOp *op, const RedfishReply *rep, const char *note) {
        _cleanup_free_ char *d = redfish_reply_describe(rep);
        op_fail(op, reply_errno(rep), "%s%s%s (%s %s)", d ? d : "failed", note ? ": " : "", note ? note : "",
                rep->method, rep->path);
}

static bool reply_ok(const RedfishReply *rep) {
        return rep->r == 0 && rep->status >= 200 && rep->status < 300;
}

/* A reply whose JSON a parser refused. */
static void op_fail_parse(RedfishOp *op, const RedfishReply *rep, int r, const char *err) {
        if (r == -ENOMEM)
                op_fail(op, r, "out of memory");
        else
                op_fail(op, r, "reply not understood: %s (%s %s)", err ? err : "?", rep->method, rep->path);
}

/* A 2xx reply with a JSON object body; otherwise the op fails. */
static bool op_json(RedfishOp *op, const RedfishReply *rep) {
        if (!reply_ok(rep)) {
                op_fail_reply(op, rep, NULL);
                return false;
        }
        if (!rep->json) {
                op_fail(op, -EBADMSG, "reply not understood: %s (%s %s)",
                        rep->json_error ? rep->json_error : "no body where JSON was expected", rep->method, rep->path);
                return false;
        }
        return true;
}

/* Keeps the description of a refusal for when the re-read says it stands. */
static void op_hold(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *d = redfish_reply_describe(rep);
        free(op->held_error);
        if (asprintf(&op->held_error, "%s (%s %s)", d ? d : "refused", rep->method, rep->path) < 0)
                op->held_error = NULL;
        op->held_r = reply_errno(rep);
}

/* ---- sending ------------------------------------------------------- */

static void op_on_reply(const RedfishReply *rep, void *userdata) {
        RedfishOp *op = userdata;
        OpReplyFn next = op->on_reply;

        op->rq = NULL;
        op->on_reply = NULL;
        next(op, rep);
}

static void op_send(RedfishOp *op, const RedfishCall *call, OpReplyFn next) {
        _cleanup_free_ char *err = NULL;
        int r;

        op->on_reply = next;
        r = redfish_client_send(op->t->rc, call, op_on_reply, op, &op->rq, &err);
        if (r < 0)
                op_fail(op, r, "%s %s: %s", call->method, call->path ? call->path : "?", err ? err : strerror(-r));
}

static void op_get(RedfishOp *op, const char *path, OpReplyFn next) {
        op_send(op, &(RedfishCall) { .method = "GET", .path = path }, next);
}

static int on_op_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RedfishOp *op = userdata;
        OpStepFn next = op->after_timer;
        (void) s;
        (void) usec;
        op->timer = sd_event_source_disable_unref(op->timer);
        op->after_timer = NULL;
        next(op);
        return 0;
}

static void op_wait(RedfishOp *op, uint64_t usec, OpStepFn next) {
        uint64_t now;
        int r = sd_event_now(op->t->event, CLOCK_MONOTONIC, &now);

        op->after_timer = next;
        if (r >= 0)
                r = sd_event_add_time(op->t->event, &op->timer, CLOCK_MONOTONIC, now + usec, 1000, on_op_timer, op);
        if (r < 0)
                op_fail(op, r, "cannot arm a timer: %s", strerror(-r));
}

static uint64_t op_now(RedfishOp *op) {
        uint64_t now = 0;
        (void) sd_event_now(op->t->event, CLOCK_MONOTONIC, &now);
        return now;
}

static int op_summary(RedfishOp *op, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int op_summary(RedfishOp *op, const char *format, ...) {
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        free(op->res.summary);
        op->res.summary = s;
        return 0;
}

/* ---- 202: task monitors (docs/redfish.md §8) ---------------------- */

static void task_poll(RedfishOp *op);

static void on_task(RedfishOp *op, const RedfishReply *rep) {
        RedfishTask task = {};
        _cleanup_free_ char *err = NULL;
        uint64_t wait;

        if (rep->r == 0 && rep->status == 202) {
                if (op_now(op) >= op->task_deadline) {
                        op_fail(op, -ETIMEDOUT, "task %s still running after %llu s", op->task,
                                (unsigned long long) (op->t->opts.task_timeout_usec / 1000000u));
                        return;
                }
                wait = rep->retry_after_usec >= 0 ? (uint64_t) rep->retry_after_usec : op->t->opts.poll_usec;
                op_wait(op, wait > REDFISH_TASK_POLL_MAX_USEC ? REDFISH_TASK_POLL_MAX_USEC : wait, task_poll);
                return;
        }
        if (!reply_ok(rep)) {
                op_fail_reply(op, rep, "the task failed");
                return;
        }
        /* 200 with the Task resource (a monitor may also answer with the
         * operation's own final response, which has no TaskState) */
        if (rep->json && redfish_task_parse(rep->json, &task, &err) == 0 && task.state) {
                static const char *const failed[] = { "Exception", "Killed", "Cancelled", "Interrupted" };
                for (size_t i = 0; i < ELEMENTSOF(failed); i++)
                        if (strcmp(task.state, failed[i]) == 0) {
                                op_fail(op, -EIO, "task %s ended %s%s%s", op->task, task.state,
                                        task.message ? ": " : "", task.message ? task.message : "");
                                redfish_task_done(&task);
                                return;
                        }
                if (strcmp(task.state, "Completed") != 0) {
                        redfish_task_done(&task);
                        if (op_now(op) >= op->task_deadline) {
                                op_fail(op, -ETIMEDOUT, "task %s still running after %llu s", op->task,
                                        (unsigned long long) (op->t->opts.task_timeout_usec / 1000000u));
                                return;
                        }
                        op_wait(op, op->t->opts.poll_usec, task_poll);
                        return;
                }
        }
        redfish_task_done(&task);
        op->after_task(op);
}

static void task_poll(RedfishOp *op) {
        op_get(op, op->task, on_task);
}

/* A 202: follow its task monitor (Location, or the Task's @odata.id), then
 * `next`. Without either, the 202 is taken as done. */
static void op_follow_task(RedfishOp *op, const RedfishReply *rep, OpStepFn next) {
        _cleanup_free_ char *err = NULL;
        const char *id = json_string_value(json_object_get(rep->json, "@odata.id"));
        int r;

        free(op->task);
        op->task = NULL;
        if (rep->location) {
                r = redfish_client_resolve(op->t->rc, rep->location, &op->task, &err);
                if (r < 0) {
                        op_fail(op, r, "202 Accepted, but %s (%s %s)", err ? err : "a bad Location", rep->method,
                                rep->path);
                        return;
                }
        } else if (redfish_path_check(id)) {
                op->task = strdup(id);
                if (!op->task) {
                        op_fail(op, -ENOMEM, "out of memory");
                        return;
                }
        } else {
                next(op);
                return;
        }
        op->after_task = next;
        op->task_deadline = op_now(op) + op->t->opts.task_timeout_usec;
        task_poll(op);
}

/* ---- discovery (docs/redfish.md §2-§4) ----------------------------- */

static void system_get(RedfishOp *op, OpStepFn next);

static void choose(RedfishOp *op, const char *path, const char *how) {
        RedfishTarget *t = op->t;

        if (set_str(&t->system, path) < 0 || set_str(&t->matched_by, how) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        t->discovered = true;
        system_get(op, op->after_system);
}

static bool ci_equal(const char *a, const char *b) {
        return a && b && strcasecmp(a, b) == 0;
}

static void probe_next(RedfishOp *op);

static void on_nic(RedfishOp *op, const RedfishReply *rep) {
        const BmcMachine *m = op->t->m;
        RedfishStrings macs = {};
        _cleanup_free_ char *err = NULL;

        /* an unreadable interface is not this machine's: keep looking */
        if (reply_ok(rep) && rep->json && redfish_nic_parse(rep->json, &macs, &err) == 0)
                for (size_t i = 0; i < m->n_macs; i++)
                        if (redfish_strings_contain(&macs, m->macs[i])) {
                                redfish_strings_done(&macs);
                                choose(op, op->members.v[op->probe_i], "mac");
                                return;
                        }
        redfish_strings_done(&macs);
        op->nic_i++;
        if (op->nic_i < op->nics.n && op->probes++ < REDFISH_PROBE_MAX) {
                op_get(op, op->nics.v[op->nic_i], on_nic);
                return;
        }
        op->probe_i++;
        probe_next(op);
}

static void on_nics(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;

        redfish_strings_done(&op->nics);
        op->nic_i = 0;
        if (!reply_ok(rep) || !rep->json || redfish_members_parse(rep->json, &op->nics, &err) < 0 ||
            op->nics.n == 0 || op->probes++ >= REDFISH_PROBE_MAX) {
                op->probe_i++;
                probe_next(op);
                return;
        }
        op_get(op, op->nics.v[0], on_nic);
}

static void on_probe(RedfishOp *op, const RedfishReply *rep) {
        const BmcMachine *m = op->t->m;
        _cleanup_free_ char *err = NULL;

        if (!op_json(op, rep))
                return;
        redfish_system_done(&op->probe);
        if (redfish_system_parse(rep->json, &op->probe, &err) < 0) {
                op_fail_parse(op, rep, -EBADMSG, err);
                return;
        }
        if (m->system_id) {
                if (op->probe.id && strcmp(op->probe.id, m->system_id) == 0) {
                        choose(op, rep->path, "system_id");
                        return;
                }
        } else if (m->serial) {
                if (ci_equal(op->probe.serial, m->serial)) {
                        choose(op, rep->path, "serial");
                        return;
                }
        } else if (m->uuid) {
                if (ci_equal(op->probe.uuid, m->uuid)) {
                        choose(op, rep->path, "uuid");
                        return;
                }
        } else if (m->n_macs > 0 && op->probe.ethernet_interfaces && op->probes++ < REDFISH_PROBE_MAX) {
                op_get(op, op->probe.ethernet_interfaces, on_nics);
                return;
        }
        op->probe_i++;
        probe_next(op);
}

static void probe_exhausted(RedfishOp *op) {
        const BmcMachine *m = op->t->m;

        if (!m->system_id && !m->serial && !m->uuid && op->members.n == 1) {
                /* single-node BMC that does not list the spec's MACs (many
                 * only list the BMC's own NIC): the only system it has */
                choose(op, op->members.v[0], "only system");
                return;
        }
        if (m->system_id)
                op_fail(op, -ENODEV, "no system with Id %s among the %zu in %s", m->system_id, op->members.n,
                        op->t->root.systems);
        else if (m->serial)
                op_fail(op, -ENODEV, "no system with SerialNumber %s among the %zu in %s%s%s%s", m->serial,
                        op->members.n, op->t->root.systems, op->probe.serial ? " (last seen: " : "",
                        op->probe.serial ? op->probe.serial : "", op->probe.serial ? ")" : "");
        else if (m->uuid)
                op_fail(op, -ENODEV, "no system with UUID %s among the %zu in %s", m->uuid, op->members.n,
                        op->t->root.systems);
        else
                op_fail(op, -ENODEV, "%zu systems in %s and none lists one of the spec's MACs: set bmc.system_id",
                        op->members.n, op->t->root.systems);
}

static void probe_next(RedfishOp *op) {
        const BmcMachine *m = op->t->m;
        const char *want = m->system_id;

        /* with a system_id, the member whose last segment is it goes first */
        if (want && op->probe_i == 0)
                for (size_t i = 1; i < op->members.n; i++) {
                        const char *slash = strrchr(op->members.v[i], '/');
                        if (slash && strcmp(slash + 1, want) == 0) {
                                char *tmp = op->members.v[0];
                                op->members.v[0] = op->members.v[i];
                                op->members.v[i] = tmp;
                                break;
                        }
                }
        if (op->probe_i >= op->members.n || op->probes++ >= REDFISH_PROBE_MAX) {
                probe_exhausted(op);
                return;
        }
        op_get(op, op->members.v[op->probe_i], on_probe);
}

static void on_systems(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;
        int r;

        if (!op_json(op, rep))
                return;
        redfish_strings_done(&op->members);
        r = redfish_members_parse(rep->json, &op->members, &err);
        if (r < 0) {
                op_fail_parse(op, rep, r, err);
                return;
        }
        if (op->members.n == 0) {
                op_fail(op, -ENODEV, "%s lists no systems", rep->path);
                return;
        }
        op->probe_i = 0;
        probe_next(op);
}

static void on_root(RedfishOp *op, const RedfishReply *rep) {
        RedfishTarget *t = op->t;
        _cleanup_free_ char *err = NULL;
        int r;

        if (!op_json(op, rep))
                return;
        redfish_root_done(&t->root);
        r = redfish_root_parse(rep->json, &t->root, &err);
        if (r < 0) {
                op_fail_parse(op, rep, r, err);
                return;
        }
        t->quirks = redfish_quirks_select(t->root.vendor, t->root.product, t->root.oem, NULL, t->m->vendor_hint);
        r = redfish_client_set_sessions(t->rc, t->root.sessions);
        if (r < 0) {
                op_fail(op, r, "cannot use the session service");
                return;
        }
        if (!t->root.systems) {
                op_fail(op, -ENODEV, "the service root lists no Systems");
                return;
        }
        op_get(op, t->root.systems, on_systems);
}

/* Finds the system once per client, then GETs it fresh; `next` runs with
 * op->sys and op->etag current. */
static void op_discover(RedfishOp *op, OpStepFn next) {
        op->after_system = next;
        if (op->t->discovered) {
                system_get(op, next);
                return;
        }
        op_send(op, &(RedfishCall) { .method = "GET", .path = "/redfish/v1/", .anonymous = true }, on_root);
}

static void on_system(RedfishOp *op, const RedfishReply *rep) {
        RedfishTarget *t = op->t;
        _cleanup_free_ char *err = NULL;
        OpStepFn next = op->after_system;
        int r;

        if (!op_json(op, rep))
                return;
        redfish_system_done(&op->sys);
        r = redfish_system_parse(rep->json, &op->sys, &err);
        if (r < 0) {
                op_fail_parse(op, rep, r, err);
                return;
        }
        if (set_str(&op->etag, rep->etag ? rep->etag : op->sys.odata_etag) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        /* the system's Manufacturer decides when the root said nothing */
        t->quirks = redfish_quirks_select(t->root.vendor, t->root.product, t->root.oem, op->sys.manufacturer,
                                          t->m->vendor_hint);
        next(op);
}

static void system_get(RedfishOp *op, OpStepFn next) {
        op->after_system = next;
        op_get(op, op->t->system, on_system);
}

/* ---- power (docs/redfish.md §5) ------------------------------------ */

static void reset_pick(RedfishOp *op);
static void reset_send(RedfishOp *op, const char *type);

static bool type_allowed(const RedfishOp *op, const char *type) {
        if (!op->allowed_known)
                return true;
        if (strcmp(type, OFF_THEN_ON) == 0)
                return redfish_strings_contain(&op->allowed, "ForceOff") && redfish_strings_contain(&op->allowed, "On");
        return redfish_strings_contain(&op->allowed, type);
}

static void power_done(RedfishOp *op) {
        if (op->res.summary && op->sys.power_state)
                (void) op_summary(op, "%s; PowerState %s", op->res.summary, op->sys.power_state);
        op_succeed(op);
}

static void settle_poll(RedfishOp *op);

static void settle_check(RedfishOp *op) {
        if (op->sys.power_state && strcmp(op->sys.power_state, op->want) == 0) {
                op->after_accept(op);
                return;
        }
        if (op_now(op) >= op->deadline) {
                op_fail(op, -ETIMEDOUT, "PowerState is still %s, not %s, after %llu s",
                        op->sys.power_state ? op->sys.power_state : "unknown", op->want,
                        (unsigned long long) (op->t->opts.settle_usec / 1000000u));
                return;
        }
        op_wait(op, op->t->opts.poll_usec, settle_poll);
}

static void settle_poll(RedfishOp *op) {
        system_get(op, settle_check);
}

/* Waits for PowerState == want (bounded by opts.settle_usec), then `next`. */
static void settle(RedfishOp *op, const char *want, OpStepFn next) {
        op->want = want;
        op->after_accept = next;
        op->deadline = op_now(op) + op->t->opts.settle_usec;
        settle_poll(op);
}

static void off_then_on_on(RedfishOp *op) {
        op->off_then_on_stage2 = true;
        reset_send(op, "On");
}

static void reset_accepted(RedfishOp *op) {
        const char *type = op->plan->types[op->type_i];

        if (strcmp(type, OFF_THEN_ON) == 0 && !op->off_then_on_stage2) {
                settle(op, "Off", off_then_on_on);
                return;
        }
        if (op->plan->want) {
                settle(op, op->plan->want, power_done);
                return;
        }
        if (strcmp(type, OFF_THEN_ON) == 0) {
                settle(op, "On", power_done);
                return;
        }
        /* a cycle ends On, but may pass through Off first: just re-read */
        system_get(op, power_done);
}

static void on_reread_redundant(RedfishOp *op) {
        if (op->sys.power_state && strcmp(op->sys.power_state, op->plan->want) == 0) {
                (void) op_summary(op, "already %s", op->plan->want);
                op_succeed(op);
                return;
        }
        op_fail(op, op->held_r, "%s; PowerState is %s", op->held_error ? op->held_error : "refused",
                op->sys.power_state ? op->sys.power_state : "unknown");
}

static void reset_conflict_retry(RedfishOp *op) {
        reset_send(op, op->off_then_on_stage2 ? "On" : op->plan->types[op->type_i]);
}

static void on_reset(RedfishOp *op, const RedfishReply *rep) {
        const char *type = op->plan->types[op->type_i];
        const char *sent = op->off_then_on_stage2 ? "On" : strcmp(type, OFF_THEN_ON) == 0 ? "ForceOff" : type;

        if (reply_ok(rep)) {
                if (!op->off_then_on_stage2)
                        (void) op_summary(op, "%s accepted (%ld)", type, rep->status);
                if (rep->status == 202) {
                        op_follow_task(op, rep, reset_accepted);
                        return;
                }
                reset_accepted(op);
                return;
        }
        /* Dell iDRAC10: On refused with 409 right after a power-off */
        if (rep->r == 0 && rep->status == 409 && strcmp(sent, "On") == 0 &&
            ((op->t->quirks->flags & REDFISH_QUIRK_POWER_ON_CONFLICT_RETRY) || op->off_then_on_stage2) &&
            op->conflicts++ < REDFISH_CONFLICT_RETRIES) {
                op_wait(op, op->t->opts.poll_usec, reset_conflict_retry);
                return;
        }
        /* a ResetType the BMC does not take: the next one in the plan */
        if (rep->r == 0 && rep->status == 400 && !op->off_then_on_stage2 && op->plan->types[op->type_i + 1]) {
                op->type_i++;
                reset_pick(op);
                return;
        }
        /* refused, maybe because it is already there: re-read first */
        if (rep->r == 0 && (rep->status == 400 || rep->status == 409) && op->plan->want) {
                op_hold(op, rep);
                system_get(op, on_reread_redundant);
                return;
        }
        op_fail_reply(op, rep, NULL);
}

static void reset_send(RedfishOp *op, const char *type) {
        json_auto_t *body = NULL;
        bool safe = false;

        if (strcmp(type, OFF_THEN_ON) == 0)
                type = "ForceOff";
        for (size_t i = 0; i < ELEMENTSOF(reset_idempotent); i++)
                safe = safe || strcmp(type, reset_idempotent[i]) == 0;
        body = json_pack("{s:s}", "ResetType", type);
        if (!body) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op_send(op,
                &(RedfishCall) { .method = "POST", .path = op->sys.reset_target, .body = body, .unsafe = !safe },
                on_reset);
}

static void reset_pick(RedfishOp *op) {
        _cleanup_free_ char *have = NULL;

        for (; op->plan->types[op->type_i]; op->type_i++)
                if (type_allowed(op, op->plan->types[op->type_i])) {
                        reset_send(op, op->plan->types[op->type_i]);
                        return;
                }
        for (size_t i = 0; i < op->allowed.n; i++) {
                char *n = NULL;
                if (asprintf(&n, "%s%s%s", have ? have : "", have ? ", " : "", op->allowed.v[i]) < 0) {
                        op_fail(op, -ENOMEM, "out of memory");
                        return;
                }
                free(have);
                have = n;
        }
        op_fail(op, -EOPNOTSUPP, "no usable ResetType: the BMC allows %s", have ? have : "none");
}

static void on_action_info(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;

        /* unreadable ActionInfo: try the plan in order and handle 400 */
        if (reply_ok(rep) && rep->json &&
            redfish_action_info_parse(rep->json, "ResetType", &op->allowed, &err) == 0)
                op->allowed_known = true;
        reset_pick(op);
}

static void power_have_system(RedfishOp *op) {
        const char *state = op->sys.power_state;

        if (!op->sys.reset_target) {
                op_fail(op, -EOPNOTSUPP, "%s has no #ComputerSystem.Reset action", op->t->system);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(reset_plans); i++)
                if (reset_plans[i].op == op->kind->op)
                        op->plan = &reset_plans[i];
        /* bmclib: nothing to do when it is there already */
        if (op->plan->want && state && strcmp(state, op->plan->want) == 0) {
                (void) op_summary(op, "already %s", state);
                op_succeed(op);
                return;
        }
        /* a cycle or reboot of a machine that is off: power it on */
        if (!op->plan->want && state && strcmp(state, "Off") == 0)
                op->plan = &reset_plans[0];
        redfish_strings_done(&op->allowed);
        op->allowed_known = op->sys.reset_types_known;
        for (size_t i = 0; op->allowed_known && i < op->sys.reset_types.n; i++)
                if (redfish_strings_contain(&op->allowed, op->sys.reset_types.v[i]) == false) {
                        char *v = strdup(op->sys.reset_types.v[i]);
                        char **nv = v ? realloc(op->allowed.v, (op->allowed.n + 1) * sizeof(char *)) : NULL;
                        if (!nv) {
                                free(v);
                                op_fail(op, -ENOMEM, "out of memory");
                                return;
                        }
                        op->allowed.v = nv;
                        op->allowed.v[op->allowed.n++] = v;
                }
        op->type_i = 0;
        if (!op->allowed_known && op->sys.reset_action_info) {
                op_get(op, op->sys.reset_action_info, on_action_info);
                return;
        }
        reset_pick(op);
}

static void power_start(RedfishOp *op) {
        op_discover(op, power_have_system);
}

/* ---- status -------------------------------------------------------- */

static void media_discover(RedfishOp *op, OpStepFn next);

static void status_media_done(RedfishOp *op) {
        for (size_t i = 0; i < op->n_slots; i++)
                if (op->slots[i].inserted || i + 1 == op->n_slots) {
                        (void) set_str(&op->res.status.media_slot, op->slot_paths.v[i]);
                        (void) set_str(&op->res.status.media_image, op->slots[i].image);
                        op->res.status.media_inserted = op->slots[i].inserted;
                        break;
                }
        op->soft_fail = false;
        op_succeed(op);
}

static void status_have_system(RedfishOp *op) {
        /* media is extra: a BMC without it (or failing it) still has a status */
        op->soft_fail = true;
        media_discover(op, status_media_done);
}

static void status_start(RedfishOp *op) {
        op_discover(op, status_have_system);
}

/* ---- boot override (docs/redfish.md §6) ---------------------------- */

static void boot_patch_send(RedfishOp *op);

/* The PATCH body: Once + target, the UEFI mode where it must be written,
 * HttpBootUri for UefiHttp (and cleared when switching away, as sushy). */
static json_t *boot_body(RedfishOp *op) {
        unsigned flags = op->t->quirks->flags;
        json_t *boot = json_pack("{s:s,s:s}", "BootSourceOverrideEnabled", "Once", "BootSourceOverrideTarget",
                                 op->boot_target);
        bool http = strcmp(op->boot_target, "UefiHttp") == 0;
        bool mode = !(flags & REDFISH_QUIRK_BOOT_MODE_READONLY) &&
                    ((flags & REDFISH_QUIRK_BOOT_ALWAYS_MODE) ||
                     (op->sys.has_boot_mode && (!op->sys.boot_mode || strcmp(op->sys.boot_mode, "UEFI") != 0)));

        if (!boot)
                return NULL;
        if (op->minimal)
                mode = false;
        if ((mode && json_object_set_new(boot, "BootSourceOverrideMode", json_string("UEFI")) < 0) ||
            (http && json_object_set_new(boot, "HttpBootUri", json_string(op->url)) < 0) ||
            (!http && !op->minimal && op->sys.http_boot_uri && *op->sys.http_boot_uri &&
             json_object_set_new(boot, "HttpBootUri", json_null()) < 0)) {
                json_decref(boot);
                return NULL;
        }
        return json_pack("{s:o}", "Boot", boot);
}

static void on_boot_final(RedfishOp *op) {
        const char *enabled = op->sys.boot_enabled, *target = op->sys.boot_target;

        if (op->via_settings) {
                op->res.status.boot_pending = true;
                op_succeed(op);
                return;
        }
        if (!target || strcmp(target, op->boot_target) != 0 || !enabled || strcmp(enabled, "Once") != 0) {
                op_fail(op, -EIO, "the BMC accepted the Boot PATCH but reports BootSourceOverrideTarget %s, "
                                  "BootSourceOverrideEnabled %s",
                        target ? target : "(none)", enabled ? enabled : "(none)");
                return;
        }
        if (strcmp(op->boot_target, "UefiHttp") == 0 && op->sys.has_http_boot_uri &&
            (!op->sys.http_boot_uri || strcmp(op->sys.http_boot_uri, op->url) != 0)) {
                op_fail(op, -EIO, "the BMC accepted the Boot PATCH but reports HttpBootUri %s",
                        op->sys.http_boot_uri ? op->sys.http_boot_uri : "(none)");
                return;
        }
        op_succeed(op);
}

static void boot_verify(RedfishOp *op) {
        (void) op_summary(op, "boot override %s, Once%s%s%s", op->boot_target,
                          op->via_settings ? ", written to the settings object (applies at the next reset)" : "",
                          op->minimal ? ", target and enabled only (the full request was refused)" : "",
                          op->etag_use == ETAG_NONE && op->had_etag
                                  ? ", without If-Match (the BMC refused its own ETag)"
                                  : "");
        system_get(op, on_boot_final);
}

/* After a 412: the resource again, then the next If-Match to try. */
static void on_reread_412(RedfishOp *op, const RedfishReply *rep) {
        const char *fresh;

        if (!op_json(op, rep))
                return;
        fresh = rep->etag ? rep->etag : json_string_value(json_object_get(rep->json, "@odata.etag"));
        if (fresh && (!op->sent_etag || strcmp(fresh, op->sent_etag) != 0)) {
                /* stale: somebody changed it between our GET and PATCH */
                if (op->rereads++ >= 1) {
                        op_fail(op, -ESTALE,
                                "412 Precondition Failed: stale ETag, re-read and retried once, still refused "
                                "(PATCH %s)",
                                op->patch_path);
                        return;
                }
                if (set_str(&op->etag, fresh) < 0) {
                        op_fail(op, -ENOMEM, "out of memory");
                        return;
                }
                op->etag_use = ETAG_SEND;
                boot_patch_send(op);
                return;
        }
        /* the ETag did not change: the BMC refuses its own (weak ETags on
         * AMI builds, newer Lenovo XCC): stripped, then none (sushy) */
        if (op->etag_use == ETAG_SEND && redfish_etag_is_weak(op->sent_etag)) {
                op->etag_use = ETAG_STRIPPED;
                boot_patch_send(op);
                return;
        }
        /* even where If-Match is required: newer XCC 412s on it (docs/redfish.md §6) */
        if (op->etag_use != ETAG_NONE) {
                op->etag_use = ETAG_NONE;
                boot_patch_send(op);
                return;
        }
        op_fail(op, -ESTALE, "412 Precondition Failed: the BMC refuses If-Match even with its current ETag (PATCH %s)",
                op->patch_path);
}

/* After a 428: the resource again, for an ETag to send. */
static void on_reread_428(RedfishOp *op, const RedfishReply *rep) {
        const char *fresh;

        if (!op_json(op, rep))
                return;
        fresh = rep->etag ? rep->etag : json_string_value(json_object_get(rep->json, "@odata.etag"));
        if (set_str(&op->etag, fresh ? fresh : "*") < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op->etag_use = ETAG_SEND;
        boot_patch_send(op);
}

static void on_settings_get(RedfishOp *op, const RedfishReply *rep) {
        if (!op_json(op, rep))
                return;
        if (set_str(&op->etag, rep->etag ? rep->etag : json_string_value(json_object_get(rep->json, "@odata.etag"))) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op->etag_use = ETAG_SEND;
        op->rereads = 0;
        boot_patch_send(op);
}

static void on_boot_patch(RedfishOp *op, const RedfishReply *rep) {
        unsigned flags = op->t->quirks->flags;

        if (reply_ok(rep)) {
                if (rep->status == 202) {
                        op_follow_task(op, rep, boot_verify);
                        return;
                }
                boot_verify(op);
                return;
        }
        if (rep->r < 0 || op->patches >= REDFISH_PATCH_ATTEMPTS_MAX) {
                op_fail_reply(op, rep, NULL);
                return;
        }
        if (rep->status == 412) {
                op_get(op, op->patch_path, on_reread_412);
                return;
        }
        if (rep->status == 428 && op->precondition_required++ == 0) {
                op_get(op, op->patch_path, on_reread_428);
                return;
        }
        if (rep->status == 400 || rep->status == 403 || rep->status == 405) {
                /* Dell iDRAC10: Boot is read-only on the system and written
                 * through @Redfish.Settings (gofish PR #511) */
                if (!op->via_settings && op->sys.settings_object) {
                        op->via_settings = true;
                        if (set_str(&op->patch_path, op->sys.settings_object) < 0) {
                                op_fail(op, -ENOMEM, "out of memory");
                                return;
                        }
                        op_get(op, op->patch_path, on_settings_get);
                        return;
                }
                /* HPE DL160 Gen10 refuses the full object (bmclib) */
                if (rep->status == 400 && !op->minimal && !(flags & REDFISH_QUIRK_BOOT_NO_MINIMAL_RETRY)) {
                        json_auto_t *full = NULL, *mini = NULL;
                        op->minimal = true;
                        mini = boot_body(op);
                        op->minimal = false;
                        full = boot_body(op);
                        if (mini && full && !json_equal(mini, full)) {
                                op->minimal = true;
                                boot_patch_send(op);
                                return;
                        }
                }
        }
        op_fail_reply(op, rep, NULL);
}

static void boot_patch_send(RedfishOp *op) {
        unsigned flags = op->t->quirks->flags;
        json_auto_t *body = boot_body(op);
        _cleanup_free_ char *stripped = NULL;
        const char *if_match = NULL;

        if (!body) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        if (!(flags & REDFISH_QUIRK_NO_IF_MATCH) && op->etag_use != ETAG_NONE) {
                if_match = op->etag;
                if (if_match && redfish_etag_is_weak(if_match) &&
                    (op->etag_use == ETAG_STRIPPED || (flags & REDFISH_QUIRK_ETAG_STRIP_WEAK)))
                        if_match = stripped = strdup(if_match + 2);
                if (!if_match && (flags & REDFISH_QUIRK_IF_MATCH_REQUIRED))
                        if_match = "*";
        }
        op->had_etag = op->had_etag || if_match;
        if (set_str(&op->sent_etag, if_match) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op->patches++;
        op_send(op, &(RedfishCall) { .method = "PATCH", .path = op->patch_path, .body = body, .if_match = if_match },
                on_boot_patch);
}

static void boot_have_system(RedfishOp *op) {
        op->boot_target = op->kind->op == BMC_OP_HTTP_BOOT_ONCE ? "UefiHttp" : "Pxe";
        if (op->sys.boot_targets_known && !redfish_strings_contain(&op->sys.boot_targets, op->boot_target)) {
                _cleanup_free_ char *have = NULL;
                for (size_t i = 0; i < op->sys.boot_targets.n; i++) {
                        char *n = NULL;
                        if (asprintf(&n, "%s%s%s", have ? have : "", have ? ", " : "", op->sys.boot_targets.v[i]) < 0)
                                break;
                        free(have);
                        have = n;
                }
                op_fail(op, -EOPNOTSUPP, "the BMC does not offer BootSourceOverrideTarget %s (it allows: %s)",
                        op->boot_target, have ? have : "none");
                return;
        }
        if (set_str(&op->patch_path, op->t->system) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op->etag_use = ETAG_SEND;
        boot_patch_send(op);
}

static void boot_start(RedfishOp *op) {
        op_discover(op, boot_have_system);
}

/* ---- virtual media (docs/redfish.md §7) ---------------------------- */

static void media_location_next(RedfishOp *op);

static bool media_usable(const RedfishMedia *m) {
        return redfish_strings_contain(&m->media_types, "CD") || redfish_strings_contain(&m->media_types, "DVD");
}

static void slots_clear(RedfishOp *op) {
        for (size_t i = 0; i < op->n_slots; i++) {
                redfish_media_done(&op->slots[i]);
                free(op->slot_etags[i]);
        }
        free(op->slots);
        free(op->slot_etags);
        op->slots = NULL;
        op->slot_etags = NULL;
        op->n_slots = 0;
        redfish_strings_done(&op->slot_paths);
}

static void media_slot_next(RedfishOp *op);

static void on_slot(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;
        RedfishMedia m = {};
        RedfishMedia *ns;
        char **ne;

        if (!op_json(op, rep))
                return;
        if (redfish_media_parse(rep->json, &m, &err) < 0) {
                op_fail_parse(op, rep, -EBADMSG, err);
                return;
        }
        if (!media_usable(&m)) {
                redfish_media_done(&m);
                op->slot_i++;
                media_slot_next(op);
                return;
        }
        ns = realloc(op->slots, (op->n_slots + 1) * sizeof(*ns));
        if (ns)
                op->slots = ns;
        ne = ns ? realloc(op->slot_etags, (op->n_slots + 1) * sizeof(*ne)) : NULL;
        if (ne)
                op->slot_etags = ne;
        if (!ns || !ne) {
                redfish_media_done(&m);
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op->slots[op->n_slots] = m;
        op->slot_etags[op->n_slots] = NULL;
        (void) set_str(&op->slot_etags[op->n_slots], rep->etag ? rep->etag : m.odata_etag);
        op->n_slots++;
        /* slot_paths holds every member; the usable ones move to the front,
         * in step with slots[] (slot_i >= n_slots - 1: only looked-at
         * members are swapped) */
        {
                char *tmp = op->slot_paths.v[op->n_slots - 1];
                op->slot_paths.v[op->n_slots - 1] = op->slot_paths.v[op->slot_i];
                op->slot_paths.v[op->slot_i] = tmp;
        }
        op->slot_i++;
        media_slot_next(op);
}

static void media_slot_next(RedfishOp *op) {
        if (op->slot_i < op->slot_paths.n && op->slot_i < REDFISH_SLOTS_MAX) {
                op_get(op, op->slot_paths.v[op->slot_i], on_slot);
                return;
        }
        if (op->n_slots == 0) {
                op->loc_i++;
                media_location_next(op);
                return;
        }
        op->after_media(op);
}

static void on_slot_collection(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;

        slots_clear(op);
        if (!reply_ok(rep) || !rep->json || redfish_members_parse(rep->json, &op->slot_paths, &err) < 0) {
                op->loc_i++;
                media_location_next(op);
                return;
        }
        op->slot_i = 0;
        media_slot_next(op);
}

static void on_manager(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL, *vm = NULL;

        if (!reply_ok(rep) || !rep->json || redfish_manager_parse(rep->json, &vm, &err) < 0 || !vm) {
                op->loc_i++;
                media_location_next(op);
                return;
        }
        op_get(op, vm, on_slot_collection);
}

static void media_location_next(RedfishOp *op) {
        bool system_first = op->t->quirks->flags & REDFISH_QUIRK_VMEDIA_SYSTEM_FIRST;

        for (; op->loc_i < 2; op->loc_i++) {
                bool system = (op->loc_i == 0) == system_first;
                if (system && op->sys.virtual_media) {
                        op_get(op, op->sys.virtual_media, on_slot_collection);
                        return;
                }
                if (!system && op->sys.managed_by) {
                        op_get(op, op->sys.managed_by, on_manager);
                        return;
                }
        }
        op_fail(op, -EOPNOTSUPP, "no CD or DVD virtual media slot under the system's Manager or the System");
}

/* Finds the CD/DVD slots (op->slots, op->slot_paths in step), then `next`. */
static void media_discover(RedfishOp *op, OpStepFn next) {
        op->after_media = next;
        op->loc_i = 0;
        media_location_next(op);
}

/* -- eject -- */

static void eject_next(RedfishOp *op);

static ssize_t slot_index(const RedfishOp *op, const char *path) {
        for (size_t i = 0; i < op->n_slots; i++)
                if (strcmp(op->slot_paths.v[i], path) == 0)
                        return (ssize_t) i;
        return -1;
}

static void eject_poll(RedfishOp *op);

static void on_eject_verify(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;
        RedfishMedia m = {};

        if (!op_json(op, rep))
                return;
        if (redfish_media_parse(rep->json, &m, &err) < 0) {
                op_fail_parse(op, rep, -EBADMSG, err);
                return;
        }
        if (m.inserted) {
                redfish_media_done(&m);
                /* Dell: shown as inserted for a moment after the eject */
                if (op->eject_polls++ < REDFISH_EJECT_POLLS_MAX) {
                        op_wait(op, op->t->opts.poll_usec, eject_poll);
                        return;
                }
                op_fail(op, -EIO, "%s still shows media inserted after the eject", rep->path);
                return;
        }
        redfish_media_done(&m);
        op->eject_i++;
        eject_next(op);
}

static void eject_poll(RedfishOp *op) {
        op_get(op, op->eject_queue.v[op->eject_i], on_eject_verify);
}

static void on_eject(RedfishOp *op, const RedfishReply *rep) {
        if (!reply_ok(rep)) {
                op_fail_reply(op, rep, NULL);
                return;
        }
        op->eject_polls = 0;
        if (rep->status == 202) {
                op_follow_task(op, rep, eject_poll);
                return;
        }
        eject_poll(op);
}

static void eject_next(RedfishOp *op) {
        json_auto_t *body = NULL;
        ssize_t i;

        if (op->eject_i >= op->eject_queue.n) {
                op->after_media(op);
                return;
        }
        i = slot_index(op, op->eject_queue.v[op->eject_i]);
        if (i < 0) {
                op_fail(op, -EIO, "lost track of slot %s", op->eject_queue.v[op->eject_i]);
                return;
        }
        if (op->slots[i].eject_target) {
                /* HPE iLO wants a JSON body, even empty (sushy); {} suits all */
                body = json_object();
                if (!body) {
                        op_fail(op, -ENOMEM, "out of memory");
                        return;
                }
                op_send(op, &(RedfishCall) { .method = "POST", .path = op->slots[i].eject_target, .body = body },
                        on_eject);
                return;
        }
        /* Lenovo XCC: no EjectMedia action, PATCH the slot */
        body = json_pack("{s:n,s:b}", "Image", "Inserted", 0);
        if (!body) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op_send(op,
                &(RedfishCall) { .method = "PATCH",
                                 .path = op->slot_paths.v[i],
                                 .body = body,
                                 .if_match = (op->t->quirks->flags & REDFISH_QUIRK_NO_IF_MATCH) ? NULL
                                                                                                : op->slot_etags[i] },
                on_eject);
}

/* Ejects every slot listed in op->eject_queue, then `next`. */
static void eject_queue_run(RedfishOp *op, OpStepFn next) {
        op->after_media = next;
        op->eject_i = 0;
        eject_next(op);
}

static int queue_inserted(RedfishOp *op, bool all, size_t only) {
        redfish_strings_done(&op->eject_queue);
        for (size_t i = 0; i < op->n_slots; i++) {
                char **nv;
                if (!op->slots[i].inserted || (!all && i != only))
                        continue;
                nv = realloc(op->eject_queue.v, (op->eject_queue.n + 1) * sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                op->eject_queue.v = nv;
                op->eject_queue.v[op->eject_queue.n] = strdup(op->slot_paths.v[i]);
                if (!op->eject_queue.v[op->eject_queue.n])
                        return -ENOMEM;
                op->eject_queue.n++;
        }
        return 0;
}

static void eject_done(RedfishOp *op) {
        if (op->eject_queue.n == 0)
                (void) op_summary(op, "nothing inserted");
        else
                (void) op_summary(op, "ejected %zu slot%s", op->eject_queue.n, op->eject_queue.n == 1 ? "" : "s");
        if (op->n_slots > 0) {
                (void) set_str(&op->res.status.media_slot, op->slot_paths.v[0]);
                op->res.status.media_inserted = false;
        }
        op_succeed(op);
}

static void eject_have_slots(RedfishOp *op) {
        if (queue_inserted(op, true, 0) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        eject_queue_run(op, eject_done);
}

static void eject_have_system(RedfishOp *op) {
        media_discover(op, eject_have_slots);
}

static void media_eject_start(RedfishOp *op) {
        op_discover(op, eject_have_system);
}

/* -- insert -- */

static void insert_send(RedfishOp *op);

static void on_insert_verify(RedfishOp *op, const RedfishReply *rep) {
        _cleanup_free_ char *err = NULL;
        RedfishMedia m = {};

        if (!op_json(op, rep))
                return;
        if (redfish_media_parse(rep->json, &m, &err) < 0) {
                op_fail_parse(op, rep, -EBADMSG, err);
                return;
        }
        if (!m.inserted || !m.image || strcmp(m.image, op->url) != 0) {
                op_fail(op, -EIO, "the BMC accepted the insert but %s shows %s%s", rep->path,
                        m.inserted ? "Image " : "nothing inserted", m.inserted && m.image ? m.image : "");
                redfish_media_done(&m);
                return;
        }
        redfish_media_done(&m);
        (void) op_summary(op, "inserted %s in %s", op->url, op->slot_paths.v[op->slot_i]);
        (void) set_str(&op->res.status.media_slot, op->slot_paths.v[op->slot_i]);
        (void) set_str(&op->res.status.media_image, op->url);
        op->res.status.media_inserted = true;
        op_succeed(op);
}

static void insert_verify(RedfishOp *op) {
        op_get(op, op->slot_paths.v[op->slot_i], on_insert_verify);
}

/* After a refused insert: maybe it went in anyway (a retried request whose
 * first attempt worked); otherwise the refusal stands. */
static void on_insert_refused_reread(RedfishOp *op, const RedfishReply *rep) {
        RedfishMedia m = {};

        if (reply_ok(rep) && rep->json && redfish_media_parse(rep->json, &m, NULL) == 0 && m.inserted && m.image &&
            strcmp(m.image, op->url) == 0) {
                redfish_media_done(&m);
                on_insert_verify(op, rep);
                return;
        }
        redfish_media_done(&m);
        op_fail(op, op->held_r, "%s", op->held_error ? op->held_error : "insert refused");
}

static void on_insert(RedfishOp *op, const RedfishReply *rep) {
        RedfishMedia *slot = &op->slots[op->slot_i];

        if (reply_ok(rep)) {
                if (rep->status == 202) {
                        op_follow_task(op, rep, insert_verify);
                        return;
                }
                insert_verify(op);
                return;
        }
        /* OpenBMC (Cisco C845A M8): a slot without a working InsertMedia */
        if (rep->r == 0 && rep->status == 405 && op->slot_i + 1 < op->n_slots) {
                op->slot_i++;
                op->transfer_fields = false;
                insert_send(op);
                return;
        }
        /* "any: InsertMedia wants TransferProtocolType / TransferMethod" (sushy) */
        if (rep->r == 0 && (rep->status == 400 || rep->status == 415) && slot->insert_target && !op->transfer_fields) {
                op->transfer_fields = true;
                insert_send(op);
                return;
        }
        if (rep->r == 0 && (rep->status == 412 || rep->status == 428) && !slot->insert_target &&
            !op->insert_patch_retried) {
                op->insert_patch_retried = true;
                free(op->slot_etags[op->slot_i]);
                op->slot_etags[op->slot_i] = strdup("*");
                insert_send(op);
                return;
        }
        op_hold(op, rep);
        op_get(op, op->slot_paths.v[op->slot_i], on_insert_refused_reread);
}

static void insert_send(RedfishOp *op) {
        unsigned flags = op->t->quirks->flags;
        RedfishMedia *slot = &op->slots[op->slot_i];
        json_auto_t *body = NULL;

        if (slot->insert_target) {
                /* Supermicro X11: Image only (sushy, bmclib) */
                if (flags & REDFISH_QUIRK_VMEDIA_INSERT_IMAGE_ONLY)
                        body = json_pack("{s:s}", "Image", op->url);
                else
                        body = json_pack("{s:s,s:b,s:b}", "Image", op->url, "Inserted", 1, "WriteProtected", 1);
                if (body && op->transfer_fields &&
                    (json_object_set_new(body, "TransferProtocolType",
                                         json_string(strncasecmp(op->url, "https:", 6) == 0 ? "HTTPS" : "HTTP")) < 0 ||
                     json_object_set_new(body, "TransferMethod", json_string("Stream")) < 0))
                        body = (json_decref(body), NULL);
                if (!body) {
                        op_fail(op, -ENOMEM, "out of memory");
                        return;
                }
                op_send(op, &(RedfishCall) { .method = "POST", .path = slot->insert_target, .body = body }, on_insert);
                return;
        }
        /* Lenovo XCC: PATCH the slot; SD530 needs Inserted (sushy) */
        body = json_pack("{s:s,s:b,s:b}", "Image", op->url, "Inserted", 1, "WriteProtected", 1);
        if (!body) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        op_send(op,
                &(RedfishCall) { .method = "PATCH",
                                 .path = op->slot_paths.v[op->slot_i],
                                 .body = body,
                                 .if_match = (flags & REDFISH_QUIRK_NO_IF_MATCH) ? NULL : op->slot_etags[op->slot_i] },
                on_insert);
}

static void insert_after_eject(RedfishOp *op) {
        insert_send(op);
}

static void insert_have_slots(RedfishOp *op) {
        bool eject_all = op->t->quirks->flags & REDFISH_QUIRK_VMEDIA_EJECT_ALL_FIRST;
        size_t chosen = 0;

        for (size_t i = 0; i < op->n_slots; i++)
                if (op->slots[i].inserted && op->slots[i].image && strcmp(op->slots[i].image, op->url) == 0) {
                        op->slot_i = i;
                        (void) op_summary(op, "already inserted in %s", op->slot_paths.v[i]);
                        (void) set_str(&op->res.status.media_slot, op->slot_paths.v[i]);
                        (void) set_str(&op->res.status.media_image, op->url);
                        op->res.status.media_inserted = true;
                        op_succeed(op);
                        return;
                }
        /* prefer a slot that offers CD */
        for (size_t i = op->n_slots; i-- > 0;)
                if (redfish_strings_contain(&op->slots[i].media_types, "CD"))
                        chosen = i;
        op->slot_i = chosen;
        /* Dell: eject everything first; others: whatever sits in our slot */
        if (queue_inserted(op, eject_all, chosen) < 0) {
                op_fail(op, -ENOMEM, "out of memory");
                return;
        }
        eject_queue_run(op, insert_after_eject);
}

static void insert_have_system(RedfishOp *op) {
        media_discover(op, insert_have_slots);
}

static void media_insert_start(RedfishOp *op) {
        op_discover(op, insert_have_system);
}

/* ---- entry --------------------------------------------------------- */

static int on_start(sd_event_source *s, void *userdata) {
        RedfishOp *op = userdata;
        (void) s;
        op->defer = sd_event_source_disable_unref(op->defer);
        op->kind->start(op);
        return 0;
}

int redfish_op_start(RedfishTarget *t, BmcOp kind, const char *url, RedfishOpDoneFn done, void *userdata,
                     RedfishOp **ret) {
        const OpKind *k = op_kind(kind);
        RedfishOp *op;
        int r;

        if (!t || !k || !done)
                return -EINVAL;
        if (k->needs_url != (url != NULL))
                return -EINVAL;
        op = calloc(1, sizeof(*op));
        if (!op)
                return -ENOMEM;
        op->t = t;
        op->kind = k;
        op->done = done;
        op->userdata = userdata;
        op->res.op = kind;
        if (url && !(op->url = strdup(url))) {
                free(op);
                return -ENOMEM;
        }
        /* the first request starts from the loop, so `done` never runs
         * inside this call */
        r = sd_event_add_defer(t->event, &op->defer, on_start, op);
        if (r < 0) {
                op->defer = NULL;
                op_free(op);
                return r;
        }
        *ret = op;
        return 0;
}
