/* image: Strata's boot media built from stock Flatcar artefacts. The seed
 * image is a copy of a Flatcar disk image (flatcar_production_image.bin)
 * with the seed's Ignition config on the OEM partition and the agent sysext
 * on ROOT, ready for dd to a USB stick (docs/flatcar-ignition.md §1.7, §6);
 * the PXE OEM drop-in is a gzip'd newc cpio carrying one node's config.ign
 * for Flatcar's PXE initramfs (§1.9, §5.5). Both carry only public data:
 * every config passes ignition_scan_secrets() again before it is written.
 *
 * Files: gpt.c (the partition table, through libblkid, and the Flatcar
 * checks), loop-mount.c (private mount namespace, loop devices, detached
 * mounts), fs-write.c (files inside a mounted filesystem), copy.c (sparse
 * copies), output.c (atomic output files), sysext.c (the sysext file),
 * seed-image.c, oem-cpio.c. All parsing of the outside image is libblkid's:
 * this folder only compares what libblkid reports. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/spec.h"

/* ---- gpt.c: the partition table of a disk image ---------------------------- */

/* Most partitions read from one table (GPT's usual entry array holds 128). */
#define IMAGE_PARTITIONS_MAX 128u
/* A GPT name is 36 UTF-16 units: at most 108 bytes of UTF-8, plus NUL. */
#define IMAGE_LABEL_MAX 112u
/* A blkid TYPE ("btrfs", "ext4", "vfat", "squashfs"), plus NUL. */
#define IMAGE_FSTYPE_MAX 32u

typedef struct ImagePartition {
        unsigned number;              /* the GPT entry's number, 1-based (p6, p9) */
        char label[IMAGE_LABEL_MAX];  /* the GPT partition name, as libblkid decodes it */
        uint64_t offset, size;        /* bytes from the start of the image */
        char fstype[IMAGE_FSTYPE_MAX]; /* libblkid's TYPE inside the range; "" if none */
} ImagePartition;

typedef struct ImagePartitionTable {
        uint64_t image_size; /* bytes */
        size_t n;
        ImagePartition items[IMAGE_PARTITIONS_MAX];
} ImagePartitionTable;

/* The two partitions Strata writes, as Flatcar numbers and labels them. */
typedef enum ImagePart {
        IMAGE_PART_OEM,  /* 6 "OEM": config.ign (btrfs; ext4 before Flatcar moved OEM to btrfs) */
        IMAGE_PART_ROOT, /* 9 "ROOT": the stateful ext4 root, /etc and /opt */
        _IMAGE_PART_MAX,
        _IMAGE_PART_INVALID = -EINVAL,
} ImagePart;

/* Reads the GPT of the disk image open at `fd` (a regular file) with
 * libblkid, and probes each partition's range for a filesystem type.
 * Returns 0 and *ret (caller frees); -ENOMEDIUM if there is no GPT, -EINVAL
 * if `fd` is no regular file, -E2BIG beyond IMAGE_PARTITIONS_MAX (each with
 * the reason in *reterr), -errno on I/O. Reads only; never logs. */
int image_gpt_read(int fd, ImagePartitionTable **ret, char **reterr);

/* Finds `which` in `t` by number AND by label, and checks it: the entry
 * numbered 6 (9) is labelled OEM (ROOT), no other entry carries that label,
 * its range lies inside the image, and it holds an expected filesystem.
 * Returns 0 and *ret (points into t); or -ENOENT (missing), -EBADMSG
 * (wrong label, a duplicate label, a range past the end: truncated?),
 * -EMEDIUMTYPE (unexpected or no filesystem), with "partition N: ..." in
 * *reterr. Pure. */
int image_gpt_find(const ImagePartitionTable *t, ImagePart which, const ImagePartition **ret, char **reterr);

/* Flatcar's number and label for `which`; NULL / 0 for anything else. */
const char *image_part_label(ImagePart which);
unsigned image_part_number(ImagePart which);

/* ---- loop-mount.c: a partition of an image file, mounted privately ---------- */

/* Moves this process into a mount namespace of its own, with every mount
 * private, so nothing mounted afterwards propagates to (or is seen by) the
 * host. Needs CAP_SYS_ADMIN; -EPERM otherwise. Call once, before the first
 * image_mount_open(); the process keeps the namespace until it exits. */
int image_mount_namespace_enter(void);

