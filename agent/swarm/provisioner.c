/* The provisioner: a member's side of propagation. It heartbeats the
 * coordinator, asks for leases up to its cap, and for each machine it holds:
 * grants it a boot lease on this node's boot server, fences and sets a
 * one-time network boot, fences and power-cycles it, then reports its lease
 * events until the sponsor admits it. Every BMC action is in the audit log
 * with its lease and token, and the BMC layer asks this file's guard before
 * each one, so nothing can act on a machine without a live lease here.
 *
 * Without the coordinator (unreachable, or a lease it no longer confirms)
 * nothing new starts; what already runs finishes within its local expiry. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <unistd.h>

#include "bmc/bmc.h"
#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/error-detail.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/secret.h"
#include "core/spec.h"
#include "core/strutil.h"
#include "swarm/audit-log.h"
#include "ignition/render.h"
#include "swarm/coordinator-msg.h"
#include "swarm/lease-reply.h"
#include "swarm/provisioner.h"
#include "swarm/swarm.h"

#define AUDIT_FILE "provisioner-audit.log"
#define REPLY_MAX LEASE_REPLY_MAX
#define PEM_MAX (64u * 1024u)
#define CALL_TIMEOUT_MS 10000L
/* Before the coordinator has said how often to heartbeat. */
#define HEARTBEAT_DEFAULT_USEC (5u * 1000000ull)

typedef enum Step {
        STEP_START,          /* boot lease, then fence the boot override */
        STEP_OVERRIDE,       /* the BMC sets a one-time network boot */
        STEP_FENCE_CYCLE,
        STEP_CYCLE,          /* the BMC boots it into the override */
        STEP_WATCH,          /* booting: lease events go to the coordinator */
} Step;

typedef struct Held {
        Provisioner *p;
        unsigned refs;       /* the table's, plus one per call or BMC operation in flight */
        bool gone;           /* dropped from the table; freed with its last reference */
        char *machine;
        uint64_t token, expires;
        int generation;
        bool volume_may_exist; /* the lease's "volume": its data volume may exist already */
        Step step;
        bool busy;           /* a step is in flight */
        BmcClient *bmc;
        BmcInventory *inv;   /* from the lease (a member's public spec has no BMCs); NULL: the spec's */
        char *credential;    /* the file it reads its credential from, removed with the lease */
} Held;

struct Provisioner {
        Manager *m;
        BmcInventory *inv;
        AuditLog *audit;
        sd_event_source *timer;
        Held **held;
        size_t n_held;
        bool halted, beating;
        uint64_t halt_serial, heartbeat_usec;
        bool unreachable;    /* the last call to the coordinator failed (logged once) */
        const char *call_error; /* why (curl's static text), for that log line */
        bool idle_logged;
        bool inv_stale;      /* the spec was reloaded: p->inv is rebuilt once no BMC session uses it */
        /* remote coordinator (every member but the seed) */
        char *url, *ca_pem, *cert_pem;
        Secret *key_pem;
};

typedef void (*CallDone)(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata);

static uint64_t now_realtime(Provisioner *p) {
        uint64_t t = 0;
        (void) sd_event_now(p->m->event, CLOCK_REALTIME, &t);
        return t;
}

/* ---- the held table ---- */

static Held *held_ref(Held *h) {
        h->refs++;
        return h;
}

static void held_unref(Held *h) {
        if (!h || --h->refs > 0)
                return;
        bmc_client_free(h->bmc);
        bmc_inventory_free(h->inv);
        if (h->credential)
                (void) unlink(h->credential);
        free(h->credential);
        free(h->machine);
        free(h);
}

static Held *held_find(Provisioner *p, const char *machine) {
        for (size_t i = 0; i < p->n_held; i++)
                if (streq(p->held[i]->machine, machine))
                        return p->held[i];
        return NULL;
}

static void audit_line(Provisioner *p, const char *machine, uint64_t token, const char *action, int r,
                       const char *detail) {
        json_auto_t *e = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s}", "time_usec", (json_int_t) now_realtime(p),
                                   "member", p->m->machine, "machine", machine, "token", (json_int_t) token,
                                   "action", action, "result", r < 0 ? "error" : "ok");
        int w;

        if (!e)
                return;
        if (detail)
                (void) json_object_set_new(e, "detail", json_string(detail));
        w = audit_log_append(p->audit, e);
        if (w < 0)
                log_error_errno(w, "Cannot write the provisioner's audit log");
}

static void audit(Provisioner *p, const Held *h, const char *action, int r, const char *detail) {
        audit_line(p, h->machine, h->token, action, r, detail);
}

