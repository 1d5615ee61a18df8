/* Tests for agent/boot/dhcp-packet.c: the DISCOVERs that QEMU's iPXE ROM
 * (SeaBIOS) and OVMF send (option values as captured in docs/pxe-boot.md
 * §2-3), built here with the Writer; option 97's byte order; overload and
 * RFC 3396 concatenation; every refusal reason with its truncated, overrun
 * or zero-length case and exact fits; the reply's byte layout. Packets are
 * handed to the parser in exact-size heap copies so ASan sees any read past
 * the end. */
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
#include "core/cleanup.h"
#include "core/cursor.h"

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x77, 0x10, 0x01 };
/* QEMU -uuid 8c2f7a4e-3f7b-4a8e-9d1c-5e6f70819203 as option 97 carries it:
 * type 0, then the first three fields little-endian (pxe-boot.md §2) */
static const uint8_t GUID[17] = { 0x00, 0x4e, 0x7a, 0x2f, 0x8c, 0x7b, 0x3f, 0x8e, 0x4a,
                                  0x9d, 0x1c, 0x5e, 0x6f, 0x70, 0x81, 0x92, 0x03 };
#define GUID_TEXT "8c2f7a4e-3f7b-4a8e-9d1c-5e6f70819203"
/* what iPXE asks for (parameter request list) and sends in 175 (its
 * features: PXE ext, HTTP, DNS, TFTP, version 1.0.0, bus id) */
static const uint8_t IPXE_PRL[] = { 1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133,
                                    134, 135, 175, 203 };
static const uint8_t IPXE_175[] = { 0x10, 0x01, 0x02, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0x13, 0x01, 0x01,
                                    0x15, 0x01, 0x01, 0x17, 0x01, 0x01, 0xeb, 0x03, 0x01, 0x00, 0x00,
                                    0xb1, 0x05, 0x01, 0x10, 0xec, 0x81, 0x39 };
static const uint8_t OVMF_PRL[] = { 1, 3, 6, 7, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43,
                                    50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135 };
#define IPXE_ROM_CLASS "PXEClient:Arch:00000:UNDI:002001"
#define OVMF_CLASS "PXEClient:Arch:00007:UNDI:003000"

/* ---- building requests ---- */

typedef struct Header {
        uint8_t op, htype, hlen, hops;
        uint32_t xid;
        uint16_t secs, flags;
        uint32_t ciaddr, yiaddr, siaddr, giaddr; /* host order */
        uint8_t chaddr[16];
        uint8_t sname[64];
        uint8_t file[128];
        uint32_t cookie;
} Header;

typedef struct Builder {
        uint8_t buf[2048];
        Writer w;
} Builder;

static Header header_default(void) {
        Header h = {
                .op = 1,
                .htype = 1,
                .hlen = 6,
                .xid = 0x1a2b3c4d,
                .secs = 4,
                .flags = DHCP_FLAG_BROADCAST,
                .cookie = 0x63825363,
        };
        memcpy(h.chaddr, MAC, sizeof(MAC));
        return h;
}

static void b_start(Builder *b, const Header *h) {
        writer_init(&b->w, b->buf, sizeof(b->buf));
        writer_put_u8(&b->w, h->op);
        writer_put_u8(&b->w, h->htype);
        writer_put_u8(&b->w, h->hlen);
        writer_put_u8(&b->w, h->hops);
        writer_put_be32(&b->w, h->xid);
        writer_put_be16(&b->w, h->secs);
        writer_put_be16(&b->w, h->flags);
        writer_put_be32(&b->w, h->ciaddr);
        writer_put_be32(&b->w, h->yiaddr);
        writer_put_be32(&b->w, h->siaddr);
        writer_put_be32(&b->w, h->giaddr);
        writer_put_bytes(&b->w, h->chaddr, sizeof(h->chaddr));
        writer_put_bytes(&b->w, h->sname, sizeof(h->sname));
        writer_put_bytes(&b->w, h->file, sizeof(h->file));
        writer_put_be32(&b->w, h->cookie);
}

static void b_default(Builder *b) {
        Header h = header_default();
        b_start(b, &h);
}

static void b_bytes(Builder *b, const void *p, size_t n) {
        writer_put_bytes(&b->w, p, n);
}

static void b_u8(Builder *b, uint8_t v) {
        writer_put_u8(&b->w, v);
}

static void b_option(Builder *b, uint8_t code, const void *v, size_t n) {
        writer_put_u8(&b->w, code);
        writer_put_u8(&b->w, (uint8_t) n);
        writer_put_bytes(&b->w, v, n);
}

static void b_str(Builder *b, uint8_t code, const char *s) {
        b_option(b, code, s, strlen(s));
}

static void b_type(Builder *b, uint8_t type) {
        b_option(b, 53, &type, 1);
}

static void b_arch(Builder *b, uint16_t arch) {
        uint8_t v[2] = { (uint8_t) (arch >> 8), (uint8_t) arch };
        b_option(b, 93, v, 2);
}

/* An exact-size heap copy of what was built. */
static uint8_t *b_take(Builder *b, size_t *ret_size) {
        size_t n = writer_length(&b->w);
        uint8_t *p = malloc(n ? n : 1);

        assert_int_equal(writer_error(&b->w), 0);
        assert_non_null(p);
        memcpy(p, b->buf, n);
        *ret_size = n;
        return p;
}

static DhcpPacket parse_ok(Builder *b) {
        DhcpError err = {};
        DhcpPacket p;
        size_t n;
        _cleanup_free_ uint8_t *data = b_take(b, &n);

        if (dhcp_packet_parse(data, n, &p, &err) < 0)
                fail_msg("refused: %s: %s", err.reason, err.detail);
        assert_null(err.reason);
        return p;
}

/* Refused with `reason`; `detail` (when not NULL) must appear in the detail.
 * *ret must stay untouched. */
static void parse_refused(Builder *b, const char *reason, const char *detail) {
        DhcpError err = {};
        DhcpPacket p, q;
        size_t n;
        _cleanup_free_ uint8_t *data = b_take(b, &n);

        memset(&p, 0xa5, sizeof(p));
        memcpy(&q, &p, sizeof(p));
        assert_int_equal(dhcp_packet_parse(data, n, &p, &err), -EBADMSG);
        assert_non_null(err.reason);
        assert_string_equal(err.reason, reason);
        assert_true(dhcp_packet_reason_is_known(err.reason));
        assert_true(strlen(err.detail) > 0);
        if (detail && !strstr(err.detail, detail))
                fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail);
        assert_memory_equal(&p, &q, sizeof(p));
}

