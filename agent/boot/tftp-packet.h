/* tftp-packet: the TFTP wire format as a read-only server sees it (RFC 1350,
 * with the option extension of RFC 2347 and the options of RFC 2348, 2349
 * and 7440): a pure parser of requests (RRQ; WRQ only to refuse it), of the
 * ACK and ERROR packets a client sends during a transfer, the option
 * negotiation, and builders of DATA, OACK and ERROR, all over the Cursor.
 * No sockets, no allocation, no logging. See tftp-packet.c. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cursor.h"

#define TFTP_PORT 69u

/* Caps and sizes. RFC 2347 §2: a request (with its options) must not exceed
 * 512 bytes; a bigger one is refused ("oversized"), so a client never
 * chooses how much the parser walks. */
#define TFTP_REQUEST_MAX 512u
#define TFTP_FILENAME_MAX 255u        /* bytes, without the NUL */
#define TFTP_HEADER_SIZE 4u           /* opcode and block number of DATA and ACK */
#define TFTP_DETAIL_MAX 96u           /* a refusal's human detail, with its NUL */
#define TFTP_ERROR_MESSAGE_MAX 128u   /* ERROR text kept or sent, with its NUL */
#define TFTP_OACK_MAX 128u            /* every option we answer, at its widest */

/* RFC 1350 §5 opcodes (6 is RFC 2347's OACK). */
#define TFTP_OPCODE_RRQ 1u
#define TFTP_OPCODE_WRQ 2u
#define TFTP_OPCODE_DATA 3u
#define TFTP_OPCODE_ACK 4u
#define TFTP_OPCODE_ERROR 5u
#define TFTP_OPCODE_OACK 6u

/* RFC 1350 appendix error codes (8 is RFC 2347's). */
#define TFTP_ERROR_UNDEFINED 0u   /* "see the message" */
#define TFTP_ERROR_NOT_FOUND 1u
#define TFTP_ERROR_ACCESS 2u      /* access violation; also our "read only" */
#define TFTP_ERROR_DISK_FULL 3u
#define TFTP_ERROR_ILLEGAL 4u     /* illegal TFTP operation */
#define TFTP_ERROR_UNKNOWN_TID 5u
#define TFTP_ERROR_EXISTS 6u
#define TFTP_ERROR_NO_USER 7u
#define TFTP_ERROR_OPTIONS 8u     /* option negotiation refused / transfer aborted */

/* Option ranges from the RFCs (values outside make the option malformed,
 * hence ignored), and the server's own caps applied by negotiation. */
#define TFTP_BLKSIZE_DEFAULT 512u
#define TFTP_BLKSIZE_MIN 8u        /* RFC 2348 */
#define TFTP_BLKSIZE_MAX 65464u    /* RFC 2348: 65535 less IP and UDP headers */
#define TFTP_TIMEOUT_MIN 1u        /* RFC 2349, seconds */
#define TFTP_TIMEOUT_MAX 255u
/* RFC 2349 wants a timeout OACKed exactly as asked, so a longer one is not
 * lowered but declined: a client must not hold a transfer slot for
 * minutes (curl asks 6 s by default, and 1 s with -m 2). */
#define TFTP_TIMEOUT_SERVER_MAX 10u
#define TFTP_WINDOWSIZE_MIN 1u     /* RFC 7440 */
#define TFTP_WINDOWSIZE_MAX 65535u
/* RFC 7440 lets the server answer a smaller window. 64 blocks of a
 * 1468-byte blksize (OVMF's) is 94 KB in flight, within the default socket
 * send buffer, and what a lost block can cost in resends is bounded by it. */
#define TFTP_WINDOWSIZE_SERVER_MAX 64u

/* Refusal reasons: short static strings, stable, meant as metric labels
 * (strata_boot_dropped_total{protocol="tftp",reason=...}); the complete set
 * of the parser's is tftp_packet_reasons[]. */
