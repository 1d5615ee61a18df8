/* Whole-file I/O loops, one audited copy each: bounded reads for every
 * reader of a file of unknown size (state files, AK blobs, the securityfs
 * event log, which reports size 0), and full writes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Reads `fd` to its end into a malloc'd buffer (*ret, NULL for an empty
 * file, which gives *ret_size 0). More than `max` bytes is -E2BIG; read
 * errors are -errno; EINTR is retried. */
int read_fd_capped(int fd, size_t max, uint8_t **ret, size_t *ret_size);

/* Writes all `size` bytes of `data` to `fd`, retrying EINTR and short
 * writes. 0, -errno, or -EIO when write() makes no progress. */
int write_fd_all(int fd, const void *data, size_t size);
