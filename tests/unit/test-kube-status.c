/* Tests for agent/cluster/kube-status.c: the errno of every status and
 * reason, Status bodies as a real kube-apiserver sends them, plain-text
 * and hostile bodies, and the one line a human reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kube-status.h"
#include "core/cleanup.h"

static char *describe(long code, const char *body, int want) {
        char *msg = NULL;
        assert_int_equal(kube_status_decode(code, body, body ? strlen(body) : 0, &msg), want);
        assert_non_null(msg);
        return msg;
}

static void test_kube_status_errno_table(void **state) {
        static const struct {
                long code;
                const char *reason;
                int error;
        } vectors[] = {
                { 200, NULL, 0 },
                { 201, "Whatever", 0 },
                { 400, "BadRequest", -EINVAL },
                { 401, "Unauthorized", -EACCES },
                { 403, "Forbidden", -EPERM },
                { 404, "NotFound", -ENOENT },
                { 404, NULL, -ENOENT },
                { 405, "MethodNotAllowed", -EOPNOTSUPP },
                { 406, NULL, -EPROTO },
                { 409, "AlreadyExists", -EEXIST },
                { 409, "Conflict", -ESTALE },
                { 409, NULL, -ESTALE },
                { 410, "Expired", -ETIME },
                { 410, "Gone", -ETIME },
                { 413, NULL, -E2BIG },
                { 415, "UnsupportedMediaType", -EOPNOTSUPP },
                { 422, "Invalid", -EINVAL },
                { 429, "TooManyRequests", -EBUSY },
                { 500, "InternalError", -EIO },
                { 500, "ServerTimeout", -ETIMEDOUT },
                { 502, NULL, -EIO },
                { 503, "ServiceUnavailable", -EAGAIN },
                { 504, "Timeout", -ETIMEDOUT },
                { 599, NULL, -EIO },
                { 418, NULL, -EPROTO },
                { 418, "SomethingNew", -EPROTO },
                { 302, NULL, -EPROTO },
                /* a reason on a non-error status does not turn it into one */
                { 302, "NotFound", -EPROTO },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++)
                if (kube_status_errno(vectors[i].code, vectors[i].reason) != vectors[i].error)
                        fail_msg("%ld %s: %d", vectors[i].code, vectors[i].reason ? vectors[i].reason : "-",
                                 kube_status_errno(vectors[i].code, vectors[i].reason));
}

static void test_kube_status_parse_not_found(void **state) {
        const char *body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                           "\"message\":\"clusters.cluster.x-k8s.io \\\"c1\\\" not found\",\"reason\":\"NotFound\","
                           "\"details\":{\"name\":\"c1\",\"group\":\"cluster.x-k8s.io\",\"kind\":\"clusters\"},"
                           "\"code\":404}";
        KubeStatus s;
        _cleanup_free_ char *msg = NULL;
        (void) state;

        assert_int_equal(kube_status_parse(404, body, strlen(body), &s), -ENOENT);
        assert_int_equal(s.error, -ENOENT);
        assert_string_equal(s.reason, "NotFound");
        assert_string_equal(s.name, "c1");
        assert_string_equal(s.kind, "clusters");
        assert_string_equal(s.group, "cluster.x-k8s.io");
        msg = kube_status_describe(&s);
        assert_string_equal(msg, "clusters.cluster.x-k8s.io \"c1\" not found (404 Not Found)");
        kube_status_done(&s);
}

static void test_kube_status_parse_conflicts(void **state) {
        _cleanup_free_ char *exists = NULL, *stale = NULL;
        (void) state;
        exists = describe(409,
                          "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"namespaces \\\"capi\\\" already "
                          "exists\",\"reason\":\"AlreadyExists\",\"details\":{\"name\":\"capi\",\"kind\":\"namespaces\"},"
                          "\"code\":409}",
                          -EEXIST);
        assert_string_equal(exists, "namespaces \"capi\" already exists (409 Conflict: AlreadyExists)");
        stale = describe(409,
                         "{\"kind\":\"Status\",\"message\":\"Operation cannot be fulfilled on clusters.cluster.x-k8s.io "
                         "\\\"c1\\\": the object has been modified; please apply your changes to the latest version "
                         "and try again\",\"reason\":\"Conflict\",\"code\":409}",
                         -ESTALE);
        assert_string_equal(stale, "Operation cannot be fulfilled on clusters.cluster.x-k8s.io \"c1\": the object has "
                                   "been modified; please apply your changes to the latest version and try again "
                                   "(409 Conflict)");
}

