/* Tests for agent/boot/proxy-dhcp.c: every ProxyDHCP rule. Which requests
 * are answered (PXE/HTTP clients only, leased MACs only, REQUESTs meant for
 * another server left alone, 4011), which boot file each client gets (iPXE
 * first, then class and architecture, the missing-93 decision), where the
 * reply goes (relay, 4011 source, ciaddr, broadcast), and that every drop
 * carries a known reason and a detail. Requests are built with the Writer
 * from the option values in docs/pxe-boot.md §2-3. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/dhcp-packet.h"
#include "boot/proxy-dhcp.h"
#include "core/cleanup.h"
#include "core/cursor.h"

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x77, 0x10, 0x01 };
#define MAC_TEXT "52-54-00-77-10-01"
static const uint8_t GUID[17] = { 0x00, 0x4e, 0x7a, 0x2f, 0x8c, 0x7b, 0x3f, 0x8e, 0x4a,
                                  0x9d, 0x1c, 0x5e, 0x6f, 0x70, 0x81, 0x92, 0x03 };
#define SERVER_ADDR 0x0a4d0001u /* 10.77.0.1 */
#define OTHER_SERVER 0x0a4d00feu /* the site's DHCP server */
#define CLIENT_ADDR 0x0a4d0032u /* 10.77.0.50, leased by the site's server */
#define RELAY_ADDR 0x0a4e0001u
#define HTTP_PORT 8080
#define URL_PREFIX "http://10.77.0.1:8080/boot/" MAC_TEXT "/"
#define IPXE_ROM_CLASS "PXEClient:Arch:00000:UNDI:002001"
#define OVMF_CLASS "PXEClient:Arch:00007:UNDI:003000"
#define HTTP_CLASS "HTTPClient:Arch:00016:UNDI:003000"

static ProxyDhcpServer server_default(void) {
        return (ProxyDhcpServer) {
                .address = { htonl(SERVER_ADDR) },
                .http_port = HTTP_PORT,
        };
}

/* ---- the lease callback ---- */

typedef struct Leases {
        bool answer;
        unsigned calls;
        uint8_t asked[6];
} Leases;

static bool leased(const uint8_t mac[6], void *userdata) {
        Leases *l = userdata;

        l->calls++;
        memcpy(l->asked, mac, 6);
        return l->answer;
}

/* ---- building requests ---- */

typedef struct Request {
        uint8_t type;      /* 0: no option 53 */
        const char *class; /* NULL: no option 60 */
        int arch;          /* -1: no option 93 */
        bool guid, user_class_ipxe, option_175, boot_item;
        uint32_t server_id; /* 0: no option 54 */
        uint32_t ciaddr, giaddr;
        uint16_t flags;
} Request;

static Request request_default(void) {
        return (Request) {
                .type = DHCP_DISCOVER,
                .class = IPXE_ROM_CLASS,
                .arch = 0,
                .guid = true,
                .flags = DHCP_FLAG_BROADCAST,
        };
}

static void put_option(Writer *w, uint8_t code, const void *v, size_t n) {
        writer_put_u8(w, code);
        writer_put_u8(w, (uint8_t) n);
        writer_put_bytes(w, v, n);
}

/* An exact-size heap copy of the request. */
static uint8_t *request_build(const Request *r, size_t *ret_size) {
        uint8_t buf[1024];
        Writer w;
        uint8_t *p;

        writer_init(&w, buf, sizeof(buf));
        writer_put_bytes(&w, "\x01\x01\x06\x00", 4);
        writer_put_be32(&w, 0xa1b2c3d4);
        writer_put_be16(&w, 0);
        writer_put_be16(&w, r->flags);
        writer_put_be32(&w, r->ciaddr);
        writer_put_be32(&w, 0);
        writer_put_be32(&w, 0);
        writer_put_be32(&w, r->giaddr);
        writer_put_bytes(&w, MAC, sizeof(MAC));
        writer_put_zeros(&w, 10 + 64 + 128);
        writer_put_be32(&w, 0x63825363);
        if (r->type)
                put_option(&w, 53, &r->type, 1);
        if (r->server_id) {
                writer_put_bytes(&w, "\x36\x04", 2);
                writer_put_be32(&w, r->server_id);
        }
        if (r->arch >= 0) {
                writer_put_bytes(&w, "\x5d\x02", 2);
                writer_put_be16(&w, (uint16_t) r->arch);
        }
        if (r->class)
                put_option(&w, 60, r->class, strlen(r->class));
        if (r->user_class_ipxe)
                put_option(&w, 77, "iPXE", 4);
        if (r->option_175)
                put_option(&w, 175, "\xeb\x03\x01\x00\x00\x13\x01\x01", 8);
        if (r->boot_item)
                put_option(&w, 43, "\x47\x04\x80\x00\x00\x00\xff", 7);
        if (r->guid)
                put_option(&w, 97, GUID, sizeof(GUID));
        writer_put_u8(&w, 255);
        assert_int_equal(writer_error(&w), 0);
        p = malloc(writer_length(&w));
        assert_non_null(p);
        memcpy(p, buf, writer_length(&w));
        *ret_size = writer_length(&w);
        return p;
}

