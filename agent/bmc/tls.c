/* TLS policy per BMC (see tls.h).
 *
 * Fingerprint pinning: the spec pins the SHA-256 of the BMC's DER
 * certificate (what `openssl x509 -fingerprint -sha256` and browsers show,
 * and what an operator records at enrolment). CURLOPT_PINNEDPUBLICKEY pins
 * a different thing, the SHA-256 of the SubjectPublicKeyInfo, and runs
 * after curl's own chain and host name checks, which a BMC's self-signed
 * certificate for "idrac-XXXXXXX" fails. So we install, through
 * CURLOPT_SSL_CTX_FUNCTION, an OpenSSL certificate verification callback
 * that replaces chain building with one comparison: the leaf certificate's
 * SHA-256 against the pin. Verification of the peer stays on
 * (SSL_VERIFY_PEER), so a mismatch fails the handshake before a byte of
 * HTTP (and before any credential) is sent; the host name is not checked,
 * because the pin names the exact certificate. */
#include "bmc/tls.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/log.h"
#include "core/strutil.h"

typedef CURLcode (*TlsApplyFn)(CURL *easy, const BmcTls *t, BmcTlsCheck *check);

static CURLcode apply_system(CURL *easy, const BmcTls *t, BmcTlsCheck *check);
static CURLcode apply_ca(CURL *easy, const BmcTls *t, BmcTlsCheck *check);
static CURLcode apply_fingerprint(CURL *easy, const BmcTls *t, BmcTlsCheck *check);
static CURLcode apply_insecure(CURL *easy, const BmcTls *t, BmcTlsCheck *check);

static const struct {
        BmcTlsMode mode;
        const char *name;
        TlsApplyFn apply;
} tls_modes[] = {
        { BMC_TLS_SYSTEM, "system", apply_system },
        { BMC_TLS_CA, "ca", apply_ca },
        { BMC_TLS_FINGERPRINT, "fingerprint", apply_fingerprint },
        { BMC_TLS_INSECURE, "insecure", apply_insecure },
};

const char *bmc_tls_mode_to_string(BmcTlsMode m) {
        for (size_t i = 0; i < ELEMENTSOF(tls_modes); i++)
                if (tls_modes[i].mode == m)
                        return tls_modes[i].name;
        return NULL;
}

BmcTlsMode bmc_tls_mode_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(tls_modes); i++)
                if (strcmp(tls_modes[i].name, s) == 0)
                        return tls_modes[i].mode;
        return _BMC_TLS_MODE_INVALID;
}

