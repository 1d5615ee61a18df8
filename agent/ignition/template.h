/* template: the Ignition templates compiled into the binary (the JSON files
 * in ignition/, via agent/ignition/templates.S), their placeholders and how
 * fragments merge. ignition/README.md describes the files and the conventions:
 *   - a string that is exactly "@NAME@" is replaced by NAME's value, of any
 *     JSON type (the clevis tang list, the threshold);
 *   - "@NAME@" inside a longer string is replaced by NAME's text (NAME's
 *     value must be a string there);
 *   - an object with "inline" (Butane's name) gets "source": the text as a
 *     data: URL, so templates hold readable unit and file text;
 *   - a member named "//" is a comment, dropped before anything else.
 * render.h is agent/ignition's interface; of this header only
 * template_text_expand() is used outside it, by the boot server's iPXE
 * script (images/pxe/boot.ipxe), so both kinds of template follow one
 * placeholder scheme with one implementation. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stddef.h>

typedef enum IgnitionTemplate {
        IGNITION_TEMPLATE_BASE,
        IGNITION_TEMPLATE_SYSEXT_FETCH,
        IGNITION_TEMPLATE_FLEET_CA,
        IGNITION_TEMPLATE_ROLE_SEED,
        IGNITION_TEMPLATE_ROLE_CONTROLLER,
        IGNITION_TEMPLATE_ROLE_WORKER,
        IGNITION_TEMPLATE_PODS,
        IGNITION_TEMPLATE_DATA_VOLUME,
        IGNITION_TEMPLATE_DATA_VOLUME_CREATE,
        IGNITION_TEMPLATE_SPONSOR,
        IGNITION_TEMPLATE_BOOT_ASSETS,
        _IGNITION_TEMPLATE_MAX,
        _IGNITION_TEMPLATE_INVALID = -EINVAL,
} IgnitionTemplate;

/* Deepest nesting expanded or merged (the templates need 6). */
#define TEMPLATE_DEPTH_MAX 16u

/* A placeholder's value; borrowed, the caller keeps ownership. */
typedef struct TemplateVar {
        const char *name; /* without the '@'s */
        json_t *value;
} TemplateVar;

/* Substitutes every @NAME@ in text[0..n) with NAME's value, which must be a
 * JSON string, in one pass: inserted values are never scanned again, so a
 * value holding "@X@" stays literal. An '@' that does not start a
 * placeholder (UPPER_CASE letters, digits and '_', at most 32, closed by
 * '@') is copied, so "strata-unseal@.service" needs no escaping.
 * Returns 0 with *ret (NUL-terminated, caller frees) and *ret_len (may be
 * NULL); -EINVAL with *reterr "FILE: PATH: unknown placeholder @NAME@" (or
 * a value that is not text; PATH may be NULL); -ENOMEM. */
int template_text_expand(const char *file, const char *path, const char *text, size_t n, const TemplateVar *vars,
                         size_t n_vars, char **ret, size_t *ret_len, char **reterr);

/* The repository file a template came from ("ignition/base.json"). */
const char *template_file(IgnitionTemplate t);

/* Parses template `t`, drops its "//" comments, substitutes every
 * placeholder from `vars`, then turns "inline" into data: URLs. Returns 0 and *ret (a new object), or
 * -EINVAL with *reterr naming the template and JSON path (a placeholder
 * missing from vars, a non-string value inside a longer string, text that
 * is not UTF-8), -E2BIG (an inline text too large for a data: URL), -EPROTO
 * (the embedded template does not parse: a build bug), -ENOMEM. */
int template_expand(IgnitionTemplate t, const TemplateVar *vars, size_t n_vars, json_t **ret, char **reterr);

/* Merges `src` (from template `from`) into `dst`: objects member by member;
 * arrays of files, directories and links by "path", units, dropins and luks
 * by "name", filesystems by "device", tang by "url" (as Ignition's own
 * config merge keys them), other arrays appended; equal scalars are fine.
 * Two different scalars at one path is -EINVAL with *reterr naming it: the
 * templates contradict each other. */
int template_merge(json_t *dst, const json_t *src, IgnitionTemplate from, char **reterr);
