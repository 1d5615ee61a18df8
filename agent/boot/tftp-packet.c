/* tftp-packet: parses TFTP requests, ACKs and ERRORs and builds DATA, OACK
 * and ERROR (see tftp-packet.h for the decisions). Strings on the wire are
 * NUL-terminated; tftp_string_get() is the one place that finds a NUL, and
 * only within what the cursor says remains. */
#include "boot/tftp-packet.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"
#include "core/strutil.h"

const char *const tftp_packet_reasons[] = {
        TFTP_REASON_OVERSIZED,
        TFTP_REASON_TRUNCATED,
        TFTP_REASON_OPCODE,
        TFTP_REASON_WRITE,
        TFTP_REASON_MODE,
        TFTP_REASON_FILENAME,
        NULL,
};

bool tftp_packet_reason_is_known(const char *reason) {
        return strv_contains(tftp_packet_reasons, reason);
}

/* One row per option we understand: adding one is adding a row (and its
 * negotiation rule in tftp_options_negotiate). */
typedef struct TftpOptionRow {
        const char *name;
        uint64_t min, max;
} TftpOptionRow;

static const TftpOptionRow tftp_option_table[_TFTP_OPTION_MAX] = {
        [TFTP_OPTION_BLKSIZE] = { "blksize", TFTP_BLKSIZE_MIN, TFTP_BLKSIZE_MAX },
        [TFTP_OPTION_TSIZE] = { "tsize", 0, UINT64_MAX },
        [TFTP_OPTION_TIMEOUT] = { "timeout", TFTP_TIMEOUT_MIN, TFTP_TIMEOUT_MAX },
        [TFTP_OPTION_WINDOWSIZE] = { "windowsize", TFTP_WINDOWSIZE_MIN, TFTP_WINDOWSIZE_MAX },
};

const char *tftp_option_to_string(TftpOption opt) {
        if (opt < 0 || opt >= _TFTP_OPTION_MAX)
                return NULL;
        return tftp_option_table[opt].name;
}

int tftp_option_range(TftpOption opt, uint64_t *ret_min, uint64_t *ret_max) {
        if (opt < 0 || opt >= _TFTP_OPTION_MAX)
                return -EINVAL;
        *ret_min = tftp_option_table[opt].min;
        *ret_max = tftp_option_table[opt].max;
        return 0;
}

static TftpOption tftp_option_from_string(const char *name) {
        for (TftpOption o = 0; o < _TFTP_OPTION_MAX; o++)
                if (strcasecmp(tftp_option_table[o].name, name) == 0)
                        return o;
        return _TFTP_OPTION_INVALID;
}

__attribute__((format(printf, 6, 7))) static int tftp_refuse(TftpRefusal *reterr, int r, const char *reason,
                                                             uint16_t opcode, uint16_t code, const char *format,
                                                             ...) {
        va_list ap;

        if (!reterr)
                return r;
        *reterr = (TftpRefusal) {
                .reason = reason,
                .opcode = opcode,
                .code = code,
                /* never answer an ERROR: two servers would bounce errors forever */
                .reply = opcode != TFTP_OPCODE_ERROR,
        };
        va_start(ap, format);
        vsnprintf(reterr->detail, sizeof(reterr->detail), format, ap);
        va_end(ap);
        return r;
}

/* Takes the next NUL-terminated string: *ret points at it inside the
 * buffer (NUL included, so it is a C string) and *ret_len is its length.
 * -EBADMSG when no NUL comes before the end; nothing is consumed then. */
static int tftp_string_get(Cursor *c, const char **ret, size_t *ret_len) {
        const uint8_t *p = NULL;
        size_t n, rem = cursor_remaining(c);
        int r;

        r = cursor_peek(c, rem, &p);
        if (r < 0)
                return r;
        n = rem ? strnlen((const char *) p, rem) : 0;
        if (n == rem)
                return -EBADMSG;
        r = cursor_get_span(c, n + 1, &p);
        if (r < 0)
                return r;
        *ret = (const char *) p;
        *ret_len = n;
        return 0;
}

