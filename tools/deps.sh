#!/bin/sh
# Installs the Debian packages a Strata target needs, and only when one is
# missing: apt-get runs at most once per call, never when all are present.
# Usage: tools/deps.sh build|check|lab
set -eu

build="build-essential pkg-config libsystemd-dev libssl-dev libtss2-dev libjose-dev
 libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libcryptsetup-dev libgnutls28-dev
 libyaml-dev libblkid-dev libarchive-dev"
# check: unit tests (cmocka), system tests (Debian's pytest, run with
# /usr/bin/python3), fuzzing (clang's libFuzzer runtime), unit verification,
# and the real peers of the unseal tests: swtpm, tangd, the clevis CLI,
# cryptsetup, socat (an inetd for tangd, which serves one request per process),
# QEMU for the BMC emulator's qemu back end, and redfishtool, the baseline of
# the Redfish benchmark. Network boot: Debian's iPXE binaries (served over
# TFTP), QEMU's iPXE ROMs and SeaBIOS, dnsmasq as the site's plain DHCP
# server in the tests and the TFTP baseline, nginx-light the HTTP baseline,
# busybox-static and cpio for the test initramfs, iproute2 for namespaces.
# Ignition: ignition (for ignition-validate) and squashfs-tools (the sysext).
# Images: systemd-container (systemd-dissect), btrfs-progs, fdisk and
# dosfstools for the synthetic Flatcar disk, kmod for the lab guest's modules.
# Kubernetes stand-in: python3-yaml loads the Cluster API CRDs.
check="$build libcmocka-dev python3 python3-pytest clang libclang-rt-dev systemd
 swtpm swtpm-tools tpm2-tools tang jose clevis clevis-tpm2 clevis-luks cryptsetup-bin socat curl
 qemu-system-x86 ovmf redfishtool ipxe ipxe-qemu seabios dnsmasq-base nginx-light busybox-static
 cpio iproute2 ignition squashfs-tools systemd-container btrfs-progs fdisk dosfstools kmod
 python3-yaml"
lab="$check"

case "${1:-}" in
build) want=$build ;;
check) want=$check ;;
lab) want=$lab ;;
*) echo "usage: $0 build|check|lab" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
        s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
        echo "deps: these Debian packages are missing and installing them needs root:$missing" >&2
        exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Packages installed only as test peers must not start services on this
# machine (Debian's tang would listen on port 80 on every interface): a
# policy-rc.d that refuses every start, for the length of the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
case " $missing " in
*" tang "*)
        # tests run tangd on loopback themselves; the packaged socket stays off
        if [ -d /run/systemd/system ]; then
                systemctl disable --now tangd.socket >/dev/null 2>&1 || true
        fi
        ;;
esac
case " $missing " in
*" nginx-light "*)
        # the benchmark runs its own nginx in a namespace; the packaged one stays off
        if [ -d /run/systemd/system ]; then
                systemctl disable --now nginx.service >/dev/null 2>&1 || true
        fi
        ;;
esac