static void b_ipxe_rom_discover(Builder *b) {
        static const uint8_t max_size[] = { 0x05, 0xc0 }, undi[] = { 1, 2, 1 };
        uint8_t client_id[7] = { 1 };

        memcpy(client_id + 1, MAC, sizeof(MAC));
        b_default(b);
        b_type(b, DHCP_DISCOVER);
        b_option(b, 57, max_size, sizeof(max_size));
        b_arch(b, 0);
        b_option(b, 94, undi, sizeof(undi));
        b_str(b, 60, IPXE_ROM_CLASS);
        b_str(b, 77, "iPXE");
        b_option(b, 55, IPXE_PRL, sizeof(IPXE_PRL));
        b_option(b, 175, IPXE_175, sizeof(IPXE_175));
        b_option(b, 61, client_id, sizeof(client_id));
        b_option(b, 97, GUID, sizeof(GUID));
        b_u8(b, 255);
}

static void b_ovmf_discover(Builder *b) {
        static const uint8_t max_size[] = { 0x05, 0xc0 }, undi[] = { 1, 3, 0 };

        b_default(b);
        b_type(b, DHCP_DISCOVER);
        b_option(b, 57, max_size, sizeof(max_size));
        b_option(b, 55, OVMF_PRL, sizeof(OVMF_PRL));
        b_option(b, 97, GUID, sizeof(GUID));
        b_option(b, 94, undi, sizeof(undi));
        b_arch(b, 7);
        b_str(b, 60, OVMF_CLASS);
        b_u8(b, 255);
        /* OVMF pads its DISCOVER like any BOOTP client */
        writer_put_zeros(&b->w, 40);
}

/* ---- real clients ---- */

static void test_dhcp_packet_parse_ipxe_rom_discover(void **state) {
        Builder b;
        DhcpPacket p;
        uint8_t chaddr[16] = {};

        (void) state;
        b_ipxe_rom_discover(&b);
        p = parse_ok(&b);
        memcpy(chaddr, MAC, sizeof(MAC));
        assert_int_equal(p.op, 1);
        assert_int_equal(p.htype, 1);
        assert_int_equal(p.hlen, 6);
        assert_int_equal(p.hops, 0);
        assert_int_equal(p.xid, 0x1a2b3c4d);
        assert_int_equal(p.secs, 4);
        assert_int_equal(p.flags, DHCP_FLAG_BROADCAST);
        assert_int_equal(p.ciaddr.s_addr, 0);
        assert_int_equal(p.yiaddr.s_addr, 0);
        assert_int_equal(p.siaddr.s_addr, 0);
        assert_int_equal(p.giaddr.s_addr, 0);
        assert_memory_equal(p.chaddr, chaddr, sizeof(chaddr));
        assert_memory_equal(p.mac, MAC, sizeof(MAC));
        assert_int_equal(p.overload, 0);
        assert_int_equal(p.message_type, DHCP_DISCOVER);
        assert_false(p.has_server_id);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_vendor_arch);
        assert_int_equal(p.vendor_arch, 0);
        assert_true(p.has_client_arch);
        assert_int_equal(p.client_arch, 0);
        assert_true(p.has_client_guid);
        assert_memory_equal(p.client_guid, GUID, sizeof(GUID));
        assert_true(p.is_ipxe);
        assert_false(p.has_boot_item);
}

static void test_dhcp_packet_parse_ovmf_discover(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        b_ovmf_discover(&b);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);
        assert_memory_equal(p.mac, MAC, sizeof(MAC));
        assert_int_equal(p.xid, 0x1a2b3c4d);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_vendor_arch);
        assert_int_equal(p.vendor_arch, 7);
        assert_true(p.has_client_arch);
        assert_int_equal(p.client_arch, 7);
        assert_true(p.has_client_guid);
        assert_memory_equal(p.client_guid, GUID, sizeof(GUID));
        assert_false(p.is_ipxe);
        assert_false(p.has_boot_item);
        assert_false(p.has_server_id);
}

/* iPXE BIOS in the lab: a unicast REQUEST to 4011 with 54 and 43.71 */
static void test_dhcp_packet_parse_boot_item_request(void **state) {
        static const uint8_t server[] = { 10, 77, 0, 1 }, pxe[] = { 71, 4, 0x80, 0x00, 0x00, 0x00, 255 };
        Header h = header_default();
        Builder b;
        DhcpPacket p;

        (void) state;
        h.ciaddr = 0x0a4d0032; /* 10.77.0.50 */
        h.flags = 0;
        b_start(&b, &h);
        b_type(&b, DHCP_REQUEST);
        b_option(&b, 54, server, sizeof(server));
        b_arch(&b, 0);
        b_str(&b, 60, IPXE_ROM_CLASS);
        b_option(&b, 43, pxe, sizeof(pxe));
        b_option(&b, 97, GUID, sizeof(GUID));
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_REQUEST);
        assert_int_equal(p.ciaddr.s_addr, htonl(0x0a4d0032));
        assert_int_equal(p.flags, 0);
        assert_true(p.has_server_id);
        assert_int_equal(p.server_id.s_addr, htonl(0x0a4d0001));
        assert_true(p.has_boot_item);
        assert_int_equal(p.boot_item_type, 0x8000);
        assert_int_equal(p.boot_item_layer, 0);
}

static void test_dhcp_packet_parse_http_client(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_arch(&b, 16);
        b_str(&b, 60, "HTTPClient:Arch:00016:UNDI:003000");
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_HTTP_CLIENT);
        assert_int_equal(p.client_arch, 16);
        assert_int_equal(p.vendor_arch, 16);
        assert_false(p.has_client_guid);
        assert_false(p.is_ipxe);
}

/* 93 is a list, most preferred first (RFC 4578 §2.1) */
static void test_dhcp_packet_parse_client_arch_first_of_list(void **state) {
        static const uint8_t archs[] = { 0, 9, 0, 7 };
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_option(&b, 93, archs, sizeof(archs));
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_true(p.has_client_arch);
        assert_int_equal(p.client_arch, 9);
}

