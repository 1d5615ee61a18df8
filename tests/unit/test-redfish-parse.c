/* Tests for agent/bmc/redfish-parse.c: each parser on a normal reply, on
 * the caps (exact fit and one over), and on what a hostile or broken BMC
 * may send (links off the service, wrong types, control characters). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "bmc/redfish-parse.h"
#include "core/cleanup.h"

static json_t *J(const char *text) {
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);
        if (!j)
                fail_msg("bad test JSON: %s: %s", text, e.text);
        return j;
}

static void test_redfish_json_parse_forms(void **state) {
        _cleanup_free_ char *err = NULL;
        json_t *j = NULL;
        char *big;

        (void) state;
        assert_int_equal(redfish_json_parse("{\"a\":1}", 7, &j, &err), 0);
        json_decref(j);
        assert_int_equal(redfish_json_parse("[1]", 3, &j, &err), -EBADMSG);
        assert_string_equal(err, "reply is JSON but not an object");
        assert_int_equal(redfish_json_parse("", 0, &j, &err), -EBADMSG);
        assert_int_equal(redfish_json_parse("{\"a\":", 5, &j, &err), -EBADMSG);
        assert_non_null(strstr(err, "malformed JSON at line 1"));
        assert_int_equal(redfish_json_parse("{\"a\":1,\"a\":2}", 13, &j, &err), -EBADMSG);

        /* exactly the cap parses; one byte more is refused unread */
        big = malloc(REDFISH_REPLY_MAX + 1);
        assert_non_null(big);
        memset(big, ' ', REDFISH_REPLY_MAX + 1);
        big[0] = '{';
        big[REDFISH_REPLY_MAX - 1] = '}';
        assert_int_equal(redfish_json_parse(big, REDFISH_REPLY_MAX, &j, &err), 0);
        json_decref(j);
        big[REDFISH_REPLY_MAX - 1] = ' ';
        big[REDFISH_REPLY_MAX] = '}';
        assert_int_equal(redfish_json_parse(big, REDFISH_REPLY_MAX + 1, &j, &err), -E2BIG);
        free(big);
}

static void test_redfish_path_check_table(void **state) {
        static const struct {
                const char *path;
                bool ok;
        } cases[] = {
                { "/redfish/v1/", true },
                { "/redfish/v1/Systems/System.Embedded.1", true },
                { "/redfish/v1/TaskService/TaskMonitors/abc?x=1", true },
                { "/redfish/v1/Systems/437XR1138R2", true },
                { "/redfish/v1/Systems/a%20b", true },
                { "/redfish", false },
                { "redfish/v1/", false },
                { "http://203.0.113.1/redfish/v1/", false },
                { "//203.0.113.1/redfish/v1/", false },
                { "/redfish//v1", false },
                { "/redfish/v1/../../etc/passwd", false },
                { "/redfish/v1/..", false },
                { "/redfish/v1/.", false },
                { "/redfish/v1/a b", false },
                { "/redfish/v1/a\nb", false },
                { "/redfish/v1/a#frag", false },
                { "/redfish/v1/\\x", false },
                { NULL, false },
        };
        char longer[REDFISH_PATH_MAX + 2];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (redfish_path_check(cases[i].path) != cases[i].ok)
                        fail_msg("%s: expected %s", cases[i].path ? cases[i].path : "NULL", cases[i].ok ? "ok" : "refused");
        memset(longer, 'a', sizeof(longer));
        memcpy(longer, "/redfish/", 9);
        longer[REDFISH_PATH_MAX] = '\0';
        assert_true(redfish_path_check(longer));
        longer[REDFISH_PATH_MAX] = 'a';
        longer[REDFISH_PATH_MAX + 1] = '\0';
        assert_false(redfish_path_check(longer));
}