static void test_kube_status_parse_causes(void **state) {
        /* the apiserver's 422 message already lists the causes: not repeated */
        const char *invalid =
                "{\"kind\":\"Status\",\"message\":\"Cluster.cluster.x-k8s.io \\\"c1\\\" is invalid: spec.paused: "
                "Invalid value: \\\"string\\\": spec.paused in body must be of type boolean: \\\"string\\\"\","
                "\"reason\":\"Invalid\",\"details\":{\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":"
                "\"Invalid value: \\\"string\\\": spec.paused in body must be of type boolean: \\\"string\\\"\","
                "\"field\":\"spec.paused\"}]},\"code\":422}";
        /* an apply conflict names its managers only in the causes */
        const char *apply = "{\"kind\":\"Status\",\"message\":\"Apply failed with 1 conflict\",\"reason\":\"Conflict\","
                            "\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with "
                            "\\\"kubectl\\\": .spec.paused\",\"field\":\".spec.paused\"},{\"message\":\"second\"},7]},"
                            "\"code\":409}";
        _cleanup_free_ char *m1 = NULL, *m2 = NULL;
        KubeStatus s;
        (void) state;

        m1 = describe(422, invalid, -EINVAL);
        assert_null(strstr(m1, "; spec.paused"));
        assert_non_null(strstr(m1, "(422 Unprocessable Entity: Invalid)"));
        m2 = describe(409, apply, -ESTALE);
        assert_string_equal(m2, "Apply failed with 1 conflict; .spec.paused: conflict with \"kubectl\": .spec.paused; "
                                "second (409 Conflict)");
        assert_int_equal(kube_status_parse(409, apply, strlen(apply), &s), -ESTALE);
        assert_int_equal(s.n_causes, 2);
        assert_string_equal(s.causes[0].type, "FieldManagerConflict");
        assert_null(s.causes[1].field);
        kube_status_done(&s);
}

static void test_kube_status_parse_causes_capped(void **state) {
        _cleanup_free_ char *body = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&body, &size);
        KubeStatus s;
        (void) state;

        fprintf(f, "{\"reason\":\"Invalid\",\"details\":{\"causes\":[");
        for (unsigned i = 0; i < KUBE_STATUS_CAUSES_MAX + 10; i++)
                fprintf(f, "%s{\"message\":\"m%u\"}", i ? "," : "", i);
        fprintf(f, "]}}");
        assert_int_equal(fclose(f), 0);
        assert_int_equal(kube_status_parse(422, body, size, &s), -EINVAL);
        assert_int_equal(s.n_causes, KUBE_STATUS_CAUSES_MAX);
        kube_status_done(&s);
}

static void test_kube_status_parse_retry_after(void **state) {
        const char *body = "{\"kind\":\"Status\",\"message\":\"too many requests, please try again later.\","
                           "\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":3},\"code\":429}";
        KubeStatus s;
        (void) state;
        assert_int_equal(kube_status_parse(429, body, strlen(body), &s), -EBUSY);
        assert_int_equal(s.retry_after_sec, 3);
        kube_status_done(&s);
}

static void test_kube_status_parse_plain_text(void **state) {
        _cleanup_free_ char *nf = NULL, *empty = NULL, *unauth = NULL, *unauth_json = NULL, *teapot = NULL;
        (void) state;
        nf = describe(404, "404 page not found\n", -ENOENT);
        assert_string_equal(nf, "404 page not found (404 Not Found)");
        empty = describe(404, "", -ENOENT);
        assert_string_equal(empty, "no such object or resource (404 Not Found)");
        unauth = describe(401, NULL, -EACCES);
        assert_string_equal(unauth, "the server did not accept the kubeconfig's credentials (401 Unauthorized)");
        /* a message that only repeats the status gives way to the hint */
        unauth_json = describe(401, "{\"kind\":\"Status\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\"}",
                               -EACCES);
        assert_string_equal(unauth_json, "the server did not accept the kubeconfig's credentials (401 Unauthorized)");
        teapot = describe(418, "   \n", -EPROTO);
        assert_string_equal(teapot, "the server gave no reason (418)");
}

