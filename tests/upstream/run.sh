#!/usr/bin/env bash
# Runs the Asterisk project's own call-file tests (../shared/upstream-testsuite: a trimmed snapshot of
# github.com/asterisk/testsuite with its seven outgoing-spool tests) against pbx_spool_rs.so, or with
# SPOOLER=stock against stock pbx_spool.so, in the project's Asterisk chroot.
#
#   SPOOLER            rust (default) or stock
#   UPSTREAM_TESTS     space-separated test names (default: all seven), e.g. "tests/pbx/call-files"
#   UPSTREAM_DIR       where the snapshot's tarballs are (default: ../shared/upstream-testsuite)
#   PBX_SPOOL_RS_SO    the module to test (default: target/release/libpbx_spool_rs.so)
#   PBX_SPOOL_RS_ENV   the chroot (default /var/cache/pbx_spool_rs/sid, made by tests/scripts/env.sh)
#   PBX_SPOOL_RS_ASTERISK  a source-built Asterisk inside the chroot (e.g. /opt/asterisk-20.20.1, made by
#                      tests/scripts/asterisk-src.sh); unset: the chroot's packaged Asterisk 22
#
# The testsuite kills every `asterisk` process it can see before each test (`killall -9 asterisk`). It
# runs here in its own PID namespace, so the only Asterisk processes it can see are its own: nothing
# else on the machine (the integration suite's instances, an admin's Asterisk) can be hit. Its Python
# dependencies are installed once into the chroot, from Debian, and remembered by a marker file.
#
# Prints each test's verdict and a closing "N passed, N failed" line; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ENV_DIR=${PBX_SPOOL_RS_ENV:-/var/cache/pbx_spool_rs/sid}
UPSTREAM_DIR=${UPSTREAM_DIR:-$repo/../shared/upstream-testsuite}
SPOOLER=${SPOOLER:-rust}
SO=${PBX_SPOOL_RS_SO:-$repo/target/release/libpbx_spool_rs.so}
ALL_TESTS="tests/pbx/call-files tests/pbx/callerid_match tests/pbx/create_call_files
tests/pbx/call_file_retries_archive tests/pbx/call_file_retries_alwaysdelete tests/pbx/call_file_retries_fail
tests/pbx/call_file_retries_success"
TESTS=${UPSTREAM_TESTS:-$ALL_TESTS}
# Debian's packages for what the testsuite imports (pip cannot reach the network inside the chroot).
PY_PACKAGES="python3-twisted python3-yaml python3-lxml python3-construct python3-requests python3-netifaces
python3-setuptools python3-pip python3-numpy python3-autobahn python3-service-identity python3-openssl
python3-scapy python3-websocket python-is-python3 psmisc"

say() { printf 'upstream-test: %s\n' "$*" >&2; }
die() { printf 'upstream-test: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (chroot and namespaces)."
[ -f "$ENV_DIR/.pbx_spool_rs-env-complete" ] || die "no Asterisk chroot at $ENV_DIR: run 'make env' first."
for f in asterisk-testsuite-callfiles.tar.gz starpy.tar.gz; do
    [ -f "$UPSTREAM_DIR/$f" ] || die "$UPSTREAM_DIR/$f is missing (the upstream testsuite snapshot)."
done
case "$SPOOLER" in
    rust) [ -f "$SO" ] || die "$SO does not exist: build it first (make)." ;;
    stock) ;;
    *) die "SPOOLER must be rust or stock, not '$SPOOLER'." ;;
esac

# Runs a command inside the chroot, in private mount and PID namespaces with /proc and /dev mounted.
in_chroot() {
    unshare --mount --pid --fork --kill-child -- sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" &&
        mount --rbind /dev "$root/dev" &&
        exec chroot "$root" "$@"' sh "$ENV_DIR" "$@"
}

# ----- dependencies, once per chroot and snapshot ---------------------------------------------------
deps_key=$( { echo "$PY_PACKAGES"; sha256sum "$UPSTREAM_DIR/starpy.tar.gz" | cut -d' ' -f1; } | sha256sum | cut -d' ' -f1)
marker="$ENV_DIR/.upstream-testsuite-deps"
exec 9>"$ENV_DIR.upstream.lock"
flock 9
if [ "$(cat "$marker" 2>/dev/null)" != "$deps_key" ]; then
    say "installing the testsuite's Python dependencies into the chroot (once)"
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! in_chroot sh -c "apt-get -o Acquire::Check-Valid-Until=false update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $(echo $PY_PACKAGES)" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get inside the chroot failed (log above)."
    fi
    rm -rf "$ENV_DIR/opt/starpy"
    mkdir -p "$ENV_DIR/opt/starpy"
    tar -xzf "$UPSTREAM_DIR/starpy.tar.gz" -C "$ENV_DIR/opt/starpy" --strip-components=1
    if ! in_chroot pip install --break-system-packages --no-build-isolation --no-deps /opt/starpy >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "installing starpy inside the chroot failed (log above)."
    fi
    rm -f "$log"
    echo "$deps_key" >"$marker"
fi

