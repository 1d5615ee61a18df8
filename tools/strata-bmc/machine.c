/* The per-machine state machine of the memory model: power, the boot
 * override (Once consumed at the next boot), the pending @Redfish.Settings
 * object, virtual media and the event history that tests read to assert
 * "booted from network". Power transitions are one const table (from,
 * reset type) -> (to, action); anything unlisted is refused, which is how
 * a redundant request (On while on) becomes a 409. Planning and committing
 * are separate so a back end (QEMU) can carry out a plan before the model
 * records it. Pure: no I/O, no clock. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bmc.h"

#define ELEMENTS(x) (sizeof(x) / sizeof((x)[0]))

static const char *const power_names[_BMC_POWER_MAX] = {
        [BMC_POWER_OFF] = "Off",
        [BMC_POWER_ON] = "On",
};

static const char *const reset_names[_BMC_RESET_MAX] = {
        [BMC_RESET_ON] = "On",
        [BMC_RESET_FORCE_OFF] = "ForceOff",
        [BMC_RESET_GRACEFUL_SHUTDOWN] = "GracefulShutdown",
        [BMC_RESET_GRACEFUL_RESTART] = "GracefulRestart",
        [BMC_RESET_FORCE_RESTART] = "ForceRestart",
        [BMC_RESET_NMI] = "Nmi",
        [BMC_RESET_FORCE_ON] = "ForceOn",
        [BMC_RESET_PUSH_POWER_BUTTON] = "PushPowerButton",
        [BMC_RESET_POWER_CYCLE] = "PowerCycle",
};

static const char *const enabled_names[_BMC_BOOT_ENABLED_MAX] = {
        [BMC_BOOT_DISABLED] = "Disabled",
        [BMC_BOOT_ONCE] = "Once",
        [BMC_BOOT_CONTINUOUS] = "Continuous",
};

static const char *const target_names[_BMC_TARGET_MAX] = {
        [BMC_TARGET_NONE] = "None",
        [BMC_TARGET_PXE] = "Pxe",
        [BMC_TARGET_CD] = "Cd",
        [BMC_TARGET_USB_CD] = "UsbCd",
        [BMC_TARGET_USB] = "Usb",
        [BMC_TARGET_HDD] = "Hdd",
        [BMC_TARGET_BIOS_SETUP] = "BiosSetup",
        [BMC_TARGET_UEFI_SHELL] = "UefiShell",
        [BMC_TARGET_UEFI_HTTP] = "UefiHttp",
};

static const char *const mode_names[_BMC_MODE_MAX] = {
        [BMC_MODE_UEFI] = "UEFI",
        [BMC_MODE_LEGACY] = "Legacy",
};

static const char *const event_names[_BMC_EVENT_MAX] = {
        [BMC_EVENT_POWER_ON] = "PowerOn",
        [BMC_EVENT_POWER_OFF] = "PowerOff",
        [BMC_EVENT_RESET] = "Reset",
        [BMC_EVENT_BOOT] = "Boot",
        [BMC_EVENT_NMI] = "Nmi",
        [BMC_EVENT_SHUTDOWN_REQUESTED] = "ShutdownRequested",
        [BMC_EVENT_BOOT_OVERRIDE_SET] = "BootOverrideSet",
        [BMC_EVENT_SETTINGS_PENDING] = "SettingsPending",
        [BMC_EVENT_SETTINGS_APPLIED] = "SettingsApplied",
        [BMC_EVENT_MEDIA_INSERTED] = "MediaInserted",
        [BMC_EVENT_MEDIA_EJECTED] = "MediaEjected",
        [BMC_EVENT_FAULT] = "FaultInjected",
};

static int lookup(const char *const *names, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

#define NAME(names, v) ((v) >= 0 && (size_t) (v) < ELEMENTS(names) ? (names)[v] : NULL)

const char *emu_power_to_string(BmcPower p) { return NAME(power_names, p); }
const char *emu_reset_to_string(BmcResetType t) { return NAME(reset_names, t); }
BmcResetType emu_reset_from_string(const char *s) { return lookup(reset_names, ELEMENTS(reset_names), s); }
const char *emu_enabled_to_string(BmcBootEnabled e) { return NAME(enabled_names, e); }
BmcBootEnabled emu_enabled_from_string(const char *s) { return lookup(enabled_names, ELEMENTS(enabled_names), s); }
const char *emu_target_to_string(BmcBootTarget t) { return NAME(target_names, t); }
BmcBootTarget emu_target_from_string(const char *s) { return lookup(target_names, ELEMENTS(target_names), s); }
const char *emu_mode_to_string(BmcBootMode m) { return NAME(mode_names, m); }
BmcBootMode emu_mode_from_string(const char *s) { return lookup(mode_names, ELEMENTS(mode_names), s); }
const char *machine_event_to_string(BmcEventKind k) { return NAME(event_names, k); }

typedef struct Transition {
        BmcPower from;
        BmcResetType type;
        BmcPower to;
        BmcPowerAction action;
} Transition;

/* Redfish Resource.ResetType semantics. PushPowerButton while on is the
 * ACPI power button, i.e. a graceful shutdown request. */
