/* Tests for agent/core/curl-event.c: transfers driven by sd-event complete,
 * fail, run concurrently and can be abandoned, each callback exactly once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/http-server.h"
#include "http-fixture.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

typedef struct Ctx {
        sd_event *event;
        CurlEvent *curl;
        HttpServer *server;
        unsigned short port;
} Ctx;

static int h_big(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) req;
        (void) userdata;
        char *b = malloc(6001);
        if (!b)
                return -ENOMEM;
        memset(b, 'z', 6000);
        b[6000] = '\0';
        return http_response_take(resp, 200, "text/plain", b);
}

static const HttpRoute routes[] = { { "GET", "/big", h_big } };

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        assert_non_null(c);
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(curl_event_new(c->event, &c->curl), 0);
        int fd = fixture_listen_loopback(&c->port);
        assert_true(fd >= 0);
        HttpServerConfig cfg = { .routes = routes, .n_routes = ELEMENTSOF(routes) };
        assert_int_equal(http_server_new(c->event, fd, &cfg, &c->server), 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        curl_event_free(c->curl);
        http_server_free(c->server);
        sd_event_unref(c->event);
        free(c);
        return 0;
}

static void test_curl_event_add_completes(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        char url[128];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", c->port);
        assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r, &pending), 0);
        assert_int_equal(curl_event_running(c->curl), 1);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.result, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_size, 6000);
        assert_int_equal(curl_event_running(c->curl), 0);
}

static void test_curl_event_add_connection_refused(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        char url[128];
        int pending = 0;
        unsigned short port = 0;
        /* a port that was just free: bind, note it, close */
        int fd = fixture_listen_loopback(&port);
        assert_true(fd >= 0);
        close(fd);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
        assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r, &pending), 0);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.result, CURLE_COULDNT_CONNECT);
}

static void test_curl_event_add_many_concurrent(void **state) {
        Ctx *c = *state;
        static FixtureReply r[40];
        char url[128];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", c->port);
        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r[i], &pending), 0);
        assert_int_equal(curl_event_running(c->curl), ELEMENTSOF(r));
        assert_int_equal(fixture_run(c->event), 0);
        for (size_t i = 0; i < ELEMENTSOF(r); i++) {
                assert_int_equal(r[i].calls, 1);
                assert_int_equal(r[i].body_size, 6000);
        }
}

static void test_curl_event_free_abandons_without_callbacks(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        char url[128];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", c->port);
        assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r, &pending), 0);
        /* one loop iteration so the transfer has a socket registered */
        assert_true(sd_event_run(c->event, 0) >= 0);
        c->curl = curl_event_free(c->curl);
        assert_int_equal(r.calls, 0);
}

static void test_curl_event_cancel_no_callback(void **state) {
        Ctx *c = *state;
        FixtureReply r1, r2;
        char url[128];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", c->port);
        assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r1, &pending), 0);
        assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r2, &pending), 0);
        assert_int_equal(curl_event_running(c->curl), 2);
        CURL *second = fixture_last_easy;
        assert_int_equal(curl_event_cancel(c->curl, second), 0);
        assert_int_equal(curl_event_cancel(c->curl, second), -ENOENT);
        assert_int_equal(curl_event_running(c->curl), 1);
        pending--; /* the cancelled one never reports */
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(r2.calls, 0);
        assert_int_equal(r1.calls, 1);
        assert_int_equal(r1.status, 200);
}

static void test_curl_body_append_cap(void **state) {
        (void) state;
        char *body = NULL;
        size_t size = 0;
        bool too_big = false;
        assert_int_equal(curl_body_append(&body, &size, &too_big, 8, "abcd", 4), 4);
        assert_string_equal(body, "abcd");
        /* exact fit */
        assert_int_equal(curl_body_append(&body, &size, &too_big, 8, "efgh", 4), 4);
        assert_int_equal(size, 8);
        assert_false(too_big);
        /* one byte over: refused, nothing appended, flagged */
        assert_int_equal(curl_body_append(&body, &size, &too_big, 8, "i", 1), 0);
        assert_true(too_big);
        assert_int_equal(size, 8);
        assert_string_equal(body, "abcdefgh");
        free(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_curl_event_add_completes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_curl_event_add_connection_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_curl_event_add_many_concurrent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_curl_event_free_abandons_without_callbacks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_curl_event_cancel_no_callback, setup, teardown),
                cmocka_unit_test(test_curl_body_append_cap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
