/* Tests for agent/core/http-server.c: routing, refusals and the observer,
 * with real HTTP from libcurl on the same sd-event loop. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
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
        int observed, observed_unmatched;
        unsigned last_status;
        char file_path[64]; /* "0123456789", for file responses */
} Ctx;

static int h_hello(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) req;
        (void) userdata;
        return http_response_text(resp, 200, "hi\n");
}

static int h_echo(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) userdata;
        return http_response_text(resp, 200, req->body ? req->body : "(none)");
}

static int h_fail(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) req;
        (void) resp;
        (void) userdata;
        return -EIO;
}

static int h_path(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) userdata;
        return http_response_text(resp, 200, req->path);
}

static int h_headers(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) req;
        (void) userdata;
        int r = http_response_add_header(resp, "ETag", "\"42\"");
        if (r >= 0)
                r = http_response_add_header(resp, "Location", "/things/1");
        if (r < 0)
                return r;
        return http_response_text(resp, 201, "made\n");
}

static int h_slow(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) userdata;
        resp->delay_ms = req->body ? (unsigned) atoi(req->body) : 300;
        return http_response_text(resp, 200, "slow\n");
}

static int h_file(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        const Ctx *c = userdata;
        int fd = open(c->file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return http_response_file(resp, req, fd, "application/octet-stream");
}

static int h_dir(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) userdata;
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = http_response_file(resp, req, fd, "application/octet-stream");
        return r == -EISDIR ? http_response_text(resp, 403, "a directory\n") : r;
}

static const HttpRoute routes[] = {
        { "GET", "/file", h_file },
        { "GET", "/dir", h_dir },
        { "GET", "/hello", h_hello },
        { "POST", "/hello", h_hello },
        { "POST", "/headers", h_headers },
        { "POST", "/slow", h_slow },
        { "POST", "/echo", h_echo },
        { "GET", "/fail", h_fail },
        { "GET", "/files/*", h_path },
};

static void observe(const HttpRoute *route, const HttpRequest *req, unsigned status, void *userdata) {
        Ctx *c = userdata;
        (void) req;
        c->observed++;
        c->observed_unmatched += route == NULL;
        c->last_status = status;
}

static int setup_with(void **state, unsigned deadline_ms) {
        Ctx *c = calloc(1, sizeof(*c));
        assert_non_null(c);
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(curl_event_new(c->event, &c->curl), 0);
        snprintf(c->file_path, sizeof(c->file_path), "/tmp/strata-test-http-XXXXXX");
        int ffd = mkstemp(c->file_path);
        assert_true(ffd >= 0);
        assert_int_equal(write(ffd, "0123456789", 10), 10);
        close(ffd);
        int fd = fixture_listen_loopback(&c->port);
        assert_true(fd >= 0);
        HttpServerConfig cfg = { .routes = routes, .n_routes = ELEMENTSOF(routes), .observer = observe,
                                 .userdata = c, .body_max = 64, .request_deadline_ms = deadline_ms };
        assert_int_equal(http_server_new(c->event, fd, &cfg, &c->server), 0);
        *state = c;
        return 0;
}

static int setup(void **state) {
        return setup_with(state, 0);
}

static int setup_short_deadline(void **state) {
        return setup_with(state, 300);
}

static int teardown(void **state) {
        Ctx *c = *state;
        curl_event_free(c->curl);
        http_server_free(c->server);
        sd_event_unref(c->event);
        unlink(c->file_path);
        free(c);
        return 0;
}

static void request(Ctx *c, const char *method, const char *path, const char *body, FixtureReply *r) {
        char url[4096];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", c->port, path);
        assert_int_equal(fixture_request(c->curl, c->event, method, url, body, r, &pending), 0);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(r->calls, 1);
        assert_int_equal(r->result, CURLE_OK);
}

/* fixture_request() plus the response headers, collected into `headers`. */
typedef struct HeaderReply {
        FixtureReply r;
        char headers[4096];
        size_t headers_size;
} HeaderReply;

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
        HeaderReply *h = userdata;
        size_t len = size * n;
        if (h->headers_size + len < sizeof(h->headers)) {
                memcpy(h->headers + h->headers_size, p, len);
                h->headers_size += len;
                h->headers[h->headers_size] = '\0';
        }
        return len;
}