/* Containment below the coordinator: whatever a reply says, a lease is
 * taken only on a machine of this node's own inventory, and a BMC handed
 * with it only if it is the one the inventory names (a member's public spec
 * withholds BMCs: then the coordinator's is the only one known). A refusal
 * is logged and audited, and nothing is contacted. 0, or -EPERM with *why. */
static int lease_admissible(Provisioner *p, const LeaseReplyLease *l, const char **why) {
        const json_t *m = spec_machine(p->m->spec, l->machine);
        const char *mine = json_string_value(json_object_get(json_object_get(m, "bmc"), "endpoint"));
        const char *theirs = json_string_value(json_object_get(l->bmc, "endpoint"));

        if (!m) {
                *why = "not a machine in this node's inventory";
                return -EPERM;
        }
        if (l->bmc && (!theirs || (mine && !streq(mine, IGNITION_WITHHELD_BMC_ENDPOINT) && !streq(mine, theirs)))) {
                *why = "the BMC sent with the lease is not the inventory's";
                return -EPERM;
        }
        return 0;
}

static bool lease_refused(Provisioner *p, const LeaseReplyLease *l, const char *how) {
        const char *why = NULL;

        if (lease_admissible(p, l, &why) >= 0)
                return false;
        log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_MACHINE", l->machine }),
                   "Refused a lease the coordinator %s on \"%s\" (token %llu): %s; it is not contacted", how,
                   l->machine, (unsigned long long) l->token, why);
        audit_line(p, l->machine, l->token, "lease-refused", -EPERM, why);
        return true;
}

/* Drops the caller's reference to `h`, first taking it out of the table
 * when `why` says the lease ended: its boot lease ends, and in-flight work
 * finishes against a guard that now refuses. `h` may be freed: the last
 * thing a caller does with it. */
static void held_finish(Provisioner *p, Held *h, const char *why) {
        if (why && !h->gone) {
                for (size_t i = 0; i < p->n_held; i++)
                        if (p->held[i] == h) {
                                p->held[i] = p->held[--p->n_held];
                                break;
                        }
                if (p->m->boot)
                        (void) boot_server_release(p->m->boot, h->machine);
                audit(p, h, "lease-end", 0, why);
                h->gone = true;
                h->refs--; /* the table's */
        }
        held_unref(h);
}

/* Ends the lease of a held machine nobody else references now. */
static void held_drop(Provisioner *p, Held *h, const char *why) {
        held_finish(p, held_ref(h), why);
}

static Held *held_add(Provisioner *p, const char *machine, uint64_t token, uint64_t expires, int generation,
                      Step step) {
        Held **n = reallocarray(p->held, p->n_held + 1, sizeof(*n));
        Held *h;

        if (!n)
                return NULL;
        p->held = n;
        h = calloc(1, sizeof(*h));
        if (!h || !(h->machine = strdup(machine))) {
                free(h);
                return NULL;
        }
        *h = (Held) { .p = p, .refs = 1, .machine = h->machine, .token = token, .expires = expires,
                      .generation = generation, .step = step };
        p->held[p->n_held++] = h;
        return h;
}

static int guard(const char *machine, BmcOp op, void *userdata);

/* The BMC of a leased machine as the coordinator handed it over mutual TLS
 * (coordinator-service.c, lease_bmc): its credential goes to a 0600 file in
 * the member directory, referenced from a copy of this node's spec whose
 * entry for the machine carries the real endpoint, so the inventory the BMC
 * layer checks holds this one BMC and nothing else. */
