/* Request bodies into typed values: ComputerSystem.Reset, the system and
 * virtual-media PATCHes, InsertMedia/EjectMedia, session login and fault
 * settings. Each refusal is the Redfish Base message a DMTF service would
 * give (MalformedJSON, PropertyUnknown, ActionParameterMissing, ...), so
 * a client can be tested on its error handling. Bodies are capped by the
 * HTTP server (BMC_BODY_MAX); strings here by their own limits. Pure:
 * fuzzed by fuzz-bmc-request. */
#include <stdio.h>
#include <string.h>

#include "bmc.h"
#include "core/cleanup.h"

#define ACTION_RESET "ComputerSystem.Reset"
#define ACTION_INSERT "VirtualMedia.InsertMedia"
#define ACTION_EJECT "VirtualMedia.EjectMedia"

static void json_autop(json_t **j) {
        json_decref(*j);
}
#define _cleanup_json_ _cleanup_(json_autop)

/* The value as compact JSON, cut to a message argument. */
static void value_text(const json_t *v, char out[BMC_MESSAGE_ARG_MAX]) {
        _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(out, BMC_MESSAGE_ARG_MAX, "%s", s ? s : "?");
}

static bool annotation(const char *key) {
        /* "@odata.etag" and friends: clients echo them back; ignored */
        return key[0] == '@';
}

static int load_object(const char *body, size_t size, json_t **ret, BmcError *e) {
        json_error_t jerr;
        json_t *j;

        if (!body || size == 0)
                return message_set(e, 0, BMC_MSG_MALFORMED_JSON, NULL, NULL, NULL);
        j = json_loadb(body, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return message_set(e, 0, BMC_MSG_MALFORMED_JSON, NULL, NULL, NULL);
        }
        *ret = j;
        return 0;
}

static bool printable(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static bool in_list(const char *s, const char *const *list) {
        for (size_t i = 0; list[i]; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

int emu_reset_parse(const char *body, size_t size, BmcResetType *ret, BmcError *reterr) {
        _cleanup_json_ json_t *j = NULL;
        char text[BMC_MESSAGE_ARG_MAX];
        const char *key;
        json_t *v, *type = NULL;
        int r;

        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        json_object_foreach(j, key, v) {
                if (strcmp(key, "ResetType") == 0)
                        type = v;
                else if (!annotation(key))
                        return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_UNKNOWN, ACTION_RESET, key, NULL);
        }
        if (!type)
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_MISSING, ACTION_RESET, "ResetType", NULL);
        if (!json_is_string(type)) {
                value_text(type, text);
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, text, "ResetType",
                                   ACTION_RESET);
        }
        BmcResetType t = emu_reset_from_string(json_string_value(type));
        if (t < 0)
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST, json_string_value(type),
                                   "ResetType", ACTION_RESET);
        *ret = t;
        return 0;
}

/* A string-enum property; -EINVAL with the message set. */
static int enum_property(const json_t *v, const char *name, int (*from)(const char *), int *ret, BmcError *e) {
        char text[BMC_MESSAGE_ARG_MAX];
        if (!json_is_string(v)) {
                value_text(v, text);
                return message_set(e, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, name, NULL);
        }
        int x = from(json_string_value(v));
        if (x < 0)
                return message_set(e, 0, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST, json_string_value(v), name, NULL);
        *ret = x;
        return 0;
}

static int enabled_from(const char *s) { return emu_enabled_from_string(s); }
static int target_from(const char *s) { return emu_target_from_string(s); }
static int mode_from(const char *s) { return emu_mode_from_string(s); }

