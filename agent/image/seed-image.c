/* seed-image: the seed's bootable medium. A copy of a stock Flatcar disk
 * image whose OEM partition (6) carries the seed's Ignition config as
 * /config.ign (bootengine copies it to /usr/lib/ignition/user.ign on first
 * boot) and whose ROOT partition (9) carries the agent sysext where the
 * config's link expects it: IGNITION_SYSEXT_DIR/NAME and IGNITION_SYSEXT_LINK
 * (docs/flatcar-ignition.md §1.5, §1.7, §6 "images/" 2), and, when asked,
 * the PXE kernel and initrd in IGNITION_BOOT_ASSETS_DIR, which the seed's
 * boot server serves to its neighbours. The input is only read; the output
 * appears, complete and fsync'd, only on success. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "ignition/render.h"
#include "image/image.h"

/* Ignition's files are public; so are these (and root's to change). */
#define FILE_MODE 0644
#define DIR_MODE 0755

int image_seed_machine(const Spec *spec, const char *wanted, const char **ret, char **reterr) {
        const json_t *inventory = json_object_get(spec_json(spec), "inventory"), *m;
        const char *seed = NULL;
        size_t n_seeds = 0, i;

        json_array_foreach(inventory, i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));
                const char *role = json_string_value(json_object_get(m, "role"));

                if (!name || !role)
                        continue;
                if (wanted && strcmp(name, wanted) == 0) {
                        if (strcmp(role, "seed") != 0)
                                return error_detail_set(reterr, -EINVAL,
                                                        "machine \"%s\" has role \"%s\": the seed image is for a machine "
                                                        "with role \"seed\"",
                                                        name, role);
                        *ret = name;
                        return 0;
                }
                if (strcmp(role, "seed") == 0) {
                        seed = name;
                        n_seeds++;
                }
        }
        if (wanted)
                return error_detail_set(reterr, -ENOENT, "machine \"%.63s\" is not in the inventory of fleet %s", wanted,
                                        spec_fleet(spec));
        if (n_seeds == 0)
                return error_detail_set(reterr, -ENOENT, "fleet %s has no machine with role \"seed\"", spec_fleet(spec));
        if (n_seeds > 1)
                return error_detail_set(reterr, -ENOTUNIQ, "fleet %s has %zu machines with role \"seed\": name one",
                                        spec_fleet(spec), n_seeds);
        *ret = seed;
        return 0;
}

static int write_oem(int image_fd, const ImagePartition *p, const char *text, char **reterr) {
        _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
        _cleanup_free_ char *detail = NULL;
        int r;

        r = image_mount_open(image_fd, p->offset, p->size, p->fstype, &m, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): %s", p->number, p->label, detail);
        r = image_fs_write_file(m.root_fd, IMAGE_OEM_CONFIG_NAME, text, strlen(text), -1, FILE_MODE);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot write /%s: %s", p->number, p->label,
                                        IMAGE_OEM_CONFIG_NAME, strerror(-r));
        r = image_mount_close(&m);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot flush: %s", p->number, p->label,
                                        strerror(-r));
        return 0;
}

static const char *mkdirs_error(int r) {
        return r == -ELOOP ? "a symbolic link is in the way" : strerror(-r);
}

/* The boot assets on ROOT: the kernel and initrd copied, the sysext linked
 * to IGNITION_SYSEXT_LINK, the sysext the node runs (the layout
 * ignition/boot-assets.json gives a node booted from the network). */
static int write_boot_assets(int root_fd, const ImagePartition *p, const int asset_fds[2], const char *sysext_name,
                             char **reterr) {
        static const char *const names[2] = { BOOT_ASSET_KERNEL, BOOT_ASSET_INITRD };
        _cleanup_close_ int dir = image_fs_mkdirs(root_fd, &IGNITION_BOOT_ASSETS_DIR[1], DIR_MODE); /* under ROOT */
        int r;

        if (dir < 0)
                return error_detail_set(reterr, dir, "partition %u (%s): cannot create %s: %s", p->number, p->label,
                                        IGNITION_BOOT_ASSETS_DIR, mkdirs_error(dir));
        for (size_t i = 0; i < 2; i++) {
                r = image_fs_write_file(dir, names[i], NULL, 0, asset_fds[i], FILE_MODE);
                if (r < 0)
                        return error_detail_set(reterr, r, "partition %u (%s): cannot write %s/%s: %s", p->number,
                                                p->label, IGNITION_BOOT_ASSETS_DIR, names[i], strerror(-r));
        }
        r = image_fs_symlink(dir, sysext_name, IGNITION_SYSEXT_LINK);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot link %s/%s: %s", p->number, p->label,
                                        IGNITION_BOOT_ASSETS_DIR, sysext_name, strerror(-r));
        return 0;
}