static int held_set_bmc(Provisioner *p, Held *h, const json_t *bmc, char **reterr) {
        const char *user = json_string_value(json_object_get(bmc, "username"));
        const char *pw = json_string_value(json_object_get(bmc, "password"));
        json_auto_t *doc = json_deep_copy(spec_json(p->m->spec)), *entry = json_deep_copy(bmc);
        _cleanup_(spec_freep) Spec *spec = NULL;
        _cleanup_free_ char *text = NULL, *cred = NULL;
        _cleanup_close_ int fd = -1;
        SpecErrors errs = {};
        const json_t *e;
        size_t i;
        int r;

        if (!doc || !entry)
                return -ENOMEM;
        if (!user || !pw || strchr(user, ':'))
                return error_detail_set(reterr, -EBADMSG, "the coordinator sent no usable BMC credential");
        if (asprintf(&h->credential, "%s/%s/bmc-%s", p->m->state_dir, PROVISIONER_MEMBER_DIR, h->machine) < 0 ||
            asprintf(&cred, "%s:%s", user, pw) < 0) {
                h->credential = NULL;
                return -ENOMEM;
        }
        fd = open(h->credential, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        r = fd < 0 ? -errno : 0;
        if (r >= 0 && write(fd, cred, strlen(cred)) != (ssize_t) strlen(cred))
                r = -EIO;
        secret_wipe(cred, strlen(cred));
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", h->credential, strerror(-r));
        (void) json_object_del(entry, "username");
        (void) json_object_del(entry, "password");
        if (json_object_set_new(entry, "credential", json_pack("{s:s}", "file", h->credential)) < 0)
                return -ENOMEM;
        json_array_foreach(json_object_get(doc, "inventory"), i, e)
                if (streq_ptr(json_string_value(json_object_get(e, "name")), h->machine))
                        (void) json_object_set((json_t *) e, "bmc", entry);
        text = json_dumps(doc, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        r = spec_parse(text, strlen(text), "lease", &spec, &errs);
        spec_errors_clear(&errs);
        if (r < 0)
                return error_detail_set(reterr, r, "the BMC the coordinator sent for %s does not fit the spec",
                                        h->machine);
        r = bmc_inventory_from_spec(spec, &h->inv, reterr);
        if (r < 0)
                return r;
        h->inv->guard = guard;
        h->inv->guard_userdata = p;
        return 0;
}

/* The BMC layer's guard (bmc.h): only a machine held here, under a lease
 * the coordinator has not let expire, and while not halted. */
static int guard(const char *machine, BmcOp op, void *userdata) {
        Provisioner *p = userdata;
        Held *h = held_find(p, machine);

        if (!h || now_realtime(p) >= h->expires)
                return -EPERM;
        if (p->halted && op != BMC_OP_POWER_OFF)
                return -ECANCELED;
        return 0;
}

/* ---- calls to the coordinator ---- */

typedef struct Call {
        Provisioner *p;
        CallDone done;
        void *userdata;
        char *body;
        size_t size;
        bool too_big;
        unsigned status;
        json_t *reply;
        int r;
        sd_event_source *defer;
        struct curl_slist *headers; /* the transfer's: freed when it is done */
} Call;

static void call_free(Call *c) {
        sd_event_source_disable_unref(c->defer);
        curl_slist_free_all(c->headers);
        json_decref(c->reply);
        free(c->body);
        free(c);
}

static void call_finish(Call *c) {
        c->done(c->p, c->r, c->status, c->reply, c->userdata);
        call_free(c);
}

static int on_local_done(sd_event_source *s, void *userdata) {
        (void) s;
        call_finish(userdata);
        return 0;
}

static size_t on_remote_data(char *ptr, size_t size, size_t n, void *userdata) {
        Call *c = userdata;
        return curl_body_append(&c->body, &c->size, &c->too_big, REPLY_MAX, ptr, size * n);
}

static void on_remote_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        Call *c = userdata;
        long status = 0;

        (void) ce;
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        c->status = (unsigned) status;
        if (result != CURLE_OK) {
                c->r = -EHOSTUNREACH;
                c->p->call_error = curl_easy_strerror(result);
        } else {
                c->reply = json_loadb(c->body ? c->body : "", c->size, JSON_REJECT_DUPLICATES, NULL);
                c->r = json_is_object(c->reply) ? 0 : -EBADMSG;
        }
        call_finish(c);
}

static int remote_start(Provisioner *p, CoordOp op, const char *body, Call *c) {
        _cleanup_free_ char *url = NULL;
        struct curl_blob ca = { .data = p->ca_pem, .len = strlen(p->ca_pem), .flags = CURL_BLOB_COPY };
        struct curl_blob cert = { .data = p->cert_pem, .len = strlen(p->cert_pem), .flags = CURL_BLOB_COPY };
        struct curl_blob key = { .data = p->key_pem->data, .len = p->key_pem->size, .flags = CURL_BLOB_COPY };
        CURL *e = curl_easy_init();

        c->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!e || !c->headers || asprintf(&url, "%s%s%s", p->url, COORD_PATH_PREFIX, coord_op_to_string(op)) < 0) {
                curl_easy_cleanup(e);
                return -ENOMEM;
        }
        /* As the joiner: the coordinator's certificate must chain to the
         * fleet CA (pinned); its name is a machine name, not an address. */
        if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) REPLY_MAX) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_remote_data) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CAINFO, NULL) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CAPATH, NULL) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK) {
                curl_easy_cleanup(e);
                return -ENOMEM;
        }
        return curl_event_add(p->m->curl, e, on_remote_done, c);
}

