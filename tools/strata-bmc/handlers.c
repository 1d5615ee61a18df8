/* Request dispatch: one const table of (resource, method, handler, flags),
 * and the handlers. The HTTP server hands every /redfish and /strata-bmc
 * request to bmc_dispatch(), which parses the path (path.c), answers 404
 * and 405 (with Allow) from the table, hides resources the personality
 * does not have, applies injected faults, authenticates, and calls the
 * row's handler. Every refusal is a Redfish error object (message.c). */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmc.h"
#include "core/cleanup.h"
#include "core/log.h"

#define CONTENT_TYPE_JSON "application/json; charset=utf-8"
#define RETRY_AFTER_S "1"
#define URI_MAX 512u

typedef enum RouteFlag {
        ROUTE_AUTH = 1u << 0,    /* credentials required */
        ROUTE_MACHINE = 1u << 1, /* the first id names a machine */
        ROUTE_FAULTS = 1u << 2,  /* injected faults apply */
} RouteFlag;

typedef struct BmcRequest {
        Bmc *bmc;
        const HttpRequest *http;
        BmcPath path;
        BmcMachine *machine; /* ROUTE_MACHINE */
        int slot;            /* media resources: the slot's index */
        size_t nic;          /* NIC resource: the index */
        BmcPrincipal principal;
        uint64_t now_usec;
} BmcRequest;

typedef int (*BmcHandler)(BmcRequest *r, HttpResponse *resp);

typedef struct BmcRoute {
        BmcResource resource;
        const char *method;
        BmcHandler handler;
        unsigned flags;
} BmcRoute;

/* ---- replies ---- */

static int reply_json(HttpResponse *resp, unsigned status, json_t *j) {
        if (!j)
                return -ENOMEM;
        char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s)
                return -ENOMEM;
        return http_response_take(resp, status, CONTENT_TYPE_JSON, s);
}

static int reply_error(HttpResponse *resp, const BmcError *e) {
        return reply_json(resp, e->status, message_error_json(e));
}

static int reply_message(HttpResponse *resp, unsigned status, BmcMessage m, const char *arg1, const char *arg2) {
        BmcError e;
        (void) message_set(&e, status, m, arg1, arg2, NULL);
        return reply_error(resp, &e);
}

static int reply_empty(HttpResponse *resp, unsigned status) {
        return http_response_take(resp, status, NULL, NULL);
}

static int reply_with_etag(BmcRequest *r, HttpResponse *resp, unsigned status, json_t *j) {
        char etag[64];
        int k = reply_json(resp, status, j);
        if (k < 0)
                return k;
        return http_response_add_header(resp, "ETag", render_etag(r->machine, etag, sizeof(etag)));
}

static const char *header(const BmcRequest *r, const char *name) {
        return r->http->connection ? MHD_lookup_connection_value(r->http->connection, MHD_HEADER_KIND, name) : NULL;
}

static void trim(const char **s, size_t *len) {
        while (*len > 0 && (**s == ' ' || **s == '\t')) {
                (*s)++;
                (*len)--;
        }
        while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
                (*len)--;
}

/* RFC 9110 13.1.1 If-Match with strong comparison, under the
 * personality's ETag rules. 0: go on; 1: `resp` holds the refusal. */
static int check_if_match(BmcRequest *r, HttpResponse *resp) {
        const Personality *p = r->machine->personality;
        const char *im = header(r, "If-Match");
        char etag[64];
        int k;

        if (!im) {
                if (!(p->flags & PERS_ETAG_REQUIRED))
                        return 0;
                BmcError e;
                (void) message_set(&e, 0, BMC_MSG_PRECONDITION_REQUIRED, NULL, NULL, NULL);
                e.message_id = p->precondition_message_id;
                k = reply_error(resp, &e);
                return k < 0 ? k : 1;
        }
        snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long) r->machine->state->generation);
        /* a list of entity tags, each compared whole */
        for (const char *s = im;;) {
                const char *comma = strchr(s, ',');
                size_t len = comma ? (size_t) (comma - s) : strlen(s);
                const char *tok = s;
                trim(&tok, &len);
                if (len == 1 && tok[0] == '*')
                        return 0;
                if (!(p->flags & PERS_IF_MATCH_REFUSED) && len == strlen(etag) && memcmp(tok, etag, len) == 0)
                        return 0;
                if (!comma)
                        break;
                s = comma + 1;
        }
        k = reply_message(resp, 0, BMC_MSG_PRECONDITION_FAILED, NULL, NULL);
        return k < 0 ? k : 1;
}