static void test_redfish_root_parse_links(void **state) {
        json_auto_t *j = J("{\"RedfishVersion\":\"1.15.0\",\"UUID\":\"u\",\"Vendor\":\"Dell\",\"Product\":\"iDRAC\","
                           "\"Systems\":{\"@odata.id\":\"/redfish/v1/Systems\"},"
                           "\"Managers\":{\"@odata.id\":\"/redfish/v1/Managers\"},"
                           "\"SessionService\":{\"@odata.id\":\"/redfish/v1/SessionService\"},"
                           "\"Links\":{\"Sessions\":{\"@odata.id\":\"/redfish/v1/SessionService/Sessions\"}},"
                           "\"Oem\":{\"Dell\":{}}}");
        json_auto_t *bad = J("{\"Systems\":{\"@odata.id\":\"https://203.0.113.9/redfish/v1/Systems\"}}");
        json_auto_t *mockup = J("{\"RedfishVersion\":\"1.6.0\",\"Systems\":{\"@odata.id\":\"/redfish/v1/Systems\"}}");
        _cleanup_free_ char *err = NULL;
        RedfishRoot r = {};

        (void) state;
        assert_int_equal(redfish_root_parse(j, &r, &err), 0);
        assert_string_equal(r.vendor, "Dell");
        assert_string_equal(r.product, "iDRAC");
        assert_string_equal(r.oem, "Dell");
        assert_string_equal(r.systems, "/redfish/v1/Systems");
        assert_string_equal(r.sessions, "/redfish/v1/SessionService/Sessions");
        assert_true(r.has_session_service);
        redfish_root_done(&r);

        /* a link off the service is refused, never followed */
        assert_int_equal(redfish_root_parse(bad, &r, &err), -EBADMSG);
        assert_string_equal(err, "Systems: not a /redfish/ path we follow");

        /* what the DMTF mockup lacks stays NULL */
        assert_int_equal(redfish_root_parse(mockup, &r, &err), 0);
        assert_null(r.vendor);
        assert_null(r.sessions);
        assert_false(r.has_session_service);
        redfish_root_done(&r);
}

static void test_redfish_members_parse_caps(void **state) {
        json_auto_t *ok = J("{\"Members\":[{\"@odata.id\":\"/redfish/v1/Systems/1\"},{\"@odata.id\":\"/redfish/v1/Systems/2\"}]}");
        json_auto_t *missing = J("{\"Members\":[{\"Id\":\"1\"}]}");
        json_auto_t *many = json_pack("{s:[]}", "Members");
        _cleanup_free_ char *err = NULL;
        RedfishStrings m = {};

        (void) state;
        assert_int_equal(redfish_members_parse(ok, &m, &err), 0);
        assert_int_equal(m.n, 2);
        assert_string_equal(m.v[1], "/redfish/v1/Systems/2");
        redfish_strings_done(&m);
        assert_int_equal(redfish_members_parse(missing, &m, &err), -EBADMSG);
        assert_string_equal(err, "Members[0]: no /redfish/ @odata.id");
        for (int i = 0; i < 256; i++)
                json_array_append_new(json_object_get(many, "Members"),
                                      json_pack("{s:s}", "@odata.id", "/redfish/v1/Systems/x"));
        assert_int_equal(redfish_members_parse(many, &m, &err), 0);
        assert_int_equal(m.n, 256);
        redfish_strings_done(&m);
        json_array_append_new(json_object_get(many, "Members"), json_pack("{s:s}", "@odata.id", "/redfish/v1/Systems/x"));
        assert_int_equal(redfish_members_parse(many, &m, &err), -E2BIG);
        assert_int_equal(m.n, 0);
}

static const char system_json[] =
        "{\"@odata.id\":\"/redfish/v1/Systems/System.Embedded.1\",\"Id\":\"System.Embedded.1\","
        "\"UUID\":\"4c4c4544-0042-3510-8052-b4c04f384d32\",\"SerialNumber\":\"ABC\\u0007123\","
        "\"Manufacturer\":\"Dell Inc.\",\"Model\":\"PowerEdge R650\",\"PowerState\":\"On\","
        "\"@odata.etag\":\"W/\\\"12\\\"\","
        "\"Boot\":{\"BootSourceOverrideEnabled\":\"Disabled\",\"BootSourceOverrideTarget\":\"None\","
        "\"BootSourceOverrideMode\":\"UEFI\",\"HttpBootUri\":null,"
        "\"BootSourceOverrideTarget@Redfish.AllowableValues\":[\"None\",\"Pxe\",\"UefiHttp\"]},"
        "\"Actions\":{\"#ComputerSystem.Reset\":{\"target\":\"/redfish/v1/Systems/System.Embedded.1/Actions/"
        "ComputerSystem.Reset\",\"ResetType@Redfish.AllowableValues\":[\"On\",\"ForceOff\",\"ForceRestart\"]}},"
        "\"EthernetInterfaces\":{\"@odata.id\":\"/redfish/v1/Systems/System.Embedded.1/EthernetInterfaces\"},"
        "\"VirtualMedia\":{\"@odata.id\":\"/redfish/v1/Systems/System.Embedded.1/VirtualMedia\"},"
        "\"@Redfish.Settings\":{\"SettingsObject\":{\"@odata.id\":\"/redfish/v1/Systems/System.Embedded.1/Settings\"}},"
        "\"Links\":{\"ManagedBy\":[{\"@odata.id\":\"/redfish/v1/Managers/iDRAC.Embedded.1\"}]}}";