/* POSTs `body` (consumed) as `op` and calls `done` from the loop, never
 * from inside this call. */
static int call(Provisioner *p, CoordOp op, json_t *body, CallDone done, void *userdata) {
        json_auto_t *b = body;
        _cleanup_free_ char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
        Call *c;
        int r;

        if (!text)
                return -ENOMEM;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (Call) { .p = p, .done = done, .userdata = userdata, .status = 500 };
        if (p->m->coordinator) {
                r = coordinator_service_call(p->m->coordinator, p->m->machine, op, text, strlen(text), &c->status,
                                             &c->reply);
                if (r >= 0)
                        r = sd_event_add_defer(p->m->event, &c->defer, on_local_done, c);
        } else
                r = remote_start(p, op, text, c);
        if (r < 0)
                call_free(c);
        return r;
}

/* A coordinator error reply's errno (coordinator-msg.h), or the fault. */
static int call_result(Provisioner *p, int r, unsigned status, const json_t *reply) {
        if (r < 0) {
                if (!p->unreachable)
                        log_warning_errno(r, "Cannot reach the coordinator at %s (%s): finishing only what is held",
                                          p->url ? p->url : "(local)",
                                          r == -EHOSTUNREACH && p->call_error ? p->call_error : strerror(-r));
                p->unreachable = true;
                return r;
        }
        if (p->unreachable)
                log_info("The coordinator answers again");
        p->unreachable = false;
        if (status == 200)
                return 0;
        return coord_error_from_code(json_string_value(json_object_get(reply, "error")));
}

/* ---- one machine's steps ---- */

static void held_kick(Held *h);

static void report(Provisioner *p, Held *h, const char *event, const char *reason);

/* The BMC session of the last step has ended: the next step may start
 * (one client per machine at a time, so a fenced power cycle is never
 * started while the override's session still closes). */
static void on_bmc_closed(BmcClient *c, int r, void *userdata) {
        Held *h = userdata;

        (void) r;
        (void) c;
        bmc_client_free(h->bmc);
        h->bmc = NULL;
        if (!h->gone)
                held_kick(h);
        held_unref(h);
}

static void on_bmc_done(BmcClient *c, int r, const BmcResult *res, const char *error, void *userdata) {
        Held *h = userdata;
        Provisioner *p = h->p;

        (void) c;
        audit(p, h, bmc_op_to_string(h->step == STEP_OVERRIDE ? BMC_OP_PXE_ONCE : BMC_OP_BOOT_NOW), r,
              r < 0 ? error : res ? res->summary : NULL);
        h->busy = false;
        if (!h->gone) {
                if (r < 0) {
                        log_warning("Provisioning %s failed: %s", h->machine, error ? error : strerror(-r));
                        report(p, h, "failed", error ? error : strerror(-r));
                } else {
                        h->step = h->step == STEP_OVERRIDE ? STEP_FENCE_CYCLE : STEP_WATCH;
                        if (h->step == STEP_WATCH)
                                log_info("Powered %s into network boot (lease %llu, generation %d)", h->machine,
                                         (unsigned long long) h->token, h->generation);
                }
        }
        /* the session ends either way; the client is freed once it has, and
         * the operation's reference goes with it */
        if (bmc_client_close(h->bmc, on_bmc_closed, h) < 0)
                on_bmc_closed(h->bmc, 0, h);
}

static void bmc_start(Held *h, BmcOp op) {
        Provisioner *p = h->p;
        _cleanup_free_ char *err = NULL;
        int r;

        r = bmc_client_new(p->m->event, p->m->curl, h->inv ? h->inv : p->inv, h->machine, NULL, &h->bmc, &err);
        if (r >= 0) {
                /* done never runs from inside start: the reference is taken in time */
                r = bmc_client_start(h->bmc, op, NULL, on_bmc_done, h);
                if (r >= 0)
                        held_ref(h);
        }
        if (r < 0) {
                h->bmc = bmc_client_free(h->bmc);
                audit(p, h, bmc_op_to_string(op), r, err ? err : strerror(-r));
                report(p, h, "failed", err ? err : strerror(-r));
                return;
        }
        h->busy = true;
}

