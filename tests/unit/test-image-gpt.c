/* Tests for agent/image/gpt.c and agent/image/sysext.c, the two places that
 * ask libblkid about a file from outside: a synthetic Flatcar-like GPT
 * (protective MBR, primary and backup headers with their CRCs, entries 1-4,
 * 6, 7 and 9 named as Flatcar names them) written into a temporary file and
 * read back; no GPT, an MBR, a truncated image; then the checks on the
 * table: OEM and ROOT found by number and label, a wrong or duplicated
 * label, a missing partition, a range past the end, the filesystem types;
 * and the sysext's type, size and SHA-512. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "image/image.h"

#define SECTOR 512u
#define MIB (1024u * 1024u)
#define GPT_ENTRIES 128u
#define GPT_ENTRY_SIZE 128u
#define GPT_ENTRY_SECTORS (GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR)

typedef struct TestPart {
        unsigned number;
        const char *label;
        uint64_t start, sectors; /* in sectors */
} TestPart;

/* Flatcar's numbering and names (docs/flatcar-ignition.md §1.7), small. */
static const TestPart flatcar[] = {
        { 1, "EFI-SYSTEM", 2048, 4096 }, { 2, "BIOS-BOOT", 6144, 2048 }, { 3, "USR-A", 8192, 4096 },
        { 4, "USR-B", 12288, 4096 },     { 6, "OEM", 16384, 8192 },      { 7, "OEM-CONFIG", 24576, 2048 },
        { 9, "ROOT", 26624, 8192 },
};
#define FLATCAR_SECTORS (26624u + 8192u + 2048u)

static uint32_t crc32(const uint8_t *p, size_t n) {
        uint32_t c = 0xffffffffu;

        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
        return ~c;
}

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}
static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void gpt_header(uint8_t *h, uint64_t my, uint64_t alt, uint64_t last_usable, uint64_t entries_lba,
                       uint32_t entries_crc) {
        memset(h, 0, SECTOR);
        memcpy(h, "EFI PART", 8);
        put_le32(h + 8, 0x00010000);
        put_le32(h + 12, 92);
        put_le64(h + 24, my);
        put_le64(h + 32, alt);
        put_le64(h + 40, 34);
        put_le64(h + 48, last_usable);
        memset(h + 56, 0x5a, 16); /* disk GUID */
        put_le64(h + 72, entries_lba);
        put_le32(h + 80, GPT_ENTRIES);
        put_le32(h + 84, GPT_ENTRY_SIZE);
        put_le32(h + 88, entries_crc);
        put_le32(h + 16, crc32(h, 92));
}

/* Writes a GPT disk image of `sectors` sectors to `fd` with `parts`, each
 * in the entry slot of its number. */
static void write_gpt(int fd, uint64_t sectors, const TestPart *parts, size_t n) {
        uint8_t mbr[SECTOR] = {}, hdr[SECTOR];
        _cleanup_free_ uint8_t *entries = calloc(GPT_ENTRIES, GPT_ENTRY_SIZE);
        uint64_t last = sectors - 1;
        uint32_t crc;

        assert_non_null(entries);
        assert_int_equal(ftruncate(fd, (off_t) (sectors * SECTOR)), 0);
        /* protective MBR: one 0xEE partition over the whole disk */
        mbr[446 + 4] = 0xee;
        put_le32(mbr + 446 + 8, 1);
        put_le32(mbr + 446 + 12, (uint32_t) (sectors - 1));
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert_int_equal(pwrite(fd, mbr, SECTOR, 0), SECTOR);

        for (size_t i = 0; i < n; i++) {
                uint8_t *e = entries + (parts[i].number - 1) * GPT_ENTRY_SIZE;
                memset(e, 0x11, 16);                              /* type GUID: anything non-zero */
                memset(e + 16, (int) (0x20 + parts[i].number), 16); /* unique GUID */
                put_le64(e + 32, parts[i].start);
                put_le64(e + 40, parts[i].start + parts[i].sectors - 1);
                for (size_t k = 0; parts[i].label[k] && k < 36; k++)
                        put_le16(e + 56 + 2 * k, (uint8_t) parts[i].label[k]);
        }
        crc = crc32(entries, GPT_ENTRIES * GPT_ENTRY_SIZE);
        assert_int_equal(pwrite(fd, entries, GPT_ENTRIES * GPT_ENTRY_SIZE, 2 * SECTOR),
                         GPT_ENTRIES * GPT_ENTRY_SIZE);
        gpt_header(hdr, 1, last, last - 1 - GPT_ENTRY_SECTORS, 2, crc);
        assert_int_equal(pwrite(fd, hdr, SECTOR, SECTOR), SECTOR);
        assert_int_equal(pwrite(fd, entries, GPT_ENTRIES * GPT_ENTRY_SIZE,
                                (off_t) ((last - GPT_ENTRY_SECTORS) * SECTOR)),
                         GPT_ENTRIES * GPT_ENTRY_SIZE);
        gpt_header(hdr, last, 1, last - 1 - GPT_ENTRY_SECTORS, last - GPT_ENTRY_SECTORS, crc);
        assert_int_equal(pwrite(fd, hdr, SECTOR, (off_t) (last * SECTOR)), SECTOR);
}

