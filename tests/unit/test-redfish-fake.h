/* A fake Redfish service for the agent/bmc unit tests: libmicrohttpd on its
 * own threads (one per connection, so a "hanging BMC" blocks nobody else)
 * on a loopback port, optionally HTTPS with a certificate made in memory.
 * agent/core's HttpServer cannot send the response headers Redfish needs
 * (ETag, X-Auth-Token, Location, Retry-After), hence MHD directly.
 *
 * It serves one to three systems with sessions or basic auth, ETags with
 * 412/428, a settings object, reset with AllowableValues or an ActionInfo,
 * 202 task monitors, virtual media with or without actions, and faults:
 * statuses for the next N requests, a hang, raw (malformed) bodies, a
 * redirect. Every request is appended to a history the tests read. */
#pragma once

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_USER "strata"
#define FAKE_PASSWORD "s3cret pass"
#define FAKE_TOKEN "fake-token-0123456789"
#define FAKE_HISTORY_MAX 512
#define FAKE_LINE_MAX 640
#define FAKE_BODY_MAX 65536
#define FAKE_SYSTEMS_MAX 3

typedef struct FakeSystem {
        char id[32], uuid[40], serial[32], mac[18];
        char power[16];
        char boot_enabled[16], boot_target[24], boot_mode[8], http_uri[256];
        bool pending; /* boot written to the settings object */
        char pending_target[24];
        unsigned etag;
        char image[256];
        bool inserted;
        unsigned media_etag;
} FakeSystem;

typedef struct FakeRedfish {
        struct MHD_Daemon *daemon;
        unsigned short port;
        char url[64];
        pthread_mutex_t lock;
        volatile bool stop;

        /* service shape */
        const char *vendor;        /* ServiceRoot Vendor, NULL: absent */
        const char *manufacturer;  /* ComputerSystem Manufacturer */
        bool sessions;             /* a SessionService (else basic auth only) */
        bool etags;                /* ETag header and @odata.etag */
        bool weak_etag;            /* W/"n" */
        bool weak_refused;         /* AMI/Gigabyte: If-Match W/"n" refused, "n" taken */
        bool require_if_match;     /* 428 without If-Match */
        bool reject_if_match;      /* 412 whenever If-Match is sent (newer XCC) */
        bool stale_always;         /* the ETag changes before every PATCH */
        unsigned stale_next;       /* ...or before the next N PATCHes */
        bool boot_readonly;        /* Boot PATCH on the system refused (iDRAC10) */
        bool settings;             /* @Redfish.Settings on the system */
        bool reject_mode;          /* 400 when BootSourceOverrideMode is sent (HPE) */
        bool reject_full_boot;     /* 400 for more than target + enabled (DL160) */
        bool reset_allowable;      /* ResetType@Redfish.AllowableValues */
        bool reset_action_info;    /* @Redfish.ActionInfo instead */
        const char *resets[8];     /* what the BMC takes (NULL-terminated) */
        bool reset_task;           /* 202 + task monitor */
        unsigned task_polls;       /* monitor answers 202 this often */
        bool task_fails;
        const char *task_location; /* Location of the 202, overriding the monitor */
        unsigned conflict_on;      /* On refused with 409 this often */
        bool vmedia_on_system;     /* else under Managers/1 */
        bool vmedia_actions;       /* InsertMedia/EjectMedia (else PATCH) */
        bool insert_image_only;    /* 400 if Inserted/WriteProtected sent (Supermicro) */
        bool insert_needs_transfer;/* 400 without TransferProtocolType */
        unsigned token_uses;       /* the token expires after this many uses (0: never) */
        int n_systems;
        FakeSystem systems[FAKE_SYSTEMS_MAX];

        /* faults */
        int fail_next[8];
        int n_fail;
        const char *fail_method;   /* NULL: any */
        const char *fail_prefix;   /* default /redfish/v1/Systems */
        const char *fail_message_id;
        unsigned hang_ms;
        const char *hang_method, *hang_prefix;
        const char *raw_path, *raw_body; /* GET raw_path answers raw_body (200) */
        bool raw_once;
        const char *redirect_path, *redirect_to;

        /* observations */
        unsigned sessions_created, sessions_deleted, uses, unauthorized;
        char history[FAKE_HISTORY_MAX][FAKE_LINE_MAX];
        unsigned n_history;
        char last_body[4096];
} FakeRedfish;

