/* proxy-dhcp: decides whether and how the ProxyDHCP answers one datagram
 * (see proxy-dhcp.h for the rules). Replies follow Smee's proxy mode:
 * siaddr, `file`, 54, 60, 97 and 43.6 = 8, so a PXE ROM boots straight from
 * the offer without the port 4011 round trip; 4011 is still answered for the
 * ROMs that ask anyway (iPXE, OVMF; docs/pxe-boot.md §3, §10). */
#include "boot/proxy-dhcp.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/strutil.h"

/* RFC 4578 §2.1 / IANA processor architecture types that we serve. */
#define ARCH_X86_BIOS 0u
#define ARCH_X64_EFI 7u
#define ARCH_X64_EFI_ALT 9u /* IANA lists 9 as EFI x86-64 too; firmware sends both */
#define ARCH_X64_EFI_HTTP 16u

#define BOOT_FILE_UNDI "undionly.kpxe"
#define BOOT_FILE_EFI "ipxe.efi"
#define BOOT_FILE_SCRIPT "boot.ipxe"

const char *const proxy_dhcp_drop_reasons[] = {
        DHCP_REASON_SHORT,
        DHCP_REASON_TOO_LONG,
        DHCP_REASON_NOT_REQUEST,
        DHCP_REASON_NOT_ETHERNET,
        DHCP_REASON_BAD_COOKIE,
        DHCP_REASON_OPTION_OVERRUN,
        DHCP_REASON_BAD_OPTION_LENGTH,
        DHCP_REASON_BAD_OPTION_VALUE,
        DHCP_REASON_REPEATED_OPTION,
        PROXY_DHCP_DROP_UNHANDLED_TYPE,
        PROXY_DHCP_DROP_NOT_PXE,
        PROXY_DHCP_DROP_OTHER_SERVER,
        PROXY_DHCP_DROP_NOT_LEASED,
        PROXY_DHCP_DROP_UNSUPPORTED_ARCH,
        PROXY_DHCP_DROP_BAD_SOURCE,
        NULL,
};

bool proxy_dhcp_drop_reason_is_known(const char *reason) {
        return strv_contains(proxy_dhcp_drop_reasons, reason);
}

/* Which request gets which reply, per port. */
typedef struct TypeRule {
        uint8_t request;
        bool on_pxe_port;
        uint8_t reply;
} TypeRule;

static const TypeRule type_rules[] = {
        { DHCP_DISCOVER, false, DHCP_OFFER },
        { DHCP_REQUEST, false, DHCP_ACK },
        { DHCP_INFORM, false, DHCP_ACK },
        /* PXE 2.1 §2.2.4: the boot server request to 4011 is a REQUEST (or INFORM) */
        { DHCP_REQUEST, true, DHCP_ACK },
        { DHCP_INFORM, true, DHCP_ACK },
};

/* Boot file per client class and architecture, for clients that are not
 * iPXE yet. The file is relative to the MAC's directory. */
typedef struct ArchRule {
        DhcpVendorClass vendor_class;
        uint16_t arch;
        ProxyDhcpBoot boot;
        const char *file;
} ArchRule;

static const ArchRule arch_rules[] = {
        { DHCP_VENDOR_CLASS_PXE_CLIENT, ARCH_X86_BIOS, PROXY_BOOT_TFTP_NBP, BOOT_FILE_UNDI },
        { DHCP_VENDOR_CLASS_PXE_CLIENT, ARCH_X64_EFI, PROXY_BOOT_TFTP_NBP, BOOT_FILE_EFI },
        { DHCP_VENDOR_CLASS_PXE_CLIENT, ARCH_X64_EFI_ALT, PROXY_BOOT_TFTP_NBP, BOOT_FILE_EFI },
        /* not 15 (IA32 UEFI HTTP): Smee hands it ipxe.efi, but that binary is
         * x86-64 and would not start; like 6 (IA32 EFI) it is dropped */
        { DHCP_VENDOR_CLASS_HTTP_CLIENT, ARCH_X64_EFI_HTTP, PROXY_BOOT_HTTP_NBP, BOOT_FILE_EFI },
};

