/* ignition-lite-config: the checks ignition-lite runs on a config before it
 * touches anything; see ignition-lite-config.h. Errors name the JSON path. */
#include "ignition-lite-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ignition/data-url.h"

/* A JSON path with [] for array members, and the type its value must have:
 * o object, a array, s string, b boolean, i integer. null is accepted for
 * everything, as Ignition takes it for "not set". Strata's templates emit
 * nothing else (the lab guest tests render real configs and apply them). */
static const struct {
        const char *path;
        char type;
} known_fields[] = {
        { "ignition", 'o' },
        { "ignition.version", 's' },
        { "storage", 'o' },
        { "storage.directories", 'a' },
        { "storage.directories[]", 'o' },
        { "storage.directories[].path", 's' },
        { "storage.directories[].mode", 'i' },
        { "storage.directories[].overwrite", 'b' },
        { "storage.files", 'a' },
        { "storage.files[]", 'o' },
        { "storage.files[].path", 's' },
        { "storage.files[].mode", 'i' },
        { "storage.files[].overwrite", 'b' },
        { "storage.files[].contents", 'o' },
        { "storage.files[].contents.source", 's' },
        { "storage.files[].contents.verification", 'o' },
        { "storage.files[].contents.verification.hash", 's' },
        { "storage.links", 'a' },
        { "storage.links[]", 'o' },
        { "storage.links[].path", 's' },
        { "storage.links[].target", 's' },
        { "storage.links[].overwrite", 'b' },
        { "storage.links[].hard", 'b' },
        { "storage.luks", 'a' },
        { "storage.luks[]", 'o' },
        { "storage.luks[].name", 's' },
        { "storage.luks[].device", 's' },
        { "storage.luks[].wipeVolume", 'b' },
        { "storage.luks[].clevis", 'o' },
        { "storage.luks[].clevis.tpm2", 'b' },
        { "storage.luks[].clevis.threshold", 'i' },
        { "storage.luks[].clevis.tang", 'a' },
        { "storage.luks[].clevis.tang[]", 'o' },
        { "storage.luks[].clevis.tang[].url", 's' },
        { "storage.luks[].clevis.tang[].thumbprint", 's' },
        { "storage.luks[].clevis.custom", 'o' },
        { "storage.luks[].clevis.custom.pin", 's' },
        { "storage.luks[].clevis.custom.config", 's' },
        { "storage.luks[].clevis.custom.needsNetwork", 'b' },
        { "storage.filesystems", 'a' },
        { "storage.filesystems[]", 'o' },
        { "storage.filesystems[].device", 's' },
        { "storage.filesystems[].format", 's' },
        { "storage.filesystems[].label", 's' },
        { "storage.filesystems[].path", 's' },
        { "storage.filesystems[].wipeFilesystem", 'b' },
        { "systemd", 'o' },
        { "systemd.units", 'a' },
        { "systemd.units[]", 'o' },
        { "systemd.units[].name", 's' },
        { "systemd.units[].enabled", 'b' },
        { "systemd.units[].mask", 'b' },
        { "systemd.units[].contents", 's' },
        { "systemd.units[].dropins", 'a' },
        { "systemd.units[].dropins[]", 'o' },
        { "systemd.units[].dropins[].name", 's' },
        { "systemd.units[].dropins[].contents", 's' },
};

/* The unit types a config may carry (systemd.unit(5)); anything else would
 * be a file systemd ignores, so a typo would pass silently. */
static const char *const unit_suffixes[] = { ".service", ".socket", ".target", ".mount", ".automount",
                                             ".timer", ".path", ".swap", ".slice" };