static void test_dhcp_client_guid_format_byte_order(void **state) {
        char s[DHCP_UUID_STRING_MAX];
        static const uint8_t ordered[17] = { 0, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                             0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

        (void) state;
        dhcp_client_guid_format(GUID, s);
        assert_string_equal(s, GUID_TEXT);
        dhcp_client_guid_format(ordered, s);
        assert_string_equal(s, "33221100-5544-7766-8899-aabbccddeeff");
}

static void test_dhcp_mac_format_hexhyp(void **state) {
        static const uint8_t high[6] = { 0xde, 0xad, 0xBE, 0xef, 0x00, 0x0a };
        char s[DHCP_MAC_STRING_MAX];

        (void) state;
        dhcp_mac_format(MAC, s);
        assert_string_equal(s, "52-54-00-77-10-01");
        dhcp_mac_format(high, s);
        assert_string_equal(s, "de-ad-be-ef-00-0a");
}

static void test_dhcp_names(void **state) {
        (void) state;
        assert_string_equal(dhcp_message_type_name(DHCP_DISCOVER), "DISCOVER");
        assert_string_equal(dhcp_message_type_name(DHCP_INFORM), "INFORM");
        assert_null(dhcp_message_type_name(0));
        assert_null(dhcp_message_type_name(9));
        assert_string_equal(dhcp_vendor_class_to_string(DHCP_VENDOR_CLASS_PXE_CLIENT), "PXEClient");
        assert_string_equal(dhcp_vendor_class_to_string(DHCP_VENDOR_CLASS_HTTP_CLIENT), "HTTPClient");
        assert_string_equal(dhcp_vendor_class_to_string(DHCP_VENDOR_CLASS_NONE), "none");
        assert_null(dhcp_vendor_class_to_string(_DHCP_VENDOR_CLASS_MAX));
        assert_null(dhcp_vendor_class_to_string(_DHCP_VENDOR_CLASS_INVALID));
}

/* ---- option 60 and 77 classification ---- */

typedef struct ClassCase {
        const char *value;
        DhcpVendorClass class;
        int arch; /* -1: no Arch field */
} ClassCase;

static void test_dhcp_packet_parse_vendor_class_table(void **state) {
        static const ClassCase cases[] = {
                { "PXEClient", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { IPXE_ROM_CLASS, DHCP_VENDOR_CLASS_PXE_CLIENT, 0 },
                { OVMF_CLASS, DHCP_VENDOR_CLASS_PXE_CLIENT, 7 },
                { "PXEClient:Arch:00009", DHCP_VENDOR_CLASS_PXE_CLIENT, 9 },
                { "PXEClientX", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { "PXEClient:Arch:0007:UNDI:003000", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { "PXEClient:Arch:000070", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { "PXEClient:Arch:0000x", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { "PXEClient:Arch:99999", DHCP_VENDOR_CLASS_PXE_CLIENT, -1 },
                { "PXEClient:Arch:65535", DHCP_VENDOR_CLASS_PXE_CLIENT, 65535 },
                { "HTTPClient:Arch:00016:UNDI:003000", DHCP_VENDOR_CLASS_HTTP_CLIENT, 16 },
                { "HTTPClient", DHCP_VENDOR_CLASS_HTTP_CLIENT, -1 },
                { "pxeclient:Arch:00000", DHCP_VENDOR_CLASS_OTHER, -1 },
                { "PXEClien", DHCP_VENDOR_CLASS_OTHER, -1 },
                { "HTTPclient", DHCP_VENDOR_CLASS_OTHER, -1 },
                { " PXEClient", DHCP_VENDOR_CLASS_OTHER, -1 },
                { "MSFT 5.0", DHCP_VENDOR_CLASS_OTHER, -1 },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Builder b;
                DhcpPacket p;

                b_default(&b);
                b_str(&b, 60, cases[i].value);
                b_u8(&b, 255);
                p = parse_ok(&b);
                if (p.vendor_class != cases[i].class || p.has_vendor_arch != (cases[i].arch >= 0) ||
                    (cases[i].arch >= 0 && p.vendor_arch != cases[i].arch))
                        fail_msg("\"%s\": class %d arch %d/%u", cases[i].value, p.vendor_class, p.has_vendor_arch,
                                 p.vendor_arch);
        }
}

static void test_dhcp_packet_parse_no_vendor_class(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_NONE);
        assert_false(p.has_vendor_arch);
        assert_false(p.has_client_arch);
}

typedef struct UserClassCase {
        const char *value;
        size_t size;
        bool ipxe;
} UserClassCase;

#define UC(s, ipxe) { s, sizeof(s) - 1, ipxe }

static void test_dhcp_packet_parse_user_class_table(void **state) {
        static const UserClassCase cases[] = {
                UC("iPXE", true),                     /* what iPXE sends */
                UC("\x04iPXE", true),                 /* RFC 3004 items */
                UC("\x0aTinkerbell\x04iPXE", true),   /* second item */
                UC("\x04iPXE\x0aTinkerbell", true),
                UC("ipxe", false),                    /* case-sensitive */
                UC("IPXE", false),
                UC("iPXE2", false),
                UC("\x05iPXE!", false),
                UC("\x04iPX", false),                 /* item overruns */
                UC("\x00\x04iPXE", false),            /* zero-length item: malformed list */
                UC("Tinkerbell", false),
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Builder b;
                DhcpPacket p;

                b_default(&b);
                b_option(&b, 77, cases[i].value, cases[i].size);
                b_u8(&b, 255);
                p = parse_ok(&b);
                if (p.is_ipxe != cases[i].ipxe)
                        fail_msg("user class case %zu: is_ipxe %d", i, p.is_ipxe);
        }
}

static void test_dhcp_packet_parse_ipxe_by_175_alone(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_str(&b, 60, IPXE_ROM_CLASS);
        b_option(&b, 175, IPXE_175, sizeof(IPXE_175));
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_true(p.is_ipxe);

        /* an empty 175 still says "I am iPXE" */
        b_default(&b);
        b_option(&b, 175, NULL, 0);
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_true(p.is_ipxe);
}

/* ---- RFC 3396 concatenation ---- */

static void test_dhcp_packet_parse_concatenation(void **state) {
        static const uint8_t pxe1[] = { 6, 1, 8, 71, 4, 0x00 }, pxe2[] = { 0x07, 0x00, 0x01, 255 };
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_str(&b, 60, "PXECl");
        b_type(&b, DHCP_REQUEST);
        b_str(&b, 60, "ient:Arch:0");
        b_str(&b, 77, "iP");
        b_option(&b, 43, pxe1, sizeof(pxe1));
        b_str(&b, 60, "0009:UNDI:003000");
        b_str(&b, 77, "XE");
        b_option(&b, 43, pxe2, sizeof(pxe2));
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_vendor_arch);
        assert_int_equal(p.vendor_arch, 9);
        assert_true(p.is_ipxe);
        assert_true(p.has_boot_item);
        assert_int_equal(p.boot_item_type, 7);
        assert_int_equal(p.boot_item_layer, 1);
}

/* ---- option 52: overload ---- */

static void test_dhcp_packet_parse_overload_file(void **state) {
        Header h = header_default();
        Builder b, f;
        DhcpPacket p;

        (void) state;
        writer_init(&f.w, h.file, sizeof(h.file));
        b_arch(&f, 7);
        b_str(&f, 60, "ient");
        b_u8(&f, 255);
        b_start(&b, &h);
        b_u8(&b, 52);
        b_u8(&b, 1);
        b_u8(&b, 1);
        b_type(&b, DHCP_DISCOVER);
        b_str(&b, 60, "PXECl");
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.overload, 1);
        assert_int_equal(p.message_type, DHCP_DISCOVER);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_client_arch);
        assert_int_equal(p.client_arch, 7);
        assert_memory_equal(p.file, h.file, sizeof(h.file));
}

static void test_dhcp_packet_parse_overload_sname(void **state) {
        Header h = header_default();
        Builder b, s;
        DhcpPacket p;

        (void) state;
        writer_init(&s.w, h.sname, sizeof(h.sname));
        b_type(&s, DHCP_REQUEST);
        /* no end option: the field is full to the last byte */
        b_str(&s, 12, "host-name-of-fifty-nine-bytes-filling-the-sname-field-exact");
        assert_int_equal(writer_remaining(&s.w), 0);
        /* the file field would not parse as options: not read under 52 = 2 */
        memset(h.file, 0x2b, sizeof(h.file));
        b_start(&b, &h);
        b_u8(&b, 52);
        b_u8(&b, 1);
        b_u8(&b, 2);
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.overload, 2);
        assert_int_equal(p.message_type, DHCP_REQUEST);
}

/* both fields: options first, then file, then sname (RFC 2131 §4.1) */
static void test_dhcp_packet_parse_overload_both_in_order(void **state) {
        Header h = header_default();
        Builder b, f, s;
        DhcpPacket p;

        (void) state;
        writer_init(&f.w, h.file, sizeof(h.file));
        b_str(&f, 60, "ient:Arch:00");
        b_u8(&f, 255);
        writer_init(&s.w, h.sname, sizeof(h.sname));
        b_str(&s, 60, "007");
        b_u8(&s, 255);
        b_start(&b, &h);
        b_str(&b, 60, "PXECl");
        b_u8(&b, 52);
        b_u8(&b, 1);
        b_u8(&b, 3);
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.overload, 3);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_true(p.has_vendor_arch);
        assert_int_equal(p.vendor_arch, 7);
}

