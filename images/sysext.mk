# The agent sysext (images/README.md, "Agent sysext"):
#   $(B)/sysext/strata-agent-$(VERSION)-x86-64.raw and $(B)/sysext/SHA256SUMS
# stratad and strata are linked a second time for the image, from the same
# objects: their loader and libraries are the copies the image carries in
# /usr/lib/strata, so the image needs nothing from Flatcar's /usr.
# $(B)/stratad and $(B)/strata stay as they are.

SYSEXT_NAME := strata-agent
SYSEXT_ARCH := x86-64
SYSEXT_OUT := $(B)/sysext
SYSEXT_RAW := $(SYSEXT_OUT)/$(SYSEXT_NAME)-$(VERSION)-$(SYSEXT_ARCH).raw
SYSEXT_LIBDIR := /usr/lib/strata
SYSEXT_BINS := $(SYSEXT_OUT)/bin/stratad $(SYSEXT_OUT)/bin/strata
# Every timestamp in the image; two builds of one commit are byte-identical.
SOURCE_DATE_EPOCH ?= $(or $(shell git log -1 --format=%ct 2>/dev/null),0)

# DT_RPATH, not DT_RUNPATH (--disable-new-dtags): the executable's RPATH is
# searched for the libraries' own dependencies and for what they dlopen()
# (libtss2-tctildr's TCTI modules, glibc's libgcc_s and NSS modules);
# a RUNPATH would cover only the executable's direct dependencies and let
# the rest come from the host's ld.so.cache.
SYSEXT_LDFLAGS := -Wl,--dynamic-linker=$(SYSEXT_LIBDIR)/ld-linux-x86-64.so.2 \
	-Wl,--disable-new-dtags -Wl,-rpath,$(SYSEXT_LIBDIR)
# The one library linked statically: strata uses libarchive's newc cpio
# writer and gzip filter only, and Debian's shared libarchive needs libxml2
# and ICU (for xar), 15 MB more in the image. Its static archive needs zlib.
SYSEXT_LIBS = $(patsubst -larchive,-l:libarchive.a -lz,$(PKG_LIBS))

$(SYSEXT_OUT)/bin/stratad: $(B)/agent/stratad.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(SYSEXT_LDFLAGS) -o $@ $^ $(SYSEXT_LIBS)

$(SYSEXT_OUT)/bin/strata: $(STRATA_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(SYSEXT_LDFLAGS) -o $@ $^ $(SYSEXT_LIBS)

# The epoch is an input of the image like any file: kept in a stamp that is
# rewritten only when it changes (a new commit), so that the image is
# rebuilt then and only then.
.PHONY: sysext-epoch-check
sysext-epoch-check:
$(SYSEXT_OUT)/epoch: sysext-epoch-check
	@mkdir -p $(@D)
	@echo $(SOURCE_DATE_EPOCH) | cmp -s - $@ || echo $(SOURCE_DATE_EPOCH) >$@

# build.sh also writes $(SYSEXT_OUT)/libs.d, the host libraries it copied as
# prerequisites of the image; the Makefile includes every *.d under $(B).
# An image of another version left in $(SYSEXT_OUT) is removed: SHA256SUMS
# and the tests see exactly one.
$(SYSEXT_RAW): $(SYSEXT_BINS) $(SYSEXT_OUT)/epoch images/sysext/build.sh images/sysext.mk \
		$(wildcard images/units/*) proto/spec.schema.json
	@rm -f $(filter-out $@,$(wildcard $(SYSEXT_OUT)/$(SYSEXT_NAME)-*.raw))
	images/sysext/build.sh . $(SYSEXT_OUT)/bin $@ \
		$(SYSEXT_NAME) $(SYSEXT_ARCH) $$(cat $(SYSEXT_OUT)/epoch) $(SYSEXT_OUT)/libs.d

# The file systemd-sysupdate's url-file source expects next to the images.
$(SYSEXT_OUT)/SHA256SUMS: $(SYSEXT_RAW)
	cd $(@D) && sha256sum $(<F) >$(@F).tmp && mv $(@F).tmp $(@F)

sysext: $(SYSEXT_RAW) $(SYSEXT_OUT)/SHA256SUMS
