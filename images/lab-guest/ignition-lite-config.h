/* ignition-lite-config: what the lab guest's Ignition stand-in accepts,
 * decided from the document alone before anything is touched (Ignition
 * too validates the whole config before its disks stage). A pure function
 * of the JSON, so tests/fuzz/fuzz-ignition-lite can drive it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Volumes and mounts one config may ask for (the guest has a handful of
 * disks; Strata's configs ask for one of each). */
#define IGNITION_LITE_LUKS_MAX 8
#define IGNITION_LITE_MOUNTS_MAX 8
/* The longest path accepted, the guest's root prefix included. */
#define IGNITION_LITE_PATH_MAX 4096
#define IGNITION_LITE_ERR_MAX 512

/* 0 when every field is one ignition-lite applies and every entry is well
 * formed: known fields only (a table of JSON paths), ignition.version 3.0
 * to 3.4, no wipes, ext4 only, no hard links, normalised absolute paths,
 * modes within 07777, data: sources that decode or http(s) URLs, sha512
 * hashes, systemd unit and drop-in names, clevis with something to bind
 * to. Otherwise -1 with "JSONPATH: what" in err ($.storage.files[3].path:
 * ...). */
int ignition_lite_check(const json_t *config, char err[IGNITION_LITE_ERR_MAX]);

/* Ignition's clevis form as the pin and config clevis would build from it
 * (Ignition's luks.go): custom passed on as it is, else "sss" with
 * {"t": threshold, "pins": {"tang": [{url, thp}], "tpm2": [{}]}}. For an
 * entry ignition_lite_check accepted. 0 with both malloc'd, -1 on ENOMEM. */
int ignition_lite_clevis(const json_t *clevis, char **ret_pin, char **ret_config);

/* An absolute path Ignition would take as it is: starts with '/', no empty,
 * "." or ".." component, no trailing '/', no control character. */
bool ignition_lite_path_ok(const char *path);
