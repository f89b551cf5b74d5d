#!/usr/bin/env bash
# Runs one command inside a Linux 6.1 guest (Debian's kernel under qemu's software emulation),
# chrooted in this machine's root (read-only), and exits with the command's status.
#
#   scripts/vm/run.sh [OPTIONS] -- CMD ARGS...
#
# Options:
#   --timeout SECS   kill the guest after SECS seconds (default 60); exit 124
#   --rw DIR         also share host DIR writable, at the same path (repeatable); target/vm-out
#                    (or $OXBPF_VM_OUT) always is
#   --env NAME=VALUE set a variable for CMD (repeatable)
#   --dmesg          print the guest's kernel log (to stderr) after CMD
#   --prepare        only install/fetch what the guest needs, print the kernel, boot nothing
#
# The guest has /tmp, /run, /var/tmp (tmpfs, writable), proc, sysfs, devtmpfs, bpffs
# (/sys/fs/bpf), tracefs, debugfs, cgroup2 and loopback networking; CMD runs as root in the
# caller's working directory with TMPDIR=/tmp HOME=/tmp. Exit status: CMD's, or 124 when the
# guest timed out, 125 when the VM failed before CMD ran or never reported its status.
# Environment: OXBPF_VM_CACHE, OXBPF_VM_KERNEL, OXBPF_VM_REFRESH (see lib.sh), OXBPF_VM_SMP (2),
# OXBPF_VM_MEM (1G).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timeout_s=60
dmesg=0
prepare=0
rw_dirs=()
envs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout_s=$2; shift 2 ;;
    --rw) rw_dirs+=("$(cd "$2" && pwd)"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --dmesg) dmesg=1; shift ;;
    --prepare) prepare=1; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) vm_die "unknown option $1 (the command goes after --)" ;;
    esac
done
[ $# -gt 0 ] || [ $prepare = 1 ] || vm_die "usage: $0 [OPTIONS] -- CMD ARGS..."

vm_ensure_tools
vm_ensure_kernel
vm_ensure_initramfs
if [ $prepare = 1 ]; then
    echo "kernel: $KVER (package version $KPKGVER), cached in $KDIR"
    exit 0
fi

mkdir -p "$VM_OUT"
rw_dirs=("$(cd "$VM_OUT" && pwd)" "${rw_dirs[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stage/run"

# The per-run part of the initramfs: appended to the base archive (the kernel reads
# concatenated cpio archives).
virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
shares=
i=0
for d in "${rw_dirs[@]}"; do
    virtfs+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
    shares+="rw$i $d"$'\n'
    i=$((i + 1))
done
# Host paths under the directories the guest covers with tmpfs (/tmp...) that must stay visible:
# the working directory, the repo, the shares, the kernel, absolute paths among the arguments.
keep=
for p in "$PWD" "$REPO" "$KDIR" "${rw_dirs[@]}" "$@"; do
    for covered in /tmp /var/tmp /run /dev/shm /boot; do
        case "$p" in "$covered"/?*) ;; *) continue ;; esac
        top=${p#"$covered"/}
        top=$covered/${top%%/*}
        [ -e "$top" ] || continue
        case $'\n'"$keep" in *$'\n'"$top"$'\n'*) ;; *) keep+="$top"$'\n' ;; esac
    done
done
{
    printf 'KDIR=%s\n' "$(vm_quote "$KDIR")"
    printf 'KEEP=%s\n' "$(vm_quote "$keep")"
    printf 'SHARES=%s\n' "$(vm_quote "$shares")"
    printf 'DMESG=%s\n' "$dmesg"
} >"$work/stage/run/config"
{
    printf 'cd %s 2>/dev/null || cd /tmp\n' "$(vm_quote "$PWD")"
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    echo 'export HOME=/tmp TMPDIR=/tmp TERM=dumb LANG=C.UTF-8'
    for v in RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS; do
        [ -z "${!v:-}" ] || printf 'export %s=%s\n' "$v" "$(vm_quote "${!v}")"
    done
    for e in "${envs[@]}"; do
        printf 'export %s=%s\n' "${e%%=*}" "$(vm_quote "${e#*=}")"
    done
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(vm_quote "$a")"; done
    echo
} >"$work/stage/run/cmd"
(cd "$work/stage" && find run | /bin/busybox cpio -o -H newc 2>/dev/null) >"$work/run.cpio"
cat "$INITRD_BASE" "$work/run.cpio" >"$work/initrd"

# The serial console is the only channel back: markers frame CMD's output and carry its status;
# \r comes from the guest tty's newline translation.
{
    qemu_rc=0
    timeout -k 5 "$timeout_s" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp "${OXBPF_VM_SMP:-2}" -m "${OXBPF_VM_MEM:-1G}" \
    -nodefaults -no-user-config -display none -no-reboot \
    -chardev stdio,id=con,signal=off -serial chardev:con \
    -kernel "$VMLINUZ" -initrd "$work/initrd" \
    -append "console=ttyS0 quiet loglevel=0 panic=-1" \
    "${virtfs[@]}" </dev/null 2>"$work/qemu.err" || qemu_rc=$?
    echo "$qemu_rc" >"$work/qemu.rc"
} | tee "$work/console" |
    awk '
        function out(line) { print line; fflush() }
        { sub(/\r$/, "") }
        done { next }
        !begun {
            if (index($0, "@@OXBPF-VM:BEGIN@@")) begun = 1
            else if (index($0, "@@OXBPF-VM:ERROR")) { print > "/dev/stderr"; fflush("/dev/stderr") }
            next
        }
        index($0, "@@OXBPF-VM:DMESG@@") || index($0, "@@OXBPF-VM:EXIT=") {
            # /init prints a newline before each marker: the empty line it makes is not CMD
            # output, so lines are printed one behind.
            if (holding && held != "") out(held)
            holding = 0
            if (index($0, "@@OXBPF-VM:EXIT=")) done = 1
            else dmesg = 1
            next
        }
        dmesg { print "dmesg: " $0 > "/dev/stderr"; fflush("/dev/stderr"); next }
        { if (holding) out(held); held = $0; holding = 1 }
    '
qemu_rc=$(cat "$work/qemu.rc")

rc=$(sed -n 's/.*@@OXBPF-VM:EXIT=\([0-9]*\)@@.*/\1/p' "$work/console" | tr -d '\r' | tail -n1)
if [ -n "$rc" ]; then
    exit "$rc"
fi
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    vm_log "guest timed out after ${timeout_s}s; last console lines:"
    tail -n 20 "$work/console" | tr -d '\r' >&2
    exit 124
fi
vm_log "the guest stopped without reporting a status (qemu exit $qemu_rc); last lines:"
tail -n 20 "$work/console" "$work/qemu.err" | tr -d '\r' >&2
exit 125
