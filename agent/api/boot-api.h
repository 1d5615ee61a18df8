/* boot-api: the local API's boot lease routes (GET/POST /v1/boot/leases,
 * DELETE /v1/boot/leases/NAME), for operators and tests; the coordinator
 * grants through the same boot_server_grant(). */
#pragma once

#include "core/http-server.h"

int boot_api_list(const HttpRequest *req, HttpResponse *resp, void *userdata);
int boot_api_grant(const HttpRequest *req, HttpResponse *resp, void *userdata);
int boot_api_release(const HttpRequest *req, HttpResponse *resp, void *userdata);