typedef struct FakeConn {
        char *body;
        size_t size;
        bool too_big;
} FakeConn;

static inline void fake_defaults(FakeRedfish *f) {
        f->vendor = "Contoso";
        f->manufacturer = "Contoso";
        f->sessions = true;
        f->etags = true;
        f->reset_allowable = true;
        static const char *const resets[] = { "On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle" };
        for (size_t i = 0; i < sizeof(resets) / sizeof(resets[0]); i++)
                f->resets[i] = resets[i];
        f->vmedia_actions = true;
        f->fail_prefix = "/redfish/v1/Systems";
        f->n_systems = 1;
        for (unsigned char i = 0; i < FAKE_SYSTEMS_MAX; i++) {
                FakeSystem *s = &f->systems[i];
                snprintf(s->id, sizeof(s->id), "%c", (char) ('1' + i));
                snprintf(s->uuid, sizeof(s->uuid), "4c4c4544-0042-3510-8052-b4c04f384d3%c", (char) ('0' + i));
                snprintf(s->serial, sizeof(s->serial), "SN00%c", (char) ('0' + i));
                snprintf(s->mac, sizeof(s->mac), "52:54:00:00:00:0%c", (char) ('1' + i));
                snprintf(s->power, sizeof(s->power), "Off");
                snprintf(s->boot_enabled, sizeof(s->boot_enabled), "Disabled");
                snprintf(s->boot_target, sizeof(s->boot_target), "None");
                snprintf(s->boot_mode, sizeof(s->boot_mode), "Legacy");
                s->etag = 1;
                s->media_etag = 1;
        }
}

static inline void fake_log(FakeRedfish *f, const char *format, ...) __attribute__((format(printf, 2, 3)));
static inline void fake_log(FakeRedfish *f, const char *format, ...) {
        va_list ap;
        if (f->n_history >= FAKE_HISTORY_MAX)
                return;
        va_start(ap, format);
        vsnprintf(f->history[f->n_history++], FAKE_LINE_MAX, format, ap);
        va_end(ap);
}

/* How many history lines contain `a` (and `b`, when given). */
static inline unsigned fake_count(FakeRedfish *f, const char *a, const char *b) {
        unsigned n = 0;
        pthread_mutex_lock(&f->lock);
        for (unsigned i = 0; i < f->n_history; i++)
                if (strstr(f->history[i], a) && (!b || strstr(f->history[i], b)))
                        n++;
        pthread_mutex_unlock(&f->lock);
        return n;
}

static inline void fake_dump(FakeRedfish *f) {
        pthread_mutex_lock(&f->lock);
        for (unsigned i = 0; i < f->n_history; i++)
                fprintf(stderr, "fake[%u]: %s\n", i, f->history[i]);
        pthread_mutex_unlock(&f->lock);
}

static inline void fake_etag(const FakeRedfish *f, unsigned n, char *buf, size_t size) {
        snprintf(buf, size, "%s\"%u\"", f->weak_etag ? "W/" : "", n);
}

static inline enum MHD_Result fake_send(struct MHD_Connection *c, unsigned status, const char *body,
                                        const char *const *headers) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ok;
        if (!r)
                return MHD_NO;
        if (*body)
                MHD_add_response_header(r, "Content-Type", "application/json");
        for (size_t i = 0; headers && headers[i]; i += 2)
                MHD_add_response_header(r, headers[i], headers[i + 1]);
        ok = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ok;
}

static inline enum MHD_Result fake_json(struct MHD_Connection *c, unsigned status, json_t *j,
                                        const char *const *headers) {
        char *s = json_dumps(j, JSON_COMPACT);
        enum MHD_Result ok = fake_send(c, status, s ? s : "{}", headers);
        free(s);
        json_decref(j);
        return ok;
}

static inline enum MHD_Result fake_error(struct MHD_Connection *c, unsigned status, const char *id,
                                         const char *message) {
        json_t *e = json_pack("{s:{s:s,s:s,s:[{s:s,s:s}]}}", "error", "code", "Base.1.8.GeneralError", "message",
                              "A general error has occurred. See ExtendedInfo for more information.",
                              "@Message.ExtendedInfo", "MessageId", id, "Message", message);
        return fake_json(c, status, e, NULL);
}

static inline FakeSystem *fake_system(FakeRedfish *f, const char *id) {
        for (int i = 0; i < f->n_systems; i++)
                if (strcmp(f->systems[i].id, id) == 0)
                        return &f->systems[i];
        return NULL;
}

