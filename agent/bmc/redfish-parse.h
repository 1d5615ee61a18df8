/* Pure parsing of what a BMC sends: JSON bodies (service root, collections,
 * ComputerSystem, ActionInfo, EthernetInterface, Manager, VirtualMedia,
 * Task, error objects) and header values (ETag, Retry-After, Location
 * paths). No I/O, no logging, no shared state: tests/fuzz/fuzz-redfish-reply.c
 * calls these directly. Every string kept is a bounded, printable copy;
 * every link kept has passed redfish_path_check(). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest reply body the client accepts (also the parser's cap). */
#define REDFISH_REPLY_MAX (1024u * 1024u)
/* Longest link (@odata.id, Location, action target) we follow. */
#define REDFISH_PATH_MAX 512u

typedef struct RedfishStrings {
        char **v;
        size_t n;
} RedfishStrings;

typedef struct RedfishRoot {
        char *redfish_version;
        char *uuid;
        char *vendor;  /* ServiceRoot.Vendor (v1_5), or NULL */
        char *product; /* ServiceRoot.Product, or NULL */
        char *oem;     /* the first key of ServiceRoot.Oem ("Dell", "Hpe", ...), or NULL */
        char *systems; /* links, NULL when absent */
        char *managers;
        char *sessions; /* Links.Sessions: where a session is POSTed */
        bool has_session_service;
} RedfishRoot;

typedef struct RedfishSystem {
        char *id, *uuid, *serial, *manufacturer, *model, *power_state;
        char *odata_etag; /* @odata.etag, when the body carries one */
        /* Boot: a field the BMC does not report stays NULL */
        char *boot_enabled, *boot_target, *boot_mode, *http_boot_uri;
        bool has_boot_mode, has_http_boot_uri;
        RedfishStrings boot_targets; /* BootSourceOverrideTarget@Redfish.AllowableValues */
        bool boot_targets_known;
        /* #ComputerSystem.Reset */
        char *reset_target;
        RedfishStrings reset_types; /* ResetType@Redfish.AllowableValues */
        bool reset_types_known;
        char *reset_action_info; /* @Redfish.ActionInfo link */
        /* links */
        char *ethernet_interfaces, *virtual_media, *settings_object, *managed_by;
} RedfishSystem;

typedef struct RedfishMedia {
        char *id, *image;
        bool inserted;
        RedfishStrings media_types;
        char *insert_target, *eject_target; /* NULL: no action (PATCH the slot) */
        char *odata_etag;
} RedfishMedia;

typedef struct RedfishTask {
        char *state;   /* TaskState */
        char *status;  /* TaskStatus (OK, Warning, Critical) or NULL */
        char *message; /* Messages[].Message joined, or NULL */
} RedfishTask;

/* A decoded Redfish error body: error.message and every
 * @Message.ExtendedInfo[].Message joined with "; ", and the MessageIds. */
typedef struct RedfishError {
        char *message; /* NULL when the body held no message */
        RedfishStrings message_ids;
} RedfishError;

/* Parses `size` bytes as a JSON object (at most REDFISH_REPLY_MAX bytes;
 * -E2BIG beyond). -EBADMSG with *reterr naming line and column for bad
 * JSON, truncated JSON or a non-object. */
int redfish_json_parse(const void *body, size_t size, json_t **ret, char **reterr);

/* Is `path` a link we may follow: "/redfish/..." of at most
 * REDFISH_PATH_MAX printable characters from RFC 3986's path and query
 * set, no "..", no "//", no fragment? */
bool redfish_path_check(const char *path);

/* The parsers: 0 and *ret filled (release with the matching _done), or
 * -EBADMSG / -E2BIG / -ENOMEM with *reterr naming the member. Absent
 * optional members are NULL, never an error. */
int redfish_root_parse(const json_t *j, RedfishRoot *ret, char **reterr);
int redfish_members_parse(const json_t *j, RedfishStrings *ret, char **reterr);
int redfish_system_parse(const json_t *j, RedfishSystem *ret, char **reterr);
/* The AllowableValues of parameter `name` in an ActionInfo resource. */
int redfish_action_info_parse(const json_t *j, const char *name, RedfishStrings *ret, char **reterr);
/* MACAddress and PermanentMACAddress of an EthernetInterface, normalised
 * to lower-case aa:bb:cc:dd:ee:ff; missing ones are not added. */
int redfish_nic_parse(const json_t *j, RedfishStrings *ret, char **reterr);
/* The VirtualMedia link of a Manager (NULL when it has none). */
int redfish_manager_parse(const json_t *j, char **ret_virtual_media, char **reterr);
int redfish_media_parse(const json_t *j, RedfishMedia *ret, char **reterr);
int redfish_task_parse(const json_t *j, RedfishTask *ret, char **reterr);

/* Decodes any body (JSON or not) as a Redfish error; never fails except
 * -ENOMEM. A body that is not a Redfish error yields message NULL. */
int redfish_error_parse(const void *body, size_t size, RedfishError *ret);

/* Retry-After: delta-seconds or an HTTP-date (relative to `now`, seconds
 * since the epoch). Returns microseconds, or -EINVAL. */
int64_t redfish_retry_after_parse(const char *value, int64_t now);

/* "aa:bb:cc:dd:ee:ff" (also '-' separated, any case) into lower-case
 * colon form; -EINVAL otherwise. */
int redfish_mac_normalize(const char *s, char ret[static 18]);

/* A printable, length-capped copy of a wire string for messages: bytes
 * outside 0x20..0x7e become '?', and "..." marks a cut. NULL on OOM. */
char *redfish_printable(const char *s, size_t max);

/* Is the ETag weak (W/"...")? */
bool redfish_etag_is_weak(const char *etag);

bool redfish_strings_contain(const RedfishStrings *s, const char *value);
void redfish_strings_done(RedfishStrings *s);
void redfish_root_done(RedfishRoot *r);
void redfish_system_done(RedfishSystem *s);
void redfish_media_done(RedfishMedia *m);
void redfish_task_done(RedfishTask *t);
void redfish_error_done(RedfishError *e);
