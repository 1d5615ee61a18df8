/* Tests for agent/core/cursor.c: every getter and put normal, exact fit and
 * truncated (the last checking that nothing moved and the error latched, as
 * sshbuf's getput tests do), sub-cursor bounds, sticky errors. Inputs are
 * copied into exact-size heap buffers so ASan sees any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/cursor.h"

/* High bits set in every byte so sign-extension bugs show. */
static const uint8_t VECTOR[8] = { 0xf1, 0xe2, 0xd3, 0xc4, 0xb5, 0xa6, 0x97, 0x88 };
#define FILL 0xaa

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
        uint8_t *q = malloc(n ? n : 1);
        assert_non_null(q);
        if (n)
                memcpy(q, p, n);
        return q;
}

/* Integer getters: name, type, width, expected value of VECTOR read so. */
#define TEST_GETTER(name, type, width, expected)                                        \
        static void test_cursor_get_##name##_ok(void **state) {                        \
                uint8_t in[(width) + 1];                                                \
                memcpy(in, VECTOR, (width));                                            \
                in[(width)] = 0x5a;                                                     \
                _cleanup_free_ uint8_t *buf = dup_exact(in, sizeof(in));                \
                Cursor c;                                                               \
                type v = 0;                                                             \
                (void) state;                                                           \
                cursor_init(&c, buf, sizeof(in));                                       \
                assert_int_equal(cursor_get_##name(&c, &v), 0);                         \
                assert_true(v == (type) (expected));                                    \
                assert_int_equal(cursor_offset(&c), (width));                           \
                assert_int_equal(cursor_remaining(&c), 1);                              \
                assert_int_equal(cursor_error(&c), 0);                                  \
        }                                                                               \
        static void test_cursor_get_##name##_exact_fit(void **state) {                 \
                _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, (width));               \
                Cursor c;                                                               \
                type v = 0;                                                             \
                (void) state;                                                           \
                cursor_init(&c, buf, (width));                                          \
                assert_int_equal(cursor_get_##name(&c, &v), 0);                         \
                assert_true(v == (type) (expected));                                    \
                assert_true(cursor_at_end(&c));                                         \
                assert_int_equal(cursor_finish(&c), 0);                                 \
        }                                                                               \
        static void test_cursor_get_##name##_truncated(void **state) {                 \
                _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, (width) - 1);           \
                Cursor c;                                                               \
                type v = (type) 0x4242424242424242ull;                                  \
                (void) state;                                                           \
                cursor_init(&c, buf, (width) - 1);                                      \
                assert_int_equal(cursor_get_##name(&c, &v), CURSOR_ERROR_SHORT);        \
                assert_true(v == (type) 0x4242424242424242ull);                         \
                assert_int_equal(cursor_offset(&c), 0);                                 \
                assert_int_equal(cursor_remaining(&c), (width) - 1);                    \
                assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);                 \
        }

TEST_GETTER(u8, uint8_t, 1, 0xf1)
TEST_GETTER(be16, uint16_t, 2, 0xf1e2)
TEST_GETTER(be32, uint32_t, 4, 0xf1e2d3c4)
TEST_GETTER(be64, uint64_t, 8, 0xf1e2d3c4b5a69788ull)
TEST_GETTER(le16, uint16_t, 2, 0xe2f1)
TEST_GETTER(le32, uint32_t, 4, 0xc4d3e2f1)
TEST_GETTER(le64, uint64_t, 8, 0x8897a6b5c4d3e2f1ull)

static void test_cursor_get_u8_empty_truncated(void **state) {
        Cursor c;
        uint8_t v = 7;
        (void) state;

        cursor_init(&c, NULL, 0);
        assert_true(cursor_at_end(&c));
        assert_int_equal(cursor_get_u8(&c, &v), CURSOR_ERROR_SHORT);
        assert_int_equal(v, 7);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_get_be32_null_ret_consumes(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_be32(&c, NULL), 0);
        assert_int_equal(cursor_offset(&c), 4);
}

