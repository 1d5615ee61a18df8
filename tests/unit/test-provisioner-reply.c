/* Tests for agent/swarm/lease-reply.c: the member's reading of the
 * coordinator's lease replies. Good replies of each operation as the
 * coordinator writes them, then every bad field refused with its path, and
 * nothing handed out on a refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/cleanup.h"
#include "swarm/lease-reply.h"

#define BASE "\"halted\":false,\"halt_serial\":3,\"heartbeat_usec\":10000000"
#define GRANT(m, t) "{\"machine\":\"" m "\",\"token\":" #t ",\"expires_usec\":5,\"deadline_usec\":9,\"generation\":2}"

static int parse(CoordOp op, unsigned status, const char *text, LeaseReply *r, char **err) {
        return lease_reply_parse(op, status, text, strlen(text), r, err);
}

static void test_lease_reply_acquire_ok(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL;
        const char *text = "{" BASE ",\"leases\":[" GRANT("m1", 7) ",{\"machine\":\"m2\",\"token\":8,"
                           "\"expires_usec\":5,\"deadline_usec\":9,\"generation\":1,"
                           "\"bmc\":{\"endpoint\":\"https://10.0.0.9\",\"username\":\"u\",\"password\":\"p\"}}]}";

        (void) state;
        assert_int_equal(parse(COORD_OP_ACQUIRE, 200, text, &r, &err), 0);
        assert_null(err);
        assert_false(r.halted);
        assert_int_equal(r.halt_serial, 3);
        assert_int_equal(r.heartbeat_usec, 10000000);
        assert_int_equal(r.n_leases, 2);
        assert_string_equal(r.leases[0].machine, "m1");
        assert_int_equal(r.leases[0].token, 7);
        assert_int_equal(r.leases[0].expires_usec, 5);
        assert_int_equal(r.leases[0].deadline_usec, 9);
        assert_int_equal(r.leases[0].generation, 2);
        assert_null(r.leases[0].bmc);
        /* no "volume": a coordinator from before it, whose configs always create */
        assert_false(r.leases[0].volume_may_exist);
        assert_string_equal(json_string_value(json_object_get(r.leases[1].bmc, "endpoint")), "https://10.0.0.9");
        assert_int_equal(r.n_held, 0);
}

static void test_lease_reply_heartbeat_ok(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL;
        const char *text = "{\"halted\":true,\"halt_serial\":4,\"heartbeat_usec\":1,"
                           "\"leases\":[{\"machine\":\"m1\",\"token\":7,\"status\":\"ok\",\"expires_usec\":99},"
                           "{\"machine\":\"m2\",\"token\":8,\"status\":\"stale\",\"expires_usec\":0}],"
                           "\"held\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":99,\"deadline_usec\":100,"
                           "\"generation\":1,\"cycled\":true}]}";

        (void) state;
        assert_int_equal(parse(COORD_OP_HEARTBEAT, 200, text, &r, &err), 0);
        assert_true(r.halted);
        assert_int_equal(r.n_leases, 2);
        assert_string_equal(r.leases[1].status, "stale");
        assert_int_equal(r.n_held, 1);
        assert_true(r.held[0].cycled);
        assert_int_equal(r.held[0].deadline_usec, 100);
}

/* The lease's "volume": whether the machine's config may find its data
 * volume made by an earlier attempt or boot (coordinator.h, CoordVolume). */
