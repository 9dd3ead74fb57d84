# pbx_spool_rs: build, install, and the project's test bed.
#
#   make                      build pbx_spool_rs.so (release) into target/release/
#   make install              install it into ASTMODDIR, its XML documentation into
#                             ASTDATADIR/documentation/thirdparty, and the sample config into ASTETCDIR
#   make docs-xml             write documentation/pbx_spool_rs-en_US.xml again from the core's declarations
#   make deb                  the Debian package asterisk-pbx-spool-rs (target/debian/*.deb) for the packaged
#                             Asterisk whose headers the build uses (the chroot's, or /usr/include's)
#   make samples              install only the commented sample pbx_spool_rs.conf, readable by Asterisk's
#                             user (never overwrites)
#   make check                the fast first step of CI: rustfmt, clippy and rustdoc with warnings as errors,
#                             the unit tests of the core, the callfile tool and the test harness (no Asterisk needed)
#   make test                 everything a fresh Debian 12 machine needs, then every test (the unit tests,
#                             the integration suite, then the Asterisk testsuite's call-file tests)
#   make upstream-test        only the Asterisk testsuite's seven call-file tests (SPOOLER=stock: against
#                             stock pbx_spool.so)
#   make demo                 run the module for real in the project's Asterisk 22 and place a call
#   make env                  create (once) the cached Debian sid chroot with asterisk and asterisk-dev
#   make asterisk-src         build (once) Asterisk 20.20.1 and 23.4.1 from ../shared/asterisk-src in the chroot
#   make test-matrix          the integration suite against Asterisk 20, 22 and 23, one table at the end
#   make bench                stock pbx_spool and pbx_spool_rs side by side (BENCHMARKS.md)
#   make soak                 SOAK_MINUTES (30) of call files with random faults, then an exact account
#   make fuzz                 fuzz the call-file parser and policy for FUZZ_SECONDS (default 600)

CARGO ?= cargo
ASTMODDIR ?= /usr/lib/x86_64-linux-gnu/asterisk/modules
ASTETCDIR ?= /etc/asterisk
ASTDATADIR ?= /usr/share/asterisk
BINDIR ?= /usr/local/bin
export PBX_SPOOL_RS_ENV ?= /var/cache/pbx_spool_rs/sid
MODULE := target/release/pbx_spool_rs.so

.PHONY: all module install deb docs-xml samples check test upstream-test demo env host-deps fuzz bench soak clean \
	asterisk-src test-matrix

all: module

module:
	$(CARGO) build --release --workspace
	cp target/release/libpbx_spool_rs.so $(MODULE)

