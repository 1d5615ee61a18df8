/* Where strata-bmc may listen. An emulated BMC takes power commands from
 * anyone who can reach it, so it listens only where no real network can:
 * loopback (127.0.0.0/8, ::1), or, when this process runs in a network
 * namespace other than init's (the lab's), an address of one of that
 * namespace's interfaces. Wildcards are always refused. */
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bmc.h"
#include "core/cleanup.h"

#define LISTEN_BACKLOG 64

int emu_listen_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN + 2];
        const char *port_s;
        struct sockaddr_storage ss = { 0 };
        bool bracketed = s[0] == '[';

        if (bracketed) {
                const char *end = strchr(s, ']');
                if (!end || end[1] != ':' || (size_t) (end - s - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, (size_t) (end - s - 1));
                host[end - s - 1] = '\0';
                port_s = end + 2;
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon || (size_t) (colon - s) >= sizeof(host) || memchr(s, ':', (size_t) (colon - s)))
                        return -EINVAL;
                memcpy(host, s, (size_t) (colon - s));
                host[colon - s] = '\0';
                port_s = colon + 1;
        }
        char *end;
        unsigned long port = strtoul(port_s, &end, 10);
        if (!port_s[0] || *end || port > 65535 || port_s[0] == '-' || port_s[0] == '+')
                return -EINVAL;

        struct sockaddr_in *in4 = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
        if (!bracketed && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in4);
        } else if (bracketed && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else
                return -EINVAL;
        *ret = ss;
        return 0;
}

bool emu_listen_is_loopback(const struct sockaddr_storage *sa) {
        if (sa->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->ss_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *) sa)->sin6_addr);
        return false;
}

static bool is_wildcard(const struct sockaddr_storage *sa) {
        if (sa->ss_family == AF_INET)
                return ((const struct sockaddr_in *) sa)->sin_addr.s_addr == htonl(INADDR_ANY);
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *) sa)->sin6_addr);
}

/* Is our network namespace one that `ip netns add` created (bound under
 * /run/netns)? Asked when init's cannot be read: a sandbox's PID 1 may deny
 * even root its /proc/1/ns/net. */
static bool in_named_netns(const struct stat *self) {
        DIR *d = opendir("/run/netns");
        struct dirent *e;
        bool found = false;

        while (d && !found && (e = readdir(d))) {
                struct stat st;
                found = e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
                        st.st_dev == self->st_dev && st.st_ino == self->st_ino;
        }
        if (d)
                closedir(d);
        return found;
}

/* 1 in init's network namespace (or when that cannot be told: the strict
 * answer), 0 in another one */
static int in_init_netns(void) {
        struct stat self, init;
        if (stat("/proc/self/ns/net", &self) < 0)
                return 1;
        if (stat("/proc/1/ns/net", &init) < 0)
                return !in_named_netns(&self);
        return self.st_dev == init.st_dev && self.st_ino == init.st_ino;
}

static bool on_an_interface(const struct sockaddr_storage *sa) {
        struct ifaddrs *list, *i;
        bool found = false;

        if (getifaddrs(&list) < 0)
                return false;
        for (i = list; i && !found; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != sa->ss_family)
                        continue;
                if (sa->ss_family == AF_INET)
                        found = ((struct sockaddr_in *) i->ifa_addr)->sin_addr.s_addr ==
                                ((const struct sockaddr_in *) sa)->sin_addr.s_addr;
                else
                        found = memcmp(&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr,
                                       &((const struct sockaddr_in6 *) sa)->sin6_addr, sizeof(struct in6_addr)) == 0;
        }
        freeifaddrs(list);
        return found;
}

int emu_listen_open(const char *s, char *reterr, size_t reterr_size) {
        struct sockaddr_storage sa;
        socklen_t len;
        int one = 1;

        if (emu_listen_parse(s, &sa, &len) < 0) {
                snprintf(reterr, reterr_size, "\"%s\": expected IPV4:PORT or [IPV6]:PORT", s);
                return -EINVAL;
        }
        if (is_wildcard(&sa)) {
                snprintf(reterr, reterr_size,
                         "refusing %s: a wildcard would offer power control on every interface; name one address", s);
                return -EPERM;
        }
        if (!emu_listen_is_loopback(&sa)) {
                if (in_init_netns()) {
                        snprintf(reterr, reterr_size,
                                 "refusing %s: not loopback, and this process is in the initial network namespace, "
                                 "where only 127.0.0.0/8 and ::1 are allowed (run it inside the lab's namespace "
                                 "to use one of its addresses)", s);
                        return -EPERM;
                }
                if (!on_an_interface(&sa)) {
                        snprintf(reterr, reterr_size, "refusing %s: not an address of an interface in this network namespace",
                                 s);
                        return -EPERM;
                }
        }

        _cleanup_close_ int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
                int r = -errno;
                snprintf(reterr, reterr_size, "listening on %s: %s", s, strerror(errno));
                return r;
        }
        return take_fd(fd);
}
