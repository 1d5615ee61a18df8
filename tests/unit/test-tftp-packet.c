/* Tests for agent/boot/tftp-packet.c: the requests real clients send (iPXE,
 * OVMF, curl), every option at and past its bounds, malformed, unknown and
 * repeated options, padding and a name without its value, every refusal
 * reason with the error code it answers, exact-fit and every truncation of
 * a request, traversal names, ACK and ERROR parsing, negotiation, and the
 * DATA, OACK and ERROR bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/tftp-packet.h"
#include "core/cleanup.h"

/* A wire literal with its embedded NULs: pointer and length. */
#define LIT(s) (const uint8_t *) (s), (sizeof(s) - 1)

static const TftpRequest poison = { .filename = "poison", .n_ignored = 77 };

static void parse_ok(const uint8_t *p, size_t n, TftpRequest *req) {
        TftpRefusal why = {};
        int r = tftp_request_parse(p, n, req, &why);
        if (r < 0)
                fail_msg("refused: %s (%s)", why.detail, why.reason);
}

/* Refused for `reason`, answering `code`, with *ret untouched. */
static void parse_refused(const uint8_t *p, size_t n, int error, const char *reason, uint16_t code) {
        TftpRequest req = poison;
        TftpRefusal why = {};

        assert_int_equal(tftp_request_parse(p, n, &req, &why), error);
        assert_string_equal(why.reason, reason);
        assert_int_equal(why.code, code);
        assert_true(tftp_packet_reason_is_known(why.reason));
        assert_true(strlen(why.detail) > 0);
        assert_string_equal(req.filename, poison.filename);
        assert_int_equal(req.n_ignored, poison.n_ignored);
        for (const char *d = why.detail; *d; d++)
                assert_true(*d >= 0x20 && *d <= 0x7e);
        /* and without a refusal to fill */
        assert_int_equal(tftp_request_parse(p, n, &req, NULL), error);
}

static void test_tftp_request_parse_ipxe(void **state) {
        TftpRequest req;
        (void) state;
        /* iPXE src/net/udp/tftp.c tftp_send_rrq(): blksize from the MTU, tsize 0 */
        parse_ok(LIT("\0\1undionly.kpxe\0octet\0blksize\0001432\0tsize\0000\0"), &req);
        assert_string_equal(req.filename, "undionly.kpxe");
        assert_int_equal(req.options.present, (1u << TFTP_OPTION_BLKSIZE) | (1u << TFTP_OPTION_TSIZE));
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 1432);
        assert_int_equal(req.options.value[TFTP_OPTION_TSIZE], 0);
        assert_int_equal(req.n_ignored, 0);
}

static void test_tftp_request_parse_ovmf(void **state) {
        TftpRequest req;
        (void) state;
        /* OVMF's first RRQ (docs/pxe-boot.md §6) */
        parse_ok(LIT("\0\1ipxe.efi\0octet\0tsize\0000\0blksize\0001468\0windowsize\0004\0"), &req);
        assert_string_equal(req.filename, "ipxe.efi");
        assert_true(tftp_options_has(&req.options, TFTP_OPTION_TSIZE));
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 1468);
        assert_int_equal(req.options.value[TFTP_OPTION_WINDOWSIZE], 4);
        assert_false(tftp_options_has(&req.options, TFTP_OPTION_TIMEOUT));
}

static void test_tftp_request_parse_curl(void **state) {
        TftpRequest req;
        (void) state;
        /* curl 7.88 `curl tftp://host/a/b`, captured */
        parse_ok(LIT("\0\1a/b\0octet\0tsize\0000\0blksize\000512\0timeout\0006\0"), &req);
        assert_string_equal(req.filename, "a/b");
        assert_int_equal(req.options.present, (1u << TFTP_OPTION_BLKSIZE) | (1u << TFTP_OPTION_TSIZE) |
                                                      (1u << TFTP_OPTION_TIMEOUT));
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 512);
        assert_int_equal(req.options.value[TFTP_OPTION_TIMEOUT], 6);
}

