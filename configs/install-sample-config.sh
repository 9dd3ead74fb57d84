#!/bin/sh
# Installs the sample pbx_spool_rs.conf (make samples, make install) so that Asterisk can read it:
# owned by the user and group Asterisk runs as, mode 0640 (other users need not read it). Never
# replaces an existing file.
#
# The user and group: runuser/rungroup in the [options] of asterisk.conf, else the owner and group of
# the directory the file goes in (Debian's /etc/asterisk belongs to asterisk:asterisk, and Debian sets
# the user on the command line, `asterisk -U asterisk`, not in asterisk.conf).
#
# Usage: install-sample-config.sh SAMPLE TARGET ASTERISK_CONF
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 SAMPLE TARGET ASTERISK_CONF" >&2
    exit 2
fi
sample=$1
target=$2
asterisk_conf=$3
dir=$(dirname "$target")

install -d "$dir"
if [ -e "$target" ]; then
    echo "$target exists: left as it is (owner $(stat -c %U:%G "$target"), mode $(stat -c %a "$target"))"
    exit 0
fi

# The last value of key $1 (`key = value` or `key => value`) in asterisk.conf's [options], comments cut.
option() {
    [ -r "$asterisk_conf" ] || return 0
    sed -n '/^[[:space:]]*\[options\]/,/^[[:space:]]*\[/p' "$asterisk_conf" | sed 's/;.*//' |
        sed -n "s/^[[:space:]]*$1[[:space:]]*=>\{0,1\}[[:space:]]*\([^[:space:]]\{1,\}\).*/\1/p" | tail -n 1
}

user=$(option runuser)
group=$(option rungroup)
if [ -n "$user" ]; then
    if ! id -u "$user" >/dev/null 2>&1; then
        echo "$asterisk_conf says runuser = $user, but there is no such user: $target not installed" >&2
        exit 1
    fi
    group=${group:-$(id -gn "$user")}
    source="runuser/rungroup in $asterisk_conf"
else
    user=$(stat -c %u "$dir")
    group=${group:-$(stat -c %g "$dir")}
    source="the owner of $dir"
fi

if [ "$(id -u)" -ne 0 ]; then
    install -m 0640 "$sample" "$target"
    echo "$target installed as $(id -un) (not root, so not given to Asterisk's user);" \
        "Asterisk must be able to read it: chown $user:$group $target"
    exit 0
fi
install -m 0640 -o "$user" -g "$group" "$sample" "$target"
echo "$target installed, owner $(stat -c %U:%G "$target") ($source), mode 0640;" \
    "if Asterisk runs as another user (asterisk -U), give it the file: chown USER:GROUP $target"
