/* dhcp-packet: parses BOOTP/DHCP client requests and builds the ProxyDHCP's
 * BOOTREPLYs, with the Cursor and Writer only (see dhcp-packet.h).
 *
 * Layout (RFC 2131 §2): op, htype, hlen, hops (1 byte each), xid (4), secs,
 * flags (2), ciaddr, yiaddr, siaddr, giaddr (4), chaddr (16) at 28, sname
 * (64) at 44, file (128) at 108, the magic cookie at 236, options from 240.
 * Options are code, length, value, except pad (0) and end (255). Option 52
 * says the file and/or sname fields hold more options, read in that order
 * (RFC 2131 §4.1). RFC 3396 splits a long option into instances that the
 * receiver concatenates; we do so for the variable-length options we read
 * and refuse a second instance of a fixed-size one, since two values for the
 * message type or server id would make the packet mean two things. */
#include "boot/dhcp-packet.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/strutil.h"

#define DHCP_OP_BOOTREQUEST 1u
#define DHCP_OP_BOOTREPLY 2u
#define DHCP_HTYPE_ETHERNET 1u
#define DHCP_HLEN_ETHERNET 6u
#define DHCP_MAGIC_COOKIE UINT32_C(0x63825363) /* 99.130.83.99 */
#define DHCP_OFFSET_SNAME 44u
#define DHCP_OFFSET_FILE 108u

/* Option codes (RFC 2132, 4578, 3004; 175 is iPXE's private block). */
#define DHCP_OPTION_PAD 0u
#define DHCP_OPTION_VENDOR_SPECIFIC 43u
#define DHCP_OPTION_OVERLOAD 52u
#define DHCP_OPTION_MESSAGE_TYPE 53u
#define DHCP_OPTION_SERVER_ID 54u
#define DHCP_OPTION_VENDOR_CLASS 60u
#define DHCP_OPTION_BOOT_FILE 67u
#define DHCP_OPTION_USER_CLASS 77u
#define DHCP_OPTION_CLIENT_ARCH 93u
#define DHCP_OPTION_CLIENT_GUID 97u
#define DHCP_OPTION_IPXE 175u
#define DHCP_OPTION_END 255u

/* Option 52 values: which fields hold options. */
#define DHCP_OVERLOAD_FILE 1u
#define DHCP_OVERLOAD_SNAME 2u

/* PXE 2.1 §2.4 vendor sub-options inside option 43. */
#define PXE_SUBOPTION_DISCOVERY_CONTROL 6u
#define PXE_SUBOPTION_BOOT_ITEM 71u
#define PXE_SUBOPTION_END 255u
#define PXE_SUBOPTION_BOOT_ITEM_SIZE 4u
/* Discovery control bit 3: "use the boot file in the header, skip boot
 * server discovery" (what Smee sends; saves the 4011 round trip). */
#define PXE_DISCOVERY_USE_BOOT_FILE 8u

#define VENDOR_CLASS_PXE "PXEClient"
#define VENDOR_CLASS_HTTP "HTTPClient"
/* PXE 2.1 §2.2.5: "PXEClient:Arch:xxxxx:UNDI:yyyzzz", five decimal digits */
#define VENDOR_CLASS_ARCH_TAG ":Arch:"
#define VENDOR_CLASS_ARCH_DIGITS 5u
#define USER_CLASS_IPXE "iPXE"

/* The biggest reply: header, cookie, 53, 54, 60 "HTTPClient", 97, 43 with
 * 6 and 71 and its end, 67 with the longest boot file, end. */
_Static_assert(DHCP_PACKET_MIN + 3 + 6 + (2 + 10) + (2 + DHCP_CLIENT_GUID_SIZE) + (2 + 3 + 6 + 1) +
                               (2 + DHCP_BOOT_FILE_MAX) + 1 <=
                       DHCP_REPLY_MAX,
               "the longest reply must fit DHCP_REPLY_MAX");
_Static_assert(DHCP_BOOT_FILE_MAX <= 255, "option 67 has a one-byte length");

const char *const dhcp_packet_reasons[] = {
        DHCP_REASON_SHORT,
        DHCP_REASON_TOO_LONG,
        DHCP_REASON_NOT_REQUEST,
        DHCP_REASON_NOT_ETHERNET,
        DHCP_REASON_BAD_COOKIE,
        DHCP_REASON_OPTION_OVERRUN,
        DHCP_REASON_BAD_OPTION_LENGTH,
        DHCP_REASON_BAD_OPTION_VALUE,
        DHCP_REASON_REPEATED_OPTION,
        NULL,
};

