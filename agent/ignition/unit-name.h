/* unit-name: systemd's unit-name escaping (systemd-escape and
 * systemd-escape --path), for the instance names Ignition must spell out:
 * strata-unseal@DEVICE.service and systemd-cryptsetup@NAME.service. */
#pragma once

/* Longest input escaped; unit names are at most 255 bytes anyway. */
#define UNIT_NAME_INPUT_MAX 255u

/* `systemd-escape STRING`: '/' becomes '-'; ASCII letters, digits, ':',
 * '_' and '.' (not leading) stay; every other byte becomes \xNN.
 * Returns 0 and *ret (caller frees), -EINVAL (empty or longer than
 * UNIT_NAME_INPUT_MAX), -ENOMEM. */
int unit_name_escape(const char *s, char **ret);

/* `systemd-escape --path PATH`: the absolute path with duplicate and
 * trailing slashes and "." components dropped and the leading slash
 * removed, then escaped as above; "/" alone is "-". Refuses relative paths
 * and ".." components (-EINVAL). */
int unit_name_path_escape(const char *path, char **ret);
