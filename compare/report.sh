#!/usr/bin/env bash
# Runs every compare/ benchmark and writes the ratio table for BENCHMARKS.md.
#
#   compare/report.sh [ARGS...]     ARGS go to every bench binary (criterion filters, ...)
#
# Needs root (maps, programs, links, tracefs) and compare's build needs (gcc, make,
# pkg-config, libelf-dev, zlib1g-dev). Each bench prints its ratios and saves them as a
# Markdown fragment under <target>/compare/; this script joins them, with a line about the
# machine, into <target>/compare/table.md and prints it. Every ratio in the table comes from
# this one run. Env: COMPARE_ROUNDS (paired rounds, each bench has its default),
# COMPARE_LOAD_ROUNDS (fresh processes per loader, default 15), COMPARE_LOAD_OBJECTS
# (colon-separated objects for the whole-tool load), UPDATE_BENCHMARKS_MD=1 (also replace the
# table between the markers in BENCHMARKS.md).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$target/compare"
rm -f "$target"/compare/*.md
cargo bench -p compare -- "$@"
out=$target/compare/table.md
{
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on Linux $(uname -r), $(nproc) CPUs ($cpu), $(rustc --version)."
    echo
    printf '| figure | measured | target | met | note |\n|---|---|---|---|---|\n'
    for f in vmlinux_btf load maps attach ringbuf; do
        if [ -s "$target/compare/$f.md" ]; then
            cat "$target/compare/$f.md"
        else
            echo "| $f | not run (see the bench's output) | | | |"
        fi
    done
} >"$out"
echo
cat "$out"
echo "(written to $out)"
if [ "${UPDATE_BENCHMARKS_MD:-}" = 1 ]; then
    md=$repo/BENCHMARKS.md
    awk -v table="$out" '
        /<!-- table:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
        /<!-- table:end -->/ { skip = 0 }
        !skip { print }
    ' "$md" >"$md.new" && mv "$md.new" "$md"
    echo "(BENCHMARKS.md updated)"
fi
