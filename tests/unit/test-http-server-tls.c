/* Tests for HttpServer's HTTPS (agent/core/http-server.c, HttpServerConfig.tls):
 * served with a key the caller wipes right after start; client
 * certificates asked for only with client_ca_pem, and handed to handlers
 * (HttpRequest.peer_cert) only when they verify against those CAs; bad
 * configurations refused. The client is libcurl on the same loop, as in
 * the agent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/pem.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/http-server.h"
#include "core/openssl-cleanup.h"
#include "core/secret.h"
#include "http-fixture.h"
#include "swarm/pki.h"

typedef struct Pem {
        char *cert;
        Secret *key;
} Pem;

typedef struct Ctx {
        EVP_PKEY *ca_key, *other_key;
        X509 *ca, *other;
        char *ca_pem, *other_pem;
        Pem server, client, stranger;
} Ctx;

static char *cert_pem(X509 *x) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL, *out;
        long n;

        assert_int_equal(PEM_write_bio_X509(b, x), 1);
        n = BIO_get_mem_data(b, &data);
        out = memdup_nul(data, (size_t) n);
        BIO_free(b);
        return out;
}

static Secret *key_pem(EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL;
        Secret *s;
        long n;

        assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
        n = BIO_get_mem_data(b, &data);
        s = secret_new_copy(data, (size_t) n);
        BIO_free(b);
        return s;
}

static void issue(EVP_PKEY *ca_key, X509 *ca, const char *name, Pem *ret) {
        EVP_PKEY *k = NULL;
        X509 *x = NULL;

        assert_int_equal(pki_key_new(&k), 0);
        assert_int_equal(pki_member_cert_issue(ca_key, ca, k, name, 3600, &x), 0);
        ret->cert = cert_pem(x);
        ret->key = key_pem(k);
        X509_free(x);
        EVP_PKEY_free(k);
}

static int group_setup(void **state) {
        static Ctx c;

        assert_int_equal(pki_key_new(&c.ca_key), 0);
        assert_int_equal(pki_ca_cert_new(c.ca_key, "lab", &c.ca), 0);
        assert_int_equal(pki_key_new(&c.other_key), 0);
        assert_int_equal(pki_ca_cert_new(c.other_key, "other", &c.other), 0);
        c.ca_pem = cert_pem(c.ca);
        c.other_pem = cert_pem(c.other);
        issue(c.ca_key, c.ca, "server", &c.server);
        issue(c.ca_key, c.ca, "node1", &c.client);
        issue(c.other_key, c.other, "node1", &c.stranger);
        *state = &c;
        return 0;
}

static void pem_done(Pem *p) {
        free(p->cert);
        secret_free(p->key);
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        pem_done(&c->server);
        pem_done(&c->client);
        pem_done(&c->stranger);
        free(c->ca_pem);
        free(c->other_pem);
        EVP_PKEY_free(c->ca_key);
        EVP_PKEY_free(c->other_key);
        X509_free(c->ca);
        X509_free(c->other);
        return 0;
}

/* Answers the peer certificate's CN, or "none". */
static int route_who(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        char cn[64] = "none";

        (void) userdata;
        if (req->peer_cert)
                X509_NAME_get_text_by_NID(X509_get_subject_name(req->peer_cert), NID_commonName, cn, sizeof(cn));
        return http_response_text(resp, 200, cn);
}

static const HttpRoute routes[] = {
        { "GET", "/who", route_who },
};

typedef struct Server {
        sd_event *event;
        CurlEvent *ce;
        HttpServer *s;
        unsigned short port;
} Server;

static int server_start(Server *srv, const char *cert, const Secret *key, const char *client_ca) {
        HttpServerConfig cfg = { .routes = routes, .n_routes = ELEMENTSOF(routes) };
        Secret *copy = key ? secret_new_copy(key->data, key->size) : NULL;
        int fd, r;

        assert_int_equal(sd_event_new(&srv->event), 0);
        assert_int_equal(curl_event_new(srv->event, &srv->ce), 0);
        fd = fixture_listen_loopback(&srv->port);
        assert_true(fd >= 0);
        cfg.tls = (HttpServerTls) { .cert_pem = cert, .key_pem = copy, .client_ca_pem = client_ca };
        r = http_server_new(srv->event, fd, &cfg, &srv->s);
        /* the caller's copy goes right away: the server must not need it */
        secret_free(copy);
        return r;
}