static int vfail(char err[IGNITION_LITE_ERR_MAX], const char *where, const char *field, const char *fmt,
                 va_list ap) {
        int n = snprintf(err, IGNITION_LITE_ERR_MAX, "%s%s%s: ", where, field ? "." : "", field ? field : "");

        if (n < 0 || n >= IGNITION_LITE_ERR_MAX)
                return -1;
        vsnprintf(err + n, IGNITION_LITE_ERR_MAX - (size_t) n, fmt, ap);
        /* keys and values are the sender's text; the message is one line */
        for (char *c = err; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = '?';
        return -1;
}

/* "PATH: what"; -1 */
__attribute__((format(printf, 3, 4))) static int fail(char err[IGNITION_LITE_ERR_MAX], const char *path,
                                                      const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfail(err, path, NULL, fmt, ap);
        va_end(ap);
        return -1;
}

/* "WHERE.FIELD: what" for a field of the entry at WHERE; -1 */
__attribute__((format(printf, 4, 5))) static int fail_at(char err[IGNITION_LITE_ERR_MAX], const char *where,
                                                         const char *field, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfail(err, where, field, fmt, ap);
        va_end(ap);
        return -1;
}

static char field_type(const char *generic) {
        for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++)
                if (strcmp(known_fields[i].path, generic) == 0)
                        return known_fields[i].type;
        return 0;
}

static bool has_type(const json_t *v, char type) {
        switch (type) {
        case 'o': return json_is_object(v);
        case 'a': return json_is_array(v);
        case 's': return json_is_string(v);
        case 'b': return json_is_boolean(v);
        case 'i': return json_is_integer(v);
        }
        return false;
}

static const char *type_name(char type) {
        switch (type) {
        case 'o': return "an object";
        case 'a': return "an array";
        case 's': return "a string";
        case 'b': return "a boolean";
        }
        return "an integer";
}

/* Walks the config; `generic` is the path with [] for indices (the table's
 * form), `shown` the one printed ($.storage.files[3].user). The table is
 * at most five levels deep, so is the walk. */
static int check_fields(const json_t *v, const char *generic, const char *shown, char *err) {
        char g[256], s[IGNITION_LITE_ERR_MAX / 2];
        const char *key;
        const json_t *child;
        size_t i;
        char type;

        if (json_is_object(v)) {
                json_object_foreach((json_t *) v, key, child) {
                        snprintf(g, sizeof(g), "%s%s%s", generic, *generic ? "." : "", key);
                        snprintf(s, sizeof(s), "%s.%s", shown, key);
                        type = field_type(g);
                        if (!type)
                                return fail(err, s, "not supported by the lab guest's Ignition (it applies only "
                                                    "the fields Strata's templates emit)");
                        if (!json_is_null(child) && !has_type(child, type))
                                return fail(err, s, "must be %s", type_name(type));
                        if (check_fields(child, g, s, err) < 0)
                                return -1;
                }
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, child) {
                        snprintf(g, sizeof(g), "%s[]", generic);
                        snprintf(s, sizeof(s), "%s[%zu]", shown, i);
                        type = field_type(g);
                        if (!type)
                                return fail(err, s, "not supported by the lab guest's Ignition");
                        if (!has_type(child, type))
                                return fail(err, s, "must be %s", type_name(type));
                        if (check_fields(child, g, s, err) < 0)
                                return -1;
                }
        }
        return 0;
}

static const char *str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

bool ignition_lite_path_ok(const char *path) {
        size_t n = path ? strlen(path) : 0;

        if (n == 0 || path[0] != '/' || n >= IGNITION_LITE_PATH_MAX / 2)
                return false;
        if (n == 1)
                return true;
        if (path[n - 1] == '/')
                return false;
        for (const char *c = path; *c; c++) {
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
                if (*c != '/')
                        continue;
                /* the component after this '/' */
                size_t len = strcspn(c + 1, "/");
                if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
                        return false;
        }
        return true;
}

static int check_path(const json_t *e, const char *key, bool required, const char *where, char *err) {
        const char *path = str(e, key);

        if (!path && !required)
                return 0;
        if (!ignition_lite_path_ok(path))
                return fail_at(err, where, key, "must be an absolute, normalised path");
        return 0;
}

