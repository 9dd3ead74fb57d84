#!/usr/bin/env bash
# The version matrix: builds pbx_spool_rs against each supported Asterisk's own headers and runs the
# integration suite (and the upstream call-file tests, where tests/upstream/run.sh exists) against that
# Asterisk, one version after the other, then prints one table and a closing "N passed, N failed" line.
# Exits non-zero if anything failed.
#
#   tests/scripts/matrix.sh [VERSION...]    default: 20.20.1 22 23.4.1
#
# "22" is the chroot's packaged Asterisk 22 (Debian's asterisk/asterisk-dev); any other VERSION is built
# from source once by asterisk-src.sh into /opt/asterisk-VERSION inside the chroot. Each version gets its
# own cargo target directory (target/asterisk-VERSION; the packaged 22 uses target/ like `make test`), so
# the builds never overwrite each other. The whole workspace is built there (the module, and the callfile
# tool the suite runs from beside its test binary).
#
#   MATRIX_FILTER      a test-name filter passed to the integration suite (default: every test)
#   MATRIX_UPSTREAM    0 to leave out the upstream call-file tests (default 1 when tests/upstream/run.sh exists)
#   PBX_SPOOL_RS_ENV   the chroot (default /var/cache/pbx_spool_rs/sid)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ENV_DIR=${PBX_SPOOL_RS_ENV:-/var/cache/pbx_spool_rs/sid}
CARGO=${CARGO:-cargo}
VERSIONS=("$@")
[ "${#VERSIONS[@]}" -gt 0 ] || VERSIONS=(20.20.1 22 23.4.1)
OUT="$REPO/target/matrix"
mkdir -p "$OUT"

say() { printf 'matrix: %s\n' "$*" >&2; }

# "N passed; M failed; K ignored" summed over every `test result:` line of a cargo test log.
cargo_counts() {
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed/) p += $(i - 1)
                if ($(i) ~ /^failed/) f += $(i - 1)
                if ($(i) ~ /^ignored/) g += $(i - 1)
            }
        }
        END { printf "%d %d %d\n", p, f, g }' "$1"
}

rows=()
total_passed=0
total_failed=0
status=0

add_row() { # version suite passed failed n/a seconds note
    rows+=("$(printf '%-18s %-12s %7s %7s %5s %8s  %s' "$1" "$2" "$3" "$4" "$5" "$6" "$7")")
    total_passed=$((total_passed + $3))
    total_failed=$((total_failed + $4))
    [ "$4" -eq 0 ] || status=1
}

for version in "${VERSIONS[@]}"; do
    if [ "$version" = 22 ]; then
        label="22 (packaged)"
        prefix=""
        include="$ENV_DIR/usr/include"
        target="$REPO/target"
    else
        label="$version (source)"
        prefix="/opt/asterisk-$version"
        include="$ENV_DIR$prefix/include"
        target="$REPO/target/asterisk-$version"
        if ! bash "$HERE/asterisk-src.sh" "$version"; then
            add_row "$label" build 0 1 0 0 "Asterisk $version could not be built"
            continue
        fi
    fi
    so="$target/release/libpbx_spool_rs.so"
    log="$OUT/integration-$version.log"
    na="$OUT/not-applicable-$version.tsv"
    : > "$na"

    say "Asterisk $label: building pbx_spool_rs against $include"
    started=$(date +%s)
    if ! CARGO_TARGET_DIR="$target" ASTERISK_INCLUDE_DIR="$include" \
            "$CARGO" build --release --workspace >"$OUT/build-$version.log" 2>&1; then
        tail -n 30 "$OUT/build-$version.log" >&2
        add_row "$label" build 0 1 0 $(( $(date +%s) - started )) "pbx_spool_rs did not build (target/matrix/build-$version.log)"
        continue
    fi
    built_in=$(( $(date +%s) - started ))

    say "Asterisk $label: integration suite (log: $log)"
    started=$(date +%s)
    # shellcheck disable=SC2086 # MATRIX_FILTER is one optional word
    PBX_SPOOL_RS_REQUIRE_ENV=1 CARGO_TARGET_DIR="$target" ASTERISK_INCLUDE_DIR="$include" PBX_SPOOL_RS_SO="$so" \
        PBX_SPOOL_RS_ASTERISK="$prefix" PBX_SPOOL_RS_NOT_APPLICABLE="$na" \
        "$CARGO" test --release -p pbx_spool_rs --test testsuite ${MATRIX_FILTER:-} >"$log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - started ))
    read -r passed failed _ignored < <(cargo_counts "$log")
    n_na=$(wc -l < "$na")
    note="module built in ${built_in} s"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
        note="$note; cargo test exited $rc (see target/matrix/integration-$version.log)"
    elif [ "$failed" -gt 0 ]; then
        note="$note; failed: $(grep -E '^    [a-z0-9_:]+$' "$log" | tr -d ' ' | paste -sd' ' | cut -c1-200)"
    fi
    [ "$n_na" -eq 0 ] || note="$note; n/a: $(cut -f1 "$na" | paste -sd' ')"
    add_row "$label" integration "$passed" "$failed" "$n_na" "$seconds" "$note"

    # The Asterisk testsuite's own call-file tests. tests/upstream/run.sh must know which Asterisk to
    # run (PBX_SPOOL_RS_ASTERISK); until it does, it is run for the packaged 22 only, and the table
    # says so for the others rather than testing the wrong Asterisk.
    upstream="$REPO/tests/upstream/run.sh"
    if [ "${MATRIX_UPSTREAM:-1}" != 0 ] && [ -f "$upstream" ]; then
        ulog="$OUT/upstream-$version.log"
        if [ -n "$prefix" ] && ! grep -q PBX_SPOOL_RS_ASTERISK "$upstream"; then
            add_row "$label" upstream 0 0 0 0 "not run: tests/upstream/run.sh does not read PBX_SPOOL_RS_ASTERISK yet"
        else
            say "Asterisk $label: upstream call-file tests (log: $ulog)"
            started=$(date +%s)
            PBX_SPOOL_RS_SO="$so" PBX_SPOOL_RS_ASTERISK="$prefix" bash "$upstream" >"$ulog" 2>&1
            rc=$?
            seconds=$(( $(date +%s) - started ))
            line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ulog" | tail -n 1)
            passed=$(printf '%s' "$line" | awk '{print $1+0}')
            failed=$(printf '%s' "$line" | awk '{print $3+0}')
            note=""
            if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
                failed=1
                note="run.sh exited $rc (see target/matrix/upstream-$version.log)"
            fi
            add_row "$label" upstream "$passed" "$failed" 0 "$seconds" "$note"
        fi
    fi
done

echo
printf '%-18s %-12s %7s %7s %5s %8s  %s\n' Asterisk suite passed failed n/a seconds notes
for row in "${rows[@]}"; do
    printf '%s\n' "$row"
done
for version in "${VERSIONS[@]}"; do
    na="$OUT/not-applicable-$version.tsv"
    [ -s "$na" ] || continue
    echo
    echo "Not applicable on Asterisk $version (counted as passed: each test checked what this Asterisk lacks and said why):"
    sed 's/^/  /; s/\t/: /' "$na"
done
echo
echo "matrix: $total_passed passed, $total_failed failed"
exit "$status"
