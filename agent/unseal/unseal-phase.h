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

/* Starts the phase if the spec names a data volume (else the node stays in
 * boot and says why). `verify_only` checks the binding opens the volume
 * without activating it (machines without device-mapper). */
int unseal_phase_start(Manager *m, const char *tcti, bool verify_only);
UnsealPhase *unseal_phase_free(UnsealPhase *p);
