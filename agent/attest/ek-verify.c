/* ek-verify: whether an EK belongs to a genuine TPM the fleet trusts:
 * either its certificate chains to the operator's EK CA bundle (TPM vendor
 * roots and intermediates; any purpose, since EK certs carry the TCG EKU
 * 2.23.133.8.1 and a critical SAN that are no TLS purpose) and certifies
 * exactly this EK's key, or the digest of its public area is on the
 * operator's allowlist (vTPMs without certificates). */
#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "core/openssl-cleanup.h"
#include "attest/verify.h"
#include "core/error-detail.h"

/* Limits of this file (EK_CERT_MAX is in verify.h). */
#define EK_NAME_LINE_MAX 256u /* subject / issuer as shown in a refusal */


int ek_public_digest(const TPMT_PUBLIC *ek, uint8_t ret[32]) {
        uint8_t buf[sizeof(TPMT_PUBLIC)];
        size_t off = 0;

        if (Tss2_MU_TPMT_PUBLIC_Marshal(ek, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        if (EVP_Digest(buf, off, ret, NULL, EVP_sha256(), NULL) != 1)
                return -EIO;
        return 0;
}

/* DER, exactly; NV indices are often padded past the DER with zeros or
 * 0xff (doc pitfall 9), which we accept and ignore. */
static int ek_cert_parse(const uint8_t *der, size_t size, X509 **ret, char **reterr) {
        const unsigned char *p = der;
        X509 *x;

        if (size > EK_CERT_MAX)
                return error_detail_set(reterr, -E2BIG, "%zu bytes (max %u)", size, EK_CERT_MAX);
        x = d2i_X509(NULL, &p, (long) size);
        if (!x) {
                ERR_clear_error();
                return error_detail_set(reterr, -EBADMSG, "not a DER X.509 certificate");
        }
        for (size_t i = (size_t) (p - der); i < size; i++)
                if (der[i] != 0x00 && der[i] != 0xff) {
                        X509_free(x);
                        return error_detail_set(reterr, -EBADMSG, "trailing bytes after the certificate");
                }
        *ret = x;
        return 0;
}

static void ek_name_line(const X509_NAME *name, char *buf, size_t size) {
        if (!X509_NAME_oneline(name, buf, (int) size))
                snprintf(buf, size, "?");
        if (!buf[0])
                snprintf(buf, size, "(empty)");
}

/* The chain and key checks; each failure becomes a report line. */
static int ek_cert_check(const TPMT_PUBLIC *ek, const uint8_t *der, size_t size, const char *ca_file,
                         AttestReport *report) {
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *err = NULL;
        char subject[EK_NAME_LINE_MAX], issuer[EK_NAME_LINE_MAX];
        int r;

        r = ek_cert_parse(der, size, &cert, &err);
        if (r < 0) {
                attest_report_add(report, "EK certificate does not parse: %s", err);
                return 0;
        }
        ek_name_line(X509_get_subject_name(cert), subject, sizeof(subject));
        ek_name_line(X509_get_issuer_name(cert), issuer, sizeof(issuer));

        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        if (!store || !ctx)
                return -ENOMEM;
        if (X509_STORE_load_file(store, ca_file) != 1) {
                ERR_clear_error();
                attest_report_add(report, "EK CA bundle %s cannot be loaded", ca_file);
                return 0;
        }
        if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 ||
            X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1)
                return -ENOMEM;
        if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);

                ERR_clear_error();
                attest_report_add(report,
                                  "EK certificate does not chain to a trusted CA: %s (subject %s, issuer %s)",
                                  X509_verify_cert_error_string(e), subject, issuer);
        }

        r = tpm_public_pkey(ek, &key, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                attest_report_add(report, "EK public key is unusable: %s", err);
        else if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
                ERR_clear_error();
                attest_report_add(report, "EK certificate (subject %s, issuer %s) is for another key than the EK",
                                  subject, issuer);
        }
        return 0;
}

int ek_verify(const TPMT_PUBLIC *ek, const uint8_t *cert, size_t cert_size, const EkTrust *trust,
              AttestReport *report) {
        static const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                        TPMA_OBJECT_FIXEDPARENT;
        size_t n_before = report->n_lines + report->dropped;
        uint8_t digest[32];
        bool allowed = false;
        int r;

        if ((ek->objectAttributes & need) != need || (ek->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
                attest_report_add(report,
                                  "EK is not a fixed restricted decryption key (attributes 0x%08" PRIx32 ")",
                                  ek->objectAttributes);
        r = ek_public_digest(ek, digest);
        if (r < 0)
                return r;
        for (size_t i = 0; i < trust->n_allow; i++)
                if (CRYPTO_memcmp(trust->allow[i], digest, sizeof(digest)) == 0)
                        allowed = true;

        if (!allowed) {
                if (cert_size > 0 && trust->ca_file) {
                        r = ek_cert_check(ek, cert, cert_size, trust->ca_file, report);
                        if (r < 0)
                                return r;
                } else if (cert_size == 0 && trust->ca_file)
                        attest_report_add(report, "EK has no certificate and is not in the EK allowlist");
                else
                        attest_report_add(report, "EK is not in the EK allowlist%s",
                                          trust->ca_file ? "" : " (no EK CA bundle configured)");
        }
        return report->n_lines + report->dropped > n_before ? -EACCES : 0;
}
