#!/usr/bin/env bash
# Writes the seed inputs of every fuzz target, derived from the committed fixtures, into
# DIR/<target>/ (default fuzz/corpus-work/: the long runs grow it there; `scripts/fuzz.sh
# --cmin` minimizes it into the committed fuzz/corpus/).
#
# Objects are stripped of DWARF (their .BTF/.BTF.ext stay): the fuzzer spends its time on what
# oxbpf reads, not on debug info it skips. Needs llvm-objcopy (llvm-19) and perl.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-fuzz/corpus-work}
objcopy=$(command -v llvm-objcopy-19 || command -v llvm-objcopy)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in object btf btf_ext core dump_c verifier_log disasm relocate; do
    mkdir -p "$out/$t"
done

# `[len: u32 le][a][b]`, the fuzz crate's `split` format.
join() { perl -e 'print pack("V", -s $ARGV[0])' "$1"; cat "$1" "$2"; }
# One byte.
byte() { perl -e 'print chr(shift)' "$1"; }

for f in tests/fixtures/*/*.o; do
    n=$(basename "$f" .o)
    s="$tmp/$n.o"
    "$objcopy" --strip-debug "$f" "$s"
    cp "$s" "$out/object/seed-$n"
    { byte 0; cat "$s"; } >"$out/relocate/seed-$n-self"
    { byte 1; cat "$s"; } >"$out/relocate/seed-$n-61"
    "$objcopy" --dump-section .BTF="$tmp/$n.btf" "$f" /dev/null 2>/dev/null || continue
    cp "$tmp/$n.btf" "$out/btf/seed-$n"
    cp "$tmp/$n.btf" "$out/dump_c/seed-$n"
    { cat "$tmp/$n.btf"; byte 1; } >"$out/btf/seed-$n-split"
    if "$objcopy" --dump-section .BTF.ext="$tmp/$n.ext" "$f" /dev/null 2>/dev/null; then
        join "$tmp/$n.btf" "$tmp/$n.ext" >"$out/btf_ext/seed-$n"
    fi
    # Instructions: every executable section.
    for sec in $(llvm-readelf-19 -S --wide "$f" | awk '$0 ~ / AX / {for (i=1;i<=NF;i++) if ($i ~ /^[.a-z]/ && $i != "PROGBITS") {print $i; break}}'); do
        "$objcopy" --dump-section "$sec=$tmp/insns" "$f" /dev/null 2>/dev/null || continue
        [ -s "$tmp/insns" ] && cp "$tmp/insns" "$out/disasm/seed-$n-$(echo "$sec" | tr '/.' '__')"
    done
done

# CO-RE: the fixtures against layout.TARGET's BTF, against each other's BTF, and alone.
target="$tmp/layout.TARGET.clang19.btf"
i=0
for n in layout.clang19 kernel.clang19 poisoned.clang19 layout.clang14; do
    { byte 0; join "$tmp/$n.o" "$target"; } >"$out/core/seed-$n-target"
    { byte 1; byte $i; cat "$target"; } >"$out/core/seed-fixture$i-target"
    { byte 1; byte $i; cat "$tmp/$n.btf"; } >"$out/core/seed-fixture$i-self"
    { byte 2; cat "$tmp/$n.o"; } >"$out/core/seed-$n-61"
    { byte 3; byte $i; "$objcopy" --dump-section .BTF.ext="$tmp/x" "tests/fixtures/core/$n.o" /dev/null; head -c 1056 "$tmp/x" | tail -c +33; } >"$out/core/seed-$n-records"
    i=$((i + 1))
done

# Verifier logs: the kernel's own forms (instruction lines, state lines, source lines, the
# poisoned call and its "invalid func").
cp fuzz/seeds/verifier_log/* "$out/verifier_log/"
echo "seeds in $out: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
