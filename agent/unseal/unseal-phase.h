/* stratad's unseal phase: opens the data volume the spec's unseal policy
 * names (or finds it opened already by strata-unseal@.service), retrying
 * with backoff, then lets the node move on to attest. */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct UnsealPhase UnsealPhase;

/* Backoff between attempts: doubles from MIN to MAX. */
#define UNSEAL_RETRY_MIN_USEC (5u * 1000000u)
#define UNSEAL_RETRY_MAX_USEC (60u * 1000000u)

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

/* Starts the phase if the spec names a data volume (else the node stays in
 * boot and says why). `verify_only` checks the binding opens the volume
 * without activating it (machines without device-mapper). */
int unseal_phase_start(Manager *m, const char *tcti, bool verify_only);
UnsealPhase *unseal_phase_free(UnsealPhase *p);