static inline bool fake_reset_ok(const FakeRedfish *f, const char *type) {
        for (size_t i = 0; i < 8 && f->resets[i]; i++)
                if (strcmp(f->resets[i], type) == 0)
                        return true;
        return false;
}

static inline json_t *fake_system_json(FakeRedfish *f, FakeSystem *s) {
        char base[64], etag[32];
        json_t *reset, *boot, *j;

        snprintf(base, sizeof(base), "/redfish/v1/Systems/%s", s->id);
        fake_etag(f, s->etag, etag, sizeof(etag));
        boot = json_pack("{s:s,s:s,s:s,s:[s,s,s,s]}", "BootSourceOverrideEnabled", s->boot_enabled,
                         "BootSourceOverrideTarget", s->boot_target, "BootSourceOverrideMode", s->boot_mode,
                         "BootSourceOverrideTarget@Redfish.AllowableValues", "None", "Pxe", "Hdd", "UefiHttp");
        json_object_set_new(boot, "HttpBootUri", s->http_uri[0] ? json_string(s->http_uri) : json_null());
        reset = json_pack("{s:s+}", "target", base, "/Actions/ComputerSystem.Reset");
        if (f->reset_allowable) {
                json_t *a = json_array();
                for (size_t i = 0; i < 8 && f->resets[i]; i++)
                        json_array_append_new(a, json_string(f->resets[i]));
                json_object_set_new(reset, "ResetType@Redfish.AllowableValues", a);
        } else if (f->reset_action_info)
                json_object_set_new(reset, "@Redfish.ActionInfo", json_pack("s+", base, "/ResetActionInfo"));
        j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:o},s:{s:s+},s:{s:[{s:s}]}}", "@odata.id", base, "Id",
                      s->id, "UUID", s->uuid, "SerialNumber", s->serial, "Manufacturer", f->manufacturer, "Model",
                      "Fake 1000", "PowerState", s->power, "Boot", boot, "Actions", "#ComputerSystem.Reset", reset,
                      "EthernetInterfaces", "@odata.id", base, "/EthernetInterfaces", "Links", "ManagedBy",
                      "@odata.id", "/redfish/v1/Managers/1");
        if (f->etags)
                json_object_set_new(j, "@odata.etag", json_string(etag));
        if (f->settings)
                json_object_set_new(j, "@Redfish.Settings",
                                    json_pack("{s:{s:s+}}", "SettingsObject", "@odata.id", base, "/Settings"));
        if (f->vmedia_on_system)
                json_object_set_new(j, "VirtualMedia", json_pack("{s:s+}", "@odata.id", base, "/VirtualMedia"));
        return j;
}

static inline json_t *fake_slot_json(FakeRedfish *f, FakeSystem *s, const char *base, const char *slot) {
        char etag[32];
        bool cd = strcmp(slot, "CD1") == 0;
        json_t *j = json_pack("{s:s+,s:s,s:[s,s]}", "@odata.id", base, slot, "Id", slot, "MediaTypes", cd ? "CD" : "Floppy",
                              cd ? "DVD" : "USBStick");
        json_object_set_new(j, "Image", cd && s->inserted ? json_string(s->image) : json_null());
        json_object_set_new(j, "Inserted", json_boolean(cd && s->inserted));
        fake_etag(f, s->media_etag, etag, sizeof(etag));
        if (f->etags)
                json_object_set_new(j, "@odata.etag", json_string(etag));
        if (f->vmedia_actions) {
                char ins[160], ej[160];
                snprintf(ins, sizeof(ins), "%s%s/Actions/VirtualMedia.InsertMedia", base, slot);
                snprintf(ej, sizeof(ej), "%s%s/Actions/VirtualMedia.EjectMedia", base, slot);
                json_object_set_new(j, "Actions", json_pack("{s:{s:s},s:{s:s}}", "#VirtualMedia.InsertMedia", "target",
                                                            ins, "#VirtualMedia.EjectMedia", "target", ej));
        }
        return j;
}