/* Plain decimal: digits only (leading zeros allowed), no sign, no space,
 * no overflow. -EINVAL otherwise. */
static int tftp_decimal_parse(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int tftp_filename_validate(const char *name, size_t n, TftpRefusal *reterr) {
#define REFUSE(...) \
        tftp_refuse(reterr, -EBADMSG, TFTP_REASON_FILENAME, TFTP_OPCODE_RRQ, TFTP_ERROR_ACCESS, __VA_ARGS__)
        size_t start = 0;

        if (n == 0)
                return REFUSE("filename: empty");
        if (n > TFTP_FILENAME_MAX)
                return REFUSE("filename: %zu bytes (max %u)", n, TFTP_FILENAME_MAX);
        if (name[0] == '/')
                return REFUSE("filename: absolute (starts with '/')");
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) name[i];

                if (ch == '\\')
                        return REFUSE("filename: backslash at offset %zu", i);
                if (ch < 0x20 || ch > 0x7e)
                        return REFUSE("filename: byte 0x%02x at offset %zu is not printable ASCII", ch, i);
        }
        /* components, between slashes; the last ends at n */
        for (size_t i = 0; i <= n; i++) {
                size_t len;

                if (i < n && name[i] != '/')
                        continue;
                len = i - start;
                if (len == 0)
                        return REFUSE("filename: empty component at offset %zu", start);
                if (len == 1 && name[start] == '.')
                        return REFUSE("filename: \".\" component at offset %zu", start);
                if (len == 2 && name[start] == '.' && name[start + 1] == '.')
                        return REFUSE("filename: \"..\" component at offset %zu", start);
                start = i + 1;
        }
        return 0;
#undef REFUSE
}

int tftp_packet_opcode(const void *data, size_t size, uint16_t *ret) {
        Cursor c;

        cursor_init(&c, data, size);
        return cursor_get_be16(&c, ret) < 0 ? -EBADMSG : 0;
}

/* The options after the mode: pairs of strings until the end. */
static int tftp_options_parse(Cursor *c, TftpOptions *opts, unsigned *n_ignored, TftpRefusal *reterr) {
        while (!cursor_at_end(c)) {
                const char *name, *value;
                size_t name_len, value_len, at = cursor_offset(c);
                TftpOption o;
                uint64_t v;

                if (tftp_string_get(c, &name, &name_len) < 0)
                        return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_OPCODE_RRQ,
                                           TFTP_ERROR_ILLEGAL, "option name at offset %zu: no NUL", at);
                if (cursor_at_end(c)) {
                        /* a named option cut off before its value is a
                         * truncated request; an empty string is padding.
                         * The detail names only options from our table:
                         * wire bytes never reach it (it is sent back). */
                        if (name_len > 0) {
                                const char *known = tftp_option_to_string(tftp_option_from_string(name));
                                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_OPCODE_RRQ,
                                                   TFTP_ERROR_ILLEGAL, "option %s%s%sat offset %zu: no value",
                                                   known ? "\"" : "", known ?: "", known ? "\" " : "", at);
                        }
                        (*n_ignored)++;
                        break;
                }
                at = cursor_offset(c);
                if (tftp_string_get(c, &value, &value_len) < 0)
                        return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_OPCODE_RRQ,
                                           TFTP_ERROR_ILLEGAL, "option value at offset %zu: no NUL", at);

                o = tftp_option_from_string(name);
                if (o < 0 || opts->present & (1u << o) || tftp_decimal_parse(value, value_len, &v) < 0 ||
                    v < tftp_option_table[o].min || v > tftp_option_table[o].max) {
                        (*n_ignored)++;
                        continue;
                }
                opts->present |= 1u << o;
                opts->value[o] = v;
        }
        return 0;
}

