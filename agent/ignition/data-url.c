/* data-url: encoding and decoding of RFC 2397 data: URLs; see data-url.h. */
#include "ignition/data-url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"
#include "core/strutil.h"

#define DATA_URL_PREFIX "data:"

static bool is_unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '_' || c == '~';
}

int data_url_encode(const void *text, size_t size, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        const unsigned char *p = text;
        size_t need = sizeof(DATA_URL_PREFIX ",") - 1;
        char *out, *o;

        for (size_t i = 0; i < size; i++) {
                need += is_unreserved(p[i]) ? 1 : 3;
                if (need > DATA_URL_MAX)
                        return -E2BIG;
        }
        out = malloc(need + 1);
        if (!out)
                return -ENOMEM;
        o = stpcpy(out, DATA_URL_PREFIX ",");
        for (size_t i = 0; i < size; i++) {
                if (is_unreserved(p[i]))
                        *o++ = (char) p[i];
                else {
                        *o++ = '%';
                        *o++ = hex[p[i] >> 4];
                        *o++ = hex[p[i] & 0xF];
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

bool data_url_is(const char *s, size_t n) {
        return n >= sizeof(DATA_URL_PREFIX) - 1 && strncasecmp(s, DATA_URL_PREFIX, sizeof(DATA_URL_PREFIX) - 1) == 0;
}

static int b64_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

/* In place: `buf` holds `*n` base64 characters (whitespace ignored, '='
 * only at the end); becomes the decoded bytes. */
static int base64_decode_in_place(uint8_t *buf, size_t *n) {
        uint32_t acc = 0;
        size_t o = 0, bits = 0, pad = 0;

        for (size_t i = 0; i < *n; i++) {
                int v;

                if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
                        continue;
                if (buf[i] == '=') {
                        pad++;
                        continue;
                }
                if (pad > 0)
                        return -EINVAL; /* data after padding */
                v = b64_value(buf[i]);
                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf[o++] = (uint8_t) (acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (pad > 2 || bits >= 6)
                return -EINVAL; /* one stray character cannot encode a byte */
        *n = o;
        return 0;
}

int data_url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *out = NULL;
        const char *comma, *data;
        size_t header, o = 0;
        bool base64;

        if (!data_url_is(s, n))
                return -EINVAL;
        if (n > DATA_URL_MAX)
                return -E2BIG;
        comma = memchr(s, ',', n);
        if (!comma)
                return -EINVAL;
        header = (size_t) (comma - s);
        base64 = header >= sizeof(DATA_URL_PREFIX) - 1 + 7 && strncasecmp(comma - 7, ";base64", 7) == 0;
        data = comma + 1;

        /* decoded is never longer than encoded */
        out = malloc(n - header);
        if (!out)
                return -ENOMEM;
        for (const char *c = data; c < s + n; c++) {
                if (*c == '%') {
                        int hi, lo;

                        if (s + n - c < 3)
                                return -EINVAL;
                        hi = hex_digit_value(c[1]);
                        lo = hex_digit_value(c[2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        out[o++] = (uint8_t) (hi << 4 | lo);
                        c += 2;
                } else
                        out[o++] = (uint8_t) *c;
        }
        if (base64) {
                int r = base64_decode_in_place(out, &o);
                if (r < 0)
                        return r;
        }
        out[o] = '\0';
        *ret = take_ptr(out);
        *ret_size = o;
        return 0;
}