static struct sockaddr_in sockaddr(uint32_t addr, uint16_t port) {
        return (struct sockaddr_in) {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr = { htonl(addr) },
        };
}

static int answer_from(const Request *req, bool lease, const struct sockaddr_in *source, bool on_pxe_port,
                       ProxyDhcpAnswer *ret, Leases *l) {
        size_t n;
        _cleanup_free_ uint8_t *data = request_build(req, &n);

        ProxyDhcpServer srv = server_default();

        *l = (Leases) { .answer = lease };
        return proxy_dhcp_answer(&srv, leased, l, data, n, source, on_pxe_port, ret);
}

/* From 0.0.0.0:68 on port 67, leased. */
static int answer(const Request *req, ProxyDhcpAnswer *ret) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Leases l;

        return answer_from(req, true, &source, false, ret, &l);
}

/* The reply parsed back (op turned into a request for the parser). */
static DhcpPacket reply_parse(const ProxyDhcpAnswer *a) {
        uint8_t buf[DHCP_REPLY_MAX];
        DhcpError err = {};
        DhcpPacket p;

        assert_true(a->reply_len >= DHCP_REPLY_MIN && a->reply_len <= DHCP_REPLY_MAX);
        assert_int_equal(a->reply[0], 2);
        memcpy(buf, a->reply, a->reply_len);
        buf[0] = 1;
        if (dhcp_packet_parse(buf, a->reply_len, &p, &err) < 0)
                fail_msg("reply does not parse: %s", err.detail);
        assert_int_equal(p.yiaddr.s_addr, 0);
        assert_int_equal(p.siaddr.s_addr, htonl(SERVER_ADDR));
        assert_true(p.has_server_id);
        assert_int_equal(p.server_id.s_addr, htonl(SERVER_ADDR));
        assert_int_equal(p.xid, 0xa1b2c3d4);
        assert_memory_equal(p.mac, MAC, sizeof(MAC));
        return p;
}

static void assert_answered(int r, const ProxyDhcpAnswer *a) {
        if (r != 1)
                fail_msg("r=%d drop %s: %s", r, a->drop_reason ? a->drop_reason : "(none)", a->detail);
        assert_null(a->drop_reason);
        assert_string_equal(a->detail, "");
        assert_memory_equal(a->mac, MAC, sizeof(MAC));
}

static void assert_dropped(int r, const ProxyDhcpAnswer *a, const char *reason, const char *detail) {
        static const uint8_t zero[sizeof(a->reply)] = {};

        assert_int_equal(r, 0);
        assert_non_null(a->drop_reason);
        assert_string_equal(a->drop_reason, reason);
        assert_true(proxy_dhcp_drop_reason_is_known(a->drop_reason));
        assert_true(strlen(a->detail) > 0);
        if (detail && !strstr(a->detail, detail))
                fail_msg("detail \"%s\" lacks \"%s\"", a->detail, detail);
        /* no half-made answer */
        assert_int_equal(a->reply_len, 0);
        assert_memory_equal(a->reply, zero, sizeof(zero));
        assert_string_equal(a->boot_file, "");
        assert_int_equal(a->destination.sin_family, 0);
        assert_int_equal(a->destination.sin_port, 0);
}

static void assert_destination(const ProxyDhcpAnswer *a, uint32_t addr, uint16_t port) {
        assert_int_equal(a->destination.sin_family, AF_INET);
        assert_int_equal(a->destination.sin_addr.s_addr, htonl(addr));
        assert_int_equal(a->destination.sin_port, htons(port));
}

