#!/usr/bin/env bash
# Runs the workspace's integration test binaries (the privileged suite) on this machine's kernel
# and on Linux 6.1 (Debian's kernel, booted under qemu by scripts/vm/run.sh), prints each test's
# result on both, and exits non-zero if any test failed on either.
#
#   scripts/kernels.sh [OPTIONS] [-- HARNESS ARGS...]
#
# Options:
#   --host-only / --vm-only   run on one kernel only
#   --test NAME               only this integration test binary (tests/NAME.rs); repeatable;
#                             named binaries run in the guest even if it normally skips them
#   --vm-all                  the guest runs every binary, not only the kernel-dependent ones
#   --vm-jobs N               test binaries run at once in the guest (default: its vCPUs, 2)
#   --vm-cycles N             attach/detach cycles of the leak tests in the guest
#                             and soak cycles (OXBPF_TEST_CYCLES, OXBPF_SOAK_CYCLES;
#                             default 50; 0: the tests' own defaults)
#   --timeout SECS            per binary on the host (default 120); the guest gets 4x (TCG is slow)
#   --vm-timeout SECS         whole guest run (default 600)
#   --allow-vm-failures       report the guest's failures without failing
# HARNESS ARGS go to every test binary: a filter, --test-threads=1, --nocapture...
# Logs: target/kernels/{host,linux-6.1}/NAME.log. Installs qemu, busybox-static and the kernel
# on first use (see scripts/vm/README.md, which also explains the guest's choice of binaries).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/vm/lib.sh"
cd "$REPO"

host=1 vm=1 limit=120 vm_limit=600 soft='' labels='' vm_all=0
vm_jobs=${OXBPF_VM_SMP:-2} vm_cycles=50
only=()
# Binaries the guest skips (unless --vm-all or --test names them): they test what does not
# depend on the kernel, against the running kernel's BTF as a stand-in, and some assume that
# BTF is not 6.1's (offline CO-RE checks use tests/fixtures/btf/linux-6.1.btf explicitly):
#   differential  oxbpf's prepared instructions vs libbpf's (pure relocation, no loads)
#   offline       the CLI's offline commands (inspect, core check, btf dump)
#   ours_vmlinux  the CLI's vmlinux.h dump compiles and relocates (a timing-bound run, too)
#   system        the CLI as root: the library paths the tests below cover, 150 s under TCG
VM_SKIP="differential offline ours_vmlinux system"
# The longest binaries under TCG, started first so that the guest's workers end together.
VM_FIRST="loader links_tracing core links_net links_probes links_probe_cycles links_xdp_cycles \
features sanitize maps_ringbuf foundation links_cgroup"
while [ $# -gt 0 ]; do
    case "$1" in
    --host-only) vm=0; shift ;;
    --allow-vm-failures) soft=linux-6.1; shift ;;
    --vm-all) vm_all=1; shift ;;
    --vm-jobs) vm_jobs=$2; shift 2 ;;
    --vm-cycles) vm_cycles=$2; shift 2 ;;
    --vm-only) host=0; shift ;;
    --test) only+=("$2"); shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --vm-timeout) vm_limit=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "kernels: unknown option $1 (harness arguments go after --)" >&2; exit 2 ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }

if [ $vm = 1 ]; then
    step "preparing the Linux 6.1 guest"
    "$VM_DIR/run.sh" --prepare
fi

step "building the test binaries"
# Default members only (the library and the CLI): compare/ needs no second kernel, and
# building it with the same features as `cargo test` reuses that build.
cargo_args=(test --no-run --message-format=json)
for t in "${only[@]}"; do cargo_args+=(--test "$t"); done
# Every integration test target (tests/*.rs of each workspace crate): name, package dir, binary.
list=$REPO/target/kernels/binaries.tsv
mkdir -p "$REPO/target/kernels"
cargo "${cargo_args[@]}" |
    grep '"reason":"compiler-artifact"' | grep '"kind":\["test"\]' | grep '"executable":"/' |
    sed -E 's/.*"manifest_path":"([^"]*)\/Cargo.toml".*"target":\{[^}]*"name":"([^"]*)".*"executable":"([^"]*)".*/\2\t\1\t\3/' |
    sort -u >"$list"
[ -s "$list" ] || { echo "kernels: no integration test binaries found" >&2; exit 1; }
cut -f1 "$list" | sed 's/^/  /'

# Prints one "STATUS<TAB>BINARY::TEST" line per test of a run's output directory, and a
# "crashed" line for a binary whose exit status its tests do not explain (timeout, abort).
results() {
    local list=$1 dir=$2 name rc
    while IFS=$'\t' read -r name _ _; do
        rc=$(cat "$dir/$name.rc" 2>/dev/null || echo "no status")
        if [ -f "$dir/$name.log" ]; then
            sed -nE 's/^test (.+) \.\.\. (ok|FAILED|ignored).*$/\2\t'"$name"'::\1/p' "$dir/$name.log"
        fi
        if [ "$rc" != 0 ] && ! grep -qE '^test .* \.\.\. FAILED' "$dir/$name.log" 2>/dev/null; then
            case "$rc" in
            124 | 137) printf 'CRASHED\t%s (timed out)\n' "$name" ;;
            "no status") printf 'CRASHED\t%s (did not finish)\n' "$name" ;;
            *) printf 'CRASHED\t%s (exit %s)\n' "$name" "$rc" ;;
            esac
        fi
    done <"$list" | sort -t $'\t' -k2
}