/* The back end's power state into the model (QEMU: the guest may have
 * powered off by itself). */
static void sync_power(BmcRequest *r) {
        BmcMachine *m = r->machine;
        BmcPower p;
        int k = m->backend->power_get(m, &p);
        if (k < 0) {
                if (!m->unreachable)
                        log_warning_errno(k, "machine %s: %s back end does not answer", m->id, m->backend->name);
                m->unreachable = true;
                machine_power_observed(m->state, BMC_POWER_OFF); /* QEMU gone: off */
                return;
        }
        m->unreachable = false;
        machine_power_observed(m->state, p);
}

/* ---- service root, sessions ---- */

static int h_versions(BmcRequest *r, HttpResponse *resp) {
        (void) r;
        return reply_json(resp, 200, json_pack("{s:s}", "v1", "/redfish/v1/"));
}

static int h_root(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_root(r->bmc));
}

static int h_session_service(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_session_service(r->bmc));
}

static int h_sessions(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_sessions(r->bmc));
}

static int h_session_create(BmcRequest *r, HttpResponse *resp) {
        BmcLogin login = { 0 };
        BmcError e;
        BmcSession *s;
        char location[URI_MAX];
        int k;

        k = emu_login_parse(r->http->body, r->http->body_size, &login, &e);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return reply_error(resp, &e);
        uint64_t mask = auth_credentials_match(r->bmc, login.username, login.password);
        login.password = secret_free(login.password);
        if (!mask)
                return reply_message(resp, 0, BMC_MSG_NO_VALID_SESSION, NULL, NULL);
        auth_sessions_expire(r->bmc, r->now_usec);
        k = auth_session_new(r->bmc, login.username, mask, r->now_usec, &s);
        if (k == -EBUSY)
                return reply_message(resp, 0, BMC_MSG_SESSION_LIMIT_EXCEEDED, NULL, NULL);
        if (k < 0)
                return k;
        log_debug("session %u opened for user \"%s\"", s->id, s->username);
        snprintf(location, sizeof(location), "/redfish/v1/SessionService/Sessions/%u", s->id);
        k = reply_json(resp, 201, render_session(s));
        if (k >= 0)
                k = http_response_add_header(resp, "Location", location);
        if (k >= 0)
                k = http_response_add_header(resp, "X-Auth-Token", (const char *) s->token->data);
        return k;
}

static BmcSession *session_of(BmcRequest *r) {
        char *end;
        unsigned long id = strtoul(r->path.id, &end, 10);
        if (*end || id == 0 || id > UINT32_MAX)
                return NULL;
        return auth_session_find(r->bmc, (unsigned) id);
}

static int h_session_get(BmcRequest *r, HttpResponse *resp) {
        BmcSession *s = session_of(r);
        if (!s)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, r->http->path, NULL);
        return reply_json(resp, 200, render_session(s));
}

static int h_session_delete(BmcRequest *r, HttpResponse *resp) {
        BmcSession *s = session_of(r);
        if (!s)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, r->http->path, NULL);
        log_debug("session %u closed", s->id);
        auth_session_delete(r->bmc, s);
        return reply_empty(resp, 204);
}

/* ---- systems ---- */

static int h_systems(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_systems(r->bmc, r->principal.machines));
}

static int h_system_get(BmcRequest *r, HttpResponse *resp) {
        sync_power(r);
        return reply_with_etag(r, resp, 200, render_system(r->machine));
}

