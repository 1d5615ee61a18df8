/* Bounded whole-file reads: one audited loop for every reader of a file of
 * unknown size (state files, AK blobs, the securityfs event log, which
 * reports size 0). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Reads `fd` to its end into a malloc'd buffer (*ret, NULL for an empty
 * file, which gives *ret_size 0). More than `max` bytes is -E2BIG; read
 * errors are -errno; EINTR is retried. */
int read_fd_capped(int fd, size_t max, uint8_t **ret, size_t *ret_size);