static void test_kube_status_parse_json_not_status(void **state) {
        _cleanup_free_ char *list = NULL, *bare = NULL;
        (void) state;
        /* JSON that is no Status says nothing, and is not quoted either */
        list = describe(500, "[1,2,3]", -EIO);
        assert_string_equal(list, "the server gave no reason (500 Internal Server Error)");
        /* a Status-shaped object without kind (some proxies) */
        bare = describe(503, "{\"message\":\"etcd is down\"}", -EAGAIN);
        assert_string_equal(bare, "etcd is down (503 Service Unavailable)");
}

static void test_kube_status_parse_hostile_text(void **state) {
        _cleanup_free_ char *esc = NULL, *utf = NULL, *long_body = NULL, *msg = NULL;
        (void) state;
        esc = describe(502, "<html>\x1b[31mbad\x07 gateway\r\n</html>", -EIO);
        assert_string_equal(esc, "<html> [31mbad  gateway  </html> (502 Bad Gateway)");
        /* invalid UTF-8, a C1 control (U+009B, CSI), an overlong '/' */
        utf = describe(500, "caf\xc3\xa9 \xff x\xc2\x9by \xc0\xaf", -EIO);
        assert_string_equal(utf, "caf\xc3\xa9 ? x??y ?? (500 Internal Server Error)");
        long_body = malloc(KUBE_STATUS_BODY_MAX + 2);
        assert_non_null(long_body);
        memset(long_body, 'a', KUBE_STATUS_BODY_MAX + 1);
        long_body[0] = '{';
        long_body[KUBE_STATUS_BODY_MAX + 1] = '\0';
        msg = describe(500, long_body, -EIO);
        /* cut at the text cap */
        assert_int_equal(strlen(msg), KUBE_STATUS_TEXT_MAX + 3 + strlen(" (500 Internal Server Error)"));
}

static void test_kube_status_parse_wrong_types(void **state) {
        const char *body = "{\"kind\":\"Status\",\"message\":7,\"reason\":[\"x\"],\"details\":{\"name\":{},\"causes\":"
                           "{\"a\":1},\"retryAfterSeconds\":-5}}";
        KubeStatus s;
        (void) state;
        assert_int_equal(kube_status_parse(409, body, strlen(body), &s), -ESTALE);
        assert_null(s.message);
        assert_null(s.reason);
        assert_null(s.name);
        assert_int_equal(s.n_causes, 0);
        assert_int_equal(s.retry_after_sec, 0);
        kube_status_done(&s);
        kube_status_done(NULL);
}

static void test_kube_printable(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        (void) state;
        a = kube_printable("  hello\tworld \n", 15, 100);
        assert_string_equal(a, "hello world");
        /* exact fit, then one over */
        b = kube_printable("abcdef", 6, 6);
        assert_string_equal(b, "abcdef");
        c = kube_printable("abcdefg", 7, 6);
        assert_string_equal(c, "abcdef...");
        /* a character is never cut in half */
        d = kube_printable("ab\xc3\xa9", 4, 3);
        assert_string_equal(d, "ab...");
        /* embedded NUL (by length), truncated sequence at the end */
        e = kube_printable("a\0b\xe2\x82", 5, 100);
        assert_string_equal(e, "a b??");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kube_status_errno_table),
                cmocka_unit_test(test_kube_status_parse_not_found),
                cmocka_unit_test(test_kube_status_parse_conflicts),
                cmocka_unit_test(test_kube_status_parse_causes),
                cmocka_unit_test(test_kube_status_parse_causes_capped),
                cmocka_unit_test(test_kube_status_parse_retry_after),
                cmocka_unit_test(test_kube_status_parse_plain_text),
                cmocka_unit_test(test_kube_status_parse_json_not_status),
                cmocka_unit_test(test_kube_status_parse_hostile_text),
                cmocka_unit_test(test_kube_status_parse_wrong_types),
                cmocka_unit_test(test_kube_printable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