/* ---- the clients of the lab ---- */

/* a plain PXE ROM (no iPXE): TFTP undionly.kpxe, broadcast */
static void test_proxy_dhcp_answer_bios_pxe_rom(void **state) {
        Request req = request_default();
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        ProxyDhcpAnswer a;
        DhcpPacket p;
        Leases l;
        int r;

        (void) state;
        r = answer_from(&req, true, &source, false, &a, &l);
        assert_answered(r, &a);
        assert_int_equal(l.calls, 1);
        assert_memory_equal(l.asked, MAC, sizeof(MAC));
        assert_int_equal(a.message_type, DHCP_DISCOVER);
        assert_int_equal(a.boot, PROXY_BOOT_TFTP_NBP);
        assert_string_equal(a.boot_file, MAC_TEXT "/undionly.kpxe");
        assert_destination(&a, INADDR_BROADCAST, DHCP_PORT_CLIENT);
        p = reply_parse(&a);
        assert_int_equal(p.message_type, DHCP_OFFER);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_client_guid);
        assert_memory_equal(p.client_guid, GUID, sizeof(GUID));
        assert_string_equal((const char *) p.file, MAC_TEXT "/undionly.kpxe");
        assert_int_equal(p.flags, DHCP_FLAG_BROADCAST);
        assert_false(p.has_boot_item);
}

/* QEMU's NIC ROM is iPXE: it gets the script at once (pxe-boot.md §4) */
static void test_proxy_dhcp_answer_ipxe_rom_discover(void **state) {
        Request req = request_default();
        ProxyDhcpAnswer a;
        DhcpPacket p;

        (void) state;
        req.user_class_ipxe = true;
        req.option_175 = true;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_IPXE_SCRIPT);
        assert_string_equal(a.boot_file, URL_PREFIX "boot.ipxe");
        p = reply_parse(&a);
        assert_int_equal(p.message_type, DHCP_OFFER);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_string_equal((const char *) p.file, URL_PREFIX "boot.ipxe");
}

static void test_proxy_dhcp_answer_ipxe_by_user_class_or_175(void **state) {
        ProxyDhcpAnswer a;
        Request req;

        (void) state;
        /* each alone is enough, and comes before the architecture: an arch
         * we have no binary for still gets the script once it runs iPXE */
        req = request_default();
        req.arch = 11;
        req.user_class_ipxe = true;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_IPXE_SCRIPT);
        assert_string_equal(a.boot_file, URL_PREFIX "boot.ipxe");

        req = request_default();
        req.arch = 11;
        req.option_175 = true;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_IPXE_SCRIPT);

        /* iPXE EFI chainloaded from UEFI HTTP boot keeps its class */
        req = request_default();
        req.class = HTTP_CLASS;
        req.arch = 16;
        req.user_class_ipxe = true;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_IPXE_SCRIPT);
        assert_int_equal(reply_parse(&a).vendor_class, DHCP_VENDOR_CLASS_HTTP_CLIENT);
}

static void test_proxy_dhcp_answer_ovmf_discover(void **state) {
        Request req = request_default();
        ProxyDhcpAnswer a;

        (void) state;
        req.class = OVMF_CLASS;
        req.arch = 7;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_TFTP_NBP);
        assert_string_equal(a.boot_file, MAC_TEXT "/ipxe.efi");
        assert_int_equal(reply_parse(&a).message_type, DHCP_OFFER);
}

static void test_proxy_dhcp_answer_http_client(void **state) {
        Request req = request_default();
        ProxyDhcpAnswer a;
        DhcpPacket p;
        Cursor c;
        bool has_43 = false;

        (void) state;
        req.class = HTTP_CLASS;
        req.arch = 16;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(a.boot, PROXY_BOOT_HTTP_NBP);
        assert_string_equal(a.boot_file, URL_PREFIX "ipxe.efi");
        p = reply_parse(&a);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_HTTP_CLIENT);
        assert_string_equal((const char *) p.file, URL_PREFIX "ipxe.efi");
        /* no PXE vendor options for an HTTP client: walk the options */
        cursor_init(&c, a.reply, a.reply_len);
        cursor_skip(&c, 240);
        while (!cursor_at_end(&c)) {
                uint8_t code = 0, len = 0;

                cursor_get_u8(&c, &code);
                if (code == 0)
                        continue;
                if (code == 255)
                        break;
                cursor_get_u8(&c, &len);
                cursor_skip(&c, len);
                has_43 |= code == 43;
        }
        assert_int_equal(cursor_error(&c), 0);
        assert_false(has_43);
}

