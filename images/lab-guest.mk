# The lab guest (images/README.md, "Lab guest"): Debian's kernel and a busybox
# initramfs with the agent sysext merged in, standing in for Flatcar in the
# virtual lab only.
#   $(B)/lab-guest/vmlinuz, $(B)/lab-guest/initrd.img (generic: each machine
#   appends its own cpio with /etc/strata/spec.json, machine-initrd.sh, or
#   gets its Ignition config from a disk's OEM partition or a URL);
#   $(B)/lab-guest/initrd.gz, the same file under the name the lab uses;
#   $(B)/lab-guest/pxe/flatcar_production_pxe{.vmlinuz,_image.cpio.gz}, the
#   same kernel and initrd under the names stratad's boot server serves;
#   $(B)/lab-guest/flatcar-lab.img, a disk image with Flatcar's partitions
#   for `strata image seed --flatcar` (flatcar-lab.sh).
# The kernel .deb is downloaded once into build/cache/lab-guest/.

LAB_GUEST_OUT := $(B)/lab-guest
LAB_GUEST_CACHE ?= build/cache/lab-guest
LAB_GUEST_NOTIFY := $(LAB_GUEST_OUT)/notify-listen
LAB_GUEST_IGNITION := $(LAB_GUEST_OUT)/ignition-lite
LAB_GUEST_PXE := $(LAB_GUEST_OUT)/pxe/flatcar_production_pxe.vmlinuz \
	$(LAB_GUEST_OUT)/pxe/flatcar_production_pxe_image.cpio.gz
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

lab-guest: $(LAB_GUEST_OUT)/vmlinuz $(LAB_GUEST_OUT)/initrd.img $(LAB_GUEST_OUT)/initrd.gz $(LAB_GUEST_PXE) \
	$(LAB_GUEST_OUT)/flatcar-lab.img

# static: it runs in the guest beside the sysext and needs none of its libraries
$(LAB_GUEST_NOTIFY): images/lab-guest/notify-listen.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -static -o $@ $<

# static too: Ignition's stand-in (jansson, libcrypto, the data: URL
# decoder of Strata's renderer and its whole-file loops). The linker warns that libcrypto's static
# archive uses dlopen and getaddrinfo: ignition-lite never reaches them.
LAB_GUEST_IGNITION_SRCS := images/lab-guest/ignition-lite.c images/lab-guest/ignition-lite-config.c \
	agent/ignition/data-url.c agent/core/fileio.c
$(LAB_GUEST_IGNITION): $(LAB_GUEST_IGNITION_SRCS) images/lab-guest/ignition-lite-config.h agent/ignition/data-url.h \
		agent/core/fileio.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -Iagent -static -o $@ \
		$(LAB_GUEST_IGNITION_SRCS) -ljansson -lcrypto -lpthread

$(LAB_GUEST_OUT)/vmlinuz $(LAB_GUEST_OUT)/initrd.img &: $(LAB_GUEST_SRCS) $(LAB_GUEST_NOTIFY) $(LAB_GUEST_IGNITION) \
		$(LAB_GUEST_INPUTS) $(LAB_GUEST_HOST)
	images/lab-guest/build.sh --out $(LAB_GUEST_OUT) --cache $(LAB_GUEST_CACHE) \
		--notify $(LAB_GUEST_NOTIFY) --ignition $(LAB_GUEST_IGNITION) $(LAB_GUEST_ARGS)

# the same files under other names: hard links, no copies
$(LAB_GUEST_OUT)/initrd.gz: $(LAB_GUEST_OUT)/initrd.img
	ln -f $< $@
$(LAB_GUEST_OUT)/pxe/flatcar_production_pxe.vmlinuz: $(LAB_GUEST_OUT)/vmlinuz
	@mkdir -p $(@D)
	ln -f $< $@
$(LAB_GUEST_OUT)/pxe/flatcar_production_pxe_image.cpio.gz: $(LAB_GUEST_OUT)/initrd.img
	@mkdir -p $(@D)
	ln -f $< $@

# the epoch of the agent sysext (images/sysext.mk): the same commit, the same bytes
$(LAB_GUEST_OUT)/flatcar-lab.img: images/lab-guest/flatcar-lab.sh $(wildcard $(B)/sysext/epoch)
	@mkdir -p $(@D)
	images/lab-guest/flatcar-lab.sh $@ $(or $(SOURCE_DATE_EPOCH),0)