static int boot_patch(BmcRequest *r, HttpResponse *resp, bool to_settings) {
        BmcBootPatch patch;
        BmcError e;
        int k;

        k = check_if_match(r, resp);
        if (k != 0)
                return k < 0 ? k : 0;
        k = emu_system_patch_parse(r->http->body, r->http->body_size, &patch, &e);
        if (k == -ENOMEM)
                return k;
        if (k >= 0)
                k = machine_boot_patch(r->machine->state, r->machine->personality, &patch, to_settings, &e);
        if (k < 0)
                return reply_error(resp, &e);
        return reply_with_etag(r, resp, 200, to_settings ? render_settings(r->machine) : render_system(r->machine));
}

static int h_system_patch(BmcRequest *r, HttpResponse *resp) {
        return boot_patch(r, resp, false);
}

static int h_settings_get(BmcRequest *r, HttpResponse *resp) {
        return reply_with_etag(r, resp, 200, render_settings(r->machine));
}

static int h_settings_patch(BmcRequest *r, HttpResponse *resp) {
        return boot_patch(r, resp, true);
}

static int h_reset(BmcRequest *r, HttpResponse *resp) {
        BmcMachine *m = r->machine;
        BmcResetType type;
        BmcResetPlan plan;
        BmcPower observed;
        BmcError e;
        char why[256] = "";
        int k;

        k = emu_reset_parse(r->http->body, r->http->body_size, &type, &e);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return reply_error(resp, &e);
        if (!personality_allows_reset(m->personality, type)) {
                (void) message_set(&e, 0, BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST, emu_reset_to_string(type),
                                   "ResetType", "ComputerSystem.Reset");
                return reply_error(resp, &e);
        }
        sync_power(r);
        if (m->unreachable)
                return reply_message(resp, 0, BMC_MSG_INTERNAL_ERROR, NULL, NULL);
        if (machine_reset_plan(m->state, type, &plan) < 0)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_IN_USE, NULL, NULL);
        k = m->backend->power_apply(m, &plan, &observed, why, sizeof(why));
        if (k < 0) {
                log_struct(LOG_WARNING, k, LOG_FIELDS({ "STRATA_MACHINE", m->id }), "machine %s: %s via %s failed: %s",
                           m->id, emu_reset_to_string(type), m->backend->name, why);
                return reply_message(resp, 0, BMC_MSG_INTERNAL_ERROR, NULL, NULL);
        }
        machine_reset_commit(m->state, &plan, observed);
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_MACHINE", m->id }), "machine %s: %s%s%s", m->id,
                   emu_reset_to_string(type), plan.boots ? ", boots from " : "",
                   plan.boots ? emu_target_to_string(plan.source) : "");
        return reply_empty(resp, 204);
}

static int h_nics(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_nics(r->machine));
}

static int h_nic(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_nic(r->machine, r->nic));
}

/* ---- virtual media ---- */

/* A slot without the actions (Lenovo XCC, OpenBMC Slot_0): the action URI
 * allows no method at all. RFC 9110 wants an empty Allow then, which MHD
 * cannot send, so there is none. */
static int reply_no_action(HttpResponse *resp) {
        return reply_message(resp, 0, BMC_MSG_OPERATION_NOT_ALLOWED, NULL, NULL);
}

static int h_media_collection(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_media_collection(r->machine));
}

static int h_media_get(BmcRequest *r, HttpResponse *resp) {
        return reply_with_etag(r, resp, 200, render_media(r->machine, (unsigned) r->slot));
}

