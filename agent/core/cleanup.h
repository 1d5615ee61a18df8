/* Scope-exit cleanup helpers, defined once for the whole agent: the _cleanup_
 * attribute, typed destructors for the libraries we use, and take_ptr() to
 * hand ownership out of a scope. Destructors accept NULL. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hand ownership of *p to the caller and leave NULL behind so the scope's
 * cleanup does nothing. */
#define take_ptr(p)                                 \
        ({                                          \
                __typeof__(p) _tp_ = (p);           \
                (p) = NULL;                         \
                _tp_;                               \
        })

#define take_fd(fd)                                 \
        ({                                          \
                int _tf_ = (fd);                    \
                (fd) = -1;                          \
                _tf_;                               \
        })

/* DEFINE_CLEANUP(type, fn) makes fn##p(type *) usable as _cleanup_(fn##p)
 * for pointers of `type`; fn must accept NULL or is only called on non-NULL. */
#define DEFINE_CLEANUP(type, fn)                        \
        static inline void fn##p(type *p) {             \
                if (*p)                                 \
                        fn(*p);                         \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* For buffers that may hold key material: wiped with OPENSSL_cleanse (which
 * the compiler may not elide, unlike memset) and then freed. The size must be
 * known, so these take a Secret; see secret.h. */

/* Copies `n` bytes into a new NUL-terminated string: for buffers that are
 * not strings themselves (a BIO's memory, a wire field), where strndup()
 * would read past them looking for a NUL. NULL on OOM. */
static inline char *memdup_nul(const void *p, size_t n) {
        char *s = malloc(n + 1);
        if (s) {
                memcpy(s, p, n);
                s[n] = '\0';
        }
        return s;
}

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
