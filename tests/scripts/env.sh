#!/usr/bin/env bash
# Creates (once) and caches the Debian sid chroot holding the real Asterisk 22 and its headers that the
# build and the integration suite use. Idempotent, safe to run twice at once (flock), builds into a
# temporary directory and renames it into place only when complete, so a half-built chroot is never used.
#
#   PBX_SPOOL_RS_ENV   where the chroot lives (default /var/cache/pbx_spool_rs/sid)
#   DEBIAN_MIRROR      mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

ENV_DIR=${PBX_SPOOL_RS_ENV:-/var/cache/pbx_spool_rs/sid}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
MARKER="$ENV_DIR/.pbx_spool_rs-env-complete"

say() { printf 'env: %s\n' "$*" >&2; }
die() { printf 'env: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "creating the Asterisk chroot needs root (debootstrap and chroot); run as root."

if [ -f "$MARKER" ]; then
    exit 0
fi

need_host_packages() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v unshare >/dev/null || missing+=(util-linux)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing host packages: ${missing[*]}"
        apt-get update -qq || die "apt-get update failed; the Debian mirror is unreachable."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || die "could not install ${missing[*]} with apt-get."
    fi
}

mkdir -p "$(dirname "$ENV_DIR")"
exec 9>"$ENV_DIR.lock"
flock 9
# Another run may have finished while we waited for the lock.
[ -f "$MARKER" ] && exit 0

need_host_packages
TMP_DIR="$ENV_DIR.partial.$$"
rm -rf "$TMP_DIR"
trap 'rm -rf "$TMP_DIR"' EXIT
say "creating Debian sid chroot with asterisk and asterisk-dev in $ENV_DIR (about a minute)"
if ! debootstrap --variant=minbase --include=asterisk,asterisk-dev sid "$TMP_DIR" "$MIRROR" \
        >"$TMP_DIR.log" 2>&1; then
    tail -n 20 "$TMP_DIR.log" >&2
    die "debootstrap of Debian sid from $MIRROR failed (log above); check that the mirror is reachable."
fi
rm -f "$TMP_DIR.log"
[ -f "$TMP_DIR/usr/include/asterisk.h" ] || die "the chroot has no asterisk.h; asterisk-dev did not install."
[ -x "$TMP_DIR/usr/sbin/asterisk" ] || die "the chroot has no /usr/sbin/asterisk."
rm -rf "$ENV_DIR"
mv "$TMP_DIR" "$ENV_DIR"
trap - EXIT
chroot "$ENV_DIR" dpkg-query -W -f='${Version}\n' asterisk > "$MARKER"
say "ready: $ENV_DIR (asterisk $(cat "$MARKER"))"