/* an overload option inside file is ignored: no loop, no sname */
static void test_dhcp_packet_parse_overload_nested_ignored(void **state) {
        Header h = header_default();
        Builder b, f;
        DhcpPacket p;

        (void) state;
        writer_init(&f.w, h.file, sizeof(h.file));
        b_u8(&f, 52);
        b_u8(&f, 1);
        b_u8(&f, 3);
        b_type(&f, DHCP_INFORM);
        b_u8(&f, 255);
        memset(h.sname, 0x3c, sizeof(h.sname)); /* would overrun if read */
        b_start(&b, &h);
        b_u8(&b, 52);
        b_u8(&b, 1);
        b_u8(&b, 1);
        b_u8(&b, 255);
        p = parse_ok(&b);
        assert_int_equal(p.overload, 1);
        assert_int_equal(p.message_type, DHCP_INFORM);
}

static void test_dhcp_packet_parse_overload_refusals(void **state) {
        static const uint8_t bad_values[] = { 0, 4, 255 };
        Header h = header_default();
        Builder b, f;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad_values); i++) {
                b_default(&b);
                b_option(&b, 52, &bad_values[i], 1);
                b_u8(&b, 255);
                parse_refused(&b, DHCP_REASON_BAD_OPTION_VALUE, "option 52 at offset 240: value");
        }
        b_default(&b);
        b_option(&b, 52, "\x01\x01", 2);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_BAD_OPTION_LENGTH, "option 52 at offset 240: length 2, expected 1");
        b_default(&b);
        b_option(&b, 52, NULL, 0);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_BAD_OPTION_LENGTH, "length 0, expected 1");
        b_default(&b);
        b_option(&b, 52, "\x01", 1);
        b_option(&b, 52, "\x01", 1);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 52 at offset 243: repeated (first at offset 240)");

        /* an option overrunning the file field: its offset is the packet's */
        writer_init(&f.w, h.file, sizeof(h.file));
        b_option(&f, 12, "host", 4);
        writer_put_zeros(&f.w, sizeof(h.file) - 6 - 2);
        b_u8(&f, 60);
        b_u8(&f, 9);
        assert_int_equal(writer_remaining(&f.w), 0);
        b_start(&b, &h);
        b_option(&b, 52, "\x01", 1);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN,
                      "option 60 at offset 234: length 9, but the file field ends 0 bytes later");

        /* the length byte itself missing at the end of sname */
        h = header_default();
        memset(h.sname, 0, sizeof(h.sname));
        h.sname[63] = 60;
        b_start(&b, &h);
        b_option(&b, 52, "\x02", 1);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN, "option 60 at offset 107: the sname field ends before");

        /* a repeat across fields */
        h = header_default();
        writer_init(&f.w, h.file, sizeof(h.file));
        b_type(&f, DHCP_REQUEST);
        b_u8(&f, 255);
        b_start(&b, &h);
        b_type(&b, DHCP_DISCOVER);
        b_option(&b, 52, "\x01", 1);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 53 at offset 108: repeated (first at offset 240)");
}