static void test_tftp_request_parse_no_options(void **state) {
        TftpRequest req;
        (void) state;
        parse_ok(LIT("\0\1f\0octet\0"), &req);
        assert_string_equal(req.filename, "f");
        assert_int_equal(req.options.present, 0);
        assert_int_equal(req.n_ignored, 0);
}

static void test_tftp_request_parse_case_insensitive(void **state) {
        TftpRequest req;
        (void) state;
        parse_ok(LIT("\0\1f\0OcTeT\0BLKSIZE\0001024\0TSize\0000\0TimeOut\0003\0WINDOWSIZE\0008\0"), &req);
        assert_int_equal(req.options.present, (1u << _TFTP_OPTION_MAX) - 1);
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 1024);
        assert_int_equal(req.options.value[TFTP_OPTION_TIMEOUT], 3);
        assert_int_equal(req.options.value[TFTP_OPTION_WINDOWSIZE], 8);
}

/* Builds "\0\1f\0octet\0NAME\0VALUE\0" into buf. */
static size_t build_one_option(uint8_t *buf, size_t size, const char *name, const char *value) {
        Writer w;
        writer_init(&w, buf, size);
        writer_put_bytes(&w, "\0\1f\0octet", sizeof("\0\1f\0octet"));
        writer_put_bytes(&w, name, strlen(name) + 1);
        writer_put_bytes(&w, value, strlen(value) + 1);
        assert_int_equal(writer_error(&w), 0);
        return writer_length(&w);
}

static void test_tftp_request_parse_option_bounds(void **state) {
        static const struct {
                const char *name, *value;
                bool accepted;
                uint64_t v;
        } cases[] = {
                { "blksize", "7", false, 0 },
                { "blksize", "8", true, 8 },
                { "blksize", "65464", true, 65464 },
                { "blksize", "65465", false, 0 },
                { "tsize", "0", true, 0 },
                { "tsize", "18446744073709551615", true, UINT64_MAX },
                { "tsize", "18446744073709551616", false, 0 },
                { "tsize", "99999999999999999999999", false, 0 },
                { "timeout", "0", false, 0 },
                { "timeout", "1", true, 1 },
                { "timeout", "255", true, 255 },
                { "timeout", "256", false, 0 },
                { "windowsize", "0", false, 0 },
                { "windowsize", "1", true, 1 },
                { "windowsize", "65535", true, 65535 },
                { "windowsize", "65536", false, 0 },
                { "blksize", "001432", true, 1432 }, /* leading zeros are still decimal */
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t buf[TFTP_REQUEST_MAX];
                size_t n = build_one_option(buf, sizeof(buf), cases[i].name, cases[i].value);
                TftpRequest req;
                TftpOption o = _TFTP_OPTION_INVALID;

                for (TftpOption k = 0; k < _TFTP_OPTION_MAX; k++)
                        if (strcmp(tftp_option_to_string(k), cases[i].name) == 0)
                                o = k;
                assert_true(o >= 0);
                parse_ok(buf, n, &req);
                if (tftp_options_has(&req.options, o) != cases[i].accepted)
                        fail_msg("%s %s: expected %s", cases[i].name, cases[i].value,
                                 cases[i].accepted ? "accepted" : "ignored");
                assert_int_equal(req.n_ignored, cases[i].accepted ? 0 : 1);
                if (cases[i].accepted)
                        assert_true(req.options.value[o] == cases[i].v);
        }
}

static void test_tftp_request_parse_malformed_values_ignored(void **state) {
        static const char *const values[] = { "", "12a", "-1", "+5", " 5", "5 ", "0x10", "1e3", "١" };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                uint8_t buf[TFTP_REQUEST_MAX];
                size_t n = build_one_option(buf, sizeof(buf), "blksize", values[i]);
                TftpRequest req;

                parse_ok(buf, n, &req);
                assert_int_equal(req.options.present, 0);
                assert_int_equal(req.n_ignored, 1);
                assert_string_equal(req.filename, "f");
        }
}

