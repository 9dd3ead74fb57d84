#!/usr/bin/env bash
# Builds the Debian package asterisk-pbx-spool-rs (make deb) with dpkg's own tools: dpkg-shlibdeps for the
# shared-library dependencies, dpkg-gencontrol for DEBIAN/control, dpkg-deb for the archive. Prints the
# .deb's path on stdout (and nothing else); progress goes to stderr.
#
# The package is for the packaged Asterisk whose headers the module is built against, as build.rs finds
# them: /usr/include when Asterisk's headers are installed there, else the project's chroot
# (PBX_SPOOL_RS_ENV, default /var/cache/pbx_spool_rs/sid). Like Debian's dh_asterisk, it depends on that
# Asterisk's ABI, asterisk-abi-<AST_BUILDOPT_SUM of asterisk/buildopts.h>, and it checks that the asterisk
# package installed beside those headers provides exactly that (dpkg's status), so the dependency names an
# Asterisk that exists. Nothing is hard-coded.
#
#   build-deb.sh [--no-build]
#     --no-build       package what is built (the test suite does: cargo already built it) instead of
#                      running cargo build --release --workspace first
#   DEB_OUT_DIR        where the .deb goes (default target/debian)
#   PBX_SPOOL_RS_SO    the module to package (default <CARGO_TARGET_DIR or target>/release/libpbx_spool_rs.so)
#   ASTERISK_INCLUDE_DIR  as for build.rs, but only a packaged Asterisk's <root>/usr/include
#   SOURCE_DATE_EPOCH  the changelog's date and the files' newest mtime (default: the last commit's date)
set -euo pipefail

say() { printf 'deb: %s\n' "$*" >&2; }
die() { printf 'deb: error: %s\n' "$*" >&2; exit 1; }

cd "$(dirname "$0")/../.."
ROOT=$PWD
PACKAGING=$ROOT/packaging/debian
PACKAGE=asterisk-pbx-spool-rs
# The Debian revision of a package built from this tree: one packaging per upstream version.
DEBIAN_REVISION=1

build=yes
case "${1:-}" in
    --no-build) build=no ;;
    "") ;;
    *) die "usage: $0 [--no-build]" ;;
esac

for tool in dpkg-deb dpkg-gencontrol dpkg-shlibdeps dpkg-architecture strip gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing: install dpkg-dev and binutils (tests/scripts/host-deps.sh)"
done

# --- the Asterisk the package is for -------------------------------------------------------------------
if [ -n "${ASTERISK_INCLUDE_DIR:-}" ]; then
    # Only a packaged Asterisk's headers, <root>/usr/include, whose <root> has the dpkg status to check.
    asterisk_root=${ASTERISK_INCLUDE_DIR%/}
    asterisk_root=${asterisk_root%/usr/include}
    [ -f "${asterisk_root:-/}/var/lib/dpkg/status" ] && [ "$asterisk_root" != "${ASTERISK_INCLUDE_DIR%/}" ] \
        || die "ASTERISK_INCLUDE_DIR=$ASTERISK_INCLUDE_DIR is not a packaged Asterisk's <root>/usr/include: a package is built against the headers of an installed asterisk-dev, whose dpkg status names the ABI"
    asterisk_root=${asterisk_root:-/}
elif [ -f /usr/include/asterisk.h ]; then
    asterisk_root=/
else
    asterisk_root=${PBX_SPOOL_RS_ENV:-/var/cache/pbx_spool_rs/sid}
fi
buildopts=$asterisk_root/usr/include/asterisk/buildopts.h
[ -f "$buildopts" ] || die "no $buildopts: install asterisk-dev (or make env for the project's chroot)"
abi=$(sed -n 's/^#define[[:space:]]\{1,\}AST_BUILDOPT_SUM[[:space:]]\{1,\}"\([0-9a-f]\{1,\}\)".*/\1/p' "$buildopts")
[ -n "$abi" ] || die "no AST_BUILDOPT_SUM in $buildopts: cannot tell the Asterisk ABI"
provides=$(dpkg-query --admindir="$asterisk_root/var/lib/dpkg" -W -f='${Provides}' asterisk 2>/dev/null) \
    || die "no asterisk package installed in $asterisk_root (dpkg-query --admindir=$asterisk_root/var/lib/dpkg)"
case ", $provides," in
    *", asterisk-abi-$abi,"*) ;;
    *) die "the headers in $buildopts are of ABI $abi, but the asterisk package in $asterisk_root provides '$provides': asterisk-dev and asterisk differ; install matching versions" ;;
