/* Vendor quirks: one const table (quirks.c), one row per BMC family, picked
 * from what the service root and the system say about themselves. The
 * generic fallbacks every BMC gets (ETag re-read on 412, minimal Boot PATCH
 * on 400, PATCHing a slot without InsertMedia, 406 without
 * Accept-Encoding, @Redfish.Settings) live in the client and the ops; a
 * row only adds what must be decided before the first attempt. */
#pragma once

#include <stdbool.h>

#include "bmc/redfish-parse.h"

typedef enum RedfishQuirkFlag {
        /* look for VirtualMedia under the System before the Manager */
        REDFISH_QUIRK_VMEDIA_SYSTEM_FIRST = 1u << 0,
        /* eject every inserted slot before inserting */
        REDFISH_QUIRK_VMEDIA_EJECT_ALL_FIRST = 1u << 1,
        /* InsertMedia with Image only: Inserted/WriteProtected refused */
        REDFISH_QUIRK_VMEDIA_INSERT_IMAGE_ONLY = 1u << 2,
        /* ResetType On refused with 409 right after a power-off: wait, retry */
        REDFISH_QUIRK_POWER_ON_CONFLICT_RETRY = 1u << 3,
        /* never write BootSourceOverrideMode */
        REDFISH_QUIRK_BOOT_MODE_READONLY = 1u << 4,
        /* always send BootSourceOverrideMode, even when it is already right */
        REDFISH_QUIRK_BOOT_ALWAYS_MODE = 1u << 5,
        /* never retry a refused Boot PATCH with target + enabled only */
        REDFISH_QUIRK_BOOT_NO_MINIMAL_RETRY = 1u << 6,
        /* a PATCH without If-Match is refused (428): send the ETag, else "*" */
        REDFISH_QUIRK_IF_MATCH_REQUIRED = 1u << 7,
        /* never send If-Match */
        REDFISH_QUIRK_NO_IF_MATCH = 1u << 8,
        /* send a weak ETag without its W/ prefix */
        REDFISH_QUIRK_ETAG_STRIP_WEAK = 1u << 9,
} RedfishQuirkFlag;

typedef struct RedfishQuirks {
        const char *name;              /* "dell-idrac", shown by `strata bmc status` */
        const char *hint;              /* the spec's vendor_hint for this row */
        const char *const *vendors;    /* words in Vendor, Manufacturer or an Oem key */
        const char *const *products;   /* words in Product */
        const char *const *busy_ids;   /* MessageIds meaning "busy, nothing done: retry" */
        unsigned flags;
        const char *source;            /* where the quirks are documented */
} RedfishQuirks;

/* The row for a BMC: the first whose vendor words match `vendor` (service
 * root), `oem` (its first Oem key) or `manufacturer` (the system), or whose
 * product words match `product`; else the row of the spec's `hint`; else the
 * generic row (no flags). Never NULL. Words match case-insensitively on
 * word boundaries ("AMI" does not match "Dynamic"). */
const RedfishQuirks *redfish_quirks_select(const char *vendor, const char *product, const char *oem,
                                           const char *manufacturer, const char *hint);

/* Does one of `ids` (MessageIds, "IDRAC.2.8.SYS518" or bare "SYS518") say
 * the BMC was busy and did nothing, per any row? */
bool redfish_quirks_is_busy(const RedfishStrings *ids);

/* The whole table, for tests that walk it. */
const RedfishQuirks *redfish_quirks_table(unsigned *ret_n);
