/* boot-ignition: renders a leased machine's Ignition config for the HTTP
 * boot server (see boot-ignition.h). */
#include "boot/boot-ignition.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot-internal.h"
#include "core/cleanup.h"
#include "core/fileio.h"
#include "core/manager.h"
#include "core/openssl-cleanup.h"
#include "core/spec.h"
#include "ignition/render.h"

/* A fleet CA certificate is a few KiB; anything bigger is not one. */
#define BOOT_FLEET_CA_MAX (64u * 1024u)

const char *boot_sysext_name(void) {
        return "strata-agent-" STRATA_VERSION "-x86-64.raw";
}

/* SHA-512 of assets_dir/name into *h, recomputed only when the file changed. */
static int asset_hash(const BootServer *b, const char *name, BootAssetHash *h, char **reterr) {
        _cleanup_close_ int fd = -1;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        unsigned char md[EVP_MAX_MD_SIZE], buf[64 * 1024];
        unsigned mdlen = 0;
        struct stat st;
        int r;

        r = boot_open_file(b->assets_dir, name, &fd);
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r < 0) {
                if (asprintf(reterr, "no %s at %s/%s: %s", strcmp(name, boot_sysext_name()) == 0 ? "agent sysext" : "boot asset",
                             b->assets_dir, name, strerror(-r)) < 0)
                        *reterr = NULL;
                return r;
        }
        if (h->hashed && st.st_dev == h->st.st_dev && st.st_ino == h->st.st_ino && st.st_size == h->st.st_size &&
            st.st_mtim.tv_sec == h->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == h->st.st_mtim.tv_nsec)
                return 0;
        h->hashed = false;
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t) n) != 1)
                        return -EIO;
        }
        if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen * 2 + 1 > sizeof(h->sha512))
                return -EIO;
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(h->sha512 + 2 * i, 3, "%02x", md[i]);
        h->st = st;
        h->hashed = true;
        return 0;
}

static int fleet_ca(const BootServer *b, char **ret, char **reterr) {
        const char *path = json_string_value(
                json_object_get(json_object_get(spec_json(b->m->spec), "attestation"), "fleet_ca"));
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        *ret = NULL;
        if (!path)
                return 0;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        r = fd < 0 ? -errno : read_fd_capped(fd, BOOT_FLEET_CA_MAX, &data, &size);
        if (r < 0) {
                if (asprintf(reterr, "fleet CA %s: %s", path, strerror(-r)) < 0)
                        *reterr = NULL;
                return r;
        }
        *ret = memdup_nul(data ? (const void *) data : "", size);
        return *ret ? 0 : -ENOMEM;
}

int boot_ignition_render(BootSegment *seg, const BootLease *lease, const uint8_t mac[6], char **ret,
                         char **reterr) {
        BootServer *b = seg->server;
        _cleanup_free_ char *base = NULL, *url = NULL, *ca = NULL;
        json_auto_t *config = NULL;
        char mh[18];
        int r;

        *reterr = NULL;
        r = asset_hash(b, boot_sysext_name(), &b->sysext_hash, reterr);
        if (r >= 0)
                r = asset_hash(b, BOOT_ASSET_KERNEL, &b->kernel_hash, reterr);
        if (r >= 0)
                r = asset_hash(b, BOOT_ASSET_INITRD, &b->initrd_hash, reterr);
        if (r < 0)
                return r;
        r = fleet_ca(b, &ca, reterr);
        if (r < 0)
                return r;
        /* the iPXE script's BASE_URL (boot-script.c): lease-gated, and the
         * lease is still held while the machine's Ignition runs */
        if (asprintf(&base, "http://%s:%u/boot/%s", seg->address_text, seg->http_port,
                     boot_mac_format(mac, '-', mh)) < 0 ||
            asprintf(&url, "%s/%s", base, boot_sysext_name()) < 0)
                return -ENOMEM;
        /* The sponsor the machine attests to: the seed's. On the seed this
         * segment's address reaches it when it listens on every address;
         * a member passes on the one it joined through. */
        _cleanup_free_ char *sponsor = NULL;
        const char *joined = getenv("STRATA_SPONSOR");
        if (b->m->coordinator || !joined)
                (void) ignition_sponsor_url(spec_json(b->m->spec), b->m->coordinator ? seg->address_text : NULL,
                                            &sponsor);
        IgnitionRenderOptions o = {
                .machine = lease->machine,
                .role = -1,
                .sysext_name = boot_sysext_name(),
                .sysext_source = url,
                .sysext_sha512 = b->sysext_hash.sha512,
                /* it runs from RAM: it copies what it booted from, to serve it in turn */
                .boot_base_url = base,
                .boot_kernel_sha512 = b->kernel_hash.sha512,
                .boot_initrd_sha512 = b->initrd_hash.sha512,
                .fleet_ca_pem = ca,
                .sponsor_url = sponsor ? sponsor : (b->m->coordinator ? NULL : joined),
                /* a retried attempt, or a member booting again (from RAM, so
                 * Ignition runs again): Ignition refuses to create a clevis
                 * volume over the one it made, so open it instead */
                .volume_exists = lease->volume_may_exist,
        };
        r = ignition_render(b->m->spec, &o, &config, reterr);
        if (r < 0)
                return r;
        *ret = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        return *ret ? 0 : -ENOMEM;
}
