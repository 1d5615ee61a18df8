/* The vendor quirk table (see quirks.h). Each row cites where its quirks are
 * documented; the digest is docs/redfish.md §9, which names the repository
 * and file for each. Rows match on what the BMC says (service root Vendor
 * and Product, its Oem key, the system's Manufacturer), never on firmware
 * versions. */
#include "bmc/quirks.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"

#define WORDS(...) ((const char *const[]) { __VA_ARGS__, NULL })

static const RedfishQuirks quirks[] = {
        {
                .name = "dell-idrac",
                .hint = "dell",
                .vendors = WORDS("Dell"),
                .products = WORDS("iDRAC", "Integrated Dell Remote Access Controller"),
                .busy_ids = WORDS("SYS518"),
                .flags = REDFISH_QUIRK_VMEDIA_SYSTEM_FIRST | REDFISH_QUIRK_VMEDIA_EJECT_ALL_FIRST |
                         REDFISH_QUIRK_POWER_ON_CONFLICT_RETRY,
                .source = "vmedia under System: bmc-toolbox/bmclib internal/redfishwrapper/virtual_media.go; "
                          "eject all slots first: openstack/ironic drivers/modules/redfish/boot.py; "
                          "409 on On after power-off (iDRAC10): ironic drivers/modules/redfish/power.py; "
                          "SYS518 busy: openstack/sushy sushy/connector.py; "
                          "Boot only via @Redfish.Settings (iDRAC10, generic fallback): stmcginnis/gofish PR #511",
        },
        {
                .name = "hpe-ilo",
                .hint = "hpe",
                .vendors = WORDS("HPE", "Hpe", "Hp", "Hewlett Packard Enterprise"),
                .products = WORDS("iLO"),
                .busy_ids = WORDS("InvalidOperationForSystemState", "UnableToModifyDuringSystemPOST"),
                .flags = REDFISH_QUIRK_BOOT_MODE_READONLY,
                .source = "BootSourceOverrideMode write refused: ansible-collections/community.general issue #3509, "
                          "no mode on Gen9: ironic drivers/modules/redfish/management.py; "
                          "InvalidOperationForSystemState: sushy sushy/connector.py; "
                          "UnableToModifyDuringSystemPOST: ironic redfish/management.py _is_during_post_error; "
                          "(generic: EjectMedia with {} from sushy resources/manager/virtual_media.py, "
                          "minimal Boot retry from bmclib internal/redfishwrapper/boot_device.go, "
                          "406 without Accept-Encoding from sushy connector.py)",
        },
        {
                .name = "lenovo-xcc",
                .hint = "lenovo",
                .vendors = WORDS("Lenovo"),
                .products = WORDS("XClarity", "XCC"),
                .flags = REDFISH_QUIRK_IF_MATCH_REQUIRED,
                .source = "428 without If-Match: ansible/ansible PR #56150, stmcginnis/gofish issue #171 (SR655); "
                          "(generic: no InsertMedia/EjectMedia, PATCH the slot with Inserted: bmclib "
                          "providers/lenovo/virtual_media.go, sushy virtual_media.py; Once only: bmclib "
                          "providers/lenovo/boot.go; 412 on If-Match, retried without: "
                          "ansible-collections/community.general PR #11270)",
        },
        {
                .name = "supermicro",
                .hint = "supermicro",
                .vendors = WORDS("Supermicro", "Super Micro"),
                .flags = REDFISH_QUIRK_BOOT_ALWAYS_MODE | REDFISH_QUIRK_VMEDIA_INSERT_IMAGE_ONLY,
                .source = "mode reverts when omitted: DMTF/Redfishtool PR #106, ironic "
                          "drivers/modules/redfish/management.py (stories 2008547, 2008712); "
                          "InsertMedia refuses Inserted/WriteProtected (X11): sushy "
                          "resources/manager/virtual_media.py, bmclib payload variants",
        },
        {
                .name = "openbmc",
                .hint = "openbmc",
                .vendors = WORDS("OpenBMC", "OpenBmc"),
                .products = WORDS("OpenBMC"),
                .flags = REDFISH_QUIRK_NO_IF_MATCH,
                .source = "no If-Match: bmc-toolbox/bmclib providers/openbmc/openbmc.go "
                          "(WithEtagMatchDisabled); (generic: slot answering 405 skipped, ironic "
                          "drivers/modules/redfish/boot.py)",
        },
        {
                .name = "ami",
                .hint = "ami",
                .vendors = WORDS("AMI", "Ami", "American Megatrends"),
                .products = WORDS("MegaRAC"),
                .flags = REDFISH_QUIRK_BOOT_ALWAYS_MODE | REDFISH_QUIRK_BOOT_NO_MINIMAL_RETRY |
                         REDFISH_QUIRK_IF_MATCH_REQUIRED | REDFISH_QUIRK_ETAG_STRIP_WEAK,
                .source = "full Boot triple every time: ironic drivers/modules/redfish/management.py "
                          "(VENDORS_REQUIRING_FULL_BOOT_REQUEST); Ami.1.0.PreconditionHeaderMissing: "
                          "stmcginnis/gofish issue #171; weak ETag refused: "
                          "ansible-collections/community.general PR #6434",
        },
        {
                .name = "sushy-tools",
                .hint = "sushy-tools",
                .flags = REDFISH_QUIRK_VMEDIA_SYSTEM_FIRST,
                .source = "VirtualMedia under Systems/{id}, basic auth only: openstack/sushy-tools (docs/redfish.md §7, §11)",
        },
        {
                .name = "generic",
                .hint = "generic",
                .source = "DSP0266 defaults",
        },
};