static void test_cursor_get_sequence_ok(void **state) {
        static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
        _cleanup_free_ uint8_t *buf = dup_exact(in, sizeof(in));
        Cursor c;
        uint8_t a;
        uint16_t b;
        uint32_t d;
        (void) state;

        cursor_init(&c, buf, sizeof(in));
        cursor_get_u8(&c, &a);
        cursor_get_be16(&c, &b);
        cursor_get_le32(&c, &d);
        assert_int_equal(cursor_finish(&c), 0);
        assert_int_equal(a, 0x01);
        assert_int_equal(b, 0x0203);
        assert_int_equal(d, 0x07060504);
}

static void test_cursor_get_bytes_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t out[3];
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_bytes(&c, 3, out), 0);
        assert_memory_equal(out, VECTOR, 3);
        assert_int_equal(cursor_offset(&c), 3);
        assert_int_equal(cursor_get_bytes(&c, 0, NULL), 0);
        assert_int_equal(cursor_offset(&c), 3);
}

static void test_cursor_get_bytes_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t out[8];
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_bytes(&c, 8, out), 0);
        assert_memory_equal(out, VECTOR, 8);
        assert_true(cursor_at_end(&c));
        /* zero bytes still fit at the end */
        assert_int_equal(cursor_get_bytes(&c, 0, NULL), 0);
        assert_int_equal(cursor_error(&c), 0);
}

static void test_cursor_get_bytes_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t out[9];
        Cursor c;
        (void) state;

        memset(out, FILL, sizeof(out));
        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 2), 0);
        assert_int_equal(cursor_get_bytes(&c, 7, out), CURSOR_ERROR_SHORT);
        for (size_t i = 0; i < sizeof(out); i++)
                assert_int_equal(out[i], FILL);
        assert_int_equal(cursor_offset(&c), 2);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_get_bytes_huge_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t out[1] = { FILL };
        Cursor c;
        (void) state;

        /* a length field of SIZE_MAX must not wrap the bounds check */
        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 1), 0);
        assert_int_equal(cursor_get_bytes(&c, SIZE_MAX, out), CURSOR_ERROR_SHORT);
        assert_int_equal(out[0], FILL);
        assert_int_equal(cursor_offset(&c), 1);
}

static void test_cursor_get_span_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = NULL;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 1), 0);
        assert_int_equal(cursor_get_span(&c, 4, &p), 0);
        assert_ptr_equal(p, buf + 1);
        assert_int_equal(cursor_offset(&c), 5);
}

static void test_cursor_get_span_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = NULL;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_span(&c, 8, &p), 0);
        assert_ptr_equal(p, buf);
        assert_true(cursor_at_end(&c));
}

static void test_cursor_get_span_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = (const uint8_t *) VECTOR;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_span(&c, 9, &p), CURSOR_ERROR_SHORT);
        assert_ptr_equal(p, VECTOR);
        assert_int_equal(cursor_offset(&c), 0);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_peek_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = NULL;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 2), 0);
        assert_int_equal(cursor_peek(&c, 3, &p), 0);
        assert_ptr_equal(p, buf + 2);
        assert_int_equal(cursor_offset(&c), 2);
}

static void test_cursor_peek_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = NULL;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_peek(&c, 8, &p), 0);
        assert_ptr_equal(p, buf);
        assert_int_equal(cursor_remaining(&c), 8);
}

static void test_cursor_peek_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        const uint8_t *p = (const uint8_t *) VECTOR;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 6), 0);
        assert_int_equal(cursor_peek(&c, 3, &p), CURSOR_ERROR_SHORT);
        assert_ptr_equal(p, VECTOR);
        assert_int_equal(cursor_offset(&c), 6);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_skip_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t v;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 3), 0);
        assert_int_equal(cursor_get_u8(&c, &v), 0);
        assert_int_equal(v, VECTOR[3]);
}

static void test_cursor_skip_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 8), 0);
        assert_true(cursor_at_end(&c));
        assert_int_equal(cursor_error(&c), 0);
}