static int boot_parse(const json_t *boot, BmcBootPatch *b, BmcError *e) {
        char text[BMC_MESSAGE_ARG_MAX];
        const char *key;
        json_t *v;
        int x = 0, r;

        if (!json_is_object(boot)) {
                value_text(boot, text);
                return message_set(e, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, "Boot", NULL);
        }
        json_object_foreach((json_t *) boot, key, v) {
                if (strcmp(key, "BootSourceOverrideEnabled") == 0) {
                        r = enum_property(v, key, enabled_from, &x, e);
                        b->has_enabled = true;
                        b->enabled = x;
                } else if (strcmp(key, "BootSourceOverrideTarget") == 0) {
                        r = enum_property(v, key, target_from, &x, e);
                        b->has_target = true;
                        b->target = x;
                } else if (strcmp(key, "BootSourceOverrideMode") == 0) {
                        r = enum_property(v, key, mode_from, &x, e);
                        b->has_mode = true;
                        b->mode = x;
                } else if (strcmp(key, "HttpBootUri") == 0) {
                        b->has_uri = true;
                        r = 0;
                        if (json_is_null(v))
                                b->uri_null = true;
                        else if (!json_is_string(v)) {
                                value_text(v, text);
                                r = message_set(e, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, key, NULL);
                        } else if (json_string_length(v) >= BMC_URI_MAX || !printable(json_string_value(v)) ||
                                   strlen(json_string_value(v)) != json_string_length(v)) {
                                value_text(v, text);
                                r = message_set(e, 0, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR, text, key, NULL);
                        } else
                                snprintf(b->uri, sizeof(b->uri), "%s", json_string_value(v));
                } else if (strstr(key, "@Redfish.") || strcmp(key, "BootOrder") == 0 ||
                           strcmp(key, "UefiTargetBootSourceOverride") == 0 || strcmp(key, "BootNext") == 0)
                        r = message_set(e, 0, BMC_MSG_PROPERTY_NOT_WRITABLE, key, NULL, NULL);
                else
                        r = message_set(e, 0, BMC_MSG_PROPERTY_UNKNOWN, key, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int emu_system_patch_parse(const char *body, size_t size, BmcBootPatch *ret, BmcError *reterr) {
        static const char *const read_only[] = { "Id", "Name", "UUID", "SerialNumber", "PowerState",
                                                 "Manufacturer", "Model", "Status", "Actions", "SystemType",
                                                 "EthernetInterfaces", "Links", "VirtualMedia", "BootProgress",
                                                 NULL };
        _cleanup_json_ json_t *j = NULL;
        BmcBootPatch b = { 0 };
        const char *key;
        json_t *v;
        int r;

        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        if (json_object_size(j) == 0)
                return message_set(reterr, 0, BMC_MSG_EMPTY_JSON, NULL, NULL, NULL);
        json_object_foreach(j, key, v) {
                if (strcmp(key, "Boot") == 0)
                        r = boot_parse(v, &b, reterr);
                else if (annotation(key))
                        r = 0;
                else if (in_list(key, read_only))
                        r = message_set(reterr, 0, BMC_MSG_PROPERTY_NOT_WRITABLE, key, NULL, NULL);
                else
                        r = message_set(reterr, 0, BMC_MSG_PROPERTY_UNKNOWN, key, NULL, NULL);
                if (r < 0)
                        return r;
        }
        *ret = b;
        return 0;
}

/* A URI for a virtual-media image: scheme://rest, printable, bounded. */
static bool image_valid(const json_t *v) {
        const char *s = json_string_value(v);
        const char *colon;
        if (!s || json_string_length(v) == 0 || json_string_length(v) >= BMC_IMAGE_MAX ||
            strlen(s) != json_string_length(v) || !printable(s))
                return false;
        colon = strstr(s, "://");
        if (!colon || colon == s)
                return false;
        for (const char *p = s; p < colon; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '+' || *p == '-' || *p == '.'))
                        return false;
        return true;
}

static int bool_parameter(const json_t *v, const char *name, const char *action, bool *ret, BmcError *e) {
        char text[BMC_MESSAGE_ARG_MAX];
        if (!json_is_boolean(v)) {
                value_text(v, text);
                return message_set(e, 0, BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, text, name, action);
        }
        *ret = json_is_true(v);
        return 0;
}

static int string_parameter(const json_t *v, const char *name, const char *action, const char *const *allowed,
                            BmcError *e) {
        char text[BMC_MESSAGE_ARG_MAX];
        if (!json_is_string(v)) {
                value_text(v, text);
                return message_set(e, 0, BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, text, name, action);
        }
        if (allowed && !in_list(json_string_value(v), allowed))
                return message_set(e, 0, BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST, json_string_value(v), name,
                                   action);
        return 0;
}

int emu_insert_media_parse(const char *body, size_t size, BmcInsertMedia *ret, BmcError *reterr) {
        static const char *const protocols[] = { "CIFS", "FTP", "SFTP", "HTTP", "HTTPS", "NFS", "SCP", "TFTP",
                                                 "OEM", NULL };
        static const char *const methods[] = { "Stream", "Upload", NULL };
        _cleanup_json_ json_t *j = NULL;
        BmcInsertMedia m = { 0 };
        char text[BMC_MESSAGE_ARG_MAX];
        const char *key;
        json_t *v, *image = NULL;
        int r;

        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        json_object_foreach(j, key, v) {
                r = 0;
                if (strcmp(key, "Image") == 0)
                        image = v;
                else if (strcmp(key, "Inserted") == 0) {
                        m.has_inserted = true;
                        r = bool_parameter(v, key, ACTION_INSERT, &m.inserted, reterr);
                } else if (strcmp(key, "WriteProtected") == 0) {
                        m.has_write_protected = true;
                        r = bool_parameter(v, key, ACTION_INSERT, &m.write_protected, reterr);
                } else if (strcmp(key, "TransferProtocolType") == 0) {
                        r = string_parameter(v, key, ACTION_INSERT, protocols, reterr);
                        if (r >= 0)
                                snprintf(m.transfer_protocol, sizeof(m.transfer_protocol), "%s",
                                         json_string_value(v));
                } else if (strcmp(key, "TransferMethod") == 0)
                        r = string_parameter(v, key, ACTION_INSERT, methods, reterr);
                else if (strcmp(key, "UserName") == 0 || strcmp(key, "Password") == 0) {
                        m.has_credentials = true;
                        r = string_parameter(v, key, ACTION_INSERT, NULL, reterr);
                } else if (!annotation(key))
                        r = message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_UNKNOWN, ACTION_INSERT, key, NULL);
                if (r < 0)
                        return r;
        }
        if (!image)
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_MISSING, ACTION_INSERT, "Image", NULL);
        if (!json_is_string(image)) {
                value_text(image, text);
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, text, "Image",
                                   ACTION_INSERT);
        }
        if (!image_valid(image)) {
                value_text(image, text);
                return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR, text, "Image",
                                   ACTION_INSERT);
        }
        snprintf(m.image, sizeof(m.image), "%s", json_string_value(image));
        *ret = m;
        return 0;
}

