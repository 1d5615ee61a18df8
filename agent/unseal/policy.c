/* unseal_policy_config(): the spec's unseal policy as an sss config (see policy.h). */
#include "unseal/policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"

/* pcr_ids as clevis writes them: "0,4,7" */
static int pcr_ids_string(const json_t *ids, char *buf, size_t size) {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < json_array_size(ids); i++) {
                int n = snprintf(buf + o, size - o, "%s%lld", i ? "," : "",
                                 (long long) json_integer_value(json_array_get(ids, i)));
                if (n < 0 || (size_t) n >= size - o)
                        return -ENOBUFS;
                o += (size_t) n;
        }
        return 0;
}

int unseal_policy_config(const json_t *spec, json_t **ret_config, UnsealOptions *ret_opts) {
        const json_t *unseal = json_object_get(spec, "unseal");
        const json_t *tpm2 = json_object_get(unseal, "tpm2");
        const json_t *tangs = json_object_get(spec, "tang");
        const json_t *timeout = json_object_get(unseal, "tang_timeout_seconds");
        json_auto_t *pins = json_object(), *tang_list = json_array();
        UnsealOptions o = { 0 };
        int r;

        if (!pins || !tang_list)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(tangs); i++) {
                const json_t *t = json_array_get(tangs, i);
                const json_t *thp = json_object_get(t, "thumbprint");
                json_t *c = json_pack("{s:O}", "url", json_object_get(t, "url"));
                if (!c)
                        return -ENOMEM;
                /* the advertisement (with its thumbprint, spec.c): clevis
                 * and strata bind to it without asking the server */
                if (thp && json_object_get(t, "adv"))
                        json_object_set(c, "adv", json_object_get(t, "adv"));
                if (thp)
                        json_object_set(c, "thp", (json_t *) thp);
                else if (json_is_string(json_object_get(t, "trust")) &&
                         strcmp(json_string_value(json_object_get(t, "trust")), "tofu") == 0)
                        o.trust_tang_adv = true;
                json_array_append_new(tang_list, c);
        }
        if (json_array_size(tang_list) > 0)
                json_object_set(pins, "tang", tang_list);

        if (json_is_true(json_object_get(tpm2, "enabled"))) {
                char ids[128];
                json_t *c;
                r = pcr_ids_string(json_object_get(tpm2, "pcr_ids"), ids, sizeof(ids));
                if (r < 0)
                        return r;
                c = json_pack("{s:O, s:O}", "pcr_bank", json_object_get(tpm2, "pcr_bank"), "key",
                              json_object_get(tpm2, "key"));
                if (!c)
                        return -ENOMEM;
                /* no ids: no PCR policy (the spec says so explicitly) */
                if (ids[0])
                        json_object_set_new(c, "pcr_ids", json_string(ids));
                else
                        json_object_del(c, "pcr_bank");
                json_object_set_new(pins, "tpm2", c);
        }
        if (json_object_size(pins) == 0)
                return -EINVAL;

        if (json_is_integer(timeout))
                o.tang_timeout_usec = (uint64_t) json_integer_value(timeout) * 1000000u;
        *ret_config = json_pack("{s:I, s:O}", "t", json_integer_value(json_object_get(unseal, "threshold")),
                                "pins", pins);
        if (!*ret_config)
                return -ENOMEM;
        if (ret_opts)
                *ret_opts = o;
        return 0;
}

int unseal_policy_volume(const json_t *spec, const char **ret_device, const char **ret_name) {
        const json_t *v = json_object_get(json_object_get(spec, "unseal"), "volume");
        const char *d = json_string_value(json_object_get(v, "device"));
        const char *n = json_string_value(json_object_get(v, "name"));
        if (!d || !n)
                return -ENOENT;
        *ret_device = d;
        *ret_name = n;
        return 0;
}
