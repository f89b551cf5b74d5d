#!/usr/bin/env bash
# The `unsafe` audit. Fails when
#  1. `unsafe` code appears outside the files allowed to hold it: the bpf(2) layer
#     (src/syscall/) and the mmap'd buffers (src/maps/{ringbuf,user_ringbuf,perf_buffer,
#     global}.rs); outside the library, the measuring code may hold it too: the counting
#     allocators of benches/ and tests/maps_alloc.rs (a GlobalAlloc cannot be written
#     without it), the hand-written ring consumer of benches/maps.rs (the baseline oxbpf's
#     reader is measured against), the heap ring of src/maps/ringbuf_tests.rs (the test
#     plays the kernel), and compare/ (FFI to libbpf, which it measures against; not a
#     dependency of anything);
#  2. an `unsafe` block or impl has no `// SAFETY:` comment, an `unsafe fn` no `# Safety`
#     doc, or an unsafe operation inside an `unsafe fn` is not in its own (commented) block
#     (clippy's undocumented_unsafe_blocks, missing_safety_doc, unsafe_op_in_unsafe_fn).
# Prints the count of unsafe blocks/impls per allowed file. Whether each comment holds is
# reviewed by hand; this keeps new code honest.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed='^(src/syscall/.*|src/maps/(ringbuf|ringbuf_tests|user_ringbuf|perf_buffer|global)\.rs|benches/.*|tests/maps_alloc\.rs|compare/.*)$'
# The library proper: src/ outside the bpf(2) layer and the mmap'd buffers.
library_outside='^src/'

# `unsafe` as code: drop `//` comments (and doc comments) first.
code_unsafe() {
    awk '{ line = $0; sub(/\/\/.*/, "", line); if (line ~ /(^|[^A-Za-z0-9_])unsafe([^A-Za-z0-9_]|$)/) print FILENAME ":" FNR ":" $0 }' "$@"
}

mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.rs')
bad=0
while IFS= read -r hit; do
    f=${hit%%:*}
    if ! [[ $f =~ $allowed ]]; then
        echo "unsafe outside the allowed files: $hit"
        bad=1
    fi
done < <(code_unsafe "${files[@]}")

echo "unsafe blocks/impls/fns per file:"
code_unsafe "${files[@]}" | cut -d: -f1 | sort | uniq -c | sed 's/^/  /'
outside=$(code_unsafe "${files[@]}" | cut -d: -f1 | grep -E "$library_outside" |
    grep -vcE '^src/(syscall/.*|maps/(ringbuf|ringbuf_tests|user_ringbuf|perf_buffer|global)\.rs)$' || true)
echo "in the library outside src/syscall/ and the mmap'd buffers: $outside"
[ "$outside" = 0 ] || bad=1

if [ "${UNSAFE_AUDIT_CLIPPY:-1}" = 0 ]; then
    echo "clippy's unsafe lints: left to the caller (UNSAFE_AUDIT_CLIPPY=0; .ci/run's clippy has them)"
else
    echo "clippy: every unsafe block commented..."
    if ! cargo clippy --workspace --all-targets --quiet -- \
        -D clippy::undocumented_unsafe_blocks -D clippy::missing_safety_doc \
        -D unsafe_op_in_unsafe_fn 2>clippy-unsafe.log; then
        grep -E '^(error|warning)' -A8 clippy-unsafe.log | head -80
        bad=1
    fi
fi
rm -f clippy-unsafe.log
[ $bad = 0 ] && echo "unsafe audit: ok"
exit $bad