static void test_tftp_request_parse_unknown_options_ignored(void **state) {
        TftpRequest req;
        (void) state;
        /* RFC 2090 multicast, a vendor option, an empty name */
        parse_ok(LIT("\0\1f\0octet\0multicast\0\0x-vendor\0yes\0\0\0blksize\0001432\0"), &req);
        assert_int_equal(req.options.present, 1u << TFTP_OPTION_BLKSIZE);
        assert_int_equal(req.n_ignored, 3);
}

static void test_tftp_request_parse_repeated_option_first_wins(void **state) {
        TftpRequest req;
        (void) state;
        parse_ok(LIT("\0\1f\0octet\0blksize\0001432\0BLKSIZE\0008\0"), &req);
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 1432);
        assert_int_equal(req.n_ignored, 1);
        /* a malformed first one does not block a later good one */
        parse_ok(LIT("\0\1f\0octet\0blksize\0x\0blksize\000999\0"), &req);
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 999);
        assert_int_equal(req.n_ignored, 1);
}

static void test_tftp_request_parse_unpaired_name(void **state) {
        TftpRequest req;
        TftpRefusal why;
        (void) state;
        /* a named option cut off before its value: truncated, refused */
        parse_refused(LIT("\0\1f\0octet\0blksize\0"), -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_ERROR_ILLEGAL);
        assert_int_equal(tftp_request_parse(LIT("\0\1f\0octet\0BlkSize\0"), &req, &why), -EBADMSG);
        assert_string_equal(why.detail, "option \"blksize\" at offset 10: no value");
        /* an unknown name is not echoed: the detail goes back to the client */
        parse_refused(LIT("\0\1f\0octet\0\x1b[2J\0"), -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_ERROR_ILLEGAL);
        assert_int_equal(tftp_request_parse(LIT("\0\1f\0octet\0\x1b[2J\0"), &req, &why), -EBADMSG);
        assert_string_equal(why.detail, "option at offset 10: no value");
        /* a NUL of padding after the mode or after the last value is ignored */
        parse_ok(LIT("\0\1f\0octet\0\0"), &req);
        assert_int_equal(req.options.present, 0);
        assert_int_equal(req.n_ignored, 1);
        parse_ok(LIT("\0\1f\0octet\0tsize\0000\0\0"), &req);
        assert_int_equal(req.options.present, 1u << TFTP_OPTION_TSIZE);
        assert_int_equal(req.n_ignored, 1);
}

static void test_tftp_request_parse_exact_fit(void **state) {
        uint8_t buf[TFTP_REQUEST_MAX + 1];
        TftpRequest req;
        Writer w;
        (void) state;

        /* a 255-byte name, and an unknown option padding the request to exactly 512 */
        writer_init(&w, buf, sizeof(buf));
        writer_put_be16(&w, TFTP_OPCODE_RRQ);
        for (size_t i = 0; i < TFTP_FILENAME_MAX; i++)
                writer_put_u8(&w, 'a');
        writer_put_bytes(&w, "\0octet\0blksize\0001432\0pad\0", sizeof("\0octet\0blksize\0001432\0pad\0") - 1);
        while (writer_length(&w) < TFTP_REQUEST_MAX - 1)
                writer_put_u8(&w, 'x');
        writer_put_u8(&w, 0);
        assert_int_equal(writer_length(&w), TFTP_REQUEST_MAX);
        parse_ok(buf, TFTP_REQUEST_MAX, &req);
        assert_int_equal(strlen(req.filename), TFTP_FILENAME_MAX);
        assert_int_equal(req.options.value[TFTP_OPTION_BLKSIZE], 1432);
        assert_int_equal(req.n_ignored, 1);

        /* one byte more is oversized, whatever it holds */
        buf[TFTP_REQUEST_MAX] = 0;
        parse_refused(buf, TFTP_REQUEST_MAX + 1, -EMSGSIZE, TFTP_REASON_OVERSIZED, TFTP_ERROR_ILLEGAL);
}

