#!/usr/bin/env bash
# Proves the 6.1 guest can do what this host refuses: builds (clang-19, into target/vm-out, not
# committed) a BPF object with fentry, fexit, kprobe, kretprobe and LSM programs and a small
# libbpf loader that attaches each, checks its counter moved after the event and stopped after
# detach; runs it and `bpftool feature probe` in the guest. Needs clang-19 and libbpf-dev.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$VM_OUT/selftest
mkdir -p "$out"

cat >"$out/progs.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 hits[5];

SEC("fentry/__do_sys_getpid")
int on_fentry(void *ctx) { __sync_fetch_and_add(&hits[0], 1); return 0; }
SEC("fexit/__do_sys_getpid")
int on_fexit(void *ctx) { __sync_fetch_and_add(&hits[1], 1); return 0; }
SEC("kprobe/__x64_sys_getppid")
int on_kprobe(void *ctx) { __sync_fetch_and_add(&hits[2], 1); return 0; }
SEC("kretprobe/__x64_sys_getppid")
int on_kretprobe(void *ctx) { __sync_fetch_and_add(&hits[3], 1); return 0; }
SEC("lsm/file_open")
int on_lsm(void *ctx) { __sync_fetch_and_add(&hits[4], 1); return 0; }

char LICENSE[] SEC("license") = "GPL";
EOF

cat >"$out/attach.c" <<'EOF'
/* Attaches each program of progs.bpf.o, fires its event, detaches, fires again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static void fire(int i) {
    for (int n = 0; n < 5; n++) {
        if (i <= 1) syscall(SYS_getpid);
        else if (i <= 3) syscall(SYS_getppid);
        else close(open("/proc/self/stat", O_RDONLY));
    }
}

int main(int argc, char **argv) {
    static const char *names[] = {"on_fentry", "on_fexit", "on_kprobe", "on_kretprobe", "on_lsm"};
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
    int bss = bpf_map__fd(bpf_object__find_map_by_name(obj, ".bss"));
    int failed = 0;
    for (int i = 0; i < 5; i++) {
        __u64 v[5], before, during, after;
        int key = 0;
        struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, names[i]));
        if (!link) { printf("%-13s attach FAILED: %s\n", names[i], strerror(errno)); failed = 1; continue; }
        bpf_map_lookup_elem(bss, &key, v); before = v[i];
        fire(i);
        bpf_map_lookup_elem(bss, &key, v); during = v[i];
        bpf_link__destroy(link);
        bpf_map_lookup_elem(bss, &key, v); after = v[i];
        fire(i);
        bpf_map_lookup_elem(bss, &key, v);
        int ok = during - before >= 5 && v[i] == after;
        printf("%-13s %s (+%llu while attached, +%llu after detach)\n", names[i], ok ? "ok" : "FAILED",
               (unsigned long long)(during - before), (unsigned long long)(v[i] - after));
        failed |= !ok;
    }
    return failed;
}
EOF

clang-19 -g -O2 -target bpf -I/usr/include/x86_64-linux-gnu -c "$out/progs.bpf.c" -o "$out/progs.bpf.o"
clang-19 -O2 "$out/attach.c" -o "$out/attach" -lbpf

cat >"$out/guest.sh" <<EOF
set -e
uname -r
echo "== bpftool feature probe kernel"
bpftool feature probe kernel >/tmp/probe
grep -cE 'is available' /tmp/probe | sed 's/^/available: /'
grep -E "program_type (tracing|lsm|kprobe) is|bpf_override_return|CONFIG_(BPF_LSM|KPROBES|FPROBE)\b" /tmp/probe
echo "== bpftool prog loadall (fentry, kprobe, lsm)"
mkdir /sys/fs/bpf/selftest
bpftool prog loadall $out/progs.bpf.o /sys/fs/bpf/selftest
ls /sys/fs/bpf/selftest
rm -r /sys/fs/bpf/selftest
echo "== attach, fire, detach (libbpf)"
$out/attach $out/progs.bpf.o
EOF
exec "$VM_DIR/run.sh" --timeout 90 -- sh "$out/guest.sh"
