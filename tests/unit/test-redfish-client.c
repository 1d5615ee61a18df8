/* Tests for agent/bmc against the fake Redfish (test-redfish-fake.h): each
 * operation, each vendor quirk the fake can play, and each failure the
 * brief lists (401, 404, 405, 409, 412 stale ETag, 428, 500 then success,
 * a hanging BMC, malformed and truncated JSON, a reply too large, a
 * redirect, a Location to another host), each ending in one clear error
 * that names machine, endpoint and operation. Also: sessions (created,
 * renewed on 401, deleted), basic auth, concurrent BMCs on one loop, and
 * freeing a client mid-operation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "bmc/bmc.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/spec.h"
#include "test-redfish-fake.h"

#define USEC_PER_MSEC 1000ULL
#define MACHINE "seed"

typedef struct Ctx {
        FakeRedfish fake;
        char dir[64];
        char cred[96];
        BmcInventory *inv;
        BmcOptions opts;
        json_t *bmc_extra; /* merged into inventory[0].bmc */
} Ctx;

typedef struct Run {
        int r;
        char *error;
        char *summary;
        BmcResult res;
        uint64_t usec;
} Run;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static const char *srcdir(void) {
        const char *s = getenv("STRATA_SRCDIR");
        return s ? s : ".";
}

/* minimal.json with every machine's BMC at `urls` (NULL: the fake), the
 * test's credential file and user, and c->bmc_extra merged into the first. */
static void ctx_inventory(Ctx *c, const char *const urls[3]) {
        char path[512];
        json_auto_t *spec = NULL;
        json_t *inv, *m;
        _cleanup_free_ char *text = NULL, *err = NULL;
        SpecErrors errors = {};
        Spec *s = NULL;
        size_t i;

        snprintf(path, sizeof(path), "%s/proto/examples/minimal.json", srcdir());
        spec = json_load_file(path, 0, NULL);
        assert_non_null(spec);
        inv = json_object_get(spec, "inventory");
        json_array_foreach(inv, i, m) {
                json_t *bmc = json_object_get(m, "bmc");
                json_object_set_new(bmc, "endpoint", json_string(urls && urls[i] ? urls[i] : c->fake.url));
                json_object_set_new(bmc, "credential", json_pack("{s:s}", "file", c->cred));
                json_object_set_new(bmc, "username", json_string(FAKE_USER));
                if (strncmp(urls && urls[i] ? urls[i] : c->fake.url, "https", 5) == 0)
                        json_object_set_new(bmc, "tls", json_pack("{s:s}", "mode", "insecure"));
                if (i == 0 && c->bmc_extra)
                        json_object_update(bmc, c->bmc_extra);
        }
        text = json_dumps(spec, 0);
        assert_non_null(text);
        if (spec_parse(text, strlen(text), "test", &s, &errors) < 0) {
                spec_errors_print(stderr, "test", &errors);
                fail();
        }
        bmc_inventory_free(c->inv);
        c->inv = NULL;
        assert_int_equal(bmc_inventory_from_spec(s, &c->inv, &err), 0);
        spec_free(s);
}

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        FILE *f;

        assert_non_null(c);
        fake_defaults(&c->fake);
        assert_int_equal(fake_start(&c->fake, NULL, NULL), 0);
        snprintf(c->dir, sizeof(c->dir), "/tmp/strata-rf-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        snprintf(c->cred, sizeof(c->cred), "%s/bmc", c->dir);
        f = fopen(c->cred, "we");
        assert_non_null(f);
        fprintf(f, "%s\n", FAKE_PASSWORD);
        fclose(f);
        chmod(c->cred, 0600);
        c->opts = (BmcOptions) { .request_timeout_usec = 2000 * USEC_PER_MSEC,
                                 .retries = 3,
                                 .backoff_usec = 10 * USEC_PER_MSEC,
                                 .poll_usec = 10 * USEC_PER_MSEC,
                                 .settle_usec = 2000 * USEC_PER_MSEC,
                                 .task_timeout_usec = 2000 * USEC_PER_MSEC };
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        fake_stop(&c->fake);
        bmc_inventory_free(c->inv);
        json_decref(c->bmc_extra);
        unlink(c->cred);
        rmdir(c->dir);
        free(c);
        return 0;
}

static void run_done(Run *run) {
        free(run->error);
        bmc_result_done(&run->res);
}

static Run run_op(Ctx *c, BmcOp op, const char *url) {
        const char *machines[] = { MACHINE };
        BmcOutcome out = {};
        Run run = {};
        uint64_t t0;

        if (!c->inv)
                ctx_inventory(c, NULL);
        t0 = now_usec();
        assert_int_equal(bmc_run(c->inv, machines, 1, op, url, &c->opts, &out), 0);
        run.usec = now_usec() - t0;
        run.r = out.r;
        run.error = take_ptr(out.error);
        run.res = out.result;
        out.result = (BmcResult) {};
        bmc_outcome_done(&out);
        if (run.r < 0)
                fprintf(stderr, "error: %s\n", run.error ? run.error : "(none)");
        return run;
}