static void test_tftp_request_parse_truncated(void **state) {
        static const uint8_t full[] = "\0\1file\0octet\0blksize\0001432\0";
        const size_t n = sizeof(full) - 1;
        /* prefixes that end where the rest is optional: after the mode (a
         * name without its value is truncated, not optional) */
        const size_t after_mode = strlen("..file.octet.");
        (void) state;

        for (size_t len = 0; len <= n; len++) {
                TftpRequest req;

                if (len == after_mode || len == n) {
                        parse_ok(full, len, &req);
                        assert_string_equal(req.filename, "file");
                        assert_int_equal(req.options.present, len == n ? 1u << TFTP_OPTION_BLKSIZE : 0);
                        continue;
                }
                parse_refused(full, len, -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_ERROR_ILLEGAL);
        }
        /* no NUL at all after the name */
        parse_refused(LIT("\0\1undionly.kpxe"), -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_ERROR_ILLEGAL);
        /* NULL with no bytes */
        parse_refused(NULL, 0, -EBADMSG, TFTP_REASON_TRUNCATED, TFTP_ERROR_ILLEGAL);
}

static void test_tftp_request_parse_wrq_refused(void **state) {
        TftpRequest req;
        TftpRefusal why;
        (void) state;
        parse_refused(LIT("\0\2f\0octet\0"), -EBADMSG, TFTP_REASON_WRITE, TFTP_ERROR_ACCESS);
        assert_int_equal(tftp_request_parse(LIT("\0\2f\0octet\0"), &req, &why), -EBADMSG);
        assert_int_equal(why.opcode, TFTP_OPCODE_WRQ);
        assert_true(why.reply);
        /* refused before anything else is looked at */
        parse_refused(LIT("\0\2../etc/passwd\0netascii\0"), -EBADMSG, TFTP_REASON_WRITE, TFTP_ERROR_ACCESS);
}

static void test_tftp_request_parse_opcode_refused(void **state) {
        static const uint16_t opcodes[] = { 0, TFTP_OPCODE_DATA, TFTP_OPCODE_ACK, TFTP_OPCODE_ERROR,
                                            TFTP_OPCODE_OACK, 7, 0x0101, 0xffff };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(opcodes); i++) {
                uint8_t buf[16];
                TftpRequest req;
                TftpRefusal why;
                Writer w;

                writer_init(&w, buf, sizeof(buf));
                writer_put_be16(&w, opcodes[i]);
                writer_put_bytes(&w, "f\0octet\0", 8);
                parse_refused(buf, writer_length(&w), -EBADMSG, TFTP_REASON_OPCODE, TFTP_ERROR_ILLEGAL);
                assert_int_equal(tftp_request_parse(buf, writer_length(&w), &req, &why), -EBADMSG);
                assert_int_equal(why.opcode, opcodes[i]);
                /* an ERROR is never answered */
                assert_int_equal(why.reply, opcodes[i] != TFTP_OPCODE_ERROR);
        }
}

