/* The fleet PKI: the fleet CA (signs member certificates) and the policy
 * signing key (signs the attestation policy), created by `strata init`;
 * member certificates issued to admitted nodes for mutual TLS, short-lived
 * and renewed before expiry. ECDSA P-256 throughout. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "core/secret.h"

#define PKI_CA_DAYS 3650u
#define PKI_MEMBER_SECONDS_DEFAULT (24u * 3600u)
#define PKI_MEMBER_SECONDS_MAX (30u * 24u * 3600u)
#define PKI_NAME_MAX 63u

/* File names `strata init` writes in its output directory. The private
 * keys are 0600; the public parts go into the spec and Ignition. */
#define PKI_CA_KEY_FILE "fleet-ca.key"
#define PKI_CA_CERT_FILE "fleet-ca.pem"
#define PKI_POLICY_KEY_FILE "policy.key"
#define PKI_POLICY_PUB_FILE "policy.pub.pem"

/* A fresh P-256 key. */
int pki_key_new(EVP_PKEY **ret);

/* A self-signed fleet CA certificate for `key` (CA:TRUE, pathlen 0,
 * keyCertSign|cRLSign), subject CN "Strata fleet CA <fleet>". */
int pki_ca_cert_new(EVP_PKEY *key, const char *fleet, X509 **ret);

/* A member certificate for `member_pub`, CN and DNS SAN = machine name,
 * serverAuth+clientAuth, valid from now-60 s for `seconds`. */
int pki_member_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *member_pub, const char *machine,
                          uint32_t seconds, X509 **ret);

/* Verifies `cert` chains to `ca_cert` at time `now` (0: the current time)
 * and is a member certificate; on success the machine name (CN) in
 * *ret_machine (malloc'd). -EKEYREJECTED / -EKEYEXPIRED with *reterr. */
int pki_member_cert_verify(X509 *ca_cert, X509 *cert, int64_t now, char **ret_machine, char **reterr);

/* `strata init`: creates DIR (0700) with the CA key and certificate and the
 * policy key pair. Existing files are never overwritten (-EEXIST).
 * An operator's existing CA (key + certificate: must match, be a CA, and be
 * P-256 ECDSA or any key OpenSSL signs with) or policy key (ECDSA P-256 or
 * Ed25519) is taken instead of a new one when its paths are given. */
typedef struct PkiImport {
        const char *ca_key, *ca_cert, *policy_key; /* NULL: create */
} PkiImport;
int pki_init_dir(const char *dir, const char *fleet, const PkiImport *import, char **reterr);

/* PEM text of a certificate: malloc'd, NUL-terminated. */
int pki_cert_to_pem(X509 *cert, char **ret);
/* PEM of a private key, in a Secret (wiped when freed); the byte after
 * `size` is a NUL, for GnuTLS, which reads key PEM as a string. */
int pki_key_to_pem(EVP_PKEY *key, Secret **ret);

/* PEM I/O; private keys are written 0600 via a temp file and rename. */
int pki_key_save(EVP_PKEY *key, const char *path);
int pki_key_load(const char *path, EVP_PKEY **ret);
int pki_pub_save(EVP_PKEY *key, const char *path);
int pki_cert_save(X509 *cert, const char *path);
int pki_cert_load(const char *path, X509 **ret);
