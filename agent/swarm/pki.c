/* The fleet PKI (see pki.h), with OpenSSL 3's EVP and X509 APIs. */
#include "core/openssl-cleanup.h"
#include "swarm/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error-detail.h"


int pki_key_new(EVP_PKEY **ret) {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        if (!k)
                return -EIO;
        *ret = k;
        return 0;
}

static int cert_set_serial(X509 *x) {
        uint8_t b[16];
        BIGNUM *bn;
        int ok;

        if (RAND_bytes(b, sizeof(b)) != 1)
                return -EIO;
        b[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(b, sizeof(b), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
        BN_free(bn);
        return ok ? 0 : -EIO;
}

static int cert_add_ext(X509 *issuer, X509 *x, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *e;
        int ok;

        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!e)
                return -EIO;
        ok = X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        return ok ? 0 : -EIO;
}

static bool name_is_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > PKI_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* Common to CA and member certificates: version 3, serial, subject CN,
 * issuer, validity, public key. */
static int cert_new(const char *cn, X509 *issuer, EVP_PKEY *pub, int64_t not_before_offset, int64_t seconds,
                    X509 **ret) {
        _cleanup_(X509_freep) X509 *x = X509_new();
        X509_NAME *name;
        int r;

        if (!x)
                return -ENOMEM;
        if (!X509_set_version(x, 2))
                return -EIO;
        r = cert_set_serial(x);
        if (r < 0)
                return r;
        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0))
                return -EIO;
        if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
                return -EIO;
        if (!X509_gmtime_adj(X509_getm_notBefore(x), (long) not_before_offset) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), (long) seconds))
                return -EIO;
        if (!X509_set_pubkey(x, pub))
                return -EIO;
        *ret = take_ptr(x);
        return 0;
}

int pki_ca_cert_new(EVP_PKEY *key, const char *fleet, X509 **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        char cn[128];
        int r;

        if (!name_is_valid(fleet))
                return -EINVAL;
        snprintf(cn, sizeof(cn), "Strata fleet CA %s", fleet);
        r = cert_new(cn, NULL, key, 0, (int64_t) PKI_CA_DAYS * 86400, &x);
        if (r < 0)
                return r;
        if (cert_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
            cert_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
            cert_add_ext(x, x, NID_subject_key_identifier, "hash") < 0)
                return -EIO;
        if (!X509_sign(x, key, EVP_sha256()))
                return -EIO;
        *ret = take_ptr(x);
        return 0;
}

int pki_member_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *member_pub, const char *machine,
                          uint32_t seconds, X509 **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        char san[PKI_NAME_MAX + 8];
        int r;

        if (!name_is_valid(machine) || seconds == 0 || seconds > PKI_MEMBER_SECONDS_MAX)
                return -EINVAL;
        /* a minute of slack for clocks that are not quite in step */
        r = cert_new(machine, ca_cert, member_pub, -60, seconds, &x);
        if (r < 0)
                return r;
        snprintf(san, sizeof(san), "DNS:%s", machine);
        if (cert_add_ext(ca_cert, x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            cert_add_ext(ca_cert, x, NID_key_usage, "critical,digitalSignature,keyAgreement") < 0 ||
            cert_add_ext(ca_cert, x, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
            cert_add_ext(ca_cert, x, NID_subject_alt_name, san) < 0 ||
            cert_add_ext(ca_cert, x, NID_subject_key_identifier, "hash") < 0 ||
            cert_add_ext(ca_cert, x, NID_authority_key_identifier, "keyid:always") < 0)
                return -EIO;
        if (!X509_sign(x, ca_key, EVP_sha256()))
                return -EIO;
        *ret = take_ptr(x);
        return 0;
}

int pki_member_cert_verify(X509 *ca_cert, X509 *cert, int64_t now, char **ret_machine, char **reterr) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        char cn[PKI_NAME_MAX + 2];
        int err;

        if (!store || !ctx)
                return -ENOMEM;
        if (!X509_STORE_add_cert(store, ca_cert) || !X509_STORE_CTX_init(ctx, store, cert, NULL))
                return -EIO;
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        if (now)
                X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t) now);
        if (X509_verify_cert(ctx) != 1) {
                err = X509_STORE_CTX_get_error(ctx);
                return error_detail_set(reterr,
                                        err == X509_V_ERR_CERT_HAS_EXPIRED ? -EKEYEXPIRED : -EKEYREJECTED,
                                        "member certificate refused: %s", X509_verify_cert_error_string(err));
        }
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) <= 0 ||
            !name_is_valid(cn))
                return error_detail_set(reterr, -EKEYREJECTED, "member certificate has no valid machine name");
        if (ret_machine) {
                *ret_machine = strdup(cn);
                if (!*ret_machine)
                        return -ENOMEM;
        }
        return 0;
}

int pki_cert_to_pem(X509 *x, char **ret) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long n;

        if (!bio || PEM_write_bio_X509(bio, x) != 1)
                return -ENOMEM;
        n = BIO_get_mem_data(bio, &data);
        if (n <= 0 || !(*ret = memdup_nul(data, (size_t) n)))
                return -ENOMEM;
        return 0;
}

int pki_key_to_pem(EVP_PKEY *k, Secret **ret) {
        /* secure-heap BIO: the key's PEM never sits in ordinary memory */
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_secmem());
        char *data = NULL;
        long n;

        if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1)
                return -ENOMEM;
        n = BIO_get_mem_data(bio, &data);
        if (n <= 0)
                return -ENOMEM;
        *ret = secret_new((size_t) n + 1);
        if (!*ret)
                return -ENOMEM;
        memcpy((*ret)->data, data, (size_t) n);
        (*ret)->size = (size_t) n;
        return 0;
}

