/* `strata ignition`, implemented in tools/strata/cmd-ignition.c, and what
 * it shares with `strata image` (tools/strata/ignition-cli.c); kept out of
 * strata.h so the command table only needs this include. */
#pragma once

#include <jansson.h>

#include "core/spec.h"
#include "ignition/render.h"
#include "strata.h"

/* `strata ignition render --spec FILE --machine NAME ...`: a node's
 * Ignition config (agent/ignition). Exit 0 written, 1 refused or failed
 * (the reason on stderr), 2 usage. */
int cmd_ignition(const CliContext *ctx, int argc, char **argv);

/* The helpers below print their one error line as "strata: CMD: ..."
 * (`cmd` is e.g. "ignition" or "image seed") and return -errno. */

/* --role: seed, controller or worker into *ret. */
int ignition_cli_parse_role(const char *cmd, const char *arg, IgnitionRole *ret);

/* --fleet-ca FILE: a text file of at most IGNITION_FLEET_CA_MAX bytes, as
 * a NUL-terminated string in *ret (the caller's). */
int ignition_cli_read_fleet_ca(const char *cmd, const char *path, char **ret);

/* --sysext FILE: names the sysext after the file and hashes it (SHA-512)
 * into `sha512`, setting o->sysext_name (pointing into *ret_copy, the
 * caller's) and o->sysext_sha512. With `check`, the file must also be a
 * sysext image (image_sysext_check). */
int ignition_cli_sysext(const char *cmd, const char *path, bool check, IgnitionRenderOptions *o, char **ret_copy,
                        char sha512[129]);

/* --spec FILE, with every validation error printed. */
int ignition_cli_load_spec(const char *cmd, const char *path, Spec **ret);

/* The node's config from the spec (agent/ignition), as stratad renders it. */
int ignition_cli_render(const char *cmd, const Spec *spec, const IgnitionRenderOptions *o, json_t **ret);
