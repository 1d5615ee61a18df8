/* oem-cpio: the PXE OEM drop-in, a gzip'd newc cpio holding one node's
 * Ignition config as usr/share/oem/config.ign. Appended to Flatcar's PXE
 * initramfs as a second initrd, the kernel unpacks it over the first, and
 * bootengine's ignition-setup reads the config from there
 * (docs/flatcar-ignition.md §1.9, §5.5). Written with libarchive and
 * reproducible: the same config and mtime give the same bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "ignition/render.h"
#include "image/image.h"

/* The entries, parents first (the kernel's unpacker creates nothing
 * implicitly); inode numbers are the row numbers plus one. */
static const struct {
        const char *path;
        mode_t type, perm;
} entries[] = {
        { "usr", AE_IFDIR, 0755 },
        { "usr/share", AE_IFDIR, 0755 },
        { IMAGE_PXE_OEM_DIR, AE_IFDIR, 0755 },
        { IMAGE_PXE_OEM_DIR "/" IMAGE_OEM_CONFIG_NAME, AE_IFREG, 0644 },
};

DEFINE_CLEANUP(struct archive *, archive_write_free);
DEFINE_CLEANUP(struct archive_entry *, archive_entry_free);

static int archive_error(struct archive *a, const char *what, char **reterr) {
        int e = archive_errno(a);
        return error_detail_set(reterr, e > 0 ? -e : -EIO, "%s: %s", what,
                                archive_error_string(a) ? archive_error_string(a) : "libarchive failed");
}

int image_oem_cpio_write(int fd, const json_t *config, int64_t mtime, char **reterr) {
        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        _cleanup_free_ char *json = NULL, *text = NULL, *detail = NULL;
        size_t size;
        int r;

        if (!a)
                return -ENOMEM;
        /* public channel: checked here too, whoever rendered the config */
        r = ignition_scan_secrets(config, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "the Ignition config: %s", detail ? detail : strerror(-r));
        json = json_dumps(config, JSON_COMPACT);
        if (!json || asprintf(&text, "%s\n", json) < 0)
                return -ENOMEM;
        size = strlen(text);
        if (size > IMAGE_OEM_CONFIG_MAX)
                return error_detail_set(reterr, -E2BIG, "the Ignition config is larger than %u bytes",
                                        IMAGE_OEM_CONFIG_MAX);

        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
            /* no time in the gzip header (libarchive writes the current one by default) */
            archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
            archive_write_set_filter_option(a, "gzip", "compression-level", "9") != ARCHIVE_OK ||
            /* no zero padding after the gzip stream */
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
                return archive_error(a, "cannot set up the cpio writer", reterr);
        if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return archive_error(a, "cannot write", reterr);

        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new2(a);
                bool file = entries[i].type == AE_IFREG;

                if (!e)
                        return -ENOMEM;
                archive_entry_set_pathname(e, entries[i].path);
                archive_entry_set_filetype(e, entries[i].type);
                archive_entry_set_perm(e, entries[i].perm);
                archive_entry_set_uid(e, 0);
                archive_entry_set_gid(e, 0);
                archive_entry_set_mtime(e, (time_t) mtime, 0);
                archive_entry_set_ino(e, (la_int64_t) i + 1);
                archive_entry_set_dev(e, 0);
                archive_entry_set_nlink(e, file ? 1 : 2);
                archive_entry_set_size(e, file ? (la_int64_t) size : 0);
                if (archive_write_header(a, e) != ARCHIVE_OK)
                        return archive_error(a, entries[i].path, reterr);
                if (file && archive_write_data(a, text, size) != (la_ssize_t) size)
                        return archive_error(a, entries[i].path, reterr);
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return archive_error(a, "cannot finish the cpio", reterr);
        return 0;
}

int image_oem_cpio_build(const char *path, const json_t *config, int64_t mtime, char **reterr) {
        _cleanup_image_output_ ImageOutput out = IMAGE_OUTPUT_NULL;
        _cleanup_free_ char *detail = NULL;
        int r;

        r = image_output_open(path, 0644, -1, &out, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", path, detail ? detail : strerror(-r));
        r = image_oem_cpio_write(out.fd, config, mtime, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", path, detail ? detail : strerror(-r));
        r = image_output_commit(&out);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: cannot write: %s", path, strerror(-r));
        return 0;
}