static const Transition transitions[] = {
        { BMC_POWER_OFF, BMC_RESET_ON, BMC_POWER_ON, BMC_ACTION_POWER_ON },
        { BMC_POWER_OFF, BMC_RESET_FORCE_ON, BMC_POWER_ON, BMC_ACTION_POWER_ON },
        { BMC_POWER_OFF, BMC_RESET_PUSH_POWER_BUTTON, BMC_POWER_ON, BMC_ACTION_POWER_ON },
        { BMC_POWER_ON, BMC_RESET_FORCE_OFF, BMC_POWER_OFF, BMC_ACTION_POWER_OFF },
        { BMC_POWER_ON, BMC_RESET_GRACEFUL_SHUTDOWN, BMC_POWER_OFF, BMC_ACTION_SHUTDOWN },
        { BMC_POWER_ON, BMC_RESET_PUSH_POWER_BUTTON, BMC_POWER_OFF, BMC_ACTION_SHUTDOWN },
        { BMC_POWER_ON, BMC_RESET_FORCE_RESTART, BMC_POWER_ON, BMC_ACTION_RESTART },
        { BMC_POWER_ON, BMC_RESET_GRACEFUL_RESTART, BMC_POWER_ON, BMC_ACTION_RESTART },
        { BMC_POWER_ON, BMC_RESET_POWER_CYCLE, BMC_POWER_ON, BMC_ACTION_CYCLE },
        { BMC_POWER_ON, BMC_RESET_NMI, BMC_POWER_ON, BMC_ACTION_NMI },
};

void machine_init(MachineState *m, BmcPower power, BmcBootMode mode) {
        memset(m, 0, sizeof(*m));
        m->power = power;
        m->boot = (BmcBoot) { .enabled = BMC_BOOT_DISABLED, .target = BMC_TARGET_NONE, .mode = mode };
        m->pending = m->boot;
        m->last_boot = BMC_TARGET_NONE;
        m->generation = 1;
}

void machine_record(MachineState *m, BmcEventKind kind, const char *fmt, ...) {
        BmcEvent *e = &m->history[m->next_seq % BMC_HISTORY_MAX];
        va_list ap;

        *e = (BmcEvent) { .seq = ++m->next_seq, .kind = kind };
        va_start(ap, fmt);
        vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
        va_end(ap);
}

size_t machine_history_size(const MachineState *m) {
        return m->next_seq < BMC_HISTORY_MAX ? (size_t) m->next_seq : BMC_HISTORY_MAX;
}

const BmcEvent *machine_history_get(const MachineState *m, size_t i) {
        size_t n = machine_history_size(m);
        if (i >= n)
                return NULL;
        return &m->history[(m->next_seq - n + i) % BMC_HISTORY_MAX];
}