static void test_tftp_request_parse_mode_refused(void **state) {
        (void) state;
        parse_refused(LIT("\0\1f\0netascii\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
        parse_refused(LIT("\0\1f\0NetAscii\0blksize\0001432\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
        parse_refused(LIT("\0\1f\0mail\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
        parse_refused(LIT("\0\1f\0binary\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
        parse_refused(LIT("\0\1f\0\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
        parse_refused(LIT("\0\1f\0octets\0"), -EBADMSG, TFTP_REASON_MODE, TFTP_ERROR_ILLEGAL);
}

static void test_tftp_request_parse_traversal_refused(void **state) {
        (void) state;
        parse_refused(LIT("\0\1../etc/shadow\0octet\0"), -EBADMSG, TFTP_REASON_FILENAME, TFTP_ERROR_ACCESS);
        parse_refused(LIT("\0\1/etc/shadow\0octet\0"), -EBADMSG, TFTP_REASON_FILENAME, TFTP_ERROR_ACCESS);
        parse_refused(LIT("\0\1a/../../b\0octet\0tsize\0000\0"), -EBADMSG, TFTP_REASON_FILENAME, TFTP_ERROR_ACCESS);
        parse_refused(LIT("\0\1..\\..\\boot.ini\0octet\0"), -EBADMSG, TFTP_REASON_FILENAME, TFTP_ERROR_ACCESS);
        parse_refused(LIT("\0\1\0octet\0"), -EBADMSG, TFTP_REASON_FILENAME, TFTP_ERROR_ACCESS);
}

static void test_tftp_filename_validate(void **state) {
        static const char *const good[] = {
                "undionly.kpxe", "52-54-00-77-10-01/undionly.kpxe", "a..b", "..a", "a..", "...", "a.",
                ".hidden", "x/y/z", "with space", "~user", "a:b",
        };
        static const struct {
                const char *name;
                const char *detail; /* a prefix of the expected detail */
        } bad[] = {
                { "", "filename: empty" },
                { "/x", "filename: absolute" },
                { "/", "filename: absolute" },
                { "..", "filename: \"..\" component at offset 0" },
                { "../x", "filename: \"..\" component at offset 0" },
                { "a/../b", "filename: \"..\" component at offset 2" },
                { "a/..", "filename: \"..\" component at offset 2" },
                { ".", "filename: \".\" component at offset 0" },
                { "./a", "filename: \".\" component at offset 0" },
                { "a/./b", "filename: \".\" component at offset 2" },
                { "a//b", "filename: empty component at offset 2" },
                { "a/", "filename: empty component at offset 2" },
                { "a\\b", "filename: backslash at offset 1" },
                { "a\x01", "filename: byte 0x01 at offset 1" },
                { "a\x1f" "b", "filename: byte 0x1f at offset 1" },
                { "\x7f", "filename: byte 0x7f at offset 0" },
                { "a\x80", "filename: byte 0x80 at offset 1" },
                { "a\xff", "filename: byte 0xff at offset 1" },
                { "a\tb", "filename: byte 0x09 at offset 1" },
        };
        char long_name[TFTP_FILENAME_MAX + 2];
        TftpRefusal why;
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (tftp_filename_validate(good[i], strlen(good[i]), &why) != 0)
                        fail_msg("\"%s\" refused: %s", good[i], why.detail);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(&why, 0, sizeof(why));
                assert_int_equal(tftp_filename_validate(bad[i].name, strlen(bad[i].name), &why), -EBADMSG);
                assert_string_equal(why.reason, TFTP_REASON_FILENAME);
                assert_int_equal(why.code, TFTP_ERROR_ACCESS);
                if (strncmp(why.detail, bad[i].detail, strlen(bad[i].detail)) != 0)
                        fail_msg("\"%s\": detail \"%s\", expected \"%s...\"", bad[i].name, why.detail, bad[i].detail);
        }
        memset(long_name, 'n', sizeof(long_name));
        assert_int_equal(tftp_filename_validate(long_name, TFTP_FILENAME_MAX, NULL), 0);
        assert_int_equal(tftp_filename_validate(long_name, TFTP_FILENAME_MAX + 1, &why), -EBADMSG);
        assert_string_equal(why.detail, "filename: 256 bytes (max 255)");
}

static void test_tftp_packet_reasons(void **state) {
        size_t n = 0;
        (void) state;
        for (; tftp_packet_reasons[n]; n++)
                assert_true(tftp_packet_reason_is_known(tftp_packet_reasons[n]));
        assert_int_equal(n, 6);
        assert_false(tftp_packet_reason_is_known("busy"));
        assert_false(tftp_packet_reason_is_known(NULL));
}

static void test_tftp_packet_opcode(void **state) {
        uint16_t op = 0;
        (void) state;
        assert_int_equal(tftp_packet_opcode(LIT("\0\4"), &op), 0);
        assert_int_equal(op, TFTP_OPCODE_ACK);
        op = 99;
        assert_int_equal(tftp_packet_opcode(LIT("\0"), &op), -EBADMSG);
        assert_int_equal(op, 99);
}

static void test_tftp_ack_parse(void **state) {
        uint16_t block = 7;
        TftpRefusal why;
        (void) state;

        assert_int_equal(tftp_ack_parse(LIT("\0\4\x12\x34"), &block, &why), 0);
        assert_int_equal(block, 0x1234);
        assert_int_equal(tftp_ack_parse(LIT("\0\4\xff\xff"), &block, NULL), 0);
        assert_int_equal(block, 0xffff);
        /* trailing bytes ignored */
        assert_int_equal(tftp_ack_parse(LIT("\0\4\0\1\0\0\0\0"), &block, NULL), 0);
        assert_int_equal(block, 1);

        block = 7;
        assert_int_equal(tftp_ack_parse(LIT("\0\4\0"), &block, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_TRUNCATED);
        assert_int_equal(block, 7);
        assert_int_equal(tftp_ack_parse(LIT("\0"), &block, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_TRUNCATED);
        assert_int_equal(tftp_ack_parse(NULL, 0, &block, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_TRUNCATED);
        assert_int_equal(tftp_ack_parse(LIT("\0\3\0\1"), &block, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_OPCODE);
        assert_int_equal(why.opcode, TFTP_OPCODE_DATA);
        assert_int_equal(block, 7);
}

static void test_tftp_error_parse(void **state) {
        TftpErrorPacket e;
        TftpRefusal why;
        char long_msg[300];
        uint8_t buf[400];
        Writer w;
        (void) state;

        assert_int_equal(tftp_error_parse(LIT("\0\5\0\10User aborted the transfer\0"), &e, &why), 0);
        assert_int_equal(e.code, TFTP_ERROR_OPTIONS);
        assert_string_equal(e.message, "User aborted the transfer");
        /* no message, no NUL: still an error from the client */
        assert_int_equal(tftp_error_parse(LIT("\0\5\0\1"), &e, NULL), 0);
        assert_int_equal(e.code, 1);
        assert_string_equal(e.message, "");
        assert_int_equal(tftp_error_parse(LIT("\0\5\0\2abc"), &e, NULL), 0);
        assert_string_equal(e.message, "abc");
        /* cut at the NUL; unprintable bytes replaced */
        assert_int_equal(tftp_error_parse(LIT("\0\5\0\0a\x1b[2Jb\xff\0tail"), &e, NULL), 0);
        assert_string_equal(e.message, "a?[2Jb?");
        /* cut at the cap */
        memset(long_msg, 'm', sizeof(long_msg));
        writer_init(&w, buf, sizeof(buf));
        writer_put_bytes(&w, "\0\5\0\0", 4);
        writer_put_bytes(&w, long_msg, sizeof(long_msg));
        assert_int_equal(tftp_error_parse(buf, writer_length(&w), &e, NULL), 0);
        assert_int_equal(strlen(e.message), TFTP_ERROR_MESSAGE_MAX - 1);

        memset(&e, 0x55, sizeof(e));
        assert_int_equal(tftp_error_parse(LIT("\0\5\0"), &e, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_TRUNCATED);
        assert_false(why.reply);
        assert_int_equal(e.code, 0x5555);
        assert_int_equal(tftp_error_parse(LIT("\0\4\0\1"), &e, &why), -EBADMSG);
        assert_string_equal(why.reason, TFTP_REASON_OPCODE);
}

static void test_tftp_options_negotiate(void **state) {
        TftpOptions req = {}, o;
        (void) state;

        tftp_options_negotiate(&req, 1468, 1000, &o);
        assert_int_equal(o.present, 0);

        req.present = (1u << _TFTP_OPTION_MAX) - 1;
        req.value[TFTP_OPTION_BLKSIZE] = 1468;
        req.value[TFTP_OPTION_TSIZE] = 0;
        req.value[TFTP_OPTION_TIMEOUT] = TFTP_TIMEOUT_SERVER_MAX;
        req.value[TFTP_OPTION_WINDOWSIZE] = 4;
        tftp_options_negotiate(&req, 65504, 74213, &o);
        assert_int_equal(o.present, req.present);
        assert_int_equal(o.value[TFTP_OPTION_BLKSIZE], 1468);
        assert_int_equal(o.value[TFTP_OPTION_TSIZE], 74213);
        assert_int_equal(o.value[TFTP_OPTION_TIMEOUT], TFTP_TIMEOUT_SERVER_MAX);
        assert_int_equal(o.value[TFTP_OPTION_WINDOWSIZE], 4);

        /* lowered to the path, and to the server's window; a long timeout declined */
        req.value[TFTP_OPTION_BLKSIZE] = 65464;
        req.value[TFTP_OPTION_TIMEOUT] = TFTP_TIMEOUT_SERVER_MAX + 1;
        req.value[TFTP_OPTION_WINDOWSIZE] = 65535;
        tftp_options_negotiate(&req, 1468, 0, &o);
        assert_int_equal(o.value[TFTP_OPTION_BLKSIZE], 1468);
        assert_false(tftp_options_has(&o, TFTP_OPTION_TIMEOUT));
        assert_int_equal(o.value[TFTP_OPTION_WINDOWSIZE], TFTP_WINDOWSIZE_SERVER_MAX);
        assert_int_equal(o.value[TFTP_OPTION_TSIZE], 0);

        /* blksize_max itself clamped to the RFC range */
        tftp_options_negotiate(&req, 3, 0, &o);
        assert_int_equal(o.value[TFTP_OPTION_BLKSIZE], TFTP_BLKSIZE_MIN);
        tftp_options_negotiate(&req, 100000, 0, &o);
        assert_int_equal(o.value[TFTP_OPTION_BLKSIZE], TFTP_BLKSIZE_MAX);
}

static void test_tftp_oack_build(void **state) {
        static const uint8_t expected[] = "\0\6blksize\0001432\0tsize\00074213\0";
        TftpOptions o = { .present = (1u << TFTP_OPTION_TSIZE) | (1u << TFTP_OPTION_BLKSIZE) };
        uint8_t buf[TFTP_OACK_MAX];
        Writer w;
        (void) state;

        o.value[TFTP_OPTION_BLKSIZE] = 1432;
        o.value[TFTP_OPTION_TSIZE] = 74213;
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_oack_build(&w, &o), 0);
        assert_int_equal(writer_length(&w), sizeof(expected) - 1);
        assert_memory_equal(buf, expected, sizeof(expected) - 1);

        /* the widest OACK fits TFTP_OACK_MAX */
        o.present = (1u << _TFTP_OPTION_MAX) - 1;
        o.value[TFTP_OPTION_BLKSIZE] = TFTP_BLKSIZE_MAX;
        o.value[TFTP_OPTION_TSIZE] = UINT64_MAX;
        o.value[TFTP_OPTION_TIMEOUT] = TFTP_TIMEOUT_MAX;
        o.value[TFTP_OPTION_WINDOWSIZE] = TFTP_WINDOWSIZE_MAX;
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_oack_build(&w, &o), 0);

        /* too small: refused, not half-written */
        writer_init(&w, buf, 10);
        assert_int_equal(tftp_oack_build(&w, &o), WRITER_ERROR_FULL);

        o.present = 0;
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_oack_build(&w, &o), -EINVAL);
        assert_int_equal(writer_length(&w), 0);
}

static void test_tftp_data_build(void **state) {
        uint8_t buf[16];
        Writer w;
        (void) state;

        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_data_build(&w, 0xfffe, "abc", 3), 0);
        assert_int_equal(writer_length(&w), 7);
        assert_memory_equal(buf, "\0\3\xff\xfe" "abc", 7);

        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_data_build(&w, 1, NULL, 0), 0);
        assert_memory_equal(buf, "\0\3\0\1", 4);
        assert_int_equal(tftp_data_build(&w, 1, NULL, 3), -EINVAL);

        writer_init(&w, buf, 6);
        assert_int_equal(tftp_data_build(&w, 1, "abc", 3), WRITER_ERROR_FULL);

        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_data_header_build(&w, 0x0102), 0);
        assert_int_equal(writer_length(&w), TFTP_HEADER_SIZE);
        assert_memory_equal(buf, "\0\3\1\2", 4);
}

static void test_tftp_error_build(void **state) {
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_ERROR_MESSAGE_MAX + 16];
        char long_msg[300];
        TftpErrorPacket e;
        Writer w;
        (void) state;

        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_error_build(&w, TFTP_ERROR_NOT_FOUND, "file not found"), 0);
        assert_int_equal(writer_length(&w), 4 + sizeof("file not found"));
        assert_memory_equal(buf, "\0\5\0\1file not found\0", 4 + sizeof("file not found"));

        memset(long_msg, 'x', sizeof(long_msg) - 1);
        long_msg[sizeof(long_msg) - 1] = '\0';
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(tftp_error_build(&w, 0, long_msg), 0);
        assert_int_equal(writer_length(&w), TFTP_HEADER_SIZE + TFTP_ERROR_MESSAGE_MAX);
        /* and it round-trips */
        assert_int_equal(tftp_error_parse(buf, writer_length(&w), &e, NULL), 0);
        assert_int_equal(strlen(e.message), TFTP_ERROR_MESSAGE_MAX - 1);

        writer_init(&w, buf, 5);
        assert_int_equal(tftp_error_build(&w, 0, "long"), WRITER_ERROR_FULL);
}

static void test_tftp_option_table(void **state) {
        uint64_t min, max;
        (void) state;
        assert_string_equal(tftp_option_to_string(TFTP_OPTION_BLKSIZE), "blksize");
        assert_string_equal(tftp_option_to_string(TFTP_OPTION_WINDOWSIZE), "windowsize");
        assert_null(tftp_option_to_string(_TFTP_OPTION_MAX));
        assert_null(tftp_option_to_string(_TFTP_OPTION_INVALID));
        assert_int_equal(tftp_option_range(TFTP_OPTION_TIMEOUT, &min, &max), 0);
        assert_int_equal(min, 1);
        assert_int_equal(max, 255);
        assert_int_equal(tftp_option_range(_TFTP_OPTION_MAX, &min, &max), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tftp_request_parse_ipxe),
                cmocka_unit_test(test_tftp_request_parse_ovmf),
                cmocka_unit_test(test_tftp_request_parse_curl),
                cmocka_unit_test(test_tftp_request_parse_no_options),
                cmocka_unit_test(test_tftp_request_parse_case_insensitive),
                cmocka_unit_test(test_tftp_request_parse_option_bounds),
                cmocka_unit_test(test_tftp_request_parse_malformed_values_ignored),
                cmocka_unit_test(test_tftp_request_parse_unknown_options_ignored),
                cmocka_unit_test(test_tftp_request_parse_repeated_option_first_wins),
                cmocka_unit_test(test_tftp_request_parse_unpaired_name),
                cmocka_unit_test(test_tftp_request_parse_exact_fit),
                cmocka_unit_test(test_tftp_request_parse_truncated),
                cmocka_unit_test(test_tftp_request_parse_wrq_refused),
                cmocka_unit_test(test_tftp_request_parse_opcode_refused),
                cmocka_unit_test(test_tftp_request_parse_mode_refused),
                cmocka_unit_test(test_tftp_request_parse_traversal_refused),
                cmocka_unit_test(test_tftp_filename_validate),
                cmocka_unit_test(test_tftp_packet_reasons),
                cmocka_unit_test(test_tftp_packet_opcode),
                cmocka_unit_test(test_tftp_ack_parse),
                cmocka_unit_test(test_tftp_error_parse),
                cmocka_unit_test(test_tftp_options_negotiate),
                cmocka_unit_test(test_tftp_oack_build),
                cmocka_unit_test(test_tftp_data_build),
                cmocka_unit_test(test_tftp_error_build),
                cmocka_unit_test(test_tftp_option_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