/* If-Match rules for PATCH: 0 to go on, else the status refused with. */
static inline unsigned fake_precondition(FakeRedfish *f, unsigned *etag, const char *if_match) {
        char cur[32];

        if (f->stale_always || f->stale_next) {
                if (f->stale_next)
                        f->stale_next--;
                (*etag)++;
        }
        if (!if_match)
                return f->require_if_match ? 428 : 0;
        if (f->reject_if_match)
                return 412;
        if (strcmp(if_match, "*") == 0)
                return 0;
        fake_etag(f, *etag, cur, sizeof(cur));
        if (f->weak_refused) {
                /* takes "n" for W/"n", refuses its own weak form */
                return strncmp(if_match, "W/", 2) == 0 || strcmp(if_match, cur + 2) != 0 ? 412 : 0;
        }
        return strcmp(if_match, cur) == 0 ? 0 : 412;
}

static inline enum MHD_Result fake_reset(FakeRedfish *f, struct MHD_Connection *c, FakeSystem *s, json_t *body) {
        const char *type = json_string_value(json_object_get(body, "ResetType"));

        if (!type || !fake_reset_ok(f, type))
                return fake_error(c, 400, "Base.1.8.ActionParameterNotSupported", "ResetType not supported");
        if (strcmp(type, "On") == 0 && f->conflict_on) {
                f->conflict_on--;
                return fake_error(c, 409, "Base.1.8.ActionParameterValueConflict", "still powering off");
        }
        if (strcmp(type, "On") == 0 || strcmp(type, "ForceOn") == 0) {
                if (strcmp(s->power, "On") == 0)
                        return fake_error(c, 409, "Base.1.8.ResourceInUse", "already on");
                snprintf(s->power, sizeof(s->power), "On");
        } else if (strcmp(type, "ForceOff") == 0 || strcmp(type, "GracefulShutdown") == 0)
                snprintf(s->power, sizeof(s->power), "Off");
        else if (strcmp(s->power, "Off") == 0)
                return fake_error(c, 409, "Base.1.8.ActionNotSupported", "the system is off");
        else
                snprintf(s->power, sizeof(s->power), "On");
        if (s->pending) {
                snprintf(s->boot_target, sizeof(s->boot_target), "%s", s->pending_target);
                snprintf(s->boot_enabled, sizeof(s->boot_enabled), "Once");
                s->pending = false;
        }
        s->etag++;
        if (f->reset_task) {
                const char *h[] = { "Location", f->task_location ? f->task_location : "/redfish/v1/TaskService/Tasks/1/Monitor",
                                    NULL };
                return fake_json(c, 202, json_pack("{s:s,s:s}", "@odata.id", "/redfish/v1/TaskService/Tasks/1",
                                                   "TaskState", "Running"),
                                 h);
        }
        return fake_send(c, 204, "", NULL);
}

/* Boot PATCH on the system or its settings object. */
static inline enum MHD_Result fake_patch_boot(FakeRedfish *f, struct MHD_Connection *c, FakeSystem *s, json_t *body,
                                              bool settings, const char *if_match) {
        json_t *boot = json_object_get(body, "Boot");
        const char *target = json_string_value(json_object_get(boot, "BootSourceOverrideTarget"));
        const char *enabled = json_string_value(json_object_get(boot, "BootSourceOverrideEnabled"));
        const char *mode = json_string_value(json_object_get(boot, "BootSourceOverrideMode"));
        json_t *uri = json_object_get(boot, "HttpBootUri");
        unsigned st = fake_precondition(f, &s->etag, if_match);
        char etag[32];

        if (st == 428)
                return fake_error(c, 428, "Base.1.8.PreconditionRequired", "If-Match is required");
        if (st == 412)
                return fake_error(c, 412, "Base.1.8.PreconditionFailed", "ETag does not match");
        if (!settings && f->boot_readonly)
                return fake_error(c, 400, "Base.1.8.PropertyNotWritable", "Boot is read-only here");
        if (f->reject_mode && mode)
                return fake_error(c, 400, "Base.1.8.PropertyValueNotInList", "BootSourceOverrideMode refused");
        if (f->reject_full_boot && json_object_size(boot) > 2 && !(json_object_size(boot) == 3 && json_is_string(uri)))
                return fake_error(c, 400, "Base.1.8.PropertyUnknown", "too many properties");
        if (!target || (strcmp(target, "Pxe") != 0 && strcmp(target, "UefiHttp") != 0 && strcmp(target, "None") != 0))
                return fake_error(c, 400, "Base.1.8.PropertyValueNotInList", "bad target");
        if (settings) {
                s->pending = true;
                snprintf(s->pending_target, sizeof(s->pending_target), "%s", target);
        } else {
                snprintf(s->boot_target, sizeof(s->boot_target), "%s", target);
                if (enabled)
                        snprintf(s->boot_enabled, sizeof(s->boot_enabled), "%s", enabled);
                if (mode)
                        snprintf(s->boot_mode, sizeof(s->boot_mode), "%s", mode);
                if (json_is_string(uri))
                        snprintf(s->http_uri, sizeof(s->http_uri), "%s", json_string_value(uri));
                else if (json_is_null(uri))
                        s->http_uri[0] = '\0';
        }
        s->etag++;
        fake_etag(f, s->etag, etag, sizeof(etag));
        {
                const char *h[] = { "ETag", etag, NULL };
                return fake_send(c, 204, "", f->etags ? h : NULL);
        }
}