static void test_redfish_system_parse_full(void **state) {
        json_auto_t *j = J(system_json);
        _cleanup_free_ char *err = NULL;
        RedfishSystem s = {};

        (void) state;
        assert_int_equal(redfish_system_parse(j, &s, &err), 0);
        assert_string_equal(s.id, "System.Embedded.1");
        assert_string_equal(s.power_state, "On");
        assert_string_equal(s.odata_etag, "W/\"12\"");
        /* a control character from the wire never reaches a message */
        assert_string_equal(s.serial, "ABC?123");
        assert_string_equal(s.boot_mode, "UEFI");
        assert_true(s.has_boot_mode);
        assert_true(s.has_http_boot_uri);
        assert_null(s.http_boot_uri);
        assert_true(s.boot_targets_known);
        assert_true(redfish_strings_contain(&s.boot_targets, "UefiHttp"));
        assert_true(s.reset_types_known);
        assert_int_equal(s.reset_types.n, 3);
        assert_string_equal(s.reset_target, "/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset");
        assert_string_equal(s.settings_object, "/redfish/v1/Systems/System.Embedded.1/Settings");
        assert_string_equal(s.managed_by, "/redfish/v1/Managers/iDRAC.Embedded.1");
        assert_string_equal(s.virtual_media, "/redfish/v1/Systems/System.Embedded.1/VirtualMedia");
        redfish_system_done(&s);
}

static void test_redfish_system_parse_refusals(void **state) {
        static const struct {
                const char *json;
                const char *err;
        } cases[] = {
                { "{\"Id\":7}", "Id: not a string" },
                { "{\"Id\":\"a\\u0001b\"}", "Id: not printable ASCII" },
                { "{\"PowerState\":\"On\\n\"}", "PowerState: not printable ASCII" },
                { "{\"Boot\":[]}", "Boot: not an object" },
                { "{\"Boot\":{\"BootSourceOverrideTarget@Redfish.AllowableValues\":\"Pxe\"}}",
                  "BootSourceOverrideTarget@Redfish.AllowableValues: not an array" },
                { "{\"Boot\":{\"BootSourceOverrideTarget@Redfish.AllowableValues\":[1]}}",
                  "BootSourceOverrideTarget@Redfish.AllowableValues[0]: not a printable string" },
                { "{\"Actions\":{\"#ComputerSystem.Reset\":{}}}", "Actions.#ComputerSystem.Reset.target: not a string" },
                { "{\"Actions\":{\"#ComputerSystem.Reset\":{\"target\":\"http://203.0.113.1/x\"}}}",
                  "Actions.#ComputerSystem.Reset.target: not a /redfish/ path we follow" },
                { "{\"Links\":{\"ManagedBy\":{\"@odata.id\":\"/redfish/v1/Managers/1\"}}}",
                  "Links.ManagedBy: not an array of links" },
                { "{\"EthernetInterfaces\":{}}", "EthernetInterfaces.@odata.id: missing" },
        };
        RedfishSystem s = {};
        char big[400];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_auto_t *j = J(cases[i].json);
                _cleanup_free_ char *err = NULL;
                assert_int_equal(redfish_system_parse(j, &s, &err), -EBADMSG);
                if (!err || strcmp(err, cases[i].err) != 0)
                        fail_msg("%s: expected \"%s\", got \"%s\"", cases[i].json, cases[i].err, err ? err : "");
        }
        /* Id at the cap and one over */
        {
                char id[258];
                memset(id, 'a', 256);
                id[256] = '\0';
                snprintf(big, sizeof(big), "{\"Id\":\"%s\"}", id);
                json_auto_t *j = J(big);
                assert_int_equal(redfish_system_parse(j, &s, NULL), 0);
                redfish_system_done(&s);
                id[256] = 'a';
                id[257] = '\0';
                snprintf(big, sizeof(big), "{\"Id\":\"%s\"}", id);
                json_auto_t *k = J(big);
                assert_int_equal(redfish_system_parse(k, &s, NULL), -EBADMSG);
        }
}