/* A squashfs 4.0 superblock as mksquashfs writes it, enough for libblkid. */
static void write_squashfs_sb(int fd, off_t at) {
        uint8_t sb[96] = { 'h', 's', 'q', 's' };

        put_le32(sb + 4, 1);        /* inodes */
        put_le32(sb + 12, 131072);  /* block size */
        put_le16(sb + 20, 1);       /* compression: gzip */
        put_le16(sb + 22, 17);      /* block log */
        put_le16(sb + 26, 1);       /* ids */
        put_le16(sb + 28, 4);       /* major */
        put_le64(sb + 40, 96);      /* bytes used */
        assert_int_equal(pwrite(fd, sb, sizeof(sb), at), (ssize_t) sizeof(sb));
}

static int tmp_file(void) {
        char path[] = "/tmp/test-image-gpt.XXXXXX";
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        unlink(path);
        return fd;
}

static ImagePartitionTable *read_flatcar(void) {
        _cleanup_close_ int fd = tmp_file();
        ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;

        write_gpt(fd, FLATCAR_SECTORS, flatcar, ELEMENTSOF(flatcar));
        assert_int_equal(image_gpt_read(fd, &t, &err), 0);
        return t;
}

static ImagePartition *item(ImagePartitionTable *t, unsigned number) {
        for (size_t i = 0; i < t->n; i++)
                if (t->items[i].number == number)
                        return &t->items[i];
        fail_msg("no partition %u", number);
        return NULL;
}

/* ---- image_gpt_read --------------------------------------------------------- */

static void test_image_gpt_read_flatcar_layout(void **state) {
        _cleanup_free_ ImagePartitionTable *t = read_flatcar();
        (void) state;

        assert_int_equal(t->image_size, (uint64_t) FLATCAR_SECTORS * SECTOR);
        assert_int_equal(t->n, ELEMENTSOF(flatcar));
        for (size_t i = 0; i < ELEMENTSOF(flatcar); i++) {
                ImagePartition *p = item(t, flatcar[i].number);
                assert_string_equal(p->label, flatcar[i].label);
                assert_int_equal(p->offset, flatcar[i].start * SECTOR);
                assert_int_equal(p->size, flatcar[i].sectors * SECTOR);
                assert_string_equal(p->fstype, ""); /* nothing formatted */
        }
}

static void test_image_gpt_read_probes_filesystems(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;
        (void) state;

        write_gpt(fd, FLATCAR_SECTORS, flatcar, ELEMENTSOF(flatcar));
        write_squashfs_sb(fd, 16384 * SECTOR); /* inside OEM, at its start */
        assert_int_equal(image_gpt_read(fd, &t, &err), 0);
        assert_string_equal(item(t, 6)->fstype, "squashfs");
        assert_string_equal(item(t, 9)->fstype, "");
        assert_string_equal(item(t, 7)->fstype, ""); /* probed within its own range only */
}

static void test_image_gpt_read_no_table(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;
        (void) state;

        assert_int_equal(ftruncate(fd, 4 * MIB), 0);
        assert_int_equal(image_gpt_read(fd, &t, &err), -ENOMEDIUM);
        assert_null(t);
        assert_string_equal(err, "no partition table found (not a disk image, or truncated)");
}