static void server_stop(Server *srv) {
        http_server_free(srv->s);
        curl_event_free(srv->ce);
        sd_event_unref(srv->event);
}

static void on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        FixtureReply *r = userdata;

        (void) ce;
        r->result = result;
        r->calls++;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
}

/* GET /who over HTTPS, pinned to `ca`, presenting `client` when set; the
 * loop turns until the reply is in (it is reused for the next request). */
static void who(Server *srv, const char *ca, const Pem *client, FixtureReply *reply) {
        struct curl_blob cab = { .data = (void *) ca, .len = strlen(ca), .flags = CURL_BLOB_COPY };
        CURL *c = curl_easy_init();
        char url[64];

        snprintf(url, sizeof(url), "https://127.0.0.1:%u/who", srv->port);
        memset(reply, 0, sizeof(*reply));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &cab);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fixture_on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (client) {
                struct curl_blob cb = { .data = client->cert, .len = strlen(client->cert), .flags = CURL_BLOB_COPY };
                struct curl_blob kb = { .data = client->key->data, .len = client->key->size, .flags = CURL_BLOB_COPY };
                curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
                curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
                curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
        }
        assert_int_equal(curl_event_add(srv->ce, c, on_done, reply), 0);
        for (int i = 0; i < 1000 && reply->calls == 0; i++)
                assert_true(sd_event_run(srv->event, 10000) >= 0);
        assert_int_equal(reply->calls, 1);
}

static void test_http_server_tls_serves_https_with_wiped_key(void **state) {
        Ctx *c = *state;
        Server srv = {};
        FixtureReply r;

        assert_int_equal(server_start(&srv, c->server.cert, c->server.key, c->ca_pem), 0);
        who(&srv, c->ca_pem, NULL, &r);
        assert_int_equal(r.result, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "none");
        /* a client pinned to another CA refuses the server */
        who(&srv, c->other_pem, NULL, &r);
        assert_int_not_equal(r.result, CURLE_OK);
        server_stop(&srv);
}

static void test_http_server_tls_peer_cert_verified(void **state) {
        Ctx *c = *state;
        Server srv = {};
        FixtureReply r;

        assert_int_equal(server_start(&srv, c->server.cert, c->server.key, c->ca_pem), 0);
        who(&srv, c->ca_pem, &c->client, &r);
        assert_int_equal(r.result, CURLE_OK);
        assert_string_equal(r.body, "node1");
        server_stop(&srv);
}

static void test_http_server_tls_peer_cert_other_ca_not_given(void **state) {
        Ctx *c = *state;
        Server srv = {};
        FixtureReply r;

        assert_int_equal(server_start(&srv, c->server.cert, c->server.key, c->ca_pem), 0);
        who(&srv, c->ca_pem, &c->stranger, &r);
        assert_int_equal(r.result, CURLE_OK);
        assert_string_equal(r.body, "none");
        server_stop(&srv);
}

static void test_http_server_tls_without_client_ca_no_peer(void **state) {
        Ctx *c = *state;
        Server srv = {};
        FixtureReply r;

        assert_int_equal(server_start(&srv, c->server.cert, c->server.key, NULL), 0);
        who(&srv, c->ca_pem, &c->client, &r);
        assert_int_equal(r.result, CURLE_OK);
        assert_string_equal(r.body, "none");
        server_stop(&srv);
}

static void test_http_server_tls_refuses_bad_config(void **state) {
        Ctx *c = *state;
        Secret *junk = secret_new_copy("not a key", 9);
        Server srv = {};

        assert_int_equal(server_start(&srv, c->server.cert, NULL, NULL), -EINVAL);
        assert_null(srv.s);
        server_stop(&srv);
        srv = (Server) {};
        assert_int_equal(server_start(&srv, c->server.cert, junk, NULL), -EIO);
        assert_null(srv.s);
        server_stop(&srv);
        secret_free(junk);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_http_server_tls_serves_https_with_wiped_key),
                cmocka_unit_test(test_http_server_tls_peer_cert_verified),
                cmocka_unit_test(test_http_server_tls_peer_cert_other_ca_not_given),
                cmocka_unit_test(test_http_server_tls_without_client_ca_no_peer),
                cmocka_unit_test(test_http_server_tls_refuses_bad_config),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
