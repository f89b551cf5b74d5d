#!/usr/bin/env bash
# Runs the whole test suite as an unprivileged user: builds every test binary as root, then
# runs each as uid/gid 65534 (nobody) with no capabilities at all (setpriv), from its
# package's directory as cargo would. Passes when every binary passes; the privileged tests
# must skip, each printing `SKIPPED <test>: <why>`. Prints per binary the tests run and
# skipped, and every distinct skip reason. Doc tests are not run (rustdoc would rebuild as
# nobody).
#
#   scripts/unprivileged.sh [FILTER]     FILTER: a test-name filter passed to every binary
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" != 0 ]; then
    echo "run as root: the script builds as root, then drops to uid 65534 for the tests"
    exit 1
fi
command -v setpriv >/dev/null || { echo "setpriv (util-linux) is missing"; exit 1; }

echo "building test binaries..."
mapfile -t artifacts < <(cargo test --workspace --no-run --message-format=json 2>/dev/null |
    grep '"profile":{[^}]*"test":true' | grep '"executable":"/' |
    sed -E 's/.*"manifest_path":"([^"]*)".*"executable":"([^"]*)".*/\1 \2/' | sort -u -k2)
[ ${#artifacts[@]} -gt 0 ] || { echo "no test binaries"; exit 1; }

# The binaries and fixtures must be readable, the temp dirs writable, by nobody.
chmod -R a+rX "$root/target/debug/deps" "$root/tests" 2>/dev/null || true
scratch=$(mktemp -d)
chmod 1777 "$scratch"
trap 'rm -rf "$scratch"' EXIT

failed=0
total_run=0
total_skipped=0
reasons=$(mktemp)
printf '%-40s %6s %6s %8s\n' binary passed failed skipped
for a in "${artifacts[@]}"; do
    manifest=${a%% *}
    exe=${a#* }
    name=$(basename "$exe" | sed -E 's/-[0-9a-f]{16}$//')
    pkgdir=$(dirname "$manifest")
    [ "$pkgdir" = "$root" ] || name="$(basename "$pkgdir")/$name"
    log="$scratch/${name//\//_}.log"
    rc=0
    (cd "$(dirname "$manifest")" &&
        setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
            env HOME="$scratch" TMPDIR="$scratch" CARGO_TARGET_TMPDIR="$scratch" \
            "$exe" --show-output ${1:+"$1"} >"$log" 2>&1) || rc=$?
    passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -oE '[0-9]+' | tail -1)
    nfail=$(grep -oE '[0-9]+ failed' "$log" | grep -oE '[0-9]+' | tail -1)
    # Tests whose captured output says SKIPPED (shown by --show-output under their name).
    skipped=$(awk '/^---- .* stdout ----$/ { t = $2 } /SKIPPED/ && t != "" { print t }' "$log" | sort -u | wc -l)
    # Every skip must give its reason: `SKIPPED <what>: <why>`.
    if grep -E 'SKIPPED' "$log" | grep -vqE 'SKIPPED [^ ]+: .+'; then
        echo "$name: a skip without a reason:"
        grep -E 'SKIPPED' "$log" | grep -vE 'SKIPPED [^ ]+: .+' | head -5
        failed=1
    fi
    grep -oE 'SKIPPED [^ ]+: .+' "$log" | sed -E 's/^SKIPPED [^ ]+: //' >>"$reasons" || true
    printf '%-40s %6s %6s %8s\n' "$name" "${passed:-?}" "${nfail:-?}" "$skipped"
    total_run=$((total_run + ${passed:-0}))
    total_skipped=$((total_skipped + skipped))
    if [ "$rc" != 0 ]; then
        failed=1
        grep -E '^test .* FAILED$|panicked at' "$log" | head -20 | sed 's/^/    /'
        cp "$log" "$root/target/unprivileged-${name//\//_}.log"
        echo "    (full log: target/unprivileged-${name//\//_}.log)"
    fi
done
echo
echo "skip reasons:"
sort "$reasons" | uniq -c | sort -rn | sed 's/^/  /'
rm -f "$reasons"
echo "unprivileged run: $total_run tests passed ($total_skipped skipped for privileges);" \
    "$([ $failed = 0 ] && echo ok || echo FAILED)"
exit $failed
