#!/bin/sh
# Makes one lab machine's initrd: the generic lab guest initrd with a second
# cpio appended that carries the machine's own files, as Ignition would
# write them on Flatcar (at least etc/strata/spec.json). The kernel unpacks
# concatenated cpio archives in order; QEMU's -initrd takes one file.
#
# usage: machine-initrd.sh GENERIC_INITRD DIR OUT
#   DIR is the root of the machine's files: DIR/etc/strata/spec.json -> /etc/strata/spec.json
set -eu
[ $# -eq 3 ] || { echo "usage: machine-initrd.sh GENERIC_INITRD DIR OUT" >&2; exit 2; }
generic=$1 dir=$2 out=$3
[ -s "$generic" ] || { echo "machine-initrd.sh: no initrd $generic (make lab-guest)" >&2; exit 1; }
[ -d "$dir" ] || { echo "machine-initrd.sh: no directory $dir" >&2; exit 1; }
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
cat "$generic" > "$tmp"
(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible --owner=0:0) | gzip -n -1 >> "$tmp"
mv "$tmp" "$out"
