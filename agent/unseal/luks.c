/* Luks: bind, unlock and regen of LUKS2 clevis tokens through
 * libcryptsetup (see luks.h). The device's keyslots are only ever changed
 * by adding before removing, so an interrupted run leaves the device
 * openable (the regen analysis is above luks_regen). libcryptsetup is
 * silent unless a log callback is set; ours keeps its last error line to
 * explain a failed call in the report. */
#include "unseal/luks.h"

#include <blkid.h>
#include <errno.h>
#include <jose/jose.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "unseal/jwe.h"
#include "unseal/pin-config.h"
#include "unseal/pin-tang.h"

#define LUKS_WHERE_MAX 64u
#define LUKS_LOG_LINE_MAX 256u
#define LUKS_HASH_NAME_MAX 32u
#define LUKS_TANG_NODES_MAX 64u /* tang servers followed through one rebuilt config */

typedef struct Luks {
        struct crypt_device *cd;
        const char *device;
        UnsealReport *report;
        char last_error[LUKS_LOG_LINE_MAX]; /* libcryptsetup's last error, "" if none */
} Luks;

static void luks_on_log(int level, const char *msg, void *userdata) {
        Luks *l = userdata;
        size_t n;

        if (level != CRYPT_LOG_ERROR || !msg)
                return;
        (void) snprintf(l->last_error, sizeof(l->last_error), "%s", msg);
        n = strlen(l->last_error);
        while (n > 0 && (l->last_error[n - 1] == '\n' || l->last_error[n - 1] == '.'))
                l->last_error[--n] = '\0';
}

/* " (cryptsetup: ...)" when libcryptsetup said why, for the report. */
static const char *luks_why(Luks *l, char *buf, size_t size) {
        if (!l->last_error[0])
                return "";
        (void) snprintf(buf, size, " (cryptsetup: %s)", l->last_error);
        l->last_error[0] = '\0';
        return buf;
}

static void luks_close(Luks *l) {
        crypt_free(l->cd);
        l->cd = NULL;
}

/* Opens DEVICE and loads its header; refuses anything but LUKS2. */
static int luks_open(Luks *l, const char *device, UnsealReport *report) {
        const char *type;
        char why[LUKS_LOG_LINE_MAX + 16];
        struct stat st;
        int r;

        *l = (Luks) { .device = device, .report = report };
        /* checked here: crypt_init() would print its own message, as no
         * callback can be set before it, and say "block device required" */
        if (stat(device, &st) < 0) {
                unseal_report_add(report, device, "cannot open: %s", strerror(errno));
                return errno == ENOENT || errno == ENOTDIR ? -EINVAL : -errno;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                unseal_report_add(report, device, "not a block device or an image file");
                return -EINVAL;
        }
        r = crypt_init(&l->cd, device);
        if (r < 0) {
                unseal_report_add(report, device, "cannot open: %s", strerror(-r));
                /* a path that is not there is the caller's mistake, not a fault */
                return r == -ENOENT || r == -ENOTBLK || r == -EINVAL ? -EINVAL : r;
        }
        crypt_set_log_callback(l->cd, luks_on_log, l);
        r = crypt_load(l->cd, CRYPT_LUKS, NULL);
        if (r < 0) {
                unseal_report_add(report, device, "not a LUKS device: %s%s", strerror(-r), luks_why(l, why, sizeof(why)));
                luks_close(l);
                return r == -EINVAL ? -EINVAL : r;
        }
        type = crypt_get_type(l->cd);
        if (type && strcmp(type, CRYPT_LUKS1) == 0) {
                unseal_report_add(report, device, "LUKS1 is not supported; clevis uses luksmeta there");
                luks_close(l);
                return -EINVAL;
        }
        if (!type || strcmp(type, CRYPT_LUKS2) != 0) {
                unseal_report_add(report, device, "not a LUKS2 device (%s)", type ? type : "unknown type");
                luks_close(l);
                return -EINVAL;
        }
        return 0;
}

/* Checks that `pass` opens `keyslot` (CRYPT_ANY_SLOT: any) without
 * activating anything. Returns the keyslot, -EPERM, or another -errno. */
static int luks_passphrase_check(Luks *l, int keyslot, const Secret *pass) {
        return crypt_activate_by_passphrase(l->cd, NULL, keyslot, (const char *) pass->data, pass->size, 0);
}