static int h_media_patch(BmcRequest *r, HttpResponse *resp) {
        BmcMachine *m = r->machine;
        unsigned slot = (unsigned) r->slot;
        BmcMediaPatch patch;
        BmcError e;
        int k;

        k = check_if_match(r, resp);
        if (k != 0)
                return k < 0 ? k : 0;
        k = emu_media_patch_parse(r->http->body, r->http->body_size, &patch, &e);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return reply_error(resp, &e);
        /* Lenovo SD530 wants Inserted on every PATCH (sushy; redfish.md section 9) */
        if ((m->personality->flags & PERS_MEDIA_PATCH_NEEDS_INSERTED) && !patch.has_inserted)
                return reply_message(resp, 0, BMC_MSG_PROPERTY_MISSING, "Inserted", NULL);

        bool eject = patch.image_null || (patch.has_inserted && !patch.inserted);
        bool insert = patch.has_image && !patch.image_null && !eject;
        if ((eject || insert) && m->state->media[slot].inserted) {
                k = media_eject(r->bmc, m, slot, &e);
                if (k < 0)
                        return reply_error(resp, &e);
        }
        if (insert) {
                BmcInsertMedia req = { .has_write_protected = patch.has_write_protected,
                                       .write_protected = patch.write_protected };
                snprintf(req.image, sizeof(req.image), "%s", patch.image);
                k = media_insert(r->bmc, m, slot, &req, &e);
                if (k < 0)
                        return reply_error(resp, &e);
        } else if (patch.has_write_protected && !eject) {
                m->state->media[slot].write_protected = patch.write_protected;
                m->state->generation++;
        }
        return reply_with_etag(r, resp, 200, render_media(m, slot));
}

static int h_media_insert(BmcRequest *r, HttpResponse *resp) {
        BmcMachine *m = r->machine;
        unsigned slot = (unsigned) r->slot;
        BmcInsertMedia req;
        BmcError e;
        int k;

        if (m->personality->slots[slot].no_actions)
                return reply_no_action(resp);
        k = emu_insert_media_parse(r->http->body, r->http->body_size, &req, &e);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return reply_error(resp, &e);
        if (!(m->personality->flags & PERS_MEDIA_TASK)) {
                k = media_insert(r->bmc, m, slot, &req, &e);
                return k < 0 ? reply_error(resp, &e) : reply_empty(resp, 204);
        }

        /* Dell: checked now, carried out as a task (redfish.md section 8) */
        BmcTask *t;
        char monitor[URI_MAX];
        k = media_check_insert(m, slot, &req, &e);
        if (k < 0)
                return reply_error(resp, &e);
        k = task_new(r->bmc, m, slot, &req, r->now_usec, &t);
        if (k == -EBUSY)
                return reply_message(resp, 0, BMC_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, RETRY_AFTER_S, NULL);
        if (k < 0)
                return k;
        snprintf(monitor, sizeof(monitor), "/redfish/v1/TaskService/Tasks/%u/Monitor", t->id);
        k = reply_json(resp, 202, render_task(t));
        if (k >= 0)
                k = http_response_add_header(resp, "Location", monitor);
        if (k >= 0)
                k = http_response_add_header(resp, "Retry-After", RETRY_AFTER_S);
        return k;
}

static int h_media_eject(BmcRequest *r, HttpResponse *resp) {
        BmcMachine *m = r->machine;
        bool has_body;
        BmcError e;
        int k;

        if (m->personality->slots[r->slot].no_actions)
                return reply_no_action(resp);
        k = emu_eject_media_parse(r->http->body, r->http->body_size, &has_body, &e);
        if (k < 0)
                return reply_error(resp, &e);
        /* HPE iLO wants {} (sushy virtual_media.py; redfish.md section 9) */
        if ((m->personality->flags & PERS_EJECT_NEEDS_BODY) && !has_body)
                return reply_message(resp, 415, BMC_MSG_HEADER_MISSING, "Content-Type", NULL);
        k = media_eject(r->bmc, m, (unsigned) r->slot, &e);
        return k < 0 ? reply_error(resp, &e) : reply_empty(resp, 204);
}

/* ---- managers, tasks ---- */

static int h_managers(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_managers(r->bmc, r->principal.machines));
}

static int h_manager(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_manager(r->machine));
}

static int h_task_service(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_task_service(r->bmc));
}

static int h_tasks(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_tasks(r->bmc, r->principal.machines));
}

