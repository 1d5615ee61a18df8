/* Per-BMC TLS policy from the spec's bmc.tls: the system CA store, a pinned
 * CA file, or a pinned certificate; `insecure` switches verification off
 * and is logged at warning with the BMC named. */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

#include "bmc/bmc.h"

/* Per-transfer state for the fingerprint check: what the peer showed. */
typedef struct BmcTlsCheck {
        const uint8_t *pin;    /* 32 bytes, or NULL when not pinning */
        bool checked, mismatch;
        char seen[96];         /* the peer's fingerprint, AA:BB:... */
} BmcTlsCheck;

const char *bmc_tls_mode_to_string(BmcTlsMode m);
BmcTlsMode bmc_tls_mode_from_string(const char *s);

/* "AA:BB:..." (32 bytes, hex pairs separated by ':') into bytes; -EINVAL. */
int bmc_tls_fingerprint_parse(const char *s, uint8_t ret[static 32]);

/* bmc.tls of a spec entry into *ret (release with bmc_tls_done). -EINVAL
 * with *reterr for a mode without its field. */
int bmc_tls_parse(const json_t *tls, BmcTls *ret, char **reterr);
void bmc_tls_done(BmcTls *t);
bool bmc_tls_equal(const BmcTls *a, const BmcTls *b);

/* Sets `easy` up for policy `t`; `check` (fingerprint mode) must live as
 * long as the transfer. -EOPNOTSUPP when libcurl is not built on OpenSSL
 * (pinning needs its SSL_CTX), -EIO for other setopt failures. */
int bmc_tls_apply(CURL *easy, const BmcTls *t, BmcTlsCheck *check, char **reterr);

/* The warning for mode insecure (and for plain http, whose password and
 * token travel in the clear). */
void bmc_tls_warn(const BmcMachine *m);
