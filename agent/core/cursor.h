/* Cursor and Writer: the one bounds-checked reader and writer under every
 * binary format Strata parses or builds (modelled on OpenSSH's sshbuf).
 *
 * A Cursor reads a (pointer, length) buffer it does not own. Every getter
 * checks what remains before touching memory. A failed read consumes nothing,
 * leaves its output untouched and latches an error in the cursor; the error is
 * sticky, so every later read fails too and a parser may read a whole record
 * and check cursor_error() (or cursor_finish()) once at the end. Values read
 * after an earlier failure are never produced, so a parser that checks once
 * must not act on its outputs before that check.
 *
 * A Writer fills a caller buffer up to a hard cap. A put that does not fit
 * writes nothing and latches WRITER_ERROR_FULL; later puts fail too, so a
 * message is either complete or refused, never missing a middle field.
 *
 * Neither does any allocation, logging or struct casting: integers are
 * assembled byte by byte in the stated byte order. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read past the end: the input is malformed (a length field promised more
 * than arrived), hence EBADMSG rather than ENODATA, which would suggest that
 * waiting could help. */
#define CURSOR_ERROR_SHORT (-EBADMSG)
/* cursor_finish() on a cursor with unread bytes: trailing data. */
#define CURSOR_ERROR_TRAILING (-EBADMSG)
/* cursor_init() with a NULL pointer but a non-zero length. */
#define CURSOR_ERROR_INVALID (-EINVAL)
/* A put past the writer's cap. */
#define WRITER_ERROR_FULL (-ENOBUFS)

/* Fields are private: use the functions. The struct is public only so that
 * cursors live on the stack. */
typedef struct Cursor {
        const uint8_t *data;
        size_t size;
        size_t offset;
        int error; /* 0 or the first latched -errno */
} Cursor;

typedef struct Writer {
        uint8_t *data;
        size_t size; /* the cap */
        size_t offset;
        int error;
} Writer;

/* A cursor over `size` bytes at `data`, which must outlive it. data may be
 * NULL only when size is 0; NULL with a size latches CURSOR_ERROR_INVALID. */
void cursor_init(Cursor *c, const void *data, size_t size);

size_t cursor_remaining(const Cursor *c);
/* Bytes consumed so far: where a parser says an error was found. */
size_t cursor_offset(const Cursor *c);
bool cursor_at_end(const Cursor *c);
/* 0, or the first error latched by a failed read. */
int cursor_error(const Cursor *c);
/* For a record that must be consumed exactly: returns the latched error, or,
 * when bytes remain unread, latches and returns CURSOR_ERROR_TRAILING;
 * 0 when everything was read without error. */
int cursor_finish(Cursor *c);

/* Typed getters: 0 and the value in *ret (ret may be NULL to discard), or
 * the latched error with nothing consumed and *ret untouched. */
int cursor_get_u8(Cursor *c, uint8_t *ret);
int cursor_get_be16(Cursor *c, uint16_t *ret);
int cursor_get_be32(Cursor *c, uint32_t *ret);
int cursor_get_be64(Cursor *c, uint64_t *ret);
int cursor_get_le16(Cursor *c, uint16_t *ret);
int cursor_get_le32(Cursor *c, uint32_t *ret);
int cursor_get_le64(Cursor *c, uint64_t *ret);

/* Copies the next n bytes to ret (which may be NULL only when n is 0). */
int cursor_get_bytes(Cursor *c, size_t n, void *ret);
/* Consumes the next n bytes and points *ret at them inside the cursor's
 * buffer (borrowed, no copy): for payloads handed on whole, e.g. to a hash. */
int cursor_get_span(Cursor *c, size_t n, const uint8_t **ret);
/* Like cursor_get_span but consumes nothing. A peek past the end still
 * latches: look-ahead that may run out should ask cursor_remaining() first. */
int cursor_peek(Cursor *c, size_t n, const uint8_t **ret);
int cursor_skip(Cursor *c, size_t n);

/* A sub-cursor over the next n bytes (an option, a TLV, a TPM2B), advancing
 * the parent past them; errors in the sub-cursor stay in the sub-cursor.
 * The one exception to "outputs untouched on failure": *ret becomes an empty
 * cursor carrying the same latched error, so that a parser checking once at
 * the end never walks an uninitialized cursor. */
int cursor_sub(Cursor *c, size_t n, Cursor *ret);

/* A writer over `size` bytes at `data` (the hard cap); the caller owns the
 * buffer. data may be NULL only when size is 0. */
void writer_init(Writer *w, void *data, size_t size);

/* Bytes written so far: the length of the message built. */
size_t writer_length(const Writer *w);
size_t writer_remaining(const Writer *w);
int writer_error(const Writer *w);

/* Puts: 0, or the latched WRITER_ERROR_FULL with nothing written. */
int writer_put_u8(Writer *w, uint8_t v);
int writer_put_be16(Writer *w, uint16_t v);
int writer_put_be32(Writer *w, uint32_t v);
int writer_put_be64(Writer *w, uint64_t v);
int writer_put_le16(Writer *w, uint16_t v);
int writer_put_le32(Writer *w, uint32_t v);
int writer_put_le64(Writer *w, uint64_t v);
/* Copies n bytes from p (which may be NULL only when n is 0). */
int writer_put_bytes(Writer *w, const void *p, size_t n);
int writer_put_zeros(Writer *w, size_t n);
