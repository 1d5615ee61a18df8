/* Cursor and Writer (see cursor.h): the only code in Strata that checks a
 * binary buffer's bounds. Every read goes through cursor_take() and every
 * write through writer_reserve(); nothing else indexes the buffers. */
#include "core/cursor.h"

#include <string.h>

typedef enum ByteOrder {
        BYTE_ORDER_BE,
        BYTE_ORDER_LE,
} ByteOrder;

void cursor_init(Cursor *c, const void *data, size_t size) {
        *c = (Cursor) {
                .data = data,
                .size = data ? size : 0,
                .error = !data && size > 0 ? CURSOR_ERROR_INVALID : 0,
        };
}

size_t cursor_remaining(const Cursor *c) {
        return c->size - c->offset;
}

size_t cursor_offset(const Cursor *c) {
        return c->offset;
}

bool cursor_at_end(const Cursor *c) {
        return cursor_remaining(c) == 0;
}

int cursor_error(const Cursor *c) {
        return c->error;
}

int cursor_finish(Cursor *c) {
        if (c->error < 0)
                return c->error;
        if (!cursor_at_end(c))
                c->error = CURSOR_ERROR_TRAILING;
        return c->error;
}

/* The one bounds check: points *ret at the next n bytes and, when `consume`,
 * moves past them. Refuses with the latched error when the cursor already
 * failed or fewer than n bytes remain; then nothing moves. */
static int cursor_take(Cursor *c, size_t n, bool consume, const uint8_t **ret) {
        if (c->error < 0)
                return c->error;
        if (n > cursor_remaining(c))
                return (c->error = CURSOR_ERROR_SHORT);
        /* data is NULL only for an empty cursor, and then n is 0 */
        *ret = c->data ? c->data + c->offset : NULL;
        if (consume)
                c->offset += n;
        return 0;
}

static int cursor_get_uint(Cursor *c, size_t n, ByteOrder order, uint64_t *ret) {
        const uint8_t *p;
        uint64_t v = 0;
        int r;

        r = cursor_take(c, n, true, &p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                size_t k = order == BYTE_ORDER_BE ? i : n - 1 - i;
                v = (v << 8) | p[k];
        }
        *ret = v;
        return 0;
}

/* Each typed getter: read into a uint64_t, narrow, store only on success. */
#define DEFINE_CURSOR_GET(name, type, n, order)                         \
        int cursor_get_##name(Cursor *c, type *ret) {                   \
                uint64_t v;                                             \
                int r = cursor_get_uint(c, (n), (order), &v);           \
                if (r < 0)                                              \
                        return r;                                       \
                if (ret)                                                \
                        *ret = (type) v;                                \
                return 0;                                               \
        }

DEFINE_CURSOR_GET(u8, uint8_t, 1, BYTE_ORDER_BE)
DEFINE_CURSOR_GET(be16, uint16_t, 2, BYTE_ORDER_BE)
DEFINE_CURSOR_GET(be32, uint32_t, 4, BYTE_ORDER_BE)
DEFINE_CURSOR_GET(be64, uint64_t, 8, BYTE_ORDER_BE)
DEFINE_CURSOR_GET(le16, uint16_t, 2, BYTE_ORDER_LE)
DEFINE_CURSOR_GET(le32, uint32_t, 4, BYTE_ORDER_LE)
DEFINE_CURSOR_GET(le64, uint64_t, 8, BYTE_ORDER_LE)

int cursor_get_bytes(Cursor *c, size_t n, void *ret) {
        const uint8_t *p;
        int r;

        r = cursor_take(c, n, true, &p);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(ret, p, n);
        return 0;
}

int cursor_get_span(Cursor *c, size_t n, const uint8_t **ret) {
        const uint8_t *p;
        int r;

        r = cursor_take(c, n, true, &p);
        if (r < 0)
                return r;
        if (ret)
                *ret = p;
        return 0;
}

int cursor_peek(Cursor *c, size_t n, const uint8_t **ret) {
        const uint8_t *p;
        int r;

        r = cursor_take(c, n, false, &p);
        if (r < 0)
                return r;
        if (ret)
                *ret = p;
        return 0;
}

int cursor_skip(Cursor *c, size_t n) {
        const uint8_t *p;

        return cursor_take(c, n, true, &p);
}

int cursor_sub(Cursor *c, size_t n, Cursor *ret) {
        const uint8_t *p;
        int r;

        r = cursor_take(c, n, true, &p);
        if (r < 0) {
                *ret = (Cursor) { .error = r };
                return r;
        }
        *ret = (Cursor) { .data = p, .size = n };
        return 0;
}

void writer_init(Writer *w, void *data, size_t size) {
        *w = (Writer) {
                .data = data,
                .size = data ? size : 0,
        };
}

size_t writer_length(const Writer *w) {
        return w->offset;
}

size_t writer_remaining(const Writer *w) {
        return w->size - w->offset;
}

int writer_error(const Writer *w) {
        return w->error;
}

/* The one bounds check for writes: the next n bytes, or the latched error
 * with nothing reserved. */
static int writer_reserve(Writer *w, size_t n, uint8_t **ret) {
        if (w->error < 0)
                return w->error;
        if (n > writer_remaining(w))
                return (w->error = WRITER_ERROR_FULL);
        *ret = w->data ? w->data + w->offset : NULL;
        w->offset += n;
        return 0;
}

static int writer_put_uint(Writer *w, size_t n, ByteOrder order, uint64_t v) {
        uint8_t *p;
        int r;

        r = writer_reserve(w, n, &p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                size_t k = order == BYTE_ORDER_LE ? i : n - 1 - i;
                p[k] = (uint8_t) (v >> (8 * i));
        }
        return 0;
}

#define DEFINE_WRITER_PUT(name, type, n, order)                         \
        int writer_put_##name(Writer *w, type v) {                      \
                return writer_put_uint(w, (n), (order), v);             \
        }

DEFINE_WRITER_PUT(u8, uint8_t, 1, BYTE_ORDER_BE)
DEFINE_WRITER_PUT(be16, uint16_t, 2, BYTE_ORDER_BE)
DEFINE_WRITER_PUT(be32, uint32_t, 4, BYTE_ORDER_BE)
DEFINE_WRITER_PUT(be64, uint64_t, 8, BYTE_ORDER_BE)
DEFINE_WRITER_PUT(le16, uint16_t, 2, BYTE_ORDER_LE)
DEFINE_WRITER_PUT(le32, uint32_t, 4, BYTE_ORDER_LE)
DEFINE_WRITER_PUT(le64, uint64_t, 8, BYTE_ORDER_LE)

int writer_put_bytes(Writer *w, const void *p, size_t n) {
        uint8_t *dst;
        int r;

        r = writer_reserve(w, n, &dst);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(dst, p, n);
        return 0;
}

int writer_put_zeros(Writer *w, size_t n) {
        uint8_t *dst;
        int r;

        r = writer_reserve(w, n, &dst);
        if (r < 0)
                return r;
        if (n > 0)
                memset(dst, 0, n);
        return 0;
}
