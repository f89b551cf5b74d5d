// oxbpf demo: what this machine is doing, live. Process execs and file opens stream through a
// ring buffer; per-process open and exec counters live in a hash map. CO-RE: built once, runs
// on any kernel with BTF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define TASK_COMM_LEN 16
#define PATH_LEN 128

enum event_kind {
	EVENT_EXEC = 1,
	EVENT_OPEN = 2,
	EVENT_EXIT = 3,
};

struct event {
	__u32 kind;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s64 ret;
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

struct counts {
	__u64 execs;
	__u64 opens;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct counts);
} per_process SEC(".maps");

// Puts `struct event` into the object's BTF (nothing else refers to it by type), so tools
// can decode the ring buffer's records.
const struct event *unused_event __attribute__((unused));

// Set by the loader: ignore the tool's own activity.
const volatile __u32 self_tgid = 0;

// Events dropped because the ring was full.
__u64 dropped = 0;

static __always_inline struct counts *counts_of(__u32 tgid)
{
	struct counts *c = bpf_map_lookup_elem(&per_process, &tgid);
	if (c)
		return c;
	struct counts zero = {};
	bpf_get_current_comm(zero.comm, sizeof(zero.comm));
	bpf_map_update_elem(&per_process, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&per_process, &tgid);
}

static __always_inline struct event *start(__u32 kind, __u32 tgid)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->kind = kind;
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->path[0] = 0;
	return e;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct counts *c = counts_of(tgid);
	if (c) {
		__sync_fetch_and_add(&c->execs, 1);
		bpf_get_current_comm(c->comm, sizeof(c->comm));
	}
	struct event *e = start(EVENT_EXEC, tgid);
	if (!e)
		return 0;
	unsigned int off = ctx->__data_loc_filename & 0xffff;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)ctx + off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid)
		return 0;
	struct counts *c = counts_of(tgid);
	if (c)
		__sync_fetch_and_add(&c->opens, 1);
	struct event *e = start(EVENT_OPEN, tgid);
	if (!e)
		return 0;
	bpf_probe_read_user_str(e->path, sizeof(e->path), (const char *)ctx->args[1]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	// Only whole processes: the thread group leader exiting.
	if ((__u32)id != (__u32)(id >> 32))
		return 0;
	__u32 tgid = id >> 32;
	if (tgid == self_tgid)
		return 0;
	struct event *e = start(EVENT_EXIT, tgid);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->ret = BPF_CORE_READ(task, exit_code) >> 8;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
