/* unit-name: systemd unit-name escaping (systemd's unit_name_escape and
 * unit_name_path_escape, src/basic/unit-name.c); see unit-name.h. */
#include "ignition/unit-name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

static bool keep(char c, bool first) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '_')
                return true;
        return c == '.' && !first;
}

/* Escapes n bytes of s (no length checks). */
static int escape(const char *s, size_t n, char **ret) {
        static const char hex[] = "0123456789abcdef";
        char *out = malloc(n * 4 + 1), *o;

        if (!out)
                return -ENOMEM;
        o = out;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '/')
                        *o++ = '-';
                else if (keep((char) c, i == 0))
                        *o++ = (char) c;
                else {
                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 0xF];
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int unit_name_escape(const char *s, char **ret) {
        size_t n = strlen(s);

        if (n == 0 || n > UNIT_NAME_INPUT_MAX)
                return -EINVAL;
        return escape(s, n, ret);
}

int unit_name_path_escape(const char *path, char **ret) {
        _cleanup_free_ char *simple = NULL;
        size_t n = strlen(path), o = 0;

        if (n == 0 || n > UNIT_NAME_INPUT_MAX || path[0] != '/')
                return -EINVAL;
        simple = malloc(n + 1);
        if (!simple)
                return -ENOMEM;
        /* component by component: drop empty ones and ".", refuse ".." */
        for (const char *c = path; *c;) {
                const char *end;
                size_t len;

                while (*c == '/')
                        c++;
                if (!*c)
                        break;
                end = strchrnul(c, '/');
                len = (size_t) (end - c);
                if (len == 2 && c[0] == '.' && c[1] == '.')
                        return -EINVAL;
                if (len == 1 && c[0] == '.') {
                        c = end;
                        continue;
                }
                if (o > 0)
                        simple[o++] = '/';
                memcpy(simple + o, c, len);
                o += len;
                c = end;
        }
        if (o == 0) {
                *ret = strdup("-");
                return *ret ? 0 : -ENOMEM;
        }
        return escape(simple, o, ret);
}
