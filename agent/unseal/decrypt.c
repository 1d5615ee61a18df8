/* Decrypting a Clevis JWE: a tree of nodes on one sd-event loop, one node
 * per JWE. sss nodes start all their children at once; tang children are
 * HTTP requests in flight together (each bounded by its timeout), tpm2
 * children run from a deferred event once every request is on the wire.
 * A node finishes as soon as it can: an sss node at its t-th share, which
 * cancels the children still running. That is what keeps a dead tang
 * server from costing more than its timeout when another pin can open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jose/jose.h>
#include <systemd/sd-event.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "unseal/jwe.h"
#include "unseal/pin-null.h"
#include "unseal/pin-sss.h"
#include "unseal/pin-tang.h"
#include "unseal/pin-tpm2.h"
#include "unseal/unseal.h"

#define UNSEAL_WHERE_MAX 256u

typedef struct Unsealer Unsealer;
typedef struct DecryptNode DecryptNode;

struct Unsealer {
        sd_event *event;
        CurlEvent *curl;
        const char *tcti;
        uint64_t tang_timeout_usec;
        UnsealReport *report;
        DecryptNode *root;
        int result;
        Secret *plaintext;
};

struct DecryptNode {
        Unsealer *u;
        DecryptNode *parent;
        unsigned depth;
        char where[UNSEAL_WHERE_MAX];
        Jwe *jwe;
        bool finished;
        bool bad_input; /* failed because its input was malformed */

        TangRequest *tang;
        sd_event_source *deferred;

        SssHeader sss;
        DecryptNode **children;
        size_t n_children;
        Secret **shares;
        size_t n_shares, n_failed;
        bool child_bad_input;
};

static void node_finish(DecryptNode *n, int r, Secret *pt);

static DecryptNode *node_free(DecryptNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i]);
        free(n->children);
        for (size_t i = 0; i < n->n_shares; i++)
                secret_free(n->shares[i]);
        free(n->shares);
        tang_request_cancel(n->tang);
        sd_event_source_disable_unref(n->deferred);
        jwe_free(n->jwe);
        free(n);
        return NULL;
}

/* Stops whatever a node still has running; its callbacks never fire. */
static void node_cancel(DecryptNode *n) {
        n->finished = true;
        n->tang = tang_request_cancel(n->tang);
        n->deferred = sd_event_source_disable_unref(n->deferred);
        for (size_t i = 0; i < n->n_children; i++)
                if (!n->children[i]->finished)
                        node_cancel(n->children[i]);
}

/* The pin produced a content key: open this node's own JWE with it. */
static void node_have_cek(DecryptNode *n, int r, json_t *cek) {
        _cleanup_free_ char *err = NULL;
        Secret *pt = NULL;

        if (r >= 0) {
                r = jwe_decrypt(n->jwe, cek, &pt, &err);
                if (r < 0) {
                        unseal_report_add(n->u->report, n->where, "%s", err ? err : "cannot decrypt");
                        n->bad_input = true;
                }
        }
        json_decref(cek);
        node_finish(n, r, pt);
}

static void on_tang_cek(int r, json_t *cek, void *userdata) {
        DecryptNode *n = userdata;
        n->tang = NULL; /* finished requests free themselves */
        if (r == -EBADMSG)
                n->bad_input = true;
        node_have_cek(n, r, cek);
}

static int start_tang(DecryptNode *n) {
        const char *url = json_string_value(json_object_get(n->jwe->pin_config, "url"));
        size_t l = strlen(n->where);
        unseal_where_format(n->where + l, sizeof(n->where) - l, "(%s)", url ? url : "?");
        return tang_pin_recover(n->u->curl, n->jwe->header, n->u->tang_timeout_usec, n->u->report, n->where,
                                on_tang_cek, n, &n->tang);
}

static int on_tpm2_deferred(sd_event_source *s, void *userdata) {
        DecryptNode *n = userdata;
        json_t *cek = NULL;
        int r;

        (void) s;
        n->deferred = sd_event_source_disable_unref(n->deferred);
        r = tpm2_pin_unseal(n->u->tcti, n->jwe->pin_config, &cek, n->u->report, n->where);
        if (r == -EBADMSG)
                n->bad_input = true;
        node_have_cek(n, r, cek);
        return 0;
}