int tftp_request_parse(const void *data, size_t size, TftpRequest *ret, TftpRefusal *reterr) {
        TftpRequest req = {};
        const char *filename, *mode;
        size_t filename_len, mode_len;
        uint16_t opcode = 0;
        Cursor c;
        int r;

        cursor_init(&c, data, size);
        (void) cursor_get_be16(&c, &opcode);
        if (size > TFTP_REQUEST_MAX)
                return tftp_refuse(reterr, -EMSGSIZE, TFTP_REASON_OVERSIZED, opcode, TFTP_ERROR_ILLEGAL,
                                   "request of %zu bytes (max %u)", size, TFTP_REQUEST_MAX);
        if (cursor_error(&c) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, 0, TFTP_ERROR_ILLEGAL,
                                   "%zu bytes: no opcode", size);
        if (opcode == TFTP_OPCODE_WRQ)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_WRITE, opcode, TFTP_ERROR_ACCESS,
                                   "write request: this server is read only");
        if (opcode != TFTP_OPCODE_RRQ)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_OPCODE, opcode, TFTP_ERROR_ILLEGAL,
                                   "opcode %u is not a read request", opcode);

        if (tftp_string_get(&c, &filename, &filename_len) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, opcode, TFTP_ERROR_ILLEGAL,
                                   "filename at offset 2: no NUL");
        size_t mode_at = cursor_offset(&c);
        if (tftp_string_get(&c, &mode, &mode_len) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, opcode, TFTP_ERROR_ILLEGAL,
                                   "mode at offset %zu: no NUL", mode_at);
        if (strcasecmp(mode, "octet") != 0) {
                const char *why = strcasecmp(mode, "netascii") == 0 ? "netascii is not served, use octet"
                                  : strcasecmp(mode, "mail") == 0   ? "mail is obsolete and not served"
                                                                    : "unknown mode, use octet";
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_MODE, opcode, TFTP_ERROR_ILLEGAL,
                                   "mode at offset %zu: %s", mode_at, why);
        }
        r = tftp_filename_validate(filename, filename_len, reterr);
        if (r < 0)
                return r;
        r = tftp_options_parse(&c, &req.options, &req.n_ignored, reterr);
        if (r < 0)
                return r;

        memcpy(req.filename, filename, filename_len);
        req.filename[filename_len] = '\0';
        *ret = req;
        return 0;
}

int tftp_ack_parse(const void *data, size_t size, uint16_t *ret_block, TftpRefusal *reterr) {
        uint16_t opcode = 0, block = 0;
        Cursor c;

        cursor_init(&c, data, size);
        if (cursor_get_be16(&c, &opcode) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, 0, TFTP_ERROR_ILLEGAL,
                                   "%zu bytes: no opcode", size);
        if (opcode != TFTP_OPCODE_ACK)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_OPCODE, opcode, TFTP_ERROR_ILLEGAL,
                                   "opcode %u is not an ACK", opcode);
        if (cursor_get_be16(&c, &block) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, opcode, TFTP_ERROR_ILLEGAL,
                                   "ACK of %zu bytes: no block number", size);
        *ret_block = block;
        return 0;
}

int tftp_error_parse(const void *data, size_t size, TftpErrorPacket *ret, TftpRefusal *reterr) {
        TftpErrorPacket e = {};
        uint16_t opcode = 0;
        size_t n = 0;
        Cursor c;

        cursor_init(&c, data, size);
        if (cursor_get_be16(&c, &opcode) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, 0, TFTP_ERROR_ILLEGAL,
                                   "%zu bytes: no opcode", size);
        if (opcode != TFTP_OPCODE_ERROR)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_OPCODE, opcode, TFTP_ERROR_ILLEGAL,
                                   "opcode %u is not an ERROR", opcode);
        if (cursor_get_be16(&c, &e.code) < 0)
                return tftp_refuse(reterr, -EBADMSG, TFTP_REASON_TRUNCATED, opcode, TFTP_ERROR_ILLEGAL,
                                   "ERROR of %zu bytes: no error code", size);
        while (n < sizeof(e.message) - 1) {
                uint8_t ch;

                if (cursor_get_u8(&c, &ch) < 0 || ch == 0)
                        break;
                e.message[n++] = ch >= 0x20 && ch <= 0x7e ? (char) ch : '?';
        }
        *ret = e;
        return 0;
}

