/* The data volume where Ignition did not make it: a node whose config was
 * rendered for a volume that may exist already (a retried machine, a
 * network-booted member running Ignition again) finds either its LUKS2
 * volume, opened as always, or a blank device, made into the volume here
 * exactly as ignition/data-volume-create.json would (LUKS2 bound by the
 * spec's unseal policy, ext4 labelled strata-data with state/ and k0s/).
 * Anything else is someone's data: refused, named, never wiped. Shared by
 * stratad's unseal phase and `strata unseal luks-unlock` (strata-unseal@). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "unseal/unseal-error.h"
#include "unseal/unseal.h"

/* What the node's Ignition config said about a blank volume device, in
 * STRATA_VOLUME_IF_BLANK (/etc/strata/volume.env, ignition/data-volume.json):
 * "create" when the config did not create the volume (rendered with
 * volume_exists: a retried attempt or a node re-running Ignition from RAM);
 * anything else, or unset, refuses. */
#define UNSEAL_VOLUME_ENV "STRATA_VOLUME_IF_BLANK"

typedef enum UnsealVolumeAction {
        UNSEAL_VOLUME_OPEN,   /* a LUKS2 header: unlock it with its clevis token */
        UNSEAL_VOLUME_CREATE, /* blank, and the config allows: create and bind it */
        UNSEAL_VOLUME_REFUSE, /* anything else: say what was found, touch nothing */
        _UNSEAL_VOLUME_ACTION_MAX,
        _UNSEAL_VOLUME_ACTION_INVALID = -22,
} UnsealVolumeAction;

/* The decision, pure for tests: kind is a LuksDeviceKind (luks.h). */
UnsealVolumeAction unseal_volume_decide(int kind, bool create_if_blank);

/* Probes `device` and, when it is blank and `create_if_blank`, creates
 * and binds the volume with `config` (the spec's sss policy). 0: go on and
 * unlock it; -EMEDIUMTYPE (holds something else), -ENOMEDIUM (blank, not
 * allowed), -EINVAL (no policy to bind with), or the creation's error.
 * What happened, or why not, is in `report`. */
int unseal_volume_prepare(const char *device, bool create_if_blank, const json_t *config, const UnsealOptions *o,
                          UnsealReport *report);

/* After the volume is open as `mapper`: a mapping with no filesystem (made
 * just now, or before a crash cut mkfs short) gets data-volume-create.json's.
 * Only ever on a blank mapping. */
int unseal_volume_filesystem(const char *mapper, UnsealReport *report);