static void test_cursor_skip_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 5), 0);
        assert_int_equal(cursor_skip(&c, 4), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_offset(&c), 5);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_sub_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t v;
        uint16_t w = 0x4242;
        Cursor c, sub;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 1), 0);
        assert_int_equal(cursor_sub(&c, 3, &sub), 0);
        assert_int_equal(cursor_offset(&c), 4);
        assert_int_equal(cursor_remaining(&sub), 3);
        assert_int_equal(cursor_offset(&sub), 0);
        assert_int_equal(cursor_get_u8(&sub, &v), 0);
        assert_int_equal(v, VECTOR[1]);
        /* the sub-cursor ends where its length says, not where the parent does */
        assert_int_equal(cursor_skip(&sub, 1), 0);
        assert_int_equal(cursor_get_be16(&sub, &w), CURSOR_ERROR_SHORT);
        assert_int_equal(w, 0x4242);
        assert_int_equal(cursor_remaining(&sub), 1);
        /* and its error stays its own */
        assert_int_equal(cursor_error(&c), 0);
        assert_int_equal(cursor_get_u8(&c, &v), 0);
        assert_int_equal(v, VECTOR[4]);
}

static void test_cursor_sub_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint64_t v;
        Cursor c, sub;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_sub(&c, 8, &sub), 0);
        assert_true(cursor_at_end(&c));
        assert_int_equal(cursor_get_be64(&sub, &v), 0);
        assert_true(v == 0xf1e2d3c4b5a69788ull);
        assert_int_equal(cursor_finish(&sub), 0);
}

static void test_cursor_sub_empty_ok(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c, sub;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 8), 0);
        assert_int_equal(cursor_sub(&c, 0, &sub), 0);
        assert_true(cursor_at_end(&sub));
        assert_int_equal(cursor_error(&sub), 0);
        assert_int_equal(cursor_get_u8(&sub, NULL), CURSOR_ERROR_SHORT);
}

static void test_cursor_sub_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c, sub;
        (void) state;

        memset(&sub, FILL, sizeof(sub));
        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 2), 0);
        assert_int_equal(cursor_sub(&c, 7, &sub), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_offset(&c), 2);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_SHORT);
        /* the failed sub-cursor is empty and carries the error */
        assert_int_equal(cursor_remaining(&sub), 0);
        assert_int_equal(cursor_error(&sub), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_get_u8(&sub, NULL), CURSOR_ERROR_SHORT);
}

static void test_cursor_sub_nested_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c, outer, inner;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_sub(&c, 4, &outer), 0);
        /* the inner length may not reach past the outer one into the parent */
        assert_int_equal(cursor_sub(&outer, 5, &inner), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_offset(&outer), 0);
        assert_int_equal(cursor_sub(&c, 4, &inner), 0);
}

static void test_cursor_error_sticky(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        uint8_t v = 9;
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_get_be64(&c, NULL), 0);
        assert_int_equal(cursor_get_u8(&c, NULL), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_get_bytes(&c, 0, NULL), CURSOR_ERROR_SHORT);

        /* a read that would fit still fails after an earlier failure */
        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 9), CURSOR_ERROR_SHORT);
        assert_int_equal(cursor_get_u8(&c, &v), CURSOR_ERROR_SHORT);
        assert_int_equal(v, 9);
        assert_int_equal(cursor_offset(&c), 0);
        assert_int_equal(cursor_finish(&c), CURSOR_ERROR_SHORT);
}

static void test_cursor_init_null_invalid(void **state) {
        Cursor c;
        (void) state;

        cursor_init(&c, NULL, 4);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_INVALID);
        assert_int_equal(cursor_remaining(&c), 0);
        assert_int_equal(cursor_get_u8(&c, NULL), CURSOR_ERROR_INVALID);
}