static BmcTask *task_of(BmcRequest *r) {
        char *end;
        unsigned long id = strtoul(r->path.id, &end, 10);
        if (*end || id == 0 || id > UINT32_MAX)
                return NULL;
        BmcTask *t = task_find(r->bmc, (unsigned) id);
        return t && (r->principal.machines & (UINT64_C(1) << t->machine)) ? t : NULL;
}

static int h_task(BmcRequest *r, HttpResponse *resp) {
        BmcTask *t = task_of(r);
        if (!t)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, r->http->path, NULL);
        return reply_json(resp, 200, render_task(t));
}

/* 202 while running; then the operation's own answer (DSP0266) */
static int h_task_monitor(BmcRequest *r, HttpResponse *resp) {
        BmcTask *t = task_of(r);
        int k;

        if (!t)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, r->http->path, NULL);
        switch (t->state) {
        case BMC_TASK_RUNNING:
                k = reply_json(resp, 202, render_task(t));
                if (k >= 0)
                        k = http_response_add_header(resp, "Location", r->http->path);
                if (k >= 0)
                        k = http_response_add_header(resp, "Retry-After", RETRY_AFTER_S);
                return k;
        case BMC_TASK_COMPLETED:
                return reply_empty(resp, 204);
        default:
                return reply_error(resp, &t->error);
        }
}

/* ---- test endpoints ---- */

static int h_history(BmcRequest *r, HttpResponse *resp) {
        sync_power(r);
        return reply_json(resp, 200, render_history(r->machine));
}

static int h_history_clear(BmcRequest *r, HttpResponse *resp) {
        MachineState *s = r->machine->state;
        memset(s->history, 0, sizeof(s->history));
        s->next_seq = 0;
        return reply_empty(resp, 204);
}

static int h_faults(BmcRequest *r, HttpResponse *resp) {
        return reply_json(resp, 200, render_faults(r->machine));
}

static int h_faults_set(BmcRequest *r, HttpResponse *resp) {
        BmcFaults f;
        BmcError e;
        int k = emu_faults_parse_text(r->http->body, r->http->body_size, &f, &e);
        if (k < 0)
                return reply_error(resp, &e);
        r->machine->faults = f;
        log_info("machine %s: faults set (%zu failures queued, hang %u ms)", r->machine->id, f.n_fail, f.hang_ms);
        return reply_json(resp, 200, render_faults(r->machine));
}

#define A ROUTE_AUTH
#define M (ROUTE_MACHINE | ROUTE_FAULTS)

