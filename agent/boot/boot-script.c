/* boot-script: fills in the per-machine iPXE script template
 * (images/pxe/boot.ipxe, embedded by boot-script-template.S) with the
 * shared placeholder substitution of the Ignition templates; see
 * boot-script.h. Values are checked, not escaped: iPXE has no quoting
 * that all the versions in the field understand, so a value it could read
 * as anything but plain arguments is refused. */
#include "boot/boot-script.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot-leases.h"
#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "ignition/template.h"

#define BOOT_SCRIPT_FILE "images/pxe/boot.ipxe"
/* "http://" + address + ":" + port + "/boot/" + MAC */
#define BOOT_SCRIPT_URL_MAX 128u

/* agent/boot/boot-script-template.S */
extern const char boot_script_template[];

/* The characters of the spec's kernel_args pattern (and of every other
 * value we insert: addresses, DNS labels, URLs built from them). iPXE
 * (core/exec.c) splits a line at whitespace, ends a command at a word
 * "||", "&&" or ";", ends the line at a word starting with '#', and
 * expands "${...}" in every word: none of those can be built from these. */
static bool is_word_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr("_.,:=/@+-", c));
}

bool boot_script_value_is_safe(const char *s, bool spaces) {
        bool word = false;

        if (!s || !*s)
                return false;
        for (; *s; s++) {
                if (*s == ' ' && spaces && word && s[1]) {
                        word = false;
                        continue;
                }
                if (!is_word_char(*s))
                        return false;
                word = true;
        }
        return word;
}

/* The template without its comment lines (a line starting with '#'),
 * except the first: "#!ipxe", the signature iPXE checks. */
static char *strip_comments(const char *t) {
        size_t n = strlen(t), o = 0;
        char *out = malloc(n + 1);
        bool first = true;

        if (!out)
                return NULL;
        while (*t) {
                const char *nl = strchr(t, '\n');
                size_t len = nl ? (size_t) (nl - t) + 1 : strlen(t);

                if (first || t[0] != '#') {
                        memcpy(out + o, t, len);
                        o += len;
                }
                first = false;
                t += len;
        }
        out[o] = '\0';
        return out;
}

int boot_script_render(const BootScriptParams *p, char **ret, char **reterr) {
        static const char *const names[] = { "MACHINE", "SERVER", "BASE_URL", "KERNEL", "INITRD", "KERNEL_ARGS" };
        const char *args = p->kernel_args ? p->kernel_args : "";
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_auto_t *store = json_array();
        char base[BOOT_SCRIPT_URL_MAX], mh[18];
        TemplateVar vars[ELEMENTSOF(names)];
        int r;

        if (!store)
                return -ENOMEM;
        if (!boot_script_value_is_safe(p->machine, false))
                return error_detail_set(reterr, -EINVAL, "machine name \"%.64s\" cannot go into an iPXE script",
                                        p->machine ? p->machine : "");
        if (!boot_script_value_is_safe(p->server, false) || !p->mac)
                return error_detail_set(reterr, -EINVAL, "no usable server address or MAC for the iPXE script");
        if (strlen(args) > BOOT_SCRIPT_ARGS_MAX)
                return error_detail_set(reterr, -E2BIG, "kernel arguments longer than %u characters",
                                        BOOT_SCRIPT_ARGS_MAX);
        if (*args && !boot_script_value_is_safe(args, true))
                return error_detail_set(reterr, -EINVAL,
                                        "kernel arguments must be words of [A-Za-z0-9_.,:=/@+-] separated by single "
                                        "spaces: iPXE would read anything else as script syntax");
        if ((size_t) snprintf(base, sizeof(base), "http://%s:%u/boot/%s", p->server, (unsigned) p->http_port,
                              boot_mac_format(p->mac, '-', mh)) >= sizeof(base))
                return error_detail_set(reterr, -EINVAL, "server address too long for the iPXE script");

        const char *values[ELEMENTSOF(names)] = { p->machine, p->server, base, BOOT_ASSET_KERNEL, BOOT_ASSET_INITRD,
                                                  args };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                json_t *v = json_string(values[i]);
                /* the array keeps each value alive; vars borrow them */
                if (!v || json_array_append_new(store, v) < 0)
                        return -ENOMEM;
                vars[i] = (TemplateVar) { .name = names[i], .value = v };
        }

        text = strip_comments(boot_script_template);
        if (!text)
                return -ENOMEM;
        r = template_text_expand(BOOT_SCRIPT_FILE, NULL, text, strlen(text), vars, ELEMENTSOF(vars), ret, NULL, &err);
        if (r == -EINVAL)
                /* every name we fill in is above: the built-in template is wrong */
                return error_detail_set(reterr, -EPROTO, "%s", err ? err : BOOT_SCRIPT_FILE ": broken");
        return r;
}
