/* boot-server: the network boot server of a member (ProxyDHCP, TFTP and
 * HTTP boot), started by the Manager for every segment of the spec that has
 * boot enabled and on which this node has an address. It answers only for
 * machines in its lease table (boot-leases.h) and never hands out
 * addresses: the site's DHCP server does that. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

typedef struct Manager Manager;
typedef struct BootServer BootServer;

#define BOOT_DEFAULT_ASSETS_DIR "/usr/share/strata/boot"
/* Debian's ipxe package; the Flatcar sysext carries the same files there. */
#define BOOT_DEFAULT_IPXE_DIR "/usr/lib/ipxe"
#define BOOT_DEFAULT_HTTP_PORT 8080u

/* The files a booting machine fetches, by the names Flatcar releases use. */
#define BOOT_ASSET_KERNEL "flatcar_production_pxe.vmlinuz"
#define BOOT_ASSET_INITRD "flatcar_production_pxe_image.cpio.gz"

/* Told of every lease event as it is recorded (machine, event name such
 * as "offered" or "ignition-served"). */
typedef void (*BootEventObserver)(const char *machine, const char *event, void *userdata);
void boot_server_set_observer(BootServer *b, BootEventObserver fn, void *userdata);

/* Starts serving (m->boot); 0 with m->boot NULL when no segment is served
 * here. Failures to bind are logged and returned: a member told to boot
 * machines on a segment must not silently fail to. */
int boot_server_start(Manager *m);
BootServer *boot_server_free(BootServer *b);

/* Grants `machine` a boot lease for `seconds` (or extends it). -ENOENT: not
 * in the inventory; -ENOMEDIUM: its network is not served by this node;
 * -ERANGE: bad duration; *reterr says which in words. */
int boot_server_grant(BootServer *b, const char *machine, unsigned seconds, const char **reterr);
/* -ENOENT when the machine holds no lease. */
int boot_server_release(BootServer *b, const char *machine);
/* Whether `machine`'s data volume may exist already (its coordinator
 * lease's "volume"): its Ignition config then opens the volume, never asks
 * Ignition to create it (boot_leases_set_volume). -ENOENT: no lease. */
int boot_server_set_volume(BootServer *b, const char *machine, bool may_exist);
/* The lease table as JSON (boot_leases_to_json), plus the segments served:
 * {"segments": [{"network", "interface", "address", "http_port"}], "leases": [...]}. */
json_t *boot_server_to_json(BootServer *b);
