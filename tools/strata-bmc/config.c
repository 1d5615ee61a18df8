/* The configuration file: JSON naming the machines one strata-bmc serves.
 *
 *   { "personality": "generic",        service root Vendor/Product and
 *                                      SessionService (default: machine 0's)
 *     "sessions": true,                false: basic auth only
 *     "session_timeout": 300,          seconds of idleness
 *     "uuid": "...",                   service root UUID (default: random)
 *     "machines": [ {
 *         "id": "node1", "name": "...", "uuid": "...", "serial": "...",
 *         "macs": ["52:54:00:00:00:01"],
 *         "backend": "memory" | "qemu",
 *         "qemu": { "qmp": "/run/lab/node1.qmp", "nic": "nic0", "disk": "disk0",
 *                   "cdrom": "cd0", "boot_order": ["disk", "cdrom", "nic"] },
 *         "personality": "generic" | "generic-nosessions" | "dell" | "hpe" |
 *                        "supermicro" | "lenovo" | "openbmc" | "ami",
 *         "username": "admin", "password_file": "node1.pw",
 *         "power": "Off", "boot_mode": "UEFI", "task_ms": 500,
 *         "faults": { "fail_next": [500, 503], "hang_ms": 0, "hang_next": 0 } } ] }
 *
 * password_file is relative to the config file's directory; one trailing
 * newline is dropped. Faults apply to requests for the machine's own
 * resources (Systems/{id}/..., Managers/{id}/...), not to the service root,
 * sessions or tasks: fail_next answers the next requests with those
 * statuses (503 with Retry-After: 1), hang_ms holds every answer (or the
 * next hang_next ones) that long without blocking other requests; PUT
 * /strata-bmc/v1/faults/{id} replaces them at run time. Every refusal
 * names its JSON path. */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "bmc.h"
#include "core/cleanup.h"

typedef struct ConfigError {
        char *buf;
        size_t size;
} ConfigError;

static int fail(ConfigError *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ConfigError *e, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->size, fmt, ap);
        va_end(ap);
        return r;
}

static void json_autop(json_t **j) {
        json_decref(*j);
}

static bool uuid_valid(const char *s) {
        if (strlen(s) != BMC_UUID_LEN)
                return false;
        for (size_t i = 0; i < BMC_UUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        }
        return true;
}

/* "52:54:00:AB:cd:01" (or with dashes) into lower case with colons */
static int mac_normalize(const char *s, char out[BMC_MAC_LEN + 1]) {
        if (strlen(s) != BMC_MAC_LEN)
                return -EINVAL;
        for (size_t i = 0; i < BMC_MAC_LEN; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':' && s[i] != '-')
                                return -EINVAL;
                        out[i] = ':';
                } else if (strchr("0123456789abcdef", s[i]))
                        out[i] = s[i];
                else if (strchr("ABCDEF", s[i]))
                        out[i] = (char) (s[i] - 'A' + 'a');
                else
                        return -EINVAL;
        }
        out[BMC_MAC_LEN] = '\0';
        return 0;
}

static int random_uuid(char out[BMC_UUID_LEN + 1]) {
        uint8_t u[16];
        if (getrandom(u, sizeof(u), 0) != (ssize_t) sizeof(u))
                return -EIO;
        u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40);
        u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80);
        snprintf(out, BMC_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        return 0;
}

/* An optional string member no longer than `max - 1`; -EINVAL otherwise. */
static int get_string(const json_t *o, const char *key, const char *path, char *dst, size_t max, bool required,
                      ConfigError *e) {
        json_t *v = json_object_get(o, key);
        if (!v) {
                if (required)
                        return fail(e, -EINVAL, "%s.%s: missing", path, key);
                return 0;
        }
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= max ||
            strlen(json_string_value(v)) != json_string_length(v))
                return fail(e, -EINVAL, "%s.%s: expected a string of 1 to %zu characters", path, key, max - 1);
        snprintf(dst, max, "%s", json_string_value(v));
        return 1;
}

static int check_keys(const json_t *o, const char *path, const char *const *known, ConfigError *e) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *) o, key, v) {
                bool ok = false;
                for (size_t i = 0; known[i] && !ok; i++)
                        ok = strcmp(key, known[i]) == 0;
                if (!ok)
                        return fail(e, -EINVAL, "%s: unknown key \"%s\"", path, key);
        }
        return 0;
}

