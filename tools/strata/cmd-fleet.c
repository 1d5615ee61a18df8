/* `strata halt` and `strata resume`: the operator's fleet-wide stop of
 * provisioning, and its end. Builds {"fleet", "action", "issued_ms"}, signs it
 * with the fleet CA key as a JWS (flattened JSON serialization, ES256), and
 * posts it to the coordinator's POST /v1/fleet/halt over HTTPS pinned to the
 * fleet CA. The coordinator verifies the signature against the fleet CA
 * certificate, refuses replays (an `issued` not after the last one it
 * accepted), journals the halt, and members confirm it with their next
 * heartbeat. The key is read into wiped memory and never leaves this
 * process. Exit: 0 done, 1 refused or failed, 2 usage. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/openssl-cleanup.h"
#include "core/secret.h"
#include "core/spec.h"
#include "core/strutil.h"
#include "strata.h"
#include "swarm/pki.h"
#include "swarm/swarm.h"

#define FLEET_KEY_MAX (64u * 1024u)        /* a PEM private key */
#define FLEET_REPLY_MAX (64u * 1024u)      /* the coordinator's answer is a small object */
#define FLEET_TIMEOUT_MS 30000L
#define FLEET_URL_MAX 2048u

#define FLEET_EXIT_REFUSED 1
#define FLEET_EXIT_USAGE 2

typedef struct FleetArgs {
        const char *action; /* "halt" or "resume" */
        const char *key, *coordinator, *ca, *fleet, *spec;
} FleetArgs;

static void usage(FILE *f, const char *action) {
        fprintf(f,
                "Usage: strata %s --fleet-key FILE --coordinator https://ADDR:PORT --fleet-ca FILE --fleet NAME\n"
                "       strata %s --fleet-key FILE --spec FILE\n"
                "\n"
                "%s\n"
                "\n"
                "  --fleet-key FILE      the fleet CA's private key (fleet-ca.key from strata init)\n"
                "  --coordinator URL     the seed's sponsor address (attestation.sponsor.listen)\n"
                "  --fleet-ca FILE       the fleet CA certificate: the only CA the coordinator's\n"
                "                        certificate may chain to\n"
                "  --fleet NAME          the fleet's name (fleet.name)\n"
                "  --spec FILE           take the coordinator, the fleet CA and the fleet name from\n"
                "                        the spec; options given as well take precedence\n"
                "\n"
                "The request is signed with the fleet key and names the time it was made: the\n"
                "coordinator refuses one signed more than 5 minutes away from its clock, or not\n"
                "after the last halt or resume it accepted.\n",
                action, action,
                streq(action, "halt")
                        ? "Stops provisioning fleet-wide: the coordinator grants no lease and fences no\n"
                          "power cycle or boot override until `strata resume`. Members see it in their\n"
                          "next heartbeat and confirm it (strata status shows who has)."
                        : "Ends a fleet-wide halt: the coordinator grants leases and fences BMC actions\n"
                          "again.");
}

/* ---- the key, in wiped memory ---- */

/* Reads the PEM straight into a Secret (no intermediate buffers left
 * unwiped on the heap), then parses it. */
static int fleet_key_load(const char *path, EVP_PKEY **ret) {
        _cleanup_secret_ Secret *pem = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        EVP_PKEY *k;
        int r;

        r = secret_read_file(path, FLEET_KEY_MAX, &pem);
        if (r < 0)
                return r;
        bio = BIO_new_mem_buf(pem->data, (int) pem->size);
        if (!bio)
                return -ENOMEM;
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!k)
                return -EBADMSG;
        *ret = k;
        return 0;
}

/* The flattened JWS of `payload` signed with `key` (ES256 for the fleet's
 * P-256 key), as compact JSON text. */
static int halt_jws(EVP_PKEY *key, const json_t *payload, char **ret) {
        _cleanup_free_ char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
        json_auto_t *jwk = NULL, *jws = NULL, *sig = NULL;
        char *out;

        if (!text)
                return -ENOMEM;
        jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, key); /* holds "d": jansson wipes it when freed */
        if (!jwk)
                return -EINVAL;
        jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
        sig = json_pack("{s:{s:s}}", "protected", "alg", "ES256");
        if (!jws || !sig)
                return -ENOMEM;
        if (!jose_jws_sig(NULL, jws, sig, jwk))
                return -EINVAL;
        out = json_dumps(jws, JSON_COMPACT | JSON_SORT_KEYS);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

/* ---- arguments ---- */

