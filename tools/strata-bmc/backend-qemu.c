/* The QEMU back end: a machine is a QEMU process someone else started (the
 * lab), driven over its QMP socket. strata-bmc never starts or kills QEMU,
 * so "power" is modelled inside one long-lived process:
 *
 *   Off   = the VM is not running (QMP status other than "running":
 *           prelaunch after -S, paused, or shutdown after the guest powered
 *           off under -no-shutdown).
 *   On    = `system_reset` then `cont`: always a cold start from firmware,
 *           never a resume of a half-run guest.
 *   ForceOff = `stop` then `system_reset` (QEMU moves a reset VM that is
 *           not running to prelaunch, so the next `cont` boots firmware).
 *   GracefulShutdown / PushPowerButton = `system_powerdown` (ACPI): the
 *           guest decides; PowerState stays On until QEMU stops running,
 *           as on real hardware. Firmware without an OS ignores it.
 *   ForceRestart / GracefulRestart = `system_reset` (QEMU has no graceful
 *           reboot request). PowerCycle = `stop`, `system_reset`, `cont`.
 *   Nmi = `inject-nmi`.
 * Quitting QEMU would be a more literal power-off but needs the command
 * line to restart it; pausing keeps the emulator a pure QMP client. Start
 * QEMU with -S (off at first) and -no-shutdown (a guest poweroff is Off,
 * not an exit); a QEMU that is gone reads as Off and UnavailableOffline.
 *
 * Next boot device: the emulator owns the bootindex of the devices named in
 * the config ("nic", "disk", "cdrom": qdev ids of -device ...,id=X). Before
 * a boot it sets them with `qom-set /machine/peripheral/X bootindex`: all
 * to -1, then the override's device first and the configured boot_order
 * after. QEMU rebuilds the fw_cfg "bootorder" file at reset, which both
 * SeaBIOS and OVMF read at every boot, so this works for legacy and UEFI.
 * After the reset (QMP event RESET) a Once override is undone at once, so
 * a reboot by the guest boots the default order. Use -boot strict=on so
 * firmware boots only listed devices. Pxe and UefiHttp both select the NIC
 * (UEFI HTTP boot by URI is not emulated: the URI is only recorded).
 * Without device ids it falls back to HMP `boot_set` (SeaBIOS with -boot
 * order and no bootindex properties only).
 * Tested under TCG (QEMU 7.2, q35) with SeaBIOS 1.16 and OVMF 2022.11
 * (OVMF_CODE_4M.fd): a Pxe Once boot sends DHCP from the NIC within
 * seconds; with -boot strict=on and only the disk listed, neither firmware
 * touches the NIC (tests/system/test_strata_bmc.py).
 *
 * Media: every slot maps to the "cdrom" device; InsertMedia runs
 * `blockdev-change-medium` read-only (file:// URLs become paths; http(s)
 * needs QEMU's curl block driver, Debian package qemu-block-extra),
 * EjectMedia runs `eject` with force.
 *
 * QMP is spoken synchronously with a timeout (QEMU_QMP_TIMEOUT_MS): the
 * loop blocks for that long at most; fine for a test emulator. */
#include <stdio.h>
#include <string.h>

#include "bmc.h"
#include "core/cleanup.h"
#include "qmp.h"

#define QEMU_QMP_TIMEOUT_MS 5000u

static const char *const device_names[_QEMU_DEVICE_MAX] = {
        [QEMU_DEVICE_DISK] = "disk",
        [QEMU_DEVICE_NIC] = "nic",
        [QEMU_DEVICE_CDROM] = "cdrom",
};

/* boot_set letters of the legacy -boot order */
static const char device_letters[_QEMU_DEVICE_MAX] = {
        [QEMU_DEVICE_DISK] = 'c',
        [QEMU_DEVICE_NIC] = 'n',
        [QEMU_DEVICE_CDROM] = 'd',
};