typedef struct ArchCase {
        const char *class;
        int arch; /* -1: no option 93 */
        const char *file; /* NULL: unsupported-arch */
} ArchCase;

static void test_proxy_dhcp_answer_arch_table(void **state) {
        static const ArchCase cases[] = {
                { IPXE_ROM_CLASS, 0, MAC_TEXT "/undionly.kpxe" },
                { OVMF_CLASS, 7, MAC_TEXT "/ipxe.efi" },
                { "PXEClient:Arch:00009:UNDI:003016", 9, MAC_TEXT "/ipxe.efi" },
                { "PXEClient:Arch:00006:UNDI:003000", 6, NULL },  /* IA32 EFI */
                { "PXEClient:Arch:00010:UNDI:003000", 10, NULL }, /* ARM32 EFI */
                { "PXEClient:Arch:00011:UNDI:003000", 11, NULL }, /* ARM64 EFI */
                { "PXEClient", 16, NULL },                        /* an HTTP arch from a PXE ROM */
                { "PXEClient", 2, NULL },                         /* Itanium */
                { "PXEClient", 0xffff, NULL },
                { HTTP_CLASS, 16, URL_PREFIX "ipxe.efi" },
                { "HTTPClient:Arch:00015:UNDI:003000", 15, NULL }, /* IA32 UEFI HTTP: ipxe.efi is x64 */
                { "HTTPClient", 7, NULL },                        /* a PXE arch from an HTTP client */
                { "HTTPClient:Arch:00019:UNDI:003000", 19, NULL }, /* ARM64 UEFI HTTP */
                /* option 93 missing: the Arch field of option 60, else BIOS for PXE */
                { "PXEClient", -1, MAC_TEXT "/undionly.kpxe" },
                { OVMF_CLASS, -1, MAC_TEXT "/ipxe.efi" },
                { "PXEClient:Arch:00011:UNDI:003000", -1, NULL },
                { HTTP_CLASS, -1, URL_PREFIX "ipxe.efi" },
                { "HTTPClient", -1, NULL },
                /* 93 wins over the Arch field */
                { OVMF_CLASS, 0, MAC_TEXT "/undionly.kpxe" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Request req = request_default();
                ProxyDhcpAnswer a;
                int r;

                req.class = cases[i].class;
                req.arch = cases[i].arch;
                r = answer(&req, &a);
                if (cases[i].file) {
                        if (r != 1 || strcmp(a.boot_file, cases[i].file) != 0)
                                fail_msg("case %zu (%s, %d): r=%d file \"%s\" drop %s", i, cases[i].class,
                                         cases[i].arch, r, a.boot_file, a.drop_reason ? a.drop_reason : "-");
                } else
                        assert_dropped(r, &a, PROXY_DHCP_DROP_UNSUPPORTED_ARCH, NULL);
        }
}

static void test_proxy_dhcp_answer_unsupported_arch_detail(void **state) {
        Request req = request_default();
        ProxyDhcpAnswer a;

        (void) state;
        req.arch = 11;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNSUPPORTED_ARCH,
                       "PXEClient architecture 11 (option 93): no boot file");
        req.arch = -1;
        req.class = "HTTPClient";
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNSUPPORTED_ARCH, "HTTPClient without an architecture");
        /* the MAC is known: the caller can say whose firmware it is */
        assert_memory_equal(a.mac, MAC, sizeof(MAC));
}

/* ---- who is answered ---- */

static void test_proxy_dhcp_answer_not_pxe(void **state) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        req.class = NULL;
        assert_dropped(answer_from(&req, true, &source, false, &a, &l), &a, PROXY_DHCP_DROP_NOT_PXE,
                       "option 60 absent");
        assert_memory_equal(a.mac, MAC, sizeof(MAC));
        assert_int_equal(l.calls, 0);

        req.class = "MSFT 5.0";
        assert_dropped(answer_from(&req, true, &source, false, &a, &l), &a, PROXY_DHCP_DROP_NOT_PXE,
                       "neither PXEClient nor HTTPClient");
        req.class = "pxeclient";
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_NOT_PXE, NULL);
        /* the iPXE user class alone does not make a PXE client */
        req.class = "udhcp 1.36.1";
        req.user_class_ipxe = true;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_NOT_PXE, NULL);
}