int machine_reset_plan(const MachineState *m, BmcResetType t, BmcResetPlan *ret) {
        for (size_t i = 0; i < ELEMENTS(transitions); i++) {
                const Transition *tr = &transitions[i];
                if (tr->from != m->power || tr->type != t)
                        continue;
                BmcResetPlan p = {
                        .type = t,
                        .action = tr->action,
                        .to = tr->to,
                        .boots = tr->action == BMC_ACTION_POWER_ON || tr->action == BMC_ACTION_RESTART ||
                                 tr->action == BMC_ACTION_CYCLE,
                };
                if (p.boots) {
                        /* settings written to @Redfish.Settings apply at this reset */
                        p.apply_pending = m->has_pending;
                        p.boot = m->has_pending ? m->pending : m->boot;
                        bool override = p.boot.enabled != BMC_BOOT_DISABLED && p.boot.target != BMC_TARGET_NONE;
                        p.source = override ? p.boot.target : BMC_TARGET_HDD;
                        /* "reset to Disabled after the next boot" (ComputerSystem
                         * schema), also when the target is None */
                        p.consume_once = p.boot.enabled == BMC_BOOT_ONCE;
                }
                *ret = p;
                return 0;
        }
        return -EBUSY;
}

static void record_boot(MachineState *m, const BmcResetPlan *p) {
        const char *override = p->boot.enabled == BMC_BOOT_DISABLED || p->boot.target == BMC_TARGET_NONE
                                       ? "None"
                                       : emu_enabled_to_string(p->boot.enabled);
        bool http = p->source == BMC_TARGET_UEFI_HTTP && p->boot.http_uri[0];

        m->boot_count++;
        m->last_boot = p->source;
        machine_record(m, BMC_EVENT_BOOT, "%s override=%s mode=%s%s%s", emu_target_to_string(p->source), override,
                       emu_mode_to_string(p->boot.mode), http ? " uri=" : "", http ? p->boot.http_uri : "");
        m->history[(m->next_seq - 1) % BMC_HISTORY_MAX].source = p->source;
}

void machine_reset_commit(MachineState *m, const BmcResetPlan *p, BmcPower observed) {
        const char *type = emu_reset_to_string(p->type);

        if (p->apply_pending) {
                m->boot = m->pending;
                m->has_pending = false;
                machine_record(m, BMC_EVENT_SETTINGS_APPLIED, "%s %s %s", emu_enabled_to_string(m->boot.enabled),
                               emu_target_to_string(m->boot.target), emu_mode_to_string(m->boot.mode));
        }
        switch (p->action) {
        case BMC_ACTION_POWER_ON:
                machine_record(m, BMC_EVENT_POWER_ON, "%s", type);
                break;
        case BMC_ACTION_POWER_OFF:
                machine_record(m, BMC_EVENT_POWER_OFF, "%s", type);
                break;
        case BMC_ACTION_SHUTDOWN:
                /* QEMU: the guest decides; recorded as off only once it is */
                if (observed == BMC_POWER_OFF)
                        machine_record(m, BMC_EVENT_POWER_OFF, "%s", type);
                else
                        machine_record(m, BMC_EVENT_SHUTDOWN_REQUESTED, "%s", type);
                break;
        case BMC_ACTION_RESTART:
        case BMC_ACTION_CYCLE:
                machine_record(m, BMC_EVENT_RESET, "%s", type);
                break;
        case BMC_ACTION_NMI:
                machine_record(m, BMC_EVENT_NMI, "%s", type);
                break;
        default:
                break;
        }
        if (p->boots)
                record_boot(m, p);
        if (p->consume_once)
                m->boot.enabled = BMC_BOOT_DISABLED;
        m->power = observed;
        m->generation++;
}

void machine_power_observed(MachineState *m, BmcPower observed) {
        if (m->power == observed)
                return;
        machine_record(m, observed == BMC_POWER_ON ? BMC_EVENT_POWER_ON : BMC_EVENT_POWER_OFF, "observed");
        m->power = observed;
        m->generation++;
}