/* Writes PEM through a temp file in the same directory, renamed into place
 * only if the target does not exist (link(2) fails on EEXIST). */
static int pem_write_atomic(const char *path, mode_t mode, int (*write_fn)(FILE *f, void *obj), void *obj) {
        _cleanup_free_ char *tmp = NULL;
        int fd, r = 0;
        FILE *f;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        if (write_fn(f, obj) != 1)
                r = -EIO;
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = r < 0 ? r : -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && link(tmp, path) < 0)
                r = -errno;
        unlink(tmp);
        return r;
}

static int write_key(FILE *f, void *k) {
        return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}
static int write_pub(FILE *f, void *k) {
        return PEM_write_PUBKEY(f, k);
}
static int write_cert(FILE *f, void *x) {
        return PEM_write_X509(f, x);
}

int pki_key_save(EVP_PKEY *key, const char *path) {
        return pem_write_atomic(path, 0600, write_key, key);
}
int pki_pub_save(EVP_PKEY *key, const char *path) {
        return pem_write_atomic(path, 0644, write_pub, key);
}
int pki_cert_save(X509 *cert, const char *path) {
        return pem_write_atomic(path, 0644, write_cert, cert);
}

int pki_key_load(const char *path, EVP_PKEY **ret) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        *ret = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        return *ret ? 0 : -EBADMSG;
}

int pki_cert_load(const char *path, X509 **ret) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        *ret = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        return *ret ? 0 : -EBADMSG;
}

/* An existing CA must be one: matching key, CA:TRUE. */
static int pki_ca_import(const PkiImport *im, EVP_PKEY **ret_key, X509 **ret_cert, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        r = pki_key_load(im->ca_key, &k);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot read the CA key %s: %s", im->ca_key,
                                        r == -EBADMSG ? "not a PEM private key" : strerror(-r));
        r = pki_cert_load(im->ca_cert, &x);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot read the CA certificate %s: %s", im->ca_cert,
                                        r == -EBADMSG ? "not a PEM certificate" : strerror(-r));
        if (X509_check_private_key(x, k) != 1)
                return error_detail_set(reterr, -EINVAL, "%s is not the key of %s", im->ca_key, im->ca_cert);
        if (X509_check_ca(x) < 1)
                return error_detail_set(reterr, -EINVAL, "%s is not a CA certificate (no CA:TRUE)", im->ca_cert);
        *ret_key = take_ptr(k);
        *ret_cert = take_ptr(x);
        return 0;
}

/* The policy key signs with ECDSA P-256 or Ed25519 (what the verifier accepts). */
static int pki_policy_import(const char *path, EVP_PKEY **ret, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        char group[32] = "";
        int r;

        r = pki_key_load(path, &k);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot read the policy key %s: %s", path,
                                        r == -EBADMSG ? "not a PEM private key" : strerror(-r));
        bool ok = EVP_PKEY_is_a(k, "ED25519") ||
                  (EVP_PKEY_is_a(k, "EC") &&
                   EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), NULL) == 1 &&
                   strcmp(group, "prime256v1") == 0);
        if (!ok)
                return error_detail_set(reterr, -EINVAL, "the policy key %s must be ECDSA P-256 or Ed25519", path);
        *ret = take_ptr(k);
        return 0;
}

int pki_init_dir(const char *dir, const char *fleet, const PkiImport *import, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = NULL, *policy_key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL;
        static const char *const files[] = { PKI_CA_KEY_FILE, PKI_CA_CERT_FILE, PKI_POLICY_KEY_FILE, PKI_POLICY_PUB_FILE };
        char path[4][4096];
        int r;

        if (!name_is_valid(fleet))
                return error_detail_set(reterr, -EINVAL, "fleet name \"%s\" is not a DNS label", fleet);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return error_detail_set(reterr, -errno, "cannot create %s: %s", dir, strerror(errno));
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path[i], sizeof(path[i]), "%s/%s", dir, files[i]);
                if (access(path[i], F_OK) == 0)
                        return error_detail_set(reterr, -EEXIST, "%s exists; refusing to replace fleet keys", path[i]);
        }
        if (import && (!import->ca_key != !import->ca_cert))
                return error_detail_set(reterr, -EINVAL, "an existing CA needs both its key and its certificate");
        if (import && import->ca_key)
                r = pki_ca_import(import, &ca_key, &ca, reterr);
        else {
                r = pki_key_new(&ca_key);
                if (r >= 0)
                        r = pki_ca_cert_new(ca_key, fleet, &ca);
                if (r < 0)
                        error_detail_set(reterr, r, "cannot create the fleet CA: %s", strerror(-r));
        }
        if (r < 0)
                return r;
        if (import && import->policy_key)
                r = pki_policy_import(import->policy_key, &policy_key, reterr);
        else if ((r = pki_key_new(&policy_key)) < 0)
                error_detail_set(reterr, r, "cannot create the policy key: %s", strerror(-r));
        if (r < 0)
                return r;
        /* private keys first: a public part without its key is useless */
        r = pki_key_save(ca_key, path[0]);
        if (r >= 0)
                r = pki_key_save(policy_key, path[2]);
        if (r >= 0)
                r = pki_cert_save(ca, path[1]);
        if (r >= 0)
                r = pki_pub_save(policy_key, path[3]);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot write the fleet keys in %s: %s", dir, strerror(-r));
        return 0;
}