static int write_root(int image_fd, const ImagePartition *p, int sysext_fd, const char *sysext_name,
                      const int asset_fds[2], char **reterr) {
        /* the link's directory and name, from render.h's one definition */
        static const char link_path[] = IGNITION_SYSEXT_LINK, sysext_dir[] = IGNITION_SYSEXT_DIR;
        const char *link_name = strrchr(link_path, '/') + 1;
        _cleanup_free_ char *link_dir = strndup(link_path + 1, (size_t) (link_name - link_path - 2));
        _cleanup_free_ char *target = NULL, *detail = NULL;
        _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
        _cleanup_close_ int dir = -1, ext = -1;
        int r;

        if (!link_dir || asprintf(&target, IGNITION_SYSEXT_DIR "/%s", sysext_name) < 0)
                return -ENOMEM;
        r = image_mount_open(image_fd, p->offset, p->size, p->fstype, &m, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): %s", p->number, p->label, detail);

        dir = image_fs_mkdirs(m.root_fd, sysext_dir + 1, DIR_MODE);
        if (dir < 0)
                return error_detail_set(reterr, dir, "partition %u (%s): cannot create %s: %s", p->number, p->label,
                                        IGNITION_SYSEXT_DIR, mkdirs_error(dir));
        r = image_fs_write_file(dir, sysext_name, NULL, 0, sysext_fd, FILE_MODE);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot write %s: %s", p->number, p->label, target,
                                        strerror(-r));
        ext = image_fs_mkdirs(m.root_fd, link_dir, DIR_MODE);
        if (ext < 0)
                return error_detail_set(reterr, ext, "partition %u (%s): cannot create /%s: %s", p->number, p->label,
                                        link_dir, mkdirs_error(ext));
        r = image_fs_symlink(ext, link_name, target);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot link %s: %s", p->number, p->label,
                                        IGNITION_SYSEXT_LINK, strerror(-r));
        if (asset_fds[0] >= 0) {
                r = write_boot_assets(m.root_fd, p, asset_fds, sysext_name, reterr);
                if (r < 0)
                        return r;
        }
        r = image_mount_close(&m);
        if (r < 0)
                return error_detail_set(reterr, r, "partition %u (%s): cannot flush: %s", p->number, p->label,
                                        strerror(-r));
        return 0;
}

int image_seed_build(const ImageSeedOptions *o, char **reterr) {
        _cleanup_free_ ImagePartitionTable *table = NULL;
        _cleanup_free_ char *json = NULL, *text = NULL, *detail = NULL;
        _cleanup_image_output_ ImageOutput out = IMAGE_OUTPUT_NULL;
        _cleanup_close_ int in_fd = -1, sysext_fd = -1, kernel_fd = -1, initrd_fd = -1;
        const ImagePartition *oem, *root;
        int r;

        if (geteuid() != 0)
                return error_detail_set(reterr, -EPERM,
                                        "must run as root: the image's filesystems are written through loop devices "
                                        "and mounts (in a private mount namespace)");

        /* public channel: checked here too, whoever rendered the config */
        r = ignition_scan_secrets(o->config, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "the Ignition config: %s", detail ? detail : strerror(-r));
        json = json_dumps(o->config, JSON_COMPACT);
        if (!json || asprintf(&text, "%s\n", json) < 0)
                return -ENOMEM;
        if (!ignition_sysext_name_is_valid(o->sysext_name))
                return error_detail_set(reterr, -EINVAL,
                                        "sysext name \"%.64s\" does not match its extension-release: expected "
                                        IGNITION_SYSEXT_RELEASE_NAME "-VERSION-x86-64.raw (or -arm64.raw)",
                                        o->sysext_name);

        /* the input: read-only, and checked before anything is copied */
        in_fd = open(o->flatcar, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (in_fd < 0)
                return error_detail_set(reterr, -errno, "%s: cannot open: %s", o->flatcar, strerror(errno));
        r = image_gpt_read(in_fd, &table, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", o->flatcar, detail ? detail : strerror(-r));
        r = image_gpt_find(table, IMAGE_PART_OEM, &oem, &detail);
        if (r == 0)
                r = image_gpt_find(table, IMAGE_PART_ROOT, &root, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", o->flatcar, detail ? detail : strerror(-r));

        sysext_fd = open(o->sysext, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (sysext_fd < 0)
                return error_detail_set(reterr, -errno, "%s: cannot open: %s", o->sysext, strerror(errno));
        r = image_sysext_check(sysext_fd, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", o->sysext, detail ? detail : strerror(-r));

        if (o->boot_assets) {
                static const char *const names[2] = { BOOT_ASSET_KERNEL, BOOT_ASSET_INITRD };
                int *fds[2] = { &kernel_fd, &initrd_fd };
                for (size_t i = 0; i < 2; i++) {
                        _cleanup_free_ char *path = NULL;
                        struct stat st;
                        if (asprintf(&path, "%s/%s", o->boot_assets, names[i]) < 0)
                                return -ENOMEM;
                        *fds[i] = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
                        if (*fds[i] < 0)
                                return error_detail_set(reterr, -errno, "%s: cannot open: %s", path, strerror(errno));
                        if (fstat(*fds[i], &st) < 0 || !S_ISREG(st.st_mode))
                                return error_detail_set(reterr, -EINVAL, "%s: not a regular file", path);
                }
        }

        r = image_output_open(o->output, FILE_MODE, in_fd, &out, &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", o->output, detail ? detail : strerror(-r));
        r = image_copy_file(in_fd, out.fd);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: cannot copy %s: %s", o->output, o->flatcar, strerror(-r));

        r = image_mount_namespace_enter();
        if (r < 0)
                return error_detail_set(reterr, r, "cannot enter a private mount namespace: %s", strerror(-r));
        r = write_oem(out.fd, oem, text, &detail);
        if (r == 0)
                r = write_root(out.fd, root, sysext_fd, o->sysext_name, (const int[2]) { kernel_fd, initrd_fd },
                               &detail);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: %s", o->output, detail ? detail : strerror(-r));

        r = image_output_commit(&out);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: cannot write: %s", o->output, strerror(-r));
        return 0;
}
