/* Fuzz target for what a BMC sends (agent/bmc/redfish-parse.c), plus the URL
 * and name matching applied to it (containment.c, quirks.c). The first byte
 * picks the parser (modulo 10, so the seeds' ASCII digit reads naturally);
 * the rest is the reply body or header value:
 *   '0' service root       '1' collection members  '2' ComputerSystem
 *   '3' ActionInfo         '4' EthernetInterface    '5' Manager
 *   '6' VirtualMedia       '7' Task                 '8' error body (any bytes)
 *   '9' header values: Retry-After, a Location/URL (containment origin,
 *       path check), a MAC, and a vendor string through the quirk table.
 * Beyond "no crash, no leak": every link a parser keeps passes
 * redfish_path_check(), every kept string is printable, and a refusal
 * explains itself in printable ASCII. Seeds: tests/fuzz/fuzz-redfish-reply/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/containment.h"
#include "bmc/quirks.h"
#include "bmc/redfish-parse.h"
#include "core/cleanup.h"

static void check_printable(const char *s) {
        if (!s)
                return;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        abort();
}

static void check_refusal(int r, const char *err) {
        if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM && r != -ENOENT)
                abort();
        if (r != -ENOMEM && (!err || !*err))
                abort();
        check_printable(err);
}

static void check_link(const char *p) {
        if (p && !redfish_path_check(p))
                abort();
}

static void check_strings(const RedfishStrings *s, bool links) {
        for (size_t i = 0; i < s->n; i++) {
                check_printable(s->v[i]);
                if (links)
                        check_link(s->v[i]);
        }
}

static void fuzz_json(uint8_t which, const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        json_t *j = NULL;
        int r = redfish_json_parse(data, size, &j, &err);

        if (r < 0) {
                if (j)
                        abort();
                check_refusal(r, err);
                return;
        }
        free(err);
        err = NULL;
        switch (which) {
        case 0: {
                RedfishRoot root = {};
                r = redfish_root_parse(j, &root, &err);
                if (r == 0) {
                        check_link(root.systems);
                        check_link(root.managers);
                        check_link(root.sessions);
                        check_printable(root.vendor);
                        check_printable(root.product);
                        check_printable(root.oem);
                        (void) redfish_quirks_select(root.vendor, root.product, root.oem, NULL, NULL);
                        redfish_root_done(&root);
                } else
                        check_refusal(r, err);
                break;
        }
        case 1: {
                RedfishStrings m = {};
                r = redfish_members_parse(j, &m, &err);
                if (r == 0) {
                        check_strings(&m, true);
                        redfish_strings_done(&m);
                } else if (m.n)
                        abort();
                else
                        check_refusal(r, err);
                break;
        }
        case 2: {
                RedfishSystem s = {};
                r = redfish_system_parse(j, &s, &err);
                if (r == 0) {
                        const char *links[] = { s.reset_target, s.reset_action_info, s.ethernet_interfaces,
                                                s.virtual_media, s.settings_object, s.managed_by };
                        const char *texts[] = { s.id, s.uuid, s.serial, s.manufacturer, s.model, s.power_state,
                                                s.odata_etag, s.boot_enabled, s.boot_target, s.boot_mode,
                                                s.http_boot_uri };
                        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
                                check_link(links[i]);
                        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                                check_printable(texts[i]);
                        check_strings(&s.boot_targets, false);
                        check_strings(&s.reset_types, false);
                        if (s.reset_types.n && !s.reset_types_known)
                                abort();
                        redfish_system_done(&s);
                } else
                        check_refusal(r, err);
                break;
        }
        case 3: {
                RedfishStrings v = {};
                r = redfish_action_info_parse(j, "ResetType", &v, &err);
                if (r == 0) {
                        check_strings(&v, false);
                        redfish_strings_done(&v);
                } else
                        check_refusal(r, err);
                break;
        }
        case 4: {
                RedfishStrings macs = {};
                r = redfish_nic_parse(j, &macs, &err);
                if (r == 0) {
                        for (size_t i = 0; i < macs.n; i++)
                                if (strlen(macs.v[i]) != 17)
                                        abort();
                        redfish_strings_done(&macs);
                } else
                        check_refusal(r, err);
                break;
        }
        case 5: {
                char *vm = NULL;
                r = redfish_manager_parse(j, &vm, &err);
                if (r == 0)
                        check_link(vm);
                else
                        check_refusal(r, err);
                free(vm);
                break;
        }
        case 6: {
                RedfishMedia m = {};
                r = redfish_media_parse(j, &m, &err);
                if (r == 0) {
                        check_link(m.insert_target);
                        check_link(m.eject_target);
                        check_printable(m.image);
                        check_strings(&m.media_types, false);
                        redfish_media_done(&m);
                } else
                        check_refusal(r, err);
                break;
        }
        default: {
                RedfishTask t = {};
                r = redfish_task_parse(j, &t, &err);
                if (r == 0) {
                        check_printable(t.state);
                        check_printable(t.message);
                        redfish_task_done(&t);
                } else
                        check_refusal(r, err);
                break;
        }
        }
        json_decref(j);
}

static void fuzz_error(const uint8_t *data, size_t size) {
        RedfishError e = {};

        if (redfish_error_parse(data, size, &e) < 0)
                return;
        check_printable(e.message);
        if (e.message && strlen(e.message) > 1024)
                abort();
        check_strings(&e.message_ids, false);
        (void) redfish_quirks_is_busy(&e.message_ids);
        redfish_error_done(&e);
}

static void fuzz_values(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = malloc(size + 1), *origin = NULL, *err = NULL;
        BmcMachine m = { .name = "m", .origin = (char *) "https://192.0.2.1:443" };
        BmcInventory inv = { .machines = &m, .n_machines = 1 };
        char mac[18];
        int r;

        if (!s)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        (void) redfish_retry_after_parse(s, 784111777);
        (void) redfish_path_check(s);
        if (redfish_mac_normalize(s, mac) == 0 && strlen(mac) != 17)
                abort();
        r = bmc_origin_normalize(s, &origin, &err);
        if (r == 0) {
                check_printable(origin);
                /* a normalised origin is a fixed point */
                _cleanup_free_ char *again = NULL;
                if (bmc_origin_normalize(origin, &again, NULL) != 0 || strcmp(again, origin) != 0)
                        abort();
        } else
                check_printable(err);
        free(err);
        err = NULL;
        r = bmc_containment_check(&inv, s, &err);
        if (r != 0)
                check_printable(err);
        (void) redfish_quirks_select(s, s, s, s, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        switch (data[0] % 10) {
        case 8: fuzz_error(data + 1, size - 1); break;
        case 9: fuzz_values(data + 1, size - 1); break;
        default: fuzz_json(data[0] % 10, data + 1, size - 1); break;
        }
        return 0;
}