#define TFTP_REASON_OVERSIZED "oversized" /* over TFTP_REQUEST_MAX (error 4) */
#define TFTP_REASON_TRUNCATED "truncated" /* a field or its NUL missing (error 4) */
#define TFTP_REASON_OPCODE "opcode"       /* not a request on the server port, not ACK/ERROR on a transfer's (error 4) */
#define TFTP_REASON_WRITE "write"         /* a WRQ: we are read only (error 2) */
#define TFTP_REASON_MODE "mode"           /* netascii, mail or unknown (error 4) */
#define TFTP_REASON_FILENAME "filename"   /* empty, absolute, "..", "//", "\\", unprintable, long (error 2) */

extern const char *const tftp_packet_reasons[];
bool tftp_packet_reason_is_known(const char *reason);

/* A refusal: the reason, what to answer and a human detail naming what and
 * where, e.g. "filename: \"..\" component at offset 4". Wire bytes never
 * appear in the detail, only numbers and our own words, so it is printable
 * and may be sent to the client as the ERROR message. */
typedef struct TftpRefusal {
        const char *reason;  /* one of TFTP_REASON_* (static) */
        uint16_t opcode;     /* of the refused packet; 0 when it had none */
        uint16_t code;       /* the TFTP error code to answer with */
        bool reply;          /* false: drop without answering (an ERROR is never answered) */
        char detail[TFTP_DETAIL_MAX];
} TftpRefusal;

/* The options we understand, from a table, matched case-insensitively. */
typedef enum TftpOption {
        TFTP_OPTION_BLKSIZE,    /* RFC 2348 */
        TFTP_OPTION_TSIZE,      /* RFC 2349: 0 in a RRQ, the file size in the OACK */
        TFTP_OPTION_TIMEOUT,    /* RFC 2349: the server's retransmission interval, s */
        TFTP_OPTION_WINDOWSIZE, /* RFC 7440: blocks sent per ACK */
        _TFTP_OPTION_MAX,
        _TFTP_OPTION_INVALID = -EINVAL,
} TftpOption;

typedef struct TftpOptions {
        unsigned present;                /* bit 1u << TftpOption when set */
        uint64_t value[_TFTP_OPTION_MAX]; /* meaningful only when present */
} TftpOptions;

static inline bool tftp_options_has(const TftpOptions *o, TftpOption opt) {
        return o->present & (1u << opt);
}

/* "blksize", ...; NULL when out of range. */
const char *tftp_option_to_string(TftpOption opt);
/* The RFC range of a value: -EINVAL for an unknown option. */
int tftp_option_range(TftpOption opt, uint64_t *ret_min, uint64_t *ret_max);

/* A parsed read request. Copies only: nothing points into the input. */
typedef struct TftpRequest {
        char filename[TFTP_FILENAME_MAX + 1]; /* validated: see tftp_filename_validate() */
        TftpOptions options;                  /* known options with a well-formed value */
        unsigned n_ignored;                   /* options ignored: unknown, malformed, repeated, padding */
} TftpRequest;

/* Parses what arrived on the server port: 0 and *ret filled for a RRQ we
 * would serve, else -EMSGSIZE (over TFTP_REQUEST_MAX) or -EBADMSG, with
 * *reterr (may be NULL) set and *ret untouched. Decisions:
 *   - WRQ is refused (error 2): Strata's TFTP is read only.
 *   - mode "octet" only, any case. "netascii" is refused (error 4): we serve
 *     binaries, which a netascii client would corrupt by rewriting CR LF,
 *     and converting them ourselves would break the size tsize announced.
 *     "mail" (obsolete, RFC 1350) and anything else are refused too.
 *   - options: name/value NUL pairs after the mode. Unknown names are
 *     ignored (RFC 2347; iPXE's tftp.c does the same). A known option with
 *     a malformed value (empty, not plain decimal, overflowing, outside its
 *     RFC range) is ignored too, as RFC 2347 lets a server ignore what it
 *     will not honour: the client then gets the RFC 1350 defaults, which
 *     every client must handle, rather than a failed boot. A repeated option
 *     keeps its first value. A trailing empty string (a NUL of padding
 *     after the mode or the last value) is ignored.
 *   - refused as truncated: any string without its NUL (RFC 1350 requires
 *     it, and without it we cannot know the field is complete), and a
 *     trailing option name without its value ("blksize" cut off is a
 *     request cut short, not a request without blksize). */
