/* Fuzz target for the MAC parser the boot server applies to URL paths and
 * TFTP file names (agent/boot/boot-leases.c, boot_mac_parse). Beyond "no
 * crash": an accepted MAC formats back to the input, up to case and the
 * separator, and a refused one leaves the output untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boot/boot-leases.h"
#include "core/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = memdup_nul(data, size);
        uint8_t mac[6] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
        char back[18];

        if (!s)
                return 0;
        if (boot_mac_parse(s, mac) < 0) {
                for (size_t i = 0; i < 6; i++)
                        if (mac[i] != 0xaa)
                                abort();
                return 0;
        }
        if (strlen(s) != 17 || strcasecmp(boot_mac_format(mac, s[2], back), s) != 0)
                abort();
        return 0;
}