/* A new keyslot passphrase: 40 random bytes as base64url text, like
 * `clevis luks bind` from v20 on. */
static int luks_passphrase_new(Secret **ret) {
        uint8_t raw[LUKS_PASSPHRASE_RANDOM_BYTES];
        _cleanup_secret_ Secret *s = secret_new(LUKS_PASSPHRASE_LEN);
        size_t n;

        if (!s)
                return -ENOMEM;
        if (RAND_priv_bytes(raw, sizeof(raw)) != 1)
                return -EIO;
        n = jose_b64_enc_buf(raw, sizeof(raw), s->data, s->size);
        OPENSSL_cleanse(raw, sizeof(raw));
        if (n != LUKS_PASSPHRASE_LEN)
                return -EIO;
        *ret = take_ptr(s);
        return 0;
}

static bool luks_has_free_keyslot(Luks *l) {
        for (int i = 0; i < LUKS_KEYSLOT_MAX; i++)
                if (crypt_keyslot_status(l->cd, i) == CRYPT_SLOT_INACTIVE)
                        return true;
        return false;
}

/* Adds a keyslot for `pass`, authorised by `auth`: pbkdf2 with
 * LUKS_PBKDF_ITERATIONS, the hash of keyslot `like` (clevis v20+ copies the
 * existing slot's hash; an argon2 slot has none, then sha256). */
static int luks_keyslot_add(Luks *l, int like, const Secret *auth, const Secret *pass, const char *where,
                            int *ret) {
        struct crypt_pbkdf_type old = { 0 };
        char hash[LUKS_HASH_NAME_MAX] = LUKS_PBKDF_HASH_DEFAULT;
        char why[LUKS_LOG_LINE_MAX + 16];
        int r;

        if (like >= 0 && crypt_keyslot_get_pbkdf(l->cd, like, &old) >= 0 && old.hash &&
            strlen(old.hash) < sizeof(hash))
                memcpy(hash, old.hash, strlen(old.hash) + 1);
        const struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = hash,
                .iterations = LUKS_PBKDF_ITERATIONS,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        r = crypt_set_pbkdf_type(l->cd, &pbkdf);
        if (r < 0) {
                unseal_report_add(l->report, where, "cannot use pbkdf2-%s: %s%s", hash, strerror(-r),
                                  luks_why(l, why, sizeof(why)));
                return r;
        }
        r = crypt_keyslot_add_by_passphrase(l->cd, CRYPT_ANY_SLOT, (const char *) auth->data, auth->size,
                                            (const char *) pass->data, pass->size);
        if (r < 0) {
                unseal_report_add(l->report, where, "adding a keyslot failed: %s%s", strerror(-r),
                                  luks_why(l, why, sizeof(why)));
                return r;
        }
        *ret = r;
        return 0;
}

/* Builds the token for `keyslot` and imports it. Returns the token id. */
static int luks_token_import(Luks *l, int keyslot, const char *compact, const char *where) {
        _cleanup_free_ char *json = NULL, *err = NULL;
        char why[LUKS_LOG_LINE_MAX + 16];
        int r;

        r = luks_token_build(keyslot, compact, strlen(compact), &json, &err);
        if (r < 0) {
                unseal_report_add(l->report, where, "building the token: %s", err ? err : strerror(-r));
                return r == -ENOMEM ? r : -EIO; /* our own encryptor made it */
        }
        r = crypt_token_json_set(l->cd, CRYPT_ANY_TOKEN, json);
        if (r < 0)
                unseal_report_add(l->report, where, "importing the token failed: %s%s", strerror(-r),
                                  luks_why(l, why, sizeof(why)));
        return r;
}

/* Destroys a keyslot this run added, when what should follow failed. */
static void luks_keyslot_undo(Luks *l, int keyslot, const char *where) {
        char why[LUKS_LOG_LINE_MAX + 16];
        int r = crypt_keyslot_destroy(l->cd, keyslot);
        if (r < 0)
                unseal_report_add(l->report, where,
                                  "could not destroy the keyslot %d just added: %s%s; remove it with "
                                  "`cryptsetup luksKillSlot %s %d`",
                                  keyslot, strerror(-r), luks_why(l, why, sizeof(why)), l->device, keyslot);
        else
                unseal_report_add(l->report, where, "keyslot %d just added was destroyed again", keyslot);
}