static void on_fenced(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata) {
        Held *h = userdata;
        bool cycle = h->step == STEP_FENCE_CYCLE;

        const char *drop = NULL;

        r = call_result(p, r, status, reply);
        h->busy = false;
        if (h->gone)
                ;
        else if (r == 0) {
                if (cycle)
                        h->step = STEP_CYCLE;
                bmc_start(h, cycle ? BMC_OP_BOOT_NOW : BMC_OP_PXE_ONCE);
        } else if (r == -EALREADY && cycle) {
                /* fenced before a restart: the cycle may have happened; never twice */
                audit(p, h, "power-cycle", 0, "already done for this lease");
                h->step = STEP_WATCH;
        } else if (r == -ESTALE || r == -ETIME || r == -ENOENT)
                drop = "the coordinator no longer confirms this lease";
        /* halted or unreachable: retried at the next tick */
        held_finish(p, h, drop);
}

static void fence(Held *h, CoordAction a) {
        Provisioner *p = h->p;
        int r;

        if (a == COORD_ACTION_BOOT_OVERRIDE)
                h->step = STEP_OVERRIDE;
        r = call(p, COORD_OP_FENCE,
                 json_pack("{s:s, s:I, s:s}", "machine", h->machine, "token", (json_int_t) h->token, "action",
                           coord_action_to_string(a)),
                 on_fenced, held_ref(h));
        if (r < 0) {
                held_unref(h);
                return;
        }
        h->busy = true;
}

/* How long this node's boot server answers a held machine: as long as the
 * coordinator gives it to come up (the spec's deadline; heartbeats do not
 * extend a boot lease, and a boot slower than a minute, the old figure, was
 * refused its script halfway). The boot lease ends earlier with the lease
 * (held_finish). */
static unsigned boot_lease_seconds(Provisioner *p) {
        json_int_t d = json_integer_value(
                json_object_get(json_object_get(spec_json(p->m->spec), "provisioning"), "deadline_seconds"));

        return (unsigned) MAX(d, 60);
}

static void held_kick(Held *h) {
        Provisioner *p = h->p;

        if (h->busy || h->bmc || h->gone || p->halted)
                return;
        switch (h->step) {
        case STEP_START: {
                const char *why = NULL;
                int r;

                r = p->m->boot ? boot_server_grant(p->m->boot, h->machine, boot_lease_seconds(p), &why) : -ENOMEDIUM;
                if (r >= 0)
                        r = boot_server_set_volume(p->m->boot, h->machine, h->volume_may_exist);
                if (r < 0) {
                        report(p, h, "failed", why ? why : "this member serves no boot on the machine's network");
                        return;
                }
                fence(h, COORD_ACTION_BOOT_OVERRIDE);
                break;
        }
        case STEP_OVERRIDE:
                fence(h, COORD_ACTION_BOOT_OVERRIDE);
                break;
        case STEP_FENCE_CYCLE:
                fence(h, COORD_ACTION_POWER_CYCLE);
                break;
        case STEP_CYCLE:
        case STEP_WATCH:
                break;
        }
}

static void on_reported(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata) {
        Held *h = userdata;

        r = call_result(p, r, status, reply);
        held_finish(p, h, r == -ESTALE || r == -ETIME || r == -ENOENT ? "the coordinator no longer confirms this lease"
                                                                       : NULL);
}

static void on_failed_reported(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata) {
        Held *h = userdata;

        (void) call_result(p, r, status, reply);
        held_finish(p, h, "provisioning failed");
}

static void report(Provisioner *p, Held *h, const char *event, const char *reason) {
        bool failed = streq(event, "failed");
        json_t *body = json_pack("{s:s, s:I, s:s}", "machine", h->machine, "token", (json_int_t) h->token, "event",
                                 event);

        if (body && reason)
                (void) json_object_set_new(body, "reason", json_stringn(reason, strnlen(reason, 400)));
        if (call(p, COORD_OP_REPORT, body, failed ? on_failed_reported : on_reported, held_ref(h)) < 0)
                held_finish(p, h, failed ? "provisioning failed" : NULL);
}

static void on_lease_event(const char *machine, const char *event, void *userdata) {
        Provisioner *p = userdata;
        Held *h = held_find(p, machine);

        if (h)
                report(p, h, event, NULL);
}

/* ---- heartbeat and acquire ---- */

static void timer_arm(Provisioner *p, uint64_t usec);

/* A reply that does not parse is logged, naming the field, and acted on
 * not at all (at most one per call, and calls are timed by heartbeats). */
static int reply_read(CoordOp op, unsigned status, const json_t *reply, LeaseReply *ret) {
        _cleanup_free_ char *err = NULL;
        int r = lease_reply_from_json(op, status, reply, ret, &err);

        if (r < 0 && r != -ENOMEM)
                log_warning_errno(r, "Ignoring the coordinator's %s reply: %s", coord_op_to_string(op),
                                  err ? err : strerror(-r));
        return r;
}

