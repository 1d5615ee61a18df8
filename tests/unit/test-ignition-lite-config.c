/* Tests for images/lab-guest/ignition-lite-config.c, the lab guest's
 * Ignition checker: paths, each refusal naming its JSON path, and the
 * clevis form converted as Ignition's luks.go converts it. The whole
 * configs Strata renders are checked by tests/system/test_lab_guest.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../images/lab-guest/ignition-lite-config.h"

static void test_path_ok(void **state) {
        static const char *const good[] = { "/", "/etc", "/etc/strata/spec.json", "/a/.b", "/a/..b", "/a/b..",
                                            "/var/lib/strata" };
        static const char *const bad[] = { "", "etc", "./etc", "/etc/", "//etc", "/etc//x", "/etc/.", "/etc/..",
                                           "/etc/../root", "/./etc", "/a/b\n", "/a\tb" };
        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (!ignition_lite_path_ok(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (ignition_lite_path_ok(bad[i]))
                        fail_msg("\"%s\" accepted", bad[i]);
        assert_false(ignition_lite_path_ok(NULL));
}

/* A config of the shape Strata renders; each case patches one part. */
#define BASE_HEAD "{\"ignition\":{\"version\":\"3.3.0\"},"
#define VOLUME                                                                                               \
        "\"luks\":[{\"name\":\"strata-data\",\"device\":\"/dev/disk/by-partlabel/STRATA\",\"wipeVolume\":false," \
        "\"clevis\":{\"tpm2\":true,\"threshold\":2,\"tang\":[{\"url\":\"http://10.0.0.1:7500\","             \
        "\"thumbprint\":\"abc\"}]}}],"                                                                       \
        "\"filesystems\":[{\"device\":\"/dev/mapper/strata-data\",\"format\":\"ext4\",\"label\":\"strata-data\"," \
        "\"path\":\"/var/lib/strata\",\"wipeFilesystem\":false}],"

static const char good_config[] =
        BASE_HEAD "\"storage\":{" VOLUME
        "\"directories\":[{\"path\":\"/etc/strata\",\"mode\":448}],"
        "\"files\":[{\"path\":\"/etc/strata/spec.json\",\"mode\":420,\"overwrite\":true,"
        "\"contents\":{\"source\":\"data:,%7B%7D\",\"verification\":{\"hash\":\"sha512-"
        "27c74670adb75075fad058d5ceaf7b20c4e7786c83bae8a32f626f9782af34c9a33c2046ef60fd2a7878d378e29fec851806bb"
        "d9a67878f3a9f1cda4830763fd\"}}}],"
        "\"links\":[{\"path\":\"/etc/extensions/strata-agent.raw\",\"target\":\"/opt/extensions/x.raw\"}]},"
        "\"systemd\":{\"units\":[{\"name\":\"stratad.service\",\"enabled\":true,"
        "\"dropins\":[{\"name\":\"10-spec.conf\",\"contents\":\"[Service]\\n\"}]},"
        "{\"name\":\"strata-unseal@strata-data.service\",\"mask\":false}]}}";

static void check_refused(const char *text, const char *want) {
        json_t *config = json_loads(text, 0, NULL);
        char err[IGNITION_LITE_ERR_MAX];

        if (!config)
                fail_msg("not JSON: %s", text);
        if (ignition_lite_check(config, err) == 0)
                fail_msg("accepted: %s", text);
        if (strncmp(err, want, strlen(want)) != 0)
                fail_msg("\"%s\" does not start with \"%s\"", err, want);
        json_decref(config);
}

static void test_check_accepts_strata_shape(void **state) {
        json_t *config = json_loads(good_config, 0, NULL);
        char err[IGNITION_LITE_ERR_MAX];
        (void) state;

        assert_non_null(config);
        if (ignition_lite_check(config, err) < 0)
                fail_msg("refused: %s", err);
        json_decref(config);
}

