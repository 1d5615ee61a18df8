/* Pure parsers for Redfish replies (see redfish-parse.h). Field names and
 * enums follow DMTF's json-schema (ServiceRoot, ComputerSystem v1_27,
 * VirtualMedia v1_6, Task v1_7, Resource, the error object of DSP0266
 * §9.9). A BMC is a peer on the network: nothing it sends sizes an
 * allocation beyond the caps below, and every string that may reach a
 * message or a terminal is a printable copy. */
#include "bmc/redfish-parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/cleanup.h"
#include "core/error-detail.h"

#define REDFISH_MEMBERS_MAX 256u       /* collection members we look at */
#define REDFISH_ALLOWABLE_MAX 64u      /* entries of an AllowableValues list */
#define REDFISH_TEXT_MAX 256u          /* Id, Model, SerialNumber, enum values... */
#define REDFISH_URI_MAX 2048u          /* Image, HttpBootUri */
#define REDFISH_ETAG_MAX 256u          /* @odata.etag */
#define REDFISH_MESSAGES_MAX 8u        /* ExtendedInfo / task messages kept */
#define REDFISH_MESSAGE_MAX 1024u      /* the joined message */
#define REDFISH_ACTION_PARAMETERS_MAX 64u
#define REDFISH_RETRY_AFTER_MAX_SEC 86400 /* a day; callers cap further */

static const char redfish_path_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@/?";

char *redfish_printable(const char *s, size_t max) {
        size_t n = strlen(s), keep = n > max ? max : n;
        char *out = malloc(keep + 4);

        if (!out)
                return NULL;
        for (size_t i = 0; i < keep; i++) {
                unsigned char c = (unsigned char) s[i];
                out[i] = c >= 0x20 && c <= 0x7e ? (char) c : '?';
        }
        if (n > max)
                memcpy(out + keep, "...", 3), keep += 3;
        out[keep] = '\0';
        return out;
}

static bool is_printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return false;
        return true;
}

bool redfish_path_check(const char *path) {
        size_t n;

        if (!path || strncmp(path, "/redfish/", 9) != 0)
                return false;
        n = strlen(path);
        if (n > REDFISH_PATH_MAX || strspn(path, redfish_path_chars) != n)
                return false;
        if (strstr(path, "//") || strstr(path, "/../") || strstr(path, "/./"))
                return false;
        if (n >= 3 && (strcmp(path + n - 3, "/..") == 0 || strcmp(path + n - 2, "/.") == 0))
                return false;
        return true;
}

bool redfish_etag_is_weak(const char *etag) {
        return etag && strncmp(etag, "W/", 2) == 0;
}

void redfish_strings_done(RedfishStrings *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (RedfishStrings) {};
}

bool redfish_strings_contain(const RedfishStrings *s, const char *value) {
        for (size_t i = 0; value && i < s->n; i++)
                if (strcmp(s->v[i], value) == 0)
                        return true;
        return false;
}

