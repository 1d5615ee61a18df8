/* ignition: a node's Ignition v3 config, rendered from the fleet spec and
 * the templates compiled in from ignition/ (see ignition/README.md), shared
 * by `strata ignition render` and stratad's boot server; plus the checks
 * every rendered config passes before it leaves: Strata's lint (clevis
 * threshold, sysext naming and hash) and the secret scan. Ignition is a
 * public channel: nothing rendered may hold a key, token or password. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

#include "core/spec.h"

/* Where the agent sysext goes on the node (docs/flatcar-ignition.md §1.5,
 * §6): the versioned image in its own directory, and the link systemd-sysext
 * merges, named after the extension-release file inside the image
 * (usr/lib/extension-release.d/extension-release.strata-agent). */
#define IGNITION_SYSEXT_DIR "/opt/extensions/strata"
#define IGNITION_SYSEXT_RELEASE_NAME "strata-agent"
#define IGNITION_SYSEXT_LINK "/etc/extensions/" IGNITION_SYSEXT_RELEASE_NAME ".raw"
/* Where the node's copies of the public inputs go. */
#define IGNITION_SPEC_PATH "/etc/strata/spec.json"
#define IGNITION_FLEET_CA_PATH "/etc/strata/fleet-ca.pem"
/* The Ignition spec versions Flatcar accepts: 3.3.0 from 3185.0.0 (and
 * Debian 12's ignition-validate), 3.4.0 from 3535.0.0. */
#define IGNITION_SPEC_VERSION_DEFAULT "3.3.0"
/* Largest fleet CA bundle accepted (a chain of a few certificates). */
#define IGNITION_FLEET_CA_MAX (64u * 1024u)
/* Longest sysext source URL. */
#define IGNITION_URL_MAX 2048u

typedef enum IgnitionRole {
        IGNITION_ROLE_INVENTORY = -1, /* options only: the machine's role in the inventory */
        IGNITION_ROLE_SEED,
        IGNITION_ROLE_CONTROLLER,
        IGNITION_ROLE_WORKER,
        _IGNITION_ROLE_MAX,
        _IGNITION_ROLE_INVALID = -EINVAL,
} IgnitionRole;

/* "seed", "controller", "worker" (the spec's role names) and back;
 * _IGNITION_ROLE_INVALID / NULL for anything else. */
IgnitionRole ignition_role_from_string(const char *s);
const char *ignition_role_to_string(IgnitionRole r);

typedef struct IgnitionRenderOptions {
        const char *machine;       /* inventory name ($.inventory[].name) */
        IgnitionRole role;         /* IGNITION_ROLE_INVENTORY (-1): the inventory's role.
                                    * Note: 0 is IGNITION_ROLE_SEED, so set this. */
        const char *spec_version;  /* NULL: IGNITION_SPEC_VERSION_DEFAULT; "3.4.0" allowed */
        const char *sysext_name;   /* strata-agent-VERSION-ARCH.raw (required) */
        const char *sysext_source; /* URL Ignition fetches the sysext from (http, https), or
                                    * NULL when it is already on the disk (the seed image) */
        const char *sysext_sha512; /* 128 lower-case hex digits; required with sysext_source */
        const char *fleet_ca_pem;  /* the fleet CA certificate(s), PEM; NULL: none */
} IgnitionRenderOptions;

/* Is `name` a sysext file name that matches its extension-release:
 * "strata-agent-" VERSION "-" ARCH ".raw", ARCH x86-64 or arm64, VERSION
 * made of [A-Za-z0-9._+~-]? (systemd-sysupdate's strata-agent-@v-%a.raw.) */
bool ignition_sysext_name_is_valid(const char *name);

/* Renders `o->machine`'s config: base.json, the sysext fetch (when
 * sysext_source is set), the fleet CA (when given), the role's templates,
 * and data-volume.json when the spec has unseal.volume; then runs
 * ignition_lint() and ignition_scan_secrets() on the result.
 * Returns 0 and *ret (a new JSON object; caller owns it). Errors, with a
 * human message in *reterr (caller frees) naming what and where:
 *   -ENOENT  the machine is not in the inventory;
 *   -EINVAL  a bad option (role, spec version, sysext name, hash or URL, a
 *            fleet CA without a certificate), a tang server without the
 *            thumbprint Ignition's clevis binding needs, a clevis threshold
 *            larger than its key sources;
 *   -EPERM   a secret found in the config (its JSON path is named);
 *   -E2BIG   a file too large to inline; -EPROTO a broken built-in template;
 *   -ENOMEM.
 * Pure: no I/O, no logging. */
int ignition_render(const Spec *spec, const IgnitionRenderOptions *o, json_t **ret, char **reterr);

/* Strata's own checks on a rendered config, for what ignition-validate
 * does not check (docs/flatcar-ignition.md §5.6):
 *   - every storage.luks[].clevis threshold (default 1) is at least 1 and
 *     at most its key sources (tang servers + tpm2), and every tang server
 *     has a thumbprint;
 *   - every link in /etc/extensions/ to the Strata sysext is
 *     IGNITION_SYSEXT_LINK, and its target's name passes
 *     ignition_sysext_name_is_valid();
 *   - every file in IGNITION_SYSEXT_DIR fetched from a URL carries a
 *     "sha512-" + 128 lower-case hex verification hash.
 * Returns 0, or -EINVAL with the JSON path and the problem in *reterr. */
int ignition_lint(const json_t *config, char **reterr);

/* Scans any JSON (a rendered config) for key material and known secret
 * shapes: property names spec_name_is_secret() flags; PEM private-key
 * armour; JWT/JWS/JWE compact tokens; Kubernetes bootstrap tokens
 * (abcdef.0123456789abcdef); k0s join tokens (base64 of gzip) and k3s
 * tokens; AWS, GitHub and Slack key shapes; URLs with a password; long
 * base64 runs with many distinct symbols (random, so key-like). data: URLs
 * are decoded first, JSON inside them is scanned as JSON, and binary data
 * in them is refused (it cannot be told apart from a key).
 * Returns 0 if nothing was found, -EPERM with "PATH: WHAT" in *reterr for
 * the first hit (the secret itself is never quoted), -ENOMEM. */
int ignition_scan_secrets(const json_t *config, char **reterr);