static int args_parse(int argc, char **argv, FleetArgs *a) {
        static const struct option options[] = {
                { "fleet-key", required_argument, NULL, 'k' },
                { "coordinator", required_argument, NULL, 'c' },
                { "fleet-ca", required_argument, NULL, 'a' },
                { "fleet", required_argument, NULL, 'f' },
                { "spec", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'k': a->key = optarg; break;
                case 'c': a->coordinator = optarg; break;
                case 'a': a->ca = optarg; break;
                case 'f': a->fleet = optarg; break;
                case 's': a->spec = optarg; break;
                case 'h': usage(stdout, a->action); return 1;
                default: usage(stderr, a->action); return -EINVAL;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "strata: %s: unexpected argument \"%s\"\n", a->action, argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* Fills what the options left out from the spec: its fleet name, the
 * sponsor's listen address (the seed's, where the coordinator runs) and
 * the fleet CA. The strings live as long as *ret_spec. */
static int args_from_spec(FleetArgs *a, Spec **ret_spec, char **ret_url) {
        _cleanup_(spec_freep) Spec *spec = NULL;
        SpecErrors errors = {};
        const json_t *att, *listen;
        const char *addr;
        int r;

        r = spec_load_file(a->spec, &spec, &errors);
        if (r < 0) {
                if (errors.n_items > 0)
                        spec_errors_print(stderr, a->spec, &errors);
                else
                        fprintf(stderr, "strata: %s: %s: %s\n", a->action, a->spec, strerror(-r));
                spec_errors_clear(&errors);
                return r;
        }
        att = json_object_get(spec_json(spec), "attestation");
        listen = json_object_get(json_object_get(att, "sponsor"), "listen");
        if (!a->fleet)
                a->fleet = spec_fleet(spec);
        if (!a->ca)
                a->ca = json_string_value(json_object_get(att, "fleet_ca"));
        if (!a->coordinator) {
                addr = json_string_value(listen);
                if (!addr) {
                        fprintf(stderr, "strata: %s: %s has no attestation.sponsor.listen; name the coordinator "
                                        "with --coordinator\n", a->action, a->spec);
                        return -EINVAL;
                }
                /* a wildcard is where the seed listens, not an address to dial */
                if (strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0) {
                        fprintf(stderr, "strata: %s: the seed listens on %s (every address); name the "
                                        "coordinator with --coordinator https://ADDR:PORT\n", a->action, addr);
                        return -EINVAL;
                }
                if (asprintf(ret_url, "https://%s", addr) < 0)
                        return -ENOMEM;
                a->coordinator = *ret_url;
        }
        *ret_spec = take_ptr(spec);
        return 0;
}

/* ---- the request ---- */

typedef struct Reply {
        char *data;
        size_t size;
        bool too_big;
} Reply;

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        Reply *r = userdata;
        return curl_body_append(&r->data, &r->size, &r->too_big, FLEET_REPLY_MAX, p, size * n);
}

/* POSTs `body` to COORDINATOR/v1/fleet/halt. The coordinator's certificate
 * is a member certificate from the fleet CA, named after the seed's
 * machine, not after the address dialled: it must chain to the fleet CA
 * (pinned; the system store is not consulted) and the host name is not
 * matched, as the joiner does with a sponsor. 0 with the status and the
 * reply (NUL-terminated), or -errno with the transport's complaint
 * printed. */
static int halt_post(const FleetArgs *a, const char *body, long *ret_status, char **ret_reply) {
        _cleanup_free_ char *url = NULL;
        struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        Reply reply = {};
        CURLcode cc;
        CURL *c;

        if (strlen(a->coordinator) > FLEET_URL_MAX ||
            asprintf(&url, "%s%s", a->coordinator, COORD_PATH_HALT) < 0) {
                url = NULL;
                fprintf(stderr, "strata: %s: the coordinator URL is too long\n", a->action);
                return -EINVAL;
        }
        c = curl_easy_init();
        headers = curl_slist_append(NULL, "Content-Type: application/jose+json");
        if (!c || !headers) {
                curl_easy_cleanup(c);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, FLEET_TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) FLEET_REPLY_MAX) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAINFO, a->ca) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(body)) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
                curl_easy_cleanup(c);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        cc = curl_easy_perform(c);
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        if (cc != CURLE_OK) {
                fprintf(stderr, "strata: %s: cannot reach the coordinator at %s: %s\n", a->action, url,
                        reply.too_big ? "reply too large" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
                free(reply.data);
                return -EHOSTUNREACH;
        }
        *ret_reply = reply.data ? reply.data : strdup("");
        return *ret_reply ? 0 : -ENOMEM;
}

/* The coordinator's answer: {"halted", "halt_serial", "heartbeat_usec"}, or
 * {"error": CODE, "message"} from the coordinator, or {"error": MESSAGE}
 * from the sponsor's server. */
