/* `strata ignition`, implemented in tools/strata/cmd-ignition.c; kept out
 * of strata.h so the command table only needs this include. */
#pragma once

#include "strata.h"

/* `strata ignition render --spec FILE --machine NAME ...`: a node's
 * Ignition config (agent/ignition). Exit 0 written, 1 refused or failed
 * (the reason on stderr), 2 usage. */
int cmd_ignition(const CliContext *ctx, int argc, char **argv);
