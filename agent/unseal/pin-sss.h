/* The sss pin: Shamir's secret sharing over GF(p), as clevis' sss pin does
 * it (a 256-bit safe prime p; shares x || y, each |p| bytes big-endian).
 * This file owns the math and the header member; decrypt.c and encrypt.c
 * run the children. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/secret.h"

#define SSS_PRIME_BITS 256u
#define SSS_PRIME_BYTES_MAX 64u  /* clevis uses 32; refuse anything past 512-bit */
#define SSS_CHILDREN_MAX 64u
#define SSS_DEPTH_MAX 8u         /* nesting of sss inside sss */

typedef struct SssHeader {
        unsigned t;
        uint8_t p[SSS_PRIME_BYTES_MAX];
        size_t p_size;
        const json_t *jwe; /* borrowed: array of compact JWE strings */
} SssHeader;

/* Parses clevis.sss {"t","p","jwe"}; -EBADMSG with *reterr naming the field. */
int sss_header_parse(const json_t *member, SssHeader *ret, char **reterr);

/* Polynomial of degree t-1 with a random secret a0 < p.
 * sss_new makes p (a fresh safe prime) and the coefficients. */
typedef struct Sss Sss;
int sss_new(unsigned t, Sss **ret);
Sss *sss_free(Sss *s);
/* p, big-endian, |p| bytes. */
int sss_prime(const Sss *s, uint8_t *buf, size_t size, size_t *ret_size);
/* The secret a0 as |p| bytes: the content key of the sss JWE. */
int sss_secret(const Sss *s, Secret **ret);
/* A new share (random x in [1, p), y = f(x)): 2|p| bytes x || y. */
int sss_share(const Sss *s, Secret **ret);

/* Lagrange interpolation at 0 of `n` shares (each 2*p_size bytes) into the
 * |p|-byte secret. -EBADMSG if a share has the wrong size, an x is zero or
 * out of range, or two x coincide. */
int sss_combine(const uint8_t *p, size_t p_size, Secret *const *shares, size_t n, Secret **ret);
