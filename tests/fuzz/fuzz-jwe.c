/* Fuzz target: the JWE container parser, compact form and (when the input
 * is JSON) the flattened form a LUKS2 token carries. A parsed JWE is also
 * decrypted with a fixed wrong key, which must fail cleanly. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "unseal/jwe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char cek_text[] =
                "{\"kty\":\"oct\",\"alg\":\"A256GCM\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
        Jwe *jwe = NULL;
        char *err = NULL;
        int r;

        if (size > 0 && data[0] == '{') {
                json_t *o = json_loadb((const char *) data, size, 0, NULL);
                r = o ? jwe_parse_flattened(o, &jwe, &err) : -1;
                json_decref(o);
        } else
                r = jwe_parse_compact((const char *) data, size, &jwe, &err);
        free(err);
        err = NULL;
        if (r == 0) {
                json_t *cek = json_loads(cek_text, 0, NULL);
                Secret *pt = NULL;
                if (jwe_decrypt(jwe, cek, &pt, &err) == 0)
                        secret_free(pt); /* only if the input was made with this very key */
                free(err);
                json_decref(cek);
        }
        jwe_free(jwe);
        return 0;
}