/* ---- sizes and the end option ---- */

static void test_dhcp_packet_parse_sizes(void **state) {
        Builder b;
        DhcpPacket p;
        DhcpError err = {};

        (void) state;
        /* 240 bytes: header and cookie, no options at all (plain BOOTP) */
        b_default(&b);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, 0);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_NONE);

        /* 239: the same bytes, one fewer handed over */
        {
                size_t n;
                _cleanup_free_ uint8_t *data = NULL;

                b_default(&b);
                data = b_take(&b, &n);
                assert_int_equal(dhcp_packet_parse(data, n - 1, &p, &err), -EBADMSG);
                assert_string_equal(err.reason, DHCP_REASON_SHORT);
                assert_string_equal(err.detail, "packet of 239 bytes, header and cookie take 240");
        }

        assert_int_equal(dhcp_packet_parse(NULL, 0, &p, &err), -EBADMSG);
        assert_string_equal(err.reason, DHCP_REASON_SHORT);
        assert_int_equal(dhcp_packet_parse("", 0, &p, NULL), -EBADMSG);

        /* exactly DHCP_PACKET_MAX, padded after the end option */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 255);
        writer_put_zeros(&b.w, DHCP_PACKET_MAX - writer_length(&b.w));
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);

        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 255);
        writer_put_zeros(&b.w, DHCP_PACKET_MAX + 1 - writer_length(&b.w));
        parse_refused(&b, DHCP_REASON_TOO_LONG, "packet of 1501 bytes");
}

static void test_dhcp_packet_parse_end_option(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        /* no end: the last option ends exactly at the end of the packet */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_str(&b, 60, "PXEClient");
        p = parse_ok(&b);
        assert_int_equal(p.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);

        /* pads only */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        writer_put_zeros(&b.w, 7);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);

        /* whatever follows the end option is padding, never options */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 255);
        b_type(&b, DHCP_RELEASE);
        b_u8(&b, 60);
        b_u8(&b, 200);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);

        /* unknown options are skipped, zero-length ones included */
        b_default(&b);
        b_option(&b, 12, NULL, 0);
        b_option(&b, 224, "private", 7);
        b_type(&b, DHCP_DISCOVER);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);
}

/* ---- refusals ---- */

static void test_dhcp_packet_parse_header_refusals(void **state) {
        Header h;
        Builder b;

        (void) state;
        h = header_default();
        h.op = 2;
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_NOT_REQUEST, "op 2 at offset 0");
        h.op = 0;
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_NOT_REQUEST, "op 0");

        h = header_default();
        h.htype = 6; /* IEEE 802 */
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_NOT_ETHERNET, "htype 6, hlen 6");
        h = header_default();
        h.hlen = 16;
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_NOT_ETHERNET, "htype 1, hlen 16");
        h.hlen = 0;
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_NOT_ETHERNET, NULL);

        h = header_default();
        h.cookie = 0x63825364;
        b_start(&b, &h);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_BAD_COOKIE, "magic cookie 0x63825364 at offset 236");
        h.cookie = 0;
        b_start(&b, &h);
        parse_refused(&b, DHCP_REASON_BAD_COOKIE, NULL);
}

static void test_dhcp_packet_parse_overrun(void **state) {
        Builder b;

        (void) state;
        /* the code is the last byte: no length */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 60);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN,
                      "option 60 at offset 243: the packet ends before its length byte");

        /* one byte short */
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 60);
        b_u8(&b, 9);
        b_bytes(&b, "PXEClien", 8);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN,
                      "option 60 at offset 243: length 9, but the packet ends 8 bytes later");

        /* an unknown option overruns too */
        b_default(&b);
        b_u8(&b, 250);
        b_u8(&b, 1);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN, "option 250 at offset 240: length 1");

        /* a bad option after an end option is never looked at */
        b_default(&b);
        b_u8(&b, 255);
        b_u8(&b, 60);
        parse_ok(&b);
}

typedef struct LengthCase {
        uint8_t code;
        const char *value;
        size_t size;
        const char *detail;
} LengthCase;

#define LC(code, s, detail) { code, s, sizeof(s) - 1, detail }

static void test_dhcp_packet_parse_bad_lengths(void **state) {
        static const LengthCase cases[] = {
                LC(53, "", "option 53 at offset 240: length 0, expected 1"),
                LC(53, "\x01\x01", "option 53 at offset 240: length 2, expected 1"),
                LC(54, "", "option 54 at offset 240: length 0, expected 4"),
                LC(54, "\x0a\x4d\x00", "option 54 at offset 240: length 3, expected 4"),
                LC(54, "\x0a\x4d\x00\x01\x00", "length 5, expected 4"),
                LC(60, "", "option 60 at offset 240: length 0, expected at least 1"),
                LC(77, "", "option 77 at offset 240: length 0, expected at least 1"),
                LC(43, "", "option 43 at offset 240: length 0, expected at least 1"),
                LC(93, "", "option 93 at offset 240: length 0, expected at least 2"),
                LC(93, "\x00", "option 93 at offset 240: length 1, expected at least 2"),
                LC(93, "\x00\x07\x00", "option 93 at offset 240: length 3, expected an even number"),
                LC(97, "", "option 97 at offset 240: length 0, expected 17"),
                LC(97, "\x00\x4e\x7a\x2f\x8c\x7b\x3f\x8e\x4a\x9d\x1c\x5e\x6f\x70\x81\x92",
                   "option 97 at offset 240: length 16, expected 17"),
                LC(97, "\x00\x4e\x7a\x2f\x8c\x7b\x3f\x8e\x4a\x9d\x1c\x5e\x6f\x70\x81\x92\x03\x00",
                   "length 18, expected 17"),
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Builder b;

                b_default(&b);
                b_option(&b, cases[i].code, cases[i].value, cases[i].size);
                b_u8(&b, 255);
                parse_refused(&b, DHCP_REASON_BAD_OPTION_LENGTH, cases[i].detail);
        }
}