static inline enum MHD_Result fake_media(FakeRedfish *f, struct MHD_Connection *c, const char *method,
                                         const char *base, const char *rest, FakeSystem *s, json_t *body,
                                         const char *if_match) {
        char etag[32];

        if (strcmp(method, "GET") == 0 && !*rest)
                return fake_json(c, 200,
                                 json_pack("{s:[{s:s+},{s:s+}],s:i}", "Members", "@odata.id", base, "Floppy1",
                                           "@odata.id", base, "CD1", "Members@odata.count", 2),
                                 NULL);
        if (strcmp(method, "GET") == 0 && (strcmp(rest, "CD1") == 0 || strcmp(rest, "Floppy1") == 0)) {
                const char *h[] = { "ETag", etag, NULL };
                fake_etag(f, s->media_etag, etag, sizeof(etag));
                return fake_json(c, 200, fake_slot_json(f, s, base, rest), f->etags ? h : NULL);
        }
        if (strcmp(method, "POST") == 0 && strcmp(rest, "CD1/Actions/VirtualMedia.InsertMedia") == 0 &&
            f->vmedia_actions) {
                const char *image = json_string_value(json_object_get(body, "Image"));
                if (!image)
                        return fake_error(c, 400, "Base.1.8.ActionParameterMissing", "Image is required");
                if (f->insert_image_only && (json_object_get(body, "Inserted") || json_object_get(body, "WriteProtected")))
                        return fake_error(c, 400, "Base.1.8.ActionParameterUnknown", "Inserted not accepted");
                if (f->insert_needs_transfer && !json_object_get(body, "TransferProtocolType"))
                        return fake_error(c, 400, "Base.1.8.ActionParameterMissing", "TransferProtocolType is required");
                if (s->inserted)
                        return fake_error(c, 409, "Base.1.8.ResourceInUse", "media already inserted");
                snprintf(s->image, sizeof(s->image), "%s", image);
                s->inserted = true;
                s->media_etag++;
                return fake_send(c, 204, "", NULL);
        }
        if (strcmp(method, "POST") == 0 && strcmp(rest, "CD1/Actions/VirtualMedia.EjectMedia") == 0 &&
            f->vmedia_actions) {
                if (!body)
                        return fake_error(c, 415, "Base.1.8.MalformedJSON", "a JSON body is required");
                s->inserted = false;
                s->image[0] = '\0';
                s->media_etag++;
                return fake_send(c, 204, "", NULL);
        }
        if (strcmp(method, "PATCH") == 0 && strcmp(rest, "CD1") == 0 && !f->vmedia_actions) {
                json_t *image = json_object_get(body, "Image");
                unsigned st = fake_precondition(f, &s->media_etag, if_match);
                if (st)
                        return fake_error(c, st, "Base.1.8.PreconditionFailed", "If-Match");
                if (json_is_string(image)) {
                        if (!json_is_true(json_object_get(body, "Inserted")))
                                return fake_error(c, 400, "Base.1.8.PropertyMissing", "Inserted is required");
                        snprintf(s->image, sizeof(s->image), "%s", json_string_value(image));
                        s->inserted = true;
                } else {
                        s->inserted = false;
                        s->image[0] = '\0';
                }
                s->media_etag++;
                return fake_send(c, 204, "", NULL);
        }
        return fake_error(c, 405, "Base.1.8.OperationNotAllowed", "not here");
}

