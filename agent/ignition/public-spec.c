/* public-spec: what of the fleet spec a node's Ignition config may carry
 * (ignition_public_spec), and the sponsor address a booted machine is
 * told (ignition_sponsor_url); see render.h. Ignition is a public channel:
 * anyone on the boot network reads it, so the spec is cut down to what a
 * node needs before admission, in a form stratad still validates. */
#include "ignition/render.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

/* "[v6]:port" at most: the schema's maxLength for sponsor.listen */
#define LISTEN_MAX 64u

static int withhold_bmcs(json_t *inventory) {
        json_t *m;
        size_t i;

        json_array_foreach(inventory, i, m) {
                /* the schema requires a BMC with an endpoint, a credential
                 * reference and a TLS mode: a stand-in that leads nowhere */
                json_t *bmc = json_pack("{s:s, s:{s:s}, s:{s:s}}", "endpoint", IGNITION_WITHHELD_BMC_ENDPOINT,
                                        "credential", "systemd_credential", IGNITION_WITHHELD_CREDENTIAL, "tls",
                                        "mode", "system");
                if (!bmc || json_object_set_new(m, "bmc", bmc) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int ignition_public_spec(const json_t *spec, const char *fleet_ca_path, json_t **ret) {
        json_auto_t *pub = json_deep_copy(spec);
        json_t *attestation, *sponsor;
        int r;

        if (!json_is_object(pub))
                return json_is_object(spec) ? -ENOMEM : -EINVAL;
        (void) json_object_del(pub, "$schema");
        r = withhold_bmcs(json_object_get(pub, "inventory"));
        if (r < 0)
                return r;
        attestation = json_object_get(pub, "attestation");
        /* joiners find the sponsor by its listen address (join-phase.c);
         * the reference to the fleet CA's private key is the seed's alone */
        sponsor = json_object_get(attestation, "sponsor");
        if (sponsor && json_object_set_new(sponsor, "fleet_ca_key",
                                           json_pack("{s:s}", "systemd_credential", IGNITION_WITHHELD_CREDENTIAL)) < 0)
                return -ENOMEM;
        if (!fleet_ca_path)
                (void) json_object_del(attestation, "fleet_ca");
        else if (json_object_set_new(attestation, "fleet_ca", json_string(fleet_ca_path)) < 0)
                return -ENOMEM;
        *ret = take_ptr(pub);
        return 0;
}

int ignition_sponsor_url(const json_t *spec, const char *address, char **ret) {
        const char *listen = json_string_value(
                json_object_get(json_object_get(json_object_get(spec, "attestation"), "sponsor"), "listen"));
        char host[LISTEN_MAX];
        struct in6_addr a6;
        struct in_addr a4;
        const char *port, *h = host;
        bool v6;

        if (!listen)
                return -ENOENT;
        if (strlen(listen) >= sizeof(host))
                return -EINVAL;
        strcpy(host, listen);
        /* the schema's pattern: A.B.C.D:PORT or [V6]:PORT */
        char *colon = strrchr(host, ':');
        if (!colon)
                return -EINVAL;
        *colon = '\0';
        port = colon + 1;
        v6 = host[0] == '[';
        if (v6) {
                size_t n = strlen(host);
                if (n < 3 || host[n - 1] != ']')
                        return -EINVAL;
                host[n - 1] = '\0';
                h = host + 1;
                if (inet_pton(AF_INET6, h, &a6) != 1)
                        return -EINVAL;
                if (IN6_IS_ADDR_LOOPBACK(&a6))
                        return -EADDRNOTAVAIL;
                if (IN6_IS_ADDR_UNSPECIFIED(&a6))
                        h = NULL;
        } else {
                if (inet_pton(AF_INET, h, &a4) != 1)
                        return -EINVAL;
                if ((ntohl(a4.s_addr) >> 24) == 127)
                        return -EADDRNOTAVAIL;
                if (a4.s_addr == htonl(INADDR_ANY))
                        h = NULL;
        }
        if (!h) {
                /* listening everywhere: where the machine reached us */
                if (!address)
                        return -EADDRNOTAVAIL;
                h = address;
                v6 = strchr(address, ':') != NULL;
        }
        if (asprintf(ret, v6 ? "https://[%s]:%s" : "https://%s:%s", h, port) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}