/* Decrypts a token's JWE; the pins' reasons go to the report under `where`. */
static int luks_token_decrypt(Luks *l, const LuksToken *tok, const UnsealOptions *o, const char *where,
                              Secret **ret) {
        _cleanup_(unseal_report_clear) UnsealReport sub = { 0 };
        _cleanup_free_ char *compact = NULL;
        int r;

        r = jwe_flat_to_compact(tok->jwe->flat, &compact);
        if (r < 0)
                return r;
        r = unseal_decrypt(o, compact, strlen(compact), ret, &sub);
        for (size_t i = 0; i < sub.n_lines; i++)
                unseal_report_add(l->report, where, "%s", sub.lines[i]);
        if (sub.dropped)
                unseal_report_add(l->report, where, "(%zu more)", sub.dropped);
        if (r < 0 && sub.n_lines == 0)
                unseal_report_add(l->report, where, "cannot decrypt: %s", strerror(-r));
        return r;
}

/* The clevis token `token`, parsed. -ENOENT if it is not a clevis token;
 * -EBADMSG (reported) if it is one but malformed. */
static int luks_token_get(Luks *l, int token, LuksToken *ret) {
        _cleanup_free_ char *err = NULL;
        const char *type = NULL, *json = NULL;
        char where[LUKS_WHERE_MAX];
        crypt_token_info info;
        int r;

        info = crypt_token_status(l->cd, token, &type);
        if (info == CRYPT_TOKEN_INVALID || info == CRYPT_TOKEN_INACTIVE || !type || strcmp(type, "clevis") != 0)
                return -ENOENT;
        r = crypt_token_json_get(l->cd, token, &json);
        (void) snprintf(where, sizeof(where), "token %d", token);
        if (r < 0 || !json) {
                unseal_report_add(l->report, where, "cannot read: %s", strerror(r < 0 ? -r : EIO));
                return -EBADMSG;
        }
        r = luks_token_parse(json, strlen(json), ret, &err);
        if (r < 0) {
                unseal_report_add(l->report, where, "%s", err ? err : strerror(-r));
                return r == -ENOMEM ? r : -EBADMSG;
        }
        return 0;
}

int luks_bind(const char *device, const char *pin, const json_t *config, const Secret *existing,
              const UnsealOptions *o, UnsealReport *report, int *ret_keyslot) {
        _cleanup_(luks_close) Luks l = { 0 };
        _cleanup_secret_ Secret *pass = NULL;
        _cleanup_free_ char *compact = NULL;
        int auth_slot, slot, r;

        if (!existing || existing->size == 0) {
                unseal_report_add(report, device, "binding needs the passphrase of an existing keyslot");
                return -EINVAL;
        }
        r = luks_open(&l, device, report);
        if (r < 0)
                return r;
        /* first, so a wrong key file changes nothing and says so */
        auth_slot = luks_passphrase_check(&l, CRYPT_ANY_SLOT, existing);
        if (auth_slot < 0) {
                if (auth_slot == -EPERM)
                        unseal_report_add(report, device, "the given passphrase opens no keyslot");
                else
                        unseal_report_add(report, device, "checking the given passphrase: %s", strerror(-auth_slot));
                return auth_slot;
        }
        if (!luks_has_free_keyslot(&l)) {
                unseal_report_add(report, device, "all %d keyslots are in use", LUKS_KEYSLOT_MAX);
                return -ENOSPC;
        }
        r = luks_passphrase_new(&pass);
        if (r < 0)
                return r;
        /* encrypt before writing anything: a bad config or an unreachable
         * server leaves the header untouched */
        r = unseal_encrypt(o, pin, config, pass->data, pass->size, &compact, report);
        if (r < 0)
                return r;
        r = luks_keyslot_add(&l, auth_slot, existing, pass, device, &slot);
        if (r < 0)
                return r;
        r = luks_token_import(&l, slot, compact, device);
        if (r < 0) {
                luks_keyslot_undo(&l, slot, device);
                return r;
        }
        if (ret_keyslot)
                *ret_keyslot = slot;
        return 0;
}

int luks_active_match(bool active, const char *active_uuid, const char *uuid) {
        if (!active)
                return 0;
        return active_uuid && uuid && *uuid && strcasecmp(active_uuid, uuid) == 0 ? 1 : -EEXIST;
}

