/* Fuzz target for fleet_members_from_status() (agent/cluster/fleet-objects.c):
 * the members document of `strata capi fleet --members FILE`, an
 * operator's file, which stratad's cluster service also builds from the
 * coordinator's status. The input is the JSON document; the spec is fixed
 * (five machines: seed, ctl1, ctl2, w1, w2). Beyond not crashing or leaking:
 * a refusal has a message and hands nothing out; an accepted list is sorted,
 * without repeats, every name in the inventory with its role, and the
 * builder accepts whatever the reader accepted, giving 5 objects plus 3 per
 * member, each with a kind and a name. Seeds: tests/fuzz/fuzz-capi-members/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fleet-objects.h"
#include "core/cleanup.h"

static const char spec_text[] =
        "{\"fleet\":{\"name\":\"rack-a\"},\"k0s\":{\"version\":\"v1.30.1+k0s.0\"},"
        "\"inventory\":[{\"name\":\"seed\",\"role\":\"seed\"},{\"name\":\"ctl1\",\"role\":\"controller\"},"
        "{\"name\":\"ctl2\",\"role\":\"controller\"},{\"name\":\"w1\",\"role\":\"worker\"},"
        "{\"name\":\"w2\",\"role\":\"worker\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_auto_t *spec = json_loads(spec_text, 0, NULL), *status = NULL, *objects = NULL;
        _cleanup_free_ FleetMember *members = NULL;
        _cleanup_free_ char *err = NULL, *build_err = NULL;
        FleetObjectsConfig cfg = { .endpoint_host = "192.0.2.100", .now = "2026-01-01T00:00:00Z" };
        const json_t *o;
        size_t n = 0, i;
        int r;

        if (!spec)
                abort();
        status = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!status)
                return 0;
        r = fleet_members_from_status(spec, status, &members, &n, &err);
        if (r < 0) {
                if (members || (r != -ENOMEM && (!err || !*err)))
                        abort();
                return 0;
        }
        for (i = 0; i < n; i++) {
                const char *want = strcmp(members[i].name, "seed") == 0  ? "seed" :
                                   strncmp(members[i].name, "ctl", 3) == 0 ? "controller" :
                                                                             "worker";
                if (!members[i].role || strcmp(members[i].role, want) != 0)
                        abort();
                if (i > 0 && strcmp(members[i - 1].name, members[i].name) >= 0)
                        abort();
        }
        r = fleet_objects_build(spec, members, n, &cfg, &objects, &build_err);
        if (r == -ENOMEM)
                return 0;
        if (r < 0 || json_array_size(objects) != 5 + 3 * n)
                abort();
        json_array_foreach(objects, i, o)
                if (!json_string_value(json_object_get(o, "kind")) ||
                    !json_string_value(json_object_get(json_object_get(o, "metadata"), "name")))
                        abort();
        return 0;
}
