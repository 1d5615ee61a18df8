/* The local API: stratad's HTTP interface on a unix socket, for the strata
 * CLI and for monitoring. GET /v1/status, GET /metrics, GET /healthz, and
 * the boot lease routes of boot-api.h. */
#pragma once

#include <jansson.h>

#include "core/http-server.h"

typedef struct Manager Manager;

/* Binds (or takes from systemd socket activation) the API socket and starts
 * serving it on the Manager's loop. Logs its own failures. */
int local_api_start(Manager *m);

/* Answers with `doc` as indented JSON with sorted keys and a final newline,
 * the form every local API route uses. */
int local_api_respond_json(HttpResponse *resp, unsigned status, const json_t *doc);

/* Exposed for in-process tests. */
extern const HttpRoute local_api_routes[];
extern const size_t local_api_n_routes;
