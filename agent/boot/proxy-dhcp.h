/* proxy-dhcp: the ProxyDHCP decision, pure (no sockets, no clock, no
 * logging): given one datagram received on port 67 or 4011, answer with
 * boot information for a PXE/HTTP-boot client whose MAC this node leases,
 * or say why not. Never assigns addresses, so it coexists with the site's
 * DHCP server (PXE 2.1 §2.2.4, docs/pxe-boot.md §3). See proxy-dhcp.c. */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/dhcp-packet.h"

/* Drop reasons besides the parser's DHCP_REASON_* (a malformed packet is
 * dropped with the parser's reason). Static strings, stable metric labels;
 * the complete set is proxy_dhcp_drop_reasons[]. */
#define PROXY_DHCP_DROP_UNHANDLED_TYPE "unhandled-type"     /* not DISCOVER/REQUEST/INFORM, DISCOVER on 4011, BOOTP */
#define PROXY_DHCP_DROP_NOT_PXE "not-pxe"                   /* option 60 is not PXEClient/HTTPClient */
#define PROXY_DHCP_DROP_OTHER_SERVER "other-server"         /* REQUEST/INFORM on 67 naming another server in 54 */
#define PROXY_DHCP_DROP_NOT_LEASED "not-leased"             /* this node holds no lease for the MAC */
#define PROXY_DHCP_DROP_UNSUPPORTED_ARCH "unsupported-arch" /* no boot file for the client architecture */
#define PROXY_DHCP_DROP_BAD_SOURCE "bad-source"             /* on 4011 from address 0 or port 0: no way back */

/* Every drop reason, the parser's included, NULL-terminated. */
extern const char *const proxy_dhcp_drop_reasons[];
bool proxy_dhcp_drop_reason_is_known(const char *reason);

typedef struct ProxyDhcpServer {
        struct in_addr address; /* this boot server's address on the segment: siaddr, option 54, URLs */
        uint16_t http_port;     /* the HTTP boot server */
} ProxyDhcpServer;

/* true if this node holds a provisioning lease for the MAC right now */
typedef bool (*ProxyDhcpLeased)(const uint8_t mac[6], void *userdata);

typedef enum ProxyDhcpBoot {
        PROXY_BOOT_TFTP_NBP,    /* a PXE ROM: TFTP "MAC/undionly.kpxe" or "MAC/ipxe.efi" */
        PROXY_BOOT_HTTP_NBP,    /* UEFI HTTP Boot: "http://ADDR:PORT/boot/MAC/ipxe.efi" */
        PROXY_BOOT_IPXE_SCRIPT, /* iPXE itself: "http://ADDR:PORT/boot/MAC/boot.ipxe" */
        _PROXY_BOOT_MAX,
        _PROXY_BOOT_INVALID = -EINVAL,
} ProxyDhcpBoot;

typedef struct ProxyDhcpAnswer {
        uint8_t mac[6];                 /* set once the packet parsed, answered or not */
        const char *drop_reason;        /* static string, set when not answered (malformed packets too) */
        char detail[DHCP_DETAIL_MAX];   /* human detail for a drop, "" otherwise; printable */
        uint8_t message_type;           /* the request's option 53, once parsed */
        ProxyDhcpBoot boot;
        char boot_file[256];
        uint8_t reply[DHCP_REPLY_MAX];
        size_t reply_len;
        struct sockaddr_in destination; /* where to send the reply */
} ProxyDhcpAnswer;

/* Decides about one datagram of `size` bytes at `packet`, received from
 * `source` on port 67, or on 4011 when `on_pxe_port`. `leased` is asked at
 * most once, and only for a PXE/HTTP boot request meant for this server.
 *
 * Rules, in order (each failing one is a drop with that reason):
 *   - the packet parses (reason: the parser's);
 *   - option 60 starts with PXEClient or HTTPClient (not-pxe);
 *   - DISCOVER on 67 gets an OFFER, REQUEST or INFORM an ACK (on either
 *     port); anything else (unhandled-type);
 *   - on 67, a REQUEST or INFORM whose option 54 names another server was
 *     meant for the site's DHCP server (other-server);
 *   - `leased` says yes for the MAC (not-leased);
 *   - a boot file for the client (unsupported-arch): iPXE (user class
 *     "iPXE" or option 175) gets its script first, which ends the
 *     chainload; HTTPClient with arch 15/16 gets ipxe.efi by HTTP;
 *     PXEClient arch 0 gets undionly.kpxe, 7 or 9 (x64 EFI: RFC 4578 and
 *     IANA disagree) ipxe.efi, by TFTP. The arch is option 93; without it,
 *     the "Arch:NNNNN" field of option 60; without both, a PXEClient is
 *     taken as x86 BIOS (0: ROMs that predate RFC 4578 were BIOS ones) and
 *     an HTTPClient is dropped (UEFI HTTP Boot always sends 93);
 *   - the destination (bad-source): giaddr set: giaddr:67 (the relay);
 *     on 4011: the source address and port; ciaddr set and the broadcast
 *     flag clear: ciaddr:68; else 255.255.255.255:68.
 * MACs are written lower-case hex-hyphen, as iPXE's ${mac:hexhyp}.
 *
 * Returns 1 (answer: reply, reply_len, destination, boot, boot_file set),
 * 0 (drop: drop_reason and detail set), or a negative errno for a local
 * fault: -EINVAL (NULL arguments, server address 0, HTTP port 0). *ret is
 * always reset first. */
int proxy_dhcp_answer(const ProxyDhcpServer *srv, ProxyDhcpLeased leased, void *userdata, const void *packet,
                      size_t size, const struct sockaddr_in *source, bool on_pxe_port, ProxyDhcpAnswer *ret);

/* "tftp-nbp", "http-nbp", "ipxe-script"; NULL when out of range. */
const char *proxy_dhcp_boot_to_string(ProxyDhcpBoot b);