static void test_image_gpt_read_mbr_is_not_gpt(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;
        uint8_t mbr[SECTOR] = {};
        (void) state;

        assert_int_equal(ftruncate(fd, 4 * MIB), 0);
        mbr[446 + 4] = 0x83; /* one Linux partition */
        put_le32(mbr + 446 + 8, 2048);
        put_le32(mbr + 446 + 12, 4096);
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert_int_equal(pwrite(fd, mbr, SECTOR, 0), SECTOR);
        assert_int_equal(image_gpt_read(fd, &t, &err), -ENOMEDIUM);
        assert_string_equal(err, "partition table is \"dos\", expected a GPT");
}

static void test_image_gpt_read_truncated(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;
        (void) state;

        write_gpt(fd, FLATCAR_SECTORS, flatcar, ELEMENTSOF(flatcar));
        /* cut inside ROOT: the primary header's last usable LBA is past the end */
        assert_int_equal(ftruncate(fd, (off_t) (30000u * SECTOR)), 0);
        assert_int_equal(image_gpt_read(fd, &t, &err), -ENOMEDIUM);
        assert_null(t);
}

static void test_image_gpt_read_not_regular(void **state) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ ImagePartitionTable *t = NULL;
        _cleanup_free_ char *err = NULL;
        (void) state;

        assert_true(fd >= 0);
        assert_int_equal(image_gpt_read(fd, &t, &err), -EINVAL);
        assert_string_equal(err, "not a regular file");
}

/* ---- image_gpt_find ---------------------------------------------------------- */

static ImagePartitionTable *formatted(void) {
        ImagePartitionTable *t = read_flatcar();

        snprintf(item(t, 6)->fstype, IMAGE_FSTYPE_MAX, "btrfs");
        snprintf(item(t, 9)->fstype, IMAGE_FSTYPE_MAX, "ext4");
        return t;
}

static void test_image_gpt_find_oem_and_root(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), 0);
        assert_int_equal(p->number, 6);
        assert_int_equal(p->offset, 16384u * SECTOR);
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), 0);
        assert_int_equal(p->number, 9);
        assert_int_equal(p->size, 8192u * SECTOR);
        /* older Flatcar releases had an ext4 OEM */
        snprintf(item(t, 6)->fstype, IMAGE_FSTYPE_MAX, "ext4");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), 0);
        assert_null(err);
        assert_string_equal(image_part_label(IMAGE_PART_ROOT), "ROOT");
        assert_int_equal(image_part_number(IMAGE_PART_OEM), 6);
        assert_null(image_part_label(_IMAGE_PART_MAX));
}

static void test_image_gpt_find_wrong_label(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        snprintf(item(t, 6)->label, IMAGE_LABEL_MAX, "FOO");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), -EBADMSG);
        assert_string_equal(err, "partition 6: label is \"FOO\", expected \"OEM\"");
        assert_null(p);
        /* ROOT is still fine on its own */
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), 0);
}

static void test_image_gpt_find_label_is_quoted_safely(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        snprintf(item(t, 9)->label, IMAGE_LABEL_MAX, "R\"O\\\n\x1b[31m");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        assert_string_equal(err, "partition 9: label is \"R\\x22O\\x5c\\x0a\\x1b[31m\", expected \"ROOT\"");
        /* a long label is cut */
        memset(item(t, 9)->label, 'A', 100);
        item(t, 9)->label[100] = '\0';
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        assert_non_null(strstr(err, "AAAA...\", expected"));
}

static void test_image_gpt_find_missing(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        item(t, 9)->number = 10; /* ROOT moved to another slot */
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -ENOENT);
        assert_string_equal(err, "partition 9: missing, expected \"ROOT\"");
}

static void test_image_gpt_find_duplicate_label(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        snprintf(item(t, 7)->label, IMAGE_LABEL_MAX, "OEM");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), -EBADMSG);
        assert_string_equal(err, "partition 7 is labelled \"OEM\" too: Flatcar has one OEM, partition 6");
}

