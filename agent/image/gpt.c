/* gpt: the partition table of a Flatcar disk image, read through libblkid
 * (the GPT and each partition's filesystem superblock are libblkid's to
 * parse), and the checks that find OEM (6) and ROOT (9) by number and by
 * label, inside the image, with the filesystem Flatcar puts there. */
#include <blkid/blkid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "image/image.h"

/* blkid reports partition starts and sizes in 512-byte sectors, whatever
 * the device's own sector size. */
#define BLKID_SECTOR 512u
/* Characters of a label quoted in an error (it comes from the image). */
#define LABEL_QUOTE_MAX 40u

static const struct {
        unsigned number;
        const char *label;
        const char *const fstypes[3]; /* NULL-terminated */
        const char *fstypes_text;
} flatcar_parts[_IMAGE_PART_MAX] = {
        /* btrfs since Flatcar moved OEM software into sysexts; ext4 before */
        [IMAGE_PART_OEM] = { 6, "OEM", { "btrfs", "ext4", NULL }, "btrfs or ext4" },
        [IMAGE_PART_ROOT] = { 9, "ROOT", { "ext4", NULL }, "ext4" },
};

DEFINE_CLEANUP(blkid_probe, blkid_free_probe);

const char *image_part_label(ImagePart which) {
        return which >= 0 && which < _IMAGE_PART_MAX ? flatcar_parts[which].label : NULL;
}

unsigned image_part_number(ImagePart which) {
        return which >= 0 && which < _IMAGE_PART_MAX ? flatcar_parts[which].number : 0;
}

/* The filesystem TYPE in [offset, offset+size) of fd, "" for none. An
 * ambiguous probe (two superblocks) counts as none: we would not know
 * which filesystem the kernel mounts. */
static int probe_fstype(int fd, uint64_t offset, uint64_t size, char ret[IMAGE_FSTYPE_MAX]) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        const char *type = NULL;
        int r;

        ret[0] = '\0';
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t) offset, (blkid_loff_t) size) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        blkid_probe_enable_partitions(pr, 0);
        r = blkid_do_safeprobe(pr);
        if (r < 0 && r != -2)
                return -EIO;
        if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 && type)
                snprintf(ret, IMAGE_FSTYPE_MAX, "%s", type);
        return 0;
}

int image_gpt_read(int fd, ImagePartitionTable **ret, char **reterr) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        _cleanup_free_ ImagePartitionTable *t = calloc(1, sizeof(*t));
        blkid_partlist list;
        blkid_parttable top;
        const char *type;
        struct stat st;
        int n, r;

        if (!pr || !t)
                return -ENOMEM;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return error_detail_set(reterr, -EINVAL, "not a regular file");
        t->image_size = (uint64_t) st.st_size;

        if (blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 0);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
        list = blkid_probe_get_partitions(pr);
        top = list ? blkid_partlist_get_table(list) : NULL;
        type = top ? blkid_parttable_get_type(top) : NULL;
        if (!type)
                /* a GPT keeps a backup header in the last sector and blkid
                 * checks the primary against the size: a cut-off image
                 * often has no usable GPT at all */
                return error_detail_set(reterr, -ENOMEDIUM,
                                        "no partition table found (not a disk image, or truncated)");
        if (strcmp(type, "gpt") != 0)
                return error_detail_set(reterr, -ENOMEDIUM, "partition table is \"%.16s\", expected a GPT", type);

        n = blkid_partlist_numof_partitions(list);
        for (int i = 0; i < n; i++) {
                blkid_partition p = blkid_partlist_get_partition(list, i);
                ImagePartition *item;
                const char *name;
                blkid_loff_t start, size;

                /* nested tables (a BSD label inside a partition) are not Flatcar's */
                if (!p || blkid_partition_get_table(p) != top)
                        continue;
                if (t->n >= IMAGE_PARTITIONS_MAX)
                        return error_detail_set(reterr, -E2BIG, "more than %u partitions", IMAGE_PARTITIONS_MAX);
                start = blkid_partition_get_start(p);
                size = blkid_partition_get_size(p);
                if (start < 0 || size < 0 || blkid_partition_get_partno(p) <= 0)
                        continue;
                item = &t->items[t->n++];
                item->number = (unsigned) blkid_partition_get_partno(p);
                name = blkid_partition_get_name(p);
                snprintf(item->label, sizeof(item->label), "%s", name ? name : "");
                /* blkid's sector counts fit in 54 bits: no overflow in bytes */
                item->offset = (uint64_t) start * BLKID_SECTOR;
                item->size = (uint64_t) size * BLKID_SECTOR;
        }

        /* filesystems, probed only where the range is inside the file */
        for (size_t i = 0; i < t->n; i++) {
                ImagePartition *p = &t->items[i];

                if (p->size == 0 || p->offset > t->image_size || p->size > t->image_size - p->offset)
                        continue;
                r = probe_fstype(fd, p->offset, p->size, p->fstype);
                if (r < 0)
                        return error_detail_set(reterr, r, "partition %u: cannot probe its filesystem", p->number);
        }
        *ret = take_ptr(t);
        return 0;
}

