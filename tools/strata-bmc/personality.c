/* The personality table: one const row per vendor behaviour strata-bmc
 * imitates, so a Redfish client can be tested against each quirk the
 * mature clients work around. Every row names its source; section numbers
 * refer to docs/redfish.md (Strata's digest of sushy, Ironic, bmclib,
 * gofish and the DMTF schemas). Strings that vendors really serve are
 * copied where the digest names them; everything else is illustrative. */
#include <string.h>

#include "bmc.h"

#define R(x) (1u << BMC_RESET_##x)
#define T(x) (1u << BMC_TARGET_##x)

/* The DMTF mockup (public-rackmount1) advertises these nine. */
#define RESETS_ALL                                                                                   \
        (R(ON) | R(FORCE_OFF) | R(GRACEFUL_SHUTDOWN) | R(GRACEFUL_RESTART) | R(FORCE_RESTART) | R(NMI) | \
         R(FORCE_ON) | R(PUSH_POWER_BUTTON) | R(POWER_CYCLE))
#define TARGETS_GENERIC                                                                              \
        (T(NONE) | T(PXE) | T(CD) | T(USB) | T(HDD) | T(BIOS_SETUP) | T(UEFI_SHELL) | T(UEFI_HTTP))

const Personality personality_table[] = {
        /* A standard service: sessions with 201, ETags honoured when sent
         * (stale If-Match: 412) but not required, VirtualMedia under the
         * Manager with synchronous actions, every reset type. */
        {
                .name = "generic",
                .vendor = "Strata",
                .product = "strata-bmc",
                .manufacturer = "Strata",
                .model = "Virtual Machine",
                .manager_model = "strata-bmc",
                .reset_types = RESETS_ALL,
                .boot_targets = TARGETS_GENERIC,
                .default_mode = BMC_MODE_UEFI,
                .slots = { { "Cd", "CD,DVD", false } },
        },
        /* sushy-tools: basic auth only, no SessionService (redfish.md §3,
         * §11), so a client's session-then-basic fallback gets exercised. */
        {
                .name = "generic-nosessions",
                .vendor = "Strata",
                .product = "strata-bmc",
                .manufacturer = "Strata",
                .model = "Virtual Machine",
                .manager_model = "strata-bmc",
                .reset_types = RESETS_ALL,
                .boot_targets = TARGETS_GENERIC,
                .default_mode = BMC_MODE_UEFI,
                .flags = PERS_NO_SESSIONS,
                .slots = { { "Cd", "CD,DVD", false } },
        },
        /* Dell iDRAC: Boot read-only on the system, written through the
         * @Redfish.Settings object and applied at the next reset (iDRAC10,
         * gofish PR #511, §6); VirtualMedia under the System (bmclib
         * virtual_media.go, §7, §9); InsertMedia as a task (some iDRAC
         * operations are always tasks, §8). No ForceOn, as iDRAC9 lists. */
        {
                .name = "dell",
                .vendor = "Dell",
                .product = "Integrated Dell Remote Access Controller",
                .manufacturer = "Dell Inc.",
                .model = "PowerEdge R650",
                .manager_model = "16G Monolithic",
                .reset_types = RESETS_ALL & ~R(FORCE_ON),
                .boot_targets = T(NONE) | T(PXE) | T(CD) | T(HDD) | T(BIOS_SETUP) | T(UEFI_HTTP) | T(USB),
                .default_mode = BMC_MODE_UEFI,
                .flags = PERS_BOOT_SETTINGS | PERS_MEDIA_ON_SYSTEM | PERS_MEDIA_TASK,
                .slots = { { "1", "CD,DVD", false }, { "2", "USBStick", false } },
        },
        /* HPE iLO: no PowerCycle (bmclib falls back to off, poll, on,
         * §5); a PATCH naming BootSourceOverrideMode is refused (ansible
         * community.general #3509; DL160 Gen10 rejects the full Boot
         * object, bmclib boot_device.go, §6, §9); EjectMedia needs an empty
         * JSON body {} (sushy virtual_media.py, §9); slot 1 is
         * floppy/USB and slot 2 the CD, so a client must pick by MediaTypes
         * (§7). */
        {
                .name = "hpe",
                .vendor = "HPE",
                .product = "ProLiant DL360 Gen10",
                .manufacturer = "HPE",
                .model = "ProLiant DL360 Gen10",
                .manager_model = "iLO 5",
                .reset_types = RESETS_ALL & ~(R(POWER_CYCLE) | R(FORCE_ON)),
                .boot_targets = TARGETS_GENERIC,
                .default_mode = BMC_MODE_UEFI,
                .flags = PERS_BOOT_MODE_READONLY | PERS_EJECT_NEEDS_BODY,
                .slots = { { "1", "Floppy,USBStick", false }, { "2", "CD,DVD", false } },
        },
        /* Supermicro X11/X12: virtual media boots as UsbCd, Cd is not
         * offered (sushy system.py, §9); InsertMedia refuses Inserted and
         * WriteProtected (sushy virtual_media.py; bmclib's 3 payload
         * variants, §9); the persistent flag must always be sent and a
         * Boot PATCH without the mode resets it to the default (Ironic
         * management.py stories 2008547/2008712; Redfishtool PR #106, §6). */
        {
                .name = "supermicro",
                .vendor = "Supermicro",
                .product = "X12DPi-NT6",
                .manufacturer = "Supermicro",
                .model = "Super Server",
                .manager_model = "ATEN BMC",
                .reset_types = RESETS_ALL,
                .boot_targets = T(NONE) | T(PXE) | T(USB_CD) | T(HDD) | T(BIOS_SETUP) | T(UEFI_SHELL) | T(UEFI_HTTP),
                .default_mode = BMC_MODE_LEGACY,
                .flags = PERS_BOOT_ENABLED_REQUIRED | PERS_BOOT_MODE_REVERTS | PERS_MEDIA_STRICT_FIELDS,
                .slots = { { "CD1", "CD", false } },
        },
        /* Lenovo XCC: PATCH without If-Match gets 428 (ansible PR #56150,
         * §6); Continuous is not allowed (bmclib lenovo/boot.go, §6, §9);
         * no InsertMedia/EjectMedia, so the slot is PATCHed, and that PATCH
         * must carry Inserted (bmclib lenovo/virtual_media.go; sushy, SD530,
         * §7, §9). */
        {
                .name = "lenovo",
                .vendor = "Lenovo",
                .product = "XClarity Controller",
                .manufacturer = "Lenovo",
                .model = "ThinkSystem SR650",
                .manager_model = "XCC",
                .reset_types = RESETS_ALL,
                .boot_targets = TARGETS_GENERIC,
                .default_mode = BMC_MODE_UEFI,
                .flags = PERS_ETAG_REQUIRED | PERS_NO_CONTINUOUS | PERS_MEDIA_PATCH_NEEDS_INSERTED,
                .slots = { { "EXT1", "CD,DVD", true } },
        },
        /* OpenBMC (bmcweb): bmclib turns ETag matching off for OpenBMC
         * (openbmc.go WithEtagMatchDisabled, §6, §9); modelled here as an
         * If-Match other than "*" being refused with 412, which is our
         * reading of why, not documented bmcweb behaviour. Slot_0 lacks
         * InsertMedia and answers 405 (Ironic boot.py, Cisco C845A, §9),
         * Slot_1 has it. No PushPowerButton. */
        {
                .name = "openbmc",
                .vendor = "OpenBMC",
                .product = "OpenBMC bmcweb",
                .manufacturer = "OpenBMC",
                .model = "Romulus",
                .manager_model = "OpenBmc",
                .reset_types = RESETS_ALL & ~R(PUSH_POWER_BUTTON),
                .boot_targets = T(NONE) | T(PXE) | T(CD) | T(USB) | T(HDD) | T(BIOS_SETUP),
                .default_mode = BMC_MODE_UEFI,
                .flags = PERS_IF_MATCH_REFUSED,
                .slots = { { "Slot_0", "CD,USBStick", true }, { "Slot_1", "CD,USBStick", false } },
        },
        /* AMI MegaRAC / ASRock Rack: PATCH without If-Match is refused
         * with 428 and Ami.1.0.PreconditionHeaderMissing (gofish #171,
         * Lenovo SR655, §6, §9); ETags served weak W/"n" and that weak form
         * then fails If-Match with 412 (community.general PR #6434,
         * Gigabyte; sushy strips the prefix, §6); the full Boot triple
         * (mode, enabled, target) every time (Ironic
         * VENDORS_REQUIRING_FULL_BOOT_REQUEST, §6, §9). */
        {
                .name = "ami",
                .vendor = "AMI",
                .product = "AMI Redfish Server",
                .manufacturer = "ASRockRack",
                .model = "ROMED8-2T",
                .manager_model = "MegaRAC SP-X",
                .reset_types = RESETS_ALL,
                .boot_targets = TARGETS_GENERIC,
                .default_mode = BMC_MODE_UEFI,
                .precondition_message_id = "Ami.1.0.PreconditionHeaderMissing",
                .flags = PERS_ETAG_REQUIRED | PERS_ETAG_WEAK | PERS_BOOT_FULL_TRIPLE,
                .slots = { { "CD1", "CD,DVD", false } },
        },
};

const size_t personality_table_size = sizeof(personality_table) / sizeof(personality_table[0]);

const Personality *personality_find(const char *name) {
        for (size_t i = 0; name && i < personality_table_size; i++)
                if (strcmp(personality_table[i].name, name) == 0)
                        return &personality_table[i];
        return NULL;
}

bool personality_allows_reset(const Personality *p, BmcResetType t) {
        return t >= 0 && t < _BMC_RESET_MAX && (p->reset_types & (1u << t));
}

bool personality_allows_target(const Personality *p, BmcBootTarget t) {
        return t >= 0 && t < _BMC_TARGET_MAX && (p->boot_targets & (1u << t));
}

size_t personality_n_slots(const Personality *p) {
        size_t n = 0;
        while (n < BMC_MEDIA_SLOTS_MAX && p->slots[n].id)
                n++;
        return n;
}

int personality_slot_find(const Personality *p, const char *id) {
        for (size_t i = 0; i < personality_n_slots(p); i++)
                if (strcmp(p->slots[i].id, id) == 0)
                        return (int) i;
        return -ENOENT;
}
