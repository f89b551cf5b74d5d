//! `oxbpf demo`: what this machine is doing, live. An object compiled into the binary
//! (`cli/bpf/demo.bpf.c`) traces process execs, file opens and exits; events stream through
//! a ring buffer, per-process counters live in a hash map. Until Ctrl-C or `--for SECS`;
//! then every link is detached.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Args;
use oxbpf::maps::{Map, RingBuf};

use crate::cmd::load::{self, Options, Session};
use crate::cmd::run;
use crate::exit::{CmdResult, Code, Failure};
use crate::interrupt::Interrupt;
use crate::objects;
use crate::out::{self, Table};

/// The demo object, built by `tests/fixtures/build.sh demo`.
const DEMO: &[u8] = include_bytes!("../../bpf/demo.bpf.o");

/// Lines of one kind shown per second before the rest are only counted.
const LINES_PER_SEC: u32 = 15;
/// How often the per-process table is shown.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// `oxbpf demo`
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECS", value_parser = run::parse_secs)]
    pub for_secs: Option<f64>,
}

/// `struct event` of demo.bpf.c.
struct Event {
    kind: u32,
    pid: u32,
    ppid: u32,
    uid: u32,
    ret: i64,
    comm: String,
    path: String,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Event {
    /// Decodes a record; `None` if it is too short.
    fn parse(b: &[u8]) -> Option<Event> {
        Some(Event {
            kind: u32_at(b, 0)?,
            pid: u32_at(b, 4)?,
            ppid: u32_at(b, 8)?,
            uid: u32_at(b, 12)?,
            ret: u64_at(b, 16)? as i64,
            comm: c_str(b.get(24..40)?),
            path: c_str(b.get(40..168)?),
        })
    }
}

/// Counts of one kind of event, and how many lines of it this second.
#[derive(Default)]
struct Tally {
    seen: u64,
    shown_this_sec: u32,
    hidden: u64,
}

fn counters(map: &Map) -> Vec<(u32, u64, u64, String)> {
    let mut v = Vec::new();
    for key in map.keys().flatten() {
        let Ok(Some(value)) = map.lookup_vec(&key) else {
            continue;
        };
        let (Some(pid), Some(execs), Some(opens)) =
            (u32_at(&key, 0), u64_at(&value, 0), u64_at(&value, 8))
        else {
            continue;
        };
        v.push((
            pid,
            execs,
            opens,
            value.get(16..32).map(c_str).unwrap_or_default(),
        ));
    }
    v
}

fn top_table(map: &Map, n: usize) -> String {
    let mut rows = counters(map);
    rows.sort_by_key(|r| std::cmp::Reverse(r.1 + r.2));
    let mut t = Table::new(&["PID", "COMM", "EXECS", "OPENS"]);
    for (pid, execs, opens, comm) in rows.into_iter().take(n) {
        t.row(vec![
            pid.to_string(),
            comm,
            execs.to_string(),
            opens.to_string(),
        ]);
    }
    t.render()
}

/// Runs `oxbpf demo`.
pub fn run(args: DemoArgs) -> CmdResult {
    let interrupt = Interrupt::new();
    crate::mounts::ensure_tracefs()?;
    let mut object = objects::parse(DEMO, "demo")?;
    let mut to_load = objects::parse(DEMO, "demo")?;
    let me = std::process::id().to_string();
    for o in [&mut object, &mut to_load] {
        o.set_variable_text("self_tgid", &me)
            .map_err(|e| Failure::from_error(Code::Failure, &e))?;
    }
    let opts = Options {
        btf: None,
        pin: None,
        keep_going: false,
    };
    let (loaded, elapsed) = load::load_parsed(to_load, &object, &opts).map_err(Failure::from)?;
    let mut s = Session {
        loaded,
        object,
        elapsed,
    };
    let ms = s.elapsed.as_millis();
    out::line(&format!(
        "oxbpf demo: {} programs loaded in {ms} ms (CO-RE against this kernel's BTF); attaching:",
        s.loaded.programs().len()
    ));
    let links = run::attach_all(&s);
    if links.is_empty() {
        return Err(Failure::new(
            Code::LoadFailed,
            "no program could be attached",
        ));
    }
    let map = s
        .loaded
        .take_map("events")
        .map_err(|e| Failure::from_error(Code::Failure, &e))?;
    let mut events = RingBuf::new(map).map_err(|e| Failure::from_error(Code::Failure, &e))?;
    let counts = s
        .loaded
        .map("per_process")
        .map_err(|e| Failure::from_error(Code::Failure, &e))?;
    out::line(&format!(
        "watching execs, file opens and exits on this machine ({}); every {} s the busiest processes\n",
        match args.for_secs {
            Some(secs) => format!("for {secs} s"),
            None => "Ctrl-C to stop".into(),
        },
        SUMMARY_EVERY.as_secs()
    ));
    out::line(&format!(
        "{:>8}  {:<5} {:>7} {:>7} {:>5}  {:<16} DETAIL",
        "TIME", "EVENT", "PID", "PPID", "UID", "COMM"
    ));

    let start = Instant::now();
    let until = run::deadline(args.for_secs);
    let mut second = 0u64;
    let mut next_summary = start + SUMMARY_EVERY;
    let mut tallies: HashMap<u32, Tally> = HashMap::new();
    let mut open = true;
    while open {
        if interrupt.fired() || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let mut lines = String::new();
        let now = start.elapsed();
        if now.as_secs() != second {
            second = now.as_secs();
            let mut hidden = Vec::new();
            for (kind, t) in tallies.iter_mut() {
                if t.hidden > 0 {
                    hidden.push(format!("{} {}s", t.hidden, kind_name(*kind).to_lowercase()));
                }
                t.shown_this_sec = 0;
                t.hidden = 0;
            }
            if !hidden.is_empty() {
                hidden.sort();
                lines.push_str(&format!(
                    "{:>8}  (and {} more in that second, not shown)\n",
                    "",
                    hidden.join(", ")
                ));
            }
        }
        let polled = events.poll(Duration::from_millis(100), |record| {
            let Some(e) = Event::parse(record) else {
                return;
            };
            let t = tallies.entry(e.kind).or_default();
            t.seen += 1;
            if t.shown_this_sec >= LINES_PER_SEC {
                t.hidden += 1;
                return;
            }
            t.shown_this_sec += 1;
            let detail = match e.kind {
                3 => format!("exit code {}", e.ret),
                _ => e.path,
            };
            lines.push_str(&format!(
                "{:>8.3}  {:<5} {:>7} {:>7} {:>5}  {:<16} {detail}\n",
                start.elapsed().as_secs_f64(),
                kind_name(e.kind),
                e.pid,
                e.ppid,
                e.uid,
                e.comm
            ));
        });
        if let Err(e) = polled {
            return Err(Failure::from_error(Code::Failure, &e));
        }
        let ending = until.is_some_and(|u| u <= Instant::now() + Duration::from_millis(500));
        if Instant::now() >= next_summary && !ending {
            next_summary += SUMMARY_EVERY;
            lines.push_str(&format!(
                "\n-- busiest processes after {} s --\n{}\n",
                start.elapsed().as_secs(),
                top_table(counts, 8)
            ));
        }
        if !lines.is_empty() {
            open = out::print(&lines);
        }
    }
    let dropped = s
        .loaded
        .bss()
        .and_then(|b| b.read::<u64>("dropped"))
        .unwrap_or(0);
    let n = links.len();
    let total = |k| tallies.get(&k).map_or(0, |t| t.seen);
    let summary = format!(
        "\n-- busiest processes --\n{}\nstopped after {:.1} s: {} execs, {} opens, {} exits seen, {dropped} dropped; ",
        top_table(counts, 8),
        start.elapsed().as_secs_f64(),
        total(1),
        total(2),
        total(3),
    );
    drop(links);
    out::print(&format!("{summary}detached {}\n", out::count(n, "link")));
    Ok(())
}

fn kind_name(kind: u32) -> &'static str {
    match kind {
        1 => "EXEC",
        2 => "OPEN",
        3 => "EXIT",
        _ => "?",
    }
}
