/* lint: Strata's checks on an Ignition config, for what ignition-validate
 * lets through (docs/flatcar-ignition.md §5.6: "threshold: 3, 2 pins" is
 * rc=0; it does not look inside a custom clevis config), no wiping of
 * volumes or filesystems, and the sysext naming systemd-sysext needs; see
 * render.h. */
#include "ignition/render.h"

#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "ignition/data-url.h"

#define HASH_PREFIX "sha512-"

/* The key sources of a clevis sss config's "pins" ({pin: config or
 * [config, ...]}); -1 if it is not one. Tang servers need "thp": Ignition
 * runs `clevis luks bind` with no one to answer its trust prompt. */
static int custom_sss_sources(const json_t *pins, bool *ret_tang, const char **ret_problem) {
        const char *pin;
        json_t *v;
        int n = 0;

        if (!json_is_object(pins) || json_object_size(pins) == 0) {
                *ret_problem = "config has no \"pins\"";
                return -1;
        }
        json_object_foreach((json_t *) pins, pin, v) {
                size_t count = json_is_array(v) ? json_array_size(v) : 1;

                if (strcmp(pin, "tang") == 0) {
                        *ret_tang = true;
                        for (size_t k = 0; k < count; k++) {
                                const json_t *t = json_is_array(v) ? json_array_get(v, k) : v;
                                if (!json_is_string(json_object_get(t, "thp"))) {
                                        *ret_problem = "a tang server without \"thp\" (clevis would ask whether to "
                                                       "trust it, and nobody answers in the initramfs)";
                                        return -1;
                                }
                        }
                } else if (strcmp(pin, "tpm2") != 0) {
                        *ret_problem = "a pin other than tang and tpm2";
                        return -1;
                }
                n += (int) count;
        }
        return n;
}

/* A custom clevis pin: what Ignition passes to `clevis luks bind`. */
static int lint_custom(const json_t *custom, size_t i, char **reterr) {
        const char *pin = json_string_value(json_object_get(custom, "pin"));
        const char *text = json_string_value(json_object_get(custom, "config"));
        const char *problem = NULL;
        json_auto_t *config = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
        json_int_t t;
        bool tang = false;
        int sources;

        if (!pin || (strcmp(pin, "sss") != 0 && strcmp(pin, "tang") != 0 && strcmp(pin, "tpm2") != 0))
                return error_detail_set(reterr, -EINVAL, "$.storage.luks[%zu].clevis.custom.pin: expected sss, tang or tpm2",
                                        i);
        if (!json_is_object(config))
                return error_detail_set(reterr, -EINVAL, "$.storage.luks[%zu].clevis.custom.config: not a JSON object", i);
        if (strcmp(pin, "sss") == 0) {
                sources = custom_sss_sources(json_object_get(config, "pins"), &tang, &problem);
                t = json_integer_value(json_object_get(config, "t"));
                if (sources < 0)
                        return error_detail_set(reterr, -EINVAL, "$.storage.luks[%zu].clevis.custom.config: %s", i,
                                                problem);
                if (!json_is_integer(json_object_get(config, "t")) || t < 1 || t > sources)
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.luks[%zu].clevis.custom.config: threshold \"t\" must be "
                                                "from 1 to its %d key source%s: the volume could never be opened",
                                                i, sources, sources == 1 ? "" : "s");
        } else if (strcmp(pin, "tang") == 0) {
                tang = true;
                if (!json_is_string(json_object_get(config, "thp")))
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.luks[%zu].clevis.custom.config: a tang server without \"thp\"", i);
        }
        if (tang && !json_is_true(json_object_get(custom, "needsNetwork")))
                return error_detail_set(reterr, -EINVAL,
                                        "$.storage.luks[%zu].clevis.custom.needsNetwork: must be true with a tang server "
                                        "(else the initramfs has no network to reach it)", i);
        return 0;
}

static int lint_luks(const json_t *luks, char **reterr) {
        const json_t *l;
        size_t i;

        json_array_foreach(luks, i, l) {
                const json_t *clevis = json_object_get(l, "clevis"), *tang = json_object_get(clevis, "tang"),
                             *threshold = json_object_get(clevis, "threshold"), *t;
                json_int_t want = threshold ? json_integer_value(threshold) : 1;
                size_t sources, k;

                /* a volume that holds anything is never destroyed: Ignition
                 * would wipefs and reformat it, a bound data volume with it */
                if (json_is_true(json_object_get(l, "wipeVolume")))
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.luks[%zu].wipeVolume: Strata never lets Ignition wipe a volume",
                                                i);
                if (!clevis)
                        continue;
                if (json_object_get(clevis, "custom")) {
                        int r = lint_custom(json_object_get(clevis, "custom"), i, reterr);
                        if (r < 0)
                                return r;
                        continue;
                }
                json_array_foreach(tang, k, t)
                        if (!json_is_string(json_object_get(t, "thumbprint")))
                                return error_detail_set(reterr, -EINVAL,
                                                        "$.storage.luks[%zu].clevis.tang[%zu]: no thumbprint", i, k);
                sources = json_array_size(tang) + (json_is_true(json_object_get(clevis, "tpm2")) ? 1 : 0);
                if ((threshold && !json_is_integer(threshold)) || want < 1)
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.luks[%zu].clevis.threshold: must be a number from 1", i);
                if ((size_t) want > sources)
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.luks[%zu].clevis.threshold: %" JSON_INTEGER_FORMAT
                                                " exceeds the %zu key source%s (tang servers + tpm2): the volume "
                                                "could never be opened",
                                                i, want, sources, sources == 1 ? "" : "s");
        }
        return 0;
}