/* `s` quoted for an error message: it comes from the image, so anything
 * but printable ASCII is \xNN, and it is cut at LABEL_QUOTE_MAX. */
static void quote_label(const char *s, char *buf, size_t size) {
        size_t n = 0, i;

        for (i = 0; s[i] && i < LABEL_QUOTE_MAX && n + 5 < size; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        buf[n++] = (char) c;
                else
                        n += (size_t) snprintf(buf + n, size - n, "\\x%02x", c);
        }
        if (s[i] && n + 4 < size)
                n += (size_t) snprintf(buf + n, size - n, "...");
        buf[n] = '\0';
}

int image_gpt_find(const ImagePartitionTable *t, ImagePart which, const ImagePartition **ret, char **reterr) {
        const ImagePartition *by_number = NULL;
        char quoted[LABEL_QUOTE_MAX * 4 + 8];
        unsigned number;
        const char *label;

        if (which < 0 || which >= _IMAGE_PART_MAX)
                return -EINVAL;
        number = flatcar_parts[which].number;
        label = flatcar_parts[which].label;

        for (size_t i = 0; i < t->n; i++)
                if (t->items[i].number == number)
                        by_number = &t->items[i];
        if (!by_number)
                return error_detail_set(reterr, -ENOENT, "partition %u: missing, expected \"%s\"", number, label);
        if (strcmp(by_number->label, label) != 0) {
                quote_label(by_number->label, quoted, sizeof(quoted));
                return error_detail_set(reterr, -EBADMSG, "partition %u: label is \"%s\", expected \"%s\"", number,
                                        quoted, label);
        }
        for (size_t i = 0; i < t->n; i++)
                if (t->items[i].number != number && strcmp(t->items[i].label, label) == 0)
                        return error_detail_set(reterr, -EBADMSG,
                                                "partition %u is labelled \"%s\" too: Flatcar has one %s, partition %u",
                                                t->items[i].number, label, label, number);
        if (by_number->size == 0)
                return error_detail_set(reterr, -EBADMSG, "partition %u (%s): empty", number, label);
        if (by_number->offset > t->image_size || by_number->size > t->image_size - by_number->offset)
                return error_detail_set(reterr, -EBADMSG,
                                        "partition %u (%s): ends at byte %llu, past the end of the image (%llu bytes): "
                                        "truncated?",
                                        number, label,
                                        (unsigned long long) by_number->offset + (unsigned long long) by_number->size,
                                        (unsigned long long) t->image_size);
        if (by_number->fstype[0] == '\0')
                return error_detail_set(reterr, -EMEDIUMTYPE, "partition %u (%s): no filesystem found, expected %s",
                                        number, label, flatcar_parts[which].fstypes_text);
        for (size_t i = 0; flatcar_parts[which].fstypes[i]; i++)
                if (strcmp(by_number->fstype, flatcar_parts[which].fstypes[i]) == 0) {
                        *ret = by_number;
                        return 0;
                }
        quote_label(by_number->fstype, quoted, sizeof(quoted));
        return error_detail_set(reterr, -EMEDIUMTYPE, "partition %u (%s): filesystem is %s, expected %s", number, label,
                                quoted, flatcar_parts[which].fstypes_text);
}
