#!/bin/sh
# Runs test binaries one after another, on the host or inside the guest (POSIX sh: the guest's
# /bin/sh is dash), keeping each one's output and exit status for scripts/kernels.sh to read.
#
#   run-tests.sh LIST OUTDIR TIMEOUT [HARNESS ARGS...]
#
# LIST has one binary a line: NAME<TAB>PACKAGE DIR<TAB>EXECUTABLE. Each runs in its package's
# directory (as `cargo test` runs it), killed after TIMEOUT seconds; writes OUTDIR/NAME.log
# and OUTDIR/NAME.rc.
list=$1 out=$2 limit=$3
shift 3
mkdir -p "$out"
tab=$(printf '\t')
while IFS=$tab read -r name dir exe; do
    [ -n "$name" ] || continue
    echo "running $name"
    (cd "$dir" && CARGO_MANIFEST_DIR=$dir exec timeout -k 5 "$limit" "$exe" "$@") \
        >"$out/$name.log" 2>&1 </dev/null
    echo $? >"$out/$name.rc"
done <"$list"