static void test_cursor_finish_trailing(void **state) {
        _cleanup_free_ uint8_t *buf = dup_exact(VECTOR, 8);
        Cursor c;
        (void) state;

        cursor_init(&c, buf, 8);
        assert_int_equal(cursor_skip(&c, 7), 0);
        assert_int_equal(cursor_finish(&c), CURSOR_ERROR_TRAILING);
        assert_int_equal(cursor_error(&c), CURSOR_ERROR_TRAILING);
        assert_int_equal(cursor_offset(&c), 7);
}

/* Puts: name, type, width, value whose encoding is VECTOR's first bytes. */
#define TEST_PUT(name, type, width, value)                                              \
        static void test_writer_put_##name##_ok(void **state) {                        \
                _cleanup_free_ uint8_t *buf = malloc((width) + 1);                      \
                Writer w;                                                               \
                (void) state;                                                           \
                assert_non_null(buf);                                                   \
                memset(buf, FILL, (width) + 1);                                         \
                writer_init(&w, buf, (width) + 1);                                      \
                assert_int_equal(writer_put_##name(&w, (type) (value)), 0);            \
                assert_memory_equal(buf, VECTOR, (width));                              \
                assert_int_equal(buf[(width)], FILL);                                   \
                assert_int_equal(writer_length(&w), (width));                           \
                assert_int_equal(writer_remaining(&w), 1);                              \
        }                                                                               \
        static void test_writer_put_##name##_exact_fit(void **state) {                 \
                _cleanup_free_ uint8_t *buf = malloc((width));                          \
                Writer w;                                                               \
                (void) state;                                                           \
                assert_non_null(buf);                                                   \
                writer_init(&w, buf, (width));                                          \
                assert_int_equal(writer_put_##name(&w, (type) (value)), 0);            \
                assert_memory_equal(buf, VECTOR, (width));                              \
                assert_int_equal(writer_remaining(&w), 0);                              \
                assert_int_equal(writer_error(&w), 0);                                  \
        }                                                                               \
        static void test_writer_put_##name##_overflow(void **state) {                  \
                _cleanup_free_ uint8_t *buf = malloc((width));                          \
                Writer w;                                                               \
                (void) state;                                                           \
                assert_non_null(buf);                                                   \
                memset(buf, FILL, (width));                                             \
                writer_init(&w, buf, (width) - 1);                                      \
                assert_int_equal(writer_put_##name(&w, (type) (value)), WRITER_ERROR_FULL); \
                for (size_t i = 0; i < (width); i++)                                    \
                        assert_int_equal(buf[i], FILL);                                 \
                assert_int_equal(writer_length(&w), 0);                                 \
                assert_int_equal(writer_error(&w), WRITER_ERROR_FULL);                  \
        }

TEST_PUT(u8, uint8_t, 1, 0xf1)
TEST_PUT(be16, uint16_t, 2, 0xf1e2)
TEST_PUT(be32, uint32_t, 4, 0xf1e2d3c4)
TEST_PUT(be64, uint64_t, 8, 0xf1e2d3c4b5a69788ull)
TEST_PUT(le16, uint16_t, 2, 0xe2f1)
TEST_PUT(le32, uint32_t, 4, 0xc4d3e2f1)
TEST_PUT(le64, uint64_t, 8, 0x8897a6b5c4d3e2f1ull)

static void test_writer_put_bytes_ok(void **state) {
        uint8_t buf[10];
        Writer w;
        (void) state;

        memset(buf, FILL, sizeof(buf));
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(writer_put_bytes(&w, VECTOR, 8), 0);
        assert_int_equal(writer_put_bytes(&w, NULL, 0), 0);
        assert_memory_equal(buf, VECTOR, 8);
        assert_int_equal(buf[8], FILL);
        assert_int_equal(writer_length(&w), 8);
}

static void test_writer_put_bytes_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = malloc(8);
        Writer w;
        (void) state;

        assert_non_null(buf);
        writer_init(&w, buf, 8);
        assert_int_equal(writer_put_bytes(&w, VECTOR, 3), 0);
        assert_int_equal(writer_put_bytes(&w, VECTOR + 3, 5), 0);
        assert_memory_equal(buf, VECTOR, 8);
        assert_int_equal(writer_remaining(&w), 0);
        assert_int_equal(writer_put_bytes(&w, NULL, 0), 0);
}