int bmc_tls_fingerprint_parse(const char *s, uint8_t ret[static 32]) {
        uint8_t b[32];

        if (!s || strlen(s) != 32 * 3 - 1)
                return -EINVAL;
        for (size_t i = 0; i < 32; i++) {
                int hi = hex_digit_value(s[i * 3]), lo = hex_digit_value(s[i * 3 + 1]);
                if (hi < 0 || lo < 0 || (i < 31 && s[i * 3 + 2] != ':'))
                        return -EINVAL;
                b[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, b, sizeof(b));
        return 0;
}

int bmc_tls_parse(const json_t *tls, BmcTls *ret, char **reterr) {
        BmcTls t = {};
        const char *ca;

        t.mode = bmc_tls_mode_from_string(json_string_value(json_object_get(tls, "mode")));
        if (t.mode < 0)
                return error_detail_set(reterr, -EINVAL, "tls.mode: missing or not system, ca, fingerprint or insecure");
        if (t.mode == BMC_TLS_CA) {
                ca = json_string_value(json_object_get(tls, "ca_file"));
                if (!ca || ca[0] != '/')
                        return error_detail_set(reterr, -EINVAL, "tls.ca_file: missing or not an absolute path");
                t.ca_file = strdup(ca);
                if (!t.ca_file)
                        return -ENOMEM;
        }
        if (t.mode == BMC_TLS_FINGERPRINT &&
            bmc_tls_fingerprint_parse(json_string_value(json_object_get(tls, "fingerprint")), t.fingerprint) < 0)
                return error_detail_set(reterr, -EINVAL, "tls.fingerprint: missing or not 32 hex bytes separated by ':'");
        *ret = t;
        return 0;
}

void bmc_tls_done(BmcTls *t) {
        free(t->ca_file);
        *t = (BmcTls) {};
}

bool bmc_tls_equal(const BmcTls *a, const BmcTls *b) {
        if (a->mode != b->mode)
                return false;
        if (a->mode == BMC_TLS_CA)
                return strcmp(a->ca_file, b->ca_file) == 0;
        if (a->mode == BMC_TLS_FINGERPRINT)
                return memcmp(a->fingerprint, b->fingerprint, 32) == 0;
        return true;
}

static void fingerprint_format(const uint8_t *md, char *buf, size_t size) {
        size_t o = 0;
        for (size_t i = 0; i < 32 && o + 3 < size; i++)
                o += (size_t) snprintf(buf + o, size - o, "%s%02X", i ? ":" : "", md[i]);
}

/* Replaces OpenSSL's chain verification for this connection: the leaf
 * certificate's SHA-256 must equal the pin. */
static int verify_pin(X509_STORE_CTX *store, void *arg) {
        BmcTlsCheck *check = arg;
        X509 *leaf = X509_STORE_CTX_get0_cert(store);
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        check->checked = true;
        if (!leaf || X509_digest(leaf, EVP_sha256(), md, &len) != 1 || len != 32) {
                X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
                check->mismatch = true;
                return 0;
        }
        fingerprint_format(md, check->seen, sizeof(check->seen));
        if (CRYPTO_memcmp(md, check->pin, 32) != 0) {
                X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
                check->mismatch = true;
                return 0;
        }
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 1;
}

static CURLcode ssl_ctx_pin(CURL *easy, void *ssl_ctx, void *userdata) {
        (void) easy;
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_cert_verify_callback(ssl_ctx, verify_pin, userdata);
        return CURLE_OK;
}

/* libcurl's defaults: peer and host name verified against the system store */
static CURLcode apply_system(CURL *easy, const BmcTls *t, BmcTlsCheck *check) {
        (void) easy;
        (void) t;
        (void) check;
        return CURLE_OK;
}

/* Only this file; CAPATH NULL so the system directory is not trusted besides. */
static CURLcode apply_ca(CURL *easy, const BmcTls *t, BmcTlsCheck *check) {
        CURLcode e = curl_easy_setopt(easy, CURLOPT_CAINFO, t->ca_file);
        (void) check;
        return e != CURLE_OK ? e : curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
}

static CURLcode apply_fingerprint(CURL *easy, const BmcTls *t, BmcTlsCheck *check) {
        CURLcode e;

        check->pin = t->fingerprint;
        if ((e = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, check)) != CURLE_OK)
                return e;
        return curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_pin);
}

static CURLcode apply_insecure(CURL *easy, const BmcTls *t, BmcTlsCheck *check) {
        CURLcode e = curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        (void) t;
        (void) check;
        return e != CURLE_OK ? e : curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
}

int bmc_tls_apply(CURL *easy, const BmcTls *t, BmcTlsCheck *check, char **reterr) {
        for (size_t i = 0; i < ELEMENTSOF(tls_modes); i++) {
                CURLcode e;

                if (tls_modes[i].mode != t->mode)
                        continue;
                e = tls_modes[i].apply(easy, t, check);
                if (e == CURLE_NOT_BUILT_IN || e == CURLE_UNKNOWN_OPTION)
                        return error_detail_set(reterr, -EOPNOTSUPP, "tls.mode %s: not supported by this libcurl (%s)",
                                                tls_modes[i].name, curl_easy_strerror(e));
                if (e != CURLE_OK)
                        return error_detail_set(reterr, -EIO, "TLS setup: %s", curl_easy_strerror(e));
                return 0;
        }
        return error_detail_set(reterr, -EINVAL, "tls.mode: unknown");
}

void bmc_tls_warn(const BmcMachine *m) {
        if (strncmp(m->origin, "http://", 7) == 0)
                log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_MACHINE", m->name }, { "STRATA_BMC", m->endpoint }),
                           "%s (%s): plain http: the BMC password and session token cross the network unencrypted",
                           m->name, m->endpoint);
        else if (m->tls.mode == BMC_TLS_INSECURE)
                log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_MACHINE", m->name }, { "STRATA_BMC", m->endpoint }),
                           "%s (%s): TLS verification is OFF (tls.mode insecure): anyone on the path can "
                           "impersonate this BMC and take its password; pin its certificate (tls.mode fingerprint)",
                           m->name, m->endpoint);
}