static inline bool fake_authorized(FakeRedfish *f, struct MHD_Connection *c) {
        const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token");
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &pass);
        bool ok = false;

        if (token && f->sessions && strcmp(token, FAKE_TOKEN) == 0 && f->sessions_created > f->sessions_deleted) {
                ok = !f->token_uses || f->uses < f->token_uses;
                f->uses++;
                if (!ok) /* expired: the next session starts afresh */
                        f->sessions_deleted = f->sessions_created;
        } else if (user && pass)
                ok = strcmp(user, FAKE_USER) == 0 && strcmp(pass, FAKE_PASSWORD) == 0;
        if (user)
                MHD_free(user);
        if (pass)
                MHD_free(pass);
        if (!ok)
                f->unauthorized++;
        return ok;
}

static inline enum MHD_Result fake_route(FakeRedfish *f, struct MHD_Connection *c, const char *method,
                                         const char *url, json_t *body) {
        const char *if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
        char sys_id[32] = "", rest[128] = "";
        FakeSystem *s;

        if (strcmp(method, "GET") == 0 && (strcmp(url, "/redfish/v1/") == 0 || strcmp(url, "/redfish/v1") == 0)) {
                json_t *root = json_pack("{s:s,s:s,s:s,s:{s:s},s:{s:s}}", "@odata.id", "/redfish/v1/", "RedfishVersion",
                                         "1.15.0", "UUID", "00000000-0000-0000-0000-000000000001", "Systems",
                                         "@odata.id", "/redfish/v1/Systems", "Managers", "@odata.id",
                                         "/redfish/v1/Managers");
                if (f->vendor)
                        json_object_set_new(root, "Vendor", json_string(f->vendor));
                if (f->sessions) {
                        json_object_set_new(root, "SessionService",
                                            json_pack("{s:s}", "@odata.id", "/redfish/v1/SessionService"));
                        json_object_set_new(root, "Links", json_pack("{s:{s:s}}", "Sessions", "@odata.id",
                                                                     "/redfish/v1/SessionService/Sessions"));
                }
                return fake_json(c, 200, root, NULL);
        }
        if (strcmp(method, "POST") == 0 && strcmp(url, "/redfish/v1/SessionService/Sessions") == 0) {
                const char *u = json_string_value(json_object_get(body, "UserName"));
                const char *p = json_string_value(json_object_get(body, "Password"));
                if (!f->sessions)
                        return fake_error(c, 404, "Base.1.8.ResourceMissingAtURI", "no sessions");
                if (!u || !p || strcmp(u, FAKE_USER) != 0 || strcmp(p, FAKE_PASSWORD) != 0)
                        return fake_error(c, 401, "Base.1.8.NoValidSession", "bad user name or password");
                f->sessions_created++;
                f->uses = 0;
                const char *h[] = { "X-Auth-Token", FAKE_TOKEN, "Location", "/redfish/v1/SessionService/Sessions/1",
                                    NULL };
                return fake_json(c, 201, json_pack("{s:s,s:s}", "@odata.id", "/redfish/v1/SessionService/Sessions/1",
                                                   "UserName", u),
                                 h);
        }
        if (!fake_authorized(f, c))
                return fake_error(c, 401, "Base.1.8.NoValidSession", "authentication required");
        if (strcmp(method, "DELETE") == 0 && strcmp(url, "/redfish/v1/SessionService/Sessions/1") == 0) {
                f->sessions_deleted++;
                return fake_send(c, 204, "", NULL);
        }
        if (strcmp(method, "GET") == 0 && strcmp(url, "/redfish/v1/Systems") == 0) {
                json_t *m = json_array();
                for (int i = 0; i < f->n_systems; i++)
                        json_array_append_new(m, json_pack("{s:s+}", "@odata.id", "/redfish/v1/Systems/",
                                                           f->systems[i].id));
                return fake_json(c, 200, json_pack("{s:o,s:i}", "Members", m, "Members@odata.count", f->n_systems),
                                 NULL);
        }
        if (strcmp(method, "GET") == 0 && strncmp(url, "/redfish/v1/TaskService/Tasks/1", 31) == 0) {
                if (f->task_polls > 0) {
                        f->task_polls--;
                        const char *h[] = { "Retry-After", "0", NULL };
                        return fake_json(c, 202, json_pack("{s:s}", "TaskState", "Running"), h);
                }
                if (f->task_fails)
                        return fake_json(c, 200, json_pack("{s:s,s:s,s:[{s:s}]}", "TaskState", "Exception", "TaskStatus",
                                                           "Critical", "Messages", "Message", "the BMC gave up"),
                                         NULL);
                return fake_json(c, 200, json_pack("{s:s,s:s}", "TaskState", "Completed", "TaskStatus", "OK"), NULL);
        }
        if (strcmp(method, "GET") == 0 && strcmp(url, "/redfish/v1/Managers/1") == 0) {
                json_t *m = json_pack("{s:s,s:s}", "@odata.id", "/redfish/v1/Managers/1", "Id", "1");
                if (!f->vmedia_on_system)
                        json_object_set_new(m, "VirtualMedia",
                                            json_pack("{s:s}", "@odata.id", "/redfish/v1/Managers/1/VirtualMedia"));
                return fake_json(c, 200, m, NULL);
        }
        if (strncmp(url, "/redfish/v1/Managers/1/VirtualMedia", 35) == 0 && !f->vmedia_on_system) {
                const char *r = url + 35;
                if (*r == '/')
                        r++;
                return fake_media(f, c, method, "/redfish/v1/Managers/1/VirtualMedia/", r, &f->systems[0], body,
                                  if_match);
        }
        if (sscanf(url, "/redfish/v1/Systems/%31[^/]/%127s", sys_id, rest) < 1)
                return fake_error(c, 404, "Base.1.8.ResourceMissingAtURI", "no such resource");
        s = fake_system(f, sys_id);
        if (!s)
                return fake_error(c, 404, "Base.1.8.ResourceMissingAtURI", "no such system");
        if (!*rest && strcmp(method, "GET") == 0) {
                char etag[32];
                const char *h[] = { "ETag", etag, NULL };
                fake_etag(f, s->etag, etag, sizeof(etag));
                return fake_json(c, 200, fake_system_json(f, s), f->etags ? h : NULL);
        }
        if (!*rest && strcmp(method, "PATCH") == 0)
                return fake_patch_boot(f, c, s, body, false, if_match);
        if (strcmp(rest, "Settings") == 0 && f->settings) {
                char etag[32];
                const char *h[] = { "ETag", etag, NULL };
                fake_etag(f, s->etag, etag, sizeof(etag));
                if (strcmp(method, "GET") == 0)
                        return fake_json(c, 200, json_pack("{s:s}", "@odata.id", url), f->etags ? h : NULL);
                if (strcmp(method, "PATCH") == 0)
                        return fake_patch_boot(f, c, s, body, true, if_match);
        }
        if (strcmp(rest, "Actions/ComputerSystem.Reset") == 0 && strcmp(method, "POST") == 0)
                return fake_reset(f, c, s, body);
        if (strcmp(rest, "ResetActionInfo") == 0 && f->reset_action_info) {
                json_t *a = json_array();
                for (size_t i = 0; i < 8 && f->resets[i]; i++)
                        json_array_append_new(a, json_string(f->resets[i]));
                return fake_json(c, 200,
                                 json_pack("{s:[{s:s,s:o}]}", "Parameters", "Name", "ResetType", "AllowableValues", a),
                                 NULL);
        }
        if (strcmp(rest, "EthernetInterfaces") == 0)
                return fake_json(c, 200,
                                 json_pack("{s:[{s:s+}]}", "Members", "@odata.id", url, "/NIC1"), NULL);
        if (strcmp(rest, "EthernetInterfaces/NIC1") == 0)
                return fake_json(c, 200, json_pack("{s:s,s:s}", "Id", "NIC1", "MACAddress", s->mac), NULL);
        if (strncmp(rest, "VirtualMedia", 12) == 0 && f->vmedia_on_system) {
                char base[96];
                const char *r = rest + 12;
                if (*r == '/')
                        r++;
                snprintf(base, sizeof(base), "/redfish/v1/Systems/%s/VirtualMedia/", s->id);
                return fake_media(f, c, method, base, r, s, body, if_match);
        }
        return fake_error(c, 404, "Base.1.8.ResourceMissingAtURI", "no such resource");
}