static void test_image_gpt_find_past_the_end(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        t->image_size = 30000u * SECTOR;
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        assert_string_equal(err, "partition 9 (ROOT): ends at byte 17825792, past the end of the image (15360000 "
                                 "bytes): truncated?");
        /* an offset beyond the end, and a size that would overflow */
        item(t, 9)->offset = UINT64_MAX - 10;
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        item(t, 9)->offset = 512;
        item(t, 9)->size = UINT64_MAX;
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        item(t, 9)->size = 0;
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EBADMSG);
        assert_string_equal(err, "partition 9 (ROOT): empty");
}

static void test_image_gpt_find_filesystem_types(void **state) {
        _cleanup_free_ ImagePartitionTable *t = formatted();
        _cleanup_free_ char *err = NULL;
        const ImagePartition *p = NULL;
        (void) state;

        snprintf(item(t, 9)->fstype, IMAGE_FSTYPE_MAX, "btrfs");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_ROOT, &p, &err), -EMEDIUMTYPE);
        assert_string_equal(err, "partition 9 (ROOT): filesystem is btrfs, expected ext4");
        snprintf(item(t, 6)->fstype, IMAGE_FSTYPE_MAX, "vfat");
        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), -EMEDIUMTYPE);
        assert_string_equal(err, "partition 6 (OEM): filesystem is vfat, expected btrfs or ext4");
        item(t, 6)->fstype[0] = '\0';
        assert_int_equal(image_gpt_find(t, IMAGE_PART_OEM, &p, &err), -EMEDIUMTYPE);
        assert_string_equal(err, "partition 6 (OEM): no filesystem found, expected btrfs or ext4");
}

/* ---- sysext.c ------------------------------------------------------------------ */

static void test_image_sysext_check_squashfs(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ char *err = NULL;
        (void) state;

        assert_int_equal(ftruncate(fd, 4096), 0);
        write_squashfs_sb(fd, 0);
        assert_int_equal(image_sysext_check(fd, &err), 0);
        assert_null(err);
}

static void test_image_sysext_check_refusals(void **state) {
        _cleanup_close_ int fd = tmp_file(), dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *err = NULL;
        (void) state;

        assert_int_equal(image_sysext_check(fd, &err), -EINVAL);
        assert_string_equal(err, "empty");
        assert_int_equal(pwrite(fd, "#!/bin/sh\necho not a sysext\n", 28, 0), 28);
        assert_int_equal(image_sysext_check(fd, &err), -EMEDIUMTYPE);
        assert_string_equal(err, "not a sysext image: no filesystem found, expected squashfs or erofs");
        assert_int_equal(image_sysext_check(dir, &err), -EINVAL);
        assert_string_equal(err, "not a regular file");
        assert_int_equal(ftruncate(fd, (off_t) IMAGE_SYSEXT_MAX + 1), 0);
        assert_int_equal(image_sysext_check(fd, &err), -E2BIG);
}

static void test_image_sysext_sha512(void **state) {
        _cleanup_close_ int fd = tmp_file();
        char hex[129];
        (void) state;

        assert_int_equal(image_sysext_sha512(fd, hex), 0);
        assert_string_equal(hex, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                                 "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
        assert_int_equal(write(fd, "abc", 3), 3); /* the file position does not matter */
        assert_int_equal(image_sysext_sha512(fd, hex), 0);
        assert_string_equal(hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                                 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_gpt_read_flatcar_layout),
                cmocka_unit_test(test_image_gpt_read_probes_filesystems),
                cmocka_unit_test(test_image_gpt_read_no_table),
                cmocka_unit_test(test_image_gpt_read_mbr_is_not_gpt),
                cmocka_unit_test(test_image_gpt_read_truncated),
                cmocka_unit_test(test_image_gpt_read_not_regular),
                cmocka_unit_test(test_image_gpt_find_oem_and_root),
                cmocka_unit_test(test_image_gpt_find_wrong_label),
                cmocka_unit_test(test_image_gpt_find_label_is_quoted_safely),
                cmocka_unit_test(test_image_gpt_find_missing),
                cmocka_unit_test(test_image_gpt_find_duplicate_label),
                cmocka_unit_test(test_image_gpt_find_past_the_end),
                cmocka_unit_test(test_image_gpt_find_filesystem_types),
                cmocka_unit_test(test_image_sysext_check_squashfs),
                cmocka_unit_test(test_image_sysext_check_refusals),
                cmocka_unit_test(test_image_sysext_sha512),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