static int read_password(const char *dir, const char *file, const char *path, Secret **ret, ConfigError *e) {
        char full[4096];
        int n = file[0] == '/' ? snprintf(full, sizeof(full), "%s", file)
                               : snprintf(full, sizeof(full), "%s/%s", dir, file);
        if (n < 0 || (size_t) n >= sizeof(full))
                return fail(e, -ENAMETOOLONG, "%s.password_file: path too long", path);
        FILE *f = fopen(full, "re");
        if (!f)
                return fail(e, -errno, "%s.password_file: %s: %s", path, full, strerror(errno));
        _cleanup_(secret_freep) Secret *s = secret_new(BMC_PASSWORD_MAX + 1);
        if (!s) {
                fclose(f);
                return -ENOMEM;
        }
        size_t len = fread(s->data, 1, BMC_PASSWORD_MAX + 1, f);
        fclose(f);
        if (len > BMC_PASSWORD_MAX)
                return fail(e, -E2BIG, "%s.password_file: longer than %u bytes", path, BMC_PASSWORD_MAX);
        if (len > 0 && s->data[len - 1] == '\n')
                len--;
        if (len == 0)
                return fail(e, -EINVAL, "%s.password_file: %s is empty", path, full);
        /* the buffer stays whole for the wipe; size is what is compared */
        secret_wipe(s->data + len, BMC_PASSWORD_MAX + 1 - len);
        s->size = len;
        *ret = take_ptr(s);
        return 0;
}

static int parse_qemu(const json_t *q, const char *path, QemuConfig *c, ConfigError *e) {
        static const char *const keys[] = { "qmp", "nic", "disk", "cdrom", "boot_order", NULL };
        char p[64];
        int r;

        snprintf(p, sizeof(p), "%s.qemu", path);
        if (!json_is_object(q))
                return fail(e, -EINVAL, "%s: expected an object with \"qmp\"", p);
        if ((r = check_keys(q, p, keys, e)) < 0 || (r = get_string(q, "qmp", p, c->qmp, sizeof(c->qmp), true, e)) < 0)
                return r;
        for (QemuDevice d = 0; d < _QEMU_DEVICE_MAX; d++) {
                const char *key = d == QEMU_DEVICE_DISK ? "disk" : d == QEMU_DEVICE_NIC ? "nic" : "cdrom";
                if ((r = get_string(q, key, p, c->devices[d], sizeof(c->devices[d]), false, e)) < 0)
                        return r;
                if (r > 0 && !emu_id_is_valid(c->devices[d]))
                        return fail(e, -EINVAL, "%s.%s: not a qdev id", p, key);
        }
        json_t *order = json_object_get(q, "boot_order");
        if (!order) {
                static const QemuDevice def[] = { QEMU_DEVICE_DISK, QEMU_DEVICE_CDROM, QEMU_DEVICE_NIC };
                for (size_t i = 0; i < _QEMU_DEVICE_MAX; i++)
                        c->boot_order[c->n_boot_order++] = def[i];
                return 0;
        }
        size_t i;
        json_t *v;
        if (!json_is_array(order) || json_array_size(order) > _QEMU_DEVICE_MAX)
                return fail(e, -EINVAL, "%s.boot_order: expected an array of \"disk\", \"cdrom\", \"nic\"", p);
        json_array_foreach(order, i, v) {
                QemuDevice d = qemu_device_from_string(json_string_value(v));
                if (d < 0)
                        return fail(e, -EINVAL, "%s.boot_order[%zu]: expected \"disk\", \"cdrom\" or \"nic\"", p, i);
                for (size_t k = 0; k < c->n_boot_order; k++)
                        if (c->boot_order[k] == d)
                                return fail(e, -EINVAL, "%s.boot_order[%zu]: listed twice", p, i);
                c->boot_order[c->n_boot_order++] = d;
        }
        return 0;
}