/* The run failed with `r`, one message naming machine, endpoint and op,
 * containing `a` (and `b`). */
static void assert_failed(Ctx *c, const Run *run, int r, const char *op, const char *a, const char *b) {
        char prefix[160];

        snprintf(prefix, sizeof(prefix), "%s (%s): %s: ", MACHINE, c->fake.url, op);
        if (run->r != r || !run->error || strncmp(run->error, prefix, strlen(prefix)) != 0 || !strstr(run->error, a) ||
            (b && !strstr(run->error, b))) {
                fprintf(stderr, "expected %d \"%s...%s...%s\", got %d \"%s\"\n", r, prefix, a, b ? b : "", run->r,
                        run->error ? run->error : "(null)");
                fake_dump(&c->fake);
                fail();
        }
        /* one line, printable */
        for (const char *p = run->error; *p; p++)
                assert_true(*p >= 0x20 && *p < 0x7f);
}

static void assert_ok(Ctx *c, const Run *run) {
        if (run->r != 0) {
                fake_dump(&c->fake);
                fail_msg("expected success, got %d: %s", run->r, run->error ? run->error : "");
        }
}

/* ---- discovery, auth ------------------------------------------------ */

static void test_bmc_status_session(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_STATUS, NULL);

        assert_ok(c, &run);
        assert_string_equal(run.res.status.system, "/redfish/v1/Systems/1");
        assert_string_equal(run.res.status.matched_by, "mac");
        assert_string_equal(run.res.status.power_state, "Off");
        assert_string_equal(run.res.status.auth, "session");
        assert_string_equal(run.res.status.quirks, "generic");
        assert_string_equal(run.res.status.serial, "SN000");
        assert_string_equal(run.res.status.media_slot, "/redfish/v1/Managers/1/VirtualMedia/CD1");
        assert_false(run.res.status.media_inserted);
        /* one session, deleted at the end; the token, never basic auth */
        assert_int_equal(c->fake.sessions_created, 1);
        assert_int_equal(c->fake.sessions_deleted, 1);
        assert_int_equal(fake_count(&c->fake, " basic", NULL), 0);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems/1 ", " token"), 2);
        /* sushy's identity encoding on every request */
        assert_int_equal(fake_count(&c->fake, " identity", NULL), c->fake.n_history);
        run_done(&run);
}

static void test_bmc_status_basic_auth(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.sessions = false;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.auth, "basic");
        assert_int_equal(fake_count(&c->fake, "POST /redfish/v1/SessionService", NULL), 0);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems/1 ", " basic"), 2);
        run_done(&run);
}

static void test_bmc_select_by_system_id(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.n_systems = 3;
        c->bmc_extra = json_pack("{s:s}", "system_id", "3");
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.system, "/redfish/v1/Systems/3");
        assert_string_equal(run.res.status.matched_by, "system_id");
        /* the member named like the Id is probed first */
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems/1 ", NULL), 0);
        run_done(&run);
}

static void test_bmc_select_by_serial(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.n_systems = 3;
        c->bmc_extra = json_pack("{s:s}", "serial", "sn002");
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.system, "/redfish/v1/Systems/3");
        assert_string_equal(run.res.status.matched_by, "serial");
        run_done(&run);
}

static void test_bmc_select_by_uuid(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.n_systems = 3;
        c->bmc_extra = json_pack("{s:s}", "uuid", "4C4C4544-0042-3510-8052-B4C04F384D31");
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.system, "/redfish/v1/Systems/2");
        assert_string_equal(run.res.status.matched_by, "uuid");
        run_done(&run);
}

static void test_bmc_select_by_mac_among_several(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.n_systems = 3;
        /* minimal.json's seed has 52:54:00:00:00:01; make it the third's */
        snprintf(c->fake.systems[0].mac, 18, "52:54:00:aa:00:01");
        snprintf(c->fake.systems[2].mac, 18, "52:54:00:00:00:01");
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.system, "/redfish/v1/Systems/3");
        assert_string_equal(run.res.status.matched_by, "mac");
        run_done(&run);
}

static void test_bmc_select_only_system(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].mac, 18, "52:54:00:aa:00:01");
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.matched_by, "only system");
        run_done(&run);
}

static void test_bmc_select_refused(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.n_systems = 2;
        c->bmc_extra = json_pack("{s:s}", "serial", "NOPE");
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -ENODEV, "power on", "no system with SerialNumber NOPE", NULL);
        /* a wrong machine is never touched */
        assert_int_equal(fake_count(&c->fake, "POST /redfish/v1/Systems", NULL), 0);
        run_done(&run);
}

