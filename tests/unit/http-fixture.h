/* Test fixture shared by the HTTP server and curl glue tests: a loopback
 * listener on an ephemeral port, and a request driven on the same sd-event
 * loop as the server, which is exactly how the agent uses both. */
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "core/curl-event.h"

static inline int fixture_listen_loopback(unsigned short *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -1;
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

typedef struct FixtureReply {
        long status;
        CURLcode result;
        char body[8192];
        size_t body_size;
        int calls;       /* how many times the done callback ran */
        int *pending;    /* shared countdown: the loop exits at zero */
        sd_event *event;
} FixtureReply;

static inline size_t fixture_on_data(char *p, size_t size, size_t n, void *userdata) {
        FixtureReply *r = userdata;
        size_t len = size * n;
        if (r->body_size + len >= sizeof(r->body))
                return 0;
        memcpy(r->body + r->body_size, p, len);
        r->body_size += len;
        r->body[r->body_size] = '\0';
        return len;
}

static inline void fixture_on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        FixtureReply *r = userdata;
        (void) ce;
        r->result = result;
        r->calls++;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (--*r->pending == 0)
                sd_event_exit(r->event, 0);
}

/* The easy handle of the last fixture_request(), for cancellation tests. */
static CURL *fixture_last_easy;

/* Starts `method url` with an optional body on `ce`; the reply lands in `r`. */
static inline int fixture_request(CurlEvent *ce, sd_event *event, const char *method, const char *url,
                                  const char *body, FixtureReply *r, int *pending) {
        CURL *c = curl_easy_init();
        if (!c)
                return -1;
        memset(r, 0, sizeof(*r));
        r->pending = pending;
        r->event = event;
        (*pending)++;
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fixture_on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        fixture_last_easy = c;
        return curl_event_add(ce, c, fixture_on_done, r);
}

/* Runs the loop until every request finished, or fails after 10 s. */
static inline int fixture_run(sd_event *event) {
        sd_event_source *guard = NULL;
        uint64_t now;
        sd_event_now(event, CLOCK_MONOTONIC, &now);
        sd_event_add_time(event, &guard, CLOCK_MONOTONIC, now + 10 * 1000000ULL, 0, NULL,
                          (void *) (intptr_t) 99);
        int r = sd_event_loop(event);
        sd_event_source_unref(guard);
        return r;
}