/* the exact detail, with the offset counted from the packet's start */
static void test_dhcp_packet_parse_detail_names_offset(void **state) {
        Builder b;
        DhcpError err = {};
        DhcpPacket p;
        size_t n;

        (void) state;
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);                    /* 240..242 */
        b_option(&b, 12, "qemu-pxe-client-1", 17);    /* 243..261 */
        b_option(&b, 93, "\x00\x07\x00", 3);          /* 262 */
        b_u8(&b, 255);
        _cleanup_free_ uint8_t *data = b_take(&b, &n);
        assert_int_equal(dhcp_packet_parse(data, n, &p, &err), -EBADMSG);
        assert_string_equal(err.reason, "bad-option-length");
        assert_string_equal(err.detail, "option 93 at offset 262: length 3, expected an even number");
}

static void test_dhcp_packet_parse_bad_values(void **state) {
        uint8_t guid[17];
        Builder b;

        (void) state;
        memcpy(guid, GUID, sizeof(guid));
        guid[0] = 1;
        b_default(&b);
        b_option(&b, 97, guid, sizeof(guid));
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_BAD_OPTION_VALUE, "option 97 at offset 240: type 1, expected 0");
}

static void test_dhcp_packet_parse_repeats(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        b_default(&b);
        b_type(&b, DHCP_DISCOVER);
        b_type(&b, DHCP_DISCOVER);
        b_u8(&b, 255);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 53 at offset 243: repeated (first at offset 240)");

        b_default(&b);
        b_option(&b, 54, "\x0a\x4d\x00\x01", 4);
        b_option(&b, 54, "\x0a\x4d\x00\x02", 4);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 54 at offset 246");

        b_default(&b);
        b_arch(&b, 0);
        b_arch(&b, 7);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 93 at offset 244");

        b_default(&b);
        b_option(&b, 97, GUID, sizeof(GUID));
        b_option(&b, 97, GUID, sizeof(GUID));
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "option 97 at offset 259");

        /* options we skip may repeat */
        b_default(&b);
        b_option(&b, 12, "a", 1);
        b_option(&b, 12, "b", 1);
        b_type(&b, DHCP_DISCOVER);
        p = parse_ok(&b);
        assert_int_equal(p.message_type, DHCP_DISCOVER);
}

static void test_dhcp_packet_parse_pxe_suboptions(void **state) {
        Builder b;
        DhcpPacket p;

        (void) state;
        /* 71 with a wrong length */
        b_default(&b);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 43, "\x47\x02\x80\x00\xff", 5);
        parse_refused(&b, DHCP_REASON_BAD_OPTION_LENGTH, "option 43 sub-option 71 at offset 0 of the option: length 2");

        /* a sub-option overrunning option 43 */
        b_default(&b);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 43, "\x06\x01\x08\x47\x04\x80", 6);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN, "option 43 sub-option 71 at offset 3 of the option");

        /* a sub-option code without a length */
        b_default(&b);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 43, "\x00\x47", 2);
        parse_refused(&b, DHCP_REASON_OPTION_OVERRUN, "option 43 sub-option 71 at offset 1 of the option: no length");

        /* 71 twice */
        b_default(&b);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 43, "\x47\x04\x80\x00\x00\x00\x47\x04\x80\x00\x00\x00", 12);
        parse_refused(&b, DHCP_REASON_REPEATED_OPTION, "sub-option 71 at offset 6");

        /* the same bytes from a non-PXE client are opaque vendor data */
        b_default(&b);
        b_str(&b, 60, "MSFT 5.0");
        b_option(&b, 43, "\x06\x01\x08\x47\x04\x80", 6);
        p = parse_ok(&b);
        assert_false(p.has_boot_item);

        /* 43 before 60 still counts: both are read before deciding */
        b_default(&b);
        b_option(&b, 43, "\x47\x04\x00\x00\x00\x01\xff\x47", 8);
        b_str(&b, 60, "PXEClient");
        p = parse_ok(&b);
        assert_true(p.has_boot_item);
        assert_int_equal(p.boot_item_type, 0);
        assert_int_equal(p.boot_item_layer, 1);
}

static void test_dhcp_packet_reasons_table(void **state) {
        size_t n = 0;

        (void) state;
        for (const char *const *r = dhcp_packet_reasons; *r; r++, n++) {
                assert_true(dhcp_packet_reason_is_known(*r));
                for (const char *c = *r; *c; c++)
                        assert_true((*c >= 'a' && *c <= 'z') || *c == '-');
                for (const char *const *q = dhcp_packet_reasons; q != r; q++)
                        assert_string_not_equal(*q, *r);
        }
        assert_int_equal(n, 9);
        assert_false(dhcp_packet_reason_is_known("not-pxe"));
        assert_false(dhcp_packet_reason_is_known(NULL));
}

/* ---- replies ---- */

static DhcpPacket request_ovmf(void) {
        Builder b;

        b_ovmf_discover(&b);
        return parse_ok(&b);
}

static uint32_t be32_at(const uint8_t *p, size_t offset) {
        Cursor c;
        uint32_t v = 0;

        cursor_init(&c, p, offset + 4);
        assert_int_equal(cursor_skip(&c, offset), 0);
        assert_int_equal(cursor_get_be32(&c, &v), 0);
        return v;
}

