/* provisioner: a member's side of propagation (see provisioner.c). */
#pragma once

#include <jansson.h>

typedef struct Manager Manager;
typedef struct Provisioner Provisioner;

/* Where a member keeps what admission gave it (`strata attest join
 * --member-dir STATE_DIR/member`): its certificate, key and the fleet CA,
 * which authenticate it to the coordinator. */
#define PROVISIONER_MEMBER_DIR "member"

/* Starts provisioning (m->provisioner) when this node knows its machine
 * name, the spec has provisioning settings and the node is the coordinator
 * or a member (it has member credentials). 0 without doing anything
 * otherwise; -errno, logged. Start after the boot server and the
 * coordinator. */
int provisioner_start(Manager *m);
Provisioner *provisioner_free(Provisioner *p);

/* The spec was reloaded (m->spec is the new one): leases on machines no
 * longer in the inventory are given up, the BMC inventory is rebuilt. */
int provisioner_reload(Provisioner *p);

/* The leases this member holds and their step, for the local API. */
json_t *provisioner_to_json(Provisioner *p);