static int check_mode(const json_t *e, const char *where, char *err) {
        const json_t *m = json_object_get(e, "mode");

        if (json_is_integer(m) && (json_integer_value(m) < 0 || json_integer_value(m) > 07777))
                return fail_at(err, where, "mode", "%lld is not a file mode (0 to 07777)",
                            (long long) json_integer_value(m));
        return 0;
}

static bool is_http_url(const char *s) {
        const char *host = strncmp(s, "http://", 7) == 0 ? s + 7 : strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;

        if (!host || !*host || *host == '/')
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= 0x20 || *c == 0x7f)
                        return false;
        return true;
}

static bool is_lower_hex(const char *s, size_t n) {
        if (strlen(s) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int check_file(const json_t *e, const char *where, char *err) {
        const json_t *contents = json_object_get(e, "contents");
        const char *source = str(contents, "source");
        const char *hash = str(json_object_get(contents, "verification"), "hash");

        if (check_path(e, "path", true, where, err) < 0 || check_mode(e, where, err) < 0)
                return -1;
        if (source && data_url_is(source, strlen(source))) {
                uint8_t *data = NULL;
                size_t n = 0;
                int r = data_url_decode(source, strlen(source), &data, &n);
                free(data);
                if (r < 0)
                        return fail_at(err, where, "contents.source", "cannot decode the data: URL: %s", strerror(-r));
        } else if (source && !is_http_url(source))
                return fail_at(err, where, "contents.source", "only data:, http: and https: sources are supported");
        if (hash && (strncmp(hash, "sha512-", 7) != 0 || !is_lower_hex(hash + 7, 128)))
                return fail_at(err, where, "contents.verification.hash", "must be sha512-<128 lowercase hex digits>");
        return 0;
}

static int check_link(const json_t *e, const char *where, char *err) {
        const char *target = str(e, "target");

        if (check_path(e, "path", true, where, err) < 0)
                return -1;
        if (!target || !*target)
                return fail_at(err, where, "target", "is required");
        if (json_is_true(json_object_get(e, "hard")))
                return fail_at(err, where, "hard", "true is not supported (hard links)");
        return 0;
}

static int check_clevis(const json_t *clevis, const char *where, char *err) {
        const json_t *custom = json_object_get(clevis, "custom"), *tang = json_object_get(clevis, "tang"), *t;
        const json_t *threshold = json_object_get(clevis, "threshold");
        size_t i, sources;

        if (!json_is_object(clevis))
                return fail_at(err, where, "clevis", "is required: a volume without clevis would need a key file");
        if (custom && !json_is_null(custom)) {
                const char *pin = str(custom, "pin"), *config = str(custom, "config");
                json_t *parsed;

                if (!pin || (strcmp(pin, "sss") != 0 && strcmp(pin, "tang") != 0 && strcmp(pin, "tpm2") != 0))
                        return fail_at(err, where, "clevis.custom.pin", "must be sss, tang or tpm2");
                parsed = config ? json_loads(config, JSON_REJECT_DUPLICATES, NULL) : NULL;
                if (!json_is_object(parsed)) {
                        json_decref(parsed);
                        return fail_at(err, where, "clevis.custom.config", "must be a JSON object");
                }
                json_decref(parsed);
                return 0;
        }
        json_array_foreach(tang, i, t)
                if (!str(t, "url") || !is_http_url(str(t, "url"))) {
                        char field[48];
                        snprintf(field, sizeof(field), "clevis.tang[%zu].url", i);
                        return fail_at(err, where, field, "must be an http(s) URL");
                }
        sources = json_array_size(tang) + (json_is_true(json_object_get(clevis, "tpm2")) ? 1 : 0);
        if (sources == 0)
                return fail_at(err, where, "clevis", "has neither tang nor tpm2: nothing to bind the volume to");
        if (json_is_integer(threshold) &&
            (json_integer_value(threshold) < 1 || (size_t) json_integer_value(threshold) > sources))
                return fail_at(err, where, "clevis.threshold", "%lld is not within 1 to the %zu key sources",
                            (long long) json_integer_value(threshold), sources);
        return 0;
}

static int check_luks(const json_t *e, const char *where, char *err) {
        const char *name = str(e, "name");

        if (!name || !*name || strlen(name) > 127 || strchr(name, '/') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0)
                return fail_at(err, where, "name", "must be a device-mapper name (no '/', 127 bytes at most)");
        if (check_path(e, "device", true, where, err) < 0)
                return -1;
        if (json_is_true(json_object_get(e, "wipeVolume")))
                return fail_at(err, where, "wipeVolume", "true is not supported (Strata never wipes a volume)");
        return check_clevis(json_object_get(e, "clevis"), where, err);
}

static int check_filesystem(const json_t *e, const char *where, char *err) {
        const char *format = str(e, "format"), *label = str(e, "label");

        if (check_path(e, "device", true, where, err) < 0 || check_path(e, "path", false, where, err) < 0)
                return -1;
        if (json_is_true(json_object_get(e, "wipeFilesystem")))
                return fail_at(err, where, "wipeFilesystem", "true is not supported (Strata never wipes a file system)");
        if (!format || strcmp(format, "ext4") != 0)
                return fail_at(err, where, "format", "only ext4 is supported, got \"%s\"", format ? format : "(none)");
        /* ext4's label field is 16 bytes */
        if (label && (strlen(label) > 16 || strpbrk(label, "\n\r\t")))
                return fail_at(err, where, "label", "must be at most 16 bytes on one line");
        return 0;
}

/* A unit or drop-in file name systemd would load: its characters
 * (systemd's unit_name_is_valid) and, for a unit, a type suffix; no path,
 * no line break (the name also goes into the preset file). */
static bool is_unit_file_name(const char *s, bool dropin) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 255 || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      strchr(":_.\\@-", s[i])))
                        return false;
        if (dropin)
                return n > 5 && strcmp(s + n - 5, ".conf") == 0;
        for (size_t i = 0; i < sizeof(unit_suffixes) / sizeof(unit_suffixes[0]); i++) {
                size_t k = strlen(unit_suffixes[i]);
                if (n > k && strcmp(s + n - k, unit_suffixes[i]) == 0)
                        return true;
        }
        return false;
}

