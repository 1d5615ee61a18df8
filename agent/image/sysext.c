/* sysext: the agent sysext file that goes onto an image or whose hash goes
 * into a config: a squashfs or erofs image (by libblkid) of sane size, and
 * its SHA-512 for Ignition's verification.hash. */
#include <blkid/blkid.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/openssl-cleanup.h"
#include "image/image.h"

#define SYSEXT_READ_CHUNK (256u * 1024u)

/* What systemd-sysext merges from a raw file and images/ can build
 * (docs/flatcar-ignition.md §1.2); a GPT DDI would also do, but Strata
 * does not build one. */
static const char *const sysext_fstypes[] = { "squashfs", "erofs" };

DEFINE_CLEANUP(blkid_probe, blkid_free_probe);

int image_sysext_check(int fd, char **reterr) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        const char *type = NULL;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return error_detail_set(reterr, -EINVAL, "not a regular file");
        if (st.st_size == 0)
                return error_detail_set(reterr, -EINVAL, "empty");
        if ((unsigned long long) st.st_size > IMAGE_SYSEXT_MAX)
                return error_detail_set(reterr, -E2BIG, "larger than %llu MiB", IMAGE_SYSEXT_MAX >> 20);

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        r = blkid_do_safeprobe(pr);
        if (r == 0)
                (void) blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
        for (size_t i = 0; type && i < ELEMENTSOF(sysext_fstypes); i++)
                if (strcmp(type, sysext_fstypes[i]) == 0)
                        return 0;
        if (type)
                return error_detail_set(reterr, -EMEDIUMTYPE,
                                        "not a sysext image: filesystem %.16s, expected squashfs or erofs", type);
        return error_detail_set(reterr, -EMEDIUMTYPE,
                                "not a sysext image: no filesystem found, expected squashfs or erofs");
}

int image_sysext_sha512(int fd, char ret[129]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(SYSEXT_READ_CHUNK);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        off_t off = 0;

        if (!ctx || !buf)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1)
                return -EIO;
        for (;;) {
                ssize_t k = pread(fd, buf, SYSEXT_READ_CHUNK, off);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t) k) != 1)
                        return -EIO;
                off += k;
        }
        if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 64)
                return -EIO;
        for (unsigned i = 0; i < len; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}
