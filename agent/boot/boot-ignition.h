/* boot-ignition: the Ignition config the boot server hands a leased
 * machine, rendered for it by agent/ignition with the sysext URL on this
 * segment and the sysext's SHA-512, and the boot assets (kernel, initrd)
 * with theirs, so that the machine, which booted from the network, can
 * serve them to the machines it provisions in turn. The hashes are cached
 * per file and redone only when a file changes. */
#pragma once

#include <stdint.h>

typedef struct BootSegment BootSegment;
typedef struct BootLease BootLease;

/* The agent sysext this node propagates: its own version. */
const char *boot_sysext_name(void);

/* Renders `lease`'s config as JSON text (*ret, caller frees). -errno with a
 * human reason in *reterr (caller frees) when it cannot: no sysext in the
 * assets directory, a spec the renderer refuses. */
int boot_ignition_render(BootSegment *seg, const BootLease *lease, const uint8_t mac[6], char **ret,
                         char **reterr);
