/* Fuzz target for ignition_lite_check() (images/lab-guest/ignition-lite-config.c):
 * the lab guest's Ignition stand-in reads its config from the OEM partition
 * or from ignition.config.url over the lab network. The input is the
 * config's JSON. Beyond not crashing or leaking: a refusal says where, as
 * "$...: what" on one line; an accepted config has only normalised absolute
 * paths, and every LUKS entry yields a clevis pin and a config that is a
 * JSON object, with an sss threshold within its pins. Seeds:
 * tests/fuzz/fuzz-ignition-lite/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../images/lab-guest/ignition-lite-config.h"

static void check_paths(const json_t *list, const char *key) {
        const json_t *e;
        size_t i;

        json_array_foreach(list, i, e) {
                const char *p = json_string_value(json_object_get(e, key));
                if (p && !ignition_lite_path_ok(p))
                        abort();
        }
}

static void check_clevis(const json_t *luks) {
        const json_t *e;
        size_t i;

        json_array_foreach(luks, i, e) {
                char *pin = NULL, *config = NULL;
                json_t *cfg;

                if (ignition_lite_clevis(json_object_get(e, "clevis"), &pin, &config) < 0)
                        continue; /* ENOMEM */
                cfg = json_loads(config, 0, NULL);
                if (!json_is_object(cfg))
                        abort();
                if (strcmp(pin, "sss") == 0 && !json_object_get(json_object_get(e, "clevis"), "custom")) {
                        json_int_t t = json_integer_value(json_object_get(cfg, "t"));
                        const json_t *pins = json_object_get(cfg, "pins");
                        size_t n = json_array_size(json_object_get(pins, "tang")) +
                                   json_array_size(json_object_get(pins, "tpm2"));
                        if (t < 1 || (size_t) t > n)
                                abort();
                }
                json_decref(cfg);
                free(pin);
                free(config);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *config = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        char err[IGNITION_LITE_ERR_MAX];
        const json_t *storage;

        if (!config)
                return 0;
        if (ignition_lite_check(config, err) < 0) {
                if (err[0] != '$' || !strstr(err, ": ") || strchr(err, '\n'))
                        abort();
                json_decref(config);
                return 0;
        }
        storage = json_object_get(config, "storage");
        check_paths(json_object_get(storage, "files"), "path");
        check_paths(json_object_get(storage, "directories"), "path");
        check_paths(json_object_get(storage, "links"), "path");
        check_paths(json_object_get(storage, "luks"), "device");
        check_paths(json_object_get(storage, "filesystems"), "device");
        check_paths(json_object_get(storage, "filesystems"), "path");
        check_clevis(json_object_get(storage, "luks"));
        json_decref(config);
        return 0;
}