static void test_bmc_401_wrong_password(void **state) {
        Ctx *c = *state;
        FILE *f = fopen(c->cred, "we");
        Run run;

        fprintf(f, "wrong\n");
        fclose(f);
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_failed(c, &run, -EACCES, "power cycle", "creating a session: 401 Unauthorized",
                      "bad user name or password");
        assert_null(strstr(run.error, "wrong"));
        run_done(&run);
}

static void test_bmc_401_basic_auth(void **state) {
        Ctx *c = *state;
        FILE *f = fopen(c->cred, "we");
        Run run;

        fprintf(f, "wrong\n");
        fclose(f);
        c->fake.sessions = false;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -EACCES, "status", "401 Unauthorized", "authentication required");
        run_done(&run);
}

static void test_bmc_session_renewed_on_401(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.token_uses = 2;
        c->fake.systems[0].http_uri[0] = '\0';
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_true(c->fake.sessions_created >= 2);
        run_done(&run);
}

/* ---- power ------------------------------------------------------------ */

static void test_bmc_power_on(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_POWER_ON, NULL);

        assert_ok(c, &run);
        assert_string_equal(c->fake.systems[0].power, "On");
        assert_string_equal(run.res.status.power_state, "On");
        assert_int_equal(fake_count(&c->fake, "POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                                    "{\"ResetType\":\"On\"}"),
                         1);
        assert_string_equal(run.res.summary, "On accepted (204); PowerState On");
        run_done(&run);
}

static void test_bmc_power_on_already_on(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.summary, "already On");
        assert_int_equal(fake_count(&c->fake, "POST /redfish/v1/Systems/1/Actions", NULL), 0);
        run_done(&run);
}

static void test_bmc_power_off(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_OFF, NULL);
        assert_ok(c, &run);
        assert_string_equal(c->fake.systems[0].power, "Off");
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "ForceOff"), 1);
        run_done(&run);
}

static void test_bmc_power_cycle(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "PowerCycle"), 1);
        assert_string_equal(run.res.summary, "PowerCycle accepted (204); PowerState On");
        run_done(&run);
}

static void test_bmc_power_cycle_when_off_powers_on(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_POWER_CYCLE, NULL);

        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "\"On\""), 1);
        assert_string_equal(c->fake.systems[0].power, "On");
        run_done(&run);
}

static void test_bmc_power_cycle_allowable_forcerestart(void **state) {
        Ctx *c = *state;
        static const char *const resets[] = { "On", "ForceOff", "ForceRestart", NULL };
        Run run;

        memcpy(c->fake.resets, resets, sizeof(resets));
        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        /* never tried: not in ResetType@Redfish.AllowableValues */
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "PowerCycle"), 0);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "ForceRestart"), 1);
        run_done(&run);
}

static void test_bmc_power_cycle_allowable_off_then_on(void **state) {
        Ctx *c = *state;
        static const char *const resets[] = { "On", "ForceOff", NULL };
        Run run;

        memcpy(c->fake.resets, resets, sizeof(resets));
        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "ForceOff"), 1);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "\"On\""), 1);
        assert_string_equal(c->fake.systems[0].power, "On");
        assert_string_equal(run.res.summary, "ForceOff, then On accepted (204); PowerState On");
        run_done(&run);
}

static void test_bmc_power_cycle_400_next_type(void **state) {
        Ctx *c = *state;
        static const char *const resets[] = { "On", "ForceOff", "ForceRestart", NULL };
        Run run;

        /* no AllowableValues: try in order, a 400 moves on */
        c->fake.reset_allowable = false;
        memcpy(c->fake.resets, resets, sizeof(resets));
        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "PowerCycle"), 1);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "ForceRestart"), 1);
        run_done(&run);
}

static void test_bmc_power_action_info(void **state) {
        Ctx *c = *state;
        static const char *const resets[] = { "On", "ForceOff", "ForceRestart", NULL };
        Run run;

        c->fake.reset_allowable = false;
        c->fake.reset_action_info = true;
        memcpy(c->fake.resets, resets, sizeof(resets));
        snprintf(c->fake.systems[0].power, 16, "On");
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems/1/ResetActionInfo", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "PowerCycle"), 0);
        run_done(&run);
}

static void test_bmc_power_on_409_dell_retried(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "Dell";
        c->fake.conflict_on = 2;
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.quirks, "dell-idrac");
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "\"On\""), 3);
        run_done(&run);
}

static void test_bmc_power_on_409(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.conflict_on = 5;
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -EBUSY, "power on", "409 Conflict: ", "still powering off");
        assert_true(strstr(run.error, "PowerState is Off") != NULL);
        run_done(&run);
}

static void test_bmc_power_405(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 405;
        c->fake.n_fail = 1;
        c->fake.fail_method = "POST";
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -EOPNOTSUPP, "power on", "405 Method Not Allowed: ",
                      "(POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset)");
        run_done(&run);
}

static void test_bmc_power_task(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.reset_task = true;
        c->fake.task_polls = 2;
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/TaskService/Tasks/1/Monitor", NULL), 3);
        assert_string_equal(run.res.summary, "On accepted (202); PowerState On");
        run_done(&run);
}

