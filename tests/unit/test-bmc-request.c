/* Tests for tools/strata-bmc/request.c (request bodies into typed values,
 * each refusal the Base message a DMTF service gives) and message.c (the
 * Redfish error object). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../tools/strata-bmc/machine.c"
#include "../../tools/strata-bmc/message.c"
#include "../../tools/strata-bmc/personality.c"
#include "../../tools/strata-bmc/request.c"

#define S(x) x, strlen(x)

static void test_bmc_reset_parse_ok(void **state) {
        BmcResetType t = _BMC_RESET_INVALID;
        BmcError e;
        (void) state;
        assert_int_equal(emu_reset_parse(S("{\"ResetType\":\"ForceRestart\"}"), &t, &e), 0);
        assert_int_equal(t, BMC_RESET_FORCE_RESTART);
        /* annotations are ignored */
        assert_int_equal(emu_reset_parse(S("{\"ResetType\":\"On\",\"@odata.type\":\"x\"}"), &t, &e), 0);
        assert_int_equal(t, BMC_RESET_ON);
}

static const struct {
        const char *body;
        BmcMessage message;
        const char *arg0;
} reset_refusals[] = {
        { "", BMC_MSG_MALFORMED_JSON, NULL },
        { "{", BMC_MSG_MALFORMED_JSON, NULL },
        { "\"On\"", BMC_MSG_MALFORMED_JSON, NULL },
        { "{\"ResetType\":\"On\"} x", BMC_MSG_MALFORMED_JSON, NULL },
        { "{\"ResetType\":\"On\",\"ResetType\":\"On\"}", BMC_MSG_MALFORMED_JSON, NULL },
        { "{}", BMC_MSG_ACTION_PARAMETER_MISSING, "ComputerSystem.Reset" },
        { "{\"ResetType\":null}", BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, "null" },
        { "{\"ResetType\":\"Reboot\"}", BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST, "Reboot" },
        { "{\"ResetType\":\"On\",\"Delay\":1}", BMC_MSG_ACTION_PARAMETER_UNKNOWN, "ComputerSystem.Reset" },
};

static void test_bmc_reset_parse_refusals(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(reset_refusals) / sizeof(reset_refusals[0]); i++) {
                BmcResetType t = BMC_RESET_NMI;
                BmcError e;
                assert_int_equal(emu_reset_parse(S(reset_refusals[i].body), &t, &e), -EINVAL);
                assert_int_equal(e.message, reset_refusals[i].message);
                assert_int_equal(e.status, 400);
                if (reset_refusals[i].arg0)
                        assert_string_equal(e.args[0], reset_refusals[i].arg0);
                assert_int_equal(t, BMC_RESET_NMI); /* untouched */
        }
        BmcError e;
        BmcResetType t;
        assert_int_equal(emu_reset_parse(NULL, 0, &t, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_MALFORMED_JSON);
}

static void test_bmc_system_patch_parse_ok(void **state) {
        BmcBootPatch b;
        BmcError e;
        (void) state;
        assert_int_equal(emu_system_patch_parse(S("{\"Boot\":{\"BootSourceOverrideTarget\":\"Pxe\","
                                                  "\"BootSourceOverrideEnabled\":\"Once\","
                                                  "\"BootSourceOverrideMode\":\"Legacy\","
                                                  "\"HttpBootUri\":\"http://a/b\"},\"@odata.etag\":\"x\"}"),
                                                &b, &e),
                         0);
        assert_true(b.has_target && b.has_enabled && b.has_mode && b.has_uri);
        assert_int_equal(b.target, BMC_TARGET_PXE);
        assert_int_equal(b.enabled, BMC_BOOT_ONCE);
        assert_int_equal(b.mode, BMC_MODE_LEGACY);
        assert_string_equal(b.uri, "http://a/b");
        assert_int_equal(emu_system_patch_parse(S("{\"Boot\":{\"HttpBootUri\":null}}"), &b, &e), 0);
        assert_true(b.has_uri && b.uri_null && !b.has_target);
}

static const struct {
        const char *body;
        BmcMessage message;
} patch_refusals[] = {
        { "[]", BMC_MSG_MALFORMED_JSON },
        { "{}", BMC_MSG_EMPTY_JSON },
        { "{\"AssetTag\":\"x\"}", BMC_MSG_PROPERTY_UNKNOWN },
        { "{\"UUID\":\"x\"}", BMC_MSG_PROPERTY_NOT_WRITABLE },
        { "{\"Boot\":[]}", BMC_MSG_PROPERTY_VALUE_TYPE_ERROR },
        { "{\"Boot\":{\"BootSourceOverrideTarget\":\"Network\"}}", BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST },
        { "{\"Boot\":{\"BootSourceOverrideMode\":\"uefi\"}}", BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST },
        { "{\"Boot\":{\"BootSourceOverrideEnabled\":1}}", BMC_MSG_PROPERTY_VALUE_TYPE_ERROR },
        { "{\"Boot\":{\"HttpBootUri\":5}}", BMC_MSG_PROPERTY_VALUE_TYPE_ERROR },
        { "{\"Boot\":{\"HttpBootUri\":\"a\\u0001b\"}}", BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR },
        { "{\"Boot\":{\"BootSourceOverrideTarget@Redfish.AllowableValues\":[]}}", BMC_MSG_PROPERTY_NOT_WRITABLE },
        { "{\"Boot\":{\"Bogus\":1}}", BMC_MSG_PROPERTY_UNKNOWN },
};