static int check_unit(const json_t *e, size_t i, char *err) {
        const json_t *d;
        char where[96];
        size_t k;

        snprintf(where, sizeof(where), "$.systemd.units[%zu]", i);
        if (!is_unit_file_name(str(e, "name"), false))
                return fail_at(err, where, "name", "must be a unit name (letters, digits, \":_.\\@-\" and a unit type suffix)");
        json_array_foreach(json_object_get(e, "dropins"), k, d) {
                snprintf(where, sizeof(where), "$.systemd.units[%zu].dropins[%zu]", i, k);
                if (!is_unit_file_name(str(d, "name"), true) || !str(d, "contents"))
                        return fail_at(err, where, str(d, "contents") ? "name" : "contents", "a drop-in needs a name ending in .conf and contents");
        }
        return 0;
}

static const char *const versions[] = { "3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0" };

int ignition_lite_check(const json_t *config, char err[IGNITION_LITE_ERR_MAX]) {
        const json_t *storage = json_object_get(config, "storage"), *e;
        const char *version = str(json_object_get(config, "ignition"), "version");
        size_t i, mounts = 0;
        char where[64];
        bool known = false;

        err[0] = '\0';
        if (!json_is_object(config))
                return fail(err, "$", "not a JSON object");
        if (check_fields(config, "", "$", err) < 0)
                return -1;
        for (i = 0; version && i < sizeof(versions) / sizeof(versions[0]); i++)
                known = known || strcmp(version, versions[i]) == 0;
        if (!known)
                return fail(err, "$.ignition.version", "expected 3.0.0 to 3.4.0, got \"%s\"",
                            version ? version : "(none)");
        if (json_array_size(json_object_get(storage, "luks")) > IGNITION_LITE_LUKS_MAX)
                return fail(err, "$.storage.luks", "more than %d volumes", IGNITION_LITE_LUKS_MAX);
        json_array_foreach(json_object_get(storage, "luks"), i, e) {
                snprintf(where, sizeof(where), "$.storage.luks[%zu]", i);
                if (check_luks(e, where, err) < 0)
                        return -1;
        }
        json_array_foreach(json_object_get(storage, "filesystems"), i, e) {
                snprintf(where, sizeof(where), "$.storage.filesystems[%zu]", i);
                if (check_filesystem(e, where, err) < 0)
                        return -1;
                if (str(e, "path") && ++mounts > IGNITION_LITE_MOUNTS_MAX)
                        return fail_at(err, where, "path", "more than %d mounts", IGNITION_LITE_MOUNTS_MAX);
        }
        json_array_foreach(json_object_get(storage, "directories"), i, e) {
                snprintf(where, sizeof(where), "$.storage.directories[%zu]", i);
                if (check_path(e, "path", true, where, err) < 0 || check_mode(e, where, err) < 0)
                        return -1;
        }
        json_array_foreach(json_object_get(storage, "files"), i, e) {
                snprintf(where, sizeof(where), "$.storage.files[%zu]", i);
                if (check_file(e, where, err) < 0)
                        return -1;
        }
        json_array_foreach(json_object_get(storage, "links"), i, e) {
                snprintf(where, sizeof(where), "$.storage.links[%zu]", i);
                if (check_link(e, where, err) < 0)
                        return -1;
        }
        json_array_foreach(json_object_get(json_object_get(config, "systemd"), "units"), i, e)
                if (check_unit(e, i, err) < 0)
                        return -1;
        return 0;
}

