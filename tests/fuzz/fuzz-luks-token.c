/* Fuzz target: the LUKS2 clevis token parser (what crypt_token_json_get()
 * hands over from an on-disk header anyone with the disk can rewrite). A
 * parsed token is built back from its compact JWE, which must succeed and
 * parse again to the same keyslot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unseal/luks-token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        LuksToken t = { .keyslot = -1 }, again = { .keyslot = -1 };
        char *err = NULL, *compact = NULL, *json = NULL;

        if (luks_token_parse((const char *) data, size, &t, &err) == 0) {
                if (jwe_flat_to_compact(t.jwe->flat, &compact) == 0 &&
                    luks_token_build(t.keyslot, compact, strlen(compact), &json, NULL) == 0) {
                        if (luks_token_parse(json, strlen(json), &again, NULL) != 0 || again.keyslot != t.keyslot)
                                abort();
                }
        }
        luks_token_done(&again);
        luks_token_done(&t);
        free(json);
        free(compact);
        free(err);
        return 0;
}