bool dhcp_packet_reason_is_known(const char *reason) {
        return strv_contains(dhcp_packet_reasons, reason);
}

/* Options whose instances are concatenated (RFC 3396) land in one of these
 * buffers. Their sum cannot exceed the packet, so DHCP_PACKET_MAX each is
 * enough; the Writer's cap enforces it anyway. */
typedef enum ConcatSlot {
        CONCAT_VENDOR_SPECIFIC,
        CONCAT_VENDOR_CLASS,
        CONCAT_USER_CLASS,
        CONCAT_IPXE,
        _CONCAT_MAX,
} ConcatSlot;

typedef struct ConcatBuffer {
        uint8_t data[DHCP_PACKET_MAX];
        Writer w;
        bool present;
} ConcatBuffer;

typedef struct ParseState {
        DhcpPacket *packet;
        ConcatBuffer concat[_CONCAT_MAX];
        size_t first_offset[256]; /* where a single-instance option was seen, +1; 0 = not seen */
} ParseState;

typedef int (*OptionHandler)(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr);

/* One row per option the parser reads; every other option is skipped. A
 * length rule applies to each instance. */
typedef struct OptionRule {
        uint8_t code;
        uint8_t min, max; /* instance length bounds */
        bool even;        /* a list of 16-bit values */
        bool concat;      /* RFC 3396: instances concatenate into `slot`; else once only */
        ConcatSlot slot;
        OptionHandler handle; /* single-instance options: called with the value */
} OptionRule;

static int refuse(DhcpError *reterr, const char *reason, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static int refuse(DhcpError *reterr, const char *reason, const char *format, ...) {
        va_list ap;

        if (!reterr)
                return -EBADMSG;
        reterr->reason = reason;
        va_start(ap, format);
        vsnprintf(reterr->detail, sizeof(reterr->detail), format, ap);
        va_end(ap);
        return -EBADMSG;
}

/* Handlers run after the length check, so their reads cannot fail; a
 * failure would still be refused, never acted on. */
static int option_value_truncated(uint8_t code, size_t offset, DhcpError *reterr) {
        return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH, "option %u at offset %zu: value truncated", code, offset);
}

static int option_overload_handle(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr) {
        uint8_t v = 0;

        if (cursor_get_u8(value, &v) < 0)
                return option_value_truncated(DHCP_OPTION_OVERLOAD, offset, reterr);
        if (v < DHCP_OVERLOAD_FILE || v > (DHCP_OVERLOAD_FILE | DHCP_OVERLOAD_SNAME))
                return refuse(reterr, DHCP_REASON_BAD_OPTION_VALUE, "option 52 at offset %zu: value %u, expected 1..3",
                              offset, v);
        s->packet->overload = v;
        return 0;
}

static int option_message_type_handle(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr) {
        /* any value: which types get an answer is the caller's decision */
        if (cursor_get_u8(value, &s->packet->message_type) < 0)
                return option_value_truncated(DHCP_OPTION_MESSAGE_TYPE, offset, reterr);
        return 0;
}

static int option_server_id_handle(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr) {
        uint32_t a = 0;

        if (cursor_get_be32(value, &a) < 0)
                return option_value_truncated(DHCP_OPTION_SERVER_ID, offset, reterr);
        s->packet->server_id.s_addr = htonl(a);
        s->packet->has_server_id = true;
        return 0;
}

static int option_client_arch_handle(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr) {
        /* RFC 4578 §2.1: a list, most preferred first; we boot the first */
        if (cursor_get_be16(value, &s->packet->client_arch) < 0)
                return option_value_truncated(DHCP_OPTION_CLIENT_ARCH, offset, reterr);
        s->packet->has_client_arch = true;
        return 0;
}

