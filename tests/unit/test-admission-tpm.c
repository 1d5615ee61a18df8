/* Tests for the admission exchange in-process against two swtpms
 * manufactured with EK certificates (ek-fixture.h): the sponsor's decisions
 * (admission-sponsor.c) fed by the node's real TPM calls (attest_*), so
 * each attack can be staged exactly: the honest node admitted and its
 * bundle opened; a replay; an expired nonce; a quote from another TPM than
 * the one that activated the credential; an AK that is not on the EK's
 * TPM; a relay that swaps in its own channel key, and one that forwards the
 * genuine messages but cannot open the bundle. The same behaviours over
 * HTTPS with stratad are tests/system/test_admission.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "attest/attest.h"
#include "core/openssl-cleanup.h"
#include "ek-fixture.h"
#include "swarm/admission.h"
#include "swarm/pki.h"

#define USEC UINT64_C(1000000)
#define T0 (1000u * USEC)

typedef struct Node {
        TpmFixture tpm;
        AttestTpm *t;
        char state[96];
        Blob ek_pub, ek_cert, ak_pub, ak_name;
} Node;

typedef struct Ctx {
        Node a, b;
        char bundle_path[128];
        EVP_PKEY *ca_key, *policy_key;
        X509 *ca;
        Blob policy, sig;
        AdmissionSponsor *sponsor;
        AdmissionSponsorConfig cfg;
} Ctx;

static int node_start(Node *n) {
        if (ek_fixture_start(&n->tpm) < 0)
                return -1;
        snprintf(n->state, sizeof(n->state), "%s/node", n->tpm.dir);
        if (mkdir(n->state, 0700) < 0 || attest_tpm_open(n->tpm.tcti, &n->t) < 0 ||
            attest_ek(n->t, ATTEST_EK_RSA2048, &n->ek_pub, &n->ek_cert) < 0 ||
            attest_ak(n->t, ATTEST_EK_RSA2048, n->state, &n->ak_pub, &n->ak_name) < 0)
                return -1;
        return 0;
}

static void node_stop(Node *n) {
        attest_tpm_close(n->t);
        blob_clear(&n->ek_pub);
        blob_clear(&n->ek_cert);
        blob_clear(&n->ak_pub);
        blob_clear(&n->ak_name);
        ek_fixture_stop(&n->tpm);
}

static int write_bundle(Ctx *c) {
        char cmd[512];

        snprintf(c->bundle_path, sizeof(c->bundle_path), "%s/ek-ca-bundle.pem", c->a.tpm.dir);
        snprintf(cmd, sizeof(cmd), "cat %s/ca/swtpm-localca-rootca-cert.pem %s/ca/issuercert.pem > %s", c->a.tpm.dir,
                 c->a.tpm.dir, c->bundle_path);
        return system(cmd) == 0 ? 0 : -1;
}

/* A policy pinning PCR 7 to its value now, signed ECDSA-SHA256. */
static int write_policy(Ctx *c) {
        PcrSelection sel = { .hash_alg = TPM2_ALG_SHA256, .mask = 1u << 7 };
        uint8_t nonce[32] = { 0 }, sig[256];
        Blob attest = {}, qsig = {};
        PcrValues v;
        char hex[65], *doc = NULL;
        size_t sig_size = sizeof(sig);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int n;

        if (attest_quote(c->a.t, ATTEST_EK_RSA2048, c->a.state, &sel, nonce, sizeof(nonce), &attest, &qsig, &v) < 0)
                return -1;
        blob_clear(&attest);
        blob_clear(&qsig);
        n = asprintf(&doc, "{\"version\":1,\"pcr_bank\":\"sha256\",\"pcrs\":{\"7\":{\"value\":\"%s\"}}}",
                     admission_hex(v.value[7], 32, hex));
        if (n < 0 || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->policy_key) != 1 ||
            EVP_DigestSign(md, sig, &sig_size, (uint8_t *) doc, (size_t) n) != 1)
                return -1;
        EVP_MD_CTX_free(md);
        c->policy = (Blob) { .data = (uint8_t *) doc, .size = (size_t) n };
        c->sig.data = malloc(sig_size);
        memcpy(c->sig.data, sig, sig_size);
        c->sig.size = sig_size;
        return 0;
}

