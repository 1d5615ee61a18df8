/* Request paths to resources: a const table of URI patterns ("{}" is an
 * id) matched segment by segment. Every id is checked against a small
 * character set, so ids reach JSON and logs only in a form we generate
 * ourselves. A trailing slash is accepted (Redfish clients send both
 * /redfish/v1 and /redfish/v1/). Pure: fuzzed by fuzz-bmc-request. */
#include <stdio.h>
#include <string.h>

#include "bmc.h"

typedef struct PathPattern {
        const char *pattern;
        BmcResource resource;
} PathPattern;

#define SYS "/redfish/v1/Systems/{}"
#define MGR "/redfish/v1/Managers/{}"

static const PathPattern patterns[] = {
        { "/redfish", BMC_RES_VERSIONS },
        { "/redfish/v1", BMC_RES_ROOT },
        { "/redfish/v1/SessionService", BMC_RES_SESSION_SERVICE },
        { "/redfish/v1/SessionService/Sessions", BMC_RES_SESSIONS },
        { "/redfish/v1/SessionService/Sessions/{}", BMC_RES_SESSION },
        { "/redfish/v1/Systems", BMC_RES_SYSTEMS },
        { SYS, BMC_RES_SYSTEM },
        { SYS "/Settings", BMC_RES_SYSTEM_SETTINGS },
        { SYS "/Actions/ComputerSystem.Reset", BMC_RES_SYSTEM_RESET },
        { SYS "/EthernetInterfaces", BMC_RES_NICS },
        { SYS "/EthernetInterfaces/{}", BMC_RES_NIC },
        { SYS "/VirtualMedia", BMC_RES_SYS_MEDIA_COLL },
        { SYS "/VirtualMedia/{}", BMC_RES_SYS_MEDIA },
        { SYS "/VirtualMedia/{}/Actions/VirtualMedia.InsertMedia", BMC_RES_SYS_MEDIA_INSERT },
        { SYS "/VirtualMedia/{}/Actions/VirtualMedia.EjectMedia", BMC_RES_SYS_MEDIA_EJECT },
        { "/redfish/v1/Managers", BMC_RES_MANAGERS },
        { MGR, BMC_RES_MANAGER },
        { MGR "/VirtualMedia", BMC_RES_MGR_MEDIA_COLL },
        { MGR "/VirtualMedia/{}", BMC_RES_MGR_MEDIA },
        { MGR "/VirtualMedia/{}/Actions/VirtualMedia.InsertMedia", BMC_RES_MGR_MEDIA_INSERT },
        { MGR "/VirtualMedia/{}/Actions/VirtualMedia.EjectMedia", BMC_RES_MGR_MEDIA_EJECT },
        { "/redfish/v1/TaskService", BMC_RES_TASK_SERVICE },
        { "/redfish/v1/TaskService/Tasks", BMC_RES_TASKS },
        { "/redfish/v1/TaskService/Tasks/{}", BMC_RES_TASK },
        { "/redfish/v1/TaskService/Tasks/{}/Monitor", BMC_RES_TASK_MONITOR },
        /* test endpoints, outside /redfish */
        { "/strata-bmc/v1/history/{}", BMC_RES_HISTORY },
        { "/strata-bmc/v1/faults/{}", BMC_RES_FAULTS },
};

typedef struct Segments {
        const char *start[BMC_PATH_SEGMENTS_MAX];
        size_t len[BMC_PATH_SEGMENTS_MAX];
        size_t n;
} Segments;

/* "/a/b/" -> a, b. An empty segment anywhere else ("//", "/") is -EINVAL. */
static int split(const char *path, Segments *ret) {
        Segments s = { 0 };
        const char *p = path;
        size_t total = strlen(path);

        if (p[0] != '/')
                return -EINVAL;
        if (total > 1 && path[total - 1] == '/' && path[total - 2] != '/')
                total--; /* one trailing slash; "//" stays an empty segment */
        const char *end = path + total;
        p++;
        while (p < end) {
                const char *q = memchr(p, '/', (size_t) (end - p));
                size_t len = q ? (size_t) (q - p) : (size_t) (end - p);
                if (len == 0)
                        return -EINVAL;
                if (s.n >= BMC_PATH_SEGMENTS_MAX)
                        return -E2BIG;
                s.start[s.n] = p;
                s.len[s.n] = len;
                s.n++;
                p += len + (q ? 1 : 0);
        }
        if (s.n == 0)
                return -ENOENT; /* "/" */
        *ret = s;
        return 0;
}

static bool id_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._~:@-", c);
}

static bool id_valid_n(const char *s, size_t n) {
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!s[i] || !id_char(s[i]))
                        return false;
        return true;
}

bool emu_id_is_valid(const char *id) {
        size_t n = strlen(id);
        return n < BMC_ID_MAX && id_valid_n(id, n);
}

static bool is_hole(const Segments *pat, size_t i) {
        return pat->len[i] == 2 && memcmp(pat->start[i], "{}", 2) == 0;
}

/* 1 on match (ids copied), 0 if not, -errno for a bad id in a path whose
 * literal segments match */
static int match(const Segments *path, const char *pattern, BmcPath *ret) {
        Segments pat;
        size_t n_ids = 0;
        BmcPath out = { 0 };

        if (split(pattern, &pat) < 0 || pat.n != path->n)
                return 0;
        for (size_t i = 0; i < pat.n; i++)
                if (!is_hole(&pat, i) &&
                    (pat.len[i] != path->len[i] || memcmp(pat.start[i], path->start[i], pat.len[i]) != 0))
                        return 0;
        for (size_t i = 0; i < pat.n; i++) {
                if (!is_hole(&pat, i))
                        continue;
                if (path->len[i] >= BMC_ID_MAX)
                        return -ENAMETOOLONG;
                if (!id_valid_n(path->start[i], path->len[i]))
                        return -EINVAL;
                char *dst = n_ids == 0 ? out.id : out.sub;
                memcpy(dst, path->start[i], path->len[i]);
                dst[path->len[i]] = '\0';
                n_ids++;
        }
        *ret = out;
        return 1;
}

int emu_path_parse(const char *path, BmcPath *ret) {
        Segments s;
        int r = split(path, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
                BmcPath p;
                r = match(&s, patterns[i].pattern, &p);
                if (r < 0)
                        return r;
                if (r > 0) {
                        p.resource = patterns[i].resource;
                        *ret = p;
                        return 0;
                }
        }
        return -ENOENT;
}
