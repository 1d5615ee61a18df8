# Strata: build, check, bench, install, clean (and later lab, sysext).
# `make check` and `make lab` install their Debian packages first (tools/deps.sh).

VERSION := 0.1.0
B ?= build
SAN ?=
PREFIX ?= /usr
DESTDIR ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON ?= /usr/bin/python3

PKGS := libsystemd openssl tss2-esys tss2-mu tss2-tctildr jose libcurl libmicrohttpd \
	jansson libcryptsetup gnutls yaml-0.1 blkid libarchive
# Recursive (=) so pkg-config runs after the dependency step has installed them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))

CFLAGS ?= -O2 -g
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS := -O1 -g
endif
ifeq ($(SAN),fuzz)
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS := -O1 -g
endif

# -ffile-prefix-map: the checkout's path stays out of the debug info, so
# the agent sysext of one commit is byte-identical wherever it is built.
ALL_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -DSTRATA_VERSION='"$(VERSION)"' \
	-ffile-prefix-map=$(CURDIR)=. -DSTRATA_DATADIR='"$(PREFIX)/share/strata"' -Iagent $(SANFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

LIB_SRCS := $(sort $(wildcard agent/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o) $(B)/agent/core/spec-schema.o
LIB := $(B)/libstrata.a

STRATAD := $(B)/stratad
STRATA := $(B)/strata
STRATA_SRCS := $(sort $(wildcard tools/strata/*.c))
STRATA_OBJS := $(STRATA_SRCS:%.c=$(B)/%.o)
# strata-bmc: the Redfish BMC emulator (tools/strata-bmc/), for tests and the lab
STRATA_BMC := $(B)/strata-bmc
STRATA_BMC_SRCS := $(sort $(wildcard tools/strata-bmc/*.c))
STRATA_BMC_OBJS := $(STRATA_BMC_SRCS:%.c=$(B)/%.o)

UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/tests/fuzz/%-replay)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/tests/fuzz/%)
BENCH_SRCS := $(sort $(wildcard tests/bench/bench-*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(B)/tests/bench/%)

.PHONY: all check bench install clean deps build-all unit-bins fuzz-replay fuzzers lab sysext lab-guest capi-repo
.DELETE_ON_ERROR:
# objects of tests and fuzzers are intermediates: keep them for incremental rebuilds
.SECONDARY:

all:
	@tools/deps.sh build
	@$(MAKE) --no-print-directory -j$(JOBS) build-all

build-all: $(STRATAD) $(STRATA) $(if $(STRATA_BMC_SRCS),$(STRATA_BMC))

deps:
	@tools/deps.sh check

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The spec's JSON Schema is compiled into the binaries so that stratad and
# strata validate against exactly the schema they were built with.
$(B)/agent/core/spec-schema.o: agent/core/spec-schema.S proto/spec.schema.json
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) -c $< -o $@

# The Ignition templates (ignition/*.json) are compiled in the same way.
LIB_OBJS += $(B)/agent/ignition/templates.o
$(B)/agent/ignition/templates.o: agent/ignition/templates.S $(wildcard ignition/*.json)
	@mkdir -p $(@D) && $(CC) $(SANFLAGS) -c $< -o $@
# So is the per-machine iPXE script template (images/pxe/boot.ipxe).
LIB_OBJS += $(B)/agent/boot/boot-script-template.o
$(B)/agent/boot/boot-script-template.o: agent/boot/boot-script-template.S images/pxe/boot.ipxe
	@mkdir -p $(@D) && $(CC) $(SANFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(STRATAD): $(B)/agent/stratad.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(STRATA): $(STRATA_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(STRATA_BMC): $(STRATA_BMC_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(B)/tests/fuzz/%-replay: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay-main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/fuzz/fuzz-%: $(B)/tests/fuzz/fuzz-%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# ignition-lite's checker lives with the lab guest, outside libstrata;
# its fuzz target and unit test link it before the library it uses
IGNITION_LITE_CONFIG_O := $(B)/images/lab-guest/ignition-lite-config.o
$(B)/tests/fuzz/fuzz-ignition-lite-replay: $(B)/tests/fuzz/fuzz-ignition-lite.o $(B)/tests/fuzz/replay-main.o \
		$(IGNITION_LITE_CONFIG_O) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(B)/tests/fuzz/fuzz-ignition-lite: $(B)/tests/fuzz/fuzz-ignition-lite.o $(IGNITION_LITE_CONFIG_O) $(LIB)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
$(B)/tests/unit/test-ignition-lite-config: $(B)/tests/unit/test-ignition-lite-config.o $(IGNITION_LITE_CONFIG_O) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(B)/tests/bench/%: $(B)/tests/bench/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

unit-bins: $(UNIT_BINS)
fuzz-replay: $(FUZZ_REPLAY)
fuzzers: $(FUZZ_BINS)

# check: plain build, the unit tests again under ASan+UBSan, fuzz corpus
# replay under ASan+UBSan, a few seconds of libFuzzer per target (clang),
# unit-file verification and the system tests; one summary line at the end.
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all unit-bins sysext lab-guest
	@$(MAKE) --no-print-directory -j$(JOBS) B=build/asan SAN=1 build-all unit-bins fuzz-replay
	@$(MAKE) --no-print-directory -j$(JOBS) B=build/fuzz SAN=fuzz CC=clang fuzzers
	@B=$(B) PYTHON=$(PYTHON) tests/run-checks.sh

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@$(MAKE) --no-print-directory -j$(JOBS) $(BENCH_BINS)
	@B=$(B) tests/bench/run.sh

# The virtual lab (tools/lab/README.md), as root: NODES (4), FANOUT (2),
# RESUME=1, LAB_TAMPER=NAME, LAB_TIMEOUT=SEC
LAB_DIR ?= build/lab
lab:
	@tools/deps.sh lab
	@$(MAKE) --no-print-directory -j$(JOBS) build-all sysext lab-guest
	@$(PYTHON) tools/lab/strata_lab.py --build $(B) --state $(LAB_DIR) --nodes $(or $(NODES),4) \
		--fanout $(or $(FANOUT),2) $(if $(filter 1,$(RESUME)),--resume) \
		$(if $(LAB_TAMPER),--tamper $(LAB_TAMPER)) $(if $(LAB_TIMEOUT),--timeout $(LAB_TIMEOUT))

install: all sysext
	install -D -m 0755 $(STRATAD) $(DESTDIR)$(PREFIX)/bin/stratad
	install -D -m 0755 $(STRATA) $(DESTDIR)$(PREFIX)/bin/strata
	$(if $(STRATA_BMC_SRCS),install -D -m 0755 $(STRATA_BMC) $(DESTDIR)$(PREFIX)/bin/strata-bmc)
	install -D -m 0644 images/units/stratad.service $(DESTDIR)$(PREFIX)/lib/systemd/system/stratad.service
	install -D -m 0644 images/units/stratad.socket $(DESTDIR)$(PREFIX)/lib/systemd/system/stratad.socket
	install -D -m 0644 images/units/strata-member-renew.service $(DESTDIR)$(PREFIX)/lib/systemd/system/strata-member-renew.service
	install -D -m 0644 images/units/strata-member-renew.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/strata-member-renew.timer
	install -D -m 0644 images/units/strata-unseal@.service '$(DESTDIR)$(PREFIX)/lib/systemd/system/strata-unseal@.service'
	install -D -m 0644 proto/spec.schema.json $(DESTDIR)$(PREFIX)/share/strata/spec.schema.json
	install -D -m 0644 $(SYSEXT_RAW) $(DESTDIR)$(PREFIX)/share/strata/$(notdir $(SYSEXT_RAW))
	install -D -m 0755 tools/sim/strata_sim.py $(DESTDIR)$(PREFIX)/lib/strata/sim/strata_sim.py
	install -D -m 0755 tools/sim/sim_machine.py $(DESTDIR)$(PREFIX)/lib/strata/sim/sim_machine.py

clean:
	rm -rf build

# Cluster API provider components as a clusterctl local repository
# (images/README.md): the real CRDs from CAPI_CRDS plus images/capi/.
CAPI_CRDS ?= ../shared/fixtures/capi
CERT_MANAGER_DIR ?=
capi-repo:
	images/capi/build.sh images/capi $(CAPI_CRDS) $(B)/capi-repo $(CERT_MANAGER_DIR)

# Images (images/*.mk): the agent sysext and the lab guest.
-include images/sysext.mk
-include images/lab-guest.mk

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
