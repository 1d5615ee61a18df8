/* The data volume where Ignition did not make it (see volume.h). */
#include "unseal/volume.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "unseal/luks.h"

/* data-volume-create.json's filesystem: ext4 labelled strata-data, with
 * state/ (0700) and k0s/ (0755) on it. */
#define VOLUME_MKFS "mkfs.ext4"
#define VOLUME_FS_LABEL "strata-data"

extern char **environ;

UnsealVolumeAction unseal_volume_decide(int kind, bool create_if_blank) {
        switch (kind) {
        case LUKS_DEVICE_LUKS2:
                return UNSEAL_VOLUME_OPEN;
        case LUKS_DEVICE_BLANK:
                return create_if_blank ? UNSEAL_VOLUME_CREATE : UNSEAL_VOLUME_REFUSE;
        default:
                return UNSEAL_VOLUME_REFUSE;
        }
}

/* mkfs.ext4 -d fills the filesystem with state/ and k0s/ from a skeleton,
 * so nothing needs mounting here. */
static int volume_mkfs(const char *mapper) {
        char skel[] = "/tmp/strata-volume-XXXXXX", state[64], k0s[64];
        const char *argv[] = { VOLUME_MKFS, "-q", "-L", VOLUME_FS_LABEL, "-d", skel, mapper, NULL };
        pid_t pid;
        int r, status;

        if (!mkdtemp(skel))
                return -errno;
        snprintf(state, sizeof(state), "%s/state", skel);
        snprintf(k0s, sizeof(k0s), "%s/k0s", skel);
        if (mkdir(state, 0700) < 0 || mkdir(k0s, 0755) < 0 || chmod(k0s, 0755) < 0)
                r = -errno;
        else
                r = -posix_spawnp(&pid, VOLUME_MKFS, NULL, NULL, (char *const *) argv, environ);
        if (r == 0) {
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return -errno;
                r = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
        }
        (void) rmdir(state);
        (void) rmdir(k0s);
        (void) rmdir(skel);
        return r;
}

int unseal_volume_prepare(const char *device, bool create_if_blank, const json_t *config, const UnsealOptions *o,
                          UnsealReport *report) {
        _cleanup_free_ char *what = NULL;
        LuksDeviceKind kind;
        int r, slot = -1;

        r = luks_probe(device, &kind, &what);
        if (r < 0) {
                unseal_report_add(report, device, "cannot probe the data volume: %s", strerror(-r));
                return r;
        }
        switch (unseal_volume_decide(kind, create_if_blank)) {
        case UNSEAL_VOLUME_OPEN:
                return 0;
        case UNSEAL_VOLUME_CREATE:
                break;
        default:
                /* never wiped: what is there may be someone's data */
                unseal_report_add(report, device,
                                  "holds %s, not a LUKS2 volume%s: refusing to touch it (Strata never wipes a "
                                  "disk; if it holds nothing of value, `wipefs -a %s` and start again)",
                                  what ? what : "something unknown",
                                  kind == LUKS_DEVICE_BLANK ? " (blank, and this node's config created the volume: "
                                                              "something erased it)"
                                                            : "",
                                  device);
                return kind == LUKS_DEVICE_BLANK ? -ENOMEDIUM : -EMEDIUMTYPE;
        }
        if (!config) {
                unseal_report_add(report, device, "blank, but the spec's unseal policy has no pin to bind it with");
                return -EINVAL;
        }
        r = luks_create(device, "sss", config, o, report, &slot);
        if (r < 0)
                return r;
        unseal_report_add(report, device, "was blank: created the data volume, LUKS2, keyslot %d bound by the "
                                          "spec's unseal policy", slot);
        return 0;
}

int unseal_volume_filesystem(const char *mapper, UnsealReport *report) {
        _cleanup_free_ char *what = NULL;
        LuksDeviceKind kind;
        int r;

        r = luks_probe(mapper, &kind, &what);
        if (r < 0) {
                unseal_report_add(report, mapper, "cannot probe the opened data volume: %s", strerror(-r));
                return r;
        }
        if (kind != LUKS_DEVICE_BLANK)
                return 0;
        r = volume_mkfs(mapper);
        if (r < 0) {
                unseal_report_add(report, mapper, "cannot make the data volume's filesystem (%s): %s", VOLUME_MKFS,
                                  strerror(-r));
                return r;
        }
        unseal_report_add(report, mapper, "made the data volume's ext4 filesystem, with state/ and k0s/");
        return 0;
}