static void test_bmc_power_task_fails(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.reset_task = true;
        c->fake.task_fails = true;
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -EIO, "power on", "task /redfish/v1/TaskService/Tasks/1/Monitor ended Exception",
                      "the BMC gave up");
        run_done(&run);
}

static void test_bmc_task_location_elsewhere_refused(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.reset_task = true;
        c->fake.task_location = "http://192.0.2.99:8000/redfish/v1/TaskService/Tasks/1/Monitor";
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -EPERM, "power on", "refused to follow Location http://192.0.2.99:8000", NULL);
        run_done(&run);
}

/* ---- retries, time-outs, bad replies -------------------------------- */

static void test_bmc_500_then_success(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 500;
        c->fake.fail_next[1] = 500;
        c->fake.n_fail = 2;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems ", NULL), 3);
        run_done(&run);
}

static void test_bmc_500_retries_exhausted(void **state) {
        Ctx *c = *state;
        Run run;

        for (int i = 0; i < 8; i++)
                c->fake.fail_next[i] = 500;
        c->fake.n_fail = 8;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -EIO, "status", "500 Internal Server Error: ", "(after 4 attempts) (GET /redfish/v1/Systems)");
        run_done(&run);
}

static void test_bmc_500_not_retried_for_power_cycle(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        c->fake.fail_next[0] = 500;
        c->fake.n_fail = 1;
        c->fake.fail_method = "POST";
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        /* PowerCycle may have happened: never sent twice on a plain 500 */
        assert_failed(c, &run, -EIO, "power cycle", "500 Internal Server Error", NULL);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", NULL), 1);
        run_done(&run);
}

static void test_bmc_busy_message_retried_for_power_cycle(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        c->fake.fail_next[0] = 500;
        c->fake.n_fail = 1;
        c->fake.fail_method = "POST";
        c->fake.fail_message_id = "IDRAC.2.8.SYS518";
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "ComputerSystem.Reset", "PowerCycle"), 2);
        run_done(&run);
}

static void test_bmc_503_retried_for_power_cycle(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].power, 16, "On");
        c->fake.fail_next[0] = 503;
        c->fake.n_fail = 1;
        c->fake.fail_method = "POST";
        run = run_op(c, BMC_OP_POWER_CYCLE, NULL);
        assert_ok(c, &run);
        run_done(&run);
}

static void test_bmc_404(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 404;
        c->fake.n_fail = 1;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -ENOENT, "status", "404 Not Found: ", "injected failure");
        run_done(&run);
}

static void test_bmc_406_retried_without_identity(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 406;
        c->fake.n_fail = 1;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems ", " identity"), 1);
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Systems ", NULL), 2);
        run_done(&run);
}

static void test_bmc_hanging_times_out(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.hang_ms = 5000;
        c->fake.hang_prefix = "/redfish/v1/Systems/1";
        c->opts.request_timeout_usec = 200 * USEC_PER_MSEC;
        c->opts.retries = 1;
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -ETIMEDOUT, "status", "timed out after 200 ms (after 2 attempts)", "GET /redfish/v1/Systems/1");
        assert_true(run.usec < 2000 * USEC_PER_MSEC);
        run_done(&run);
}

static void test_bmc_malformed_json(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.raw_path = "/redfish/v1/Systems/1";
        c->fake.raw_body = "{\"Id\": \"1\",, \"PowerState\": \"On\"}";
        run = run_op(c, BMC_OP_POWER_ON, NULL);
        assert_failed(c, &run, -EBADMSG, "power on", "malformed JSON at line 1 column", "GET /redfish/v1/Systems/1");
        run_done(&run);
}

static void test_bmc_truncated_json(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.raw_path = "/redfish/v1/Systems";
        c->fake.raw_body = "{\"Members\": [{\"@odata.id\": \"/redfish/v1/Sys";
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -EBADMSG, "status", "malformed JSON", "GET /redfish/v1/Systems");
        run_done(&run);
}

static void test_bmc_wrong_json_types(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.raw_path = "/redfish/v1/Systems/1";
        c->fake.raw_body = "{\"Id\": 1, \"PowerState\": [\"On\"]}";
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -EBADMSG, "status", "Id: not a string", NULL);
        run_done(&run);
}

static void test_bmc_reply_too_large(void **state) {
        Ctx *c = *state;
        size_t n = 1100 * 1024;
        char *big = malloc(n + 1);
        Run run;

        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = '\0';
        c->fake.raw_path = "/redfish/v1/Systems/1";
        c->fake.raw_body = big;
        run = run_op(c, BMC_OP_STATUS, NULL);
        free(big);
        assert_failed(c, &run, -EMSGSIZE, "status", "reply larger than 1048576 bytes", "GET /redfish/v1/Systems/1");
        run_done(&run);
}