# ----- a fresh copy of the testsuite for this run ---------------------------------------------------
run_inside="/tmp/upstream-testsuite.$$"
run_dir="$ENV_DIR$run_inside"
moddir_inside=/usr/lib/x86_64-linux-gnu/asterisk/modules
# The testsuite runs /usr/sbin/asterisk with /etc/asterisk, unless AST_TEST_ROOT names a root holding
# usr/sbin/asterisk and etc/asterisk (and the directories asterisk.conf names, below that root). For a
# source-built Asterisk such a root is made of links into its prefix, with an asterisk.conf whose
# [directories] is a real section (a source install writes it as a template, `[directories](!)`).
ASTERISK_PREFIX=${PBX_SPOOL_RS_ASTERISK:-}
test_root_inside=""
if [ -n "$ASTERISK_PREFIX" ]; then
    [ -x "$ENV_DIR$ASTERISK_PREFIX/sbin/asterisk" ] || die "no Asterisk at $ASTERISK_PREFIX in the chroot (make asterisk-src)."
    moddir_inside="$ASTERISK_PREFIX/lib/asterisk/modules"
    test_root_inside="/tmp/ut$$"
    test_root="$ENV_DIR$test_root_inside"
    rm -rf "$test_root"
    mkdir -p "$test_root/usr/sbin" "$test_root/etc/asterisk" "$test_root$(dirname "$ASTERISK_PREFIX")" "$test_root/tmp"
    ln -s "$ASTERISK_PREFIX/sbin/asterisk" "$test_root/usr/sbin/asterisk"
    ln -s "$ASTERISK_PREFIX" "$test_root$ASTERISK_PREFIX"
    for f in "$ENV_DIR$ASTERISK_PREFIX"/etc/asterisk/*; do
        [ "$(basename "$f")" = asterisk.conf ] || ln -s "${f#"$ENV_DIR"}" "$test_root/etc/asterisk/"
    done
    # astetcdir as in a packaged install: tests copy files into <instance>/etc/ by that name.
    sed -e 's/^\[directories\](!)/[directories]/' -e 's|^astetcdir *=>.*|astetcdir => /etc/asterisk|' \
        "$ENV_DIR$ASTERISK_PREFIX/etc/asterisk/asterisk.conf" >"$test_root/etc/asterisk/asterisk.conf"
fi
installed_so=""
# Each test's Asterisk lives under /tmp/asterisk-testsuite/<hash>/run_N in the chroot; this run's are the
# ones newer than this stamp.
instances="$ENV_DIR/tmp/asterisk-testsuite"
[ -n "$test_root_inside" ] && instances="$ENV_DIR$test_root_inside/tmp"
stamp="$ENV_DIR/tmp/upstream-testsuite.$$.stamp"
cleanup() {
    [ -n "$installed_so" ] && rm -f "$installed_so"
    [ -n "$test_root_inside" ] && [ -z "${UPSTREAM_KEEP:-}" ] && rm -rf "$ENV_DIR$test_root_inside"
    if [ -z "${UPSTREAM_KEEP:-}" ]; then
        [ -d "$instances" ] && find "$instances" -mindepth 2 -maxdepth 2 -name 'run_*' -newer "$stamp" \
            -exec rm -rf {} + 2>/dev/null
        rm -rf "$run_dir"
    fi
    rm -f "$stamp" "$stamp.test"
}
trap cleanup EXIT
touch "$stamp"
rm -rf "$run_dir"
mkdir -p "$run_dir"
tar -xzf "$UPSTREAM_DIR/asterisk-testsuite-callfiles.tar.gz" -C "$run_dir" --strip-components=1
[ -f "$run_dir/runtests.py" ] || die "the snapshot has no runtests.py at its top."

so_name=none
if [ "$SPOOLER" = rust ]; then
    # The testsuite's Asterisk loads modules from the system's module directory; a uniquely named copy
    # keeps runs at the same time (and the stock pbx_spool.so) apart.
    so_name="pbx_spool_rs_upstream_$$.so"
    installed_so="$ENV_DIR$moddir_inside/$so_name"
    install -m 0755 "$SO" "$installed_so"
    printf 'noload => pbx_spool.so\nload => %s\n' "$so_name" >>"$run_dir/configs/modules.conf.inc"
    # The tests declare a dependency on pbx_spool; its .so stays installed (noload keeps it unloaded).
fi

say "running $(echo "$TESTS" | wc -w) upstream test(s) against $([ "$SPOOLER" = rust ] && echo pbx_spool_rs.so || echo 'stock pbx_spool.so')"
passed=0
failed=0
for t in $TESTS; do
    out="$run_dir/$(echo "$t" | tr / _).out"
    touch "$stamp.test"
    start=$(date +%s)
    in_chroot env ${test_root_inside:+AST_TEST_ROOT="$test_root_inside"} \
        sh -c "cd '$run_inside' && exec python3 ./runtests.py -t '$t'" >"$out" 2>&1 || true
    took=$(( $(date +%s) - start ))
    logs=$(find "$instances" -name full.txt -path '*/ast1/*' -newer "$stamp.test" 2>/dev/null | sort)
    verdict=FAIL
    why=""
    if ! grep -q "^Test $t passed" "$out"; then
        why="runtests.py did not report it passed"
    elif [ "$SPOOLER" = rust ] && { [ -z "$logs" ] || ! grep -q "Loading $so_name" $logs; }; then
        # A pass proves nothing about pbx_spool_rs unless its Asterisk really loaded it.
        why="it passed, but its Asterisk log does not show pbx_spool_rs being loaded"
    else
        verdict=PASS
    fi
    printf '  %s  %-45s %4ss%s\n' "$verdict" "$t" "$took" "${why:+  ($why)}"
    if [ "$verdict" = PASS ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "----- runtests.py output for $t (last 60 lines) -----"
        tail -n 60 "$out"
        for log in $logs; do
            echo "----- ${log#"$ENV_DIR"} (last 40 lines) -----"
            tail -n 40 "$log"
        done
    fi
done
echo
echo "upstream call-file tests against $SPOOLER on Asterisk ${ASTERISK_PREFIX:-22 (packaged)}:"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
