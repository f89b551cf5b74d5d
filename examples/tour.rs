//! The library in one page: open an object, set a constant, load it, attach its programs,
//! read its ring buffer. Run it as root from the repository root:
//!
//! ```sh
//! cargo run --example tour                       # the demo object, cli/bpf/demo.bpf.o
//! cargo run --example tour -- path/to/other.bpf.o
//! ```
//!
//! The demo object traces execs, opens and exits; its `struct event` starts with
//! `u32 kind, pid, ppid, uid; s64 ret; char comm[16]` (see cli/bpf/demo.bpf.c). Tracepoints
//! need tracefs mounted (`mount -t tracefs nodev /sys/kernel/tracing`; `oxbpf demo` does it
//! for you).

use std::time::{Duration, Instant};

use oxbpf::loader::Loader;
use oxbpf::object::Object;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "cli/bpf/demo.bpf.o".to_string());

    // 1. Parse the object: programs, maps, globals, BTF. Nothing touches the kernel yet.
    let mut obj = Object::open(&path)?;

    // 2. Set a `const volatile` global before load: the demo ignores this process.
    obj.rodata_mut()?
        .set_value("self_tgid", &std::process::id())?;

    // 3. Load: CO-RE against the running kernel's BTF, maps created, programs verified.
    let mut loaded = Loader::new().load(obj)?;
    for p in loaded.programs() {
        println!(
            "loaded {} ({} instructions)",
            p.name(),
            p.report().insn_count
        );
    }

    // 4. Attach every program where its section says (tracepoints here); each link
    //    detaches when dropped.
    let links = loaded.attach_all()?;

    // 5. Read the ring buffer for three seconds.
    let mut events = loaded.take_map("events")?.into_ring_buf()?;
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let Some(record) = events.next_timeout(Duration::from_millis(100))? else {
            continue;
        };
        count += 1;
        let field = |at: usize| record.get(at..at + 4).and_then(|b| b.try_into().ok());
        let (Some(kind), Some(pid)) = (field(0), field(4)) else {
            continue;
        };
        let comm = record.get(24..40).unwrap_or_default();
        let comm = String::from_utf8_lossy(comm.split(|&b| b == 0).next().unwrap_or_default());
        if count <= 20 {
            println!(
                "kind {} pid {:6} {comm}",
                u32::from_ne_bytes(kind),
                u32::from_ne_bytes(pid)
            );
        }
    }
    drop(links);
    println!("{count} events in 3 s; links detached");
    Ok(())
}