install: module samples
	install -d $(DESTDIR)$(ASTMODDIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(ASTMODDIR)/pbx_spool_rs.so
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 target/release/callfile $(DESTDIR)$(BINDIR)/callfile
	install -d $(DESTDIR)$(ASTDATADIR)/documentation/thirdparty
	install -m 0644 documentation/pbx_spool_rs-en_US.xml $(DESTDIR)$(ASTDATADIR)/documentation/thirdparty/
	@echo "Asterisk reads documentation/thirdparty at startup: restart it for 'config show help pbx_spool_rs',"
	@echo "'manager show command SpoolStatus' and 'manager show event SpoolFinished'."

# dpkg-shlibdeps, dpkg-gencontrol and dpkg-deb over the release build; depends on the ABI of the Asterisk
# built against (packaging/debian/build-deb.sh says how). Prints the .deb's path. Like `module`, it needs no
# chroot and no root where asterisk-dev is installed; elsewhere it builds for the chroot's (make env).
deb:
	bash packaging/debian/build-deb.sh

# The XML documentation is rendered from the core's declarations (commands, events, config keys); a unit
# test fails while the committed file differs.
docs-xml:
	PBX_SPOOL_RS_BLESS_DOCS=1 $(CARGO) test --release -p pbx_spool_core xmldoc::tests::the_committed_file_is_the_rendered_one

# The commented sample configuration, owned by the user Asterisk runs as (asterisk.conf's runuser/rungroup,
# else the owner of ASTETCDIR), mode 0640; an existing pbx_spool_rs.conf is never overwritten.
samples:
	sh configs/install-sample-config.sh configs/pbx_spool_rs.conf.sample \
		$(DESTDIR)$(ASTETCDIR)/pbx_spool_rs.conf $(DESTDIR)$(ASTETCDIR)/asterisk.conf

# No Asterisk needed except for clippy and rustdoc of the module itself, whose build script needs the
# headers: those come from the chroot (`make env`), so `check` depends on it.
check: env
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --no-deps --workspace --document-private-items
	$(CARGO) test --release -p pbx_spool_core -p callfile -p pbx_spool_rs_harness

host-deps:
	bash tests/scripts/host-deps.sh

env: host-deps
	bash tests/scripts/env.sh

# The upstream tests run after the integration suite, never beside it: the Asterisk testsuite kills
# every Asterisk it can see (tests/upstream/run.sh confines it to a PID namespace as well).
# The packaging test installs the package `make deb` builds (PBX_SPOOL_RS_DEB) into a copy of the chroot.
test: env
	$(CARGO) build --release --workspace
	deb=$$(bash packaging/debian/build-deb.sh --no-build) && \
	PBX_SPOOL_RS_DEB=$$deb PBX_SPOOL_RS_REQUIRE_ENV=1 PBX_SPOOL_RS_SO=$(CURDIR)/target/release/libpbx_spool_rs.so \
		$(CARGO) test --release --workspace
	$(MAKE) --no-print-directory upstream-test

SPOOLER ?= rust
upstream-test: env
	$(CARGO) build --release --workspace
	SPOOLER=$(SPOOLER) PBX_SPOOL_RS_SO=$(CURDIR)/target/release/libpbx_spool_rs.so bash tests/upstream/run.sh

# Source-built Asterisks for the version matrix, each cached in the chroot under /opt/asterisk-<version>.
ASTERISK_SRC_VERSIONS ?= 20.20.1 23.4.1
asterisk-src: env
	for v in $(ASTERISK_SRC_VERSIONS); do bash tests/scripts/asterisk-src.sh $$v || exit 1; done

# pbx_spool_rs built against each version's own headers (target/asterisk-<version>/), the integration
# suite run against that Asterisk, one table at the end. "22" is the chroot's packaged Asterisk.
MATRIX_VERSIONS ?= 20.20.1 22 23.4.1
test-matrix: env
	bash tests/scripts/matrix.sh $(MATRIX_VERSIONS)

demo: env
	$(CARGO) build --release --workspace
	PBX_SPOOL_RS_SO=$(CURDIR)/target/release/libpbx_spool_rs.so $(CARGO) test --release -p pbx_spool_rs --test testsuite demo:: -- --ignored --nocapture --test-threads=1

# Stock pbx_spool.so, then pbx_spool_rs.so, on the same workloads; prints the tables of BENCHMARKS.md.
# Not part of `make test` (10-25 minutes, mostly waiting on stock pbx_spool).
bench: env
	$(CARGO) build --release --workspace
	PBX_SPOOL_RS_SO=$(CURDIR)/target/release/libpbx_spool_rs.so $(CARGO) test --release -p pbx_spool_rs --test bench -- \
		--ignored --nocapture --test-threads=1

# A steady stream of call files with random faults for SOAK_MINUTES (default 30), ending with an exact account.
SOAK_MINUTES ?= 30
soak: env
	$(CARGO) build --release --workspace
	SOAK_MINUTES=$(SOAK_MINUTES) PBX_SPOOL_RS_SO=$(CURDIR)/target/release/libpbx_spool_rs.so $(CARGO) test --release -p pbx_spool_rs \
		--test soak -- --ignored --nocapture --test-threads=1

# Fuzz the call-file parser and the policy (not part of `make test`). cargo-fuzz needs nightly
# features; this machine has only the stable toolchain, so RUSTC_BOOTSTRAP=1 enables them.
FUZZ_SECONDS ?= 600
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	mkdir -p fuzz/corpus/callfile_parse && cp -n fuzz/seeds/* fuzz/corpus/callfile_parse/
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run callfile_parse corpus/callfile_parse -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=8192

clean:
	$(CARGO) clean
