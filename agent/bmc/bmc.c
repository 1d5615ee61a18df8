/* The bmc folder's entry points (see bmc.h): the inventory view of the spec,
 * BmcClient (a RedfishClient, what discovery learnt, one operation at a
 * time), and bmc_run(), which drives several clients concurrently on a
 * private loop for the CLI. */
#include "bmc/bmc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/containment.h"
#include "bmc/credentials.h"
#include "bmc/redfish-client.h"
#include "bmc/redfish-ops.h"
#include "bmc/redfish-parse.h"
#include "bmc/tls.h"
#include "core/cleanup.h"
#include "core/error-detail.h"

#define BMC_MEDIA_URL_MAX 2048u /* an image URL handed to the BMC */

struct BmcClient {
        sd_event *event;
        CurlEvent *ce;
        RedfishClient *rc;
        RedfishTarget t;
        RedfishOp *op;
        BmcDoneFn done;
        void *userdata;
        RedfishRequest *logout;
        sd_event_source *close_defer;
        BmcCloseFn close_done;
        void *close_userdata;
        BmcGuardFn guard; /* the inventory's, taken at creation */
        void *guard_userdata;
};

/* ---- inventory ---------------------------------------------------- */

static void machine_done(BmcMachine *m) {
        free(m->name);
        free(m->endpoint);
        free(m->origin);
        free(m->username);
        free(m->credential_file);
        free(m->credential_name);
        bmc_tls_done(&m->tls);
        free(m->system_id);
        free(m->serial);
        free(m->uuid);
        free(m->vendor_hint);
        for (size_t i = 0; i < m->n_macs; i++)
                free(m->macs[i]);
        free(m->macs);
}

BmcInventory *bmc_inventory_free(BmcInventory *inv) {
        if (!inv)
                return NULL;
        for (size_t i = 0; i < inv->n_machines; i++)
                machine_done(&inv->machines[i]);
        free(inv->machines);
        free(inv);
        return NULL;
}

const BmcMachine *bmc_inventory_find(const BmcInventory *inv, const char *name) {
        for (size_t i = 0; inv && name && i < inv->n_machines; i++)
                if (strcmp(inv->machines[i].name, name) == 0)
                        return &inv->machines[i];
        return NULL;
}