static int parse_machine(Bmc *b, const json_t *o, size_t index, const char *dir, ConfigError *e) {
        static const char *const keys[] = { "id", "name", "uuid", "serial", "macs", "backend", "qemu",
                                            "personality", "username", "password_file", "power", "boot_mode",
                                            "task_ms", "faults", NULL };
        BmcMachine *m = &b->machines[index];
        char path[32], buf[64], file[1024];
        json_t *v;
        int r;

        snprintf(path, sizeof(path), "machines[%zu]", index);
        if (!json_is_object(o))
                return fail(e, -EINVAL, "%s: expected an object", path);
        if ((r = check_keys(o, path, keys, e)) < 0)
                return r;
        m->index = index;
        if ((r = get_string(o, "id", path, m->id, sizeof(m->id), true, e)) < 0)
                return r;
        if (!emu_id_is_valid(m->id))
                return fail(e, -EINVAL, "%s.id: only letters, digits and ._~:@- are allowed", path);
        for (size_t i = 0; i < index; i++)
                if (strcmp(b->machines[i].id, m->id) == 0)
                        return fail(e, -EEXIST, "%s.id: \"%s\" is used twice", path, m->id);
        if ((r = get_string(o, "name", path, m->name, sizeof(m->name), false, e)) < 0)
                return r;
        if (r == 0)
                snprintf(m->name, sizeof(m->name), "%s", m->id);
        if ((r = get_string(o, "uuid", path, m->uuid, sizeof(m->uuid), true, e)) < 0)
                return r;
        if (!uuid_valid(m->uuid))
                return fail(e, -EINVAL, "%s.uuid: expected 8-4-4-4-12 hex digits", path);
        if ((r = get_string(o, "serial", path, m->serial, sizeof(m->serial), false, e)) < 0)
                return r;

        v = json_object_get(o, "macs");
        if (v) {
                size_t i;
                json_t *mac;
                if (!json_is_array(v) || json_array_size(v) > BMC_MACS_MAX)
                        return fail(e, -EINVAL, "%s.macs: expected an array of at most %u MACs", path, BMC_MACS_MAX);
                json_array_foreach(v, i, mac)
                        if (!json_is_string(mac) || mac_normalize(json_string_value(mac), m->macs[m->n_macs++]) < 0)
                                return fail(e, -EINVAL, "%s.macs[%zu]: expected xx:xx:xx:xx:xx:xx", path, i);
        }

        m->personality = personality_find("generic");
        if ((r = get_string(o, "personality", path, buf, sizeof(buf), false, e)) < 0)
                return r;
        if (r > 0 && !(m->personality = personality_find(buf)))
                return fail(e, -EINVAL, "%s.personality: unknown \"%s\" (see --help)", path, buf);

        m->backend = &backend_memory;
        if ((r = get_string(o, "backend", path, buf, sizeof(buf), false, e)) < 0)
                return r;
        if (r > 0 && strcmp(buf, "qemu") == 0)
                m->backend = &backend_qemu;
        else if (r > 0 && strcmp(buf, "memory") != 0)
                return fail(e, -EINVAL, "%s.backend: expected \"memory\" or \"qemu\"", path);
        v = json_object_get(o, "qemu");
        if (m->backend == &backend_qemu && !v)
                return fail(e, -EINVAL, "%s.qemu: required for the qemu back end", path);
        if (v && (r = parse_qemu(v, path, &m->qemu, e)) < 0)
                return r;

        if ((r = get_string(o, "username", path, m->username, sizeof(m->username), true, e)) < 0 ||
            (r = get_string(o, "password_file", path, file, sizeof(file), true, e)) < 0 ||
            (r = read_password(dir, file, path, &m->password, e)) < 0)
                return r;

        BmcPower power = BMC_POWER_OFF;
        if ((r = get_string(o, "power", path, buf, sizeof(buf), false, e)) < 0)
                return r;
        if (r > 0 && strcmp(buf, "On") == 0)
                power = BMC_POWER_ON;
        else if (r > 0 && strcmp(buf, "Off") != 0)
                return fail(e, -EINVAL, "%s.power: expected \"On\" or \"Off\"", path);
        BmcBootMode mode = m->personality->default_mode;
        if ((r = get_string(o, "boot_mode", path, buf, sizeof(buf), false, e)) < 0)
                return r;
        if (r > 0 && (mode = emu_mode_from_string(buf)) < 0)
                return fail(e, -EINVAL, "%s.boot_mode: expected \"UEFI\" or \"Legacy\"", path);

        m->task_ms = BMC_TASK_MS_DEFAULT;
        v = json_object_get(o, "task_ms");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > BMC_TASK_MS_MAX)
                        return fail(e, -EINVAL, "%s.task_ms: expected 0 to %u", path, BMC_TASK_MS_MAX);
                m->task_ms = (unsigned) json_integer_value(v);
        }
        v = json_object_get(o, "faults");
        if (v) {
                BmcError fe;
                if (emu_faults_parse(v, &m->faults, &fe) < 0)
                        return fail(e, -EINVAL, "%s.faults: %s %s", path, message_id(fe.message), fe.args[0]);
        }

        m->state = calloc(1, sizeof(*m->state));
        if (!m->state)
                return -ENOMEM;
        machine_init(m->state, power, mode);
        return 0;
}

