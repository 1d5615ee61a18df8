/* boot-api: local API handlers for boot leases (see boot-api.h). */
#include "api/boot-api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/local-api.h"
#include "boot/boot-leases.h"
#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/manager.h"

#define BOOT_API_PREFIX "/v1/boot/leases/"
#define BOOT_API_DEFAULT_SECONDS 1800u

static int no_boot(HttpResponse *resp) {
        return http_response_error(resp, 409, "this node serves network boot on no segment");
}

int boot_api_list(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        (void) req;
        if (!m->boot) {
                json_auto_t *doc = json_pack("{s:[], s:[]}", "segments", "leases");
                return doc ? local_api_respond_json(resp, 200, doc) : -ENOMEM;
        }
        json_auto_t *doc = boot_server_to_json(m->boot);
        return doc ? local_api_respond_json(resp, 200, doc) : -ENOMEM;
}

int boot_api_grant(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        json_auto_t *body = NULL, *doc = NULL;
        const char *machine = NULL, *why = NULL;
        json_int_t seconds = BOOT_API_DEFAULT_SECONDS;
        json_error_t jerr;
        int r;

        if (!m->boot)
                return no_boot(resp);
        body = req->body ? json_loadb(req->body, req->body_size, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (!body || json_unpack(body, "{s:s, s?I !}", "machine", &machine, "seconds", &seconds) < 0)
                return http_response_error(resp, 400,
                                           "expected an object with machine (a string) and seconds (optional)");
        if (seconds <= 0 || seconds > BOOT_LEASE_SECONDS_MAX)
                return http_response_error(resp, 400, "seconds out of range");
        r = boot_server_grant(m->boot, machine, (unsigned) seconds, &why);
        if (r == -ENOENT)
                return http_response_error(resp, 404, why);
        if (r == -ENOMEDIUM)
                return http_response_error(resp, 409, why);
        if (r == -ERANGE || r == -E2BIG)
                return http_response_error(resp, 400, why);
        if (r < 0)
                return r;
        doc = boot_server_to_json(m->boot);
        return doc ? local_api_respond_json(resp, 201, doc) : -ENOMEM;
}

int boot_api_release(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        const char *machine = req->path + strlen(BOOT_API_PREFIX);

        if (!m->boot)
                return no_boot(resp);
        if (strncmp(req->path, BOOT_API_PREFIX, strlen(BOOT_API_PREFIX)) != 0 || !*machine)
                return http_response_error(resp, 404, "not found");
        if (boot_server_release(m->boot, machine) < 0)
                return http_response_error(resp, 404, "no lease for that machine");
        return http_response_text(resp, 200, "released\n");
}