static void on_acquired(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata) {
        _cleanup_(lease_reply_clear) LeaseReply lr = {};

        (void) userdata;
        r = call_result(p, r, status, reply);
        if (r < 0) {
                if (r == -ECANCELED)
                        p->halted = true;
                return;
        }
        if (reply_read(COORD_OP_ACQUIRE, status, reply, &lr) < 0)
                return;
        for (size_t i = 0; i < lr.n_leases; i++) {
                const LeaseReplyLease *l = &lr.leases[i];
                const char *machine = l->machine;
                Held *h;

                if (held_find(p, machine) || lease_refused(p, l, "granted"))
                        continue;
                h = held_add(p, machine, l->token, l->expires_usec, l->generation, STEP_START);
                if (!h) {
                        log_error_errno(-ENOMEM, "Cannot track a lease");
                        return;
                }
                h->volume_may_exist = l->volume_may_exist;
                audit(p, h, "lease-granted", 0, NULL);
                log_info("Leased %s (token %llu, generation %d)", machine, (unsigned long long) h->token,
                         h->generation);
                if (l->bmc) {
                        _cleanup_free_ char *err = NULL;
                        int w = held_set_bmc(p, h, l->bmc, &err);
                        if (w < 0) {
                                report(p, h, "failed", err ? err : strerror(-w));
                                continue;
                        }
                }
                held_kick(h);
        }
}

/* The networks this member serves boot on: it can only provision there. */
static json_t *served_networks(Provisioner *p) {
        json_auto_t *b = p->m->boot ? boot_server_to_json(p->m->boot) : NULL;
        json_t *nets = json_array();
        const json_t *seg;
        size_t i;

        if (!nets)
                return NULL;
        json_array_foreach(json_object_get(b, "segments"), i, seg)
                (void) json_array_append(nets, json_object_get(seg, "network"));
        return nets;
}

static void acquire(Provisioner *p) {
        unsigned fanout = (unsigned) json_integer_value(
                json_object_get(json_object_get(spec_json(p->m->spec), "provisioning"), "fanout"));
        json_t *nets;

        if (p->halted || p->unreachable || p->n_held >= fanout)
                return;
        nets = served_networks(p);
        if (!nets)
                return;
        if (json_array_size(nets) == 0) {
                if (!p->idle_logged)
                        log_notice("This member serves network boot on no segment: it provisions nothing");
                p->idle_logged = true;
                json_decref(nets);
                return;
        }
        if (call(p, COORD_OP_ACQUIRE, json_pack("{s:i, s:o}", "want", (int) (fanout - p->n_held), "networks", nets),
                 on_acquired, NULL) < 0)
                log_error_errno(-ENOMEM, "Cannot track a lease");
}

static void heartbeat(Provisioner *p);

static void on_heartbeat(Provisioner *p, int r, unsigned status, json_t *reply, void *userdata) {
        _cleanup_(lease_reply_clear) LeaseReply lr = {};
        bool confirm;
        size_t i;

        (void) userdata;
        p->beating = false;
        r = call_result(p, r, status, reply);
        if (r < 0)
                return;
        if (reply_read(COORD_OP_HEARTBEAT, status, reply, &lr) < 0)
                return;
        if (lr.halted != p->halted)
                log_warning("Fleet provisioning %s by the coordinator", lr.halted ? "HALTED" : "resumed");
        p->halted = lr.halted;
        /* a halt or resume not seen before: confirm it at once, not a
         * heartbeat later, so every member has within one interval */
        confirm = lr.halt_serial != p->halt_serial;
        p->halt_serial = lr.halt_serial;
        /* the first reply says how often: the timer was armed with the
         * default (5 s) when this heartbeat left, re-armed now with it */
        if (lr.heartbeat_usec > 0 && lr.heartbeat_usec != p->heartbeat_usec) {
                p->heartbeat_usec = lr.heartbeat_usec;
                timer_arm(p, p->heartbeat_usec);
        }
        for (i = 0; i < lr.n_leases; i++) {
                const LeaseReplyLease *l = &lr.leases[i];
                Held *h = held_find(p, l->machine);

                if (!h || l->token != h->token)
                        continue;
                if (streq(l->status, "ok"))
                        h->expires = l->expires_usec;
                else if (streq(l->status, "done")) {
                        log_info("%s is a member: its lease is done", h->machine);
                        held_drop(p, h, "admitted");
                } else
                        held_drop(p, h, l->status);
        }
        /* leases the coordinator knows this member holds and it does not:
         * a restart forgot them; adopt, never re-cycling a fenced one */
        for (i = 0; i < lr.n_held; i++) {
                const LeaseReplyLease *l = &lr.held[i];
                const char *machine = l->machine;
                Held *h;

                if (held_find(p, machine) || lease_refused(p, l, "says this member holds"))
                        continue;
                h = held_add(p, machine, l->token, l->expires_usec, l->generation, l->cycled ? STEP_WATCH : STEP_START);
                if (!h)
                        return (void) log_error_errno(-ENOMEM, "Cannot track a lease");
                h->volume_may_exist = l->volume_may_exist;
                audit(p, h, "lease-adopted", 0, h->step == STEP_WATCH ? "power cycle already fenced" : NULL);
                if (l->bmc) {
                        _cleanup_free_ char *err = NULL;
                        int w = held_set_bmc(p, h, l->bmc, &err);
                        if (w < 0) {
                                report(p, h, "failed", err ? err : strerror(-w));
                                continue;
                        }
                }
                if (h->step == STEP_WATCH && p->m->boot &&
                    boot_server_grant(p->m->boot, machine, boot_lease_seconds(p), NULL) >= 0)
                        (void) boot_server_set_volume(p->m->boot, machine, h->volume_may_exist);
                held_kick(h);
        }
        for (i = 0; i < p->n_held; i++)
                held_kick(p->held[i]);
        acquire(p);
        if (confirm)
                heartbeat(p);
}