static int drop(ProxyDhcpAnswer *ret, const char *reason, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static int drop(ProxyDhcpAnswer *ret, const char *reason, const char *format, ...) {
        va_list ap;

        ret->drop_reason = reason;
        va_start(ap, format);
        vsnprintf(ret->detail, sizeof(ret->detail), format, ap);
        va_end(ap);
        return 0;
}

static const TypeRule *type_rule_find(uint8_t type, bool on_pxe_port) {
        for (size_t i = 0; i < ELEMENTSOF(type_rules); i++)
                if (type_rules[i].request == type && type_rules[i].on_pxe_port == on_pxe_port)
                        return &type_rules[i];
        return NULL;
}

static const ArchRule *arch_rule_find(DhcpVendorClass vendor_class, uint16_t arch) {
        for (size_t i = 0; i < ELEMENTSOF(arch_rules); i++)
                if (arch_rules[i].vendor_class == vendor_class && arch_rules[i].arch == arch)
                        return &arch_rules[i];
        return NULL;
}

/* The boot file: iPXE first, so the chainload ends (docs/pxe-boot.md §4). */
static int boot_choose(const ProxyDhcpServer *srv, const DhcpPacket *p, ProxyDhcpAnswer *ret) {
        char mac[DHCP_MAC_STRING_MAX], address[INET_ADDRSTRLEN];
        const ArchRule *rule;
        uint16_t arch;
        int n;

        dhcp_mac_format(p->mac, mac);
        if (!inet_ntop(AF_INET, &srv->address, address, sizeof(address)))
                return -EINVAL;
        if (p->is_ipxe) {
                ret->boot = PROXY_BOOT_IPXE_SCRIPT;
                n = snprintf(ret->boot_file, sizeof(ret->boot_file), "http://%s:%u/boot/%s/%s", address,
                             srv->http_port, mac, BOOT_FILE_SCRIPT);
                return n > 0 && (size_t) n < sizeof(ret->boot_file) ? 1 : -ENAMETOOLONG;
        }
        if (p->has_client_arch)
                arch = p->client_arch;
        else if (p->has_vendor_arch)
                arch = p->vendor_arch;
        else if (p->vendor_class == DHCP_VENDOR_CLASS_PXE_CLIENT)
                arch = ARCH_X86_BIOS;
        else
                return drop(ret, PROXY_DHCP_DROP_UNSUPPORTED_ARCH,
                            "HTTPClient without an architecture (no option 93, no Arch: in option 60)");
        rule = arch_rule_find(p->vendor_class, arch);
        if (!rule)
                return drop(ret, PROXY_DHCP_DROP_UNSUPPORTED_ARCH, "%s architecture %u (option %s): no boot file",
                            dhcp_vendor_class_to_string(p->vendor_class), arch,
                            p->has_client_arch ? "93" : "60 Arch:");
        ret->boot = rule->boot;
        if (rule->boot == PROXY_BOOT_HTTP_NBP)
                n = snprintf(ret->boot_file, sizeof(ret->boot_file), "http://%s:%u/boot/%s/%s", address,
                             srv->http_port, mac, rule->file);
        else
                n = snprintf(ret->boot_file, sizeof(ret->boot_file), "%s/%s", mac, rule->file);
        return n > 0 && (size_t) n < sizeof(ret->boot_file) ? 1 : -ENAMETOOLONG;
}

static void destination_set(struct sockaddr_in *d, struct in_addr a, uint16_t port) {
        *d = (struct sockaddr_in) {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr = a,
        };
}

/* RFC 2131 §4.1 (relay, unicast to ciaddr, broadcast) and PXE 2.1 §2.2.4
 * (4011 answers go back where the request came from). */
static int destination_choose(const DhcpPacket *p, const struct sockaddr_in *source, bool on_pxe_port,
                              ProxyDhcpAnswer *ret) {
        if (p->giaddr.s_addr != htonl(INADDR_ANY)) {
                destination_set(&ret->destination, p->giaddr, DHCP_PORT_SERVER);
                return 1;
        }
        if (on_pxe_port) {
                if (source->sin_addr.s_addr == htonl(INADDR_ANY) || source->sin_port == 0)
                        return drop(ret, PROXY_DHCP_DROP_BAD_SOURCE,
                                    "request on port %u from address 0 or port 0: nowhere to answer", DHCP_PORT_PXE);
                ret->destination = (struct sockaddr_in) {
                        .sin_family = AF_INET,
                        .sin_port = source->sin_port,
                        .sin_addr = source->sin_addr,
                };
                return 1;
        }
        if (p->ciaddr.s_addr != htonl(INADDR_ANY) && !(p->flags & DHCP_FLAG_BROADCAST)) {
                destination_set(&ret->destination, p->ciaddr, DHCP_PORT_CLIENT);
                return 1;
        }
        /* the client has no address yet (or asked for broadcast) */
        destination_set(&ret->destination, (struct in_addr) { .s_addr = htonl(INADDR_BROADCAST) }, DHCP_PORT_CLIENT);
        return 1;
}

int proxy_dhcp_answer(const ProxyDhcpServer *srv, ProxyDhcpLeased leased, void *userdata, const void *packet,
                      size_t size, const struct sockaddr_in *source, bool on_pxe_port, ProxyDhcpAnswer *ret) {
        const TypeRule *type;
        DhcpReplyParams params;
        DhcpError err = {};
        DhcpPacket p;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (ProxyDhcpAnswer) {};
        if (!srv || !leased || !source || srv->address.s_addr == htonl(INADDR_ANY) || srv->http_port == 0)
                return -EINVAL;

        r = dhcp_packet_parse(packet, size, &p, &err);
        if (r < 0)
                return drop(ret, err.reason, "%s", err.detail);
        memcpy(ret->mac, p.mac, sizeof(ret->mac));
        ret->message_type = p.message_type;

        if (p.vendor_class != DHCP_VENDOR_CLASS_PXE_CLIENT && p.vendor_class != DHCP_VENDOR_CLASS_HTTP_CLIENT)
                return drop(ret, PROXY_DHCP_DROP_NOT_PXE, "option 60 %s",
                            p.vendor_class == DHCP_VENDOR_CLASS_NONE ? "absent"
                                                                     : "starts with neither PXEClient nor HTTPClient");
        type = type_rule_find(p.message_type, on_pxe_port);
        if (!type) {
                const char *name = dhcp_message_type_name(p.message_type);

                if (p.message_type == 0)
                        return drop(ret, PROXY_DHCP_DROP_UNHANDLED_TYPE, "no option 53 (plain BOOTP)");
                if (name)
                        return drop(ret, PROXY_DHCP_DROP_UNHANDLED_TYPE, "%s on port %u", name,
                                    on_pxe_port ? DHCP_PORT_PXE : DHCP_PORT_SERVER);
                return drop(ret, PROXY_DHCP_DROP_UNHANDLED_TYPE, "message type %u on port %u", p.message_type,
                            on_pxe_port ? DHCP_PORT_PXE : DHCP_PORT_SERVER);
        }
        /* RFC 2131 §4.3.2: option 54 says which server's offer was chosen; on
         * 4011 the client addressed us directly */
        if (!on_pxe_port && type->reply == DHCP_ACK && p.has_server_id &&
            p.server_id.s_addr != srv->address.s_addr) {
                char other[INET_ADDRSTRLEN] = "?";

                inet_ntop(AF_INET, &p.server_id, other, sizeof(other));
                return drop(ret, PROXY_DHCP_DROP_OTHER_SERVER, "%s names server %s in option 54",
                            dhcp_message_type_name(p.message_type), other);
        }
        if (!leased(p.mac, userdata))
                return drop(ret, PROXY_DHCP_DROP_NOT_LEASED, "no provisioning lease for this MAC");

        r = boot_choose(srv, &p, ret);
        if (r > 0)
                r = destination_choose(&p, source, on_pxe_port, ret);
        if (r <= 0) {
                /* a drop carries no half-made answer */
                ret->boot = 0;
                ret->boot_file[0] = '\0';
                ret->destination = (struct sockaddr_in) {};
                return r;
        }

        params = (DhcpReplyParams) {
                .message_type = type->reply,
                .server = srv->address,
                .vendor_class = p.vendor_class,
                .boot_file = ret->boot_file,
        };
        r = dhcp_reply_build(&p, &params, ret->reply, sizeof(ret->reply), &ret->reply_len);
        if (r < 0)
                return r;
        return 1;
}

const char *proxy_dhcp_boot_to_string(ProxyDhcpBoot b) {
        static const char *const names[_PROXY_BOOT_MAX] = {
                [PROXY_BOOT_TFTP_NBP] = "tftp-nbp",
                [PROXY_BOOT_HTTP_NBP] = "http-nbp",
                [PROXY_BOOT_IPXE_SCRIPT] = "ipxe-script",
        };

        return b >= 0 && b < _PROXY_BOOT_MAX ? names[b] : NULL;
}
