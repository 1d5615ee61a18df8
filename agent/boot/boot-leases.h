/* boot-leases: the machines this node may boot right now, and what each has
 * fetched so far. The boot server answers DHCP, TFTP and HTTP only for MACs
 * of a machine in this table, and every step a machine takes is recorded as
 * a lease event, so an operator sees where a machine stopped.
 *
 * Leases are granted by whoever owns provisioning (the local API for an
 * operator now, the coordinator's lease later); this table only holds them,
 * checks expiry and keeps events. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Spec Spec;

/* Events kept per lease: a boot takes about eight, retries add more; the
 * oldest are dropped past this and the lease says so. */
#define BOOT_LEASE_EVENTS_MAX 32u
/* Leases held at once; fan-out caps keep real numbers far below. */
#define BOOT_LEASES_MAX 4096u
/* Longest lease the table accepts (the coordinator's are much shorter). */
#define BOOT_LEASE_SECONDS_MAX (7u * 24u * 3600u)
#define BOOT_LEASE_DETAIL_MAX 160u

typedef enum BootEvent {
        BOOT_EVENT_OFFERED,         /* a ProxyDHCP OFFER/ACK went out; detail: the boot file */
        BOOT_EVENT_TFTP_SERVED,     /* a TFTP transfer completed; detail: the file */
        BOOT_EVENT_NBP_SERVED,      /* iPXE fetched over HTTP (UEFI HTTP boot) */
        BOOT_EVENT_SCRIPT_SERVED,   /* the iPXE script */
        BOOT_EVENT_KERNEL_SERVED,
        BOOT_EVENT_INITRD_SERVED,
        BOOT_EVENT_SYSEXT_SERVED,
        BOOT_EVENT_IGNITION_SERVED,
        _BOOT_EVENT_MAX,
        _BOOT_EVENT_INVALID = -22,
} BootEvent;

const char *boot_event_to_string(BootEvent e);

typedef struct BootLeaseEvent {
        BootEvent event;
        uint8_t mac[6];
        uint64_t at_usec; /* CLOCK_MONOTONIC */
        char detail[BOOT_LEASE_DETAIL_MAX];
} BootLeaseEvent;

typedef struct BootLease {
        char *machine;
        char *network;
        uint8_t (*macs)[6];
        size_t n_macs;
        uint64_t granted_usec, expires_usec; /* CLOCK_MONOTONIC */
        bool volume_may_exist; /* a previous attempt or boot may have made its data
                                * volume: its Ignition config opens it (volume_exists)
                                * rather than creating it (boot_leases_set_volume) */
        BootLeaseEvent events[BOOT_LEASE_EVENTS_MAX]; /* a ring: the newest n_events */
        size_t n_events;
        uint64_t events_dropped;
} BootLease;

typedef struct BootLeases BootLeases;

int boot_leases_new(BootLeases **ret);
BootLeases *boot_leases_free(BootLeases *l);
static inline void boot_leases_freep(BootLeases **p) {
        boot_leases_free(*p);
}

/* Parses "52:54:00:0a:00:01" (either case) or the dash form iPXE uses;
 * -EINVAL otherwise. */
int boot_mac_parse(const char *s, uint8_t ret[6]);
/* "52:54:00:0a:00:01" (sep ':') or "52-54-00-0a-00-01" (sep '-'); buf has
 * room for 18 bytes. */
char *boot_mac_format(const uint8_t mac[6], char sep, char buf[18]);

/* Grants inventory machine `machine` a lease until now + seconds, or
 * extends the one it has (events kept). -ENOENT: not in the inventory;
 * -ERANGE: seconds is 0 or above BOOT_LEASE_SECONDS_MAX; -E2BIG: the table
 * is full. *ret (optional) points into the table. */
int boot_leases_grant(BootLeases *l, const Spec *spec, const char *machine, uint64_t now,
                      unsigned seconds, BootLease **ret);
/* -ENOENT when the machine holds no lease. */
int boot_leases_release(BootLeases *l, const char *machine);
/* Says whether `machine`'s data volume may exist already (the coordinator's
 * lease "volume"), kept with its lease until released; a new lease starts
 * with false (the operator's grants through the local API create it).
 * -ENOENT when the machine holds no lease. */
int boot_leases_set_volume(BootLeases *l, const char *machine, bool may_exist);
/* The live lease holding `mac`, or NULL (none, or expired). */
BootLease *boot_leases_find_mac(BootLeases *l, const uint8_t mac[6], uint64_t now);
BootLease *boot_leases_find(BootLeases *l, const char *machine, uint64_t now);
/* Drops expired leases, calling `expired` for each first (may be NULL);
 * returns how many went. */
size_t boot_leases_expire(BootLeases *l, uint64_t now, void (*expired)(const BootLease *, void *),
                          void *userdata);
size_t boot_leases_count(const BootLeases *l);

/* Appends an event (the oldest is dropped when the ring is full). `detail`
 * may be NULL; it is truncated to fit and must be printable ASCII (it is
 * built by the boot server from validated names). */
void boot_lease_event(BootLease *lease, BootEvent ev, const uint8_t mac[6], uint64_t now,
                      const char *detail);

/* {"leases": [{"machine", "network", "macs", "expires_in_seconds", "volume",
 *   "events": [{"event", "mac", "seconds", "detail"}], "events_dropped"}]}
 * with "seconds" counted from the grant. NULL on OOM. */
json_t *boot_leases_to_json(const BootLeases *l, uint64_t now);