static void test_check_refusals_name_the_path(void **state) {
        static const struct {
                const char *config, *err;
        } cases[] = {
                { "[]", "$: not a JSON object" },
                { "{\"ignition\":{\"version\":\"3.5.0\"}}", "$.ignition.version: expected 3.0.0 to 3.4.0" },
                { "{\"ignition\":{\"version\":\"3.3.0x\"}}", "$.ignition.version:" },
                { "{}", "$.ignition.version:" },
                { BASE_HEAD "\"passwd\":{}}", "$.passwd: not supported" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"user\":{\"name\":\"root\"}}]}}",
                  "$.storage.files[0].user: not supported" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"mode\":\"0644\"}]}}",
                  "$.storage.files[0].mode: must be an integer" },
                { BASE_HEAD "\"storage\":{\"files\":{}}}", "$.storage.files: must be an array" },
                { BASE_HEAD "\"storage\":{\"files\":[7]}}", "$.storage.files[0]: must be an object" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x/../etc/shadow\"}]}}",
                  "$.storage.files[0].path: must be an absolute, normalised path" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"mode\":420}]}}", "$.storage.files[0].path: must be" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"mode\":65535}]}}",
                  "$.storage.files[0].mode: 65535 is not a file mode" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"contents\":{\"source\":\"file:///y\"}}]}}",
                  "$.storage.files[0].contents.source: only data:, http: and https: sources" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"contents\":{\"source\":\"http:///y\"}}]}}",
                  "$.storage.files[0].contents.source: only data:" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"contents\":{\"source\":\"data:,%zz\"}}]}}",
                  "$.storage.files[0].contents.source: cannot decode the data: URL" },
                { BASE_HEAD "\"storage\":{\"files\":[{\"path\":\"/x\",\"contents\":{\"verification\":"
                            "{\"hash\":\"sha256-00\"}}}]}}",
                  "$.storage.files[0].contents.verification.hash: must be sha512-" },
                { BASE_HEAD "\"storage\":{\"links\":[{\"path\":\"/x\"}]}}", "$.storage.links[0].target: is required" },
                { BASE_HEAD "\"storage\":{\"links\":[{\"path\":\"/x\",\"target\":\"/y\",\"hard\":true}]}}",
                  "$.storage.links[0].hard: true is not supported" },
                { BASE_HEAD "\"storage\":{\"directories\":[{\"path\":\"/x/\"}]}}",
                  "$.storage.directories[0].path: must be" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"a/b\",\"device\":\"/dev/vdb\",\"clevis\":"
                            "{\"tpm2\":true}}]}}",
                  "$.storage.luks[0].name: must be a device-mapper name" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\"}]}}",
                  "$.storage.luks[0].clevis: is required" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"wipeVolume\":true,"
                            "\"clevis\":{\"tpm2\":true}}]}}",
                  "$.storage.luks[0].wipeVolume: true is not supported" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":{}}]}}",
                  "$.storage.luks[0].clevis: has neither tang nor tpm2" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":"
                            "{\"tpm2\":true,\"threshold\":2}}]}}",
                  "$.storage.luks[0].clevis.threshold: 2 is not within 1 to the 1 key sources" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":"
                            "{\"tang\":[{\"thumbprint\":\"x\"}]}}]}}",
                  "$.storage.luks[0].clevis.tang[0].url: must be an http(s) URL" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":"
                            "{\"custom\":{\"pin\":\"sss\",\"config\":\"[]\"}}}]}}",
                  "$.storage.luks[0].clevis.custom.config: must be a JSON object" },
                { BASE_HEAD "\"storage\":{\"luks\":[{\"name\":\"d\",\"device\":\"/dev/vdb\",\"clevis\":"
                            "{\"custom\":{\"pin\":\"sh\",\"config\":\"{}\"}}}]}}",
                  "$.storage.luks[0].clevis.custom.pin: must be sss, tang or tpm2" },
                { BASE_HEAD "\"storage\":{\"filesystems\":[{\"device\":\"/dev/vdb\",\"format\":\"xfs\"}]}}",
                  "$.storage.filesystems[0].format: only ext4 is supported, got \"xfs\"" },
                { BASE_HEAD "\"storage\":{\"filesystems\":[{\"device\":\"/dev/vdb\",\"format\":\"ext4\","
                            "\"label\":\"a-label-that-is-too-long\"}]}}",
                  "$.storage.filesystems[0].label: must be" },
                { BASE_HEAD "\"storage\":{\"filesystems\":[{\"device\":\"/dev/vdb\",\"format\":\"ext4\","
                            "\"wipeFilesystem\":true}]}}",
                  "$.storage.filesystems[0].wipeFilesystem: true is not supported" },
                { BASE_HEAD "\"systemd\":{\"units\":[{\"name\":\"a.service\\nenable evil.service\"}]}}",
                  "$.systemd.units[0].name: must be a unit name" },
                { BASE_HEAD "\"systemd\":{\"units\":[{\"name\":\"../a.service\"}]}}",
                  "$.systemd.units[0].name: must be a unit name" },
                { BASE_HEAD "\"systemd\":{\"units\":[{\"name\":\"stratad\"}]}}",
                  "$.systemd.units[0].name: must be a unit name" },
                { BASE_HEAD "\"systemd\":{\"units\":[{\"name\":\"a.service\",\"dropins\":[{\"name\":\"x\","
                            "\"contents\":\"\"}]}]}}",
                  "$.systemd.units[0].dropins[0].name: a drop-in needs a name ending in .conf" },
        };
        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                check_refused(cases[i].config, cases[i].err);
}