/* Is `name` active already, and as this volume? luks_active_match() on
 * what device-mapper says; CRYPT_INVALID (no device-mapper, or it cannot
 * answer) is "not active": activating will then say what is wrong. */
static int luks_find_active(Luks *l, const char *name) {
        /* through our handle, so a complaint goes to our log callback */
        crypt_status_info st = crypt_status(l->cd, name);
        struct crypt_device *cd = NULL;
        const char *active_uuid = NULL, *uuid = crypt_get_uuid(l->cd);
        int r;

        l->last_error[0] = '\0';
        if (st != CRYPT_ACTIVE && st != CRYPT_BUSY)
                return 0;
        /* loads the header of the device behind the mapping, if LUKS */
        if (crypt_init_by_name(&cd, name) >= 0)
                active_uuid = crypt_get_uuid(cd);
        r = luks_active_match(true, active_uuid, uuid);
        if (r == -EEXIST)
                unseal_report_add(l->report, l->device, "%s is open already, but not as this volume (LUKS UUID %s, "
                                  "the mapping's %s); close it or choose another name",
                                  name, uuid ? uuid : "unknown", active_uuid ? active_uuid : "unknown");
        crypt_free(cd);
        return r;
}

int luks_unlock(const char *device, const char *name, const UnsealOptions *o, UnsealReport *report,
                int *ret_keyslot) {
        _cleanup_(luks_close) Luks l = { 0 };
        char why[LUKS_LOG_LINE_MAX + 16];
        unsigned n_clevis = 0;
        int r;

        if (ret_keyslot)
                *ret_keyslot = -1;
        r = luks_open(&l, device, report);
        if (r < 0)
                return r;
        /* before any tang request or TPM unseal: an open volume needs neither */
        if (name) {
                r = luks_find_active(&l, name);
                if (r != 0)
                        return r;
        }
        for (int t = 0; t < LUKS_TOKEN_MAX; t++) {
                _cleanup_(luks_token_done) LuksToken tok = { .keyslot = -1 };
                _cleanup_secret_ Secret *pass = NULL;
                char where[LUKS_WHERE_MAX];

                r = luks_token_get(&l, t, &tok);
                if (r == -ENOENT)
                        continue;
                n_clevis++;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                (void) snprintf(where, sizeof(where), "token %d (keyslot %d)", t, tok.keyslot);
                if (crypt_keyslot_status(l.cd, tok.keyslot) < CRYPT_SLOT_ACTIVE) {
                        unseal_report_add(report, where, "keyslot %d is not in use (stale token)", tok.keyslot);
                        continue;
                }
                r = luks_token_decrypt(&l, &tok, o, where, &pass);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                l.last_error[0] = '\0';
                r = crypt_activate_by_passphrase(l.cd, name, tok.keyslot, (const char *) pass->data, pass->size, 0);
                if (r == -EPERM) {
                        unseal_report_add(report, where,
                                          "the decrypted passphrase does not open keyslot %d "
                                          "(token and keyslot out of sync)",
                                          tok.keyslot);
                        continue;
                }
                if (r == -EEXIST && name) {
                        /* opened meanwhile (a second unit, Ignition): fine if by this volume */
                        int k = luks_find_active(&l, name);
                        if (k != 0)
                                return k;
                }
                if (r < 0) {
                        /* device-mapper trouble or a name in use: another token would fare no better */
                        unseal_report_add(report, where, "activating %s: %s%s", name ? name : "(test only)",
                                          strerror(-r), luks_why(&l, why, sizeof(why)));
                        return r;
                }
                if (ret_keyslot)
                        *ret_keyslot = r;
                return 0;
        }
        if (n_clevis == 0) {
                unseal_report_add(report, device, "no clevis token (bind one with `strata unseal luks-bind`)");
                return -ENOENT;
        }
        return -ENOKEY;
}

/* ---- create: a blank device becomes the data volume ---------------------- */

DEFINE_CLEANUP(blkid_probe, blkid_free_probe);