#define QUIRKS_GENERIC (&quirks[ELEMENTSOF(quirks) - 1])

/* Is `word` in `s`, case-insensitively, not glued to letters or digits? */
static bool has_word(const char *s, const char *word) {
        size_t n = strlen(word);

        if (!s || n == 0)
                return false;
        for (const char *p = s; *p; p++) {
                if (strncasecmp(p, word, n) != 0)
                        continue;
                if ((p == s || !isalnum((unsigned char) p[-1])) && !isalnum((unsigned char) p[n]))
                        return true;
        }
        return false;
}

static bool any_word(const char *s, const char *const *words) {
        for (size_t i = 0; s && words && words[i]; i++)
                if (has_word(s, words[i]))
                        return true;
        return false;
}

const RedfishQuirks *redfish_quirks_select(const char *vendor, const char *product, const char *oem,
                                           const char *manufacturer, const char *hint) {
        for (size_t i = 0; i < ELEMENTSOF(quirks); i++) {
                const RedfishQuirks *q = &quirks[i];
                if (any_word(vendor, q->vendors) || any_word(oem, q->vendors) ||
                    any_word(manufacturer, q->vendors) || any_word(product, q->products))
                        return q;
        }
        for (size_t i = 0; hint && i < ELEMENTSOF(quirks); i++)
                if (strcmp(quirks[i].hint, hint) == 0)
                        return &quirks[i];
        return QUIRKS_GENERIC;
}

bool redfish_quirks_is_busy(const RedfishStrings *ids) {
        for (size_t k = 0; ids && k < ids->n; k++) {
                /* registry prefix and version vary: IDRAC.2.8.SYS518, iLO.2.14.X */
                const char *dot = strrchr(ids->v[k], '.');
                const char *id = dot ? dot + 1 : ids->v[k];
                for (size_t i = 0; i < ELEMENTSOF(quirks); i++)
                        for (size_t w = 0; quirks[i].busy_ids && quirks[i].busy_ids[w]; w++)
                                if (strcmp(id, quirks[i].busy_ids[w]) == 0)
                                        return true;
        }
        return false;
}

const RedfishQuirks *redfish_quirks_table(unsigned *ret_n) {
        *ret_n = ELEMENTSOF(quirks);
        return quirks;
}