esac
asterisk_version=$(dpkg-query --admindir="$asterisk_root/var/lib/dpkg" -W -f='${Version}' asterisk)
say "for asterisk $asterisk_version in $asterisk_root: asterisk-abi-$abi"

# --- what goes in -------------------------------------------------------------------------------------
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "no version in the [workspace.package] of Cargo.toml"
deb_version=$version-$DEBIAN_REVISION
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

if [ "$build" = yes ]; then
    say "cargo build --release --workspace"
    "${CARGO:-cargo}" build --release --workspace >&2
fi
module=${PBX_SPOOL_RS_SO:-${CARGO_TARGET_DIR:-$ROOT/target}/release/libpbx_spool_rs.so}
callfile=${CARGO_TARGET_DIR:-$ROOT/target}/release/callfile
for built in "$module" "$callfile"; do
    [ -f "$built" ] || die "$built is not built: run cargo build --release --workspace (or make deb)"
done

out_dir=${DEB_OUT_DIR:-$ROOT/target/debian}
mkdir -p "$out_dir"
work=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/$PACKAGE
doc=$stage/usr/share/doc/$PACKAGE

# --- the file tree ------------------------------------------------------------------------------------
install -d "$stage/DEBIAN" "$doc" "$stage/usr/share/man/man1"
install -D -m 0644 "$module" "$stage/usr/lib/$multiarch/asterisk/modules/pbx_spool_rs.so"
install -D -m 0755 "$callfile" "$stage/usr/bin/callfile"
# Debian ships binaries stripped (the debug info would be a -dbgsym package).
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/lib/$multiarch/asterisk/modules/pbx_spool_rs.so"
strip --remove-section=.comment --remove-section=.note "$stage/usr/bin/callfile"
install -D -m 0644 documentation/pbx_spool_rs-en_US.xml \
    "$stage/usr/share/asterisk/documentation/thirdparty/pbx_spool_rs-en_US.xml"
# 0644 root:root in the archive; the postinst gives it to asterisk:asterisk, 0640.
install -D -m 0644 configs/pbx_spool_rs.conf.sample "$stage/etc/asterisk/pbx_spool_rs.conf"
echo /etc/asterisk/pbx_spool_rs.conf > "$stage/DEBIAN/conffiles"
install -m 0755 "$PACKAGING/postinst" "$stage/DEBIAN/postinst"

mkdir "$work/man"
"$callfile" generate-man "$work/man" >/dev/null
for page in "$work"/man/*.1; do
    gzip -9n < "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"
done
chmod 0644 "$stage"/usr/share/man/man1/*

install -m 0644 "$PACKAGING/README.Debian" "$PACKAGING/copyright" "$doc/"
gzip -9n < CHANGELOG.md > "$doc/changelog.gz"
# Built from this tree, not uploaded to Debian: no bug to close.
install -D -m 0644 "$PACKAGING/lintian-overrides" "$stage/usr/share/lintian/overrides/$PACKAGE"

# debian/changelog: one entry for this upstream version, dated by SOURCE_DATE_EPOCH.
maintainer=$(sed -n 's/^Maintainer:[[:space:]]*//p' "$PACKAGING/control")
mkdir -p "$work/source/debian"
cat > "$work/source/debian/changelog" <<EOF
$PACKAGE ($deb_version) unstable; urgency=medium

  * pbx_spool_rs $version: see /usr/share/doc/$PACKAGE/changelog.gz.
  * Built for asterisk $asterisk_version
    (asterisk-abi-$abi).

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n < "$work/source/debian/changelog" > "$doc/changelog.Debian.gz"
chmod 0644 "$doc"/*

# --- DEBIAN/control: dpkg-shlibdeps and the ABI as substvars, as dh_shlibdeps and dh_asterisk set them --
cp "$PACKAGING/control" "$work/source/debian/control"
(
    cd "$work/source"
    echo "asterisk:Depends=asterisk-abi-$abi" > debian/substvars
    # The module's Asterisk symbols are resolved by the asterisk binary at load time, not by a library.
    dpkg-shlibdeps -Tdebian/substvars --warnings=1 "$stage/usr/bin/callfile" \
        "$stage/usr/lib/$multiarch/asterisk/modules/pbx_spool_rs.so" >&2
    dpkg-gencontrol -p"$PACKAGE" -P"$stage" -Tdebian/substvars >&2
)
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles"

deb=$out_dir/${PACKAGE}_${deb_version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$work/package.deb" >&2
mv "$work/package.deb" "$deb"
say "built $deb"
echo "$deb"
