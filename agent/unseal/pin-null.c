/* The null pin (see pin-null.h). */
#include "unseal/pin-null.h"

#include <errno.h>

int null_pin_cek(const json_t *member, json_t **ret_cek, UnsealReport *report, const char *where) {
        const json_t *jwk = json_object_get(member, "jwk");
        if (!json_is_object(jwk)) {
                unseal_report_add(report, where, "null pin carries no key (configured to fail)");
                return -ENOKEY;
        }
        *ret_cek = json_deep_copy(jwk);
        return *ret_cek ? 0 : -ENOMEM;
}

int null_pin_member(const json_t *config, const json_t *cek, json_t **ret) {
        const json_t *f = json_object_get(config, "fail");
        if (f && !json_is_boolean(f))
                return -EINVAL;
        *ret = json_is_true(f) ? json_object() : json_pack("{s:O}", "jwk", cek);
        return *ret ? 0 : -ENOMEM;
}
