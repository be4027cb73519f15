# kukeon — non-recursive build.  `make`, `make test`, `make asan`, `make install`.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
DESTDIR ?=
BUILD ?= build
CC ?= cc
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)

PKGS := yaml-0.1 jansson libprotobuf-c libseccomp libcap libnl-3.0 libnl-route-3.0
# Image libraries: headers only; image/libs.c dlopens them on first use so
# that processes which never touch images do not map them (glibc >= 2.34:
# dlopen is in libc, no -ldl).  Unit tests that build tarballs link them.
DL_PKGS := libarchive libcurl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DL_PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
DL_PKG_LIBS := $(shell pkg-config --libs $(DL_PKGS))
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla -Wjump-misses-init -Wno-format-truncation
SANITIZERS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_FLAGS := $(if $(SANITIZE),$(SANITIZERS))
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SAN_FLAGS) -D_GNU_SOURCE -DKUKEON_VERSION='"$(VERSION)"' -DKUKEON_SYSTEMD_UNIT_DIR='"$(SYSTEMDUNITDIR)"' \
              -I. -I$(BUILD)/gen $(PKG_CFLAGS)
ALL_LDFLAGS := $(LDFLAGS) $(SAN_FLAGS)

# One folder per concern; each folder's .c files go into libkukeon.a.
MODULES := lib model store api controller image runtime cgroupfs netns cli daemon
PROTO := api/kukeonv1.proto
GEN_SRCS := $(if $(wildcard $(PROTO)),$(BUILD)/gen/api/kukeonv1.pb-c.c,)
LIB_SRCS := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:%.c=%.o) $(BUILD)/runtime/monitor_image.o
# The monitor runs once per container, so it is a program of its own: libc
# and lib/ only, static (the sanitizer build cannot be), stripped; kukeon
# carries it (runtime/monitor_image.S) and stages it at first use.
MONITOR_OBJS := $(BUILD)/runtime/monitor/main.o $(BUILD)/runtime/monitor.o $(patsubst %.c,$(BUILD)/%.o,$(wildcard lib/*.c))
MONITOR_LDFLAGS := $(if $(SANITIZE),$(SAN_FLAGS),-static -s)
MAIN_OBJ := $(BUILD)/main.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:%.c=$(BUILD)/%)

all: $(BUILD)/kukeon $(BUILD)/kuke $(BUILD)/kukeond $(BUILD)/kukepause

$(BUILD)/gen/api/kukeonv1.pb-c.c $(BUILD)/gen/api/kukeonv1.pb-c.h: $(PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen $(PROTO)

$(BUILD)/gen/api/kukeonv1.pb-c.o: $(BUILD)/gen/api/kukeonv1.pb-c.c
	$(CC) -std=gnu11 $(CFLAGS) $(SAN_FLAGS) -I$(BUILD)/gen $(PKG_CFLAGS) -c -o $@ $<

# The objects that print KUKEON_VERSION are built again when it changes (a
# commit, a dirty tree): an incremental build otherwise mixes versions.
VERSION_STAMP := $(BUILD)/gen/version
VERSIONED := $(shell grep -l KUKEON_VERSION $(LIB_SRCS) 2>/dev/null)
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(VERSIONED:%.c=$(BUILD)/%.o): $(VERSION_STAMP)
FORCE:

$(BUILD)/%.o: %.c $(GEN_SRCS:%.c=%.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/kukeon-monitor: $(MONITOR_OBJS)
	$(CC) $(LDFLAGS) $(MONITOR_LDFLAGS) -o $@ $^

$(BUILD)/runtime/monitor_image.o: runtime/monitor_image.S $(BUILD)/kukeon-monitor
	@mkdir -p $(dir $@)
	$(CC) -c -DMONITOR_IMAGE='"$(BUILD)/kukeon-monitor"' -o $@ $<

$(BUILD)/libkukeon.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/kukeon: $(MAIN_OBJ) $(BUILD)/libkukeon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/kuke $(BUILD)/kukeond: $(BUILD)/kukeon
	ln -f $< $@

# kukepause is PID 1 of synthesized cell roots: static, no libc surprises.
$(BUILD)/kukepause: runtime/pause/kukepause.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libkukeon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(BUILD)/libkukeon.a $(ALL_LDFLAGS) $(PKG_LIBS) $(DL_PKG_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libkukeon.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libkukeon.a $(ALL_LDFLAGS) $(PKG_LIBS)

# kk-probe runs inside containers (tests/integration/t_seccomp.sh): no
# libkukeon, static; kk-probe-dyn is the same program linked dynamically.
$(BUILD)/tests/helpers/kk-probe: tests/helpers/kk-probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -D_GNU_SOURCE -static -pthread -o $@ $<

$(BUILD)/tests/helpers/kk-probe-dyn: tests/helpers/kk-probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -D_GNU_SOURCE -pthread -o $@ $<

unit-bins: $(UNIT_BINS) $(HELPER_BINS) $(BUILD)/tests/helpers/kk-probe-dyn

# Lanes: unit (no root), integration (root), the same two on the ASan/UBSan
# build, fuzz (bounded), vm (qemu TCG), deb (the package in a fresh root).
# One closing line for all of them.
test: all unit-bins asan
	BUILD=$(BUILD) tests/run-lanes unit integration soak asan-unit asan-integration fuzz vm deb

test-unit: all unit-bins
	BUILD=$(BUILD) tests/run-lanes unit

test-integration: all unit-bins
	BUILD=$(BUILD) tests/run-lanes integration

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 all unit-bins

test-asan: asan
	BUILD=build-asan tests/run-lanes unit integration

fuzz:
	BUILD=$(BUILD) tests/run-lanes fuzz

# The Debian package (tests/deb/run): builds from a copy of the tree.
test-deb:
	tests/run-lanes deb

# SOAK_OPS / SOAK_SEED pass through (docs/RELIABILITY.md).
soak: all
	BUILD=$(BUILD) tests/run-lanes soak

install: all install-unit install-completion
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/kukeon $(DESTDIR)$(BINDIR)/kukeon
	ln -f $(DESTDIR)$(BINDIR)/kukeon $(DESTDIR)$(BINDIR)/kuke
	ln -f $(DESTDIR)$(BINDIR)/kukeon $(DESTDIR)$(BINDIR)/kukeond
	install -m 0755 $(BUILD)/kukepause $(DESTDIR)$(BINDIR)/kukepause
	install -m 0644 man/kuke.1 $(DESTDIR)$(MANDIR)/man1/kuke.1
	ln -sf kuke.1 $(DESTDIR)$(MANDIR)/man1/kukeon.1
	install -m 0644 man/kukeon-manifest.5 $(DESTDIR)$(MANDIR)/man5/kukeon-manifest.5
	install -m 0644 man/kukeond.8 $(DESTDIR)$(MANDIR)/man8/kukeond.8
	install -m 0644 man/kukepause.8 $(DESTDIR)$(MANDIR)/man8/kukepause.8

# The unit alone (no build): tests render it into a temp prefix.  Never
# enabled by make: `systemctl enable --now kukeond` is the operator's.
install-unit:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/kukeond.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/kukeond.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/kukeond.service

# The scripts `kuke autocomplete` prints, where each shell looks for them.
install-completion: $(BUILD)/kuke
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(BUILD)/kuke autocomplete bash >$(DESTDIR)$(BASHCOMPDIR)/kuke
	$(BUILD)/kuke autocomplete zsh >$(DESTDIR)$(ZSHCOMPDIR)/_kuke
	$(BUILD)/kuke autocomplete fish >$(DESTDIR)$(FISHCOMPDIR)/kuke.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/kuke $(DESTDIR)$(ZSHCOMPDIR)/_kuke $(DESTDIR)$(FISHCOMPDIR)/kuke.fish

clean:
	rm -rf build build-asan build-fuzz build-deb

.PHONY: FORCE all test test-unit test-integration asan test-asan fuzz test-deb soak install install-unit install-completion clean unit-bins

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(MONITOR_OBJS:.o=.d)
