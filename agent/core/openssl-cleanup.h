/* _cleanup_ helpers for OpenSSL 3 types, defined once (STYLE item 2):
 * `_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = ...;`. */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/cleanup.h"

DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)
DEFINE_CLEANUP(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_CLEANUP(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free)
DEFINE_CLEANUP(X509 *, X509_free)
DEFINE_CLEANUP(X509_STORE *, X509_STORE_free)
DEFINE_CLEANUP(X509_STORE_CTX *, X509_STORE_CTX_free)
DEFINE_CLEANUP(BIGNUM *, BN_free)
DEFINE_CLEANUP(BIO *, BIO_free)
DEFINE_CLEANUP(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
DEFINE_CLEANUP(OSSL_PARAM *, OSSL_PARAM_free)
DEFINE_CLEANUP(ECDSA_SIG *, ECDSA_SIG_free)