static inline enum MHD_Result fake_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                          const char *version, const char *upload, size_t *upload_size, void **con) {
        FakeRedfish *f = cls;
        FakeConn *fc = *con;
        json_t *body = NULL;
        enum MHD_Result ok;
        unsigned hang = 0;

        (void) version;
        if (!fc) {
                fc = calloc(1, sizeof(*fc));
                if (!fc)
                        return MHD_NO;
                *con = fc;
                return MHD_YES;
        }
        if (*upload_size) {
                if (fc->size + *upload_size > FAKE_BODY_MAX)
                        fc->too_big = true;
                else {
                        fc->body = realloc(fc->body, fc->size + *upload_size + 1);
                        memcpy(fc->body + fc->size, upload, *upload_size);
                        fc->size += *upload_size;
                        fc->body[fc->size] = '\0';
                }
                *upload_size = 0;
                return MHD_YES;
        }
        if (fc->size)
                body = json_loadb(fc->body, fc->size, 0, NULL);

        pthread_mutex_lock(&f->lock);
        {
                const char *if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
                const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token");
                const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
                const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
                fake_log(f, "%s %s%s%s%s%s%s%s body=%.400s", method, url, if_match ? " if-match=" : "",
                         if_match ? if_match : "", token ? " token" : "", auth ? " basic" : "",
                         ae && strcmp(ae, "identity") == 0 ? " identity" : "", fc->size ? "" : " nobody",
                         fc->body ? fc->body : "");
                if (fc->body && strcmp(method, "GET") != 0)
                        snprintf(f->last_body, sizeof(f->last_body), "%s", fc->body);
        }
        if (f->redirect_path && strcmp(url, f->redirect_path) == 0) {
                const char *h[] = { "Location", f->redirect_to, NULL };
                pthread_mutex_unlock(&f->lock);
                ok = fake_send(c, 302, "", h);
                goto out;
        }
        if (f->raw_path && strcmp(method, "GET") == 0 && strcmp(url, f->raw_path) == 0) {
                char *raw = strdup(f->raw_body);
                if (f->raw_once)
                        f->raw_path = NULL;
                pthread_mutex_unlock(&f->lock);
                ok = fake_send(c, 200, raw ? raw : "", NULL);
                free(raw);
                goto out;
        }
        if (f->n_fail > 0 && strncmp(url, f->fail_prefix, strlen(f->fail_prefix)) == 0 &&
            (!f->fail_method || strcmp(f->fail_method, method) == 0)) {
                int st = f->fail_next[0];
                char id[96];
                memmove(f->fail_next, f->fail_next + 1, sizeof(f->fail_next) - sizeof(f->fail_next[0]));
                f->n_fail--;
                snprintf(id, sizeof(id), "%s", f->fail_message_id ? f->fail_message_id : "Base.1.8.InternalError");
                pthread_mutex_unlock(&f->lock);
                ok = fake_error(c, (unsigned) st, id, "injected failure");
                goto out;
        }
        if (f->hang_ms && strncmp(url, f->hang_prefix ? f->hang_prefix : "/", strlen(f->hang_prefix ? f->hang_prefix : "/")) == 0 &&
            (!f->hang_method || strcmp(f->hang_method, method) == 0))
                hang = f->hang_ms;
        pthread_mutex_unlock(&f->lock);
        for (unsigned waited = 0; waited < hang && !f->stop; waited += 10)
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        pthread_mutex_lock(&f->lock);
        ok = fake_route(f, c, method, url, body);
        pthread_mutex_unlock(&f->lock);
out:
        json_decref(body);
        return ok;
}