static void test_check_caps_volumes_and_mounts(void **state) {
        json_t *config = json_loads(BASE_HEAD "\"storage\":{\"filesystems\":[]}}", 0, NULL);
        json_t *fs = json_object_get(json_object_get(config, "storage"), "filesystems");
        char err[IGNITION_LITE_ERR_MAX], path[32];
        (void) state;

        for (int i = 0; i <= IGNITION_LITE_MOUNTS_MAX; i++) {
                snprintf(path, sizeof(path), "/mnt/%d", i);
                json_array_append_new(fs, json_pack("{s:s, s:s, s:s}", "device", "/dev/vdb", "format", "ext4",
                                                    "path", path));
        }
        assert_int_equal(ignition_lite_check(config, err), -1);
        assert_non_null(strstr(err, "more than 8 mounts"));
        json_decref(config);
}

static void test_clevis_conversion(void **state) {
        json_t *clevis = json_loads("{\"tpm2\":true,\"threshold\":2,\"tang\":[{\"url\":\"http://t\",\"thumbprint\":"
                                    "\"abc\"}]}",
                                    0, NULL);
        json_t *custom = json_loads("{\"custom\":{\"pin\":\"sss\",\"config\":\"{\\\"t\\\":1}\"}}", 0, NULL);
        json_t *bare = json_loads("{\"tpm2\":true}", 0, NULL);
        char *pin = NULL, *config = NULL;
        (void) state;

        assert_int_equal(ignition_lite_clevis(clevis, &pin, &config), 0);
        assert_string_equal(pin, "sss");
        assert_string_equal(config, "{\"pins\":{\"tang\":[{\"thp\":\"abc\",\"url\":\"http://t\"}],\"tpm2\":[{}]},"
                                    "\"t\":2}");
        free(pin);
        free(config);
        assert_int_equal(ignition_lite_clevis(custom, &pin, &config), 0);
        assert_string_equal(pin, "sss");
        assert_string_equal(config, "{\"t\":1}");
        free(pin);
        free(config);
        /* Ignition's default threshold is 1 */
        assert_int_equal(ignition_lite_clevis(bare, &pin, &config), 0);
        assert_string_equal(config, "{\"pins\":{\"tpm2\":[{}]},\"t\":1}");
        free(pin);
        free(config);
        json_decref(clevis);
        json_decref(custom);
        json_decref(bare);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_ok),
                cmocka_unit_test(test_check_accepts_strata_shape),
                cmocka_unit_test(test_check_refusals_name_the_path),
                cmocka_unit_test(test_check_caps_volumes_and_mounts),
                cmocka_unit_test(test_clevis_conversion),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
