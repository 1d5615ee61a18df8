/* The tang pin: McCallum-Relyea key recovery against a Tang server with
 * libjose's ECMR exchange, and encryption to a Tang advertisement, exactly
 * as clevis' tang pin does. HTTP goes through the agent's CurlEvent. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/curl-event.h"
#include "unseal/unseal-error.h"

#define TANG_REPLY_MAX (64u * 1024u)

typedef struct TangRequest TangRequest;

/* Normalises a tang URL: no scheme means http://; a trailing '/' is dropped. */
int tang_url_normalize(const char *url, char **ret);

/* Fetching an advertisement: GET {url}/adv (or /adv/{thp}). `done` gets
 * r = 0 and the JWS (new reference), or r < 0 (reason reported).
 * For both requests here: a negative return means `done` never runs (the
 * reason is reported); `ret` may be NULL; once `done` ran the request is
 * freed, so it must not be cancelled any more. */
typedef void (*TangAdvDoneFn)(int r, json_t *adv, void *userdata);
int tang_adv_fetch(CurlEvent *ce, const char *url, const char *thp, uint64_t timeout_usec,
                   UnsealReport *report, const char *where, TangAdvDoneFn done, void *userdata,
                   TangRequest **ret);

/* Checks an advertisement JWS: signed by every signing key it lists
 * (ES512 verify keys), and trusted because a signing key's thumbprint is
 * `thp` (any hash clevis accepts), or because `trust_first_use` is set
 * (the -y flag). Returns its JWK set ({"keys":[...]}) in *ret_keys. */
int tang_adv_trust(const json_t *adv, const char *thp, bool trust_first_use, json_t **ret_keys,
                   UnsealReport *report, const char *where);

/* Encrypts `pt` to the advertisement `adv` (already fetched or given in
 * config.adv) for config {"url", "thp"?, "adv"?}: ECDH-ES with the ECMR
 * key, the clevis header with url and adv. Returns the compact JWE.
 * When config.adv is a file name the caller loads it and passes it as
 * `adv`; like an inline one it is trusted (clevis does the same). */
int tang_pin_encrypt(const json_t *config, const json_t *adv, bool trust_first_use, const void *pt,
                     size_t len, char **ret, UnsealReport *report, const char *where);

/* Recovers the CEK for a tang JWE (its decoded protected header): finds the
 * server key by kid in clevis.tang.adv, blinds, POSTs {url}/rec/{kid} with
 * `timeout_usec`, unblinds, and hands the CEK (oct JWK) to `done`.
 * Failures are reported with the URL and curl's error or the HTTP status
 * (404: the server no longer has this key: kid named).
 * r: 0, -EBADMSG (malformed header), -ENOKEY (server refused or
 * unreachable, or timed out), -ENOMEM. */
typedef void (*TangCekDoneFn)(int r, json_t *cek, void *userdata);
int tang_pin_recover(CurlEvent *ce, const json_t *header, uint64_t timeout_usec,
                     UnsealReport *report, const char *where, TangCekDoneFn done, void *userdata,
                     TangRequest **ret);

/* Exposed for tests and fuzzing: the pure checks of what comes from a JWE
 * header or from the network. */

/* The parts of a tang JWE header recovery needs, borrowed from it. */
typedef struct TangBinding {
        const char *url;          /* clevis.tang.url, as stored */
        const char *kid;          /* base64url thumbprint of the server key */
        const char *crv;          /* epk.crv */
        const json_t *epk;        /* the client's public point C */
        const json_t *server_key; /* the clevis.tang.adv key whose thumbprint is kid */
} TangBinding;

/* Checks a decoded tang JWE header (alg, enc, epk on its curve, kid, url,
 * adv) and finds the server key by kid (S256, then S1 thumbprints).
 * -EBADMSG (or -ENOMEM) with a malloc'd *reterr naming the field. */
int tang_binding_parse(const json_t *header, TangBinding *ret, char **reterr);

/* Checks a /rec reply: at most TANG_REPLY_MAX bytes of JSON, an EC JWK on
 * curve `crv` whose point is on the curve. Returns a clean public copy
 * ({"alg":"ECMR","crv","kty","x","y"}). -EBADMSG or -E2BIG with *reterr. */
int tang_rec_reply_parse(const void *body, size_t size, const char *crv, json_t **ret, char **reterr);

/* Cancels a fetch or recovery still in flight (its callback never runs) and
 * frees it; wipes the ephemeral key. Accepts NULL. */
TangRequest *tang_request_cancel(TangRequest *req);