static void test_redfish_action_info_parse(void **state) {
        json_auto_t *j = J("{\"Parameters\":[{\"Name\":\"Other\",\"AllowableValues\":[\"x\"]},"
                           "{\"Name\":\"ResetType\",\"AllowableValues\":[\"On\",\"ForceOff\"]}]}");
        json_auto_t *none = J("{\"Parameters\":[{\"Name\":\"ResetType\"}]}");
        _cleanup_free_ char *err = NULL;
        RedfishStrings v = {};

        (void) state;
        assert_int_equal(redfish_action_info_parse(j, "ResetType", &v, &err), 0);
        assert_int_equal(v.n, 2);
        assert_string_equal(v.v[1], "ForceOff");
        redfish_strings_done(&v);
        assert_int_equal(redfish_action_info_parse(none, "ResetType", &v, &err), -ENOENT);
        assert_int_equal(redfish_action_info_parse(j, "Missing", &v, &err), -ENOENT);
}

static void test_redfish_nic_parse(void **state) {
        json_auto_t *j = J("{\"MACAddress\":\"52-54-00-0A-00-01\",\"PermanentMACAddress\":\"52:54:00:0a:00:01\"}");
        json_auto_t *junk = J("{\"MACAddress\":\"\",\"PermanentMACAddress\":\"not a mac\"}");
        RedfishStrings m = {};

        (void) state;
        assert_int_equal(redfish_nic_parse(j, &m, NULL), 0);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.v[0], "52:54:00:0a:00:01");
        redfish_strings_done(&m);
        assert_int_equal(redfish_nic_parse(junk, &m, NULL), 0);
        assert_int_equal(m.n, 0);
}

static void test_redfish_mac_normalize_table(void **state) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "52:54:00:0A:00:01", "52:54:00:0a:00:01" }, { "52-54-00-0a-00-01", "52:54:00:0a:00:01" },
                { "5254000a0001", "52:54:00:0a:00:01" },      { "52:54:00:0a:00", NULL },
                { "52:54:00-0a:00:01", NULL },                 { "52:54:00:0a:00:01:", NULL },
                { "52:54:00:0a:0g:01", NULL },                 { "52:54:00:0a:00:001", NULL },
                { "5:254:00:0a:00:01", NULL },                 { "", NULL },
        };
        char mac[18];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = redfish_mac_normalize(cases[i].in, mac);
                if (cases[i].out) {
                        assert_int_equal(r, 0);
                        assert_string_equal(mac, cases[i].out);
                } else if (r != -EINVAL)
                        fail_msg("%s: accepted", cases[i].in);
        }
        assert_int_equal(redfish_mac_normalize(NULL, mac), -EINVAL);
}

static void test_redfish_media_parse(void **state) {
        json_auto_t *j = J("{\"Id\":\"CD\",\"MediaTypes\":[\"CD\",\"DVD\"],\"Image\":\"\",\"Inserted\":false,"
                           "\"Actions\":{\"#VirtualMedia.InsertMedia\":{\"target\":\"/redfish/v1/Managers/1/VirtualMedia/CD/"
                           "Actions/VirtualMedia.InsertMedia\"}}}");
        json_auto_t *bad = J("{\"Inserted\":\"yes\"}");
        _cleanup_free_ char *err = NULL;
        RedfishMedia m = {};

        (void) state;
        assert_int_equal(redfish_media_parse(j, &m, &err), 0);
        assert_null(m.image); /* "" means empty */
        assert_false(m.inserted);
        assert_non_null(m.insert_target);
        assert_null(m.eject_target);
        assert_true(redfish_strings_contain(&m.media_types, "DVD"));
        redfish_media_done(&m);
        assert_int_equal(redfish_media_parse(bad, &m, &err), -EBADMSG);
        assert_string_equal(err, "Inserted: not a boolean");
}