static int lint_filesystems(const json_t *filesystems, char **reterr) {
        const json_t *f;
        size_t i;

        json_array_foreach(filesystems, i, f)
                if (json_is_true(json_object_get(f, "wipeFilesystem")))
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.filesystems[%zu].wipeFilesystem: Strata never lets Ignition "
                                                "wipe a filesystem", i);
        return 0;
}

static const char *basename_of(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

static bool in_dir(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int lint_links(const json_t *links, char **reterr) {
        const json_t *l;
        size_t i;

        json_array_foreach(links, i, l) {
                const char *path = json_string_value(json_object_get(l, "path"));
                const char *target = json_string_value(json_object_get(l, "target"));

                if (!path || !target)
                        continue;
                /* systemd-sysext reads extension-release.NAME, NAME being the
                 * link's name without .raw: only IGNITION_SYSEXT_LINK may
                 * point at a Strata sysext, and it must point at one */
                if (in_dir(target, IGNITION_SYSEXT_DIR) || strcmp(path, IGNITION_SYSEXT_LINK) == 0) {
                        if (strcmp(path, IGNITION_SYSEXT_LINK) != 0)
                                return error_detail_set(reterr, -EINVAL,
                                                        "$.storage.links[%zu].path: the Strata sysext must be linked as "
                                                        IGNITION_SYSEXT_LINK " (its extension-release is "
                                                        IGNITION_SYSEXT_RELEASE_NAME ")", i);
                        if (!in_dir(target, IGNITION_SYSEXT_DIR) || !ignition_sysext_name_is_valid(basename_of(target)))
                                return error_detail_set(reterr, -EINVAL,
                                                        "$.storage.links[%zu].target: expected " IGNITION_SYSEXT_DIR "/"
                                                        IGNITION_SYSEXT_RELEASE_NAME "-VERSION-ARCH.raw", i);
                }
        }
        return 0;
}

static bool hash_is_sha512(const char *h) {
        size_t n;

        if (!h || strncmp(h, HASH_PREFIX, sizeof(HASH_PREFIX) - 1) != 0)
                return false;
        h += sizeof(HASH_PREFIX) - 1;
        for (n = 0; h[n]; n++)
                if (!((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
                        return false;
        return n == 128;
}

static int lint_files(const json_t *files, char **reterr) {
        const json_t *f;
        size_t i;

        json_array_foreach(files, i, f) {
                const char *path = json_string_value(json_object_get(f, "path"));
                const json_t *contents = json_object_get(f, "contents");
                const char *source = json_string_value(json_object_get(contents, "source"));

                if (!path || !in_dir(path, IGNITION_SYSEXT_DIR))
                        continue;
                if (!ignition_sysext_name_is_valid(basename_of(path)))
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.files[%zu].path: not a " IGNITION_SYSEXT_RELEASE_NAME
                                                "-VERSION-ARCH.raw sysext name", i);
                if (source && !data_url_is(source, strlen(source)) &&
                    !hash_is_sha512(json_string_value(json_object_get(json_object_get(contents, "verification"), "hash"))))
                        return error_detail_set(reterr, -EINVAL,
                                                "$.storage.files[%zu].contents.verification.hash: a fetched sysext needs "
                                                "\"sha512-\" and 128 lower-case hex digits", i);
        }
        return 0;
}

int ignition_lint(const json_t *config, char **reterr) {
        const json_t *storage = json_object_get(config, "storage");
        int r;

        if (!json_is_object(config))
                return error_detail_set(reterr, -EINVAL, "$: not a JSON object");
        r = lint_luks(json_object_get(storage, "luks"), reterr);
        if (r < 0)
                return r;
        r = lint_filesystems(json_object_get(storage, "filesystems"), reterr);
        if (r < 0)
                return r;
        r = lint_links(json_object_get(storage, "links"), reterr);
        if (r < 0)
                return r;
        return lint_files(json_object_get(storage, "files"), reterr);
}