int ignition_lite_clevis(const json_t *clevis, char **ret_pin, char **ret_config) {
        const json_t *custom = json_object_get(clevis, "custom"), *t;
        json_t *pins = json_object(), *list = json_array(), *cfg = NULL;
        json_int_t threshold = json_integer_value(json_object_get(clevis, "threshold"));
        size_t i;
        int r = -1;

        *ret_pin = *ret_config = NULL;
        if (!pins || !list)
                goto out;
        if (custom && !json_is_null(custom)) {
                *ret_pin = strdup(str(custom, "pin"));
                *ret_config = strdup(str(custom, "config"));
                r = 0;
                goto out;
        }
        json_array_foreach(json_object_get(clevis, "tang"), i, t) {
                const char *thp = str(t, "thumbprint");
                if (json_array_append_new(list, thp ? json_pack("{s:s,s:s}", "url", str(t, "url"), "thp", thp)
                                                    : json_pack("{s:s}", "url", str(t, "url"))) < 0)
                        goto out;
        }
        if (json_array_size(list) > 0 && json_object_set(pins, "tang", list) < 0)
                goto out;
        if (json_is_true(json_object_get(clevis, "tpm2")) && json_object_set_new(pins, "tpm2", json_pack("[{}]")) < 0)
                goto out;
        cfg = json_pack("{s:I,s:O}", "t", threshold > 0 ? threshold : (json_int_t) 1, "pins", pins);
        *ret_pin = strdup("sss");
        *ret_config = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        r = 0;
out:
        json_decref(cfg);
        json_decref(list);
        json_decref(pins);
        if (r == 0 && (!*ret_pin || !*ret_config))
                r = -1;
        if (r < 0) {
                free(*ret_pin);
                free(*ret_config);
                *ret_pin = *ret_config = NULL;
        }
        return r;
}