int emu_eject_media_parse(const char *body, size_t size, bool *ret_has_body, BmcError *reterr) {
        _cleanup_json_ json_t *j = NULL;
        const char *key;
        json_t *v;
        int r;

        if (!body || size == 0) {
                *ret_has_body = false;
                return 0;
        }
        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        json_object_foreach(j, key, v)
                if (!annotation(key))
                        return message_set(reterr, 0, BMC_MSG_ACTION_PARAMETER_UNKNOWN, ACTION_EJECT, key, NULL);
        *ret_has_body = true;
        return 0;
}

int emu_media_patch_parse(const char *body, size_t size, BmcMediaPatch *ret, BmcError *reterr) {
        static const char *const read_only[] = { "Id", "Name", "MediaTypes", "ConnectedVia", "Actions", NULL };
        _cleanup_json_ json_t *j = NULL;
        BmcMediaPatch m = { 0 };
        char text[BMC_MESSAGE_ARG_MAX];
        const char *key;
        json_t *v;
        int r;

        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        if (json_object_size(j) == 0)
                return message_set(reterr, 0, BMC_MSG_EMPTY_JSON, NULL, NULL, NULL);
        json_object_foreach(j, key, v) {
                r = 0;
                if (strcmp(key, "Image") == 0) {
                        m.has_image = true;
                        if (json_is_null(v))
                                m.image_null = true;
                        else if (!json_is_string(v)) {
                                value_text(v, text);
                                r = message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, key, NULL);
                        } else if (!image_valid(v)) {
                                value_text(v, text);
                                r = message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR, text, key, NULL);
                        } else
                                snprintf(m.image, sizeof(m.image), "%s", json_string_value(v));
                } else if (strcmp(key, "Inserted") == 0 || strcmp(key, "WriteProtected") == 0) {
                        bool *dst = key[0] == 'I' ? &m.inserted : &m.write_protected;
                        *(key[0] == 'I' ? &m.has_inserted : &m.has_write_protected) = true;
                        if (!json_is_boolean(v)) {
                                value_text(v, text);
                                r = message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, key, NULL);
                        } else
                                *dst = json_is_true(v);
                } else if (annotation(key))
                        r = 0;
                else if (in_list(key, read_only))
                        r = message_set(reterr, 0, BMC_MSG_PROPERTY_NOT_WRITABLE, key, NULL, NULL);
                else
                        r = message_set(reterr, 0, BMC_MSG_PROPERTY_UNKNOWN, key, NULL, NULL);
                if (r < 0)
                        return r;
        }
        *ret = m;
        return 0;
}