static int option_client_guid_handle(ParseState *s, Cursor *value, size_t offset, DhcpError *reterr) {
        uint8_t type = 0;

        /* RFC 4578 §2.3: type 0 is the only defined one, then 16 bytes */
        if (cursor_get_u8(value, &type) < 0)
                return option_value_truncated(DHCP_OPTION_CLIENT_GUID, offset, reterr);
        if (type != 0)
                return refuse(reterr, DHCP_REASON_BAD_OPTION_VALUE, "option 97 at offset %zu: type %u, expected 0",
                              offset, type);
        if (cursor_get_bytes(value, DHCP_CLIENT_GUID_SIZE - 1, &s->packet->client_guid[1]) < 0)
                return option_value_truncated(DHCP_OPTION_CLIENT_GUID, offset, reterr);
        s->packet->client_guid[0] = type;
        s->packet->has_client_guid = true;
        return 0;
}

static const OptionRule option_rules[] = {
        { DHCP_OPTION_VENDOR_SPECIFIC, 1, 255, false, true, CONCAT_VENDOR_SPECIFIC, NULL },
        { DHCP_OPTION_OVERLOAD, 1, 1, false, false, 0, option_overload_handle },
        { DHCP_OPTION_MESSAGE_TYPE, 1, 1, false, false, 0, option_message_type_handle },
        { DHCP_OPTION_SERVER_ID, 4, 4, false, false, 0, option_server_id_handle },
        { DHCP_OPTION_VENDOR_CLASS, 1, 255, false, true, CONCAT_VENDOR_CLASS, NULL },
        { DHCP_OPTION_USER_CLASS, 1, 255, false, true, CONCAT_USER_CLASS, NULL },
        { DHCP_OPTION_CLIENT_ARCH, 2, 254, true, false, 0, option_client_arch_handle },
        { DHCP_OPTION_CLIENT_GUID, DHCP_CLIENT_GUID_SIZE, DHCP_CLIENT_GUID_SIZE, false, false, 0,
          option_client_guid_handle },
        /* iPXE's encapsulated options: only their presence matters here */
        { DHCP_OPTION_IPXE, 0, 255, false, true, CONCAT_IPXE, NULL },
};

static const OptionRule *option_rule_find(uint8_t code) {
        for (size_t i = 0; i < ELEMENTSOF(option_rules); i++)
                if (option_rules[i].code == code)
                        return &option_rules[i];
        return NULL;
}

static int option_length_check(const OptionRule *rule, uint8_t len, size_t offset, DhcpError *reterr) {
        if (rule->min == rule->max && len != rule->min)
                return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH, "option %u at offset %zu: length %u, expected %u",
                              rule->code, offset, len, rule->min);
        if (len < rule->min)
                return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH,
                              "option %u at offset %zu: length %u, expected at least %u", rule->code, offset, len,
                              rule->min);
        if (len > rule->max)
                return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH,
                              "option %u at offset %zu: length %u, expected at most %u", rule->code, offset, len,
                              rule->max);
        if (rule->even && len % 2 != 0)
                return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH,
                              "option %u at offset %zu: length %u, expected an even number", rule->code, offset, len);
        return 0;
}

/* Walks one options field: the options proper (main), or file or sname
 * under option 52. `base` is the field's offset in the packet, for details.
 * The field ends at an end option or, without one, exactly at its end. */
