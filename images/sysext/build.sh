#!/bin/sh
# Packs the agent sysext (images/README.md, "Agent sysext"): a squashfs that
# systemd-sysext merges into Flatcar's /usr. Called by images/sysext.mk.
#
#   build.sh SRCDIR BINDIR OUT NAME ARCH EPOCH DEPFILE
#
# SRCDIR  the source tree (images/units, proto/spec.schema.json)
# BINDIR  stratad and strata relinked for the image (PT_INTERP and DT_RPATH
#         in /usr/lib/strata); copied stripped, the unstripped ones stay
#         in BINDIR for debugging (same build-id)
# OUT     the .raw to write
# NAME    the extension name: extension-release.NAME; the image must be
#         merged as NAME.raw (the /etc/extensions link), see the README
# ARCH    systemd's architecture name (x86-64)
# EPOCH   SOURCE_DATE_EPOCH: every timestamp in the image
# DEPFILE make rules naming the host's library files the image copied, so
#         that an upgraded Debian library rebuilds the image
#
# The image carries the ELF loader and every library the binaries load, so
# nothing is taken from the host's /usr: the dynamic closure of both binaries
# as ldd resolves it on this (build) machine, plus what is loaded by name at
# run time: the tpm2-tss TCTI modules and libgcc_s (glibc's unwinder).
set -eu

[ $# -eq 7 ] || { echo "usage: $0 SRCDIR BINDIR OUT NAME ARCH EPOCH DEPFILE" >&2; exit 2; }
src=$1 bindir=$2 out=$3 name=$4 arch=$5 epoch=$6 depfile=$7
for tool in mksquashfs strip ldd dpkg; do
        command -v "$tool" >/dev/null ||
                { echo "$0: $tool is missing (squashfs-tools, binutils; tools/deps.sh check installs them)" >&2; exit 1; }
done
libdir=usr/lib/strata
# The same directory as the triplet ldd reports libc from.
multiarch=$(dirname "$(readlink -f "$(ldd "$bindir/stratad" | awk '$1 ~ /^libc\.so/ { print $3 }')")")
# dlopen()ed by name, so no ldd can see them: libtss2-tctildr loads the TCTI
# the --tcti string names (device, swtpm, mssim, cmd); glibc loads libgcc_s
# for pthread_cancel and backtraces.
dlopened="libtss2-tcti-device.so.0 libtss2-tcti-swtpm.so.0 libtss2-tcti-mssim.so.0
 libtss2-tcti-cmd.so.0 libgcc_s.so.1"

# The image's tree is staged outside the build directory: the Makefile
# includes every "*.d" under $(B) as a dependency file, and a drop-in
# directory (multi-user.target.d) would be one.
stage=$(mktemp -d "${TMPDIR:-/tmp}/strata-sysext.XXXXXX")
trap 'rm -rf "$stage" "$stage.deps"' EXIT
mkdir -p "$stage/usr/bin" "$stage/$libdir" "$stage/usr/lib/systemd/system" \
        "$stage/usr/lib/extension-release.d" "$stage/usr/share/strata"

for b in stratad strata; do
        strip --strip-all -o "$stage/usr/bin/$b" "$bindir/$b"
done

# Library closure: NEEDED of the binaries and of the dlopened modules,
# resolved by the build machine's loader. Each is copied under the name it
# is asked for (its soname), symlinks resolved.
objs="$bindir/stratad $bindir/strata"
for l in $dlopened; do
        [ -e "$multiarch/$l" ] || { echo "$0: $multiarch/$l missing (tools/deps.sh installs it)" >&2; exit 1; }
        objs="$objs $multiarch/$l"
        echo "$multiarch/$l" >>"$stage.deps"
        cp -L "$multiarch/$l" "$stage/$libdir/$l"
done
# shellcheck disable=SC2086 # $objs is a list of paths without blanks
closure=$(ldd $objs)
if echo "$closure" | grep -q 'not found'; then
        echo "$0: unresolved libraries:" >&2
        echo "$closure" | grep 'not found' >&2
        exit 1
fi
# The loader's line is "PT_INTERP => /lib64/ld-linux-x86-64.so.2" for the
# relinked binaries and "/lib64/ld-linux-x86-64.so.2" for libraries.
echo "$closure" | awk '
        $1 ~ /ld-linux-x86-64\.so\.2$/ { print "ld-linux-x86-64.so.2", ($2 == "=>" ? $3 : $1); next }
        $2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
while read -r soname path; do
        cp -L "$path" "$stage/$libdir/$soname"
        echo "$path" >>"$stage.deps"
done

# Where each bundled library came from, for whoever tracks security updates
# of the image: "soname package version".
(
        cd "$stage/$libdir"
        for l in *; do
                p=$(dpkg -S "$multiarch/$l" "/lib/x86_64-linux-gnu/$l" "/lib64/$l" 2>/dev/null | head -n 1 | cut -d: -f1)
                v=$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo unknown)
                echo "$l ${p:-unknown} $v"
        done
) >"$stage/usr/share/strata/bundled-libraries.txt"

cp "$src"/images/units/* "$stage/usr/lib/systemd/system/"
cp "$src/proto/spec.schema.json" "$stage/usr/share/strata/"

# Units that only exist in the sysext are not enabled by [Install] symlinks
# or presets (docs/flatcar-ignition.md §1.3): targets pull them in instead.
dropin() { # target directive
        mkdir -p "$stage/usr/lib/systemd/system/$1.d"
        printf '# From the strata-agent sysext: its units are not enabled by symlinks.\n[Unit]\n%s\n' "$2" \
                >"$stage/usr/lib/systemd/system/$1.d/10-strata.conf"
}
dropin multi-user.target "Upholds=stratad.service"
dropin sockets.target "Wants=stratad.socket"
dropin timers.target "Wants=strata-member-renew.timer"

# SYSEXT_LEVEL, not VERSION_ID: the image brings its own libraries, so it
# stays loadable across Flatcar updates.
printf 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=%s\nEXTENSION_RELOAD_MANAGER=1\n' "$arch" \
        >"$stage/usr/lib/extension-release.d/extension-release.$name"

# Normalise what the file system records: modes (owners come from -all-root,
# times from -all-time; mksquashfs sorts directory entries itself).
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage"/usr/bin/* "$stage/$libdir/ld-linux-x86-64.so.2"

# mksquashfs 4.5.1 refuses SOURCE_DATE_EPOCH together with -mkfs-time and
# -all-time; the options say the same, for every inode and the superblock.
rm -f "$out.tmp"
env -u SOURCE_DATE_EPOCH mksquashfs "$stage" "$out.tmp" -all-root -noappend -no-xattrs \
        -all-time "$epoch" -mkfs-time "$epoch" -quiet >/dev/null
mv "$out.tmp" "$out"

# In make's dependency-file form (as gcc -MP writes them: a library that
# goes away is no error, just a rebuild).
{
        printf '%s:' "$out"
        sort -u "$stage.deps" | while read -r f; do printf ' \\\n %s' "$f"; done
        printf '\n'
        sort -u "$stage.deps" | while read -r f; do printf '%s:\n' "$f"; done
} >"$depfile"