static int group_setup(void **state) {
        static Ctx c;

        setenv("TSS2_LOG", "all+none", 0);
        if (node_start(&c.a) < 0 || node_start(&c.b) < 0 || write_bundle(&c) < 0) {
                fprintf(stderr, "test-admission-tpm: FAIL: no TPM simulators with EK certificates\n");
                return -1;
        }
        if (pki_key_new(&c.ca_key) < 0 || pki_ca_cert_new(c.ca_key, "lab", &c.ca) < 0 ||
            pki_key_new(&c.policy_key) < 0 || write_policy(&c) < 0)
                return -1;
        *state = &c;
        return 0;
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (!c)
                return 0;
        node_stop(&c->a);
        node_stop(&c->b);
        EVP_PKEY_free(c->ca_key);
        EVP_PKEY_free(c->policy_key);
        X509_free(c->ca);
        blob_clear(&c->policy);
        blob_clear(&c->sig);
        return 0;
}

static int setup(void **state) {
        Ctx *c = *state;

        c->cfg = (AdmissionSponsorConfig) {
                .ek = { .ca_file = c->bundle_path },
                .selection = { .hash_alg = TPM2_ALG_SHA256, .mask = (1u << 0) | (1u << 7) },
                .policy = c->policy,
                .policy_sig = c->sig,
                .policy_key = c->policy_key,
                .ca_key = c->ca_key,
                .ca_cert = c->ca,
                .member_seconds = 3600,
        };
        RAND_bytes(c->cfg.sponsor_id, sizeof(c->cfg.sponsor_id));
        return admission_sponsor_new(&c->cfg, &c->sponsor);
}

static int teardown(void **state) {
        Ctx *c = *state;
        c->sponsor = admission_sponsor_free(c->sponsor);
        return 0;
}

/* How a run departs from the honest exchange. */
typedef struct Stage {
        Node *hello_ak;   /* whose AK the hello names (default: a) */
        Node *quoter;     /* whose TPM quotes (default: a) */
        bool garbage_k;   /* activation fails or is skipped: a made-up K */
        bool swap_chan;   /* a relay puts its own channel key into the hello */
        uint64_t evidence_at;
} Stage;

typedef struct Run {
        int hello_r, evidence_r;
        char *hello_text, *challenge_text, *evidence_sent, *verdict;
        char *transcript;
        size_t transcript_size;
        Secret *k;
        EVP_PKEY *chan;
        AdmissionRecord rec;
} Run;

static void run_done(Run *r) {
        free(r->hello_text);
        free(r->challenge_text);
        free(r->evidence_sent);
        free(r->verdict);
        free(r->transcript);
        secret_free(r->k);
        EVP_PKEY_free(r->chan);
        admission_record_clear(&r->rec);
}