static int dup_member(const json_t *o, const char *key, char **ret) {
        const char *s = json_string_value(json_object_get(o, key));
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

static int machine_from_json(const json_t *j, BmcMachine *m, char **reterr) {
        const json_t *bmc = json_object_get(j, "bmc"), *cred = json_object_get(bmc, "credential"), *macs, *v;
        _cleanup_free_ char *err = NULL;
        size_t i;
        int r;

        if ((r = dup_member(j, "name", &m->name)) < 0 || (r = dup_member(bmc, "endpoint", &m->endpoint)) < 0 ||
            (r = dup_member(bmc, "username", &m->username)) < 0 ||
            (r = dup_member(cred, "file", &m->credential_file)) < 0 ||
            (r = dup_member(cred, "systemd_credential", &m->credential_name)) < 0 ||
            (r = dup_member(bmc, "system_id", &m->system_id)) < 0 || (r = dup_member(bmc, "serial", &m->serial)) < 0 ||
            (r = dup_member(bmc, "uuid", &m->uuid)) < 0 || (r = dup_member(bmc, "vendor_hint", &m->vendor_hint)) < 0)
                return r;
        if (!m->name || !m->endpoint)
                return error_detail_set(reterr, -EINVAL, "inventory entry without name or bmc.endpoint");
        r = bmc_origin_normalize(m->endpoint, &m->origin, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: bmc.endpoint: %s", m->name, err ? err : "out of memory");
        r = bmc_tls_parse(json_object_get(bmc, "tls"), &m->tls, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: bmc.%s", m->name, err ? err : "tls: out of memory");
        macs = json_object_get(j, "macs");
        m->macs = calloc(json_array_size(macs) + 1, sizeof(char *));
        if (!m->macs)
                return -ENOMEM;
        json_array_foreach(macs, i, v) {
                char mac[18];
                if (redfish_mac_normalize(json_string_value(v), mac) < 0)
                        return error_detail_set(reterr, -EINVAL, "%s: macs[%zu]: not a MAC address", m->name, i);
                m->macs[m->n_macs] = strdup(mac);
                if (!m->macs[m->n_macs])
                        return -ENOMEM;
                m->n_macs++;
        }
        return 0;
}

int bmc_inventory_from_spec(const Spec *spec, BmcInventory **ret, char **reterr) {
        const json_t *list = json_object_get(spec_json(spec), "inventory"), *j;
        BmcInventory *inv;
        size_t i;
        int r;

        inv = calloc(1, sizeof(*inv));
        if (!inv)
                return -ENOMEM;
        inv->machines = calloc(json_array_size(list) + 1, sizeof(BmcMachine));
        if (!inv->machines) {
                bmc_inventory_free(inv);
                return -ENOMEM;
        }
        json_array_foreach(list, i, j) {
                r = machine_from_json(j, &inv->machines[inv->n_machines++], reterr);
                if (r < 0) {
                        bmc_inventory_free(inv);
                        return r;
                }
        }
        /* curl reuses a connection by host and port: two machines behind
         * one BMC must check it the same way */
        for (size_t a = 0; a < inv->n_machines; a++)
                for (size_t b = a + 1; b < inv->n_machines; b++) {
                        const BmcMachine *x = &inv->machines[a], *y = &inv->machines[b];
                        if (strcmp(x->origin, y->origin) == 0 && !bmc_tls_equal(&x->tls, &y->tls)) {
                                r = error_detail_set(reterr, -EINVAL,
                                                     "%s and %s share the BMC endpoint %s with different tls settings",
                                                     x->name, y->name, x->origin);
                                bmc_inventory_free(inv);
                                return r;
                        }
                }
        *ret = inv;
        return 0;
}

/* ---- results ------------------------------------------------------- */

void bmc_result_done(BmcResult *r) {
        BmcStatus *s = &r->status;
        char **fields[] = { &s->system, &s->matched_by, &s->vendor, &s->product, &s->redfish_version,
                            &s->quirks, &s->auth, &s->manufacturer, &s->model, &s->serial, &s->uuid,
                            &s->power_state, &s->boot_enabled, &s->boot_target, &s->boot_mode,
                            &s->http_boot_uri, &s->media_slot, &s->media_image, &r->summary };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                free(*fields[i]);
                *fields[i] = NULL;
        }
        s->boot_pending = s->media_inserted = false;
}

static void result_move(BmcResult *dst, BmcResult *src) {
        *dst = *src;
        *src = (BmcResult) {};
}

/* ---- client -------------------------------------------------------- */

int bmc_client_new(sd_event *event, CurlEvent *ce, const BmcInventory *inv, const char *machine,
                   const BmcOptions *o, BmcClient **ret, char **reterr) {
        const BmcMachine *m = bmc_inventory_find(inv, machine);
        _cleanup_free_ char *user = NULL, *err = NULL;
        _cleanup_secret_ Secret *pw = NULL;
        BmcClient *c;
        int r;

        if (!event || !ce || !ret)
                return -EINVAL;
        if (!m)
                return error_detail_set(reterr, -ENOENT, "%s: not a machine in the spec's inventory",
                                        machine ? machine : "(none)");
        r = bmc_credential_read(m, &user, &pw, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "%s (%s): %s", m->name, m->endpoint, err ? err : strerror(-r));
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->ce = ce;
        c->t.event = event;
        c->t.m = m;
        c->guard = inv->guard;
        c->guard_userdata = inv->guard_userdata;
        if (o)
                c->t.opts = *o;
        if (!c->t.opts.request_timeout_usec)
                c->t.opts.request_timeout_usec = BMC_REQUEST_TIMEOUT_USEC;
        if (!c->t.opts.retries)
                c->t.opts.retries = BMC_RETRIES;
        if (!c->t.opts.backoff_usec)
                c->t.opts.backoff_usec = BMC_BACKOFF_USEC;
        if (!c->t.opts.poll_usec)
                c->t.opts.poll_usec = BMC_POLL_USEC;
        if (!c->t.opts.settle_usec)
                c->t.opts.settle_usec = BMC_SETTLE_USEC;
        if (!c->t.opts.task_timeout_usec)
                c->t.opts.task_timeout_usec = BMC_TASK_TIMEOUT_USEC;
        r = redfish_client_new(event, ce,
                               &(RedfishClientConfig) { .inventory = inv,
                                                        .machine = m,
                                                        .username = user,
                                                        .password = pw,
                                                        .timeout_usec = c->t.opts.request_timeout_usec,
                                                        .backoff_usec = c->t.opts.backoff_usec,
                                                        .retries = c->t.opts.retries },
                               &c->rc);
        if (r < 0) {
                bmc_client_free(c);
                return r;
        }
        c->t.rc = c->rc;
        c->t.quirks = NULL;
        bmc_tls_warn(m);
        *ret = c;
        return 0;
}

BmcClient *bmc_client_free(BmcClient *c) {
        if (!c)
                return NULL;
        redfish_op_cancel(c->op);
        redfish_request_cancel(c->logout);
        sd_event_source_disable_unref(c->close_defer);
        redfish_target_done(&c->t);
        redfish_client_free(c->rc);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

const BmcMachine *bmc_client_machine(const BmcClient *c) {
        return c ? c->t.m : NULL;
}

static void on_op_done(int r, BmcResult *res, const char *error, void *userdata) {
        BmcClient *c = userdata;
        c->op = NULL;
        c->done(c, r, res, error, c->userdata);
}

int bmc_client_start(BmcClient *c, BmcOp op, const char *url, BmcDoneFn done, void *userdata) {
        _cleanup_free_ char *origin = NULL;

        if (!c || !done || op < 0 || op >= _BMC_OP_MAX)
                return -EINVAL;
        if (c->op || c->logout || c->close_defer)
                return -EBUSY;
        if (bmc_op_needs_url(op) != (url != NULL))
                return -EINVAL;
        /* the image URL goes to the BMC, not to us: http(s), no user info */
        if (url && (strlen(url) > BMC_MEDIA_URL_MAX || bmc_origin_normalize(url, &origin, NULL) < 0))
                return -EINVAL;
        if (op != BMC_OP_STATUS && c->guard) {
                int r = c->guard(c->t.m->name, op, c->guard_userdata);
                if (r < 0)
                        return r;
        }
        c->done = done;
        c->userdata = userdata;
        return redfish_op_start(&c->t, op, url, on_op_done, c, &c->op);
}

static void close_finish(BmcClient *c, int r) {
        BmcCloseFn done = c->close_done;
        c->close_done = NULL;
        if (done)
                done(c, r, c->close_userdata);
}

static void on_logout(const RedfishReply *rep, void *userdata) {
        BmcClient *c = userdata;
        c->logout = NULL;
        /* 404: the session expired already; either way it is gone */
        close_finish(c, rep->r < 0 ? rep->r : (rep->status < 300 || rep->status == 404) ? 0 : -EIO);
}

static int on_close_defer(sd_event_source *s, void *userdata) {
        BmcClient *c = userdata;
        (void) s;
        c->close_defer = sd_event_source_disable_unref(c->close_defer);
        close_finish(c, 0);
        return 0;
}

int bmc_client_close(BmcClient *c, BmcCloseFn done, void *userdata) {
        int r;

        if (!c)
                return -EINVAL;
        if (c->logout || c->close_defer)
                return -EBUSY;
        redfish_op_cancel(c->op);
        c->op = NULL;
        c->close_done = done;
        c->close_userdata = userdata;
        r = redfish_client_logout(c->rc, on_logout, c, &c->logout);
        if (r == 1 || r < 0) {
                int k = sd_event_add_defer(c->event, &c->close_defer, on_close_defer, c);
                return k < 0 ? k : 0;
        }
        return 0;
}

/* ---- the blocking runner ------------------------------------------ */

typedef struct RunSlot {
        struct Runner *run;
        BmcClient *client;
        BmcOutcome *out;
} RunSlot;

typedef struct Runner {
        sd_event *event;
        size_t pending;
} Runner;

static void run_one_less(Runner *run) {
        if (--run->pending == 0)
                (void) sd_event_exit(run->event, 0);
}

static void on_run_closed(BmcClient *c, int r, void *userdata) {
        RunSlot *slot = userdata;
        (void) c;
        (void) r; /* a session we could not delete expires on its own */
        run_one_less(slot->run);
}

static void on_run_done(BmcClient *c, int r, const BmcResult *res, const char *error, void *userdata) {
        RunSlot *slot = userdata;

        slot->out->r = r;
        free(slot->out->error);
        slot->out->error = error ? strdup(error) : NULL;
        if (r < 0 && !slot->out->error && asprintf(&slot->out->error, "%s: %s", slot->out->machine, strerror(-r)) < 0)
                slot->out->error = NULL;
        result_move(&slot->out->result, (BmcResult *) res);
        if (bmc_client_close(c, on_run_closed, slot) < 0)
                run_one_less(slot->run);
}

int bmc_run(const BmcInventory *inv, const char *const *machines, size_t n, BmcOp op, const char *url,
            const BmcOptions *o, BmcOutcome *ret) {
        Runner run = {};
        CurlEvent *ce = NULL;
        RunSlot *slots;
        int r;

        if (!ret || (n > 0 && !machines))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                ret[i] = (BmcOutcome) { .machine = machines[i], .r = -EIO, .result.op = op };
        slots = calloc(n + 1, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        r = sd_event_new(&run.event);
        if (r < 0)
                goto out;
        r = curl_event_new(run.event, &ce);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *err = NULL;
                slots[i] = (RunSlot) { .run = &run, .out = &ret[i] };
                r = bmc_client_new(run.event, ce, inv, machines[i], o, &slots[i].client, &err);
                if (r == 0) {
                        r = bmc_client_start(slots[i].client, op, url, on_run_done, &slots[i]);
                        if (r == 0) {
                                run.pending++;
                                continue;
                        }
                        if (asprintf(&err, "%s: %s: %s", machines[i], bmc_op_to_string(op),
                                     r == -EINVAL ? "missing or unusable URL" : strerror(-r)) < 0)
                                err = NULL;
                }
                if (r == -ENOMEM)
                        goto out;
                ret[i].r = r;
                ret[i].error = err ? take_ptr(err) : NULL;
                if (!ret[i].error && asprintf(&ret[i].error, "%s: %s", machines[i], strerror(-r)) < 0)
                        ret[i].error = NULL;
        }
        r = run.pending > 0 ? sd_event_loop(run.event) : 0;
        if (r > 0)
                r = 0;
out:
        for (size_t i = 0; i < n; i++)
                bmc_client_free(slots[i].client);
        free(slots);
        curl_event_free(ce);
        sd_event_unref(run.event);
        return r;
}

void bmc_outcome_done(BmcOutcome *o) {
        free(o->error);
        o->error = NULL;
        bmc_result_done(&o->result);
}

/* ---- JSON ------------------------------------------------------------ */

static int set_opt(json_t *o, const char *key, const char *value) {
        return value ? json_object_set_new(o, key, json_string(value)) : 0;
}

json_t *bmc_outcome_to_json(const BmcInventory *inv, const BmcOutcome *o) {
        const BmcMachine *m = bmc_inventory_find(inv, o->machine);
        const BmcStatus *s = &o->result.status;
        json_auto_t *j = json_object(), *st = json_object();

        if (!j || !st)
                return NULL;
        if (json_object_set_new(j, "machine", json_string(o->machine)) < 0 ||
            json_object_set_new(j, "ok", json_boolean(o->r >= 0)) < 0 ||
            set_opt(j, "endpoint", m ? m->endpoint : NULL) < 0 ||
            set_opt(j, "operation", bmc_op_to_string(o->result.op)) < 0 || set_opt(j, "error", o->error) < 0 ||
            set_opt(j, "summary", o->result.summary) < 0 || set_opt(st, "system", s->system) < 0 ||
            set_opt(st, "matched_by", s->matched_by) < 0 || set_opt(st, "vendor", s->vendor) < 0 ||
            set_opt(st, "product", s->product) < 0 || set_opt(st, "redfish_version", s->redfish_version) < 0 ||
            set_opt(st, "quirks", s->quirks) < 0 || set_opt(st, "auth", s->auth) < 0 ||
            set_opt(st, "manufacturer", s->manufacturer) < 0 || set_opt(st, "model", s->model) < 0 ||
            set_opt(st, "serial", s->serial) < 0 || set_opt(st, "uuid", s->uuid) < 0 ||
            set_opt(st, "power_state", s->power_state) < 0 || set_opt(st, "boot_enabled", s->boot_enabled) < 0 ||
            set_opt(st, "boot_target", s->boot_target) < 0 || set_opt(st, "boot_mode", s->boot_mode) < 0 ||
            set_opt(st, "http_boot_uri", s->http_boot_uri) < 0 || set_opt(st, "media_slot", s->media_slot) < 0 ||
            set_opt(st, "media_image", s->media_image) < 0 ||
            json_object_set_new(st, "boot_pending", json_boolean(s->boot_pending)) < 0 ||
            json_object_set_new(st, "media_inserted", json_boolean(s->media_inserted)) < 0 ||
            json_object_set(j, "status", st) < 0)
                return NULL;
        return take_ptr(j);
}