static int strings_add(RedfishStrings *s, const char *value, size_t max) {
        char **v;

        if (s->n >= max)
                return -E2BIG;
        v = realloc(s->v, (s->n + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        s->v = v;
        s->v[s->n] = strdup(value);
        if (!s->v[s->n])
                return -ENOMEM;
        s->n++;
        return 0;
}

/* An optional string member compared exactly later (Id, enums, URIs):
 * printable and at most `max` bytes, or the reply is refused. JSON null and
 * absence both give NULL. */
static int opt_exact(const json_t *o, const char *key, size_t max, char **ret, char **reterr) {
        const json_t *v = json_object_get(o, key);
        const char *s;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        s = json_string_value(v);
        if (!s)
                return error_detail_set(reterr, -EBADMSG, "%s: not a string", key);
        if (strlen(s) != json_string_length(v) || !is_printable(s))
                return error_detail_set(reterr, -EBADMSG, "%s: not printable ASCII", key);
        if (strlen(s) > max)
                return error_detail_set(reterr, -EBADMSG, "%s: longer than %zu bytes", key, max);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* An optional descriptive string (Manufacturer, Model, SerialNumber):
 * kept as a printable, capped copy. */
static int opt_text(const json_t *o, const char *key, char **ret, char **reterr) {
        const json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return error_detail_set(reterr, -EBADMSG, "%s: not a string", key);
        *ret = redfish_printable(json_string_value(v), REDFISH_TEXT_MAX);
        return *ret ? 0 : -ENOMEM;
}

/* A link string (target, @Redfish.ActionInfo) that must pass the path check. */
static int link_string(const json_t *v, const char *name, char **ret, char **reterr) {
        const char *s = json_string_value(v);

        *ret = NULL;
        if (!s)
                return error_detail_set(reterr, -EBADMSG, "%s: not a string", name);
        if (!redfish_path_check(s))
                return error_detail_set(reterr, -EBADMSG, "%s: not a /redfish/ path we follow", name);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* An optional {"@odata.id": "/redfish/..."} member. */
static int opt_link(const json_t *o, const char *key, char **ret, char **reterr) {
        const json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return error_detail_set(reterr, -EBADMSG, "%s: not a link object", key);
        v = json_object_get(v, "@odata.id");
        if (!v)
                return error_detail_set(reterr, -EBADMSG, "%s.@odata.id: missing", key);
        return link_string(v, key, ret, reterr);
}

/* An AllowableValues-style array of enum strings. */
static int opt_string_list(const json_t *o, const char *key, RedfishStrings *ret, bool *ret_known,
                           char **reterr) {
        const json_t *v = json_object_get(o, key), *e;
        size_t i;
        int r;

        if (ret_known)
                *ret_known = false;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return error_detail_set(reterr, -EBADMSG, "%s: not an array", key);
        if (json_array_size(v) > REDFISH_ALLOWABLE_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: more than %u values", key, REDFISH_ALLOWABLE_MAX);
        json_array_foreach(v, i, e) {
                const char *s = json_string_value(e);
                if (!s || strlen(s) != json_string_length(e) || strlen(s) > REDFISH_TEXT_MAX || !is_printable(s))
                        return error_detail_set(reterr, -EBADMSG, "%s[%zu]: not a printable string", key, i);
                r = strings_add(ret, s, REDFISH_ALLOWABLE_MAX);
                if (r < 0)
                        return r;
        }
        if (ret_known)
                *ret_known = true;
        return 0;
}

static int object_or_absent(const json_t *o, const char *key, const json_t **ret, char **reterr) {
        const json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return error_detail_set(reterr, -EBADMSG, "%s: not an object", key);
        *ret = v;
        return 0;
}

int redfish_json_parse(const void *body, size_t size, json_t **ret, char **reterr) {
        json_error_t e;
        json_t *j;

        if (size > REDFISH_REPLY_MAX)
                return error_detail_set(reterr, -E2BIG, "reply larger than %u bytes", REDFISH_REPLY_MAX);
        if (size == 0)
                return error_detail_set(reterr, -EBADMSG, "empty reply where JSON was expected");
        j = json_loadb(body, size, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
                _cleanup_free_ char *text = redfish_printable(e.text, 120);
                return error_detail_set(reterr, -EBADMSG, "malformed JSON at line %d column %d: %s", e.line,
                                        e.column, text ? text : "?");
        }
        if (!json_is_object(j)) {
                json_decref(j);
                return error_detail_set(reterr, -EBADMSG, "reply is JSON but not an object");
        }
        *ret = j;
        return 0;
}

void redfish_root_done(RedfishRoot *r) {
        free(r->redfish_version);
        free(r->uuid);
        free(r->vendor);
        free(r->product);
        free(r->oem);
        free(r->systems);
        free(r->managers);
        free(r->sessions);
        *r = (RedfishRoot) {};
}

int redfish_root_parse(const json_t *j, RedfishRoot *ret, char **reterr) {
        RedfishRoot root = {};
        const json_t *links, *oem;
        int r;

        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "service root: not an object");
        if ((r = opt_text(j, "RedfishVersion", &root.redfish_version, reterr)) < 0 ||
            (r = opt_text(j, "UUID", &root.uuid, reterr)) < 0 ||
            (r = opt_text(j, "Vendor", &root.vendor, reterr)) < 0 ||
            (r = opt_text(j, "Product", &root.product, reterr)) < 0 ||
            (r = opt_link(j, "Systems", &root.systems, reterr)) < 0 ||
            (r = opt_link(j, "Managers", &root.managers, reterr)) < 0 ||
            (r = object_or_absent(j, "Links", &links, reterr)) < 0 ||
            (r = opt_link(links, "Sessions", &root.sessions, reterr)) < 0 ||
            (r = object_or_absent(j, "Oem", &oem, reterr)) < 0)
                goto fail;
        root.has_session_service = json_is_object(json_object_get(j, "SessionService"));
        if (oem && json_object_size(oem) > 0) {
                void *it = json_object_iter((json_t *) oem);
                root.oem = redfish_printable(json_object_iter_key(it), 64);
                if (!root.oem) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        *ret = root;
        return 0;
fail:
        redfish_root_done(&root);
        return r;
}

int redfish_members_parse(const json_t *j, RedfishStrings *ret, char **reterr) {
        RedfishStrings m = {};
        const json_t *members = json_object_get(j, "Members"), *e;
        size_t i;
        int r;

        if (!json_is_array(members))
                return error_detail_set(reterr, -EBADMSG, "Members: missing or not an array");
        if (json_array_size(members) > REDFISH_MEMBERS_MAX)
                return error_detail_set(reterr, -E2BIG, "Members: more than %u", REDFISH_MEMBERS_MAX);
        json_array_foreach(members, i, e) {
                const char *p = json_string_value(json_object_get(e, "@odata.id"));
                if (!redfish_path_check(p)) {
                        redfish_strings_done(&m);
                        return error_detail_set(reterr, -EBADMSG, "Members[%zu]: no /redfish/ @odata.id", i);
                }
                r = strings_add(&m, p, REDFISH_MEMBERS_MAX);
                if (r < 0) {
                        redfish_strings_done(&m);
                        return r;
                }
        }
        *ret = m;
        return 0;
}

void redfish_system_done(RedfishSystem *s) {
        free(s->id);
        free(s->uuid);
        free(s->serial);
        free(s->manufacturer);
        free(s->model);
        free(s->power_state);
        free(s->odata_etag);
        free(s->boot_enabled);
        free(s->boot_target);
        free(s->boot_mode);
        free(s->http_boot_uri);
        redfish_strings_done(&s->boot_targets);
        free(s->reset_target);
        redfish_strings_done(&s->reset_types);
        free(s->reset_action_info);
        free(s->ethernet_interfaces);
        free(s->virtual_media);
        free(s->settings_object);
        free(s->managed_by);
        *s = (RedfishSystem) {};
}

static int system_parse_boot(const json_t *boot, RedfishSystem *s, char **reterr) {
        int r;

        if (!boot)
                return 0;
        s->has_boot_mode = json_object_get(boot, "BootSourceOverrideMode") != NULL;
        s->has_http_boot_uri = json_object_get(boot, "HttpBootUri") != NULL;
        if ((r = opt_exact(boot, "BootSourceOverrideEnabled", REDFISH_TEXT_MAX, &s->boot_enabled, reterr)) < 0 ||
            (r = opt_exact(boot, "BootSourceOverrideTarget", REDFISH_TEXT_MAX, &s->boot_target, reterr)) < 0 ||
            (r = opt_exact(boot, "BootSourceOverrideMode", REDFISH_TEXT_MAX, &s->boot_mode, reterr)) < 0 ||
            (r = opt_exact(boot, "HttpBootUri", REDFISH_URI_MAX, &s->http_boot_uri, reterr)) < 0 ||
            (r = opt_string_list(boot, "BootSourceOverrideTarget@Redfish.AllowableValues", &s->boot_targets,
                                 &s->boot_targets_known, reterr)) < 0)
                return r;
        return 0;
}

static int system_parse_reset(const json_t *actions, RedfishSystem *s, char **reterr) {
        const json_t *reset, *v;
        int r;

        if (!actions)
                return 0;
        r = object_or_absent(actions, "#ComputerSystem.Reset", &reset, reterr);
        if (r < 0 || !reset)
                return r;
        r = link_string(json_object_get(reset, "target"), "Actions.#ComputerSystem.Reset.target", &s->reset_target,
                        reterr);
        if (r < 0)
                return r;
        r = opt_string_list(reset, "ResetType@Redfish.AllowableValues", &s->reset_types, &s->reset_types_known,
                            reterr);
        if (r < 0)
                return r;
        v = json_object_get(reset, "@Redfish.ActionInfo");
        if (v && !json_is_null(v))
                return link_string(v, "@Redfish.ActionInfo", &s->reset_action_info, reterr);
        return 0;
}

int redfish_system_parse(const json_t *j, RedfishSystem *ret, char **reterr) {
        RedfishSystem s = {};
        const json_t *boot, *actions, *settings, *links, *managed;
        int r;

        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "system: not an object");
        if ((r = opt_exact(j, "Id", REDFISH_TEXT_MAX, &s.id, reterr)) < 0 ||
            (r = opt_text(j, "UUID", &s.uuid, reterr)) < 0 ||
            (r = opt_text(j, "SerialNumber", &s.serial, reterr)) < 0 ||
            (r = opt_text(j, "Manufacturer", &s.manufacturer, reterr)) < 0 ||
            (r = opt_text(j, "Model", &s.model, reterr)) < 0 ||
            (r = opt_exact(j, "PowerState", REDFISH_TEXT_MAX, &s.power_state, reterr)) < 0 ||
            (r = opt_exact(j, "@odata.etag", REDFISH_ETAG_MAX, &s.odata_etag, reterr)) < 0 ||
            (r = object_or_absent(j, "Boot", &boot, reterr)) < 0 ||
            (r = system_parse_boot(boot, &s, reterr)) < 0 ||
            (r = object_or_absent(j, "Actions", &actions, reterr)) < 0 ||
            (r = system_parse_reset(actions, &s, reterr)) < 0 ||
            (r = opt_link(j, "EthernetInterfaces", &s.ethernet_interfaces, reterr)) < 0 ||
            (r = opt_link(j, "VirtualMedia", &s.virtual_media, reterr)) < 0 ||
            (r = object_or_absent(j, "@Redfish.Settings", &settings, reterr)) < 0 ||
            (r = opt_link(settings, "SettingsObject", &s.settings_object, reterr)) < 0 ||
            (r = object_or_absent(j, "Links", &links, reterr)) < 0)
                goto fail;
        managed = json_object_get(links, "ManagedBy");
        if (managed && !json_is_null(managed)) {
                const json_t *first = json_array_get(managed, 0);
                if (!json_is_array(managed) || (first && !json_is_object(first))) {
                        r = error_detail_set(reterr, -EBADMSG, "Links.ManagedBy: not an array of links");
                        goto fail;
                }
                if (first && (r = link_string(json_object_get(first, "@odata.id"), "Links.ManagedBy[0]",
                                              &s.managed_by, reterr)) < 0)
                        goto fail;
        }
        *ret = s;
        return 0;
fail:
        redfish_system_done(&s);
        return r;
}

int redfish_action_info_parse(const json_t *j, const char *name, RedfishStrings *ret, char **reterr) {
        const json_t *params = json_object_get(j, "Parameters"), *p;
        size_t i;

        if (!json_is_array(params))
                return error_detail_set(reterr, -EBADMSG, "Parameters: missing or not an array");
        if (json_array_size(params) > REDFISH_ACTION_PARAMETERS_MAX)
                return error_detail_set(reterr, -E2BIG, "Parameters: more than %u", REDFISH_ACTION_PARAMETERS_MAX);
        json_array_foreach(params, i, p) {
                const char *n = json_string_value(json_object_get(p, "Name"));
                RedfishStrings v = {};
                bool known;
                int r;

                if (!n || strcmp(n, name) != 0)
                        continue;
                r = opt_string_list(p, "AllowableValues", &v, &known, reterr);
                if (r < 0) {
                        redfish_strings_done(&v);
                        return r;
                }
                if (!known)
                        return error_detail_set(reterr, -ENOENT, "Parameters: %s has no AllowableValues", name);
                *ret = v;
                return 0;
        }
        return error_detail_set(reterr, -ENOENT, "Parameters: no parameter %s", name);
}

int redfish_mac_normalize(const char *s, char ret[static 18]) {
        size_t len = s ? strlen(s) : 0, step;
        char hex[12];

        /* "aabbccddeeff", or six pairs all separated by ':' or all by '-' */
        if (len == 12)
                step = 2;
        else if (len == 17 && (s[2] == ':' || s[2] == '-'))
                step = 3;
        else
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                const char *p = s + i * step;
                if (!isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
                        return -EINVAL;
                if (step == 3 && i < 5 && p[2] != s[2])
                        return -EINVAL;
                hex[i * 2] = (char) tolower((unsigned char) p[0]);
                hex[i * 2 + 1] = (char) tolower((unsigned char) p[1]);
        }
        for (size_t i = 0; i < 6; i++) {
                ret[i * 3] = hex[i * 2];
                ret[i * 3 + 1] = hex[i * 2 + 1];
                ret[i * 3 + 2] = i == 5 ? '\0' : ':';
        }
        return 0;
}

int redfish_nic_parse(const json_t *j, RedfishStrings *ret, char **reterr) {
        static const char *const keys[] = { "MACAddress", "PermanentMACAddress" };
        RedfishStrings m = {};

        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "interface: not an object");
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char mac[18];
                int r;
                /* "" or a malformed address (seen on unpopulated ports) is
                 * no match, not a broken reply */
                if (redfish_mac_normalize(json_string_value(json_object_get(j, keys[i])), mac) < 0 ||
                    redfish_strings_contain(&m, mac))
                        continue;
                r = strings_add(&m, mac, ELEMENTSOF(keys));
                if (r < 0) {
                        redfish_strings_done(&m);
                        return r;
                }
        }
        *ret = m;
        return 0;
}

int redfish_manager_parse(const json_t *j, char **ret_virtual_media, char **reterr) {
        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "manager: not an object");
        return opt_link(j, "VirtualMedia", ret_virtual_media, reterr);
}

void redfish_media_done(RedfishMedia *m) {
        free(m->id);
        free(m->image);
        redfish_strings_done(&m->media_types);
        free(m->insert_target);
        free(m->eject_target);
        free(m->odata_etag);
        *m = (RedfishMedia) {};
}

static int media_action(const json_t *actions, const char *name, char **ret, char **reterr) {
        const json_t *a;
        int r = object_or_absent(actions, name, &a, reterr);

        *ret = NULL;
        if (r < 0 || !a)
                return r;
        return link_string(json_object_get(a, "target"), name, ret, reterr);
}

int redfish_media_parse(const json_t *j, RedfishMedia *ret, char **reterr) {
        RedfishMedia m = {};
        const json_t *actions, *inserted;
        int r;

        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "virtual media: not an object");
        inserted = json_object_get(j, "Inserted");
        if (inserted && !json_is_null(inserted) && !json_is_boolean(inserted))
                return error_detail_set(reterr, -EBADMSG, "Inserted: not a boolean");
        m.inserted = json_is_true(inserted);
        if ((r = opt_exact(j, "Id", REDFISH_TEXT_MAX, &m.id, reterr)) < 0 ||
            (r = opt_exact(j, "Image", REDFISH_URI_MAX, &m.image, reterr)) < 0 ||
            (r = opt_exact(j, "@odata.etag", REDFISH_ETAG_MAX, &m.odata_etag, reterr)) < 0 ||
            (r = opt_string_list(j, "MediaTypes", &m.media_types, NULL, reterr)) < 0 ||
            (r = object_or_absent(j, "Actions", &actions, reterr)) < 0 ||
            (r = media_action(actions, "#VirtualMedia.InsertMedia", &m.insert_target, reterr)) < 0 ||
            (r = media_action(actions, "#VirtualMedia.EjectMedia", &m.eject_target, reterr)) < 0) {
                redfish_media_done(&m);
                return r;
        }
        /* some BMCs report an empty Image for an empty slot */
        if (m.image && !*m.image) {
                free(m.image);
                m.image = NULL;
        }
        *ret = m;
        return 0;
}