static int halt_report(const FleetArgs *a, long status, const char *text) {
        json_auto_t *doc = json_loads(text, 0, NULL);
        const char *code = json_string_value(json_object_get(doc, "error"));
        const char *message = json_string_value(json_object_get(doc, "message"));
        const json_t *halted = json_object_get(doc, "halted");
        long long serial = (long long) json_integer_value(json_object_get(doc, "halt_serial"));
        long long hb = (long long) json_integer_value(json_object_get(doc, "heartbeat_usec"));

        if (status == 200 && json_is_boolean(halted)) {
                if (json_is_true(halted))
                        printf("halted: fleet %s, halt serial %lld; members stop leasing and power cycling and "
                               "confirm with their next heartbeat (every %llds)\n",
                               a->fleet, serial, hb / 1000000);
                else
                        printf("resumed: fleet %s, halt serial %lld; provisioning continues\n", a->fleet, serial);
                return EXIT_SUCCESS;
        }
        if (code && message)
                fprintf(stderr, "strata: %s: the coordinator refused (HTTP %ld, %s): %s\n", a->action, status, code,
                        message);
        else if (code)
                fprintf(stderr, "strata: %s: the coordinator refused (HTTP %ld): %s\n", a->action, status, code);
        else
                fprintf(stderr, "strata: %s: unexpected answer from the coordinator (HTTP %ld): %.200s\n", a->action,
                        status, text[0] ? text : "(empty)");
        return FLEET_EXIT_REFUSED;
}

int cmd_fleet(const CliContext *ctx, int argc, char **argv) {
        FleetArgs a = { .action = streq(argv[0], "resume") ? "resume" : "halt" };
        _cleanup_(spec_freep) Spec *spec = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL;
        _cleanup_free_ char *url = NULL, *jws = NULL, *reply = NULL;
        json_auto_t *payload = NULL;
        long status = 0;
        int r;

        (void) ctx;
        r = args_parse(argc, argv, &a);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : FLEET_EXIT_USAGE;
        if (a.spec && args_from_spec(&a, &spec, &url) < 0)
                return FLEET_EXIT_USAGE;
        if (!a.key || !a.coordinator || !a.ca || !a.fleet) {
                fprintf(stderr, "strata: %s: --fleet-key and either --spec or --coordinator, --fleet-ca and --fleet "
                                "are required (see --help)\n", a.action);
                return FLEET_EXIT_USAGE;
        }
        if (strncmp(a.coordinator, "https://", 8) != 0) {
                fprintf(stderr, "strata: %s: the coordinator is https://ADDR:PORT, not \"%s\"\n", a.action,
                        a.coordinator);
                return FLEET_EXIT_USAGE;
        }

        r = pki_cert_load(a.ca, &ca);
        if (r < 0) {
                fprintf(stderr, "strata: %s: cannot read the fleet CA certificate %s: %s\n", a.action, a.ca,
                        r == -EBADMSG ? "not a PEM certificate" : strerror(-r));
                return FLEET_EXIT_REFUSED;
        }
        r = fleet_key_load(a.key, &key);
        if (r < 0) {
                fprintf(stderr, "strata: %s: cannot read the fleet key %s: %s\n", a.action, a.key,
                        r == -EBADMSG ? "not a PEM private key" : strerror(-r));
                return FLEET_EXIT_REFUSED;
        }
        /* said here rather than as the coordinator's "bad-signature" */
        if (X509_check_private_key(ca, key) != 1) {
                fprintf(stderr, "strata: %s: %s is not the key of the fleet CA %s\n", a.action, a.key, a.ca);
                return FLEET_EXIT_REFUSED;
        }

        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        payload = json_pack("{s:s, s:s, s:I}", "fleet", a.fleet, "action", a.action, "issued_ms",
                            (json_int_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (!payload) {
                fprintf(stderr, "strata: %s: out of memory\n", a.action);
                return FLEET_EXIT_REFUSED;
        }
        r = halt_jws(key, payload, &jws);
        EVP_PKEY_free(take_ptr(key)); /* not needed past signing */
        if (r < 0) {
                fprintf(stderr, "strata: %s: cannot sign with %s: %s\n", a.action, a.key,
                        r == -EINVAL ? "not an EC P-256 key jose can sign ES256 with" : strerror(-r));
                return FLEET_EXIT_REFUSED;
        }
        r = halt_post(&a, jws, &status, &reply);
        if (r < 0) {
                if (r == -ENOMEM)
                        fprintf(stderr, "strata: %s: out of memory\n", a.action);
                return FLEET_EXIT_REFUSED;
        }
        return halt_report(&a, status, reply);
}
