/* PinConfig: rebuilding the clevis pin config a JWE was made with, from
 * its protected header alone, so `luks-regen` can re-encrypt a fresh
 * passphrase "the same way" (as `clevis luks regen` does) without the
 * operator restating the config. Pure: no TPM, no network. */
#pragma once

#include <jansson.h>

#include "unseal/jwe.h"

/* Rebuilds (pin, config) from a parsed JWE:
 *   tpm2  {"hash","key","pcr_bank","pcr_ids"} (those present): sealing again
 *         binds to the CURRENT values of the same PCRs.
 *   tang  {"url", "thp"}: thp is the S256 thumbprint of a signing (verify)
 *         key of the advertisement stored in the old header, so the fresh
 *         advertisement is trusted by continuity, not on first use.
 *   sss   {"t", "pins": {pin: [config, ...]}}, children rebuilt
 *         recursively (at most SSS_DEPTH_MAX deep), grouped by pin in the
 *         order they first appear.
 *   null  {} or {"fail": true} (the header carries no key).
 * Returns 0 with *ret_pin (malloc'd) and *ret_config (new reference), or
 * -EBADMSG (a header or child JWE malformed, an unsupported pin) / -ENOMEM,
 * with a malloc'd *reterr naming where ("sss.jwe[1]: tang: ..."). */
int pin_config_from_jwe(const Jwe *jwe, char **ret_pin, json_t **ret_config, char **reterr);

/* The signing keys of every tang advertisement stored in the JWE tree, as
 * {"<S256 thumbprint>": public JWK, ...}: what a rotated tang server's
 * /adv/{thp} reply must still be signed by for continuity (tangd signs it
 * with the hidden old key as well, but no longer lists that key). */
int pin_config_tang_signers(const Jwe *jwe, json_t **ret, char **reterr);