/* Appends `msg` (a wire string) to `*buf` with "; ", skipping duplicates,
 * capped at REDFISH_MESSAGE_MAX. */
static int message_append(char **buf, const char *msg) {
        _cleanup_free_ char *clean = NULL;
        size_t have = *buf ? strlen(*buf) : 0, add;
        char *nb;

        if (!msg || !*msg)
                return 0;
        clean = redfish_printable(msg, REDFISH_MESSAGE_MAX);
        if (!clean)
                return -ENOMEM;
        if (*buf && strstr(*buf, clean))
                return 0;
        if (have >= REDFISH_MESSAGE_MAX)
                return 0;
        add = strlen(clean);
        if (have + 2 + add > REDFISH_MESSAGE_MAX)
                add = REDFISH_MESSAGE_MAX - have - 2;
        nb = realloc(*buf, have + 2 + add + 1);
        if (!nb)
                return -ENOMEM;
        if (have)
                memcpy(nb + have, "; ", 2), have += 2;
        memcpy(nb + have, clean, add);
        nb[have + add] = '\0';
        *buf = nb;
        return 0;
}

/* error.message, then each Message of an ExtendedInfo array (in `error`
 * and, as some BMCs put it, at the top level). */
static int error_collect(const json_t *j, RedfishError *e) {
        const json_t *err = json_object_get(j, "error");
        const json_t *lists[] = { json_object_get(err, "@Message.ExtendedInfo"),
                                  json_object_get(j, "@Message.ExtendedInfo") };
        int r;

        const char *code = json_string_value(json_object_get(err, "code"));
        bool details = false;

        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                details = details || json_string_value(json_object_get(json_array_get(lists[l], 0), "Message"));
        /* Base.x.GeneralError only says "see ExtendedInfo": skip it then */
        if (!(details && code && strlen(code) >= 12 && strcmp(code + strlen(code) - 12, "GeneralError") == 0)) {
                r = message_append(&e->message, json_string_value(json_object_get(err, "message")));
                if (r < 0)
                        return r;
        }
        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                const json_t *info;
                size_t i;

                if (!json_is_array(lists[l]))
                        continue;
                json_array_foreach(lists[l], i, info) {
                        const char *id = json_string_value(json_object_get(info, "MessageId"));
                        if (i >= REDFISH_MESSAGES_MAX)
                                break;
                        r = message_append(&e->message, json_string_value(json_object_get(info, "Message")));
                        if (r < 0)
                                return r;
                        if (id && !redfish_strings_contain(&e->message_ids, id)) {
                                _cleanup_free_ char *clean = redfish_printable(id, REDFISH_TEXT_MAX);
                                if (!clean)
                                        return -ENOMEM;
                                r = strings_add(&e->message_ids, clean, REDFISH_MESSAGES_MAX * 2);
                                if (r == -ENOMEM)
                                        return r;
                        }
                }
        }
        return 0;
}