static int options_parse(ParseState *s, Cursor *field, size_t base, const char *where, bool main,
                         DhcpError *reterr) {
        while (!cursor_at_end(field)) {
                size_t offset = base + cursor_offset(field);
                const OptionRule *rule;
                uint8_t code = 0, len = 0;
                size_t left;
                Cursor value;
                int r;

                if (cursor_get_u8(field, &code) < 0) /* not at the end: cannot fail */
                        return refuse(reterr, DHCP_REASON_OPTION_OVERRUN, "options truncated at offset %zu", offset);
                if (code == DHCP_OPTION_PAD)
                        continue;
                if (code == DHCP_OPTION_END)
                        return 0;
                if (cursor_get_u8(field, &len) < 0)
                        return refuse(reterr, DHCP_REASON_OPTION_OVERRUN,
                                      "option %u at offset %zu: the %s ends before its length byte", code, offset,
                                      where);
                left = cursor_remaining(field);
                if (cursor_sub(field, len, &value) < 0)
                        return refuse(reterr, DHCP_REASON_OPTION_OVERRUN,
                                      "option %u at offset %zu: length %u, but the %s ends %zu bytes later", code,
                                      offset, len, where, left);
                /* an overload inside file or sname would point at itself */
                if (code == DHCP_OPTION_OVERLOAD && !main)
                        continue;
                rule = option_rule_find(code);
                if (!rule)
                        continue;
                r = option_length_check(rule, len, offset, reterr);
                if (r < 0)
                        return r;
                if (rule->concat) {
                        ConcatBuffer *b = &s->concat[rule->slot];
                        const uint8_t *p = NULL;

                        if (cursor_get_span(&value, len, &p) < 0 || writer_put_bytes(&b->w, p, len) < 0)
                                return refuse(reterr, DHCP_REASON_TOO_LONG,
                                              "option %u at offset %zu: instances add up to over %u bytes", code,
                                              offset, DHCP_PACKET_MAX);
                        b->present = true;
                        continue;
                }
                if (s->first_offset[code] > 0)
                        return refuse(reterr, DHCP_REASON_REPEATED_OPTION,
                                      "option %u at offset %zu: repeated (first at offset %zu)", code, offset,
                                      s->first_offset[code] - 1);
                s->first_offset[code] = offset + 1;
                r = rule->handle(s, &value, offset, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool span_equals(Cursor *c, const char *s) {
        size_t n = strlen(s);
        const uint8_t *p = NULL;

        if (cursor_remaining(c) < n || cursor_get_span(c, n, &p) < 0)
                return false;
        return memcmp(p, s, n) == 0;
}

/* Option 60: the class by prefix, and the "Arch:NNNNN" field when the
 * class string has one (PXE 2.1 §2.2.5; UEFI HTTP Boot copies the form). */
static void vendor_class_parse(const ConcatBuffer *b, DhcpPacket *p) {
        Cursor c, arch;
        uint32_t v = 0;

        if (!b->present) {
                p->vendor_class = DHCP_VENDOR_CLASS_NONE;
                return;
        }
        cursor_init(&c, b->data, writer_length(&b->w));
        if (span_equals(&c, VENDOR_CLASS_PXE))
                p->vendor_class = DHCP_VENDOR_CLASS_PXE_CLIENT;
        else {
                cursor_init(&c, b->data, writer_length(&b->w));
                if (span_equals(&c, VENDOR_CLASS_HTTP))
                        p->vendor_class = DHCP_VENDOR_CLASS_HTTP_CLIENT;
                else {
                        p->vendor_class = DHCP_VENDOR_CLASS_OTHER;
                        return;
                }
        }
        if (!span_equals(&c, VENDOR_CLASS_ARCH_TAG) || cursor_sub(&c, VENDOR_CLASS_ARCH_DIGITS, &arch) < 0)
                return;
        /* the digits end the string or a ':' follows */
        if (!cursor_at_end(&c) && !span_equals(&c, ":"))
                return;
        while (!cursor_at_end(&arch)) {
                uint8_t d = 0;

                cursor_get_u8(&arch, &d);
                if (d < '0' || d > '9')
                        return;
                v = v * 10 + (uint32_t) (d - '0');
        }
        if (v > UINT16_MAX)
                return;
        p->has_vendor_arch = true;
        p->vendor_arch = (uint16_t) v;
}

/* Option 77: iPXE sends the bare string "iPXE" although RFC 3004 wants
 * length-prefixed items; accept either form, case-sensitive. */
static bool user_class_is_ipxe(const ConcatBuffer *b) {
        Cursor c;

        if (!b->present)
                return false;
        cursor_init(&c, b->data, writer_length(&b->w));
        if (cursor_remaining(&c) == strlen(USER_CLASS_IPXE) && span_equals(&c, USER_CLASS_IPXE))
                return true;
        cursor_init(&c, b->data, writer_length(&b->w));
        while (!cursor_at_end(&c)) {
                uint8_t n = 0;
                Cursor item;

                /* RFC 3004 §4: items have a length of at least 1 */
                if (cursor_get_u8(&c, &n) < 0 || n == 0 || cursor_sub(&c, n, &item) < 0)
                        return false;
                if (cursor_remaining(&item) == strlen(USER_CLASS_IPXE) && span_equals(&item, USER_CLASS_IPXE))
                        return true;
        }
        return false;
}

/* Option 43 from a PXEClient: PXE sub-options; we want 71, the boot item
 * the client asks for in its request to port 4011. */
static int vendor_specific_parse(const ConcatBuffer *b, DhcpPacket *p, DhcpError *reterr) {
        bool seen = false;
        Cursor c;

        if (!b->present)
                return 0;
        cursor_init(&c, b->data, writer_length(&b->w));
        while (!cursor_at_end(&c)) {
                size_t offset = cursor_offset(&c), left;
                uint8_t code = 0, len = 0;
                Cursor value;

                cursor_get_u8(&c, &code);
                if (code == DHCP_OPTION_PAD)
                        continue;
                if (code == PXE_SUBOPTION_END)
                        break;
                if (cursor_get_u8(&c, &len) < 0)
                        return refuse(reterr, DHCP_REASON_OPTION_OVERRUN,
                                      "option 43 sub-option %u at offset %zu of the option: no length byte", code,
                                      offset);
                left = cursor_remaining(&c);
                if (cursor_sub(&c, len, &value) < 0)
                        return refuse(reterr, DHCP_REASON_OPTION_OVERRUN,
                                      "option 43 sub-option %u at offset %zu of the option: length %u, %zu bytes left",
                                      code, offset, len, left);
                if (code != PXE_SUBOPTION_BOOT_ITEM)
                        continue;
                if (len != PXE_SUBOPTION_BOOT_ITEM_SIZE)
                        return refuse(reterr, DHCP_REASON_BAD_OPTION_LENGTH,
                                      "option 43 sub-option 71 at offset %zu of the option: length %u, expected %u",
                                      offset, len, PXE_SUBOPTION_BOOT_ITEM_SIZE);
                if (seen)
                        return refuse(reterr, DHCP_REASON_REPEATED_OPTION,
                                      "option 43 sub-option 71 at offset %zu of the option: repeated", offset);
                seen = true;
                cursor_get_be16(&value, &p->boot_item_type);
                cursor_get_be16(&value, &p->boot_item_layer);
                p->has_boot_item = true;
        }
        return 0;
}

int dhcp_packet_parse(const void *data, size_t size, DhcpPacket *ret, DhcpError *reterr) {
        DhcpPacket p = {};
        ParseState s = { .packet = &p };
        Cursor c, sname, file;
        uint32_t cookie = 0, a[4] = {};
        int r;

        if (!data || size < DHCP_PACKET_MIN)
                return refuse(reterr, DHCP_REASON_SHORT, "packet of %zu bytes, header and cookie take %u",
                              data ? size : 0, DHCP_PACKET_MIN);
        if (size > DHCP_PACKET_MAX)
                return refuse(reterr, DHCP_REASON_TOO_LONG, "packet of %zu bytes, at most %u accepted", size,
                              DHCP_PACKET_MAX);
        for (size_t i = 0; i < _CONCAT_MAX; i++)
                writer_init(&s.concat[i].w, s.concat[i].data, sizeof(s.concat[i].data));

        cursor_init(&c, data, size);
        cursor_get_u8(&c, &p.op);
        cursor_get_u8(&c, &p.htype);
        cursor_get_u8(&c, &p.hlen);
        cursor_get_u8(&c, &p.hops);
        cursor_get_be32(&c, &p.xid);
        cursor_get_be16(&c, &p.secs);
        cursor_get_be16(&c, &p.flags);
        for (size_t i = 0; i < ELEMENTSOF(a); i++)
                cursor_get_be32(&c, &a[i]);
        cursor_get_bytes(&c, sizeof(p.chaddr), p.chaddr);
        cursor_sub(&c, DHCP_SNAME_SIZE, &sname);
        cursor_sub(&c, DHCP_FILE_SIZE, &file);
        cursor_get_be32(&c, &cookie);
        if (cursor_error(&c) < 0) /* cannot happen past the size check; kept as the cursor's contract */
                return refuse(reterr, DHCP_REASON_SHORT, "header truncated at offset %zu", cursor_offset(&c));
        p.ciaddr.s_addr = htonl(a[0]);
        p.yiaddr.s_addr = htonl(a[1]);
        p.siaddr.s_addr = htonl(a[2]);
        p.giaddr.s_addr = htonl(a[3]);

        if (p.op != DHCP_OP_BOOTREQUEST)
                return refuse(reterr, DHCP_REASON_NOT_REQUEST, "op %u at offset 0, expected 1 (BOOTREQUEST)", p.op);
        /* a ProxyDHCP serves Ethernet NICs; the MAC keys every lease */
        if (p.htype != DHCP_HTYPE_ETHERNET || p.hlen != DHCP_HLEN_ETHERNET)
                return refuse(reterr, DHCP_REASON_NOT_ETHERNET,
                              "htype %u, hlen %u at offset 1, expected 1, 6 (Ethernet)", p.htype, p.hlen);
        if (cookie != DHCP_MAGIC_COOKIE)
                return refuse(reterr, DHCP_REASON_BAD_COOKIE, "magic cookie 0x%08x at offset %u, expected 0x%08x",
                              cookie, DHCP_HEADER_SIZE, DHCP_MAGIC_COOKIE);
        memcpy(p.mac, p.chaddr, sizeof(p.mac));
        /* raw copies; when overloaded they hold options, parsed below */
        cursor_get_bytes(&sname, sizeof(p.sname), p.sname);
        cursor_get_bytes(&file, sizeof(p.file), p.file);
        cursor_init(&sname, p.sname, sizeof(p.sname));
        cursor_init(&file, p.file, sizeof(p.file));

        r = options_parse(&s, &c, 0, "packet", true, reterr);
        if (r < 0)
                return r;
        if (p.overload & DHCP_OVERLOAD_FILE) {
                r = options_parse(&s, &file, DHCP_OFFSET_FILE, "file field", false, reterr);
                if (r < 0)
                        return r;
        }
        if (p.overload & DHCP_OVERLOAD_SNAME) {
                r = options_parse(&s, &sname, DHCP_OFFSET_SNAME, "sname field", false, reterr);
                if (r < 0)
                        return r;
        }

        vendor_class_parse(&s.concat[CONCAT_VENDOR_CLASS], &p);
        p.is_ipxe = user_class_is_ipxe(&s.concat[CONCAT_USER_CLASS]) || s.concat[CONCAT_IPXE].present;
        /* 43 is PXE's only for PXEClients; others put opaque vendor data there */
        if (p.vendor_class == DHCP_VENDOR_CLASS_PXE_CLIENT) {
                r = vendor_specific_parse(&s.concat[CONCAT_VENDOR_SPECIFIC], &p, reterr);
                if (r < 0)
                        return r;
        }
        *ret = p;
        return 0;
}

static void put_address(Writer *w, struct in_addr a) {
        writer_put_be32(w, ntohl(a.s_addr));
}

static void put_option(Writer *w, uint8_t code, const void *value, size_t len) {
        writer_put_u8(w, code);
        writer_put_u8(w, (uint8_t) len);
        writer_put_bytes(w, value, len);
}

int dhcp_reply_build(const DhcpPacket *request, const DhcpReplyParams *params, void *buf, size_t size,
                     size_t *ret_len) {
        const char *class;
        size_t file_len;
        Writer w;

        if (!request || !params || !buf || !ret_len || !params->boot_file)
                return -EINVAL;
        if (params->message_type != DHCP_OFFER && params->message_type != DHCP_ACK)
                return -EINVAL;
        if (params->vendor_class != DHCP_VENDOR_CLASS_PXE_CLIENT &&
            params->vendor_class != DHCP_VENDOR_CLASS_HTTP_CLIENT)
                return -EINVAL;
        file_len = strnlen(params->boot_file, DHCP_BOOT_FILE_MAX + 1);
        if (file_len == 0 || file_len > DHCP_BOOT_FILE_MAX)
                return -EINVAL;
        class = dhcp_vendor_class_to_string(params->vendor_class);

        writer_init(&w, buf, size < DHCP_REPLY_MAX ? size : DHCP_REPLY_MAX);
        writer_put_u8(&w, DHCP_OP_BOOTREPLY);
        writer_put_u8(&w, request->htype);
        writer_put_u8(&w, request->hlen);
        writer_put_u8(&w, 0); /* hops */
        writer_put_be32(&w, request->xid);
        writer_put_be16(&w, 0); /* secs */
        writer_put_be16(&w, request->flags);
        put_address(&w, request->ciaddr);
        writer_put_be32(&w, 0); /* yiaddr: the site's DHCP server owns addresses */
        put_address(&w, params->server);
        put_address(&w, request->giaddr);
        writer_put_bytes(&w, request->chaddr, sizeof(request->chaddr));
        writer_put_zeros(&w, DHCP_SNAME_SIZE);
        /* PXE ROMs read the header's file; it needs its NUL inside the field */
        if (file_len < DHCP_FILE_SIZE) {
                writer_put_bytes(&w, params->boot_file, file_len);
                writer_put_zeros(&w, DHCP_FILE_SIZE - file_len);
        } else
                writer_put_zeros(&w, DHCP_FILE_SIZE);
        writer_put_be32(&w, DHCP_MAGIC_COOKIE);

        put_option(&w, DHCP_OPTION_MESSAGE_TYPE, &params->message_type, 1);
        writer_put_u8(&w, DHCP_OPTION_SERVER_ID);
        writer_put_u8(&w, 4);
        put_address(&w, params->server);
        put_option(&w, DHCP_OPTION_VENDOR_CLASS, class, strlen(class));
        if (request->has_client_guid)
                put_option(&w, DHCP_OPTION_CLIENT_GUID, request->client_guid, sizeof(request->client_guid));
        if (params->vendor_class == DHCP_VENDOR_CLASS_PXE_CLIENT) {
                bool item = params->message_type == DHCP_ACK && request->has_boot_item;

                writer_put_u8(&w, DHCP_OPTION_VENDOR_SPECIFIC);
                writer_put_u8(&w, 3 + (item ? 2 + PXE_SUBOPTION_BOOT_ITEM_SIZE : 0) + 1);
                writer_put_u8(&w, PXE_SUBOPTION_DISCOVERY_CONTROL);
                writer_put_u8(&w, 1);
                writer_put_u8(&w, PXE_DISCOVERY_USE_BOOT_FILE);
                if (item) {
                        writer_put_u8(&w, PXE_SUBOPTION_BOOT_ITEM);
                        writer_put_u8(&w, PXE_SUBOPTION_BOOT_ITEM_SIZE);
                        writer_put_be16(&w, request->boot_item_type);
                        writer_put_be16(&w, request->boot_item_layer);
                }
                writer_put_u8(&w, PXE_SUBOPTION_END);
        }
        put_option(&w, DHCP_OPTION_BOOT_FILE, params->boot_file, file_len);
        writer_put_u8(&w, DHCP_OPTION_END);
        if (writer_length(&w) < DHCP_REPLY_MIN)
                writer_put_zeros(&w, DHCP_REPLY_MIN - writer_length(&w));
        if (writer_error(&w) < 0)
                return -ENOBUFS;
        *ret_len = writer_length(&w);
        return 0;
}

void dhcp_client_guid_format(const uint8_t guid[DHCP_CLIENT_GUID_SIZE], char ret[DHCP_UUID_STRING_MAX]) {
        /* guid[0] is the type byte; the three little-endian fields come first */
        snprintf(ret, DHCP_UUID_STRING_MAX,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 guid[4], guid[3], guid[2], guid[1], guid[6], guid[5], guid[8], guid[7],
                 guid[9], guid[10], guid[11], guid[12], guid[13], guid[14], guid[15], guid[16]);
}

void dhcp_mac_format(const uint8_t mac[6], char ret[DHCP_MAC_STRING_MAX]) {
        snprintf(ret, DHCP_MAC_STRING_MAX, "%02x-%02x-%02x-%02x-%02x-%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

const char *dhcp_message_type_name(uint8_t type) {
        static const char *const names[] = {
                [DHCP_DISCOVER] = "DISCOVER", [DHCP_OFFER] = "OFFER", [DHCP_REQUEST] = "REQUEST",
                [DHCP_DECLINE] = "DECLINE",   [DHCP_ACK] = "ACK",     [DHCP_NAK] = "NAK",
                [DHCP_RELEASE] = "RELEASE",   [DHCP_INFORM] = "INFORM",
        };

        return type < ELEMENTSOF(names) ? names[type] : NULL;
}

const char *dhcp_vendor_class_to_string(DhcpVendorClass c) {
        static const char *const names[_DHCP_VENDOR_CLASS_MAX] = {
                [DHCP_VENDOR_CLASS_NONE] = "none",
                [DHCP_VENDOR_CLASS_OTHER] = "other",
                [DHCP_VENDOR_CLASS_PXE_CLIENT] = VENDOR_CLASS_PXE,
                [DHCP_VENDOR_CLASS_HTTP_CLIENT] = VENDOR_CLASS_HTTP,
        };

        return c >= 0 && c < _DHCP_VENDOR_CLASS_MAX ? names[c] : NULL;
}
