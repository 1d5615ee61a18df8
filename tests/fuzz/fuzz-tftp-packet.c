/* Fuzz target for tftp_request_parse(), tftp_ack_parse() and
 * tftp_error_parse() (agent/boot/tftp-packet.c): whatever arrives on UDP
 * port 69 or on a transfer's port. Beyond not crashing: an accepted
 * request's filename is what tftp_filename_validate() promises (relative,
 * printable, no "." or ".." component, no "//", no backslash, at most 255
 * bytes), every option present is within its RFC range, negotiation only
 * narrows, and the OACK built from it fits TFTP_OACK_MAX; a refusal has a
 * known reason and a printable detail; an ERROR's message is printable.
 * Seeds in tests/fuzz/fuzz-tftp-packet/: RRQs of iPXE, OVMF and curl, a
 * traversal, a WRQ, an ACK, an ERROR 8. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/tftp-packet.h"

static void check_printable(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        abort();
}

static void check_filename(const char *name) {
        size_t n = strlen(name), start = 0;

        if (n == 0 || n > TFTP_FILENAME_MAX || name[0] == '/' || strchr(name, '\\') || strstr(name, "//"))
                abort();
        check_printable(name);
        for (size_t i = 0; i <= n; i++) {
                if (i < n && name[i] != '/')
                        continue;
                size_t len = i - start;
                if (len == 0 || (len == 1 && name[start] == '.') ||
                    (len == 2 && name[start] == '.' && name[start + 1] == '.'))
                        abort();
                start = i + 1;
        }
}

static void check_refusal(const TftpRefusal *why) {
        if (!tftp_packet_reason_is_known(why->reason) || why->detail[0] == '\0' || why->code > TFTP_ERROR_OPTIONS)
                abort();
        check_printable(why->detail);
        if (why->reply != (why->opcode != TFTP_OPCODE_ERROR))
                abort();
}

static void check_request(const TftpRequest *req, size_t size) {
        TftpOptions o;
        uint8_t buf[TFTP_OACK_MAX];
        Writer w;

        check_filename(req->filename);
        if (req->options.present >> _TFTP_OPTION_MAX || size > TFTP_REQUEST_MAX)
                abort();
        for (TftpOption i = 0; i < _TFTP_OPTION_MAX; i++) {
                uint64_t min, max;
                if (!tftp_options_has(&req->options, i))
                        continue;
                if (tftp_option_range(i, &min, &max) < 0 || req->options.value[i] < min ||
                    req->options.value[i] > max)
                        abort();
        }

        /* what the server would answer: a subset, never more than asked */
        tftp_options_negotiate(&req->options, 1468, size, &o);
        if (o.present & ~req->options.present)
                abort();
        if (tftp_options_has(&o, TFTP_OPTION_BLKSIZE) &&
            (o.value[TFTP_OPTION_BLKSIZE] > req->options.value[TFTP_OPTION_BLKSIZE] ||
             o.value[TFTP_OPTION_BLKSIZE] > 1468 || o.value[TFTP_OPTION_BLKSIZE] < TFTP_BLKSIZE_MIN))
                abort();
        if (tftp_options_has(&o, TFTP_OPTION_WINDOWSIZE) &&
            (o.value[TFTP_OPTION_WINDOWSIZE] > TFTP_WINDOWSIZE_SERVER_MAX || o.value[TFTP_OPTION_WINDOWSIZE] == 0))
                abort();
        if (tftp_options_has(&o, TFTP_OPTION_TIMEOUT) && o.value[TFTP_OPTION_TIMEOUT] > TFTP_TIMEOUT_SERVER_MAX)
                abort();
        writer_init(&w, buf, sizeof(buf));
        if (o.present && tftp_oack_build(&w, &o) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        TftpRequest req;
        TftpRefusal why;
        TftpErrorPacket e;
        uint16_t block;
        int r;

        memset(&why, 0, sizeof(why));
        r = tftp_request_parse(data, size, &req, &why);
        if (r == 0)
                check_request(&req, size);
        else if ((r != -EBADMSG && r != -EMSGSIZE) || (r == -EMSGSIZE) != (size > TFTP_REQUEST_MAX))
                abort();
        else
                check_refusal(&why);

        memset(&why, 0, sizeof(why));
        r = tftp_ack_parse(data, size, &block, &why);
        if (r < 0) {
                if (r != -EBADMSG)
                        abort();
                check_refusal(&why);
        } else if (size < TFTP_HEADER_SIZE || data[0] != 0 || data[1] != TFTP_OPCODE_ACK ||
                   block != (uint16_t) (data[2] << 8 | data[3]))
                abort();

        memset(&why, 0, sizeof(why));
        r = tftp_error_parse(data, size, &e, &why);
        if (r < 0) {
                if (r != -EBADMSG)
                        abort();
                check_refusal(&why);
        } else {
                if (size < TFTP_HEADER_SIZE || strnlen(e.message, sizeof(e.message)) >= sizeof(e.message))
                        abort();
                check_printable(e.message);
        }
        return 0;
}