static void test_dhcp_reply_build_offer_layout(void **state) {
        static const char file[] = "52-54-00-77-10-01/ipxe.efi";
        DhcpPacket req = request_ovmf();
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = file,
        };
        uint8_t buf[DHCP_REPLY_MAX], zeros[128] = {}, expected_options[128];
        uint8_t chaddr[16] = {};
        Writer w;
        size_t len = 0, n;

        (void) state;
        req.ciaddr.s_addr = htonl(0x0a4d0063);
        req.giaddr.s_addr = htonl(0x0a4e0001);
        req.hops = 1;
        memset(buf, 0xee, sizeof(buf));
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        memcpy(chaddr, MAC, sizeof(MAC));

        assert_int_equal(buf[0], 2);
        assert_int_equal(buf[1], 1);
        assert_int_equal(buf[2], 6);
        assert_int_equal(buf[3], 0);                             /* hops */
        assert_int_equal(be32_at(buf, 4), 0x1a2b3c4d);           /* xid */
        assert_int_equal(be32_at(buf, 8), DHCP_FLAG_BROADCAST); /* secs 0, flags copied */
        assert_int_equal(be32_at(buf, 12), 0x0a4d0063);          /* ciaddr copied */
        assert_int_equal(be32_at(buf, 16), 0);                   /* yiaddr: never an address */
        assert_int_equal(be32_at(buf, 20), 0x0a4d0001);          /* siaddr: us */
        assert_int_equal(be32_at(buf, 24), 0x0a4e0001);          /* giaddr copied */
        assert_memory_equal(buf + 28, chaddr, 16);
        assert_memory_equal(buf + 44, zeros, 64);                /* sname */
        assert_memory_equal(buf + 108, file, sizeof(file));      /* file with its NUL */
        assert_memory_equal(buf + 108 + sizeof(file), zeros, 128 - sizeof(file));
        assert_int_equal(be32_at(buf, 236), 0x63825363);

        writer_init(&w, expected_options, sizeof(expected_options));
        writer_put_bytes(&w, "\x35\x01\x02", 3);                 /* 53 OFFER */
        writer_put_bytes(&w, "\x36\x04\x0a\x4d\x00\x01", 6);     /* 54 */
        writer_put_bytes(&w, "\x3c\x09PXEClient", 11);           /* 60 */
        writer_put_bytes(&w, "\x61\x11", 2);                     /* 97 echoed */
        writer_put_bytes(&w, GUID, sizeof(GUID));
        writer_put_bytes(&w, "\x2b\x04\x06\x01\x08\xff", 6);     /* 43: 6 = 8, end */
        writer_put_u8(&w, 67);
        writer_put_u8(&w, sizeof(file) - 1);
        writer_put_bytes(&w, file, sizeof(file) - 1);
        writer_put_u8(&w, 255);
        assert_int_equal(writer_error(&w), 0);
        n = writer_length(&w);
        assert_int_equal(len, 240 + n);
        assert_true(len > DHCP_REPLY_MIN);
        assert_memory_equal(buf + 240, expected_options, n);
        assert_int_equal(buf[len], 0xee); /* nothing written past the reply */
}

static void test_dhcp_reply_build_padded_to_300(void **state) {
        DhcpPacket req = request_ovmf();
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = "x",
        };
        uint8_t buf[DHCP_REPLY_MAX], zeros[64] = {};
        size_t len = 0;

        (void) state;
        req.has_client_guid = false;
        memset(buf, 0xee, sizeof(buf));
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_int_equal(len, DHCP_REPLY_MIN);
        /* 53, 54, 60, 43 take 240..265, 67 "x" 266..268, the end 269, then zeros */
        assert_memory_equal(buf + 266, "\x43\x01x\xff", 4);
        assert_memory_equal(buf + 270, zeros, 300 - 270);
        assert_int_equal(buf[300], 0xee);

        /* exact fit and one short */
        assert_int_equal(dhcp_reply_build(&req, &params, buf, DHCP_REPLY_MIN, &len), 0);
        assert_int_equal(len, DHCP_REPLY_MIN);
        len = 7;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, DHCP_REPLY_MIN - 1, &len), -ENOBUFS);
        assert_int_equal(len, 7);
}

static void test_dhcp_reply_build_exact_fit(void **state) {
        DhcpPacket req = request_ovmf();
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = "52-54-00-77-10-01/undionly.kpxe",
        };
        uint8_t buf[DHCP_REPLY_MAX];
        size_t len = 0, need;

        (void) state;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &need), 0);
        _cleanup_free_ uint8_t *exact = malloc(need);
        assert_non_null(exact);
        assert_int_equal(dhcp_reply_build(&req, &params, exact, need, &len), 0);
        assert_int_equal(len, need);
        assert_int_equal(dhcp_reply_build(&req, &params, exact, need - 1, &len), -ENOBUFS);
        assert_int_equal(dhcp_reply_build(&req, &params, exact, 0, &len), -ENOBUFS);
}

/* the longest boot file with every option: within DHCP_REPLY_MAX */
static void test_dhcp_reply_build_longest(void **state) {
        Builder b;
        DhcpPacket req;
        char file[DHCP_BOOT_FILE_MAX + 2];
        DhcpReplyParams params = {
                .message_type = DHCP_ACK,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = file,
        };
        uint8_t buf[DHCP_REPLY_MAX + 100];
        size_t len = 0;

        (void) state;
        b_default(&b);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 97, GUID, sizeof(GUID));
        b_option(&b, 43, "\x47\x04\x80\x00\x00\x00", 6);
        req = parse_ok(&b);
        memset(file, 'f', DHCP_BOOT_FILE_MAX);
        file[DHCP_BOOT_FILE_MAX] = '\0';
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_true(len <= DHCP_REPLY_MAX);
        params.vendor_class = DHCP_VENDOR_CLASS_HTTP_CLIENT;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_true(len <= DHCP_REPLY_MAX);
        file[DHCP_BOOT_FILE_MAX] = 'f';
        file[DHCP_BOOT_FILE_MAX + 1] = '\0';
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), -EINVAL);
}

/* `file` holds the boot file only when it fits with its NUL; option 67 always */
static void test_dhcp_reply_build_file_field_fit(void **state) {
        DhcpPacket req = request_ovmf();
        char file[129];
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_HTTP_CLIENT,
                .boot_file = file,
        };
        uint8_t buf[DHCP_REPLY_MAX], zeros[128] = {};
        size_t len = 0;

        (void) state;
        memset(file, 'a', 127);
        file[127] = '\0';
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_memory_equal(buf + 108, file, 128);
        /* 53, 54, 60 "HTTPClient", 97, then 67: no 43 for HTTPClient */
        assert_memory_equal(buf + 240 + 3 + 6, "\x3c\x0aHTTPClient\x61\x11", 14);
        assert_int_equal(buf[240 + 3 + 6 + 12 + 19], 67);
        assert_int_equal(buf[240 + 3 + 6 + 12 + 19 + 1], 127);

        file[127] = 'a';
        file[128] = '\0';
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_memory_equal(buf + 108, zeros, 128);
        assert_int_equal(buf[240 + 3 + 6 + 12 + 19], 67);
        assert_int_equal(buf[240 + 3 + 6 + 12 + 19 + 1], 128);
        assert_memory_equal(buf + 240 + 3 + 6 + 12 + 19 + 2, file, 128);
        assert_int_equal(buf[240 + 3 + 6 + 12 + 19 + 2 + 128], 255);
}