static QemuDevice device_for(BmcBootTarget t) {
        switch (t) {
        case BMC_TARGET_PXE:
        case BMC_TARGET_UEFI_HTTP:
                return QEMU_DEVICE_NIC;
        case BMC_TARGET_CD:
        case BMC_TARGET_USB_CD:
        case BMC_TARGET_USB:
                return QEMU_DEVICE_CDROM;
        case BMC_TARGET_HDD:
                return QEMU_DEVICE_DISK;
        default:
                return _QEMU_DEVICE_INVALID; /* BiosSetup, UefiShell: default order */
        }
}

static int open_qmp(BmcMachine *m, Qmp **ret, char *reterr, size_t size) {
        return qmp_open(m->qemu.qmp, QEMU_QMP_TIMEOUT_MS, ret, reterr, size);
}

static int run(Qmp *q, const char *command, char *reterr, size_t size) {
        return qmp_execute(q, command, NULL, NULL, reterr, size);
}

static int set_bootindex(Qmp *q, const char *id, int index, char *reterr, size_t size) {
        char path[BMC_ID_MAX + 32];
        snprintf(path, sizeof(path), "/machine/peripheral/%s", id);
        json_t *args = json_pack("{s:s, s:s, s:i}", "path", path, "property", "bootindex", "value", index);
        if (!args)
                return -ENOMEM;
        int r = qmp_execute(q, "qom-set", args, NULL, reterr, size);
        json_decref(args);
        return r;
}

/* The boot order for the next reset: `first` (or none), then the default. */
static int set_boot_order(Qmp *q, const QemuConfig *c, QemuDevice first, char *reterr, size_t size) {
        QemuDevice order[_QEMU_DEVICE_MAX];
        size_t n = 0, named = 0;
        int r;

        if (first >= 0)
                order[n++] = first;
        for (size_t i = 0; i < c->n_boot_order; i++)
                if (c->boot_order[i] != first)
                        order[n++] = c->boot_order[i];
        for (size_t d = 0; d < _QEMU_DEVICE_MAX; d++)
                named += c->devices[d][0] != '\0';

        if (named == 0) {
                /* legacy: HMP boot_set with -boot letters */
                char letters[_QEMU_DEVICE_MAX + 1] = "";
                for (size_t i = 0; i < n; i++)
                        letters[i] = device_letters[order[i]];
                letters[n] = '\0';
                char line[32];
                snprintf(line, sizeof(line), "boot_set %s", letters);
                json_t *args = json_pack("{s:s}", "command-line", line);
                if (!args)
                        return -ENOMEM;
                r = qmp_execute(q, "human-monitor-command", args, NULL, reterr, size);
                json_decref(args);
                return r;
        }
        /* all off first: QEMU refuses two devices with one bootindex */
        for (size_t d = 0; d < _QEMU_DEVICE_MAX; d++)
                if (c->devices[d][0] && (r = set_bootindex(q, c->devices[d], -1, reterr, size)) < 0)
                        return r;
        int index = 1;
        for (size_t i = 0; i < n; i++)
                if (c->devices[order[i]][0] && (r = set_bootindex(q, c->devices[order[i]], index++, reterr, size)) < 0)
                        return r;
        return 0;
}

static int query_power(Qmp *q, BmcPower *ret, char *reterr, size_t size) {
        json_t *st = NULL;
        int r = qmp_execute(q, "query-status", NULL, &st, reterr, size);
        if (r < 0)
                return r;
        const char *status = json_string_value(json_object_get(st, "status"));
        *ret = status && strcmp(status, "running") == 0 ? BMC_POWER_ON : BMC_POWER_OFF;
        json_decref(st);
        return 0;
}

static int qemu_power_get(BmcMachine *m, BmcPower *ret) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        char why[256];
        int r = open_qmp(m, &q, why, sizeof(why));
        if (r < 0)
                return r;
        return query_power(q, ret, why, sizeof(why));
}

/* system_reset only requests a reset; QEMU carries it out in its main
 * loop and then sends RESET. Waiting for it orders what follows after the
 * reset (the fw_cfg boot order is fixed by then). */