/* The personality's rules for a Boot PATCH; 0 or -EINVAL with `e` set. */
static int boot_patch_check(const Personality *p, const BmcBootPatch *b, bool to_settings, BmcError *e) {
        bool any = b->has_enabled || b->has_target || b->has_mode || b->has_uri;

        if ((p->flags & PERS_BOOT_SETTINGS) && !to_settings && any)
                return message_set(e, 0, BMC_MSG_PROPERTY_NOT_WRITABLE, "Boot", NULL, NULL);
        if ((p->flags & PERS_BOOT_MODE_READONLY) && b->has_mode)
                return message_set(e, 0, BMC_MSG_PROPERTY_NOT_WRITABLE, "BootSourceOverrideMode", NULL, NULL);
        if ((p->flags & PERS_BOOT_FULL_TRIPLE) && (b->has_enabled || b->has_target || b->has_mode)) {
                if (!b->has_mode)
                        return message_set(e, 0, BMC_MSG_PROPERTY_MISSING, "BootSourceOverrideMode", NULL, NULL);
                if (!b->has_enabled)
                        return message_set(e, 0, BMC_MSG_PROPERTY_MISSING, "BootSourceOverrideEnabled", NULL, NULL);
                if (!b->has_target)
                        return message_set(e, 0, BMC_MSG_PROPERTY_MISSING, "BootSourceOverrideTarget", NULL, NULL);
        }
        if ((p->flags & PERS_BOOT_ENABLED_REQUIRED) && b->has_target && !b->has_enabled)
                return message_set(e, 0, BMC_MSG_PROPERTY_MISSING, "BootSourceOverrideEnabled", NULL, NULL);
        if ((p->flags & PERS_NO_CONTINUOUS) && b->has_enabled && b->enabled == BMC_BOOT_CONTINUOUS)
                return message_set(e, 0, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST, "Continuous",
                                   "BootSourceOverrideEnabled", NULL);
        if (b->has_target && !personality_allows_target(p, b->target))
                return message_set(e, 0, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST, emu_target_to_string(b->target),
                                   "BootSourceOverrideTarget", NULL);
        return 0;
}

int machine_boot_patch(MachineState *m, const Personality *p, const BmcBootPatch *patch, bool to_settings,
                       BmcError *reterr) {
        int r = boot_patch_check(p, patch, to_settings, reterr);
        if (r < 0)
                return r;
        if (!patch->has_enabled && !patch->has_target && !patch->has_mode && !patch->has_uri)
                return 0;

        BmcBoot b = to_settings && m->has_pending ? m->pending : m->boot;
        if (patch->has_enabled)
                b.enabled = patch->enabled;
        if (patch->has_target)
                b.target = patch->target;
        if (patch->has_mode)
                b.mode = patch->mode;
        else if ((p->flags & PERS_BOOT_MODE_REVERTS) && (patch->has_target || patch->has_enabled))
                b.mode = p->default_mode;
        if (patch->has_uri)
                snprintf(b.http_uri, sizeof(b.http_uri), "%s", patch->uri_null ? "" : patch->uri);

        if (to_settings) {
                m->pending = b;
                m->has_pending = true;
        } else
                m->boot = b;
        machine_record(m, to_settings ? BMC_EVENT_SETTINGS_PENDING : BMC_EVENT_BOOT_OVERRIDE_SET, "%s %s %s",
                       emu_enabled_to_string(b.enabled), emu_target_to_string(b.target), emu_mode_to_string(b.mode));
        m->generation++;
        return 0;
}

void machine_media_insert(MachineState *m, unsigned slot, const char *image, bool write_protected) {
        if (slot >= BMC_MEDIA_SLOTS_MAX)
                return;
        BmcMedia *md = &m->media[slot];
        snprintf(md->image, sizeof(md->image), "%s", image);
        md->inserted = true;
        md->write_protected = write_protected;
        machine_record(m, BMC_EVENT_MEDIA_INSERTED, "slot=%u %s", slot, image);
        m->generation++;
}

void machine_media_eject(MachineState *m, unsigned slot) {
        if (slot >= BMC_MEDIA_SLOTS_MAX)
                return;
        BmcMedia *md = &m->media[slot];
        if (md->inserted || md->image[0])
                machine_record(m, BMC_EVENT_MEDIA_EJECTED, "slot=%u %s", slot, md->image);
        *md = (BmcMedia) { .write_protected = true };
        m->generation++;
}