static void test_writer_put_bytes_overflow(void **state) {
        uint8_t buf[8];
        Writer w;
        (void) state;

        memset(buf, FILL, sizeof(buf));
        writer_init(&w, buf, 6);
        assert_int_equal(writer_put_u8(&w, 1), 0);
        assert_int_equal(writer_put_bytes(&w, VECTOR, 6), WRITER_ERROR_FULL);
        assert_int_equal(buf[0], 1);
        for (size_t i = 1; i < sizeof(buf); i++)
                assert_int_equal(buf[i], FILL);
        assert_int_equal(writer_length(&w), 1);
        assert_int_equal(writer_put_bytes(&w, VECTOR, SIZE_MAX), WRITER_ERROR_FULL);
}

static void test_writer_put_zeros_ok(void **state) {
        uint8_t buf[4];
        Writer w;
        (void) state;

        memset(buf, FILL, sizeof(buf));
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(writer_put_zeros(&w, 3), 0);
        assert_int_equal(buf[0], 0);
        assert_int_equal(buf[2], 0);
        assert_int_equal(buf[3], FILL);
}

static void test_writer_put_zeros_exact_fit(void **state) {
        _cleanup_free_ uint8_t *buf = malloc(4);
        Writer w;
        (void) state;

        assert_non_null(buf);
        writer_init(&w, buf, 4);
        assert_int_equal(writer_put_zeros(&w, 4), 0);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(buf[i], 0);
        assert_int_equal(writer_remaining(&w), 0);
}

static void test_writer_put_zeros_overflow(void **state) {
        uint8_t buf[4];
        Writer w;
        (void) state;

        memset(buf, FILL, sizeof(buf));
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(writer_put_zeros(&w, 5), WRITER_ERROR_FULL);
        for (size_t i = 0; i < sizeof(buf); i++)
                assert_int_equal(buf[i], FILL);
        assert_int_equal(writer_length(&w), 0);
}

static void test_writer_error_sticky(void **state) {
        uint8_t buf[4];
        Writer w;
        (void) state;

        memset(buf, FILL, sizeof(buf));
        writer_init(&w, buf, sizeof(buf));
        assert_int_equal(writer_put_be64(&w, 1), WRITER_ERROR_FULL);
        /* a put that would fit is refused after an overflow */
        assert_int_equal(writer_put_u8(&w, 1), WRITER_ERROR_FULL);
        assert_int_equal(buf[0], FILL);
        assert_int_equal(writer_length(&w), 0);
}

static void test_writer_init_null_overflow(void **state) {
        Writer w;
        (void) state;

        writer_init(&w, NULL, 16);
        assert_int_equal(writer_remaining(&w), 0);
        assert_int_equal(writer_put_zeros(&w, 0), 0);
        assert_int_equal(writer_put_u8(&w, 1), WRITER_ERROR_FULL);
}

static void test_writer_cursor_round_trip(void **state) {
        uint8_t buf[32];
        uint8_t a, tail[3];
        uint16_t b, e;
        uint32_t d, f;
        uint64_t g, h;
        Writer w;
        Cursor c;
        (void) state;

        writer_init(&w, buf, sizeof(buf));
        writer_put_u8(&w, 0x80);
        writer_put_be16(&w, 0x8001);
        writer_put_be32(&w, 0x80000001);
        writer_put_le16(&w, 0x8002);
        writer_put_le32(&w, 0x80000002);
        writer_put_be64(&w, 0x8000000000000003ull);
        writer_put_le64(&w, 0x8000000000000004ull);
        writer_put_bytes(&w, "xyz", 3);
        assert_int_equal(writer_error(&w), 0);
        assert_int_equal(writer_length(&w), 1 + 2 + 4 + 2 + 4 + 8 + 8 + 3);

        cursor_init(&c, buf, writer_length(&w));
        cursor_get_u8(&c, &a);
        cursor_get_be16(&c, &b);
        cursor_get_be32(&c, &d);
        cursor_get_le16(&c, &e);
        cursor_get_le32(&c, &f);
        cursor_get_be64(&c, &g);
        cursor_get_le64(&c, &h);
        cursor_get_bytes(&c, 3, tail);
        assert_int_equal(cursor_finish(&c), 0);
        assert_int_equal(a, 0x80);
        assert_int_equal(b, 0x8001);
        assert_int_equal(d, 0x80000001);
        assert_int_equal(e, 0x8002);
        assert_int_equal(f, 0x80000002);
        assert_true(g == 0x8000000000000003ull);
        assert_true(h == 0x8000000000000004ull);
        assert_memory_equal(tail, "xyz", 3);
}

