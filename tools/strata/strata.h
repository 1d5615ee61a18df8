/* strata, the operator CLI: its commands and the local API client they
 * share. The CLI talks to stratad only through the local API. */
#pragma once

#include <jansson.h>

#define STRATA_DEFAULT_SOCKET "/run/strata/stratad.sock"

typedef struct CliContext {
        const char *socket_path;
        int json; /* --json: raw output */
} CliContext;

/* GETs `path` from stratad's local API and parses the JSON reply.
 * Returns 0, or -errno with a human message already printed to stderr. */
int api_get_json(const CliContext *ctx, const char *path, json_t **ret);
/* Any method, with an optional JSON body; a 2xx reply is success. `ret`
 * NULL: the reply body is not parsed (a DELETE's text). */
int api_request_json(const CliContext *ctx, const char *method, const char *path, const json_t *body,
                     json_t **ret);

int cmd_attest(const CliContext *ctx, int argc, char **argv);
int cmd_capi(const CliContext *ctx, int argc, char **argv);
int cmd_image(const CliContext *ctx, int argc, char **argv);
/* `strata halt` and `strata resume` (argv[0] says which). */
int cmd_fleet(const CliContext *ctx, int argc, char **argv);
int cmd_init(const CliContext *ctx, int argc, char **argv);
int cmd_kube(const CliContext *ctx, int argc, char **argv);
int cmd_pivot(const CliContext *ctx, int argc, char **argv);
int cmd_boot(const CliContext *ctx, int argc, char **argv);
int cmd_bmc(const CliContext *ctx, int argc, char **argv);
int cmd_sim(const CliContext *ctx, int argc, char **argv);
int cmd_spec(const CliContext *ctx, int argc, char **argv);
int cmd_status(const CliContext *ctx, int argc, char **argv);
int cmd_unseal(const CliContext *ctx, int argc, char **argv);