void tftp_options_negotiate(const TftpOptions *requested, unsigned blksize_max, uint64_t file_size,
                            TftpOptions *ret) {
        TftpOptions o = {};

        if (blksize_max < TFTP_BLKSIZE_MIN)
                blksize_max = TFTP_BLKSIZE_MIN;
        if (blksize_max > TFTP_BLKSIZE_MAX)
                blksize_max = TFTP_BLKSIZE_MAX;

        /* RFC 2348 §"Block size negotiation": the server may answer less */
        if (tftp_options_has(requested, TFTP_OPTION_BLKSIZE)) {
                uint64_t v = requested->value[TFTP_OPTION_BLKSIZE];
                o.present |= 1u << TFTP_OPTION_BLKSIZE;
                o.value[TFTP_OPTION_BLKSIZE] = v < blksize_max ? v : blksize_max;
        }
        /* RFC 2349 §"Transfer Size Option": a read request sends 0, the OACK the size */
        if (tftp_options_has(requested, TFTP_OPTION_TSIZE)) {
                o.present |= 1u << TFTP_OPTION_TSIZE;
                o.value[TFTP_OPTION_TSIZE] = file_size;
        }
        /* RFC 2349: echoed exactly, or not at all */
        if (tftp_options_has(requested, TFTP_OPTION_TIMEOUT) &&
            requested->value[TFTP_OPTION_TIMEOUT] <= TFTP_TIMEOUT_SERVER_MAX) {
                o.present |= 1u << TFTP_OPTION_TIMEOUT;
                o.value[TFTP_OPTION_TIMEOUT] = requested->value[TFTP_OPTION_TIMEOUT];
        }
        /* RFC 7440 §3: the server may answer a smaller window */
        if (tftp_options_has(requested, TFTP_OPTION_WINDOWSIZE)) {
                uint64_t v = requested->value[TFTP_OPTION_WINDOWSIZE];
                o.present |= 1u << TFTP_OPTION_WINDOWSIZE;
                o.value[TFTP_OPTION_WINDOWSIZE] = v < TFTP_WINDOWSIZE_SERVER_MAX ? v : TFTP_WINDOWSIZE_SERVER_MAX;
        }
        *ret = o;
}

int tftp_data_header_build(Writer *w, uint16_t block) {
        writer_put_be16(w, TFTP_OPCODE_DATA);
        writer_put_be16(w, block);
        return writer_error(w);
}

int tftp_data_build(Writer *w, uint16_t block, const void *p, size_t n) {
        if (!p && n > 0)
                return -EINVAL;
        tftp_data_header_build(w, block);
        writer_put_bytes(w, p, n);
        return writer_error(w);
}

int tftp_oack_build(Writer *w, const TftpOptions *o) {
        if ((o->present & ((1u << _TFTP_OPTION_MAX) - 1)) == 0)
                return -EINVAL;
        writer_put_be16(w, TFTP_OPCODE_OACK);
        for (TftpOption i = 0; i < _TFTP_OPTION_MAX; i++) {
                char value[sizeof("18446744073709551615")];
                int n;

                if (!tftp_options_has(o, i))
                        continue;
                n = snprintf(value, sizeof(value), "%" PRIu64, o->value[i]);
                writer_put_bytes(w, tftp_option_table[i].name, strlen(tftp_option_table[i].name) + 1);
                writer_put_bytes(w, value, (size_t) n + 1);
        }
        return writer_error(w);
}

int tftp_error_build(Writer *w, uint16_t code, const char *message) {
        size_t n = message ? strnlen(message, TFTP_ERROR_MESSAGE_MAX - 1) : 0;

        writer_put_be16(w, TFTP_OPCODE_ERROR);
        writer_put_be16(w, code);
        writer_put_bytes(w, message, n);
        writer_put_u8(w, 0);
        return writer_error(w);
}