#define GETTER_TESTS(name)                                      \
        cmocka_unit_test(test_cursor_get_##name##_ok),          \
        cmocka_unit_test(test_cursor_get_##name##_exact_fit),   \
        cmocka_unit_test(test_cursor_get_##name##_truncated)
#define PUT_TESTS(name)                                         \
        cmocka_unit_test(test_writer_put_##name##_ok),          \
        cmocka_unit_test(test_writer_put_##name##_exact_fit),   \
        cmocka_unit_test(test_writer_put_##name##_overflow)

int main(void) {
        const struct CMUnitTest tests[] = {
                GETTER_TESTS(u8),
                GETTER_TESTS(be16),
                GETTER_TESTS(be32),
                GETTER_TESTS(be64),
                GETTER_TESTS(le16),
                GETTER_TESTS(le32),
                GETTER_TESTS(le64),
                cmocka_unit_test(test_cursor_get_u8_empty_truncated),
                cmocka_unit_test(test_cursor_get_be32_null_ret_consumes),
                cmocka_unit_test(test_cursor_get_sequence_ok),
                cmocka_unit_test(test_cursor_get_bytes_ok),
                cmocka_unit_test(test_cursor_get_bytes_exact_fit),
                cmocka_unit_test(test_cursor_get_bytes_truncated),
                cmocka_unit_test(test_cursor_get_bytes_huge_truncated),
                cmocka_unit_test(test_cursor_get_span_ok),
                cmocka_unit_test(test_cursor_get_span_exact_fit),
                cmocka_unit_test(test_cursor_get_span_truncated),
                cmocka_unit_test(test_cursor_peek_ok),
                cmocka_unit_test(test_cursor_peek_exact_fit),
                cmocka_unit_test(test_cursor_peek_truncated),
                cmocka_unit_test(test_cursor_skip_ok),
                cmocka_unit_test(test_cursor_skip_exact_fit),
                cmocka_unit_test(test_cursor_skip_truncated),
                cmocka_unit_test(test_cursor_sub_ok),
                cmocka_unit_test(test_cursor_sub_exact_fit),
                cmocka_unit_test(test_cursor_sub_empty_ok),
                cmocka_unit_test(test_cursor_sub_truncated),
                cmocka_unit_test(test_cursor_sub_nested_truncated),
                cmocka_unit_test(test_cursor_error_sticky),
                cmocka_unit_test(test_cursor_init_null_invalid),
                cmocka_unit_test(test_cursor_finish_trailing),
                PUT_TESTS(u8),
                PUT_TESTS(be16),
                PUT_TESTS(be32),
                PUT_TESTS(be64),
                PUT_TESTS(le16),
                PUT_TESTS(le32),
                PUT_TESTS(le64),
                cmocka_unit_test(test_writer_put_bytes_ok),
                cmocka_unit_test(test_writer_put_bytes_exact_fit),
                cmocka_unit_test(test_writer_put_bytes_overflow),
                cmocka_unit_test(test_writer_put_zeros_ok),
                cmocka_unit_test(test_writer_put_zeros_exact_fit),
                cmocka_unit_test(test_writer_put_zeros_overflow),
                cmocka_unit_test(test_writer_error_sticky),
                cmocka_unit_test(test_writer_init_null_overflow),
                cmocka_unit_test(test_writer_cursor_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
