#!/usr/bin/env bash
# Builds (once) and caches Asterisk VERSION from its release tarball inside the project's Debian sid chroot,
# installed under /opt/asterisk-VERSION (as seen from inside the chroot), beside the packaged Asterisk 22,
# which is never touched. Used by the version matrix (`make test-matrix`, `make asterisk-src`).
#
#   tests/scripts/asterisk-src.sh VERSION      e.g. 20.20.1 or 23.4.1
#
# Idempotent and safe to run twice at once (flock per version): the build happens in a temporary
# directory and the finished install is renamed into place with its completion marker already inside,
# so a half-built Asterisk is never used. No network is needed except for Debian's build dependencies,
# installed into the chroot with apt-get once: pjproject, jansson and the sound packages, which Asterisk's
# build would otherwise download, are left out (res_pjproject and chan_pjsip are then not built).
#
#   PBX_SPOOL_RS_ENV    the chroot (default /var/cache/pbx_spool_rs/sid; made by env.sh if missing)
#   ASTERISK_SRC_DIR    where asterisk-VERSION.tar.gz is (default ../shared/asterisk-src beside the repo)
#   ASTERISK_BUILD_JOBS make -j (default: the number of CPUs)
set -euo pipefail

VERSION=${1:?usage: asterisk-src.sh VERSION (e.g. 20.20.1)}
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "asterisk-src: bad version '$VERSION'" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ENV_DIR=${PBX_SPOOL_RS_ENV:-/var/cache/pbx_spool_rs/sid}
SRC_DIR=${ASTERISK_SRC_DIR:-$REPO/../shared/asterisk-src}
JOBS=${ASTERISK_BUILD_JOBS:-$(nproc)}
TARBALL="$SRC_DIR/asterisk-$VERSION.tar.gz"
PREFIX="/opt/asterisk-$VERSION"            # inside the chroot
INSTALL="$ENV_DIR$PREFIX"                  # on the host
MARKER="$INSTALL/.pbx_spool_rs-asterisk-complete"
# Debian packages the minimal build needs (see ../shared/asterisk-src/README.md).
BUILD_DEPS=(build-essential libedit-dev libjansson-dev libxml2-dev libsqlite3-dev uuid-dev libssl-dev pkg-config)

say() { printf 'asterisk-src %s: %s\n' "$VERSION" "$*" >&2; }
die() { printf 'asterisk-src %s: error: %s\n' "$VERSION" "$*" >&2; exit 1; }

[ -f "$MARKER" ] && exit 0
[ "$(id -u)" = 0 ] || die "building Asterisk in the chroot needs root (chroot, apt-get); run as root."
[ -f "$TARBALL" ] || die "no $TARBALL (set ASTERISK_SRC_DIR to the folder holding asterisk-$VERSION.tar.gz)."
bash "$HERE/env.sh"

# Runs a command inside the chroot, in a private mount namespace with its own /proc (gone when it exits).
in_chroot() {
    unshare --mount --fork -- sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
        sh "$ENV_DIR" "$ENV_DIR" "$@"
}

# Build dependencies, once per chroot, under their own lock (both versions may get here at once). Only
# packages that are missing are installed. Other test runs use the packaged Asterisk meanwhile: an install
# that would change an asterisk package is refused. A chroot made long ago has a stale package list
# (Debian sid moves daily), so a failed install is retried once after apt-get update.
apt_in_chroot() {
    in_chroot env DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Use-Pty=0 "$@"
}
install_build_deps() {
    exec 8>"$ENV_DIR.build-deps.lock"
    flock 8
    local missing=() pkg plan try
    for pkg in "${BUILD_DEPS[@]}"; do
        in_chroot dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing build dependencies into the chroot: ${missing[*]}"
        local installed=no
        for try in 1 2; do
            if [ "$try" = 2 ]; then
                apt_in_chroot update -qq || die "apt-get update in the chroot failed; is the Debian mirror reachable?"
            fi
            plan=$(apt_in_chroot install -s -y --no-install-recommends "${missing[@]}" 2>&1) || continue
            if printf '%s\n' "$plan" | grep -E '^(Inst|Remv) asterisk' >&2; then
                die "installing ${missing[*]} would change the chroot's packaged Asterisk (above); refusing."
            fi
            if apt_in_chroot install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
                installed=yes
                break
            fi
        done
        [ "$installed" = yes ] || { printf '%s\n' "$plan" | tail -n 5 >&2; die "apt-get cannot install ${missing[*]} in the chroot."; }
    fi
    flock -u 8
}

mkdir -p "$ENV_DIR/opt"
exec 9>"$ENV_DIR.asterisk-$VERSION.lock"
flock 9
# Another run may have finished while we waited for the lock.
[ -f "$MARKER" ] && exit 0

install_build_deps

STAMP="$$.$(date +%s)"
BUILD_INSIDE="/usr/src/asterisk-$VERSION.build.$STAMP"
STAGE_INSIDE="/opt/.asterisk-$VERSION.stage.$STAMP"
BUILD="$ENV_DIR$BUILD_INSIDE"
STAGE="$ENV_DIR$STAGE_INSIDE"
LOG="$ENV_DIR.asterisk-$VERSION.build.log"
cleanup() { rm -rf "$BUILD" "$STAGE"; }
trap cleanup EXIT
mkdir -p "$BUILD" "$STAGE"
tar -xzf "$TARBALL" -C "$BUILD" --strip-components=1

say "building from $TARBALL into $INSTALL (a few minutes; log: $LOG)"
started=$(date +%s)
# configure: no bundled pjproject or jansson (they would be downloaded). menuselect: no sound or music
# packages (downloaded too). Everything else stays as a default source build has it.
if ! in_chroot sh -ec '
    cd "$1"
    ./configure --prefix="$2" --without-pjproject-bundled --without-jansson-bundled
    make menuselect.makeopts
    menuselect/menuselect --disable-category MENUSELECT_CORE_SOUNDS --disable-category MENUSELECT_MOH \
        --disable-category MENUSELECT_EXTRA_SOUNDS menuselect.makeopts
    make -j"$3"
    make install DESTDIR="$4"
    make install-headers DESTDIR="$4"
    make samples DESTDIR="$4"
' sh "$BUILD_INSIDE" "$PREFIX" "$JOBS" "$STAGE_INSIDE" >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "the build failed (last lines above; whole log in $LOG)."
fi

STAGED="$STAGE$PREFIX"
for need in sbin/asterisk include/asterisk.h include/asterisk/buildopts.h lib/asterisk/modules/pbx_spool.so \
        var/lib/asterisk/documentation; do
    [ -e "$STAGED/$need" ] || die "the build installed no $PREFIX/$need."
done
# The marker goes in before the rename, so the install appears complete or not at all.
printf '%s\n' "$VERSION" > "$STAGED/.pbx_spool_rs-asterisk-complete"
rm -rf "$INSTALL"
mv "$STAGED" "$INSTALL"
say "ready: $INSTALL (built in $(( $(date +%s) - started )) s)"