static void test_proxy_dhcp_answer_not_leased(void **state) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        assert_dropped(answer_from(&req, false, &source, false, &a, &l), &a, PROXY_DHCP_DROP_NOT_LEASED, "lease");
        assert_memory_equal(a.mac, MAC, sizeof(MAC));
        assert_int_equal(a.message_type, DHCP_DISCOVER);
        assert_int_equal(l.calls, 1);
        assert_memory_equal(l.asked, MAC, sizeof(MAC));

        /* iPXE clients too */
        req.option_175 = true;
        assert_dropped(answer_from(&req, false, &source, false, &a, &l), &a, PROXY_DHCP_DROP_NOT_LEASED, NULL);
}

static void test_proxy_dhcp_answer_request_on_67(void **state) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        /* the client chose the site server's offer: not for us */
        req.type = DHCP_REQUEST;
        req.server_id = OTHER_SERVER;
        assert_dropped(answer_from(&req, true, &source, false, &a, &l), &a, PROXY_DHCP_DROP_OTHER_SERVER,
                       "REQUEST names server 10.77.0.254 in option 54");
        assert_int_equal(l.calls, 0);
        assert_memory_equal(a.mac, MAC, sizeof(MAC));

        req.server_id = SERVER_ADDR;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(reply_parse(&a).message_type, DHCP_ACK);
        assert_destination(&a, INADDR_BROADCAST, DHCP_PORT_CLIENT);

        req.server_id = 0;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(reply_parse(&a).message_type, DHCP_ACK);

        req.type = DHCP_INFORM;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(reply_parse(&a).message_type, DHCP_ACK);
        req.server_id = OTHER_SERVER;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_OTHER_SERVER, "INFORM names server");

        /* a DISCOVER carrying 54 (RFC 2131 says MUST NOT) is still a DISCOVER */
        req.type = DHCP_DISCOVER;
        assert_answered(answer(&req, &a), &a);
        assert_int_equal(reply_parse(&a).message_type, DHCP_OFFER);
}

/* iPXE BIOS in the lab: unicast REQUEST from 10.77.0.50:68 to 4011 with 43.71 */
static void test_proxy_dhcp_answer_4011_boot_item(void **state) {
        struct sockaddr_in source = sockaddr(CLIENT_ADDR, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        DhcpPacket p;
        Leases l;

        (void) state;
        req.type = DHCP_REQUEST;
        req.server_id = SERVER_ADDR;
        req.ciaddr = CLIENT_ADDR;
        req.flags = 0;
        req.boot_item = true;
        assert_answered(answer_from(&req, true, &source, true, &a, &l), &a);
        assert_destination(&a, CLIENT_ADDR, DHCP_PORT_CLIENT);
        p = reply_parse(&a);
        assert_int_equal(p.message_type, DHCP_ACK);
        assert_int_equal(p.ciaddr.s_addr, htonl(CLIENT_ADDR));
        assert_true(p.has_boot_item);
        assert_int_equal(p.boot_item_type, 0x8000);
        assert_int_equal(p.boot_item_layer, 0);
        assert_string_equal(a.boot_file, MAC_TEXT "/undionly.kpxe");

        /* OVMF: from its own port 4011; 54 is not checked there */
        source = sockaddr(CLIENT_ADDR, DHCP_PORT_PXE);
        req.class = OVMF_CLASS;
        req.arch = 7;
        req.server_id = OTHER_SERVER;
        assert_answered(answer_from(&req, true, &source, true, &a, &l), &a);
        assert_destination(&a, CLIENT_ADDR, DHCP_PORT_PXE);
        assert_string_equal(a.boot_file, MAC_TEXT "/ipxe.efi");

        req.type = DHCP_INFORM;
        assert_answered(answer_from(&req, true, &source, true, &a, &l), &a);
        assert_int_equal(reply_parse(&a).message_type, DHCP_ACK);
}

static void test_proxy_dhcp_answer_unhandled_types(void **state) {
        struct sockaddr_in source = sockaddr(CLIENT_ADDR, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        assert_dropped(answer_from(&req, true, &source, true, &a, &l), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE,
                       "DISCOVER on port 4011");
        assert_int_equal(l.calls, 0);
        req.type = DHCP_RELEASE;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE, "RELEASE on port 67");
        req.type = DHCP_DECLINE;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE, "DECLINE on port 67");
        req.type = DHCP_OFFER;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE, "OFFER");
        req.type = 0;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE, "plain BOOTP");
        req.type = 200;
        assert_dropped(answer(&req, &a), &a, PROXY_DHCP_DROP_UNHANDLED_TYPE, "message type 200 on port 67");
}

