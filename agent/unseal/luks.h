/* Luks: Clevis-compatible LUKS2 bindings through libcryptsetup, with no
 * shell-out: bind (a new random keyslot passphrase, encrypted into a
 * "clevis" token), unlock (decrypt a token, open its keyslot) and regen
 * (rebind without ever leaving the device without a working keyslot).
 * Devices made by `clevis luks bind` work here and the other way round.
 * Passphrases only live in Secrets: never in a file, argv or environment.
 *
 * Every failure adds a line to `report` ("DEVICE: ...", "token N (keyslot
 * M): ..."); a few lines also say what was decided on success (a tang
 * advertisement trusted by continuity). The caller prints them.
 * Errors, besides those of unseal_encrypt()/unseal_decrypt():
 *   -EINVAL  DEVICE missing, not LUKS, or LUKS1; bad keyslot argument
 *   -EPERM   the given passphrase opens no keyslot
 *   -ENOENT  no clevis token (for regen: none for that keyslot)
 *   -ENOKEY  no token could be decrypted into a passphrase that opens its
 *            keyslot (unlock), or regen has no way to authorise
 *   -ENOSPC  every keyslot is in use
 *   -EEXIST  unlock: the device-mapper name is in use by another device
 *   -EIO, -ENOMEM, other -errno from libcryptsetup: local faults */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

#include "core/secret.h"
#include "unseal/luks-token.h"
#include "unseal/unseal.h"

/* As `clevis luks bind` (v20+): 40 random bytes as base64url text, the
 * ASCII string is the passphrase; pbkdf2 with 1000 iterations, which is
 * plenty for 320 bits of entropy and keeps unlock fast. */
#define LUKS_PASSPHRASE_RANDOM_BYTES 40u
#define LUKS_PASSPHRASE_LEN 54u /* base64url of 40 bytes, unpadded */
#define LUKS_PBKDF_ITERATIONS 1000u
#define LUKS_PBKDF_HASH_DEFAULT "sha256"

/* Binds DEVICE to (pin, config): verifies `existing` opens a keyslot,
 * encrypts a fresh passphrase, adds it as a new keyslot (pbkdf2, the
 * existing keyslot's hash), and imports the clevis token for it. If the
 * token cannot be imported, the new keyslot is destroyed again. The new
 * keyslot in *ret_keyslot (may be NULL). */
int luks_bind(const char *device, const char *pin, const json_t *config, const Secret *existing,
              const UnsealOptions *o, UnsealReport *report, int *ret_keyslot);

/* Tries the clevis tokens in order until one decrypts to a passphrase that
 * opens its keyslot, then activates DEVICE as `name`; with name NULL it
 * only verifies (`--test`, no device-mapper needed). The keyslot that
 * opened in *ret_keyslot (may be NULL; -1 when nothing was opened).
 * Idempotent: when `name` is active already and is this volume (the same
 * LUKS UUID: Ignition left it open on first boot, another unit or an
 * earlier stratad opened it), returns 1 and decrypts nothing; when `name`
 * is active but is something else, -EEXIST (reported). */
int luks_unlock(const char *device, const char *name, const UnsealOptions *o, UnsealReport *report,
                int *ret_keyslot);

/* The decision behind luks_unlock()'s idempotence, apart from
 * device-mapper so it can be tested: the mapping `name` is `active` (or
 * not), backed by a LUKS volume with UUID `active_uuid` (NULL: not LUKS,
 * or its header could not be read); the device to unlock has `uuid`.
 * 0: not active, go on and open it; 1: active and the same volume (UUIDs
 * compared as RFC 4122 text, case-insensitively), nothing to do;
 * -EEXIST: active and not provably this volume. */
int luks_active_match(bool active, const char *active_uuid, const char *uuid);

/* What a data-volume device holds, judged as Ignition and cryptsetup judge
 * it before formatting (libblkid: filesystem, RAID, crypto signatures and
 * partition tables): nothing, a LUKS2 header, or anything else. */
typedef enum LuksDeviceKind {
        LUKS_DEVICE_BLANK,
        LUKS_DEVICE_LUKS2,
        LUKS_DEVICE_OTHER, /* another signature, LUKS1, or several (ambiguous) */
        _LUKS_DEVICE_KIND_MAX,
        _LUKS_DEVICE_KIND_INVALID = -EINVAL,
} LuksDeviceKind;

/* Probes DEVICE; *ret_what names what was found ("nothing", "crypto_LUKS
 * version 2", "ext4", "a dos partition table", "ambiguous signatures"),
 * a new string (may be NULL). -errno when it cannot be read. */
int luks_probe(const char *device, LuksDeviceKind *ret, char **ret_what);

/* Creates the data volume on a blank DEVICE as Ignition's storage.luks with
 * a clevis binding does (LUKS2, one keyslot holding a random passphrase,
 * its clevis token encrypted with (pin, config), no other key anywhere),
 * in an order that cannot strand it: the passphrase is encrypted before
 * anything is written (an unreachable tang server leaves the device
 * blank), and it is the first and only keyslot, so no temporary key is
 * added and removed. Probes again first: -EEXIST (reported) when DEVICE is
 * not blank; nothing is ever wiped. The keyslot in *ret_keyslot. */
int luks_create(const char *device, const char *pin, const json_t *config, const UnsealOptions *o,
                UnsealReport *report, int *ret_keyslot);

typedef struct LuksRegenResult {
        size_t n;
        struct {
                int old_keyslot, new_keyslot;
        } done[LUKS_TOKEN_MAX];
} LuksRegenResult;

/* Rebinds the clevis token of `keyslot` (-1: every clevis token) to a new
 * keyslot with a new passphrase, encrypted with (pin, config), or (both
 * NULL) with the config rebuilt from the old JWE (tpm2 reseals to the
 * current PCRs; tang follows a key rotation when the new advertisement is
 * signed by a key the old one listed, else needs o->trust_tang_adv). The
 * old binding authorises the new keyslot; if it no longer decrypts,
 * `existing` (may be NULL) must. The new binding is decrypted once before
 * the old one is removed. Stops at the first token that fails; what was
 * done is in *ret (may be NULL). */
int luks_regen(const char *device, int keyslot, const char *pin, const json_t *config, const Secret *existing,
               const UnsealOptions *o, UnsealReport *report, LuksRegenResult *ret);