static void test_bmc_system_patch_parse_refusals(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(patch_refusals) / sizeof(patch_refusals[0]); i++) {
                BmcBootPatch b;
                BmcError e;
                assert_int_equal(emu_system_patch_parse(S(patch_refusals[i].body), &b, &e), -EINVAL);
                assert_int_equal(e.message, patch_refusals[i].message);
        }
}

static void test_bmc_system_patch_parse_uri_cap(void **state) {
        char body[BMC_URI_MAX + 64], uri[BMC_URI_MAX + 1];
        BmcBootPatch b;
        BmcError e;
        (void) state;
        memset(uri, 'u', sizeof(uri) - 1);
        uri[BMC_URI_MAX - 1] = '\0'; /* exact fit */
        snprintf(body, sizeof(body), "{\"Boot\":{\"HttpBootUri\":\"%s\"}}", uri);
        assert_int_equal(emu_system_patch_parse(S(body), &b, &e), 0);
        assert_int_equal(strlen(b.uri), BMC_URI_MAX - 1);
        uri[BMC_URI_MAX - 1] = 'u';
        uri[BMC_URI_MAX] = '\0'; /* one over */
        snprintf(body, sizeof(body), "{\"Boot\":{\"HttpBootUri\":\"%s\"}}", uri);
        assert_int_equal(emu_system_patch_parse(S(body), &b, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_PROPERTY_VALUE_FORMAT_ERROR);
}

static void test_bmc_insert_media_parse(void **state) {
        BmcInsertMedia m;
        BmcError e;
        (void) state;
        assert_int_equal(emu_insert_media_parse(S("{\"Image\":\"https://h/a.iso\",\"Inserted\":true,"
                                                  "\"WriteProtected\":false,\"TransferProtocolType\":\"HTTPS\","
                                                  "\"TransferMethod\":\"Stream\",\"UserName\":\"u\",\"Password\":\"p\"}"),
                                                &m, &e),
                         0);
        assert_string_equal(m.image, "https://h/a.iso");
        assert_true(m.has_inserted && m.inserted && m.has_write_protected && !m.write_protected && m.has_credentials);
        assert_string_equal(m.transfer_protocol, "HTTPS");

        static const struct {
                const char *body;
                BmcMessage message;
        } bad[] = {
                { "{}", BMC_MSG_ACTION_PARAMETER_MISSING },
                { "{\"Image\":1}", BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR },
                { "{\"Image\":\"\"}", BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR },
                { "{\"Image\":\"/a.iso\"}", BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR },
                { "{\"Image\":\"://a.iso\"}", BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR },
                { "{\"Image\":\"ht tp://a.iso\"}", BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR },
                { "{\"Image\":\"http://a\\nb\"}", BMC_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR },
                { "{\"Image\":\"http://a\",\"Inserted\":\"yes\"}", BMC_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR },
                { "{\"Image\":\"http://a\",\"TransferMethod\":\"Carrier\"}", BMC_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST },
                { "{\"Image\":\"http://a\",\"Slot\":1}", BMC_MSG_ACTION_PARAMETER_UNKNOWN },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(emu_insert_media_parse(S(bad[i].body), &m, &e), -EINVAL);
                assert_int_equal(e.message, bad[i].message);
        }
}

static void test_bmc_eject_media_parse(void **state) {
        bool has_body = true;
        BmcError e;
        (void) state;
        assert_int_equal(emu_eject_media_parse(NULL, 0, &has_body, &e), 0);
        assert_false(has_body);
        assert_int_equal(emu_eject_media_parse(S("{}"), &has_body, &e), 0);
        assert_true(has_body);
        assert_int_equal(emu_eject_media_parse(S("{\"Force\":true}"), &has_body, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_ACTION_PARAMETER_UNKNOWN);
        assert_int_equal(emu_eject_media_parse(S("{"), &has_body, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_MALFORMED_JSON);
}

static void test_bmc_media_patch_parse(void **state) {
        BmcMediaPatch m;
        BmcError e;
        (void) state;
        assert_int_equal(emu_media_patch_parse(S("{\"Image\":\"nfs://h/a.iso\",\"Inserted\":true,\"WriteProtected\":true}"),
                                               &m, &e),
                         0);
        assert_true(m.has_image && !m.image_null && m.has_inserted && m.inserted && m.write_protected);
        assert_int_equal(emu_media_patch_parse(S("{\"Image\":null,\"Inserted\":false}"), &m, &e), 0);
        assert_true(m.image_null && !m.inserted);
        assert_int_equal(emu_media_patch_parse(S("{\"MediaTypes\":[]}"), &m, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_PROPERTY_NOT_WRITABLE);
        assert_int_equal(emu_media_patch_parse(S("{\"Inserted\":1}"), &m, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_PROPERTY_VALUE_TYPE_ERROR);
        assert_int_equal(emu_media_patch_parse(S("{}"), &m, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_EMPTY_JSON);
}

static void test_bmc_login_parse(void **state) {
        BmcLogin l = { 0 };
        BmcError e;
        (void) state;
        assert_int_equal(emu_login_parse(S("{\"UserName\":\"admin\",\"Password\":\"pw\"}"), &l, &e), 0);
        assert_string_equal(l.username, "admin");
        assert_int_equal(l.password->size, 2);
        assert_memory_equal(l.password->data, "pw", 2);
        l.password = secret_free(l.password);
        assert_int_equal(emu_login_parse(S("{\"Password\":\"pw\"}"), &l, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_PROPERTY_MISSING);
        assert_null(l.password);
        /* a refused password is never echoed */
        assert_int_equal(emu_login_parse(S("{\"UserName\":\"a\",\"Password\":123456}"), &l, &e), -EINVAL);
        assert_string_equal(e.args[0], "(hidden)");
}

static void test_bmc_faults_parse(void **state) {
        BmcFaults f;
        BmcError e;
        (void) state;
        assert_int_equal(emu_faults_parse_text(S("{\"fail_next\":[500,503],\"hang_ms\":10,\"hang_next\":2}"), &f, &e), 0);
        assert_int_equal(f.n_fail, 2);
        assert_int_equal(f.fail_next[1], 503);
        assert_true(f.hang_counted);
        assert_int_equal(f.hang_next, 2);
        assert_int_equal(emu_faults_parse_text(S("{\"fail_next\":[200]}"), &f, &e), -EINVAL);
        assert_int_equal(emu_faults_parse_text(S("{\"hang_ms\":-1}"), &f, &e), -EINVAL);
        assert_int_equal(emu_faults_parse_text(S("{\"hang\":1}"), &f, &e), -EINVAL);
        assert_int_equal(e.message, BMC_MSG_PROPERTY_UNKNOWN);
        /* the cap: exactly BMC_FAULTS_MAX fits, one more does not */
        char body[512];
        size_t n = (size_t) snprintf(body, sizeof(body), "{\"fail_next\":[500");
        for (unsigned i = 1; i < BMC_FAULTS_MAX; i++)
                n += (size_t) snprintf(body + n, sizeof(body) - n, ",500");
        snprintf(body + n, sizeof(body) - n, "]}");
        assert_int_equal(emu_faults_parse_text(S(body), &f, &e), 0);
        assert_int_equal(f.n_fail, BMC_FAULTS_MAX);
        snprintf(body + n, sizeof(body) - n, ",500]}");
        assert_int_equal(emu_faults_parse_text(S(body), &f, &e), -EINVAL);
}

static void test_message_error_json_shape(void **state) {
        BmcError e;
        (void) state;
        assert_int_equal(message_set(&e, 0, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST, "Foo", "Bar", NULL), -EINVAL);
        json_t *j = message_error_json(&e);
        assert_non_null(j);
        json_t *err = json_object_get(j, "error");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "Base.1.16.PropertyValueNotInList");
        assert_string_equal(json_string_value(json_object_get(err, "message")),
                            "The value Foo for the property Bar is not in the list of acceptable values.");
        json_t *info = json_array_get(json_object_get(err, "@Message.ExtendedInfo"), 0);
        assert_int_equal(json_array_size(json_object_get(info, "MessageArgs")), 2);
        assert_non_null(json_object_get(info, "Resolution"));
        json_decref(j);
}

static void test_message_set_overrides_and_caps(void **state) {
        char big[BMC_MESSAGE_ARG_MAX * 2];
        BmcError e;
        (void) state;
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        message_set(&e, 415, BMC_MSG_HEADER_MISSING, big, NULL, NULL);
        assert_int_equal(e.status, 415);
        assert_int_equal(e.n_args, 1);
        assert_int_equal(strlen(e.args[0]), BMC_MESSAGE_ARG_MAX - 1);
        e.message_id = "Ami.1.0.PreconditionHeaderMissing";
        json_t *j = message_error_json(&e);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                            "Ami.1.0.PreconditionHeaderMissing");
        json_decref(j);
        for (int m = 0; m < _BMC_MSG_MAX; m++) {
                assert_non_null(message_id(m));
                assert_true(message_status(m) >= 200 && message_status(m) <= 599);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bmc_reset_parse_ok),
                cmocka_unit_test(test_bmc_reset_parse_refusals),
                cmocka_unit_test(test_bmc_system_patch_parse_ok),
                cmocka_unit_test(test_bmc_system_patch_parse_refusals),
                cmocka_unit_test(test_bmc_system_patch_parse_uri_cap),
                cmocka_unit_test(test_bmc_insert_media_parse),
                cmocka_unit_test(test_bmc_eject_media_parse),
                cmocka_unit_test(test_bmc_media_patch_parse),
                cmocka_unit_test(test_bmc_login_parse),
                cmocka_unit_test(test_bmc_faults_parse),
                cmocka_unit_test(test_message_error_json_shape),
                cmocka_unit_test(test_message_set_overrides_and_caps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