/* ---- where the reply goes ---- */

static void test_proxy_dhcp_answer_destination(void **state) {
        struct sockaddr_in source;
        Request req;
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        /* relayed: back to the relay's server port */
        req = request_default();
        req.giaddr = RELAY_ADDR;
        source = sockaddr(RELAY_ADDR, DHCP_PORT_SERVER);
        assert_answered(answer_from(&req, true, &source, false, &a, &l), &a);
        assert_destination(&a, RELAY_ADDR, DHCP_PORT_SERVER);
        assert_int_equal(reply_parse(&a).giaddr.s_addr, htonl(RELAY_ADDR));

        /* relayed wins on 4011 too */
        req.type = DHCP_REQUEST;
        assert_answered(answer_from(&req, true, &source, true, &a, &l), &a);
        assert_destination(&a, RELAY_ADDR, DHCP_PORT_SERVER);

        /* a client with an address that did not ask for broadcast */
        req = request_default();
        req.type = DHCP_INFORM;
        req.ciaddr = CLIENT_ADDR;
        req.flags = 0;
        source = sockaddr(CLIENT_ADDR, DHCP_PORT_CLIENT);
        assert_answered(answer_from(&req, true, &source, false, &a, &l), &a);
        assert_destination(&a, CLIENT_ADDR, DHCP_PORT_CLIENT);

        /* ... that did ask for broadcast */
        req.flags = DHCP_FLAG_BROADCAST;
        assert_answered(answer_from(&req, true, &source, false, &a, &l), &a);
        assert_destination(&a, INADDR_BROADCAST, DHCP_PORT_CLIENT);

        /* no address, no broadcast flag: still broadcast, it cannot receive unicast */
        req = request_default();
        req.flags = 0;
        assert_answered(answer(&req, &a), &a);
        assert_destination(&a, INADDR_BROADCAST, DHCP_PORT_CLIENT);
}

static void test_proxy_dhcp_answer_bad_source(void **state) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l;

        (void) state;
        req.type = DHCP_REQUEST;
        assert_dropped(answer_from(&req, true, &source, true, &a, &l), &a, PROXY_DHCP_DROP_BAD_SOURCE,
                       "port 4011 from address 0 or port 0");
        source = sockaddr(CLIENT_ADDR, 0);
        assert_dropped(answer_from(&req, true, &source, true, &a, &l), &a, PROXY_DHCP_DROP_BAD_SOURCE, NULL);
        assert_memory_equal(a.mac, MAC, sizeof(MAC));
}

/* ---- malformed packets and local faults ---- */

static void test_proxy_dhcp_answer_malformed(void **state) {
        static const uint8_t zero_mac[6] = {};
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        ProxyDhcpServer srv = server_default();
        Request req = request_default();
        ProxyDhcpAnswer a;
        Leases l = { .answer = true };
        size_t n;
        _cleanup_free_ uint8_t *data = request_build(&req, &n);

        (void) state;
        assert_dropped(proxy_dhcp_answer(&srv, leased, &l, data, 100, &source, false, &a), &a,
                       DHCP_REASON_SHORT, "packet of 100 bytes");
        assert_memory_equal(a.mac, zero_mac, sizeof(zero_mac));
        assert_dropped(proxy_dhcp_answer(&srv, leased, &l, NULL, 0, &source, false, &a), &a, DHCP_REASON_SHORT,
                       NULL);
        /* the last option cut in half */
        assert_dropped(proxy_dhcp_answer(&srv, leased, &l, data, n - 5, &source, false, &a), &a,
                       DHCP_REASON_OPTION_OVERRUN, "option 97");
        assert_int_equal(l.calls, 0);
}