int luks_probe(const char *device, LuksDeviceKind *ret, char **ret_what) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        const char *type = NULL, *version = NULL;
        char *what = NULL;
        int r;

        pr = blkid_new_probe_from_filename(device);
        if (!pr)
                return errno > 0 ? -errno : -EIO;
        /* as wipefs and Ignition (which asks blkid) see it: every signature
         * and partition table, not only the first usable filesystem */
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_VERSION);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
        r = blkid_do_safeprobe(pr);
        if (r == 1) {
                *ret = LUKS_DEVICE_BLANK;
                what = strdup("nothing");
        } else if (r == -2) {
                *ret = LUKS_DEVICE_OTHER;
                what = strdup("ambiguous signatures");
        } else if (r == 0) {
                (void) blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
                (void) blkid_probe_lookup_value(pr, "VERSION", &version, NULL);
                if (type) {
                        *ret = strcmp(type, "crypto_LUKS") == 0 && version && strcmp(version, "2") == 0
                                       ? LUKS_DEVICE_LUKS2
                                       : LUKS_DEVICE_OTHER;
                        if (asprintf(&what, "%s%s%s", type, version ? " version " : "", version ? version : "") < 0)
                                what = NULL;
                } else {
                        *ret = LUKS_DEVICE_OTHER;
                        (void) blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL);
                        if (asprintf(&what, "a %s partition table", type ? type : "partition table or signature") < 0)
                                what = NULL;
                }
        } else
                return -EIO;
        if (ret_what)
                *ret_what = what;
        else
                free(what);
        return 0;
}

int luks_create(const char *device, const char *pin, const json_t *config, const UnsealOptions *o,
                UnsealReport *report, int *ret_keyslot) {
        _cleanup_(luks_close) Luks l = { .device = device, .report = report };
        _cleanup_secret_ Secret *pass = NULL;
        _cleanup_free_ char *compact = NULL, *what = NULL;
        char why[LUKS_LOG_LINE_MAX + 16];
        LuksDeviceKind kind;
        int slot, r;

        r = luks_passphrase_new(&pass);
        if (r < 0)
                return r;
        /* encrypt before writing anything: a bad config or an unreachable
         * server leaves the device blank, to be tried again */
        r = unseal_encrypt(o, pin, config, pass->data, pass->size, &compact, report);
        if (r < 0)
                return r;
        /* again right before formatting, whatever the caller saw */
        r = luks_probe(device, &kind, &what);
        if (r < 0) {
                unseal_report_add(report, device, "cannot probe: %s", strerror(-r));
                return r;
        }
        if (kind != LUKS_DEVICE_BLANK) {
                unseal_report_add(report, device, "not blank (holds %s): not formatted", what ? what : "something");
                return -EEXIST;
        }
        r = crypt_init(&l.cd, device);
        if (r < 0) {
                unseal_report_add(report, device, "cannot open: %s", strerror(-r));
                return r;
        }
        crypt_set_log_callback(l.cd, luks_on_log, &l);
        const struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = LUKS_PBKDF_HASH_DEFAULT,
                .iterations = LUKS_PBKDF_ITERATIONS,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        r = crypt_set_pbkdf_type(l.cd, &pbkdf);
        /* the volume key is libcryptsetup's own random one, wiped with the
         * handle; aes-xts-plain64 with 512 bits, cryptsetup's default */
        if (r >= 0)
                r = crypt_format(l.cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, NULL);
        if (r < 0) {
                unseal_report_add(report, device, "formatting LUKS2 failed: %s%s", strerror(-r),
                                  luks_why(&l, why, sizeof(why)));
                return r;
        }
        slot = crypt_keyslot_add_by_volume_key(l.cd, CRYPT_ANY_SLOT, NULL, 0, (const char *) pass->data,
                                               pass->size);
        if (slot < 0) {
                unseal_report_add(report, device, "adding the keyslot failed: %s%s", strerror(-slot),
                                  luks_why(&l, why, sizeof(why)));
                return slot;
        }
        r = luks_token_import(&l, slot, compact, device);
        if (r < 0)
                return r;
        if (ret_keyslot)
                *ret_keyslot = slot;
        return 0;
}

/* ---- regen: following tang key rotation ---------------------------------- */

typedef struct AdvFetch {
        sd_event *event;
        json_t *adv;
        int r;
} AdvFetch;

static void on_adv_fetched(int r, json_t *adv, void *userdata) {
        AdvFetch *f = userdata;
        f->r = r;
        f->adv = adv;
        (void) sd_event_exit(f->event, 0);
}

