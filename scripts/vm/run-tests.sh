#!/bin/sh
# Runs test binaries, on the host or inside the guest (POSIX sh: the guest's /bin/sh is dash),
# keeping each one's output and exit status for scripts/kernels.sh to read.
#
#   run-tests.sh LIST OUTDIR TIMEOUT JOBS [HARNESS ARGS...]
#
# LIST has one binary a line: NAME<TAB>PACKAGE DIR<TAB>EXECUTABLE. Each runs in its package's
# directory (as `cargo test` runs it), killed after TIMEOUT seconds; writes OUTDIR/NAME.log
# and OUTDIR/NAME.rc. JOBS binaries run at once: each worker takes the next binary nobody has
# claimed, in LIST order (put the longest first).
list=$1 out=$2 limit=$3 jobs=$4
shift 4
mkdir -p "$out"
tab=$(printf '\t')

worker() {
    while IFS=$tab read -r name dir exe; do
        [ -n "$name" ] || continue
        # mkdir is atomic: the first worker to create the claim runs the binary.
        mkdir "$out/.claim-$name" 2>/dev/null || continue
        start=$(date +%s)
        (cd "$dir" && CARGO_MANIFEST_DIR=$dir exec timeout -k 5 "$limit" "$exe" "$@") \
            >"$out/$name.log" 2>&1 </dev/null
        rc=$?
        echo "$rc" >"$out/$name.rc"
        echo "$name: exit $rc after $(($(date +%s) - start)) s"
    done <"$list"
}

i=0
while [ "$i" -lt "$jobs" ]; do
    worker "$@" &
    i=$((i + 1))
done
wait
rm -rf "$out"/.claim-*
