/* Fuzz target for what strata-bmc parses from a request (tools/strata-bmc):
 * the path (path.c) and every body parser (request.c), with each accepted
 * Boot PATCH then applied to a fresh machine under every personality
 * (machine.c). The first input byte picks the parser; the rest is the
 * input. Beyond "no crash, no leak" it checks what the handlers rely on:
 * a refusal is -EINVAL with a message that renders as a Redfish error, a
 * parsed value is in range, and a refused PATCH changes nothing. Seeds in
 * tests/fuzz/fuzz-bmc-request/ (named <parser>-<case>). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/strata-bmc/machine.c"
#include "../../tools/strata-bmc/message.c"
#include "../../tools/strata-bmc/path.c"
#include "../../tools/strata-bmc/personality.c"
#include "../../tools/strata-bmc/request.c"

enum { PARSE_PATH, PARSE_RESET, PARSE_PATCH, PARSE_INSERT, PARSE_EJECT, PARSE_MEDIA_PATCH, PARSE_LOGIN,
       PARSE_FAULTS, _PARSE_MAX };

static void check_refusal(int r, const BmcError *e) {
        if (r == -ENOMEM)
                return;
        if (r != -EINVAL || e->message < 0 || e->message >= _BMC_MSG_MAX || e->status < 400 || e->status > 599)
                abort();
        json_t *j = message_error_json(e);
        if (!j)
                return;
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (!msg)
                abort();
        free(json_dumps(j, JSON_COMPACT));
        json_decref(j);
}

static void apply_everywhere(const BmcBootPatch *patch) {
        for (size_t i = 0; i < personality_table_size; i++)
                for (int settings = 0; settings < 2; settings++) {
                        MachineState *m = calloc(1, sizeof(*m));
                        BmcError e;
                        if (!m)
                                return;
                        machine_init(m, BMC_POWER_ON, personality_table[i].default_mode);
                        uint64_t gen = m->generation;
                        int r = machine_boot_patch(m, &personality_table[i], patch, settings, &e);
                        if (r < 0) {
                                check_refusal(r, &e);
                                if (m->generation != gen || machine_history_size(m) != 0)
                                        abort();
                        } else {
                                const BmcBoot *b = settings ? &m->pending : &m->boot;
                                if (!emu_enabled_to_string(b->enabled) || !emu_target_to_string(b->target) ||
                                    !emu_mode_to_string(b->mode) || strlen(b->http_uri) >= BMC_URI_MAX)
                                        abort();
                                if (b->target != BMC_TARGET_NONE && !personality_allows_target(&personality_table[i], b->target))
                                        abort();
                                /* and a boot consumes it */
                                BmcResetPlan p;
                                if (machine_reset_plan(m, BMC_RESET_FORCE_RESTART, &p) < 0 || !p.boots)
                                        abort();
                                machine_reset_commit(m, &p, p.to);
                                if (m->has_pending || m->boot.enabled == BMC_BOOT_ONCE)
                                        abort();
                        }
                        free(m);
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        BmcError e;
        int r;

        if (size < 1)
                return 0;
        unsigned which = data[0] % _PARSE_MAX;
        const char *body = (const char *) data + 1;
        size--;

        switch (which) {
        case PARSE_PATH: {
                /* not strndup: the input has no NUL for it to stop at */
                char *path = malloc(size + 1);
                BmcPath p;
                if (!path)
                        return 0;
                memcpy(path, body, size);
                path[size] = '\0';
                r = emu_path_parse(path, &p);
                if (r == 0) {
                        if (p.resource < 0 || p.resource >= _BMC_RES_MAX || (p.id[0] && !emu_id_is_valid(p.id)) ||
                            (p.sub[0] && !emu_id_is_valid(p.sub)))
                                abort();
                } else if (r != -ENOENT && r != -EINVAL && r != -ENAMETOOLONG && r != -E2BIG)
                        abort();
                free(path);
                break;
        }
        case PARSE_RESET: {
                BmcResetType t;
                r = emu_reset_parse(body, size, &t, &e);
                if (r == 0 && !emu_reset_to_string(t))
                        abort();
                if (r < 0)
                        check_refusal(r, &e);
                break;
        }
        case PARSE_PATCH: {
                BmcBootPatch b;
                r = emu_system_patch_parse(body, size, &b, &e);
                if (r == 0)
                        apply_everywhere(&b);
                else
                        check_refusal(r, &e);
                break;
        }
        case PARSE_INSERT: {
                BmcInsertMedia m;
                r = emu_insert_media_parse(body, size, &m, &e);
                if (r == 0 && (!strstr(m.image, "://") || strlen(m.image) >= BMC_IMAGE_MAX))
                        abort();
                if (r < 0)
                        check_refusal(r, &e);
                break;
        }
        case PARSE_EJECT: {
                bool has_body;
                r = emu_eject_media_parse(body, size, &has_body, &e);
                if (r < 0)
                        check_refusal(r, &e);
                break;
        }
        case PARSE_MEDIA_PATCH: {
                BmcMediaPatch m;
                r = emu_media_patch_parse(body, size, &m, &e);
                if (r == 0 && m.has_image && !m.image_null && !strstr(m.image, "://"))
                        abort();
                if (r < 0)
                        check_refusal(r, &e);
                break;
        }
        case PARSE_LOGIN: {
                BmcLogin l = { 0 };
                r = emu_login_parse(body, size, &l, &e);
                if (r == 0 && (!l.password || strlen(l.username) >= BMC_USERNAME_MAX))
                        abort();
                if (r < 0) {
                        if (l.password)
                                abort();
                        check_refusal(r, &e);
                }
                secret_free(l.password);
                break;
        }
        case PARSE_FAULTS: {
                BmcFaults f;
                r = emu_faults_parse_text(body, size, &f, &e);
                if (r == 0) {
                        if (f.n_fail > BMC_FAULTS_MAX || f.hang_ms > BMC_HANG_MS_MAX)
                                abort();
                        for (size_t i = 0; i < f.n_fail; i++)
                                if (f.fail_next[i] < 400 || f.fail_next[i] > 599)
                                        abort();
                } else
                        check_refusal(r, &e);
                break;
        }
        }
        return 0;
}
