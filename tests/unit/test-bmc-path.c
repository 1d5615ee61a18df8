/* Tests for tools/strata-bmc/path.c: every resource pattern, trailing
 * slashes, and each refusal (bad id, id at and over the cap, too many
 * segments, empty segments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../tools/strata-bmc/path.c"

static const struct {
        const char *path;
        BmcResource resource;
        const char *id, *sub;
} vectors[] = {
        { "/redfish", BMC_RES_VERSIONS, "", "" },
        { "/redfish/", BMC_RES_VERSIONS, "", "" },
        { "/redfish/v1", BMC_RES_ROOT, "", "" },
        { "/redfish/v1/", BMC_RES_ROOT, "", "" },
        { "/redfish/v1/SessionService", BMC_RES_SESSION_SERVICE, "", "" },
        { "/redfish/v1/SessionService/Sessions", BMC_RES_SESSIONS, "", "" },
        { "/redfish/v1/SessionService/Sessions/7", BMC_RES_SESSION, "7", "" },
        { "/redfish/v1/Systems", BMC_RES_SYSTEMS, "", "" },
        { "/redfish/v1/Systems/System.Embedded.1", BMC_RES_SYSTEM, "System.Embedded.1", "" },
        { "/redfish/v1/Systems/n1/Settings", BMC_RES_SYSTEM_SETTINGS, "n1", "" },
        { "/redfish/v1/Systems/n1/Actions/ComputerSystem.Reset", BMC_RES_SYSTEM_RESET, "n1", "" },
        { "/redfish/v1/Systems/n1/EthernetInterfaces", BMC_RES_NICS, "n1", "" },
        { "/redfish/v1/Systems/n1/EthernetInterfaces/2/", BMC_RES_NIC, "n1", "2" },
        { "/redfish/v1/Systems/n1/VirtualMedia", BMC_RES_SYS_MEDIA_COLL, "n1", "" },
        { "/redfish/v1/Systems/n1/VirtualMedia/1", BMC_RES_SYS_MEDIA, "n1", "1" },
        { "/redfish/v1/Systems/n1/VirtualMedia/1/Actions/VirtualMedia.InsertMedia", BMC_RES_SYS_MEDIA_INSERT, "n1", "1" },
        { "/redfish/v1/Systems/n1/VirtualMedia/1/Actions/VirtualMedia.EjectMedia", BMC_RES_SYS_MEDIA_EJECT, "n1", "1" },
        { "/redfish/v1/Managers", BMC_RES_MANAGERS, "", "" },
        { "/redfish/v1/Managers/n1", BMC_RES_MANAGER, "n1", "" },
        { "/redfish/v1/Managers/n1/VirtualMedia", BMC_RES_MGR_MEDIA_COLL, "n1", "" },
        { "/redfish/v1/Managers/n1/VirtualMedia/Cd", BMC_RES_MGR_MEDIA, "n1", "Cd" },
        { "/redfish/v1/Managers/n1/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia", BMC_RES_MGR_MEDIA_INSERT, "n1", "Cd" },
        { "/redfish/v1/Managers/n1/VirtualMedia/Cd/Actions/VirtualMedia.EjectMedia", BMC_RES_MGR_MEDIA_EJECT, "n1", "Cd" },
        { "/redfish/v1/TaskService", BMC_RES_TASK_SERVICE, "", "" },
        { "/redfish/v1/TaskService/Tasks", BMC_RES_TASKS, "", "" },
        { "/redfish/v1/TaskService/Tasks/3", BMC_RES_TASK, "3", "" },
        { "/redfish/v1/TaskService/Tasks/3/Monitor", BMC_RES_TASK_MONITOR, "3", "" },
        { "/strata-bmc/v1/history/n1", BMC_RES_HISTORY, "n1", "" },
        { "/strata-bmc/v1/faults/n1", BMC_RES_FAULTS, "n1", "" },
        { "/redfish/v1/Systems/a-b_c.d~e:f@g", BMC_RES_SYSTEM, "a-b_c.d~e:f@g", "" },
};

static void test_bmc_path_parse_every_resource(void **state) {
        (void) state;
        bool seen[_BMC_RES_MAX] = { false };
        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                BmcPath p;
                assert_int_equal(emu_path_parse(vectors[i].path, &p), 0);
                assert_int_equal(p.resource, vectors[i].resource);
                assert_string_equal(p.id, vectors[i].id);
                assert_string_equal(p.sub, vectors[i].sub);
                seen[p.resource] = true;
        }
        for (int r = 0; r < _BMC_RES_MAX; r++)
                assert_true(seen[r]);
}

static void test_bmc_path_parse_unknown(void **state) {
        BmcPath p = { .resource = BMC_RES_ROOT };
        (void) state;
        assert_int_equal(emu_path_parse("/", &p), -ENOENT);
        assert_int_equal(emu_path_parse("/redfish/v2", &p), -ENOENT);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/n1/Bios", &p), -ENOENT);
        assert_int_equal(emu_path_parse("/redfish/v1/systems", &p), -ENOENT);
        assert_int_equal(p.resource, BMC_RES_ROOT); /* untouched on failure */
}

static void test_bmc_path_parse_malformed(void **state) {
        BmcPath p;
        (void) state;
        assert_int_equal(emu_path_parse("", &p), -EINVAL);
        assert_int_equal(emu_path_parse("redfish", &p), -EINVAL);
        assert_int_equal(emu_path_parse("//", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish//v1", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1//", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/a%20b", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/..", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/.", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/a\"b", &p), -EINVAL);
        assert_int_equal(emu_path_parse("/redfish/v1/Systems/\xc3\xa9", &p), -EINVAL);
}

static void test_bmc_path_parse_id_cap(void **state) {
        char path[256], id[BMC_ID_MAX + 1];
        BmcPath p;
        (void) state;
        memset(id, 'a', BMC_ID_MAX - 1); /* exact fit */
        id[BMC_ID_MAX - 1] = '\0';
        snprintf(path, sizeof(path), "/redfish/v1/Systems/%s", id);
        assert_int_equal(emu_path_parse(path, &p), 0);
        assert_string_equal(p.id, id);
        id[BMC_ID_MAX - 1] = 'a'; /* one over */
        id[BMC_ID_MAX] = '\0';
        snprintf(path, sizeof(path), "/redfish/v1/Systems/%s", id);
        assert_int_equal(emu_path_parse(path, &p), -ENAMETOOLONG);
}

static void test_bmc_path_parse_segments_cap(void **state) {
        BmcPath p;
        (void) state;
        /* ten segments, the most a pattern has + 2: parsed, no match */
        assert_int_equal(emu_path_parse("/a/b/c/d/e/f/g/h/i/j", &p), -ENOENT);
        assert_int_equal(emu_path_parse("/a/b/c/d/e/f/g/h/i/j/k", &p), -E2BIG);
}

static void test_bmc_id_is_valid(void **state) {
        (void) state;
        assert_true(emu_id_is_valid("node1"));
        assert_true(emu_id_is_valid("System.Embedded.1"));
        assert_false(emu_id_is_valid(""));
        assert_false(emu_id_is_valid(".."));
        assert_false(emu_id_is_valid("a/b"));
        assert_false(emu_id_is_valid("a b"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bmc_path_parse_every_resource),
                cmocka_unit_test(test_bmc_path_parse_unknown),
                cmocka_unit_test(test_bmc_path_parse_malformed),
                cmocka_unit_test(test_bmc_path_parse_id_cap),
                cmocka_unit_test(test_bmc_path_parse_segments_cap),
                cmocka_unit_test(test_bmc_id_is_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
