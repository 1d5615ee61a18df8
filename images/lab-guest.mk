# The lab guest (images/README.md, "Lab guest"): Debian's kernel and a busybox
# initramfs with the agent sysext merged in, standing in for Flatcar in the
# virtual lab only.
#   $(B)/lab-guest/vmlinuz, $(B)/lab-guest/initrd.img (generic: each machine
#   appends its own cpio with /etc/strata/spec.json, machine-initrd.sh)
# The kernel .deb is downloaded once into build/cache/lab-guest/.

LAB_GUEST_OUT := $(B)/lab-guest
LAB_GUEST_CACHE ?= build/cache/lab-guest
LAB_GUEST_NOTIFY := $(LAB_GUEST_OUT)/notify-listen
LAB_GUEST_SRCS := images/lab-guest/build.sh images/lab-guest/init images/lab-guest/udhcpc.script \
	images/lab-guest.mk
# what the guest takes from this machine: an update of either rebuilds it,
# as does another kernel .deb in the cache
LAB_GUEST_HOST := $(wildcard /bin/busybox /usr/sbin/cryptsetup $(LAB_GUEST_CACHE)/linux-image-*.deb)

# stratad comes from the agent sysext (images/sysext.mk), unsquashed into the
# guest's / as systemd-sysext merges it on Flatcar, so the guest runs exactly
# the image's binaries and libraries. LAB_GUEST_FROM=build (or no sysext.mk)
# takes $(B)/stratad and $(B)/strata with their ldd closure instead.
LAB_GUEST_FROM ?= $(if $(SYSEXT_RAW),sysext,build)
ifeq ($(LAB_GUEST_FROM),sysext)
LAB_GUEST_INPUTS := $(SYSEXT_RAW)
LAB_GUEST_ARGS := --sysext $(SYSEXT_RAW)
else
LAB_GUEST_INPUTS := $(STRATAD) $(STRATA)
LAB_GUEST_ARGS := --stratad $(B)
endif

lab-guest: $(LAB_GUEST_OUT)/vmlinuz $(LAB_GUEST_OUT)/initrd.img

# static: it runs in the guest beside the sysext and needs none of its libraries
$(LAB_GUEST_NOTIFY): images/lab-guest/notify-listen.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -static -o $@ $<

$(LAB_GUEST_OUT)/vmlinuz $(LAB_GUEST_OUT)/initrd.img &: $(LAB_GUEST_SRCS) $(LAB_GUEST_NOTIFY) $(LAB_GUEST_INPUTS) \
		$(LAB_GUEST_HOST)
	images/lab-guest/build.sh --out $(LAB_GUEST_OUT) --cache $(LAB_GUEST_CACHE) \
		--notify $(LAB_GUEST_NOTIFY) $(LAB_GUEST_ARGS)