static inline void fake_completed(void *cls, struct MHD_Connection *c, void **con, enum MHD_RequestTerminationCode t) {
        FakeConn *fc = *con;
        (void) cls;
        (void) c;
        (void) t;
        if (fc) {
                free(fc->body);
                free(fc);
                *con = NULL;
        }
}

/* Starts the fake on a loopback port; HTTPS when cert and key (PEM) are given. */
static inline int fake_start(FakeRedfish *f, const char *cert_pem, const char *key_pem) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -1;
        pthread_mutex_init(&f->lock, NULL);
        f->port = ntohs(sa.sin_port);
        snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%u", cert_pem ? "https" : "http", f->port);
        if (cert_pem)
                f->daemon = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, fake_access, f, MHD_OPTION_LISTEN_SOCKET, fd,
                                             MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f, MHD_OPTION_HTTPS_MEM_KEY,
                                             key_pem, MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
        else
                f->daemon = MHD_start_daemon(flags, 0, NULL, NULL, fake_access, f, MHD_OPTION_LISTEN_SOCKET, fd,
                                             MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f, MHD_OPTION_END);
        if (!f->daemon) {
                close(fd);
                return -1;
        }
        return 0;
}

static inline void fake_stop(FakeRedfish *f) {
        f->stop = true;
        if (f->daemon)
                MHD_stop_daemon(f->daemon);
        f->daemon = NULL;
        pthread_mutex_destroy(&f->lock);
}
