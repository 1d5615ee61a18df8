/* What `strata ignition render` and `strata image seed|pxe-oem` share
 * (see ignition-cli.h): reading --role, --fleet-ca and --spec, and
 * rendering the config, each with its one error line. */
#include "ignition-cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "image/image.h"

int ignition_cli_parse_role(const char *cmd, const char *arg, IgnitionRole *ret) {
        IgnitionRole role = ignition_role_from_string(arg);

        if (role < 0) {
                fprintf(stderr, "strata: %s: --role: expected seed, controller or worker, got \"%s\"\n", cmd, arg);
                return -EINVAL;
        }
        *ret = role;
        return 0;
}

int ignition_cli_read_fleet_ca(const char *cmd, const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = fd < 0 ? -errno : read_fd_capped(fd, IGNITION_FLEET_CA_MAX, &data, &size);
        if (r == 0 && memchr(data ? (const char *) data : "", '\0', size))
                r = -EBADMSG;
        if (r == 0 && !(*ret = memdup_nul(data ? data : (const uint8_t *) "", size)))
                r = -ENOMEM;
        if (r < 0)
                fprintf(stderr, "strata: %s: cannot read the fleet CA %s: %s\n", cmd, path,
                        r == -E2BIG ? "larger than 64 KiB" : r == -EBADMSG ? "not a text file" : strerror(-r));
        return r;
}

int ignition_cli_sysext(const char *cmd, const char *path, bool check, IgnitionRenderOptions *o, char **ret_copy,
                        char sha512[129]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        _cleanup_free_ char *err = NULL;
        int r;

        r = fd < 0 ? -errno : check ? image_sysext_check(fd, &err) : 0;
        if (r == 0)
                r = image_sysext_sha512(fd, sha512);
        if (r < 0) {
                fprintf(stderr, "strata: %s: %s%s: %s\n", cmd, check ? "" : "cannot hash ", path,
                        err ? err : strerror(-r));
                return r;
        }
        *ret_copy = strdup(path);
        if (!*ret_copy)
                return -ENOMEM;
        o->sysext_name = basename(*ret_copy);
        o->sysext_sha512 = sha512;
        return 0;
}

int ignition_cli_load_spec(const char *cmd, const char *path, Spec **ret) {
        SpecErrors errors = {};
        int r = spec_load_file(path, ret, &errors);

        if (r < 0) {
                if (errors.n_items > 0)
                        spec_errors_print(stderr, path, &errors);
                else
                        fprintf(stderr, "strata: %s: cannot read %s: %s\n", cmd, path, strerror(-r));
        }
        spec_errors_clear(&errors);
        return r;
}

int ignition_cli_render(const char *cmd, const Spec *spec, const IgnitionRenderOptions *o, json_t **ret) {
        _cleanup_free_ char *err = NULL;
        int r = ignition_render(spec, o, ret, &err);

        if (r < 0)
                fprintf(stderr, "strata: %s: %s: %s\n", cmd, o->machine, err ? err : strerror(-r));
        return r;
}
