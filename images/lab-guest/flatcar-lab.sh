#!/bin/sh
# Writes a synthetic disk image with Flatcar's partition table (numbers,
# labels, GPT types: docs/flatcar-ignition.md §1.7), for the virtual lab's
# seed: `strata image seed --flatcar flatcar-lab.img ...` writes config.ign
# on its OEM partition and the agent sysext on ROOT, and the lab guest
# (which boots with QEMU -kernel/-initrd, no bootloader) reads them from
# there as Flatcar's initramfs would. It stands in for
# flatcar_production_image.bin in the lab only: USR-A/B hold nothing, the
# ESP has no bootloader.
#
# usage: flatcar-lab.sh OUT [EPOCH]
#
# Reproducible: fixed disk and partition GUIDs, file-system UUIDs and hash
# seeds, and every time stamp from EPOCH (default $SOURCE_DATE_EPOCH or 0),
# so one tree gives the same bytes.
#   1 EFI-SYSTEM 16 MiB vfat   2 BIOS-BOOT 1 MiB   3 USR-A 16 MiB   4 USR-B 16 MiB
#   6 OEM 16 MiB ext4 (Flatcar's older OEM format; strata image seed takes
#     btrfs or ext4, and ext4 keeps the guest's kernel modules few)
#   7 OEM-CONFIG 1 MiB   9 ROOT 192 MiB ext4 (room for the sysext and the boot assets)
set -eu
[ $# -ge 1 ] || { echo "usage: flatcar-lab.sh OUT [EPOCH]" >&2; exit 2; }
out=$1
epoch=${2:-${SOURCE_DATE_EPOCH:-0}}
for t in sfdisk mkfs.vfat mkfs.ext4 debugfs; do
        command -v $t >/dev/null 2>&1 || { echo "flatcar-lab.sh: $t is missing (dosfstools, e2fsprogs, fdisk)" >&2; exit 1; }
done
MIB=1048576
tmp=$(mktemp -d "${out}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# number label MiB type-GUID partition-GUID filesystem
cat > "$tmp/layout" <<'EOF'
1 EFI-SYSTEM 16 C12A7328-F81F-11D2-BA4B-00A0C93EC93B 5f1a0001-0000-4000-8000-000000000001 vfat
2 BIOS-BOOT 1 21686148-6449-6E6F-744E-656564454649 5f1a0001-0000-4000-8000-000000000002 -
3 USR-A 16 5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6 7130c94a-213a-4e5a-8e26-6cce9662f132 -
4 USR-B 16 5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6 e03dd35c-7c2d-4a47-b3fe-27f15780a57c -
6 OEM 16 0FC63DAF-8483-4772-8E79-3D69D8477DE4 5f1a0001-0000-4000-8000-000000000006 ext4
7 OEM-CONFIG 1 C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0 5f1a0001-0000-4000-8000-000000000007 -
9 ROOT 192 3884DD41-8582-4404-B9A8-E9B84F2DF50E 5f1a0001-0000-4000-8000-000000000009 ext4
EOF
total=2   # 1 MiB for the GPT in front, 1 MiB for the backup GPT behind
while read -r n label mib rest; do total=$((total + mib)); done < "$tmp/layout"

img=$tmp/disk.img
truncate -s $((total * MIB)) "$img"
# partition numbers from the names (diskN), as sfdisk --dump writes them: 5 and 8 stay unused
{
        echo "label: gpt"
        echo "label-id: 5F1A0000-0000-4000-8000-00000000F1A7"
        echo "device: disk"
        echo "unit: sectors"
        echo "first-lba: 2048"
        echo
        start=2048
        while read -r n label mib type uuid fs; do
                echo "disk$n : start=$start, size=$((mib * 2048)), type=$type, uuid=$uuid, name=\"$label\""
                start=$((start + mib * 2048))
        done < "$tmp/layout"
} > "$tmp/dump"
sfdisk -q --no-reread --no-tell-kernel "$img" < "$tmp/dump"

start=1
while read -r n label mib type uuid fs; do
        part=$tmp/p$n
        case "$fs" in
        vfat)
                truncate -s $((mib * MIB)) "$part"
                mkfs.vfat -n "$label" -i 5F1A0001 --invariant "$part" >/dev/null
                ;;
        ext4)
                truncate -s $((mib * MIB)) "$part"
                # a pristine ROOT has little (/etc); OEM is empty until
                # strata image seed writes config.ign. debugfs, not mkfs -d:
                # mkfs -d copies the tree's ctimes, which cannot be set
                E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -L "$label" -U "$uuid" \
                        -E "hash_seed=$uuid,root_owner=0:0" -T default "$part"
                [ "$label" = ROOT ] && E2FSPROGS_FAKE_TIME=$epoch debugfs -w -R "mkdir etc" "$part" >/dev/null 2>&1
                ;;
        *) part= ;;
        esac
        [ -n "$part" ] && dd if="$part" of="$img" bs=$MIB seek=$start conv=notrunc,sparse status=none
        rm -f "$part"
        start=$((start + mib))
done < "$tmp/layout"
mv "$img" "$out"
