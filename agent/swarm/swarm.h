/* swarm: how nodes become and stay members of the fleet. The entry points of
 * agent/swarm/: the sponsor (stratad's side of the admission exchange,
 * served over HTTPS, and the members-only API over mutual TLS) and the
 * joiner (`strata attest join` / `strata attest renew`). The exchange
 * itself is in admission.h, the fleet PKI in pki.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attest/verify.h"
#include "core/spec.h"

typedef struct Manager Manager;
typedef struct Sponsor Sponsor;
typedef struct CoordinatorService CoordinatorService;
typedef struct JoinPhase JoinPhase;
typedef struct x509_st X509;

/* ---- The sponsor (sponsor.c) ---- */

/* Routes: the join exchange (no client certificate needed) and the
 * members-only API (a valid member certificate required). */
#define SPONSOR_PATH_HELLO "/v1/join/hello"
#define SPONSOR_PATH_EVIDENCE "/v1/join/evidence"
#define SPONSOR_PATH_WHOAMI "/v1/members/whoami"
#define SPONSOR_PATH_RENEW "/v1/members/renew"
/* The sponsor's own TLS certificate, issued by itself with the fleet CA at
 * start: a member certificate like any other, for this long. */
#define SPONSOR_CERT_SECONDS (30u * 24u * 3600u)
#define SPONSOR_NAME_DEFAULT "sponsor"

/* Starts the sponsor when the spec has attestation.sponsor: loads the fleet
 * CA and its key, the signed policy and the EK trust, opens the admission
 * log in the state directory and listens on sponsor.listen. Nothing to do
 * (0) without it. -errno, logged, when the spec's files do not load. */
int sponsor_start(Manager *m);
Sponsor *sponsor_free(Sponsor *s);

/* The fleet CA certificate the sponsor issues with (borrowed). */
X509 *sponsor_fleet_ca(Sponsor *s);

/* ---- The coordinator service (coordinator-service.c) ---- */

/* The members' lease routes on the sponsor's server, and the signed halt. */
#define COORD_PATH_LEASES "/v1/members/leases/*"
#define COORD_PATH_HALT "/v1/fleet/halt"

/* Is this node the fleet's coordinator: the spec's seed (by the machine
 * name stratad runs as), with provisioning settings and a sponsor? */
bool coordinator_service_wanted(const Manager *m);
/* Starts it (m->coordinator) when wanted: the core from the spec and its
 * journal, the audit log, the expiry timer. -errno, logged. */
int coordinator_service_start(Manager *m);
CoordinatorService *coordinator_service_free(CoordinatorService *s);
/* One request of the members' lease API (coordinator-msg.h) from `member`
 * (authenticated by the caller): the reply's status and JSON body. Journals
 * before it returns. -ENOMEM only; every other failure is a reply. */
int coordinator_service_call(CoordinatorService *s, const char *member, int op, const char *body, size_t size,
                             unsigned *ret_status, json_t **ret_reply);
/* The sponsor admitted `machine` in an exchange whose hello it received at
 * `began` (CLOCK_REALTIME usec; 0 when unknown). Credited only if that
 * belongs to the machine's current lease (coordinator_admitted()); a stale
 * one is logged and audited, and ignored. */
void coordinator_service_admitted(CoordinatorService *s, const char *machine, uint64_t began);
/* The spec was reloaded (SIGHUP, m->spec is the new one): the coordinator
 * is rebuilt for its inventory (coordinator_rebuild(): additions unknown,
 * removals dropped and their leases revoked), journaled and audited. A spec
 * that no longer makes this node the coordinator, or that cannot be
 * coordinated, keeps the running coordinator (logged). */
int coordinator_service_reload(CoordinatorService *s);
/* The fleet's provisioning state for `strata status` (new reference). */
json_t *coordinator_service_status(CoordinatorService *s);
/* A halt or resume, a JWS (JSON serialization) signed with the fleet key
 * over {"fleet", "action": "halt"|"resume", "issued_ms": UNIX-MILLISECONDS}. */
int coordinator_service_halt(CoordinatorService *s, const X509 *fleet_ca, const char *body, size_t size,
                             unsigned *ret_status, json_t **ret_reply);

/* The role ("seed", "controller", "worker") of inventory machine `name`,
 * NULL when it is not in the inventory (or `name` is NULL). */
const char *swarm_machine_role(const Spec *spec, const char *name);

/* ---- stratad's attest phase (join-phase.c) ---- */

/* After unseal (or at once without a data volume): the seed is admitted by
 * definition, a node with member credentials is one already, any other
 * joins the spec's sponsor (retrying with back-off). Once a member, the
 * provisioner starts. 0, or -ENOMEM. */
int join_phase_start(Manager *m);
JoinPhase *join_phase_free(JoinPhase *j);

/* ---- The joiner (joiner.c) ---- */

#define JOINER_TIMEOUT_USEC (60u * 1000000u)  /* each request, connect included */
#define JOINER_REPLY_MAX (1024u * 1024u)      /* ADMISSION_MSG_MAX */
/* What `strata attest join` writes to its member directory. */
#define JOINER_KEY_FILE "member.key"          /* the channel key, 0600 */
#define JOINER_CERT_FILE "member.pem"
#define JOINER_CA_FILE "fleet-ca.pem"
#define JOINER_POLICY_FILE "policy.json"
#define JOINER_POLICY_SIG_FILE "policy.sig"
/* Renew when less than this share of the certificate's lifetime is left. */
#define JOINER_RENEW_DIVISOR 3u

typedef struct JoinerConfig {
        const char *sponsor;     /* https://ADDR:PORT */
        const char *fleet_ca;    /* PEM file: the only CA the sponsor's certificate may chain to */
        const char *machine;     /* the name this node claims */
        const char *tcti;        /* NULL: $STRATA_TCTI or the default */
        AttestEkType ek;
        const char *state_dir;   /* where the AK lives */
        const char *eventlog;    /* NULL: send none */
        const char *member_dir;  /* where the admission lands */
        uint64_t timeout_usec;   /* 0: JOINER_TIMEOUT_USEC */
} JoinerConfig;

typedef struct JoinerResult {
        bool admitted;
        AttestReport reasons; /* refused: the sponsor's reasons */
        int64_t not_after;    /* admitted: the member certificate's end (Unix time) */
} JoinerResult;
void joiner_result_clear(JoinerResult *r);

/* Runs the exchange with the sponsor and, when admitted, writes the member
 * key, certificate, fleet CA and policy into member_dir. 0 admitted,
 * -EACCES refused (the reasons in *ret), other -errno for faults with the
 * detail in *reterr (TPM, transport, a sponsor reply that does not parse,
 * a bundle that does not open). */
int joiner_run(const JoinerConfig *cfg, JoinerResult *ret, char **reterr);

/* Renews the member certificate in member_dir over mutual TLS with it,
 * when less than 1/JOINER_RENEW_DIVISOR of its lifetime is left or
 * `force`. 0 renewed (*ret_not_after the new end), 1 not due yet, -errno
 * with *reterr. */
int joiner_renew(const char *sponsor, const char *member_dir, bool force, uint64_t timeout_usec,
                 int64_t *ret_not_after, char **reterr);