int emu_login_parse(const char *body, size_t size, BmcLogin *ret, BmcError *reterr) {
        _cleanup_json_ json_t *j = NULL;
        json_t *user, *password;
        char text[BMC_MESSAGE_ARG_MAX];
        int r;

        r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        user = json_object_get(j, "UserName");
        password = json_object_get(j, "Password");
        if (!user)
                return message_set(reterr, 0, BMC_MSG_PROPERTY_MISSING, "UserName", NULL, NULL);
        if (!password)
                return message_set(reterr, 0, BMC_MSG_PROPERTY_MISSING, "Password", NULL, NULL);
        if (!json_is_string(user) || json_string_length(user) >= BMC_USERNAME_MAX ||
            strlen(json_string_value(user)) != json_string_length(user)) {
                value_text(user, text);
                return message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, text, "UserName", NULL);
        }
        if (!json_is_string(password) || json_string_length(password) >= BMC_PASSWORD_MAX)
                /* never echo a password */
                return message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR, "(hidden)", "Password", NULL);

        Secret *s = secret_new_copy(json_string_value(password), json_string_length(password) + 1);
        if (!s)
                return -ENOMEM;
        s->size = json_string_length(password); /* the NUL stays, outside size */
        snprintf(ret->username, sizeof(ret->username), "%s", json_string_value(user));
        ret->password = s;
        return 0;
}

int emu_faults_parse(const json_t *j, BmcFaults *ret, BmcError *reterr) {
        BmcFaults f = { 0 };
        char text[BMC_MESSAGE_ARG_MAX];
        const char *key;
        json_t *v;

        if (!json_is_object(j))
                return message_set(reterr, 0, BMC_MSG_MALFORMED_JSON, NULL, NULL, NULL);
        json_object_foreach((json_t *) j, key, v) {
                if (strcmp(key, "fail_next") == 0) {
                        size_t i;
                        json_t *s;
                        if (!json_is_array(v) || json_array_size(v) > BMC_FAULTS_MAX) {
                                value_text(v, text);
                                return message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR, text, key, NULL);
                        }
                        json_array_foreach(v, i, s) {
                                if (!json_is_integer(s) || json_integer_value(s) < 400 ||
                                    json_integer_value(s) > 599) {
                                        value_text(s, text);
                                        return message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR, text,
                                                           key, NULL);
                                }
                                f.fail_next[f.n_fail++] = (unsigned) json_integer_value(s);
                        }
                } else if (strcmp(key, "hang_ms") == 0 || strcmp(key, "hang_next") == 0) {
                        json_int_t max = strcmp(key, "hang_ms") == 0 ? BMC_HANG_MS_MAX : 1000000;
                        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
                                value_text(v, text);
                                return message_set(reterr, 0, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR, text, key, NULL);
                        }
                        if (strcmp(key, "hang_ms") == 0)
                                f.hang_ms = (unsigned) json_integer_value(v);
                        else {
                                f.hang_next = (unsigned) json_integer_value(v);
                                f.hang_counted = true;
                        }
                } else
                        return message_set(reterr, 0, BMC_MSG_PROPERTY_UNKNOWN, key, NULL, NULL);
        }
        *ret = f;
        return 0;
}

int emu_faults_parse_text(const char *body, size_t size, BmcFaults *ret, BmcError *reterr) {
        _cleanup_json_ json_t *j = NULL;
        int r = load_object(body, size, &j, reterr);
        if (r < 0)
                return r;
        return emu_faults_parse(j, ret, reterr);
}