/* Starts `method path` with an optional body and Range, collecting the
 * response headers too; run the loop once after starting them all (an
 * sd-event loop that exited cannot run again). */
static void start_request(Ctx *c, const char *method, const char *path, const char *body, const char *range,
                          HeaderReply *h, int *pending) {
        char url[256];
        CURL *e = curl_easy_init();
        assert_non_null(e);
        memset(h, 0, sizeof(*h));
        h->r.pending = pending;
        h->r.event = c->event;
        (*pending)++;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", c->port, path);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (body)
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        if (range)
                curl_easy_setopt(e, CURLOPT_RANGE, range);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fixture_on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &h->r);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        assert_int_equal(curl_event_add(c->curl, e, fixture_on_done, &h->r), 0);
}

static void start_with_headers(Ctx *c, const char *method, const char *path, const char *body, HeaderReply *h,
                               int *pending) {
        start_request(c, method, path, body, NULL, h, pending);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void test_http_response_add_header_sent(void **state) {
        Ctx *c = *state;
        HeaderReply h;
        int pending = 0;
        start_with_headers(c, "POST", "/headers", "x", &h, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(h.r.status, 201);
        assert_non_null(strstr(h.headers, "ETag: \"42\"\r\n"));
        assert_non_null(strstr(h.headers, "Location: /things/1\r\n"));
        assert_non_null(strstr(h.headers, "Cache-Control: no-store\r\n"));
}

static void test_http_response_add_header_refusals(void **state) {
        HttpResponse resp = { 0 };
        char long_value[HTTP_HEADER_VALUE_MAX + 1];
        (void) state;
        memset(long_value, 'v', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        assert_int_equal(http_response_add_header(&resp, "", "x"), -EINVAL);
        assert_int_equal(http_response_add_header(&resp, "Bad Name", "x"), -EINVAL);
        assert_int_equal(http_response_add_header(&resp, "X-Inject", "a\r\nSet-Cookie: b"), -EINVAL);
        assert_int_equal(http_response_add_header(&resp, "X-Empty", ""), -EINVAL);
        assert_int_equal(http_response_add_header(&resp, "X-Long", long_value), -EMSGSIZE);
        assert_int_equal(resp.n_headers, 0);
        /* exact fit */
        long_value[HTTP_HEADER_VALUE_MAX - 1] = '\0';
        assert_int_equal(http_response_add_header(&resp, "X-Long", long_value), 0);
        for (size_t i = 1; i < HTTP_RESPONSE_HEADERS_MAX; i++)
                assert_int_equal(http_response_add_header(&resp, "X-N", "1"), 0);
        assert_int_equal(http_response_add_header(&resp, "X-Full", "1"), -E2BIG);
        assert_int_equal(resp.n_headers, HTTP_RESPONSE_HEADERS_MAX);
}

static void test_http_server_405_lists_allow(void **state) {
        Ctx *c = *state;
        HeaderReply h;
        int pending = 0;
        start_with_headers(c, "DELETE", "/hello", NULL, &h, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(h.r.status, 405);
        assert_non_null(strstr(h.headers, "Allow: GET, POST\r\n"));
}

/* A held response leaves the loop free: a later request overtakes it. */
static void test_http_server_delay_does_not_block(void **state) {
        Ctx *c = *state;
        HeaderReply slow, fast;
        int pending = 0;
        uint64_t t0 = now_ms();
        start_with_headers(c, "POST", "/slow", "400", &slow, &pending);
        start_with_headers(c, "GET", "/hello", NULL, &fast, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(slow.r.status, 200);
        assert_string_equal(slow.r.body, "slow\n");
        assert_int_equal(fast.r.status, 200);
        assert_true(now_ms() - t0 >= 400);
        assert_int_equal(c->observed, 2);
}

/* Freeing the server while a response is held must not leak or crash
 * (MHD refuses to stop with suspended connections). */
static void test_http_server_free_while_held(void **state) {
        Ctx *c = *state;
        HeaderReply slow;
        int pending = 0;
        start_with_headers(c, "POST", "/slow", "5000", &slow, &pending);
        for (int i = 0; i < 200 && c->observed == 0; i++)
                assert_true(sd_event_run(c->event, 10 * 1000) >= 0);
        assert_int_equal(c->observed, 1);
        c->server = http_server_free(c->server);
}

/* A GET of /file with an optional Range. */
static void start_range(Ctx *c, const char *range, HeaderReply *h, int *pending) {
        start_request(c, "GET", "/file", NULL, range, h, pending);
}

static void test_http_response_file_whole(void **state) {
        Ctx *c = *state;
        HeaderReply h;
        int pending = 0;
        start_range(c, NULL, &h, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(h.r.status, 200);
        assert_string_equal(h.r.body, "0123456789");
        assert_non_null(strstr(h.headers, "Accept-Ranges: bytes\r\n"));
        assert_non_null(strstr(h.headers, "Content-Length: 10\r\n"));
}

static void test_http_response_file_range(void **state) {
        Ctx *c = *state;
        HeaderReply a, b, s, clip;
        int pending = 0;
        start_range(c, "2-5", &a, &pending);
        start_range(c, "7-", &b, &pending);
        start_range(c, "-2", &s, &pending);
        start_range(c, "8-100", &clip, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(a.r.status, 206);
        assert_string_equal(a.r.body, "2345");
        assert_non_null(strstr(a.headers, "Content-Range: bytes 2-5/10\r\n"));
        assert_int_equal(b.r.status, 206);
        assert_string_equal(b.r.body, "789");
        assert_int_equal(s.r.status, 206);
        assert_string_equal(s.r.body, "89");
        assert_int_equal(clip.r.status, 206);
        assert_string_equal(clip.r.body, "89");
        assert_non_null(strstr(clip.headers, "Content-Range: bytes 8-9/10\r\n"));
}

static void test_http_response_file_unsatisfiable(void **state) {
        Ctx *c = *state;
        HeaderReply past, multi;
        int pending = 0;
        start_range(c, "10-20", &past, &pending);
        start_range(c, "0-1,4-5", &multi, &pending);
        assert_int_equal(fixture_run(c->event), 0);
        assert_int_equal(past.r.status, 416);
        assert_non_null(strstr(past.headers, "Content-Range: bytes */10\r\n"));
        /* several ranges: served whole, which RFC 9110 allows */
        assert_int_equal(multi.r.status, 200);
        assert_string_equal(multi.r.body, "0123456789");
}

static void test_http_response_file_refuses_directory(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "GET", "/dir", NULL, &r);
        assert_int_equal(r.status, 403);
}

/* A client trickling its request (a byte at a time, never idle long
 * enough for MHD's idle timeout) is cut off at the request deadline. */
static void test_http_server_request_deadline(void **state) {
        Ctx *c = *state;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        uint64_t t0 = now_ms();
        bool closed = false;

        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        for (size_t i = 0; !closed && now_ms() - t0 < 5000; i++) {
                /* one byte every 50 ms: never idle for MHD's 10 s */
                if (req[i % strlen(req)] && send(fd, &req[i % strlen(req)], 1, MSG_NOSIGNAL) < 0)
                        closed = true;
                uint64_t until = now_ms() + 50;
                while (now_ms() < until)
                        assert_true(sd_event_run(c->event, 10 * 1000) >= 0);
                char b;
                ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        closed = true;
        }
        close(fd);
        assert_true(closed);
        /* cut at the 300 ms deadline (swept every 75 ms), not at MHD's 10 s */
        assert_true(now_ms() - t0 < 2000);
        assert_true(now_ms() - t0 >= 300);
        /* and the server still answers others */
        FixtureReply r;
        request(c, "GET", "/hello", NULL, &r);
        assert_int_equal(r.status, 200);
}

static void test_http_server_get_routed(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "GET", "/hello", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hi\n");
        assert_int_equal(c->observed, 1);
        assert_int_equal(c->last_status, 200);
}

static void test_http_server_unknown_path_404(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "GET", "/nope", NULL, &r);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"status\":404"));
        assert_int_equal(c->observed_unmatched, 1);
}

static void test_http_server_wrong_method_405(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "DELETE", "/hello", NULL, &r);
        assert_int_equal(r.status, 405);
}

static void test_http_server_body_delivered(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "POST", "/echo", "payload", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "payload");
}

static void test_http_server_body_over_cap_413(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        char big[200];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        request(c, "POST", "/echo", big, &r);
        assert_int_equal(r.status, 413);
}

static void test_http_server_url_over_cap_414(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        char path[HTTP_URL_MAX + 64];
        memset(path, 'a', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = '\0';
        request(c, "GET", path, NULL, &r);
        /* MHD itself may refuse first (its own header limit): both are refusals */
        assert_true(r.status == 414 || r.status == 431);
}

static void test_http_server_handler_error_500(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "GET", "/fail", NULL, &r);
        assert_int_equal(r.status, 500);
        assert_null(strstr(r.body, "EIO"));
}

static void test_http_server_prefix_route(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "GET", "/files/a/b", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "/files/a/b");
}