static void test_redfish_task_parse(void **state) {
        json_auto_t *j = J("{\"TaskState\":\"Exception\",\"TaskStatus\":\"Critical\",\"Messages\":["
                           "{\"Message\":\"disk busy\"},{\"Message\":\"gave up\"}]}");
        RedfishTask t = {};

        (void) state;
        assert_int_equal(redfish_task_parse(j, &t, NULL), 0);
        assert_string_equal(t.state, "Exception");
        assert_string_equal(t.message, "disk busy; gave up");
        redfish_task_done(&t);
}

static void test_redfish_error_parse(void **state) {
        static const char generic[] =
                "{\"error\":{\"code\":\"Base.1.8.GeneralError\",\"message\":\"A general error has occurred. See "
                "ExtendedInfo for more information.\",\"@Message.ExtendedInfo\":[{\"MessageId\":\"IDRAC.2.8.SYS518\","
                "\"Message\":\"iDRAC is busy\"},{\"MessageId\":\"Base.1.8.PropertyNotWritable\",\"Message\":"
                "\"The property Boot is read-only\"}]}}";
        static const char plain[] = "{\"error\":{\"code\":\"Base.1.8.Conflict\",\"message\":\"in use\"}}";
        static const char top[] = "{\"@Message.ExtendedInfo\":[{\"MessageId\":\"x.y.Z\",\"Message\":\"top level\"}]}";
        RedfishError e = {};

        (void) state;
        assert_int_equal(redfish_error_parse(generic, strlen(generic), &e), 0);
        assert_string_equal(e.message, "iDRAC is busy; The property Boot is read-only");
        assert_int_equal(e.message_ids.n, 2);
        assert_string_equal(e.message_ids.v[0], "IDRAC.2.8.SYS518");
        redfish_error_done(&e);
        assert_int_equal(redfish_error_parse(plain, strlen(plain), &e), 0);
        assert_string_equal(e.message, "in use");
        redfish_error_done(&e);
        assert_int_equal(redfish_error_parse(top, strlen(top), &e), 0);
        assert_string_equal(e.message, "top level");
        redfish_error_done(&e);
        assert_int_equal(redfish_error_parse("<html>oops</html>", 17, &e), 0);
        assert_null(e.message);
        assert_int_equal(redfish_error_parse("", 0, &e), 0);
        assert_null(e.message);
}

static void test_redfish_retry_after_parse(void **state) {
        (void) state;
        assert_int_equal(redfish_retry_after_parse("3", 0), 3000000);
        assert_int_equal(redfish_retry_after_parse("0", 0), 0);
        assert_int_equal(redfish_retry_after_parse("99999999999999999999", 0), 86400LL * 1000000);
        /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
        assert_int_equal(redfish_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000000);
        assert_int_equal(redfish_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
        assert_int_equal(redfish_retry_after_parse("soon", 0), -EINVAL);
        assert_int_equal(redfish_retry_after_parse("-1", 0), -EINVAL);
        assert_int_equal(redfish_retry_after_parse("", 0), -EINVAL);
}

static void test_redfish_printable(void **state) {
        _cleanup_free_ char *a = redfish_printable("ok\x1b[31m", 100);
        _cleanup_free_ char *b = redfish_printable("abcdef", 3);
        _cleanup_free_ char *c = redfish_printable("abc", 3);

        (void) state;
        assert_string_equal(a, "ok?[31m");
        assert_string_equal(b, "abc...");
        assert_string_equal(c, "abc");
        assert_true(redfish_etag_is_weak("W/\"1\""));
        assert_false(redfish_etag_is_weak("\"1\""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_redfish_json_parse_forms),
                cmocka_unit_test(test_redfish_path_check_table),
                cmocka_unit_test(test_redfish_root_parse_links),
                cmocka_unit_test(test_redfish_members_parse_caps),
                cmocka_unit_test(test_redfish_system_parse_full),
                cmocka_unit_test(test_redfish_system_parse_refusals),
                cmocka_unit_test(test_redfish_action_info_parse),
                cmocka_unit_test(test_redfish_nic_parse),
                cmocka_unit_test(test_redfish_mac_normalize_table),
                cmocka_unit_test(test_redfish_media_parse),
                cmocka_unit_test(test_redfish_task_parse),
                cmocka_unit_test(test_redfish_error_parse),
                cmocka_unit_test(test_redfish_retry_after_parse),
                cmocka_unit_test(test_redfish_printable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
