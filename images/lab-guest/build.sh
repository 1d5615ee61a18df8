#!/bin/sh
# Builds the lab guest: Debian's kernel and a busybox initramfs that stands
# in for Flatcar in Strata's virtual lab (images/README.md, "Lab guest";
# docs/lab-guest.md has the recipe this follows). Called by images/lab-guest.mk.
#
# usage: build.sh --out DIR --cache DIR --notify BIN --ignition BIN (--sysext RAW | --stratad DIR)
#
#   --out DIR      writes DIR/vmlinuz, DIR/initrd.img (gzip newc cpio),
#                  DIR/kernel.version, DIR/contents.txt (what went in)
#   --cache DIR    keeps the downloaded kernel .deb (build/cache/lab-guest)
#   --notify BIN   notify-listen, built static (the notify socket stand-in)
#   --ignition BIN ignition-lite, built static (Ignition's stand-in)
#   --sysext RAW   the agent sysext: its usr/ is merged into the guest's /,
#                  as systemd-sysext merges it on Flatcar
#   --stratad DIR  fallback without a sysext: DIR/stratad and DIR/strata
#                  with their ldd closure at the host's library paths
#
# The kernel package is the one build/cache/netboot/vmlinuz came from when
# the network-boot tests fetched one (the same kernel in both), otherwise
# linux-image-amd64's current dependency; it is downloaded once (apt-get
# download) and kept in the cache. Delete the cache to move to a newer one.
#
# The initramfs is generic: the spec (/etc/strata/spec.json, as Ignition
# writes it on Flatcar) comes in a second, per-machine cpio appended to it
# (images/lab-guest/machine-initrd.sh).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out= cache= notify= ignition= sysext= stratad_dir=
while [ $# -gt 0 ]; do
        case "$1" in
        --out) out=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --notify) notify=$2; shift 2 ;;
        --ignition) ignition=$2; shift 2 ;;
        --sysext) sysext=$2; shift 2 ;;
        --stratad) stratad_dir=$2; shift 2 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
        esac
done
if [ -z "$out" ] || [ -z "$cache" ] || [ -z "$notify" ] || [ -z "$ignition" ] || { [ -z "$sysext" ] && [ -z "$stratad_dir" ]; }; then
        echo "usage: build.sh --out DIR --cache DIR --notify BIN --ignition BIN (--sysext RAW | --stratad DIR)" >&2
        exit 2
fi

# Modules the guest loads at boot, in this order; their dependencies come
# along. tpm_tis, tpm_crb and af_packet are built into Debian's kernel
# today (listed so that a kernel where they are modules still works).
# xts, ecb and aesni_intel: dm-crypt's aes-xts-plain64, which the kernel
# requests through /sbin/modprobe when the mapping is created.
MODULES="virtio_pci virtio_blk virtio_net virtio_rng tpm_tis tpm_crb af_packet dm_mod dm_crypt ecb xts
 aesni_intel algif_skcipher ext4"

need() {
        command -v "$1" >/dev/null 2>&1 || { echo "build.sh: $1 is missing (make check installs it: $2)" >&2; exit 1; }
}
need dpkg-deb dpkg
need depmod kmod
need modprobe kmod
need cpio cpio
need gzip gzip
[ -z "$sysext" ] || need unsquashfs squashfs-tools
busybox=/bin/busybox
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
        echo "build.sh: $busybox must be busybox-static (a static binary; make check installs it)" >&2
        exit 1
fi

mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