static const BmcRoute routes[] = {
        { BMC_RES_VERSIONS, "GET", h_versions, 0 },
        { BMC_RES_ROOT, "GET", h_root, 0 },
        { BMC_RES_SESSION_SERVICE, "GET", h_session_service, A },
        { BMC_RES_SESSIONS, "GET", h_sessions, A },
        { BMC_RES_SESSIONS, "POST", h_session_create, 0 },
        { BMC_RES_SESSION, "GET", h_session_get, A },
        { BMC_RES_SESSION, "DELETE", h_session_delete, A },
        { BMC_RES_SYSTEMS, "GET", h_systems, A },
        { BMC_RES_SYSTEM, "GET", h_system_get, A | M },
        { BMC_RES_SYSTEM, "PATCH", h_system_patch, A | M },
        { BMC_RES_SYSTEM_SETTINGS, "GET", h_settings_get, A | M },
        { BMC_RES_SYSTEM_SETTINGS, "PATCH", h_settings_patch, A | M },
        { BMC_RES_SYSTEM_RESET, "POST", h_reset, A | M },
        { BMC_RES_NICS, "GET", h_nics, A | M },
        { BMC_RES_NIC, "GET", h_nic, A | M },
        { BMC_RES_SYS_MEDIA_COLL, "GET", h_media_collection, A | M },
        { BMC_RES_SYS_MEDIA, "GET", h_media_get, A | M },
        { BMC_RES_SYS_MEDIA, "PATCH", h_media_patch, A | M },
        { BMC_RES_SYS_MEDIA_INSERT, "POST", h_media_insert, A | M },
        { BMC_RES_SYS_MEDIA_EJECT, "POST", h_media_eject, A | M },
        { BMC_RES_MANAGERS, "GET", h_managers, A },
        { BMC_RES_MANAGER, "GET", h_manager, A | M },
        { BMC_RES_MGR_MEDIA_COLL, "GET", h_media_collection, A | M },
        { BMC_RES_MGR_MEDIA, "GET", h_media_get, A | M },
        { BMC_RES_MGR_MEDIA, "PATCH", h_media_patch, A | M },
        { BMC_RES_MGR_MEDIA_INSERT, "POST", h_media_insert, A | M },
        { BMC_RES_MGR_MEDIA_EJECT, "POST", h_media_eject, A | M },
        { BMC_RES_TASK_SERVICE, "GET", h_task_service, A },
        { BMC_RES_TASKS, "GET", h_tasks, A },
        { BMC_RES_TASK, "GET", h_task, A },
        { BMC_RES_TASK_MONITOR, "GET", h_task_monitor, A },
        /* test endpoints: no auth, no faults (loopback only, see listen.c) */
        { BMC_RES_HISTORY, "GET", h_history, ROUTE_MACHINE },
        { BMC_RES_HISTORY, "DELETE", h_history_clear, ROUTE_MACHINE },
        { BMC_RES_FAULTS, "GET", h_faults, ROUTE_MACHINE },
        { BMC_RES_FAULTS, "PUT", h_faults_set, ROUTE_MACHINE },
};

#undef A
#undef M

static bool is_media(BmcResource res, bool *ret_on_system) {
        *ret_on_system = res == BMC_RES_SYS_MEDIA_COLL || res == BMC_RES_SYS_MEDIA || res == BMC_RES_SYS_MEDIA_INSERT ||
                         res == BMC_RES_SYS_MEDIA_EJECT;
        return *ret_on_system || res == BMC_RES_MGR_MEDIA_COLL || res == BMC_RES_MGR_MEDIA ||
               res == BMC_RES_MGR_MEDIA_INSERT || res == BMC_RES_MGR_MEDIA_EJECT;
}

/* Does the resource exist for this service and machine? Fills r->slot/nic. */
static bool resource_exists(BmcRequest *r) {
        BmcResource res = r->path.resource;
        BmcMachine *m = r->machine;
        bool on_system;

        switch (res) {
        case BMC_RES_SESSION_SERVICE:
        case BMC_RES_SESSIONS:
        case BMC_RES_SESSION:
                return r->bmc->sessions;
        case BMC_RES_SYSTEM_SETTINGS:
                return m->personality->flags & PERS_BOOT_SETTINGS;
        case BMC_RES_NIC: {
                char *end;
                unsigned long i = strtoul(r->path.sub, &end, 10);
                if (*end || r->path.sub[0] == '0' || i == 0 || i > m->n_macs)
                        return false;
                r->nic = i - 1;
                return true;
        }
        default:
                break;
        }
        if (is_media(res, &on_system)) {
                if (on_system != !!(m->personality->flags & PERS_MEDIA_ON_SYSTEM))
                        return false;
                if (res == BMC_RES_SYS_MEDIA_COLL || res == BMC_RES_MGR_MEDIA_COLL)
                        return true;
                r->slot = personality_slot_find(m->personality, r->path.sub);
                return r->slot >= 0;
        }
        return true;
}

