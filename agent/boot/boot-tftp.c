/* boot-tftp: what the TFTP server serves on a segment. Paths are either an
 * iPXE binary's name ("undionly.kpxe") or the form the ProxyDHCP hands out,
 * "52-54-00-77-10-01/undionly.kpxe": the MAC ties the transfer to a lease,
 * so it can be refused for strangers and recorded as a lease event. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "boot/boot-internal.h"
#include "boot/tftp-packet.h"
#include "boot/tftp-server.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/manager.h"

/* Splits "MAC/NAME": 1 with the MAC parsed and *ret_name after the slash;
 * 0 for a plain name; -ENOENT for anything else with a slash. */
static int split_path(const char *path, uint8_t mac[6], const char **ret_name) {
        const char *slash = strchr(path, '/');
        char m[18];

        if (!slash) {
                *ret_name = path;
                return 0;
        }
        if (slash - path != 17 || strchr(slash + 1, '/'))
                return -ENOENT;
        memcpy(m, path, 17);
        m[17] = '\0';
        if (boot_mac_parse(m, mac) < 0)
                return -ENOENT;
        *ret_name = slash + 1;
        return 1;
}

static int open_file(void *userdata, const char *path, const struct sockaddr_in *client, int *ret_fd) {
        BootSegment *seg = userdata;
        const char *name;
        uint8_t mac[6];
        int r;

        (void) client;
        r = split_path(path, mac, &name);
        if (r < 0)
                return r;
        /* not-found rather than access-denied for a stranger's MAC: the
         * answer must not tell which machines are being booted */
        if (r > 0 && !boot_segment_lease(seg, mac))
                return -ENOENT;
        return boot_open_nbp(seg->server, name, ret_fd);
}

static void on_done(void *userdata, const TftpTransferReport *rep) {
        BootSegment *seg = userdata;
        char client[INET_ADDRSTRLEN], detail[BOOT_LEASE_DETAIL_MAX];
        const char *name;
        uint8_t mac[6];

        inet_ntop(AF_INET, &rep->client.sin_addr, client, sizeof(client));
        if (rep->error < 0) {
                log_debug_errno(rep->error, "TFTP on %s: %s to %s stopped after %llu bytes", seg->network,
                                rep->path, client, (unsigned long long) rep->bytes);
                return;
        }
        if (split_path(rep->path, mac, &name) <= 0)
                return; /* a plain name: no lease to tell */
        BootLease *lease = boot_segment_lease(seg, mac);
        if (!lease)
                return; /* expired or released during the transfer */
        snprintf(detail, sizeof(detail), "%s, %llu bytes, blksize %u to %s", name,
                 (unsigned long long) rep->bytes, rep->blksize, client);
        boot_record(seg->server, lease, BOOT_EVENT_TFTP_SERVED, mac, detail);
}

int boot_tftp_start(BootSegment *seg) {
        BootServer *b = seg->server;
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(TFTP_PORT), .sin_addr = seg->address };
        TftpServerConfig cfg = {
                .open_file = open_file,
                .on_done = on_done,
                .metrics = b->m->metrics,
                .userdata = seg,
        };
        int one = 1, r;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open the TFTP socket");
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return log_error_errno(errno, "Cannot set up the TFTP socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Cannot bind TFTP to %s:%u", seg->address_text, TFTP_PORT);
        r = tftp_server_new(b->m->event, take_fd(fd), &cfg, &seg->tftp);
        if (r < 0)
                return log_error_errno(r, "Cannot start the TFTP server on %s", seg->address_text);
        return 0;
}
