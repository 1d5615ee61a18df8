/* Fuzz target for dhcp_packet_parse() and proxy_dhcp_answer()
 * (agent/boot/dhcp-packet.c, proxy-dhcp.c): any datagram that reaches UDP
 * 67 or 4011. Beyond not crashing: a refusal names a documented reason and
 * a printable detail; a parsed packet is an Ethernet BOOTREQUEST; an answer
 * only goes to a leased MAC, has yiaddr 0 and siaddr/54 = us, fits
 * DHCP_REPLY_MIN..DHCP_REPLY_MAX, goes somewhere real, and parses back
 * (as a request) to an OFFER/ACK for the same xid, MAC and client class.
 * Seeds in tests/fuzz/fuzz-dhcp-packet/: DISCOVERs and REQUESTs as the lab's
 * firmware sends them (SeaBIOS/iPXE, OVMF, UEFI HTTP), relayed, overloaded. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/dhcp-packet.h"
#include "boot/proxy-dhcp.h"
#include "core/cleanup.h"
#include "core/cursor.h"

#define SERVER_ADDR 0x0a4d0001u /* 10.77.0.1 */
#define CLIENT_ADDR 0x0a4d0032u

static bool lease_all(const uint8_t mac[6], void *userdata) {
        (void) mac;
        (void) userdata;
        return true;
}

static bool lease_none(const uint8_t mac[6], void *userdata) {
        (void) mac;
        (void) userdata;
        return false;
}

/* NUL-terminated within `cap`, every byte printable ASCII, and non-empty. */
static bool printable(const char *s, size_t cap) {
        size_t n = strnlen(s, cap);

        if (n == 0 || n == cap)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return false;
        return true;
}

static uint32_t reply_be32(const ProxyDhcpAnswer *a, size_t offset) {
        Cursor c;
        uint32_t v = 0;

        cursor_init(&c, a->reply, a->reply_len);
        cursor_skip(&c, offset);
        if (cursor_get_be32(&c, &v) < 0)
                abort();
        return v;
}

static void check_parsed(const DhcpPacket *p, size_t size) {
        if (size < DHCP_PACKET_MIN || size > DHCP_PACKET_MAX || p->op != 1 || p->htype != 1 || p->hlen != 6 ||
            memcmp(p->mac, p->chaddr, sizeof(p->mac)) != 0 || p->overload > 3 ||
            p->vendor_class < 0 || p->vendor_class >= _DHCP_VENDOR_CLASS_MAX)
                abort();
        if (p->has_client_guid && p->client_guid[0] != 0)
                abort();
        if (p->has_boot_item && p->vendor_class != DHCP_VENDOR_CLASS_PXE_CLIENT)
                abort();
        if (p->has_vendor_arch && p->vendor_class != DHCP_VENDOR_CLASS_PXE_CLIENT &&
            p->vendor_class != DHCP_VENDOR_CLASS_HTTP_CLIENT)
                abort();
}

static void check_answer(const ProxyDhcpServer *srv, const DhcpPacket *req, const ProxyDhcpAnswer *a) {
        uint8_t copy[DHCP_REPLY_MAX];
        DhcpError err = {};
        DhcpPacket back;

        if (a->drop_reason || a->detail[0] || a->reply_len < DHCP_REPLY_MIN || a->reply_len > DHCP_REPLY_MAX ||
            a->reply[0] != 2)
                abort();
        /* yiaddr 0: a ProxyDHCP never hands out addresses */
        if (reply_be32(a, 16) != 0 || reply_be32(a, 20) != ntohl(srv->address.s_addr))
                abort();
        if (a->destination.sin_family != AF_INET || a->destination.sin_port == 0 ||
            a->destination.sin_addr.s_addr == htonl(INADDR_ANY))
                abort();
        if (a->boot < 0 || a->boot >= _PROXY_BOOT_MAX || !printable(a->boot_file, sizeof(a->boot_file)))
                abort();
        if (memcmp(a->mac, req->mac, sizeof(a->mac)) != 0)
                abort();

        memcpy(copy, a->reply, a->reply_len);
        copy[0] = 1;
        if (dhcp_packet_parse(copy, a->reply_len, &back, &err) < 0)
                abort();
        if ((back.message_type != DHCP_OFFER && back.message_type != DHCP_ACK) || back.xid != req->xid ||
            memcmp(back.chaddr, req->chaddr, sizeof(back.chaddr)) != 0 || back.yiaddr.s_addr != 0 ||
            back.vendor_class != req->vendor_class || !back.has_server_id ||
            back.server_id.s_addr != srv->address.s_addr || back.has_client_guid != req->has_client_guid ||
            back.giaddr.s_addr != req->giaddr.s_addr)
                abort();
        if (back.has_boot_item && (back.message_type != DHCP_ACK || !req->has_boot_item))
                abort();
}

static void check_drop(const ProxyDhcpAnswer *a) {
        if (!proxy_dhcp_drop_reason_is_known(a->drop_reason) || !printable(a->drop_reason, 32) ||
            !printable(a->detail, sizeof(a->detail)) || a->reply_len != 0 || a->boot_file[0])
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const ProxyDhcpServer srv = { .address = { htonl(SERVER_ADDR) }, .http_port = 8080 };
        DhcpError err = {};
        DhcpPacket p;
        bool parsed;
        int r;

        r = dhcp_packet_parse(data, size, &p, &err);
        parsed = r == 0;
        if (parsed)
                check_parsed(&p, size);
        else if (r != -EBADMSG || !dhcp_packet_reason_is_known(err.reason) ||
                 !printable(err.detail, sizeof(err.detail)))
                abort();

        /* on 67 from 0.0.0.0:68 (no address yet), on 4011 from a client with one */
        for (int port = 0; port < 2; port++) {
                const struct sockaddr_in source = {
                        .sin_family = AF_INET,
                        .sin_port = htons(DHCP_PORT_CLIENT),
                        .sin_addr = { htonl(port ? CLIENT_ADDR : INADDR_ANY) },
                };
                ProxyDhcpAnswer yes, no;
                int ry, rn;

                ry = proxy_dhcp_answer(&srv, lease_all, NULL, data, size, &source, port, &yes);
                rn = proxy_dhcp_answer(&srv, lease_none, NULL, data, size, &source, port, &no);
                if (ry < 0 || ry > 1 || rn != 0)
                        abort();
                check_drop(&no);
                if (ry == 1) {
                        if (!parsed)
                                abort();
                        check_answer(&srv, &p, &yes);
                        if (strcmp(no.drop_reason, PROXY_DHCP_DROP_NOT_LEASED) != 0)
                                abort();
                } else {
                        check_drop(&yes);
                        if (strcmp(yes.drop_reason, PROXY_DHCP_DROP_NOT_LEASED) == 0)
                                abort();
                        /* a drop before the lease check drops the same way either way */
                        if (strcmp(yes.drop_reason, no.drop_reason) != 0 &&
                            strcmp(no.drop_reason, PROXY_DHCP_DROP_NOT_LEASED) != 0)
                                abort();
                }
                /* the parser's verdict is the proxy's for malformed packets */
                if (!parsed && strcmp(yes.drop_reason, err.reason) != 0)
                        abort();
        }
        return 0;
}