int tftp_request_parse(const void *data, size_t size, TftpRequest *ret, TftpRefusal *reterr);

/* Checks a requested file name (n bytes, not NUL-terminated necessarily):
 * 0, or -EBADMSG with *reterr (may be NULL) set: empty; longer than
 * TFTP_FILENAME_MAX; absolute ("/x"); an empty component ("a//b", "a/");
 * a "." or ".." component; a backslash (a DOS-style separator some clients
 * send, which would bypass the component checks on another platform); a
 * byte outside printable ASCII (0x20..0x7e). What passes is a canonical
 * relative path that cannot leave the directory it is resolved against. */
int tftp_filename_validate(const char *name, size_t n, TftpRefusal *reterr);

/* The opcode of a packet: 0 and *ret, or -EBADMSG when under 2 bytes. */
int tftp_packet_opcode(const void *data, size_t size, uint16_t *ret);

/* An ACK (opcode 4, block number): 0 and *ret_block, or -EBADMSG (not an
 * ACK, or truncated). Bytes after the block number are ignored, as dnsmasq
 * and tftp-hpa do. */
int tftp_ack_parse(const void *data, size_t size, uint16_t *ret_block, TftpRefusal *reterr);

/* An ERROR from the client. The message is copied, cut at its NUL or the
 * end of the packet (it is lenient: the client is giving up either way) and
 * at TFTP_ERROR_MESSAGE_MAX - 1 bytes, bytes outside printable ASCII
 * replaced by '?', so it can be logged as is. */
typedef struct TftpErrorPacket {
        uint16_t code;
        char message[TFTP_ERROR_MESSAGE_MAX];
} TftpErrorPacket;
int tftp_error_parse(const void *data, size_t size, TftpErrorPacket *ret, TftpRefusal *reterr);

/* What the server answers to `requested` for a file of `file_size` bytes:
 * *ret holds only options it accepts (a subset of the requested), with
 * blksize lowered to blksize_max (itself clamped to the RFC range; the
 * server passes path MTU - 32, as dnsmasq does, so no block needs IP
 * fragmentation), windowsize to TFTP_WINDOWSIZE_SERVER_MAX, tsize set to
 * file_size, and timeout echoed if at most TFTP_TIMEOUT_SERVER_MAX, else
 * left out. An empty set means: no OACK, plain RFC 1350. */
void tftp_options_negotiate(const TftpOptions *requested, unsigned blksize_max, uint64_t file_size,
                            TftpOptions *ret);

/* Builders: 0, or WRITER_ERROR_FULL with the message incomplete (do not
 * send it), or -EINVAL. */
/* Opcode 3 and the block number; the payload follows (the server sends it
 * from a separate buffer, so blocks are read straight into it). */
int tftp_data_header_build(Writer *w, uint16_t block);
/* The whole DATA packet: header and n payload bytes (p may be NULL if n is 0). */
int tftp_data_build(Writer *w, uint16_t block, const void *p, size_t n);
/* OACK with every option present in `o`, in table order, values in
 * decimal; -EINVAL when none is (RFC 2347 has no empty OACK). */
int tftp_oack_build(Writer *w, const TftpOptions *o);
/* ERROR with `code` and `message`, cut at TFTP_ERROR_MESSAGE_MAX - 1 bytes. */
int tftp_error_build(Writer *w, uint16_t code, const char *message);