/* GET {url}/adv/{thp}, on a loop of its own. */
static int adv_fetch(const char *url, const char *thp, const UnsealOptions *o, UnsealReport *report,
                     const char *where, json_t **ret) {
        AdvFetch f = { .r = -EIO };
        CurlEvent *ce = NULL;
        int r;

        r = sd_event_new(&f.event);
        if (r < 0)
                return r;
        r = curl_event_new(f.event, &ce);
        if (r >= 0)
                r = tang_adv_fetch(ce, url, thp,
                                   o && o->tang_timeout_usec ? o->tang_timeout_usec : UNSEAL_DEFAULT_TANG_TIMEOUT_USEC,
                                   report, where, on_adv_fetched, &f, NULL);
        if (r >= 0)
                r = sd_event_loop(f.event);
        if (r >= 0)
                r = f.r;
        if (r >= 0)
                *ret = take_ptr(f.adv);
        json_decref(f.adv);
        curl_event_free(ce);
        sd_event_unref(f.event);
        return r;
}

/* Decides whether to trust the fresh advertisement of one rebuilt tang
 * config {"url","thp"}, and pins it into the config ("adv", "thp"):
 *   - thp is still a listed signing key: trusted as clevis would;
 *   - the server rotated (tangd-rotate-keys hides the old key but still
 *     signs /adv/{old thp} with it; clevis refuses that, "Trusted JWK did
 *     not sign the advertisement"): trusted by continuity if a signature
 *     verifies with the old key stored in the old header (`signers`);
 *   - neither: only with o->trust_tang_adv (-y), said so; else -EPERM. */