static int reset_and_wait(Qmp *q, char *reterr, size_t size) {
        int r = run(q, "system_reset", reterr, size);
        if (r < 0)
                return r;
        return qmp_wait_event(q, "RESET", reterr, size);
}

static int qemu_power_apply(BmcMachine *m, const BmcResetPlan *p, BmcPower *ret_observed, char *reterr,
                            size_t size) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        int r = open_qmp(m, &q, reterr, size);
        if (r < 0)
                return r;
        if (p->boots && (r = set_boot_order(q, &m->qemu, device_for(p->source), reterr, size)) < 0)
                return r;

        switch (p->action) {
        case BMC_ACTION_POWER_ON:
                r = reset_and_wait(q, reterr, size);
                if (r >= 0)
                        r = run(q, "cont", reterr, size);
                break;
        case BMC_ACTION_POWER_OFF:
                r = run(q, "stop", reterr, size);
                if (r >= 0)
                        r = reset_and_wait(q, reterr, size);
                break;
        case BMC_ACTION_SHUTDOWN:
                r = run(q, "system_powerdown", reterr, size);
                break;
        case BMC_ACTION_RESTART:
                r = reset_and_wait(q, reterr, size);
                break;
        case BMC_ACTION_CYCLE:
                r = run(q, "stop", reterr, size);
                if (r >= 0)
                        r = reset_and_wait(q, reterr, size);
                if (r >= 0)
                        r = run(q, "cont", reterr, size);
                break;
        case BMC_ACTION_NMI:
                r = run(q, "inject-nmi", reterr, size);
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                return r;
        /* Once: this boot has its order; the next one gets the default */
        if (p->boots && p->consume_once && (r = set_boot_order(q, &m->qemu, _QEMU_DEVICE_INVALID, reterr, size)) < 0)
                return r;
        return query_power(q, ret_observed, reterr, size);
}

static int qemu_media_insert(BmcMachine *m, unsigned slot, const char *image, bool write_protected, char *reterr,
                             size_t size) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        const char *cdrom = m->qemu.devices[QEMU_DEVICE_CDROM];
        (void) slot;
        if (!cdrom[0]) {
                snprintf(reterr, size, "no \"cdrom\" device in the machine's qemu config");
                return -ENODEV;
        }
        int r = open_qmp(m, &q, reterr, size);
        if (r < 0)
                return r;
        const char *file = strncmp(image, "file://", 7) == 0 ? image + 7 : image;
        json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "id", cdrom, "filename", file, "format", "raw",
                                 "read-only-mode", write_protected ? "read-only" : "retain");
        if (!args)
                return -ENOMEM;
        r = qmp_execute(q, "blockdev-change-medium", args, NULL, reterr, size);
        json_decref(args);
        return r;
}

static int qemu_media_eject(BmcMachine *m, unsigned slot, char *reterr, size_t size) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        const char *cdrom = m->qemu.devices[QEMU_DEVICE_CDROM];
        (void) slot;
        if (!cdrom[0]) {
                snprintf(reterr, size, "no \"cdrom\" device in the machine's qemu config");
                return -ENODEV;
        }
        int r = open_qmp(m, &q, reterr, size);
        if (r < 0)
                return r;
        json_t *args = json_pack("{s:s, s:b}", "id", cdrom, "force", 1);
        if (!args)
                return -ENOMEM;
        r = qmp_execute(q, "eject", args, NULL, reterr, size);
        json_decref(args);
        return r;
}

const BmcBackend backend_qemu = {
        .name = "qemu",
        .power_get = qemu_power_get,
        .power_apply = qemu_power_apply,
        .media_insert = qemu_media_insert,
        .media_eject = qemu_media_eject,
};

QemuDevice qemu_device_from_string(const char *s) {
        for (size_t i = 0; s && i < _QEMU_DEVICE_MAX; i++)
                if (strcmp(device_names[i], s) == 0)
                        return (QemuDevice) i;
        return _QEMU_DEVICE_INVALID;
}
