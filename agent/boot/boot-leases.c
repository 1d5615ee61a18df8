/* boot-leases: the table of machines this node may boot, and their events
 * (see boot-leases.h). */
#include "boot/boot-leases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/spec.h"
#include "core/strutil.h"

struct BootLeases {
        BootLease **leases;
        size_t n, allocated;
};

static const char *const event_names[_BOOT_EVENT_MAX] = {
        [BOOT_EVENT_OFFERED] = "offered",
        [BOOT_EVENT_TFTP_SERVED] = "tftp-served",
        [BOOT_EVENT_NBP_SERVED] = "nbp-served",
        [BOOT_EVENT_SCRIPT_SERVED] = "script-served",
        [BOOT_EVENT_KERNEL_SERVED] = "kernel-served",
        [BOOT_EVENT_INITRD_SERVED] = "initrd-served",
        [BOOT_EVENT_SYSEXT_SERVED] = "sysext-served",
        [BOOT_EVENT_IGNITION_SERVED] = "ignition-served",
};

const char *boot_event_to_string(BootEvent e) {
        return e >= 0 && e < _BOOT_EVENT_MAX ? event_names[e] : NULL;
}

int boot_mac_parse(const char *s, uint8_t ret[6]) {
        uint8_t mac[6];

        if (!s || strlen(s) != 17)
                return -EINVAL;
        char sep = s[2];
        if (sep != ':' && sep != '-')
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                int hi = hex_digit_value(s[i * 3]), lo = hex_digit_value(s[i * 3 + 1]);
                if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != sep))
                        return -EINVAL;
                mac[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, mac, 6);
        return 0;
}

char *boot_mac_format(const uint8_t mac[6], char sep, char buf[18]) {
        snprintf(buf, 18, "%02x%c%02x%c%02x%c%02x%c%02x%c%02x", mac[0], sep, mac[1], sep, mac[2], sep,
                 mac[3], sep, mac[4], sep, mac[5]);
        return buf;
}

int boot_leases_new(BootLeases **ret) {
        BootLeases *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        *ret = l;
        return 0;
}

static BootLease *lease_free(BootLease *lease) {
        if (lease) {
                free(lease->machine);
                free(lease->network);
                free(lease->macs);
                free(lease);
        }
        return NULL;
}
DEFINE_CLEANUP(BootLease *, lease_free)

BootLeases *boot_leases_free(BootLeases *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                lease_free(l->leases[i]);
        free(l->leases);
        free(l);
        return NULL;
}

static ssize_t index_of(const BootLeases *l, const char *machine) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->leases[i]->machine, machine) == 0)
                        return (ssize_t) i;
        return -1;
}

static void remove_at(BootLeases *l, size_t i) {
        lease_free(l->leases[i]);
        memmove(&l->leases[i], &l->leases[i + 1], (l->n - i - 1) * sizeof(l->leases[0]));
        l->n--;
}

static int lease_new(const json_t *entry, const char *machine, BootLease **ret) {
        _cleanup_(lease_freep) BootLease *lease = NULL;
        const json_t *macs = json_object_get(entry, "macs"), *v;
        size_t i;

        lease = calloc(1, sizeof(*lease));
        if (!lease)
                return -ENOMEM;
        lease->machine = strdup(machine);
        lease->network = strdup(json_string_value(json_object_get(entry, "network")));
        lease->macs = calloc(json_array_size(macs) ? json_array_size(macs) : 1, sizeof(lease->macs[0]));
        if (!lease->machine || !lease->network || !lease->macs)
                return -ENOMEM;
        json_array_foreach(macs, i, v)
                if (boot_mac_parse(json_string_value(v), lease->macs[lease->n_macs++]) < 0)
                        return -EINVAL; /* the schema's pattern makes this unreachable */
        *ret = take_ptr(lease);
        return 0;
}

int boot_leases_grant(BootLeases *l, const Spec *spec, const char *machine, uint64_t now,
                      unsigned seconds, BootLease **ret) {
        const json_t *entry;
        ssize_t i;
        int r;

        if (seconds == 0 || seconds > BOOT_LEASE_SECONDS_MAX)
                return -ERANGE;
        entry = spec_machine(spec, machine);
        if (!entry)
                return -ENOENT;
        i = index_of(l, machine);
        if (i < 0) {
                _cleanup_(lease_freep) BootLease *lease = NULL;
                if (l->n >= BOOT_LEASES_MAX)
                        return -E2BIG;
                r = lease_new(entry, machine, &lease);
                if (r < 0)
                        return r;
                if (l->n == l->allocated) {
                        size_t na = l->allocated ? l->allocated * 2 : 8;
                        BootLease **nl = reallocarray(l->leases, na, sizeof(*nl));
                        if (!nl)
                                return -ENOMEM;
                        l->leases = nl;
                        l->allocated = na;
                }
                lease->granted_usec = now;
                i = (ssize_t) l->n;
                l->leases[l->n++] = take_ptr(lease);
        }
        l->leases[i]->expires_usec = now + (uint64_t) seconds * 1000000u;
        if (ret)
                *ret = l->leases[i];
        return 0;
}