static void test_bmc_redirect_not_followed(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.redirect_path = "/redfish/v1/Systems";
        c->fake.redirect_to = "http://203.0.113.7/redfish/v1/Systems";
        run = run_op(c, BMC_OP_STATUS, NULL);
        assert_failed(c, &run, -EPERM, "status", "302 Found: redirect to http://203.0.113.7/redfish/v1/Systems not followed",
                      NULL);
        run_done(&run);
}

/* ---- boot override ------------------------------------------------- */

static void test_bmc_pxe_once(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_PXE_ONCE, NULL);

        assert_ok(c, &run);
        assert_string_equal(c->fake.systems[0].boot_target, "Pxe");
        assert_string_equal(c->fake.systems[0].boot_enabled, "Once");
        assert_string_equal(c->fake.systems[0].boot_mode, "UEFI");
        /* one PATCH: Once + target + UEFI, If-Match from the GET */
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=\"1\"", "\"BootSourceOverrideMode\":\"UEFI\""),
                         1);
        assert_string_equal(run.res.status.boot_target, "Pxe");
        assert_string_equal(run.res.summary, "boot override Pxe, Once");
        run_done(&run);
}

static void test_bmc_pxe_once_uefi_already(void **state) {
        Ctx *c = *state;
        Run run;

        snprintf(c->fake.systems[0].boot_mode, 8, "UEFI");
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        /* the mode is only written where it must change */
        assert_int_equal(fake_count(&c->fake, "PATCH", "BootSourceOverrideMode"), 0);
        run_done(&run);
}

static void test_bmc_http_boot_once(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_HTTP_BOOT_ONCE, "http://192.0.2.11/boot.efi");

        assert_ok(c, &run);
        assert_string_equal(c->fake.systems[0].boot_target, "UefiHttp");
        assert_string_equal(c->fake.systems[0].http_uri, "http://192.0.2.11/boot.efi");
        assert_string_equal(run.res.status.http_boot_uri, "http://192.0.2.11/boot.efi");
        run_done(&run);
}

static void test_bmc_boot_412_stale_then_ok(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.stale_next = 1;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=\"1\"", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=\"2\"", NULL), 1);
        run_done(&run);
}

static void test_bmc_boot_412_stale_always(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.stale_always = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_failed(c, &run, -ESTALE, "pxe-once",
                      "412 Precondition Failed: stale ETag, re-read and retried once, still refused", NULL);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 2);
        run_done(&run);
}

static void test_bmc_boot_412_own_etag_then_without(void **state) {
        Ctx *c = *state;
        Run run;

        /* newer Lenovo XCC: 412 to any If-Match; the ETag did not change */
        c->fake.reject_if_match = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 token", NULL), 1);
        assert_non_null(strstr(run.res.summary, "without If-Match"));
        run_done(&run);
}

static void test_bmc_boot_weak_etag_stripped(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.weak_etag = true;
        c->fake.weak_refused = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=W/\"1\"", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=\"1\"", NULL), 1);
        run_done(&run);
}

static void test_bmc_boot_weak_etag_ami_quirk(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "American Megatrends Inc.";
        c->fake.weak_etag = true;
        c->fake.weak_refused = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.quirks, "ami");
        /* stripped from the start, and the mode sent although asked for
         * nothing but a target (full triple) */
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=\"1\"", "BootSourceOverrideMode"), 1);
        run_done(&run);
}

static void test_bmc_boot_428_if_match_required(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.etags = false;
        c->fake.require_if_match = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 token", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 if-match=*", NULL), 1);
        run_done(&run);
}

static void test_bmc_boot_428_lenovo_quirk(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "Lenovo";
        c->fake.etags = false;
        c->fake.require_if_match = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        /* "*" on the first PATCH: no 428 round trip */
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 1);
        run_done(&run);
}

static void test_bmc_boot_428_persists(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 428;
        c->fake.fail_next[1] = 428;
        c->fake.n_fail = 2;
        c->fake.fail_method = "PATCH";
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_failed(c, &run, -ESTALE, "pxe-once", "428 Precondition Required", "(PATCH /redfish/v1/Systems/1)");
        run_done(&run);
}

static void test_bmc_boot_settings_object(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.boot_readonly = true;
        c->fake.settings = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_true(c->fake.systems[0].pending);
        assert_true(run.res.status.boot_pending);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1/Settings if-match=", NULL), 1);
        assert_non_null(strstr(run.res.summary, "settings object"));
        run_done(&run);
}

static void test_bmc_boot_minimal_retry(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.reject_full_boot = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", "BootSourceOverrideMode"), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 2);
        assert_non_null(strstr(run.res.summary, "target and enabled only"));
        run_done(&run);
}

static void test_bmc_boot_hpe_no_mode(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "HPE";
        c->fake.reject_mode = true;
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.quirks, "hpe-ilo");
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 1);
        assert_int_equal(fake_count(&c->fake, "PATCH", "BootSourceOverrideMode"), 0);
        run_done(&run);
}

