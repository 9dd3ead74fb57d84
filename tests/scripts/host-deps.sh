#!/usr/bin/env bash
# Installs the build host's packages pbx_spool_rs needs when they are missing: libclang (bindgen),
# a C compiler (the shim), debootstrap and util-linux (the Asterisk chroot and its mount namespace),
# gdb (a failed test's post-mortem: the backtrace of a crashed Asterisk's core, or of a hung one),
# xmllint (the XML documentation checked against Asterisk's appdocsxml.dtd), and dpkg-dev with binutils
# (make deb: dpkg-shlibdeps, dpkg-gencontrol, dpkg-architecture, strip).
set -euo pipefail
missing=()
ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || missing+=(libclang-dev)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v make >/dev/null || missing+=(make)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v unshare >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
command -v gdb >/dev/null || missing+=(gdb)
command -v xmllint >/dev/null || missing+=(libxml2-utils)
command -v dpkg-gencontrol >/dev/null || missing+=(dpkg-dev)
command -v strip >/dev/null || missing+=(binutils)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "host-deps: missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})." >&2
        exit 1
    fi
    echo "host-deps: installing ${missing[*]}" >&2
    apt-get update -qq || { echo "host-deps: apt-get update failed; is the Debian mirror reachable?" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "host-deps: cargo is not on PATH; install Rust (rustup) first." >&2
    exit 1
fi
