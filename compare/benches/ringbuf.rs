//! Ring-buffer drain: a ring pre-filled in the kernel with 64-byte and 1024-byte records,
//! drained by libbpf-rs `RingBuffer`, aya `RingBuf`, a minimal hand-written consumer of the
//! ring protocol (the limit) and oxbpf's reader (events/s, allocations per record).
//!
//! HOOK(ringbuf): not measured yet. oxbpf's reader (`oxbpf::maps`) is being written; this
//! bench lands with it: a `SEC("syscall")` program that `bpf_ringbuf_output`s N records
//! (`bpf_loop`), run with `BPF_PROG_TEST_RUN` before each drain; each reader wraps the same
//! ring map (aya through `MapData::from_fd`, libbpf-rs through `MapHandle`); the consumer
//! callback only sums a field of each record. Targets (issue 8): oxbpf ≥ 0.95x the hand-written
//! consumer and ≥ libbpf-rs, zero allocations per record.

use compare::summary::{Table, Target};

fn main() {
    let mut table = Table::new("ringbuf");
    for size in [64, 1024] {
        table.ratio(
            &format!("ring buffer drain, {size} B records: oxbpf / hand-written consumer"),
            None,
            Some(Target::AtLeast(0.95)),
            "not measured yet: HOOK(ringbuf), oxbpf's reader is being written",
        );
        table.ratio(
            &format!("ring buffer drain, {size} B records: oxbpf / libbpf-rs"),
            None,
            Some(Target::AtLeast(1.0)),
            "not measured yet",
        );
    }
    table.print_and_save();
}