static void test_bmc_boot_openbmc_no_if_match(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "OpenBMC";
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1 token", NULL), 1);
        run_done(&run);
}

static void test_bmc_boot_500_then_success(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.fail_next[0] = 500;
        c->fake.n_fail = 1;
        c->fake.fail_method = "PATCH";
        run = run_op(c, BMC_OP_PXE_ONCE, NULL);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Systems/1", NULL), 2);
        run_done(&run);
}

/* ---- virtual media ------------------------------------------------- */

#define ISO "http://192.0.2.11/images/strata.iso"

static void test_bmc_insert_media(void **state) {
        Ctx *c = *state;
        Run run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);

        assert_ok(c, &run);
        assert_true(c->fake.systems[0].inserted);
        assert_string_equal(c->fake.systems[0].image, ISO);
        assert_string_equal(run.res.status.media_slot, "/redfish/v1/Managers/1/VirtualMedia/CD1");
        assert_int_equal(fake_count(&c->fake, "POST /redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia",
                                    "\"Inserted\":true"),
                         1);
        run_done(&run);
}

static void test_bmc_insert_media_already(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.systems[0].inserted = true;
        snprintf(c->fake.systems[0].image, 256, ISO);
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_non_null(strstr(run.res.summary, "already inserted"));
        assert_int_equal(fake_count(&c->fake, "InsertMedia", NULL), 0);
        run_done(&run);
}

static void test_bmc_insert_media_replaces(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.systems[0].inserted = true;
        snprintf(c->fake.systems[0].image, 256, "http://192.0.2.11/old.iso");
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "EjectMedia", "body={}"), 1);
        assert_string_equal(c->fake.systems[0].image, ISO);
        run_done(&run);
}

static void test_bmc_insert_media_dell_system(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "Dell";
        c->fake.vmedia_on_system = true;
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.media_slot, "/redfish/v1/Systems/1/VirtualMedia/CD1");
        /* System first: the Manager is never asked */
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Managers/1", NULL), 0);
        run_done(&run);
}

static void test_bmc_insert_media_system_fallback(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vmedia_on_system = true;
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_string_equal(run.res.status.media_slot, "/redfish/v1/Systems/1/VirtualMedia/CD1");
        assert_int_equal(fake_count(&c->fake, "GET /redfish/v1/Managers/1 ", NULL), 1);
        run_done(&run);
}

static void test_bmc_insert_media_patch_lenovo(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "Lenovo";
        c->fake.vmedia_actions = false;
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Managers/1/VirtualMedia/CD1 if-match=", "\"Inserted\":true"), 1);
        run_done(&run);
        run = run_op(c, BMC_OP_EJECT_MEDIA, NULL);
        assert_ok(c, &run);
        assert_false(c->fake.systems[0].inserted);
        assert_int_equal(fake_count(&c->fake, "PATCH /redfish/v1/Managers/1/VirtualMedia/CD1", "\"Image\":null"), 1);
        run_done(&run);
}

static void test_bmc_insert_media_supermicro(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.vendor = "Supermicro";
        c->fake.insert_image_only = true;
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "InsertMedia", NULL), 1);
        run_done(&run);
}

static void test_bmc_insert_media_transfer_fields(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.insert_needs_transfer = true;
        run = run_op(c, BMC_OP_INSERT_MEDIA, ISO);
        assert_ok(c, &run);
        assert_int_equal(fake_count(&c->fake, "InsertMedia", "\"TransferProtocolType\":\"HTTP\""), 1);
        assert_int_equal(fake_count(&c->fake, "InsertMedia", "\"TransferMethod\":\"Stream\""), 1);
        run_done(&run);
}

static void test_bmc_eject_media(void **state) {
        Ctx *c = *state;
        Run run;

        c->fake.systems[0].inserted = true;
        snprintf(c->fake.systems[0].image, 256, ISO);
        run = run_op(c, BMC_OP_EJECT_MEDIA, NULL);
        assert_ok(c, &run);
        assert_false(c->fake.systems[0].inserted);
        assert_string_equal(run.res.summary, "ejected 1 slot");
        run_done(&run);
        run = run_op(c, BMC_OP_EJECT_MEDIA, NULL);
        assert_ok(c, &run);
        assert_string_equal(run.res.summary, "nothing inserted");
        run_done(&run);
}

/* ---- the async API ------------------------------------------------- */

typedef struct Async {
        int done, closed;
        int r;
        sd_event *event;
} Async;

static void on_async_done(BmcClient *cl, int r, const BmcResult *res, const char *error, void *userdata) {
        Async *a = userdata;
        (void) cl;
        (void) res;
        (void) error;
        a->r = r;
        a->done++;
}