int boot_leases_release(BootLeases *l, const char *machine) {
        ssize_t i = index_of(l, machine);
        if (i < 0)
                return -ENOENT;
        remove_at(l, (size_t) i);
        return 0;
}

int boot_leases_set_volume(BootLeases *l, const char *machine, bool may_exist) {
        ssize_t i = index_of(l, machine);
        if (i < 0)
                return -ENOENT;
        l->leases[i]->volume_may_exist = may_exist;
        return 0;
}

static bool live(const BootLease *lease, uint64_t now) {
        return now < lease->expires_usec;
}

BootLease *boot_leases_find_mac(BootLeases *l, const uint8_t mac[6], uint64_t now) {
        for (size_t i = 0; i < l->n; i++) {
                BootLease *lease = l->leases[i];
                if (!live(lease, now))
                        continue;
                for (size_t j = 0; j < lease->n_macs; j++)
                        if (memcmp(lease->macs[j], mac, 6) == 0)
                                return lease;
        }
        return NULL;
}

BootLease *boot_leases_find(BootLeases *l, const char *machine, uint64_t now) {
        ssize_t i = index_of(l, machine);
        return i >= 0 && live(l->leases[i], now) ? l->leases[i] : NULL;
}

size_t boot_leases_expire(BootLeases *l, uint64_t now, void (*expired)(const BootLease *, void *),
                          void *userdata) {
        size_t n = 0;
        for (size_t i = 0; i < l->n;) {
                if (live(l->leases[i], now)) {
                        i++;
                        continue;
                }
                if (expired)
                        expired(l->leases[i], userdata);
                remove_at(l, i);
                n++;
        }
        return n;
}

size_t boot_leases_count(const BootLeases *l) {
        return l->n;
}

void boot_lease_event(BootLease *lease, BootEvent ev, const uint8_t mac[6], uint64_t now,
                      const char *detail) {
        BootLeaseEvent *e;

        if (lease->n_events == BOOT_LEASE_EVENTS_MAX) {
                memmove(&lease->events[0], &lease->events[1], (BOOT_LEASE_EVENTS_MAX - 1) * sizeof(lease->events[0]));
                lease->n_events--;
                lease->events_dropped++;
        }
        e = &lease->events[lease->n_events++];
        *e = (BootLeaseEvent) { .event = ev, .at_usec = now };
        memcpy(e->mac, mac, 6);
        snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

static json_t *lease_to_json(const BootLease *lease, uint64_t now) {
        json_auto_t *macs = json_array(), *events = json_array();
        char buf[18];

        if (!macs || !events)
                return NULL;
        for (size_t i = 0; i < lease->n_macs; i++)
                if (json_array_append_new(macs, json_string(boot_mac_format(lease->macs[i], ':', buf))) < 0)
                        return NULL;
        for (size_t i = 0; i < lease->n_events; i++) {
                const BootLeaseEvent *e = &lease->events[i];
                json_t *o = json_pack("{s:s, s:s, s:f, s:s}", "event", boot_event_to_string(e->event), "mac",
                                      boot_mac_format(e->mac, ':', buf), "seconds",
                                      (double) (e->at_usec - lease->granted_usec) / 1e6, "detail", e->detail);
                if (!o || json_array_append_new(events, o) < 0)
                        return NULL;
        }
        /* the coordinator's names for the two modes (coordinator.h, CoordVolume) */
        return json_pack("{s:s, s:s, s:O, s:I, s:s, s:O, s:I}", "machine", lease->machine, "network",
                         lease->network, "macs", macs, "expires_in_seconds",
                         (json_int_t) (live(lease, now) ? (lease->expires_usec - now) / 1000000u : 0), "volume",
                         lease->volume_may_exist ? "existing-or-create" : "create", "events", events,
                         "events_dropped", (json_int_t) lease->events_dropped);
}

json_t *boot_leases_to_json(const BootLeases *l, uint64_t now) {
        json_auto_t *arr = json_array();
        if (!arr)
                return NULL;
        for (size_t i = 0; i < l->n; i++) {
                if (!live(l->leases[i], now))
                        continue;
                json_t *o = lease_to_json(l->leases[i], now);
                if (!o || json_array_append_new(arr, o) < 0)
                        return NULL;
        }
        return json_pack("{s:O}", "leases", arr);
}