static void test_lease_reply_volume(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {}, h = {};
        _cleanup_free_ char *err = NULL;
        const char *text = "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":5,"
                           "\"deadline_usec\":9,\"generation\":2,\"volume\":\"existing-or-create\"},"
                           "{\"machine\":\"m2\",\"token\":8,\"expires_usec\":5,\"deadline_usec\":9,"
                           "\"generation\":2,\"volume\":\"create\"}]}";
        const char *held = "{" BASE ",\"leases\":[],\"held\":[{\"machine\":\"m1\",\"token\":7,"
                           "\"expires_usec\":99,\"deadline_usec\":100,\"generation\":1,\"cycled\":false,"
                           "\"volume\":\"existing-or-create\"}]}";

        (void) state;
        assert_int_equal(parse(COORD_OP_ACQUIRE, 200, text, &r, &err), 0);
        assert_int_equal(r.n_leases, 2);
        assert_true(r.leases[0].volume_may_exist);
        assert_false(r.leases[1].volume_may_exist);
        assert_int_equal(parse(COORD_OP_HEARTBEAT, 200, held, &h, &err), 0);
        assert_int_equal(h.n_held, 1);
        assert_true(h.held[0].volume_may_exist);
}

static void test_lease_reply_error_reply(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(parse(COORD_OP_FENCE, 409, "{\"error\":\"stale\",\"message\":\"moved\"}", &r, &err), 0);
        assert_int_equal(r.status, 409);
        assert_string_equal(r.error, "stale");
        assert_string_equal(r.message, "moved");
        lease_reply_clear(&r);
        assert_int_equal(parse(COORD_OP_FENCE, 403, "{\"message\":\"x\"}", &r, &err), -EBADMSG);
        assert_string_equal(err, "$.error: missing");
}

/* A fence, report or release reply is the base alone. */
static void test_lease_reply_base_only(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(parse(COORD_OP_REPORT, 200, "{" BASE "}", &r, &err), 0);
        assert_int_equal(r.n_leases, 0);
        assert_null(r.leases);
}

/* Every bad reply, with the error it must name. */
static const struct {
        CoordOp op;
        const char *text, *error;
        int r;
} bad[] = {
        { COORD_OP_ACQUIRE, "", "$: not JSON", -EBADMSG },
        { COORD_OP_ACQUIRE, "[]", "$: not a JSON object", -EBADMSG },
        { COORD_OP_ACQUIRE, "{\"halted\":false,\"halted\":true}", "$: not JSON", -EBADMSG },
        { COORD_OP_ACQUIRE, "{\"halt_serial\":1,\"heartbeat_usec\":1,\"leases\":[]}", "$.halted: missing", -EBADMSG },
        { COORD_OP_ACQUIRE, "{\"halted\":1,\"halt_serial\":1,\"heartbeat_usec\":1,\"leases\":[]}",
          "$.halted: not a boolean", -EBADMSG },
        { COORD_OP_ACQUIRE, "{\"halted\":false,\"halt_serial\":-1,\"heartbeat_usec\":1,\"leases\":[]}",
          "$.halt_serial: not an integer", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE "}", "$.leases: missing", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":{}}", "$.leases: not an array", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[1]}", "$.leases[0]: not an object", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"token\":1}]}", "$.leases[0].machine: missing", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"machine\":\"\",\"token\":1}]}",
          "$.leases[0].machine: not a printable string", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"machine\":\"m\\u0001\",\"token\":1}]}",
          "$.leases[0].machine: not a printable string", -EBADMSG },
        { COORD_OP_ACQUIRE,
          "{" BASE ",\"leases\":[{\"machine\":\"m1234567890123456789012345678901234567890123456789012345678901234\"}]}",
          "$.leases[0].machine: not a printable string of 1 to 63 bytes", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[" GRANT("m1", 0) "]}",
          "$.leases[0].token: not an integer from 1", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":\"7\"}]}",
          "$.leases[0].token: not an integer", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7.5}]}",
          "$.leases[0].token: not an integer", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1}]}",
          "$.leases[0].deadline_usec: missing", -EBADMSG },
        { COORD_OP_ACQUIRE,
          "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1,\"deadline_usec\":1,"
          "\"generation\":0}]}",
          "$.leases[0].generation: not an integer from 1 to 2147483647", -EBADMSG },
        { COORD_OP_ACQUIRE,
          "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1,\"deadline_usec\":1,"
          "\"generation\":1,\"bmc\":\"https://x\"}]}",
          "$.leases[0].bmc: not an object", -EBADMSG },
        { COORD_OP_ACQUIRE,
          "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1,\"deadline_usec\":1,"
          "\"generation\":1,\"volume\":\"wipe\"}]}",
          "$.leases[0].volume: not \"create\" or \"existing-or-create\"", -EBADMSG },
        { COORD_OP_ACQUIRE,
          "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1,\"deadline_usec\":1,"
          "\"generation\":1,\"volume\":true}]}",
          "$.leases[0].volume: not \"create\"", -EBADMSG },
        { COORD_OP_ACQUIRE, "{" BASE ",\"leases\":[" GRANT("m1", 7) "," GRANT("m1", 8) "]}",
          "$.leases[1].machine: \"m1\" named twice", -EBADMSG },
        { COORD_OP_HEARTBEAT, "{" BASE ",\"leases\":[]}", "$.held: missing", -EBADMSG },
        { COORD_OP_HEARTBEAT,
          "{" BASE ",\"leases\":[{\"machine\":\"m1\",\"token\":7,\"expires_usec\":1}],\"held\":[]}",
          "$.leases[0].status: missing", -EBADMSG },
        { COORD_OP_HEARTBEAT, "{" BASE ",\"leases\":[],\"held\":[" GRANT("m1", 7) "]}", "$.held[0].cycled: missing",
          -EBADMSG },
        { COORD_OP_FENCE, "{\"halted\":false}", "$.halt_serial: missing", -EBADMSG },
};