static void test_bmc_concurrent_clients(void **state) {
        Ctx *c = *state;
        FakeRedfish more[2] = {};
        const char *urls[3];
        const char *machines[] = { "seed", "node1", "node2" };
        BmcOutcome outs[3] = {};
        uint64_t t0, took;

        for (int i = 0; i < 2; i++) {
                fake_defaults(&more[i]);
                assert_int_equal(fake_start(&more[i], NULL, NULL), 0);
        }
        urls[0] = c->fake.url;
        urls[1] = more[0].url;
        urls[2] = more[1].url;
        ctx_inventory(c, urls);
        /* each BMC takes 600 ms to show its system: one after the other
         * would take 1.8 s */
        c->fake.hang_ms = more[0].hang_ms = more[1].hang_ms = 600;
        c->fake.hang_prefix = more[0].hang_prefix = more[1].hang_prefix = "/redfish/v1/Systems/1";
        c->fake.hang_method = more[0].hang_method = more[1].hang_method = "POST";
        t0 = now_usec();
        assert_int_equal(bmc_run(c->inv, machines, 3, BMC_OP_POWER_ON, NULL, &c->opts, outs), 0);
        took = now_usec() - t0;
        for (int i = 0; i < 3; i++) {
                if (outs[i].r != 0)
                        fprintf(stderr, "%s: %s\n", machines[i], outs[i].error);
                assert_int_equal(outs[i].r, 0);
                bmc_outcome_done(&outs[i]);
        }
        assert_string_equal(more[0].systems[0].power, "On");
        assert_string_equal(more[1].systems[0].power, "On");
        assert_true(took < 1500 * USEC_PER_MSEC);
        for (int i = 0; i < 2; i++)
                fake_stop(&more[i]);
}

/* The provisioner frees a machine's client when its session has closed,
 * from the close callback, which runs inside the logout's reply: the
 * client must not be touched after that callback (ASan's pass catches a
 * use after free here). */
typedef struct FreeOnClose {
        BmcClient *cl;
        int closed, r;
} FreeOnClose;

static void on_closed_free(BmcClient *cl, int r, void *userdata) {
        FreeOnClose *f = userdata;
        assert_ptr_equal(cl, f->cl);
        f->r = r;
        f->closed++;
        f->cl = bmc_client_free(f->cl);
}

static void test_bmc_client_freed_from_its_close_callback(void **state) {
        Ctx *c = *state;
        sd_event *event = NULL;
        CurlEvent *ce = NULL;
        FreeOnClose f = {};
        Async a = {};
        uint64_t deadline;

        ctx_inventory(c, NULL);
        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(curl_event_new(event, &ce), 0);
        assert_int_equal(bmc_client_new(event, ce, c->inv, MACHINE, &c->opts, &f.cl, NULL), 0);
        assert_int_equal(bmc_client_start(f.cl, BMC_OP_STATUS, NULL, on_async_done, &a), 0);
        deadline = now_usec() + 3000 * USEC_PER_MSEC;
        while (a.done == 0 && now_usec() < deadline)
                assert_true(sd_event_run(event, 20 * USEC_PER_MSEC) >= 0);
        assert_int_equal(a.done, 1);
        assert_int_equal(a.r, 0);
        assert_int_equal(c->fake.sessions_created, 1);
        assert_int_equal(bmc_client_close(f.cl, on_closed_free, &f), 0);
        deadline = now_usec() + 3000 * USEC_PER_MSEC;
        while (f.closed == 0 && now_usec() < deadline)
                assert_true(sd_event_run(event, 20 * USEC_PER_MSEC) >= 0);
        assert_int_equal(f.closed, 1);
        assert_int_equal(f.r, 0);
        assert_null(f.cl);
        assert_int_equal(c->fake.sessions_deleted, 1); /* closed through a logout, then freed */
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(curl_event_running(ce), 0);
        curl_event_free(ce);
        sd_event_unref(event);
}

static void test_bmc_client_free_mid_operation(void **state) {
        Ctx *c = *state;
        sd_event *event = NULL;
        CurlEvent *ce = NULL;
        BmcClient *cl = NULL;
        Async a = {};
        uint64_t deadline;

        ctx_inventory(c, NULL);
        c->fake.hang_ms = 3000;
        c->fake.hang_prefix = "/redfish/v1/Systems";
        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(curl_event_new(event, &ce), 0);
        assert_int_equal(bmc_client_new(event, ce, c->inv, MACHINE, &c->opts, &cl, NULL), 0);
        assert_int_equal(bmc_client_start(cl, BMC_OP_STATUS, NULL, on_async_done, &a), 0);
        /* one at a time */
        assert_int_equal(bmc_client_start(cl, BMC_OP_STATUS, NULL, on_async_done, &a), -EBUSY);
        deadline = now_usec() + 300 * USEC_PER_MSEC;
        while (now_usec() < deadline)
                assert_true(sd_event_run(event, 20 * USEC_PER_MSEC) >= 0);
        assert_int_equal(curl_event_running(ce), 1);
        bmc_client_free(cl);
        assert_int_equal(curl_event_running(ce), 0);
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(a.done, 0);
        curl_event_free(ce);
        sd_event_unref(event);
}