static int start_tpm2(DecryptNode *n) {
        int r;
        /* The TPM is synchronous and blocks the loop while it works, so it
         * runs at idle priority: only once nothing else is pending, i.e.
         * after curl has connected and sent every tang request. A plain
         * defer source would run first, before curl's 0 ms timer, and the
         * tang round trips would start only after the TPM finished. */
        r = sd_event_add_defer(n->u->event, &n->deferred, on_tpm2_deferred, n);
        if (r < 0)
                return r;
        return sd_event_source_set_priority(n->deferred, SD_EVENT_PRIORITY_IDLE);
}

static int start_null(DecryptNode *n) {
        json_t *cek = NULL;
        int r = null_pin_cek(n->jwe->pin_config, &cek, n->u->report, n->where);
        node_have_cek(n, r, cek);
        return 0;
}

static int node_start_jwe(DecryptNode *n, const char *compact, size_t len);

static void sss_child_done(DecryptNode *parent, DecryptNode *child, int r, Secret *share) {
        _cleanup_secret_ Secret *key = NULL;
        json_t *cek = NULL;

        if (parent->finished) {
                secret_free(share);
                return;
        }
        if (r < 0) {
                parent->n_failed++;
                parent->child_bad_input |= child->bad_input;
                if (json_array_size(parent->sss.jwe) - parent->n_failed < parent->sss.t) {
                        unseal_report_add(parent->u->report, parent->where,
                                          "threshold not met: %zu of %zu pins failed, %u needed",
                                          parent->n_failed, json_array_size(parent->sss.jwe), parent->sss.t);
                        parent->bad_input = parent->child_bad_input;
                        node_finish(parent, parent->child_bad_input ? -EBADMSG : -ENOKEY, NULL);
                }
                return;
        }
        if (share->size != 2 * parent->sss.p_size) {
                unseal_report_add(parent->u->report, child->where,
                                  "share of %zu bytes, expected %zu: not a share of this sss", share->size,
                                  2 * parent->sss.p_size);
                secret_free(share);
                child->bad_input = true;
                sss_child_done(parent, child, -EBADMSG, NULL);
                return;
        }
        parent->shares[parent->n_shares++] = share;
        if (parent->n_shares < parent->sss.t)
                return;

        /* enough: stop the others, combine */
        for (size_t i = 0; i < parent->n_children; i++)
                if (!parent->children[i]->finished)
                        node_cancel(parent->children[i]);
        r = sss_combine(parent->sss.p, parent->sss.p_size, parent->shares, parent->n_shares, &key);
        if (r < 0) {
                unseal_report_add(parent->u->report, parent->where, "shares do not combine (%s)",
                                  r == -EBADMSG ? "malformed shares or prime" : strerror(-r));
                parent->bad_input = r == -EBADMSG;
                node_finish(parent, r == -EBADMSG ? -EBADMSG : r, NULL);
                return;
        }
        _cleanup_(json_decrefp) json_t *k = jose_b64_enc(key->data, key->size);
        if (k)
                cek = json_pack("{s:s, s:s, s:O}", "kty", "oct", "alg", "A256GCM", "k", k);
        node_have_cek(parent, cek ? 0 : -ENOMEM, cek);
}

static int start_sss(DecryptNode *n) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = sss_header_parse(n->jwe->pin_config, &n->sss, &err);
        if (r < 0) {
                unseal_report_add(n->u->report, n->where, "%s", err ? err : "malformed sss header");
                n->bad_input = true;
                return r;
        }
        if (n->depth >= SSS_DEPTH_MAX) {
                unseal_report_add(n->u->report, n->where, "sss nested deeper than %u levels", SSS_DEPTH_MAX);
                n->bad_input = true;
                return -EBADMSG;
        }
        size_t l = strlen(n->where);
        unseal_where_format(n->where + l, sizeof(n->where) - l, "(t=%u)", n->sss.t);

        size_t total = json_array_size(n->sss.jwe);
        n->children = calloc(total, sizeof(DecryptNode *));
        n->shares = calloc(total, sizeof(Secret *));
        if (!n->children || !n->shares)
                return -ENOMEM;
        for (size_t i = 0; i < total && !n->finished; i++) {
                const json_t *c = json_array_get(n->sss.jwe, i);
                DecryptNode *child = calloc(1, sizeof(*child));
                if (!child)
                        return -ENOMEM;
                child->u = n->u;
                child->parent = n;
                child->depth = n->depth + 1;
                unseal_where_format(child->where, sizeof(child->where), "%s/jwe[%zu]", n->where, i);
                n->children[n->n_children++] = child;
                /* a child that fails to start reports to us through node_finish */
                (void) node_start_jwe(child, json_string_value(c), json_string_length(c));
        }
        return 0;
}