static void test_lease_reply_bad(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                _cleanup_(lease_reply_clear) LeaseReply r = {};
                _cleanup_free_ char *err = NULL;
                int got = parse(bad[i].op, 200, bad[i].text, &r, &err);

                if (got != bad[i].r || !err || strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
                        fail_msg("case %zu (%s): got %d \"%s\", want %d \"%s...\"", i, bad[i].text, got,
                                 err ? err : "(null)", bad[i].r, bad[i].error);
                /* nothing handed out */
                assert_null(r.leases);
                assert_null(r.held);
                assert_int_equal(r.n_leases + r.n_held, 0);
        }
}

static void test_lease_reply_caps(void **state) {
        _cleanup_(lease_reply_clear) LeaseReply r = {};
        _cleanup_free_ char *err = NULL, *big = NULL, *many = NULL;
        size_t n = LEASE_REPLY_MAX + 1, off;

        (void) state;
        big = malloc(n);
        assert_non_null(big);
        memset(big, ' ', n);
        assert_int_equal(lease_reply_parse(COORD_OP_ACQUIRE, 200, big, n, &r, &err), -E2BIG);
        assert_string_equal(err, "$: a reply of more than 1048576 bytes");
        free(err);
        err = NULL;
        /* one lease past the list cap */
        many = malloc(64 * (LEASE_REPLY_LEASES_MAX + 1) + 128);
        assert_non_null(many);
        off = (size_t) sprintf(many, "{" BASE ",\"leases\":[");
        for (unsigned i = 0; i <= LEASE_REPLY_LEASES_MAX; i++)
                off += (size_t) sprintf(many + off, "%s{\"machine\":\"m%u\",\"token\":1}", i ? "," : "", i);
        sprintf(many + off, "]}");
        assert_int_equal(parse(COORD_OP_ACQUIRE, 200, many, &r, &err), -E2BIG);
        assert_string_equal(err, "$.leases: more than 256 leases");
        assert_null(r.leases);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lease_reply_acquire_ok),
                cmocka_unit_test(test_lease_reply_heartbeat_ok),
                cmocka_unit_test(test_lease_reply_volume),
                cmocka_unit_test(test_lease_reply_error_reply),
                cmocka_unit_test(test_lease_reply_base_only),
                cmocka_unit_test(test_lease_reply_bad),
                cmocka_unit_test(test_lease_reply_caps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