int redfish_error_parse(const void *body, size_t size, RedfishError *ret) {
        RedfishError e = {};
        json_t *j = NULL;
        int r;

        if (size > 0 && size <= REDFISH_REPLY_MAX)
                j = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(j)) {
                r = error_collect(j, &e);
                if (r < 0) {
                        json_decref(j);
                        redfish_error_done(&e);
                        return r;
                }
        }
        json_decref(j);
        *ret = e;
        return 0;
}

void redfish_error_done(RedfishError *e) {
        free(e->message);
        redfish_strings_done(&e->message_ids);
        *e = (RedfishError) {};
}

void redfish_task_done(RedfishTask *t) {
        free(t->state);
        free(t->status);
        free(t->message);
        *t = (RedfishTask) {};
}

int redfish_task_parse(const json_t *j, RedfishTask *ret, char **reterr) {
        RedfishTask t = {};
        const json_t *msgs, *m;
        size_t i;
        int r;

        if (!json_is_object(j))
                return error_detail_set(reterr, -EBADMSG, "task: not an object");
        if ((r = opt_exact(j, "TaskState", REDFISH_TEXT_MAX, &t.state, reterr)) < 0 ||
            (r = opt_exact(j, "TaskStatus", REDFISH_TEXT_MAX, &t.status, reterr)) < 0)
                goto fail;
        msgs = json_object_get(j, "Messages");
        if (msgs && !json_is_array(msgs) && !json_is_null(msgs)) {
                r = error_detail_set(reterr, -EBADMSG, "Messages: not an array");
                goto fail;
        }
        json_array_foreach(msgs, i, m) {
                if (i >= REDFISH_MESSAGES_MAX)
                        break;
                r = message_append(&t.message, json_string_value(json_object_get(m, "Message")));
                if (r < 0)
                        goto fail;
        }
        *ret = t;
        return 0;
fail:
        redfish_task_done(&t);
        return r;
}

int64_t redfish_retry_after_parse(const char *value, int64_t now) {
        struct tm tm = {};
        const char *end;
        time_t t;

        if (!value || !*value)
                return -EINVAL;
        if (strspn(value, "0123456789") == strlen(value)) {
                long long sec = 0;
                for (const char *c = value; *c; c++) {
                        sec = sec * 10 + (*c - '0');
                        if (sec > REDFISH_RETRY_AFTER_MAX_SEC)
                                sec = REDFISH_RETRY_AFTER_MAX_SEC;
                }
                return (int64_t) sec * 1000000;
        }
        /* IMF-fixdate (RFC 9110 §5.6.7); the C locale's day and month names */
        end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        if ((int64_t) t <= now)
                return 0;
        if ((int64_t) t - now > REDFISH_RETRY_AFTER_MAX_SEC)
                return (int64_t) REDFISH_RETRY_AFTER_MAX_SEC * 1000000;
        return ((int64_t) t - now) * 1000000;
}