static const struct {
        const char *pin;
        int (*start)(DecryptNode *n);
} pin_table[] = {
        { "sss", start_sss },
        { "tang", start_tang },
        { "tpm2", start_tpm2 },
        { "null", start_null },
};

/* Parses and starts one JWE. Any failure is reported and finishes the node
 * (so the parent counts it); the return value is for the root only. */
static int node_start_jwe(DecryptNode *n, const char *compact, size_t len) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = jwe_parse_compact(compact, len, &n->jwe, &err);
        if (r < 0) {
                unseal_report_add(n->u->report, n->where[0] ? n->where : "jwe", "%s", err ? err : "malformed JWE");
                n->bad_input = true;
                node_finish(n, r, NULL);
                return r;
        }
        size_t l = strlen(n->where);
        unseal_where_format(n->where + l, sizeof(n->where) - l, "%s%s", l ? ":" : "", n->jwe->pin);

        for (size_t i = 0; i < ELEMENTSOF(pin_table); i++) {
                if (strcmp(n->jwe->pin, pin_table[i].pin) != 0)
                        continue;
                r = pin_table[i].start(n);
                if (r < 0 && !n->finished) {
                        if (r == -ENOMEM)
                                unseal_report_add(n->u->report, n->where, "out of memory");
                        node_finish(n, r, NULL);
                }
                return r;
        }
        unseal_report_add(n->u->report, n->where, "unsupported pin \"%s\" (supported: sss, tang, tpm2, null)",
                          n->jwe->pin);
        n->bad_input = true;
        node_finish(n, -EBADMSG, NULL);
        return -EBADMSG;
}

static void node_finish(DecryptNode *n, int r, Secret *pt) {
        if (n->finished) {
                secret_free(pt);
                return;
        }
        n->finished = true;
        if (n->parent) {
                sss_child_done(n->parent, n, r, pt);
                return;
        }
        n->u->result = r;
        n->u->plaintext = pt;
        (void) sd_event_exit(n->u->event, 0);
}

int unseal_decrypt(const UnsealOptions *o, const char *compact, size_t len, Secret **ret, UnsealReport *report) {
        Unsealer u = {
                .tcti = o && o->tcti ? o->tcti : UNSEAL_DEFAULT_TCTI,
                .tang_timeout_usec = o && o->tang_timeout_usec ? o->tang_timeout_usec : UNSEAL_DEFAULT_TANG_TIMEOUT_USEC,
                .report = report,
                .result = -EIO,
        };
        int r;

        /* trailing white space (a newline from a file or a pipe) is not part of the JWE */
        while (len > 0 && (compact[len - 1] == '\n' || compact[len - 1] == '\r' || compact[len - 1] == ' '))
                len--;

        r = sd_event_new(&u.event);
        if (r < 0)
                return r;
        r = curl_event_new(u.event, &u.curl);
        if (r < 0)
                goto out;
        u.root = calloc(1, sizeof(*u.root));
        if (!u.root) {
                r = -ENOMEM;
                goto out;
        }
        u.root->u = &u;

        (void) node_start_jwe(u.root, compact, len);
        if (!u.root->finished) {
                r = sd_event_loop(u.event);
                if (r < 0)
                        goto out;
        }
        r = u.result;
        if (r >= 0) {
                *ret = take_ptr(u.plaintext);
                r = 0;
        } else if (r != -ENOMEM && r != -EIO)
                r = u.root->bad_input ? -EBADMSG : -ENOKEY;
out:
        secret_free(u.plaintext);
        if (u.root)
                node_cancel(u.root);
        node_free(u.root);
        curl_event_free(u.curl);
        sd_event_unref(u.event);
        return r;
}