static void exchange(Ctx *c, const Stage *st, Run *run) {
        Node *a = &c->a, *ak = st->hello_ak ? st->hello_ak : a, *q = st->quoter ? st->quoter : a;
        AdmissionHello h = {};
        AdmissionChallenge ch = {};
        AdmissionEvidence ev = {};
        AdmissionRecord hrec = {};
        _cleanup_free_ char *reply = NULL, *ev_text = NULL;
        EVP_PKEY *relay = NULL;
        uint8_t qd[32], mac[32];
        uint8_t *der = NULL;
        json_t *doc;
        int n;

        *run = (Run) {};
        assert_int_equal(pki_key_new(&run->chan), 0);
        strcpy(h.machine, "node1");
        h.ek_pub = a->ek_pub;
        h.ek_cert = a->ek_cert;
        h.ak_pub = ak->ak_pub;
        n = i2d_PUBKEY(run->chan, &der);
        assert_true(n > 0);
        h.chan_pub = (Blob) { .data = der, .size = (size_t) n };
        doc = admission_hello_build(&h);
        run->hello_text = admission_canonical(doc);
        json_decref(doc);

        /* the relay's hello: the node's, with the relay's channel key */
        if (st->swap_chan) {
                uint8_t *rder = NULL;
                assert_int_equal(pki_key_new(&relay), 0);
                n = i2d_PUBKEY(relay, &rder);
                h.chan_pub = (Blob) { .data = rder, .size = (size_t) n };
                doc = admission_hello_build(&h);
                _cleanup_free_ char *relayed = admission_canonical(doc);
                json_decref(doc);
                run->hello_r = admission_sponsor_hello(c->sponsor, relayed, strlen(relayed), T0, &reply, &hrec);
                free(rder);
                EVP_PKEY_free(relay);
        } else
                run->hello_r = admission_sponsor_hello(c->sponsor, run->hello_text, strlen(run->hello_text), T0, &reply,
                                                       &hrec);
        h.chan_pub = (Blob) { .data = der, .size = (size_t) n };
        admission_record_clear(&hrec);
        if (run->hello_r < 0) {
                run->verdict = take_ptr(reply);
                free(der);
                return;
        }
        assert_int_equal(admission_challenge_parse(reply, strlen(reply), &ch, &run->challenge_text, NULL), 0);

        /* the node: K from its TPM (the EK's), then the quote */
        if (st->garbage_k) {
                Secret *k = NULL;
                /* the EK's TPM cannot activate for an AK it does not hold */
                assert_true(attest_activate(a->t, ATTEST_EK_RSA2048, a->state, &ch.credential, &ch.secret, &k) < 0);
                run->k = secret_new(32);
                RAND_bytes(run->k->data, 32);
        } else
                assert_int_equal(attest_activate(a->t, ATTEST_EK_RSA2048, a->state, &ch.credential, &ch.secret, &run->k),
                                 0);
        assert_int_equal(admission_qualifying_data(ch.nonce, &h.chan_pub, ak->ak_name.data, ak->ak_name.size,
                                                   ch.sponsor_id, qd), 0);
        assert_int_equal(attest_quote(q->t, ATTEST_EK_RSA2048, q->state, &ch.selection, qd, sizeof(qd), &ev.attest,
                                      &ev.signature, &ev.pcrs), 0);
        memcpy(ev.nonce, ch.nonce, sizeof(ev.nonce));
        doc = admission_evidence_build(&ev);
        ev_text = admission_canonical(doc);
        assert_int_equal(admission_transcript(run->hello_text, run->challenge_text, ev_text, &run->transcript,
                                              &run->transcript_size), 0);
        assert_int_equal(admission_hmac(run->k, run->transcript, run->transcript_size, mac), 0);
        assert_int_equal(admission_evidence_set_hmac(doc, mac), 0);
        run->evidence_sent = admission_canonical(doc);
        json_decref(doc);

        run->evidence_r = admission_sponsor_evidence(c->sponsor, run->evidence_sent, strlen(run->evidence_sent),
                                                     st->evidence_at ? st->evidence_at : T0 + USEC, time(NULL),
                                                     &run->verdict, &run->rec);
        admission_challenge_done(&ch);
        admission_evidence_done(&ev);
        free(der);
}

static bool has_reason(const Run *r, const char *text) {
        for (size_t i = 0; i < r->rec.reasons.n_lines; i++)
                if (strstr(r->rec.reasons.lines[i], text))
                        return true;
        return false;
}

/* Every reason on stderr when the expected one is missing. */
#define assert_reason(r, text)                                                                \
        do {                                                                                  \
                if (!has_reason(r, text)) {                                                   \
                        for (size_t i_ = 0; i_ < (r)->rec.reasons.n_lines; i_++)              \
                                fprintf(stderr, "  reason: %s\n", (r)->rec.reasons.lines[i_]); \
                        fail_msg("no reason \"%s\"", text);                                  \
                }                                                                             \
        } while (0)

static void test_admission_honest_node_admitted(void **state) {
        Ctx *c = *state;
        Run run;
        AdmissionVerdict v = {};
        AdmissionBundle b = {};
        Secret *pt = NULL;
        X509 *cert = NULL;
        char *machine = NULL;
        BIO *bio;

        exchange(c, &(Stage) {}, &run);
        assert_int_equal(run.hello_r, 0);
        if (run.evidence_r != 0)
                assert_reason(&run, "(admitted: no reason expected)");
        assert_true(run.rec.admitted);
        assert_string_equal(run.rec.machine, "node1");
        assert_int_equal(admission_verdict_parse(run.verdict, strlen(run.verdict), &v, NULL), 0);
        assert_true(v.admitted);
        /* the bundle opens with K and this transcript */
        assert_int_equal(admission_bundle_open(run.k, run.transcript, run.transcript_size, &v.bundle, &pt), 0);
        assert_int_equal(admission_bundle_parse(pt->data, pt->size, &b, NULL), 0);
        assert_string_equal(b.member_chain[0], v.member_cert);
        assert_int_equal(b.policy.size, c->policy.size);
        /* the certificate is for the channel key, from the fleet CA */
        bio = BIO_new_mem_buf(v.member_cert, -1);
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(cert);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), run.chan), 1);
        assert_int_equal(pki_member_cert_verify(c->ca, cert, 0, &machine, NULL), 0);
        assert_string_equal(machine, "node1");
        free(machine);
        X509_free(cert);
        BIO_free(bio);
        secret_free(pt);
        admission_bundle_done(&b);
        admission_verdict_done(&v);
        run_done(&run);
}

