/* data-url: RFC 2397 data: URLs, the way Ignition carries inline file
 * contents. The renderer encodes ("data:," and percent-encoding, so the
 * text stays greppable and no base64 blob can hide key material); the
 * secret scan decodes either form to look inside. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest data: URL the decoder accepts (a spec is at most 4 MiB, and
 * percent-encoding may triple it). */
#define DATA_URL_MAX (16u * 1024u * 1024u)

/* "data:," followed by `text` with every byte outside RFC 3986's
 * unreserved set (A-Z a-z 0-9 - . _ ~) written as %XX. Returns 0 and *ret
 * (caller frees), -E2BIG if the URL would exceed DATA_URL_MAX, or -ENOMEM. */
int data_url_encode(const void *text, size_t size, char **ret);

/* Is `s` a data: URL (scheme compared case-insensitively)? */
bool data_url_is(const char *s, size_t n);

/* Decodes "data:[MEDIATYPE][;base64],DATA": percent-escapes first, then
 * base64 (standard or URL alphabet, padding optional) when ";base64" ends
 * the header. Returns 0 and *ret (NUL-terminated for convenience, the size
 * without it; caller frees), or -EINVAL (no comma, a bad %XX, bad base64),
 * -E2BIG (more than DATA_URL_MAX), -ENOMEM. A pure function of the bytes. */
int data_url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size);
