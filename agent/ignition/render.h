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
/* Where a node that booted from the network keeps the kernel and initrd it
 * serves to the machines it provisions (ignition/boot-assets.json), and
 * where the seed image puts them (strata image seed --boot-assets): /usr is
 * read-only on Flatcar, and /var/lib/strata is covered by the data volume.
 * stratad's boot server falls back to it (boot-server.c). */
#define IGNITION_BOOT_ASSETS_DIR "/var/cache/strata/boot"
/* Where the node's copies of the public inputs go. */
#define IGNITION_SPEC_PATH "/etc/strata/spec.json"
#define IGNITION_FLEET_CA_PATH "/etc/strata/fleet-ca.pem"
#define IGNITION_SPONSOR_ENV_PATH "/etc/strata/sponsor.env"
/* What the public spec says in place of a machine's BMC (the schema
 * requires one): a name that never resolves (RFC 6761 .invalid) and a
 * credential that does not exist. Members learn the real ones after
 * admission, over the attested channel. */
#define IGNITION_WITHHELD_BMC_ENDPOINT "https://withheld.invalid"
#define IGNITION_WITHHELD_CREDENTIAL "strata-withheld"
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
        const char *sponsor_url;   /* https://ADDR:PORT of the member this node attests to,
                                    * written to IGNITION_SPONSOR_ENV_PATH; NULL: none */
        bool full_spec;            /* SPEC_JSON is the whole spec, not ignition_public_spec():
                                    * only for a config that never crosses the network, the
                                    * seed's own boot medium (the seed coordinates and
                                    * provisions from the full inventory from its first boot) */
        const char *boot_base_url; /* http://ADDR:PORT/boot/MAC, the provisioning member's
                                    * lease-gated boot URLs (the iPXE script's BASE_URL): the
                                    * node fetches the kernel and initrd from there into
                                    * IGNITION_BOOT_ASSETS_DIR (boot-assets.json), for a node
                                    * that booted from the network; NULL: not included */
        const char *boot_kernel_sha512; /* 128 lower-case hex digits; required with */
        const char *boot_initrd_sha512; /* boot_base_url */
        bool volume_exists;        /* the machine's data volume was created before: open
                                    * and mount it, never ask Ignition to create it (a
                                    * PXE node re-runs Ignition at every boot) */
} IgnitionRenderOptions;

/* Is `name` a sysext file name that matches its extension-release:
 * "strata-agent-" VERSION "-" ARCH ".raw", ARCH x86-64 or arm64, VERSION
 * made of [A-Za-z0-9._+~-]? (systemd-sysupdate's strata-agent-@v-%a.raw.) */
bool ignition_sysext_name_is_valid(const char *name);

/* Renders `o->machine`'s config: base.json (with the public spec, see
 * ignition_public_spec(), unless full_spec), the sysext fetch (when sysext_source is set),
 * the boot assets (boot-assets.json, when boot_base_url is set),
 * the fleet CA (when given), sponsor.json (when sponsor_url is given), the
 * role's templates, and when the spec has unseal.volume data-volume.json
 * plus, unless volume_exists, data-volume-create.json; then runs
 * ignition_lint() and ignition_scan_secrets() on the result.
 * Returns 0 and *ret (a new JSON object; caller owns it). Errors, with a
 * human message in *reterr (caller frees) naming what and where:
 *   -ENOENT  the machine is not in the inventory;
 *   -EINVAL  a bad option (role, spec version, sysext name, hash or URL, a
 *            fleet CA without a certificate, a sponsor URL that is not
 *            https://HOST:PORT), a tang server without the
 *            thumbprint Ignition's clevis binding needs, a clevis threshold
 *            larger than its key sources;
 *   -EPERM   a secret found in the config (its JSON path is named);
 *   -E2BIG   a file too large to inline; -EPROTO a broken built-in template;
 *   -ENOMEM.
 * Pure: no I/O, no logging. */
int ignition_render(const Spec *spec, const IgnitionRenderOptions *o, json_t **ret, char **reterr);

/* The spec as every node receives it in Ignition: public, and still a
 * spec stratad accepts (it validates against the same schema). Kept: what
 * a node needs before it is admitted: the fleet, every machine's name,
 * role, network and MACs (the quorum and seed checks count them), the
 * networks, tang servers, unseal and attestation policy, provisioning,
 * quorum, k0s and CAPI. Withheld, since Ignition is read by anyone on the
 * wire and a node gets them after admission over the attested channel:
 *   - each inventory[].bmc becomes IGNITION_WITHHELD_BMC_ENDPOINT with the
 *     credential IGNITION_WITHHELD_CREDENTIAL and TLS mode "system" (no
 *     endpoint, username, credential reference, CA path, fingerprint,
 *     serial, UUID or vendor of any machine's BMC);
 *   - attestation.sponsor.fleet_ca_key, the reference to the fleet CA's
 *     private key, becomes IGNITION_WITHHELD_CREDENTIAL: only the seed
 *     sponsors, and its spec is the full one (full_spec). The rest of the
 *     sponsor block stays: joiners find the sponsor by its listen address;
 *   - attestation.fleet_ca, a path on the operator's machine, becomes
 *     `fleet_ca_path` (where Ignition writes the CA), or is dropped when
 *     NULL; "$schema", an editor hint.
 * `spec` must be a validated spec document. Returns 0 and *ret (a new
 * object), -ENOMEM. */
int ignition_public_spec(const json_t *spec, const char *fleet_ca_path, json_t **ret);

/* The sponsor a machine booted from this member should attest to, from
 * the full spec's attestation.sponsor.listen: https://HOST:PORT with HOST
 * the listen address, or `address` (this member's address on the
 * machine's segment, may be NULL) when it listens on every address
 * (0.0.0.0, [::]). -ENOENT: the spec has no sponsor; -EADDRNOTAVAIL: the
 * sponsor listens on loopback only, or on every address and no `address`
 * was given; -ENOMEM. *ret is malloc'd. */
int ignition_sponsor_url(const json_t *spec, const char *address, char **ret);

/* Strata's own checks on a rendered config, for what ignition-validate
 * does not check (docs/flatcar-ignition.md §5.6):
 *   - no storage.luks[] sets wipeVolume and no storage.filesystems[] sets
 *     wipeFilesystem: Strata never asks Ignition to destroy data;
 *   - every storage.luks[].clevis threshold (default 1) is at least 1 and
 *     at most its key sources (tang servers + tpm2), and every tang server
 *     has a thumbprint; a custom pin is "sss" (or "tang"/"tpm2") with a
 *     config in clevis' form whose threshold its pins can meet, whose tang
 *     servers carry "thp" (Ignition cannot answer clevis' trust prompt),
 *     and which says needsNetwork when it has a tang server;
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
 * base64 runs with many distinct symbols (random, so key-like); property
 * names are checked for the shapes too. data: URLs are decoded first, JSON
 * inside them or inside a string (a custom clevis pin's config) is scanned
 * as JSON, and binary data in them is refused (it cannot be told apart from
 * a key). A tang advertisement (a JWS of public keys only, its signature
 * verifying) passes; its headers are scanned.
 * Returns 0 if nothing was found, -EPERM with "PATH: WHAT" in *reterr for
 * the first hit (the secret itself is never quoted), -ENOMEM. */
int ignition_scan_secrets(const json_t *config, char **reterr);