static void test_proxy_dhcp_answer_invalid(void **state) {
        struct sockaddr_in source = sockaddr(0, DHCP_PORT_CLIENT);
        Request req = request_default();
        ProxyDhcpServer srv = server_default();
        ProxyDhcpAnswer a;
        Leases l = { .answer = true };
        size_t n;
        _cleanup_free_ uint8_t *data = request_build(&req, &n);

        (void) state;
        assert_int_equal(proxy_dhcp_answer(&srv, leased, &l, data, n, &source, false, NULL), -EINVAL);
        assert_int_equal(proxy_dhcp_answer(NULL, leased, &l, data, n, &source, false, &a), -EINVAL);
        assert_int_equal(proxy_dhcp_answer(&srv, NULL, &l, data, n, &source, false, &a), -EINVAL);
        assert_int_equal(proxy_dhcp_answer(&srv, leased, &l, data, n, NULL, false, &a), -EINVAL);
        srv.http_port = 0;
        assert_int_equal(proxy_dhcp_answer(&srv, leased, &l, data, n, &source, false, &a), -EINVAL);
        srv = server_default();
        srv.address.s_addr = 0;
        assert_int_equal(proxy_dhcp_answer(&srv, leased, &l, data, n, &source, false, &a), -EINVAL);
        assert_null(a.drop_reason);
        assert_int_equal(l.calls, 0);
        srv = server_default();
        assert_int_equal(proxy_dhcp_answer(&srv, leased, &l, data, n, &source, false, &a), 1);
}

static void test_proxy_dhcp_drop_reasons_table(void **state) {
        size_t n = 0;

        (void) state;
        for (const char *const *r = proxy_dhcp_drop_reasons; *r; r++, n++) {
                assert_true(proxy_dhcp_drop_reason_is_known(*r));
                for (const char *c = *r; *c; c++)
                        assert_true((*c >= 'a' && *c <= 'z') || *c == '-');
                for (const char *const *q = proxy_dhcp_drop_reasons; q != r; q++)
                        assert_string_not_equal(*q, *r);
        }
        assert_int_equal(n, 15);
        for (const char *const *r = dhcp_packet_reasons; *r; r++)
                assert_true(proxy_dhcp_drop_reason_is_known(*r));
        assert_false(proxy_dhcp_drop_reason_is_known("answered"));
        assert_false(proxy_dhcp_drop_reason_is_known(NULL));
        assert_string_equal(proxy_dhcp_boot_to_string(PROXY_BOOT_TFTP_NBP), "tftp-nbp");
        assert_string_equal(proxy_dhcp_boot_to_string(PROXY_BOOT_HTTP_NBP), "http-nbp");
        assert_string_equal(proxy_dhcp_boot_to_string(PROXY_BOOT_IPXE_SCRIPT), "ipxe-script");
        assert_null(proxy_dhcp_boot_to_string(_PROXY_BOOT_MAX));
        assert_null(proxy_dhcp_boot_to_string(_PROXY_BOOT_INVALID));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proxy_dhcp_answer_bios_pxe_rom),
                cmocka_unit_test(test_proxy_dhcp_answer_ipxe_rom_discover),
                cmocka_unit_test(test_proxy_dhcp_answer_ipxe_by_user_class_or_175),
                cmocka_unit_test(test_proxy_dhcp_answer_ovmf_discover),
                cmocka_unit_test(test_proxy_dhcp_answer_http_client),
                cmocka_unit_test(test_proxy_dhcp_answer_arch_table),
                cmocka_unit_test(test_proxy_dhcp_answer_unsupported_arch_detail),
                cmocka_unit_test(test_proxy_dhcp_answer_not_pxe),
                cmocka_unit_test(test_proxy_dhcp_answer_not_leased),
                cmocka_unit_test(test_proxy_dhcp_answer_request_on_67),
                cmocka_unit_test(test_proxy_dhcp_answer_4011_boot_item),
                cmocka_unit_test(test_proxy_dhcp_answer_unhandled_types),
                cmocka_unit_test(test_proxy_dhcp_answer_destination),
                cmocka_unit_test(test_proxy_dhcp_answer_bad_source),
                cmocka_unit_test(test_proxy_dhcp_answer_malformed),
                cmocka_unit_test(test_proxy_dhcp_answer_invalid),
                cmocka_unit_test(test_proxy_dhcp_drop_reasons_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