kernels=()
if [ $host = 1 ]; then
    step "host kernel $(uname -r)"
    rm -rf target/kernels/host
    start=$(date +%s)
    sh "$VM_DIR/run-tests.sh" "$list" target/kernels/host "$limit" 1 "$@" | sed -u 's/^/  /'
    echo "  host run: $(($(date +%s) - start)) s"
    results "$list" target/kernels/host >target/kernels/host.results
    kernels+=(host)
    labels+="$(uname -r)|"
fi
if [ $vm = 1 ]; then
    vm_ensure_kernel
    step "Linux $KVER (Debian $KPKGVER) under qemu"
    # The guest writes its logs through the writable share.
    out=$VM_OUT/kernels
    rm -rf "$out"
    mkdir -p "$out"
    # The guest's binaries: the kernel-dependent ones, longest first.
    vm_list=$REPO/target/kernels/binaries-vm.tsv
    {
        for name in $VM_FIRST; do grep "^$name"$'\t' "$list" || true; done
        grep -vE "^($(echo $VM_FIRST | tr ' ' '|'))"$'\t' "$list" || true
    } | while IFS=$'\t' read -r name rest; do
        if [ $vm_all = 0 ] && [ ${#only[@]} = 0 ] && [[ " $VM_SKIP " == *" $name "* ]]; then
            continue
        fi
        printf '%s\t%s\n' "$name" "$rest"
    done >"$vm_list"
    echo "  $(wc -l <"$vm_list") binaries, $vm_jobs at a time; skipped here:" \
        "$(cut -f1 "$list" | grep -vxF -f <(cut -f1 "$vm_list") | tr '\n' ' ')"
    vm_env=()
    [ "$vm_cycles" = 0 ] || vm_env+=(--env "OXBPF_TEST_CYCLES=$vm_cycles" --env "OXBPF_SOAK_CYCLES=$vm_cycles")
    vm_rc=0
    start=$(date +%s)
    "$VM_DIR/run.sh" --timeout "$vm_limit" "${vm_env[@]}" -- \
        sh "$VM_DIR/run-tests.sh" "$vm_list" "$out" $((limit * 4)) "$vm_jobs" "$@" 2>&1 |
        sed -u 's/^/  /' || vm_rc=$?
    echo "  guest run (boot included): $(($(date +%s) - start)) s"
    rm -rf target/kernels/linux-6.1
    cp -r "$out" target/kernels/linux-6.1
    results "$vm_list" target/kernels/linux-6.1 >target/kernels/linux-6.1.results
    [ "$vm_rc" = 0 ] || printf 'CRASHED\tguest (run.sh exit %s)\n' "$vm_rc" \
        >>target/kernels/linux-6.1.results
    kernels+=(linux-6.1)
    labels+="$KVER|"
fi

# The output of every binary that failed, for CI logs.
for k in "${kernels[@]}"; do
    { grep -vE '^(ok|ignored)' "target/kernels/$k.results" || true; } | cut -f2 | sed 's/::.*//; s/ (.*//' |
        sort -u | while read -r name; do
            [ -f "target/kernels/$k/$name.log" ] || continue
            step "$k: output of $name"
            tail -n 200 "target/kernels/$k/$name.log" | sed "s/^/  | /"
        done
done
step "results"
result_files=()
for k in "${kernels[@]}"; do result_files+=("target/kernels/$k.results"); done
# One row per test, one column per kernel; then each kernel's counts, and a closing line that
# counts the kernels that gate the exit status.
awk -F'\t' -v cols="${kernels[*]}" -v soft="$soft" -v label="$labels" '
    BEGIN { n = split(cols, k, " "); split(label, lab, "|") }
    FNR == 1 { for (i = 1; i <= n; i++) if (FILENAME == "target/kernels/" k[i] ".results") col = i }
    {
        if (!($2 in seen)) { seen[$2] = 1; order[++rows] = $2 }
        st[$2, col] = $1
        s = $1 == "ok" ? "pass" : $1 == "ignored" ? "skip" : "fail"
        count[col, s]++
        w = length($2); if (w > width) width = w
    }
    END {
        printf "%-" width "s", "test"; for (i = 1; i <= n; i++) printf "  %-10s", k[i]; print ""
        for (r = 1; r <= rows; r++) {
            printf "%-" width "s", order[r]
            for (i = 1; i <= n; i++) {
                s = st[order[r], i]; if (s == "") s = "-"
                printf "  %-10s", s
            }
            print ""
        }
        print ""
        for (i = 1; i <= n; i++) {
            gating = index(" " soft " ", " " k[i] " ") == 0
            printf "%s (%s): %d passed, %d failed, %d skipped%s\n", k[i], lab[i],
                count[i, "pass"], count[i, "fail"], count[i, "skip"],
                gating ? "" : "  [failures not fatal: --allow-vm-failures]"
            if (gating) { p += count[i, "pass"]; f += count[i, "fail"]; sk += count[i, "skip"] }
        }
        printf "kernels: %d passed, %d failed, %d skipped\n", p, f, sk
        exit (f > 0 ? 1 : 0)
    }
' "${result_files[@]}" && status=0 || status=1
exit "$status"