static int tang_follow(json_t *config, const json_t *signers, const UnsealOptions *o, UnsealReport *report,
                       const char *where) {
        const char *url = json_string_value(json_object_get(config, "url"));
        const char *thp = json_string_value(json_object_get(config, "thp"));
        json_auto_t *adv = NULL, *keys = NULL, *new_thp = NULL;
        _cleanup_(unseal_report_clear) UnsealReport quiet = { 0 };
        const json_t *old, *k;
        size_t i;
        int r;

        if (!url || !thp)
                return 0; /* pin-config always writes both; nothing to follow otherwise */
        r = adv_fetch(url, thp, o, report, where, &adv);
        if (r < 0)
                return r;
        r = tang_adv_trust(adv, thp, false, &keys, &quiet, where);
        if (r == 0)
                return json_object_set(config, "adv", adv) < 0 ? -ENOMEM : 0;
        if (r != -EPERM) {
                for (size_t j = 0; j < quiet.n_lines; j++)
                        unseal_report_add(report, where, "%s", quiet.lines[j]);
                return r;
        }
        old = json_object_get(signers, thp);
        r = tang_adv_trust(adv, NULL, true, &keys, report, where); /* self-consistent at least */
        if (r < 0)
                return r;
        if (old && jose_jws_ver(NULL, adv, NULL, old, false)) {
                json_array_foreach(json_object_get(keys, "keys"), i, k)
                        if (jose_jwk_prm(NULL, k, true, "verify") && (new_thp = jose_jwk_thp(NULL, k, "S256")))
                                break;
                if (!new_thp)
                        return -ENOMEM;
                unseal_report_add(report, where,
                                  "%s rotated its keys; its advertisement is signed by the old key %s, "
                                  "trusted by continuity; now pinned to %s",
                                  url, thp, json_string_value(new_thp));
                if (json_object_set(config, "adv", adv) < 0 || json_object_set(config, "thp", new_thp) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (o && o->trust_tang_adv) {
                unseal_report_add(report, where,
                                  "%s: advertisement not signed by the old key %s; trusting it on first use (-y)",
                                  url, thp);
                (void) json_object_del(config, "thp");
                return json_object_set(config, "adv", adv) < 0 ? -ENOMEM : 0;
        }
        unseal_report_add(report, where,
                          "%s: advertisement not signed by the key the old binding trusted (%s); check the "
                          "server, then trust it with -y or give PIN CONFIG",
                          url, thp);
        return -EPERM;
}

/* Applies tang_follow to every tang config in a rebuilt tree. */
static int tang_follow_all(const char *pin, json_t *config, const json_t *signers, const UnsealOptions *o,
                           UnsealReport *report, const char *where, unsigned *budget) {
        const char *name;
        json_t *v;
        int r;

        if (strcmp(pin, "tang") == 0) {
                if (*budget == 0) {
                        unseal_report_add(report, where, "more than %u tang servers", LUKS_TANG_NODES_MAX);
                        return -EINVAL;
                }
                --*budget;
                return tang_follow(config, signers, o, report, where);
        }
        if (strcmp(pin, "sss") != 0)
                return 0;
        json_object_foreach(json_object_get(config, "pins"), name, v) {
                size_t n = json_is_array(v) ? json_array_size(v) : 1;
                for (size_t i = 0; i < n; i++) {
                        char w[LUKS_WHERE_MAX * 2];
                        (void) snprintf(w, sizeof(w), "%s/%s[%zu]", where, name, i);
                        r = tang_follow_all(name, json_is_array(v) ? json_array_get(v, i) : v, signers, o, report,
                                            w, budget);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- regen ---------------------------------------------------------------- */

/* Rebinds one token. Crash analysis (each libcryptsetup write replaces the
 * whole LUKS2 JSON area, and LUKS2 keeps two header copies with sequence
 * ids, so each step is atomic on its own):
 *   before step 4  nothing was written: the old token and keyslot S work.
 *   after step 4   an extra keyslot S2 with no token (its passphrase is
 *                  lost: harmless, one slot used); the old binding works.
 *   after step 5   two tokens, old -> S and new -> S2: both work.
 *   after step 6   the new token -> S2 works; keyslot S remains, opened by
 *                  the old passphrase only (no longer stored): kill it
 *                  with `cryptsetup luksKillSlot DEVICE S`.
 *   after step 7   done: only the new binding.
 * So at every point at least one clevis binding (or the key file) opens the
 * device; the new one was decrypted once (step 3) before anything was
 * written, so it is not trusted blind. */
static int regen_one(Luks *l, int token, const LuksToken *tok, const char *pin, const json_t *config,
                     const Secret *existing, const UnsealOptions *o, int *ret_keyslot) {
        _cleanup_secret_ Secret *auth = NULL, *pass = NULL, *check = NULL;
        _cleanup_free_ char *compact = NULL, *err = NULL, *old_pin = NULL;
        json_auto_t *rebuilt = NULL, *signers = NULL;
        char where[LUKS_WHERE_MAX], why[LUKS_LOG_LINE_MAX + 16];
        int new_slot, r;

        (void) snprintf(where, sizeof(where), "token %d (keyslot %d)", token, tok->keyslot);

        /* (1) something that opens a keyslot, to authorise the new one */
        r = luks_token_decrypt(l, tok, o, where, &auth);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                r = luks_passphrase_check(l, tok->keyslot, auth);
                if (r < 0 && r != -EPERM) {
                        unseal_report_add(l->report, where, "checking keyslot %d: %s", tok->keyslot, strerror(-r));
                        return r;
                }
                if (r == -EPERM) {
                        unseal_report_add(l->report, where,
                                          "the decrypted passphrase does not open keyslot %d (token and keyslot out of sync)",
                                          tok->keyslot);
                        auth = secret_free(auth);
                }
        }
        if (!auth) {
                if (!existing) {
                        unseal_report_add(l->report, where,
                                          "the old binding no longer opens the device; give the passphrase of "
                                          "another keyslot (--key-file)");
                        return -ENOKEY;
                }
                r = luks_passphrase_check(l, CRYPT_ANY_SLOT, existing);
                if (r < 0) {
                        unseal_report_add(l->report, where, "the given passphrase opens no keyslot");
                        return r;
                }
                auth = secret_new_copy(existing->data, existing->size);
                if (!auth)
                        return -ENOMEM;
        }

        /* (2) the config: given, or rebuilt from the old JWE */
        if (!pin) {
                r = pin_config_from_jwe(tok->jwe, &old_pin, &rebuilt, &err);
                if (r >= 0)
                        r = pin_config_tang_signers(tok->jwe, &signers, &err);
                if (r < 0) {
                        unseal_report_add(l->report, where, "cannot rebuild the pin config: %s",
                                          err ? err : strerror(-r));
                        return r;
                }
                unsigned budget = LUKS_TANG_NODES_MAX;
                r = tang_follow_all(old_pin, rebuilt, signers, o, l->report, where, &budget);
                if (r < 0)
                        return r;
                pin = old_pin;
                config = rebuilt;
        }

        /* (3) a new passphrase, encrypted, and decrypted once as a check */
        r = luks_passphrase_new(&pass);
        if (r < 0)
                return r;
        r = unseal_encrypt(o, pin, config, pass->data, pass->size, &compact, l->report);
        if (r < 0)
                return r;
        {
                _cleanup_(unseal_report_clear) UnsealReport sub = { 0 };
                r = unseal_decrypt(o, compact, strlen(compact), &check, &sub);
                if (r < 0 || check->size != pass->size || CRYPTO_memcmp(check->data, pass->data, pass->size) != 0) {
                        for (size_t i = 0; i < sub.n_lines; i++)
                                unseal_report_add(l->report, where, "new binding: %s", sub.lines[i]);
                        unseal_report_add(l->report, where, "the new binding does not decrypt; nothing was changed");
                        return r == -ENOMEM ? r : -ENOKEY;
                }
        }

        /* (4) the new keyslot */
        r = luks_keyslot_add(l, tok->keyslot, auth, pass, where, &new_slot);
        if (r < 0)
                return r;
        /* (5) its token */
        r = luks_token_import(l, new_slot, compact, where);
        if (r < 0) {
                luks_keyslot_undo(l, new_slot, where);
                return r;
        }
        /* (6) the old token */
        r = crypt_token_json_set(l->cd, token, NULL);
        if (r < 0) {
                unseal_report_add(l->report, where,
                                  "new binding on keyslot %d is in place, but removing the old token failed: %s%s",
                                  new_slot, strerror(-r), luks_why(l, why, sizeof(why)));
                return r;
        }
        /* (7) the old keyslot */
        r = crypt_keyslot_destroy(l->cd, tok->keyslot);
        if (r < 0) {
                unseal_report_add(l->report, where,
                                  "new binding on keyslot %d is in place, but destroying the old keyslot failed: "
                                  "%s%s; remove it with `cryptsetup luksKillSlot %s %d`",
                                  new_slot, strerror(-r), luks_why(l, why, sizeof(why)), l->device, tok->keyslot);
                return r;
        }
        *ret_keyslot = new_slot;
        return 0;
}

int luks_regen(const char *device, int keyslot, const char *pin, const json_t *config, const Secret *existing,
               const UnsealOptions *o, UnsealReport *report, LuksRegenResult *ret) {
        _cleanup_(luks_close) Luks l = { 0 };
        LuksToken toks[LUKS_TOKEN_MAX];
        int ids[LUKS_TOKEN_MAX];
        size_t n = 0;
        int r = 0;

        if (ret)
                ret->n = 0;
        if (keyslot < -1 || keyslot >= LUKS_KEYSLOT_MAX) {
                unseal_report_add(report, device, "keyslot %d is out of range 0..%d", keyslot, LUKS_KEYSLOT_MAX - 1);
                return -EINVAL;
        }
        if (!pin != !config) {
                unseal_report_add(report, device, "give both PIN and CONFIG, or neither");
                return -EINVAL;
        }
        r = luks_open(&l, device, report);
        if (r < 0)
                return r;

        /* the tokens to redo, listed before any is added */
        for (int t = 0; t < LUKS_TOKEN_MAX; t++) {
                LuksToken tok;
                int k = luks_token_get(&l, t, &tok);
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                if (k < 0) /* not clevis, or malformed (reported): not ours to redo */
                        continue;
                if (keyslot >= 0 && tok.keyslot != keyslot) {
                        luks_token_done(&tok);
                        continue;
                }
                ids[n] = t;
                toks[n++] = tok;
        }
        if (r >= 0 && n == 0) {
                if (keyslot >= 0)
                        unseal_report_add(report, device, "no clevis token for keyslot %d", keyslot);
                else
                        unseal_report_add(report, device, "no clevis token");
                r = -ENOENT;
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                int new_slot;
                r = regen_one(&l, ids[i], &toks[i], pin, config, existing, o, &new_slot);
                if (r >= 0 && ret) {
                        ret->done[ret->n].old_keyslot = toks[i].keyslot;
                        ret->done[ret->n++].new_keyslot = new_slot;
                }
        }
        for (size_t i = 0; i < n; i++)
                luks_token_done(&toks[i]);
        return r < 0 ? r : 0;
}
