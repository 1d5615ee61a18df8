/* The CLI's client for stratad's local API (HTTP over a unix socket, libcurl easy). */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "strata.h"

/* The API's replies are small; anything larger is not stratad. */
#define API_REPLY_MAX (4u * 1024u * 1024u)
#define API_TIMEOUT_MS 10000L

typedef struct Reply {
        char *data;
        size_t size;
        bool too_large;
} Reply;

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        Reply *r = userdata;
        return curl_body_append(&r->data, &r->size, &r->too_large, API_REPLY_MAX, p, size * n);
}

int api_request_json(const CliContext *ctx, const char *method, const char *path, const json_t *body,
                     json_t **ret) {
        _cleanup_free_ char *payload = NULL;
        struct curl_slist *headers = NULL;
        Reply reply = { 0 };
        char url[512], errbuf[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;
        CURL *c;
        int r = 0;

        c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        /* the host part is ignored over a unix socket */
        snprintf(url, sizeof(url), "http://stratad%s", path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, API_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (strcmp(method, "GET") != 0)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                headers = curl_slist_append(NULL, "Content-Type: application/json");
                if (!payload || !headers) {
                        curl_slist_free_all(headers);
                        curl_easy_cleanup(c);
                        return -ENOMEM;
                }
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        }

        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);

        if (cc != CURLE_OK) {
                fprintf(stderr, "strata: cannot reach stratad at %s: %s\n", ctx->socket_path,
                        reply.too_large ? "reply too large" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
                r = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
        } else if (status < 200 || status > 299) {
                fprintf(stderr, "strata: stratad answered %ld for %s: %s", status, path,
                        reply.data ? reply.data : "\n");
                r = -EPROTO;
        } else if (ret) {
                json_error_t e;
                *ret = json_loadb(reply.data ? reply.data : "", reply.size, 0, &e);
                if (!*ret) {
                        fprintf(stderr, "strata: stratad's reply to %s is not JSON: %s (line %d, column %d)\n",
                                path, e.text, e.line, e.column);
                        r = -EBADMSG;
                }
        }
        free(reply.data);
        return r;
}

int api_get_json(const CliContext *ctx, const char *path, json_t **ret) {
        return api_request_json(ctx, "GET", path, NULL, ret);
}
