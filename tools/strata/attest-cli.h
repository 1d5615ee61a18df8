/* The `strata attest` sub-commands implemented outside cmd-attest.c, for
 * its dispatch table. Each takes argv with argv[0] = the sub-command. */
#pragma once

/* `strata attest verify`: checks the JSON `strata attest quote` printed
 * (tools/strata/cmd-attest-verify.c). Exit 0 admitted, 1 refused, 2 bad
 * input. */
int attest_verify_cmd(int argc, char **argv);