static void test_admission_replayed_evidence_refused(void **state) {
        Ctx *c = *state;
        AdmissionRecord rec = {};
        char *reply = NULL;
        Run run;

        exchange(c, &(Stage) {}, &run);
        assert_int_equal(run.evidence_r, 0);
        assert_int_equal(admission_sponsor_evidence(c->sponsor, run.evidence_sent, strlen(run.evidence_sent),
                                                    T0 + 2 * USEC, time(NULL), &reply, &rec), -EACCES);
        assert_string_equal(rec.reasons.lines[0], "nonce already used");
        assert_false(rec.admitted);
        free(reply);
        admission_record_clear(&rec);
        run_done(&run);
}

static void test_admission_expired_nonce_refused(void **state) {
        Ctx *c = *state;
        Run run;

        exchange(c, &(Stage) { .evidence_at = T0 + (ADMISSION_NONCE_TTL_SEC + 1) * USEC }, &run);
        assert_int_equal(run.evidence_r, -EACCES);
        assert_reason(&run, "nonce expired");
        assert_string_equal(run.rec.machine, "node1");
        run_done(&run);
}

static void test_admission_quote_from_other_tpm_refused(void **state) {
        Ctx *c = *state;
        Run run;

        /* K activated on A (whose EK and AK the hello names), the quote made
         * on B: the signature is not A's AK's */
        exchange(c, &(Stage) { .quoter = &c->b }, &run);
        assert_int_equal(run.evidence_r, -EACCES);
        assert_reason(&run, "quote signature does not verify with the AK");
        assert_false(has_reason(&run, "transcript HMAC"));
        run_done(&run);
}

static void test_admission_ak_not_on_ek_tpm_refused(void **state) {
        Ctx *c = *state;
        Run run;

        /* the hello pairs A's EK with B's AK: A's TPM cannot activate, and
         * without K the transcript HMAC fails */
        exchange(c, &(Stage) { .hello_ak = &c->b, .quoter = &c->b, .garbage_k = true }, &run);
        assert_int_equal(run.evidence_r, -EACCES);
        assert_reason(&run, "transcript HMAC does not verify");
        run_done(&run);
}

static void test_admission_relay_own_channel_key_refused(void **state) {
        Ctx *c = *state;
        Run run;

        /* the sponsor saw the relay's key; the node quoted and MACed its own */
        exchange(c, &(Stage) { .swap_chan = true }, &run);
        assert_int_equal(run.hello_r, 0);
        assert_int_equal(run.evidence_r, -EACCES);
        assert_reason(&run, "transcript HMAC does not verify");
        assert_reason(&run, "quote nonce does not match");
        run_done(&run);
}

static void test_admission_relay_cannot_open_bundle(void **state) {
        Ctx *c = *state;
        AdmissionVerdict v = {};
        Secret *guess = secret_new(32), *pt = NULL;
        Run run;

        /* a relay forwarding the genuine messages sees every byte of them,
         * and the verdict; K never crossed the wire in the clear */
        exchange(c, &(Stage) {}, &run);
        assert_int_equal(run.evidence_r, 0);
        assert_int_equal(admission_verdict_parse(run.verdict, strlen(run.verdict), &v, NULL), 0);
        RAND_bytes(guess->data, 32);
        assert_int_equal(admission_bundle_open(guess, run.transcript, run.transcript_size, &v.bundle, &pt), -EBADMSG);
        assert_null(pt);
        secret_free(guess);
        admission_verdict_done(&v);
        run_done(&run);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_admission_honest_node_admitted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_replayed_evidence_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_expired_nonce_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_quote_from_other_tpm_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_ak_not_on_ek_tpm_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_relay_own_channel_key_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admission_relay_cannot_open_bundle, setup, teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