typedef struct ImageMount {
        int loop_fd;  /* the loop device; LO_FLAGS_AUTOCLEAR: it detaches once closed and unmounted */
        int mount_fd; /* the detached mount (fsmount's O_PATH fd): closing it unmounts */
        int root_fd;  /* the filesystem's root directory, opened for reading, writing into and fsync */
        char loop_path[32];
} ImageMount;

#define IMAGE_MOUNT_NULL ((ImageMount){ .loop_fd = -1, .mount_fd = -1, .root_fd = -1 })

/* Attaches a loop device to bytes [offset, offset+size) of `backing_fd`
 * (opened read-write) and mounts the `fstype` filesystem on it as a
 * detached mount (no mount point: reached only through ret->root_fd,
 * nosuid, nodev, noexec). On a crash the kernel releases both: the mount
 * dies with the process's fd table and namespace, the loop device with the
 * last close. Returns 0 or -errno with what failed (and the kernel's own
 * message, if any) in *reterr. */
int image_mount_open(int backing_fd, uint64_t offset, uint64_t size, const char *fstype, ImageMount *ret,
                     char **reterr);

/* Flushes the filesystem (syncfs, reporting write-back errors), unmounts
 * it and releases the loop device. Returns the first error; idempotent. */
int image_mount_close(ImageMount *m);

static inline void image_mount_closep(ImageMount *m) {
        image_mount_close(m);
}
#define _cleanup_image_mount_ __attribute__((cleanup(image_mount_closep)))

/* ---- fs-write.c: files inside a mounted filesystem ------------------------- */

/* Opens the directory `path` (relative, '/'-separated, no "." or ".."
 * components) beneath `root_fd`, creating missing components with `mode`.
 * A component that is a symbolic link is refused (-ELOOP): an absolute link
 * inside the image would otherwise lead out of it, onto the host.
 * Returns the directory fd (O_CLOEXEC) or -errno. */
int image_fs_mkdirs(int root_fd, const char *path, mode_t mode);

/* Writes `name` in `dir_fd` atomically: a temporary file in the same
 * directory, filled with `size` bytes from `data` (or, if data is NULL,
 * copied from `src_fd`), chmod `mode`, owner root, fsync, renamed over
 * `name`, then the directory is fsync'd. The temporary is removed on any
 * failure. Returns 0 or -errno. */
int image_fs_write_file(int dir_fd, const char *name, const void *data, size_t size, int src_fd, mode_t mode);

/* Makes `name` in `dir_fd` a symbolic link to `target`, atomically
 * (symlink to a temporary name, rename over `name`, fsync the directory),
 * replacing whatever `name` was, without following it. 0 or -errno. */
int image_fs_symlink(int dir_fd, const char *name, const char *target);

/* ---- copy.c ------------------------------------------------------------------ */

/* Copies all of `in_fd` into `out_fd` (both regular files, out_fd empty):
 * a reflink where the filesystem shares extents (btrfs, XFS), else the
 * data ranges (SEEK_DATA/SEEK_HOLE) with blocks of zeros left as holes, so
 * a multi-GiB Flatcar image, mostly zeros, takes little space. out_fd ends
 * at in_fd's size. Returns 0 or -errno. */
int image_copy_file(int in_fd, int out_fd);

/* ---- output.c: a file replaced only on success -------------------------------- */

typedef struct ImageOutput {
        int dir_fd;     /* the output's directory */
        int fd;         /* the new contents, written here */
        char *name;     /* the output's name in dir_fd */
        char *tmp_name; /* named temporary; NULL while it is an O_TMPFILE */
        bool done;
} ImageOutput;

#define IMAGE_OUTPUT_NULL ((ImageOutput){ .dir_fd = -1, .fd = -1 })

/* Opens a new, empty, unnamed file (O_TMPFILE; a named temporary where the
 * filesystem has none) in the directory of `path`, to become `path` on
 * image_output_commit(). A crash leaves no O_TMPFILE behind. `path` must
 * not exist or be a regular file: anything else (a directory, a block
 * device such as a USB stick) is -EEXIST with the reason in *reterr,
 * as is `path` being the same file as `avoid_fd` (the input). */
int image_output_open(const char *path, mode_t mode, int avoid_fd, ImageOutput *ret, char **reterr);

/* fsync the file, give it its final name atomically (link the O_TMPFILE
 * under a temporary name, rename that over `path`), fsync the directory.
 * Returns 0 or -errno; on failure the output is left untouched. */
int image_output_commit(ImageOutput *o);

/* Drops the new file (unlinks a named temporary) unless committed, closes
 * everything; idempotent. */
void image_output_done(ImageOutput *o);

