#!/usr/bin/env bash
# valgrind memcheck of the pure stages: `examples/pure_pipeline.rs` parses every fixture,
# relocates it against Linux 6.1's BTF (tests/fixtures/btf/linux-6.1.btf), disassembles the
# result and dumps each object's BTF as C and raw. Fails on any memcheck error or definite
# leak. `scripts/valgrind.sh --vmlinux-h [DIR]` also dumps all of 6.1 as C (minutes);
# extra arguments go to the example (a directory of other objects to use instead).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
cargo build -q --example pure_pipeline
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
if valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --track-origins=yes -q ./target/debug/examples/pure_pipeline "$@" >"$log" 2>&1; then
    rc=0
else
    rc=$?
fi
tail -1 "$log"
grep -E '^==[0-9]+==' "$log" | head -50 || true
echo "valgrind memcheck: $([ $rc = 0 ] && echo "no errors" || echo "FAILED (exit $rc)") in $(( $(date +%s) - start )) s"
exit $rc
