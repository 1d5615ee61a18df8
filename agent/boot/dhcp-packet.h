/* dhcp-packet: the BOOTP/DHCP wire format as a ProxyDHCP sees it (RFC 951,
 * 2131, 2132, 3396, 4578, PXE 2.1): a pure parser of client requests into a
 * DhcpPacket and a builder of BOOTREPLYs, both over the Cursor. No sockets,
 * no allocation, no logging. See dhcp-packet.c. */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps and sizes. A datagram bigger than an Ethernet MTU is not a client
 * request we serve (PXE ROMs send ~350..550 bytes); the cap also bounds how
 * many options one packet can carry (each takes at least one byte). */
#define DHCP_PACKET_MAX 1500u
#define DHCP_HEADER_SIZE 236u                   /* the fixed BOOTP header */
#define DHCP_PACKET_MIN (DHCP_HEADER_SIZE + 4u) /* header and magic cookie */
#define DHCP_SNAME_SIZE 64u
#define DHCP_FILE_SIZE 128u
#define DHCP_CHADDR_SIZE 16u
/* Replies: padded to the BOOTP minimum (RFC 1542 §2.1, old relays drop
 * less) and kept within what every client must accept without option 57
 * (RFC 2131 §2: a 576-byte IP datagram, minus 20 IP and 8 UDP bytes). */
#define DHCP_REPLY_MIN 300u
#define DHCP_REPLY_MAX 548u
/* The longest boot file a reply carries: the option 67 payload. With the
 * longest other options the reply still fits DHCP_REPLY_MAX (asserted in
 * dhcp-packet.c). */
#define DHCP_BOOT_FILE_MAX 200u
/* A refusal's human detail, with its NUL. */
#define DHCP_DETAIL_MAX 160u
/* Option 97: type byte 0 and 16 UUID bytes (RFC 4578 §2.4). */
#define DHCP_CLIENT_GUID_SIZE 17u
/* "01234567-89ab-cdef-0123-456789abcdef" and its NUL. */
#define DHCP_UUID_STRING_MAX 37u

#define DHCP_PORT_SERVER 67u
#define DHCP_PORT_CLIENT 68u
#define DHCP_PORT_PXE 4011u /* PXE boot server discovery, "ProxyDHCP REQUEST" */

#define DHCP_FLAG_BROADCAST UINT16_C(0x8000)

/* Option 53 values (RFC 2132 §9.6). */
#define DHCP_DISCOVER 1u
#define DHCP_OFFER 2u
#define DHCP_REQUEST 3u
#define DHCP_DECLINE 4u
#define DHCP_ACK 5u
#define DHCP_NAK 6u
#define DHCP_RELEASE 7u
#define DHCP_INFORM 8u

/* Refusal reasons of dhcp_packet_parse(): short static strings, stable,
 * meant as metric labels (the complete set is dhcp_packet_reasons[]). */
#define DHCP_REASON_SHORT "short"                         /* under 240 bytes */
#define DHCP_REASON_TOO_LONG "too-long"                   /* over DHCP_PACKET_MAX */
#define DHCP_REASON_NOT_REQUEST "not-request"             /* op is not BOOTREQUEST */
#define DHCP_REASON_NOT_ETHERNET "not-ethernet"           /* htype/hlen not 1/6 */
#define DHCP_REASON_BAD_COOKIE "bad-cookie"               /* not 99.130.83.99 */
#define DHCP_REASON_OPTION_OVERRUN "option-overrun"       /* an option runs past its field */
#define DHCP_REASON_BAD_OPTION_LENGTH "bad-option-length" /* a length the option cannot have */
#define DHCP_REASON_BAD_OPTION_VALUE "bad-option-value"   /* 52 not 1..3, 97 type not 0 */
#define DHCP_REASON_REPEATED_OPTION "repeated-option"     /* a single-instance option twice */

/* Every reason above, NULL-terminated (a const table: for pre-registering
 * metric labels and for tests). */
extern const char *const dhcp_packet_reasons[];
bool dhcp_packet_reason_is_known(const char *reason);

/* Option 60 as the PXE spec classes it: prefix match, case-sensitive. */
typedef enum DhcpVendorClass {
        DHCP_VENDOR_CLASS_NONE,        /* no option 60 */
        DHCP_VENDOR_CLASS_OTHER,       /* e.g. "MSFT 5.0", "udhcp 1.36.1" */
        DHCP_VENDOR_CLASS_PXE_CLIENT,  /* "PXEClient..." (PXE 2.1 §2.2.5) */
        DHCP_VENDOR_CLASS_HTTP_CLIENT, /* "HTTPClient..." (UEFI 2.x §24.7 HTTP Boot) */
        _DHCP_VENDOR_CLASS_MAX,
        _DHCP_VENDOR_CLASS_INVALID = -EINVAL,
} DhcpVendorClass;

/* A refusal: the reason code and a human detail naming what and where, e.g.
 * "option 93 at offset 262: length 3, expected an even number". Wire bytes
 * never appear in the detail, only numbers, so it is always printable. */