# ---- the kernel package (downloaded once) -------------------------------
current_kernel() {
        apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
# downloads package $1 into the cache as $cache/$1.deb
download() {
        dl=$(mktemp -d "$cache/download.XXXXXX")
        echo "build.sh: downloading $1"
        (cd "$dl" && apt-get download -q "$1" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
        f=$(ls "$dl"/"$1"_*.deb 2>/dev/null | head -1)
        [ -n "$f" ] && mv "$f" "$cache/$1.deb.$$" && mv "$cache/$1.deb.$$" "$cache/$1.deb"
        rm -rf "$dl"
        [ -s "$cache/$1.deb" ]
}
if [ -s "$cache/kernel.package" ]; then
        kpkg=$(cat "$cache/kernel.package")
elif [ -s "$cache/../netboot/vmlinuz.package" ]; then
        kpkg=$(cat "$cache/../netboot/vmlinuz.package")
else
        kpkg=$(current_kernel)
fi
if ! [ -s "$cache/$kpkg.deb" ] && ! { [ -n "$kpkg" ] && download "$kpkg"; }; then
        # the archive keeps only the current kernel: a pinned older one may be gone
        kpkg=$(current_kernel)
        [ -n "$kpkg" ] && download "$kpkg" || {
                echo "build.sh: cannot download a kernel (linux-image-amd64's dependency: '$kpkg'; apt-get update?)" >&2
                exit 1
        }
fi
case "$kpkg" in
linux-image-[0-9]*) ;;
*) echo "build.sh: $kpkg is not a kernel package" >&2; exit 1 ;;
esac
kver=${kpkg#linux-image-}
deb=$cache/$kpkg.deb
echo "$kpkg" > "$cache/kernel.package.$$" && mv "$cache/kernel.package.$$" "$cache/kernel.package"

# ---- the tree ------------------------------------------------------------
# Everything is assembled in $work and removed at the end: the guest's tree
# has directories named *.d, which the Makefile's `-include` of $(B)'s *.d
# dependency files would pick up.
work=$out/work
R=$work/root
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# the kernel's files: vmlinuz and the modules (the .deb ships no modules.dep)
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*'
K=$work/lib/modules/$kver
[ -d "$K" ] || { echo "build.sh: $deb has no lib/modules/$kver" >&2; exit 1; }
depmod -b "$work" "$kver"

mkdir -p "$R"/bin "$R"/sbin "$R"/usr/bin "$R"/usr/sbin "$R"/etc/strata "$R"/proc "$R"/sys "$R"/dev \
        "$R"/run "$R"/tmp "$R"/mnt "$R"/sysroot "$R"/oem "$R"/var/lib/strata "$R"/opt/lab-guest/bin "$R"/opt/lab-guest/lib \
        "$R"/lib/modules/"$kver"
chmod 1777 "$R"/tmp
cp "$busybox" "$R"/bin/busybox
for a in $("$R"/bin/busybox --list); do
        [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
# request_module() runs /sbin/modprobe: without it dm-crypt cannot get xts(aes)
ln -s ../bin/busybox "$R"/sbin/modprobe

loaded= builtin=
: > "$work/ko.list"
for m in $MODULES; do
        modprobe -d "$work" -S "$kver" --show-depends "$m" > "$work/deps"
        if grep -q '^builtin' "$work/deps"; then
                builtin="$builtin $m"
        else
                loaded="$loaded $m"
                awk '$1=="insmod"{print $2}' "$work/deps" >> "$work/ko.list"
        fi
done
sort -u -o "$work/ko.list" "$work/ko.list"
while read -r ko; do
        rel=${ko#"$K"/}
        mkdir -p "$R/lib/modules/$kver/${rel%/*}"
        cp "$ko" "$R/lib/modules/$kver/$rel"
done < "$work/ko.list"
cp "$K"/modules.builtin "$K"/modules.builtin.modinfo "$K"/modules.order "$R"/lib/modules/"$kver"/
depmod -b "$R" "$kver"
mkdir -p "$R"/etc/lab-guest
echo "$loaded" | tr ' ' '\n' | sed '/^$/d' > "$R"/etc/lab-guest/modules
echo "$builtin" | tr ' ' '\n' | sed '/^$/d' > "$R"/etc/lab-guest/modules.builtin
cp "$work"/boot/vmlinuz-"$kver" "$work"/vmlinuz

# the shared libraries a binary needs (ldd) and its loader, one path a line
libs() {
        ldd "$1" | awk '/=> \//{print $3} /^\t\/[^ ]*ld-linux/{print $1}'
}

# ---- stratad: the sysext, merged as systemd-sysext would ----------------
if [ -n "$sysext" ]; then
        unsquashfs -q -n -no-xattrs -d "$work/sysext" "$sysext" >/dev/null
        [ -x "$work/sysext/usr/bin/stratad" ] || { echo "build.sh: $sysext has no usr/bin/stratad" >&2; exit 1; }
        # a sysext carries only /usr (and /opt); its files overlay the host's
        cp -a "$work/sysext/usr/." "$R/usr/"
        origin="sysext $(basename "$sysext")"
else
        # fallback: the build's binaries with their libraries where ldd found them
        for b in stratad strata; do
                install -m 0755 "$stratad_dir/$b" "$R/usr/bin/$b"
                libs "$stratad_dir/$b"
        done | sort -u | while read -r l; do
                mkdir -p "$R$(dirname "$l")"
                cp -L "$l" "$R$l"
        done
        # tctildr dlopen()s the TCTI named by --tcti: ldd cannot see it
        t=$(ldconfig -p | awk '/libtss2-tcti-device.so.0 .*x86-64/{print $NF; exit}')
        mkdir -p "$R$(dirname "$t")" && cp -L "$t" "$R$t"
        origin="fallback $stratad_dir/stratad + ldd closure"
fi
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
        # every library stratad needs is in the guest: run it there
        v=$(chroot "$R" /usr/bin/stratad --version) || { echo "build.sh: stratad does not run in the guest's tree" >&2; exit 1; }
else
        v="(not run: needs root for chroot)"
fi

# ---- lab-only extras (not part of what a Flatcar node has) --------------
# cryptsetup, for `cryptsetup status` on the console. It runs on the
# sysext's loader and libraries; the few it needs beyond them (libpopt)
# live in /opt/lab-guest/lib, on its own library path only, so they can
# never stand in for a library the sysext lacks.
lab=$R/opt/lab-guest
cp /usr/sbin/cryptsetup "$lab"/lib/cryptsetup.bin
loader=/usr/lib/strata/ld-linux-x86-64.so.2
[ -e "$R$loader" ] || loader=/opt/lab-guest/lib/ld-linux-x86-64.so.2
libs "$lab"/lib/cryptsetup.bin | while read -r l; do
        b=$(basename "$l")
        [ -e "$R/usr/lib/strata/$b" ] || cp -L "$l" "$lab/lib/$b"
done
printf '#!/bin/sh\nexec %s --library-path /opt/lab-guest/lib:/usr/lib/strata /opt/lab-guest/lib/cryptsetup.bin "$@"\n' \
        "$loader" > "$lab"/bin/cryptsetup
chmod 0755 "$lab"/bin/cryptsetup
install -m 0755 "$notify" "$R"/opt/lab-guest/bin/notify-listen
install -m 0755 "$ignition" "$R"/opt/lab-guest/bin/ignition-lite
install -m 0755 "$here"/udhcpc.script "$R"/etc/lab-guest/udhcpc.script
install -m 0755 "$here"/init "$R"/init
cat > "$R"/etc/os-release <<EOF
NAME="Strata lab guest"
ID=strata-lab-guest
PRETTY_NAME="Strata lab guest (stands in for Flatcar in the virtual lab only)"
EOF
echo "root:x:0:0:root:/root:/bin/sh" > "$R"/etc/passwd
echo "root:x:0:" > "$R"/etc/group
printf '%s\n' "kernel $kpkg" "stratad $v" "from $origin" > "$R"/etc/lab-guest/build-info

# ---- the archive ---------------------------------------------------------
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible --owner=0:0) \
        | gzip -n -6 > "$work/initrd.img"
{
        echo "kernel: $kpkg ($(stat -c %s "$work/vmlinuz") bytes)"
        echo "stratad: $v, from $origin"
        echo "modules loaded at boot:$(echo $loaded | sed 's/^/ /')"
        echo "built in:$(echo $builtin | sed 's/^/ /')"
        echo "initrd: $(stat -c %s "$work/initrd.img") bytes gzip, $(du -sb "$R" | cut -f1) bytes unpacked"
        (cd "$R" && du -sb $(ls -d bin lib/modules lib/x86_64-linux-gnu lib64 usr/bin usr/lib/strata opt/lab-guest 2>/dev/null)) \
                | sed 's/^/  /'
} > "$out/contents.txt"
echo "$kver" > "$out/kernel.version"
mv "$work/vmlinuz" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
touch "$out/vmlinuz" "$out/initrd.img"    # vmlinuz keeps the .deb's date otherwise
cat "$out/contents.txt"