static void heartbeat(Provisioner *p) {
        json_t *leases = json_array(), *body;

        if (p->beating || !leases) {
                json_decref(leases);
                return;
        }
        for (size_t i = 0; i < p->n_held; i++)
                (void) json_array_append_new(leases, json_pack("{s:s, s:I}", "machine", p->held[i]->machine, "token",
                                                               (json_int_t) p->held[i]->token));
        body = json_pack("{s:o, s:I}", "leases", leases, "halt_ack", (json_int_t) p->halt_serial);
        if (call(p, COORD_OP_HEARTBEAT, body, on_heartbeat, NULL) >= 0)
                p->beating = true;
}

static void inventory_refresh(Provisioner *p);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Provisioner *p = userdata;

        (void) s;
        (void) usec;
        inventory_refresh(p);
        heartbeat(p);
        timer_arm(p, p->heartbeat_usec);
        return 0;
}

static void timer_arm(Provisioner *p, uint64_t usec) {
        uint64_t now = 0;

        (void) sd_event_now(p->m->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(p->timer, now + usec);
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

/* ---- spec reload ---- */

/* The BMC inventory of the reloaded spec, once no BMC session borrows the
 * old one (sessions of a lease with its own BMC use that lease's). */
static void inventory_refresh(Provisioner *p) {
        _cleanup_free_ char *err = NULL;
        BmcInventory *inv = NULL;
        int r;

        if (!p->inv_stale)
                return;
        for (size_t i = 0; i < p->n_held; i++)
                if (p->held[i]->bmc && !p->held[i]->inv)
                        return; /* at the next tick */
        r = bmc_inventory_from_spec(p->m->spec, &inv, &err);
        if (r < 0) {
                log_error_errno(r, "Cannot use the reloaded spec's BMCs, keeping the last ones: %s",
                                err ? err : strerror(-r));
                p->inv_stale = false;
                return;
        }
        inv->guard = guard;
        inv->guard_userdata = p;
        bmc_inventory_free(p->inv);
        p->inv = inv;
        p->inv_stale = false;
}

int provisioner_reload(Provisioner *p) {
        if (!p)
                return 0;
        /* a machine gone from the inventory is given up at once: nothing is
         * done to it any more (the guard refuses what is in flight), and
         * the coordinator revokes its lease on its own reload */
        for (size_t i = p->n_held; i > 0; i--) {
                Held *h = p->held[i - 1];

                if (spec_machine(p->m->spec, h->machine))
                        continue;
                log_warning("Giving up %s (lease %llu): no longer in the inventory", h->machine,
                            (unsigned long long) h->token);
                audit(p, h, "lease-dropped", 0, "removed from the inventory");
                held_drop(p, h, "removed from the inventory");
        }
        p->inv_stale = true;
        inventory_refresh(p);
        return 0;
}

/* ---- start and stop ---- */

Provisioner *provisioner_free(Provisioner *p) {
        if (!p)
                return NULL;
        boot_server_set_observer(p->m->boot, NULL, NULL);
        sd_event_source_disable_unref(p->timer);
        while (p->n_held > 0) {
                Held *h = p->held[--p->n_held];
                h->gone = true;
                bmc_client_free(h->bmc);
                h->bmc = NULL;
                held_unref(h);
        }
        free(p->held);
        bmc_inventory_free(p->inv);
        audit_log_close(p->audit);
        free(p->url);
        free(p->ca_pem);
        free(p->cert_pem);
        secret_free(p->key_pem);
        free(p);
        return NULL;
}
DEFINE_CLEANUP(Provisioner *, provisioner_free)

static int read_file(const char *dir, const char *name, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return read_fd_capped(fd, max, ret, ret_size);
}

/* A member's credentials for the coordinator: what `strata attest join
 * --member-dir STATE/member` wrote. */
static int remote_load(Provisioner *p) {
        const char *listen = json_string_value(
                json_object_get(json_object_get(json_object_get(spec_json(p->m->spec), "attestation"), "sponsor"),
                                "listen"));
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ uint8_t *ca = NULL, *cert = NULL, *key = NULL;
        size_t ca_n = 0, cert_n = 0, key_n = 0;
        int r;

        if (!listen)
                return -ENOENT;
        if (asprintf(&dir, "%s/%s", p->m->state_dir, PROVISIONER_MEMBER_DIR) < 0 ||
            asprintf(&p->url, "https://%s", listen) < 0)
                return -ENOMEM;
        r = read_file(dir, JOINER_CERT_FILE, PEM_MAX, &cert, &cert_n);
        if (r >= 0)
                r = read_file(dir, JOINER_CA_FILE, PEM_MAX, &ca, &ca_n);
        if (r >= 0)
                r = read_file(dir, JOINER_KEY_FILE, PEM_MAX, &key, &key_n);
        if (r < 0) {
                if (key)
                        secret_wipe(key, key_n);
                return r;
        }
        p->ca_pem = strndup((char *) ca, ca_n);
        p->cert_pem = strndup((char *) cert, cert_n);
        p->key_pem = secret_new_copy(key, key_n);
        secret_wipe(key, key_n);
        return p->ca_pem && p->cert_pem && p->key_pem ? 0 : -ENOMEM;
}

int provisioner_start(Manager *m) {
        _cleanup_(provisioner_freep) Provisioner *p = NULL;
        _cleanup_free_ char *err = NULL;
        uint64_t now = 0;
        int r;

        if (!m->machine || !json_object_get(spec_json(m->spec), "provisioning"))
                return 0;
        p = calloc(1, sizeof(*p));
        if (!p)
                return log_error_errno(-ENOMEM, "Cannot track a lease");
        p->m = m;
        p->heartbeat_usec = HEARTBEAT_DEFAULT_USEC;
        if (!m->coordinator) {
                r = remote_load(p);
                if (r == -ENOENT)
                        return 0; /* not a member (yet) */
                if (r < 0)
                        return log_error_errno(r, "Cannot load this member's credentials from %s/%s", m->state_dir,
                                               PROVISIONER_MEMBER_DIR);
        }
        r = bmc_inventory_from_spec(m->spec, &p->inv, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot provision: %s", err ? err : "out of memory");
        p->inv->guard = guard;
        p->inv->guard_userdata = p;
        r = audit_log_open(m->state_dir, AUDIT_FILE, &p->audit);
        if (r < 0)
                return log_error_errno(r, "Cannot open the provisioner's audit log in %s", m->state_dir);
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(m->event, &p->timer, CLOCK_MONOTONIC, now, 0, on_timer, p);
        if (r < 0)
                return log_error_errno(r, "Cannot start the provisioner's timer");
        boot_server_set_observer(m->boot, on_lease_event, p);
        log_info("Provisioning neighbours as %s through %s", m->machine, p->url ? p->url : "this node's coordinator");
        m->provisioner = take_ptr(p);
        return 0;
}

json_t *provisioner_to_json(Provisioner *p) {
        json_auto_t *held = json_array();
        static const char *const steps[] = { "start", "boot-override", "fence-cycle", "power-cycle", "watching" };

        if (!held)
                return NULL;
        for (size_t i = 0; i < p->n_held; i++)
                (void) json_array_append_new(held, json_pack("{s:s, s:I, s:i, s:s}", "machine", p->held[i]->machine,
                                                             "token", (json_int_t) p->held[i]->token, "generation",
                                                             p->held[i]->generation, "step",
                                                             steps[p->held[i]->step]));
        return json_pack("{s:s, s:O, s:b, s:b, s:I}", "coordinator", p->url ? p->url : "local", "leases", held,
                         "halted", p->halted, "coordinator_unreachable", p->unreachable, "halt_serial",
                         (json_int_t) p->halt_serial);
}