static void test_http_server_head_uses_get_route(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "HEAD", "/hello", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_size, 0);
}

static void test_http_server_many_concurrent(void **state) {
        Ctx *c = *state;
        static FixtureReply r[32];
        char url[256];
        int pending = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello", c->port);
        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                assert_int_equal(fixture_request(c->curl, c->event, "GET", url, NULL, &r[i], &pending), 0);
        assert_int_equal(fixture_run(c->event), 0);
        for (size_t i = 0; i < ELEMENTSOF(r); i++) {
                assert_int_equal(r[i].calls, 1);
                assert_int_equal(r[i].status, 200);
        }
        assert_int_equal(c->observed, (int) ELEMENTSOF(r));
}

/* More clients than the cap (and then some in the backlog), all closed:
 * the server must still accept afterwards. MHD's own limit would take the
 * listen socket out of epoll for good; see on_accept in http-server.c. */
static void test_http_server_recovers_after_connection_cap(void **state) {
        Ctx *c = *state;
        int fds[HTTP_CONNECTIONS_MAX + 24];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                  .sin_port = htons(c->port) };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                /* non-blocking: once the backlog is full a connect would wait */
                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(fds[i] >= 0);
                int r = connect(fds[i], (struct sockaddr *) &sa, sizeof(sa));
                assert_true(r == 0 || errno == EINPROGRESS);
                assert_true(sd_event_run(c->event, 0) >= 0);
        }
        /* let the server accept what it will */
        for (int i = 0; i < 50; i++)
                assert_true(sd_event_run(c->event, 10 * 1000) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                close(fds[i]);
        for (int i = 0; i < 50; i++)
                assert_true(sd_event_run(c->event, 10 * 1000) >= 0);
        FixtureReply r;
        request(c, "GET", "/hello", NULL, &r);
        assert_int_equal(r.status, 200);
}

static void test_http_server_405_before_body(void **state) {
        Ctx *c = *state;
        FixtureReply r;
        request(c, "PUT", "/hello", "some body", &r);
        assert_int_equal(r.status, 405);
        assert_int_equal(c->observed_unmatched, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_http_server_get_routed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_unknown_path_404, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_wrong_method_405, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_body_delivered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_body_over_cap_413, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_url_over_cap_414, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_handler_error_500, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_prefix_route, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_head_uses_get_route, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_many_concurrent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_recovers_after_connection_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_405_before_body, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_response_add_header_sent, setup, teardown),
                cmocka_unit_test(test_http_response_add_header_refusals),
                cmocka_unit_test_setup_teardown(test_http_server_405_lists_allow, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_delay_does_not_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_free_while_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_response_file_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_response_file_range, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_response_file_unsatisfiable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_response_file_refuses_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_server_request_deadline, setup_short_deadline, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