typedef struct DhcpError {
        const char *reason; /* one of DHCP_REASON_* (static) */
        char detail[DHCP_DETAIL_MAX];
} DhcpError;

/* A parsed client request. Addresses are in network byte order, as in
 * struct in_addr everywhere. Copies only: nothing points into the input. */
typedef struct DhcpPacket {
        /* the fixed header */
        uint8_t op, htype, hlen, hops;
        uint32_t xid;
        uint16_t secs, flags;
        struct in_addr ciaddr, yiaddr, siaddr, giaddr;
        uint8_t chaddr[DHCP_CHADDR_SIZE];
        uint8_t sname[DHCP_SNAME_SIZE]; /* raw; options when overload has bit 2 */
        uint8_t file[DHCP_FILE_SIZE];   /* raw; options when overload has bit 1 */
        uint8_t mac[6];                 /* chaddr's first hlen (6) bytes */

        uint8_t overload;      /* option 52: 0, 1 file, 2 sname, 3 both */
        uint8_t message_type;  /* option 53; 0 when absent (plain BOOTP) */
        bool has_server_id;    /* option 54 */
        struct in_addr server_id;
        DhcpVendorClass vendor_class;        /* option 60 */
        bool has_vendor_arch;                /* the "Arch:NNNNN" field of option 60 */
        uint16_t vendor_arch;
        bool has_client_arch;                /* option 93, its first value */
        uint16_t client_arch;
        bool has_client_guid;                /* option 97, raw for echoing */
        uint8_t client_guid[DHCP_CLIENT_GUID_SIZE];
        bool is_ipxe;                        /* user class (77) "iPXE", or option 175 present */
        bool has_boot_item;                  /* option 43 sub-option 71 (PXEClient only) */
        uint16_t boot_item_type, boot_item_layer;
} DhcpPacket;

/* Parses a client message of `size` bytes at `data`. 0 and *ret filled, or
 * -EBADMSG with *reterr (may be NULL) set and *ret untouched. Only BOOTREQUESTs
 * over Ethernet are accepted; DHCP_PACKET_MIN..DHCP_PACKET_MAX bytes. Options
 * 52 (overload: file, then sname), 53, 54, 60, 77, 93, 97, 43 and 175 are
 * read; RFC 3396 concatenation applies to 43, 60, 77 and 175; 52, 53, 54, 93
 * and 97 may appear once; other options are skipped. A missing end option is
 * fine when the last option ends exactly at the end of its field. */
int dhcp_packet_parse(const void *data, size_t size, DhcpPacket *ret, DhcpError *reterr);

/* What dhcp_reply_build() needs besides the request. */
typedef struct DhcpReplyParams {
        uint8_t message_type;         /* DHCP_OFFER or DHCP_ACK */
        struct in_addr server;        /* siaddr and option 54 */
        DhcpVendorClass vendor_class; /* PXE_CLIENT (60 "PXEClient" and 43) or HTTP_CLIENT (60 "HTTPClient") */
        const char *boot_file;        /* 1..DHCP_BOOT_FILE_MAX bytes: option 67, and `file` when it fits */
} DhcpReplyParams;

/* Builds the BOOTREPLY answering `request` into `buf` (at most `size`
 * bytes; DHCP_REPLY_MAX always suffices): op 2, htype/hlen/xid/flags/ciaddr/
 * giaddr/chaddr copied, yiaddr 0 (a ProxyDHCP never gives addresses),
 * siaddr = server, `file` = boot file when it fits with its NUL; options 53,
 * 54, 60, 97 (echoed when the request had it), 43 (PXEClient: 6 = 8, and
 * 71 echoed in an ACK to a request that carried it), 67, 255; zero padding
 * to DHCP_REPLY_MIN. Returns 0 and the length in *ret_len, -EINVAL for bad
 * params, -ENOBUFS when `size` is too small (nothing usable in buf). */
int dhcp_reply_build(const DhcpPacket *request, const DhcpReplyParams *params, void *buf, size_t size,
                     size_t *ret_len);

/* Renders option 97's UUID (bytes 1..16) in textual form, lower-case. The
 * first three fields arrive little-endian (SMBIOS 2.6 byte order, which PXE
 * ROMs and OVMF copy), so "00 4e 7a 2f 8c 7b 3f 8e 4a ..." is
 * "8c2f7a4e-3f7b-4a8e-...", the form Redfish `UUID` and iPXE `${uuid}` use. */
void dhcp_client_guid_format(const uint8_t guid[DHCP_CLIENT_GUID_SIZE], char ret[DHCP_UUID_STRING_MAX]);

/* "52-54-00-77-10-01": iPXE's ${mac:hexhyp}, lower-case. */
#define DHCP_MAC_STRING_MAX 18u
void dhcp_mac_format(const uint8_t mac[6], char ret[DHCP_MAC_STRING_MAX]);

const char *dhcp_message_type_name(uint8_t type); /* "DISCOVER"; NULL if unknown */
/* "none", "other", "PXEClient", "HTTPClient"; NULL when out of range. */
const char *dhcp_vendor_class_to_string(DhcpVendorClass c);