int emu_config_load(Bmc *b, const char *path, const BmcConfigOptions *opts, char *reterr, size_t reterr_size) {
        static const char *const keys[] = { "machines", "personality", "sessions", "session_timeout", "uuid", NULL };
        ConfigError e = { reterr, reterr_size };
        _cleanup_(json_autop) json_t *root = NULL;
        _cleanup_free_ char *dir_copy = strdup(path);
        json_error_t jerr;
        json_t *machines, *v;
        char buf[64];
        int r;

        if (!dir_copy)
                return -ENOMEM;
        FILE *f = fopen(path, "re");
        struct stat st;
        if (!f)
                return fail(&e, -errno, "%s: %s", path, strerror(errno));
        if (fstat(fileno(f), &st) < 0 || st.st_size > (off_t) BMC_CONFIG_MAX) {
                fclose(f);
                return fail(&e, -E2BIG, "%s: not a regular file of at most %u bytes", path, BMC_CONFIG_MAX);
        }
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
        fclose(f);
        if (!root)
                return fail(&e, -EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        if (!json_is_object(root))
                return fail(&e, -EINVAL, "%s: expected an object with \"machines\"", path);
        if ((r = check_keys(root, "$", keys, &e)) < 0)
                return r;

        machines = json_object_get(root, "machines");
        if (!json_is_array(machines) || json_array_size(machines) == 0 || json_array_size(machines) > BMC_MACHINES_MAX)
                return fail(&e, -EINVAL, "machines: expected an array of 1 to %u machines", BMC_MACHINES_MAX);
        b->machines = calloc(json_array_size(machines), sizeof(BmcMachine));
        if (!b->machines)
                return -ENOMEM;
        b->n_machines = json_array_size(machines);
        const char *dir = dirname(dir_copy); /* in place: once */
        for (size_t i = 0; i < b->n_machines; i++) {
                if ((r = parse_machine(b, json_array_get(machines, i), i, dir, &e)) < 0)
                        return r;
                if (b->machines[i].backend == &backend_memory)
                        b->machines[i].on_power_on = opts->on_power_on;
        }

        b->personality = b->machines[0].personality;
        if ((r = get_string(root, "personality", "$", buf, sizeof(buf), false, &e)) < 0)
                return r;
        if (r > 0 && !(b->personality = personality_find(buf)))
                return fail(&e, -EINVAL, "personality: unknown \"%s\"", buf);
        b->sessions = !(b->personality->flags & PERS_NO_SESSIONS) && !opts->no_sessions;
        v = json_object_get(root, "sessions");
        if (v && !json_is_boolean(v))
                return fail(&e, -EINVAL, "sessions: expected true or false");
        if (json_is_false(v))
                b->sessions = false;
        b->session_timeout_s = BMC_SESSION_TIMEOUT_DEFAULT_S;
        v = json_object_get(root, "session_timeout");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > BMC_SESSION_TIMEOUT_MAX_S)
                        return fail(&e, -EINVAL, "session_timeout: expected 1 to %u seconds", BMC_SESSION_TIMEOUT_MAX_S);
                b->session_timeout_s = (unsigned) json_integer_value(v);
        }
        if ((r = get_string(root, "uuid", "$", b->uuid, sizeof(b->uuid), false, &e)) < 0)
                return r;
        if (r > 0 && !uuid_valid(b->uuid))
                return fail(&e, -EINVAL, "uuid: expected 8-4-4-4-12 hex digits");
        if (r == 0 && (r = random_uuid(b->uuid)) < 0)
                return fail(&e, r, "uuid: no randomness");
        return 0;
}

BmcMachine *emu_machine_find(Bmc *b, const char *id) {
        for (size_t i = 0; i < b->n_machines; i++)
                if (strcmp(b->machines[i].id, id) == 0)
                        return &b->machines[i];
        return NULL;
}

void emu_done(Bmc *b) {
        auth_done(b);
        for (size_t i = 0; b->machines && i < b->n_machines; i++) {
                free(b->machines[i].state);
                secret_free(b->machines[i].password);
        }
        free(b->machines);
        b->machines = NULL;
        b->n_machines = 0;
}
