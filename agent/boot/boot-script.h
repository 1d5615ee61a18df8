/* boot-script: the per-machine iPXE script (boot.ipxe), filled in from the
 * template compiled in from images/pxe/boot.ipxe. Pure: no I/O, no
 * logging; boot-http.c serves the result. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Longest KERNEL_ARGS accepted: the schema allows 32 arguments of 256
 * characters, joined by spaces. */
#define BOOT_SCRIPT_ARGS_MAX (32u * 257u)

typedef struct BootScriptParams {
        const char *machine;     /* the inventory name */
        const char *server;      /* our address on the segment, as text */
        uint16_t http_port;      /* the HTTP boot server's port */
        const uint8_t *mac;      /* the booting machine's MAC (6 bytes) */
        const char *kernel_args; /* the segment's extra kernel arguments, separated
                                  * by single spaces; "" or NULL for none */
} BootScriptParams;

/* Is `s` one or more words of [A-Za-z0-9_.,:=/@+-] separated by single
 * spaces (a single word if !spaces)? What iPXE can only read as plain
 * arguments: no line end, comment, command separator or ${setting}. */
bool boot_script_value_is_safe(const char *s, bool spaces);

/* The script for one machine: the template's comment lines dropped (the
 * "#!ipxe" signature kept), then its placeholders filled in. Every value
 * must pass boot_script_value_is_safe(), or nothing is rendered: -EINVAL
 * with *reterr naming the value (the spec's schema already refuses such
 * kernel arguments; this keeps the script safe whatever the caller).
 * -E2BIG kernel arguments longer than BOOT_SCRIPT_ARGS_MAX; -EPROTO the
 * built-in template is broken (an unknown placeholder: a build bug);
 * -ENOMEM. *ret is NUL-terminated text, caller frees. */
int boot_script_render(const BootScriptParams *p, char **ret, char **reterr);
