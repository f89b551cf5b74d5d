#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ and prints, per target, the executions and crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each TARGET (default: all) for SECONDS
#                                           (default 15: the CI smoke run); exit 1 on a crash
#   scripts/fuzz.sh --cmin [TARGET...]      minimize fuzz/corpus-work/T + fuzz/corpus/T into
#                                           fuzz/corpus/T (the committed corpus: inputs of at
#                                           most FUZZ_COMMIT_MAX bytes, default 4096)
#
# Runs start from the committed corpus (fuzz/corpus/T) and write what they find into
# fuzz/corpus-work/T (git-ignored), so the checkout is not modified. Crashes land in
# fuzz/artifacts/T/. Environment: FUZZ_ARGS (extra libFuzzer flags, e.g. `-jobs=2`),
# FUZZ_SANITIZER (default none: the fuzzed modules hold no unsafe code, which
# scripts/unsafe-audit.sh enforces; `address` for ASan). Needs `cargo +nightly` and
# `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

all=(object btf btf_ext core dump_c verifier_log disasm relocate)
cmin=0
secs=15
if [ "${1:-}" = --cmin ]; then
    cmin=1
    shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

echo "building fuzz targets (cargo +nightly fuzz build)..."
cargo +nightly fuzz build -O --debug-assertions -s "${FUZZ_SANITIZER:-none}" >/dev/null 2>build.log || {
    cat build.log
    exit 1
}
bin=target/x86_64-unknown-linux-gnu/release

if [ $cmin = 1 ]; then
    # The committed corpus keeps the inputs of at most FUZZ_COMMIT_MAX bytes (default 4096)
    # that add coverage; the long runs' full corpora stay in corpus-work/ (100+ MB).
    cap=${FUZZ_COMMIT_MAX:-4096}
    for t in "${targets[@]}"; do
        mkdir -p "corpus/$t" "corpus-work/$t"
        all=$(mktemp -d) small=$(mktemp -d) new=$(mktemp -d)
        "$bin/$t" -merge=1 -rss_limit_mb=4096 "$all" "corpus/$t" "corpus-work/$t" 2>"cmin-$t.log" ||
            { tail -20 "cmin-$t.log"; exit 1; }
        find "$all" -type f -size -$((cap + 1))c -exec cp {} "$small"/ \;
        "$bin/$t" -merge=1 -rss_limit_mb=4096 "$new" "$small" 2>>"cmin-$t.log" ||
            { tail -20 "cmin-$t.log"; exit 1; }
        rm -rf "corpus/$t" "$all" "$small"
        mv "$new" "corpus/$t"
        chmod 755 "corpus/$t"
        echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(du -sh --apparent-size "corpus/$t" | cut -f1)"
    done
    rm -f cmin-*.log
    exit 0
fi

# Per-target input size limits: BTF walks cost per type, so small blobs run ~50x faster and
# reach the same code; objects need room for a real ELF.
max_len() {
    case $1 in
        btf | dump_c | btf_ext) echo 8192 ;;
        verifier_log | disasm) echo 4096 ;;
        *) echo 65536 ;;
    esac
}

failed=0
printf '%-14s %12s %10s %8s  %s\n' target executions exec/s crashes note
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "artifacts/$t" "corpus/$t"
    log=$(mktemp)
    rc=0
    # shellcheck disable=SC2086
    "$bin/$t" "corpus-work/$t" "corpus/$t" \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    speed=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    crashes=$(grep -cE '^artifact_prefix=|Test unit written to' "$log" || true)
    note=
    if [ "$rc" != 0 ]; then
        failed=1
        note="exit $rc: $(grep -m1 -E 'ERROR: libFuzzer|panicked at|SUMMARY' "$log" || tail -1 "$log")"
        cp "$log" "artifacts/$t/last-failure.log"
        [ "$crashes" = 0 ] && crashes=1
    fi
    printf '%-14s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "$crashes" "$note"
    rm -f "$log"
done
exit $failed