static void test_dhcp_reply_build_boot_item_echo(void **state) {
        Builder b;
        DhcpPacket req;
        DhcpReplyParams params = {
                .message_type = DHCP_ACK,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = "f",
        };
        uint8_t buf[DHCP_REPLY_MAX];
        size_t len = 0;

        (void) state;
        b_default(&b);
        b_type(&b, DHCP_REQUEST);
        b_str(&b, 60, "PXEClient");
        b_option(&b, 43, "\x47\x04\x80\x01\x00\x02\xff", 7);
        req = parse_ok(&b);
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_memory_equal(buf + 240, "\x35\x01\x05", 3);
        assert_memory_equal(buf + 240 + 3 + 6 + 11, "\x2b\x0a\x06\x01\x08\x47\x04\x80\x01\x00\x02\xff", 12);
        assert_memory_equal(buf + 240 + 3 + 6 + 11 + 12, "\x43\x01" "f\xff", 4);

        /* an OFFER never carries 71 */
        params.message_type = DHCP_OFFER;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_memory_equal(buf + 240 + 3 + 6 + 11, "\x2b\x04\x06\x01\x08\xff", 6);
}

static void test_dhcp_reply_build_invalid(void **state) {
        DhcpPacket req = request_ovmf();
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = "f",
        };
        uint8_t buf[DHCP_REPLY_MAX];
        size_t len = 0;

        (void) state;
        assert_int_equal(dhcp_reply_build(NULL, &params, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(dhcp_reply_build(&req, NULL, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(dhcp_reply_build(&req, &params, NULL, sizeof(buf), &len), -EINVAL);
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), NULL), -EINVAL);
        params.message_type = DHCP_REQUEST;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), -EINVAL);
        params.message_type = DHCP_ACK;
        params.vendor_class = DHCP_VENDOR_CLASS_OTHER;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), -EINVAL);
        params.vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT;
        params.boot_file = "";
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), -EINVAL);
        params.boot_file = NULL;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), -EINVAL);
}

/* a reply, turned into a request, parses back to what was put in */
static void test_dhcp_reply_build_round_trip(void **state) {
        DhcpPacket req = request_ovmf(), back;
        DhcpReplyParams params = {
                .message_type = DHCP_OFFER,
                .server = { htonl(0x0a4d0001) },
                .vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT,
                .boot_file = "52-54-00-77-10-01/ipxe.efi",
        };
        uint8_t buf[DHCP_REPLY_MAX];
        DhcpError err = {};
        size_t len = 0;

        (void) state;
        assert_int_equal(dhcp_reply_build(&req, &params, buf, sizeof(buf), &len), 0);
        assert_int_equal(dhcp_packet_parse(buf, len, &back, &err), -EBADMSG);
        assert_string_equal(err.reason, DHCP_REASON_NOT_REQUEST);
        buf[0] = 1;
        assert_int_equal(dhcp_packet_parse(buf, len, &back, &err), 0);
        assert_int_equal(back.message_type, DHCP_OFFER);
        assert_int_equal(back.xid, req.xid);
        assert_memory_equal(back.mac, MAC, sizeof(MAC));
        assert_int_equal(back.yiaddr.s_addr, 0);
        assert_int_equal(back.siaddr.s_addr, htonl(0x0a4d0001));
        assert_true(back.has_server_id);
        assert_int_equal(back.server_id.s_addr, htonl(0x0a4d0001));
        assert_int_equal(back.vendor_class, DHCP_VENDOR_CLASS_PXE_CLIENT);
        assert_memory_equal(back.client_guid, GUID, sizeof(GUID));
        assert_string_equal((const char *) back.file, params.boot_file);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dhcp_packet_parse_ipxe_rom_discover),
                cmocka_unit_test(test_dhcp_packet_parse_ovmf_discover),
                cmocka_unit_test(test_dhcp_packet_parse_boot_item_request),
                cmocka_unit_test(test_dhcp_packet_parse_http_client),
                cmocka_unit_test(test_dhcp_packet_parse_client_arch_first_of_list),
                cmocka_unit_test(test_dhcp_client_guid_format_byte_order),
                cmocka_unit_test(test_dhcp_mac_format_hexhyp),
                cmocka_unit_test(test_dhcp_names),
                cmocka_unit_test(test_dhcp_packet_parse_vendor_class_table),
                cmocka_unit_test(test_dhcp_packet_parse_no_vendor_class),
                cmocka_unit_test(test_dhcp_packet_parse_user_class_table),
                cmocka_unit_test(test_dhcp_packet_parse_ipxe_by_175_alone),
                cmocka_unit_test(test_dhcp_packet_parse_concatenation),
                cmocka_unit_test(test_dhcp_packet_parse_overload_file),
                cmocka_unit_test(test_dhcp_packet_parse_overload_sname),
                cmocka_unit_test(test_dhcp_packet_parse_overload_both_in_order),
                cmocka_unit_test(test_dhcp_packet_parse_overload_nested_ignored),
                cmocka_unit_test(test_dhcp_packet_parse_overload_refusals),
                cmocka_unit_test(test_dhcp_packet_parse_sizes),
                cmocka_unit_test(test_dhcp_packet_parse_end_option),
                cmocka_unit_test(test_dhcp_packet_parse_header_refusals),
                cmocka_unit_test(test_dhcp_packet_parse_overrun),
                cmocka_unit_test(test_dhcp_packet_parse_bad_lengths),
                cmocka_unit_test(test_dhcp_packet_parse_detail_names_offset),
                cmocka_unit_test(test_dhcp_packet_parse_bad_values),
                cmocka_unit_test(test_dhcp_packet_parse_repeats),
                cmocka_unit_test(test_dhcp_packet_parse_pxe_suboptions),
                cmocka_unit_test(test_dhcp_packet_reasons_table),
                cmocka_unit_test(test_dhcp_reply_build_offer_layout),
                cmocka_unit_test(test_dhcp_reply_build_padded_to_300),
                cmocka_unit_test(test_dhcp_reply_build_exact_fit),
                cmocka_unit_test(test_dhcp_reply_build_longest),
                cmocka_unit_test(test_dhcp_reply_build_file_field_fit),
                cmocka_unit_test(test_dhcp_reply_build_boot_item_echo),
                cmocka_unit_test(test_dhcp_reply_build_invalid),
                cmocka_unit_test(test_dhcp_reply_build_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