static inline void image_output_donep(ImageOutput *o) {
        image_output_done(o);
}
#define _cleanup_image_output_ __attribute__((cleanup(image_output_donep)))

/* ---- sysext.c: the agent sysext file ------------------------------------------- */

/* Largest sysext accepted (the agent is a few MiB; this is a sanity cap). */
#define IMAGE_SYSEXT_MAX (1024ull * 1024ull * 1024ull)

/* Checks the sysext open at `fd`: a regular, non-empty file of at most
 * IMAGE_SYSEXT_MAX bytes holding a squashfs or erofs image (what systemd-
 * sysext merges and images/ builds), by libblkid. Returns 0, or -EINVAL /
 * -E2BIG / -EMEDIUMTYPE with the reason in *reterr, or -errno. */
int image_sysext_check(int fd, char **reterr);

/* The SHA-512 of everything in `fd` from offset 0, as 128 lower-case hex
 * digits and a NUL. Returns 0 or -errno. */
int image_sysext_sha512(int fd, char ret[129]);

/* ---- seed-image.c ------------------------------------------------------------------ */

/* Where the seed image puts Ignition's config: the root of OEM (p6), where
 * bootengine's ignition-setup finds it (docs/flatcar-ignition.md §1.9). */
#define IMAGE_OEM_CONFIG_NAME "config.ign"

/* The inventory name of the machine the seed image is for: `wanted` if it
 * names a machine with role "seed", else the spec's only seed. Returns 0
 * and *ret (owned by the spec); -ENOENT (no such machine, no seed),
 * -EINVAL (`wanted` is not a seed), -ENOTUNIQ (several seeds and no
 * `wanted`), with the reason in *reterr. Pure. */
int image_seed_machine(const Spec *spec, const char *wanted, const char **ret, char **reterr);

typedef struct ImageSeedOptions {
        const char *flatcar;      /* the Flatcar disk image; opened read-only, never changed */
        const char *output;       /* replaced atomically, only on success */
        const json_t *config;     /* the seed's rendered Ignition config */
        const char *sysext;       /* the agent sysext file */
        const char *sysext_name;  /* its name on the node: strata-agent-VERSION-ARCH.raw */
        const char *boot_assets;  /* a directory with the PXE kernel and initrd (BOOT_ASSET_KERNEL,
                                   * BOOT_ASSET_INITRD), copied to IGNITION_BOOT_ASSETS_DIR on ROOT
                                   * with a link to the sysext beside them, which the seed's boot
                                   * server serves; NULL: none */
} ImageSeedOptions;

/* Builds the seed image: checks the Flatcar image's partitions (6 OEM, 9
 * ROOT) and the sysext, copies the image next to o->output, and in a
 * private mount namespace writes o->config as /config.ign on OEM and the
 * sysext as IGNITION_SYSEXT_DIR/NAME plus the link IGNITION_SYSEXT_LINK on
 * ROOT, each atomically; then fsyncs and renames the copy over o->output.
 * No other partition is written. Needs root (-EPERM otherwise). Enters a
 * mount namespace of its own (image_mount_namespace_enter()).
 * Returns 0, or -errno with what and where in *reterr ("partition 6:
 * label is \"FOO\", expected \"OEM\""); o->output is then untouched. */
int image_seed_build(const ImageSeedOptions *o, char **reterr);

/* ---- oem-cpio.c ----------------------------------------------------------------- */

/* Where Flatcar's PXE initramfs looks for the config (§1.9). */
#define IMAGE_PXE_OEM_DIR "usr/share/oem"
/* Largest config accepted into the cpio (Ignition configs are KiBs). */
#define IMAGE_OEM_CONFIG_MAX (4u * 1024u * 1024u)

/* Writes a gzip'd newc cpio with the directories usr, usr/share,
 * usr/share/oem (0755) and usr/share/oem/config.ign (0644, `config` as
 * compact JSON and a newline), all owned by root, to `fd`. Reproducible:
 * every mtime is `mtime`, inode numbers are fixed, the gzip header has no
 * time or name. Returns 0, or -EPERM (a secret in the config: its JSON path
 * in *reterr), -E2BIG, -EIO (libarchive's message in *reterr), -ENOMEM. */
int image_oem_cpio_write(int fd, const json_t *config, int64_t mtime, char **reterr);

/* image_oem_cpio_write() into `path`, atomically (image_output_open()). */
int image_oem_cpio_build(const char *path, const json_t *config, int64_t mtime, char **reterr);