static void test_bmc_client_unknown_machine(void **state) {
        Ctx *c = *state;
        sd_event *event = NULL;
        CurlEvent *ce = NULL;
        BmcClient *cl = NULL;
        _cleanup_free_ char *err = NULL;

        ctx_inventory(c, NULL);
        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(curl_event_new(event, &ce), 0);
        assert_int_equal(bmc_client_new(event, ce, c->inv, "elsewhere", NULL, &cl, &err), -ENOENT);
        assert_string_equal(err, "elsewhere: not a machine in the spec's inventory");
        assert_null(cl);
        curl_event_free(ce);
        sd_event_unref(event);
}

static void test_bmc_client_bad_url(void **state) {
        Ctx *c = *state;
        const char *machines[] = { MACHINE };
        BmcOutcome out = {};

        ctx_inventory(c, NULL);
        assert_int_equal(bmc_run(c->inv, machines, 1, BMC_OP_INSERT_MEDIA, "ftp://192.0.2.1/x.iso", &c->opts, &out), 0);
        assert_int_equal(out.r, -EINVAL);
        assert_non_null(strstr(out.error, "insert-media"));
        bmc_outcome_done(&out);
        assert_int_equal(c->fake.n_history, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        /* the plain-http warning would fill the output; it is the CLI's test */
        log_setup(LOG_TARGET_STDERR, LOG_ERR, "test-redfish-client");
        const struct CMUnitTest tests[] = {
                T(test_bmc_status_session),
                T(test_bmc_status_basic_auth),
                T(test_bmc_select_by_system_id),
                T(test_bmc_select_by_serial),
                T(test_bmc_select_by_uuid),
                T(test_bmc_select_by_mac_among_several),
                T(test_bmc_select_only_system),
                T(test_bmc_select_refused),
                T(test_bmc_401_wrong_password),
                T(test_bmc_401_basic_auth),
                T(test_bmc_session_renewed_on_401),
                T(test_bmc_power_on),
                T(test_bmc_power_on_already_on),
                T(test_bmc_power_off),
                T(test_bmc_power_cycle),
                T(test_bmc_power_cycle_when_off_powers_on),
                T(test_bmc_power_cycle_allowable_forcerestart),
                T(test_bmc_power_cycle_allowable_off_then_on),
                T(test_bmc_power_cycle_400_next_type),
                T(test_bmc_power_action_info),
                T(test_bmc_power_on_409_dell_retried),
                T(test_bmc_power_on_409),
                T(test_bmc_power_405),
                T(test_bmc_power_task),
                T(test_bmc_power_task_fails),
                T(test_bmc_task_location_elsewhere_refused),
                T(test_bmc_500_then_success),
                T(test_bmc_500_retries_exhausted),
                T(test_bmc_500_not_retried_for_power_cycle),
                T(test_bmc_busy_message_retried_for_power_cycle),
                T(test_bmc_503_retried_for_power_cycle),
                T(test_bmc_404),
                T(test_bmc_406_retried_without_identity),
                T(test_bmc_hanging_times_out),
                T(test_bmc_malformed_json),
                T(test_bmc_truncated_json),
                T(test_bmc_wrong_json_types),
                T(test_bmc_reply_too_large),
                T(test_bmc_redirect_not_followed),
                T(test_bmc_pxe_once),
                T(test_bmc_pxe_once_uefi_already),
                T(test_bmc_http_boot_once),
                T(test_bmc_boot_412_stale_then_ok),
                T(test_bmc_boot_412_stale_always),
                T(test_bmc_boot_412_own_etag_then_without),
                T(test_bmc_boot_weak_etag_stripped),
                T(test_bmc_boot_weak_etag_ami_quirk),
                T(test_bmc_boot_428_if_match_required),
                T(test_bmc_boot_428_lenovo_quirk),
                T(test_bmc_boot_428_persists),
                T(test_bmc_boot_settings_object),
                T(test_bmc_boot_minimal_retry),
                T(test_bmc_boot_hpe_no_mode),
                T(test_bmc_boot_openbmc_no_if_match),
                T(test_bmc_boot_500_then_success),
                T(test_bmc_insert_media),
                T(test_bmc_insert_media_already),
                T(test_bmc_insert_media_replaces),
                T(test_bmc_insert_media_dell_system),
                T(test_bmc_insert_media_system_fallback),
                T(test_bmc_insert_media_patch_lenovo),
                T(test_bmc_insert_media_supermicro),
                T(test_bmc_insert_media_transfer_fields),
                T(test_bmc_eject_media),
                T(test_bmc_concurrent_clients),
                T(test_bmc_client_free_mid_operation),
                T(test_bmc_client_freed_from_its_close_callback),
                T(test_bmc_client_unknown_machine),
                T(test_bmc_client_bad_url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