/* The next injected fault for this request: 1 when `resp` holds it. */
static int apply_faults(BmcRequest *r, HttpResponse *resp) {
        BmcFaults *f = &r->machine->faults;
        int k;

        if (f->hang_ms > 0 && (!f->hang_counted || f->hang_next > 0)) {
                resp->delay_ms = f->hang_ms;
                if (f->hang_counted)
                        f->hang_next--;
        }
        if (f->n_fail == 0)
                return 0;
        unsigned status = f->fail_next[0];
        memmove(f->fail_next, f->fail_next + 1, (f->n_fail - 1) * sizeof(f->fail_next[0]));
        f->n_fail--;
        machine_record(r->machine->state, BMC_EVENT_FAULT, "%u %s %s", status, r->http->method, r->http->path);
        unsigned delay = resp->delay_ms;
        k = reply_message(resp, status, status == 503 ? BMC_MSG_SERVICE_TEMPORARILY_UNAVAILABLE : BMC_MSG_INTERNAL_ERROR,
                          status == 503 ? RETRY_AFTER_S : NULL, NULL);
        resp->delay_ms = delay;
        if (k >= 0 && status == 503)
                k = http_response_add_header(resp, "Retry-After", RETRY_AFTER_S);
        return k < 0 ? k : 1;
}

static void allow_header(BmcResource res, HttpResponse *resp) {
        char allow[128] = "";
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (routes[i].resource == res) {
                        size_t len = strlen(allow);
                        snprintf(allow + len, sizeof(allow) - len, "%s%s", len ? ", " : "", routes[i].method);
                }
        (void) http_response_add_header(resp, "Allow", allow);
}

static int dispatch(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Bmc *b = userdata;
        BmcRequest r = { .bmc = b, .http = req, .slot = -1 };
        const BmcRoute *route = NULL;
        const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
        int k;

        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &r.now_usec);
        task_advance(b, r.now_usec);

        if (emu_path_parse(req->path, &r.path) < 0)
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, req->path, NULL);
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && !route; i++)
                if (routes[i].resource == r.path.resource && strcmp(routes[i].method, method) == 0)
                        route = &routes[i];
        if (route && (route->flags & ROUTE_MACHINE)) {
                r.machine = emu_machine_find(b, r.path.id);
                if (!r.machine)
                        return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, req->path, NULL);
        }
        if (route && !resource_exists(&r))
                return reply_message(resp, 0, BMC_MSG_RESOURCE_MISSING_AT_URI, req->path, NULL);
        if (!route) {
                k = reply_message(resp, 0, BMC_MSG_OPERATION_NOT_ALLOWED, NULL, NULL);
                if (k >= 0)
                        allow_header(r.path.resource, resp);
                return k;
        }
        if (route->flags & ROUTE_FAULTS) {
                k = apply_faults(&r, resp);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
        if (route->flags & ROUTE_AUTH) {
                if (auth_check(b, req->connection, r.now_usec, &r.principal) < 0) {
                        k = reply_message(resp, 0, BMC_MSG_NO_VALID_SESSION, NULL, NULL);
                        if (k >= 0)
                                k = http_response_add_header(resp, "WWW-Authenticate", "Basic realm=\"strata-bmc\"");
                        return k;
                }
                if (r.machine && !(r.principal.machines & (UINT64_C(1) << r.machine->index)))
                        return reply_message(resp, 0, BMC_MSG_INSUFFICIENT_PRIVILEGE, NULL, NULL);
        }
        unsigned delay = resp->delay_ms;
        k = route->handler(&r, resp);
        resp->delay_ms = delay;
        return k;
}

/* Every answer under /redfish says which OData version it speaks. */
static int on_request(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        int k = dispatch(req, resp, userdata);
        if (k >= 0)
                k = http_response_add_header(resp, "OData-Version", "4.0");
        return k;
}

const HttpRoute emu_http_routes[] = {
        { "GET", "/redfish", on_request },
        { "GET", "/redfish/*", on_request },
        { "POST", "/redfish/*", on_request },
        { "PATCH", "/redfish/*", on_request },
        { "PUT", "/redfish/*", on_request },
        { "DELETE", "/redfish/*", on_request },
        { "GET", "/strata-bmc/*", on_request },
        { "PUT", "/strata-bmc/*", on_request },
        { "DELETE", "/strata-bmc/*", on_request },
};

const size_t emu_http_routes_size = sizeof(emu_http_routes) / sizeof(emu_http_routes[0]);
