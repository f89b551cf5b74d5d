//! `oxbpf run FILE.o`: load, attach every auto-attachable program, stream ring-buffer and
//! perf-buffer records, and print the maps every few seconds, all through the object's BTF.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use oxbpf::btf::{Btf, BtfKind};
use oxbpf::maps::{PerfBuffer, PerfBufferOptions, PerfRecord, RingBufPoller};
use oxbpf::object::{AutoAttach, DataKind, Object};
use oxbpf::programs::Link;
use oxbpf::syscall::MapType;

use crate::cmd::load::{self, Options, Session};
use crate::exit::{CmdResult, Code, Failure};
use crate::interrupt::Interrupt;
use crate::mapview::{self, Types};
use crate::objects::Edits;
use crate::out::{self, lower};

/// `oxbpf run`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The BPF object file.
    pub file: PathBuf,
    /// Relocate CO-RE against this BTF instead of the running kernel's.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,
    /// Pin root for maps declared with `pinning` (default /sys/fs/bpf; a bpffs is mounted
    /// there if needed).
    #[arg(long, value_name = "DIR")]
    pub pin: Option<PathBuf>,
    #[command(flatten)]
    pub edits: Edits,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECS", value_parser = parse_secs)]
    pub for_secs: Option<f64>,
    /// Print the maps every this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub interval: f64,
    /// Show at most this many entries per map.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_entries: usize,
}

/// Programs whose attachment goes through tracefs (tracepoints, legacy probes).
pub fn needs_tracefs(obj: &Object) -> bool {
    obj.programs().iter().any(|p| {
        p.autoload()
            && matches!(
                p.auto_attach(),
                AutoAttach::Tracepoint
                    | AutoAttach::Kprobe
                    | AutoAttach::Ksyscall
                    | AutoAttach::Uprobe
                    | AutoAttach::Usdt
            )
    })
}

/// Parses seconds (`--for`, `--interval`): a non-negative number.
pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds")),
    }
}

/// When `--for` ends, counted from now.
pub fn deadline(secs: Option<f64>) -> Option<Instant> {
    secs.map(|s| Instant::now() + Duration::from_secs_f64(s))
}

/// Attaches every auto-attachable program; reports each on stdout and the others as not
/// attached.
pub fn attach_all(s: &Session) -> Vec<Link> {
    let mut links = Vec::new();
    for p in s.loaded.programs() {
        if !p.is_auto_attachable() {
            out::line(&format!(
                "  {}: loaded, not attached ({} programs attach to something you choose)",
                p.name(),
                lower(p.prog_type().short_name(), p.prog_type().0)
            ));
            continue;
        }
        match s.loaded.attach(p.name()) {
            Ok(l) => {
                out::line(&format!("  {}: attached ({})", p.name(), p.section()));
                links.push(l);
            }
            Err(e) => {
                let f = Failure::from_error(Code::LoadFailed, &e);
                out::line(&format!("  {}: NOT attached: {}", p.name(), f.message));
            }
        }
    }
    links
}

/// The object's struct that a record of `len` bytes from map `map` most likely is: one
/// named like the map or like an event, whose size matches (ring buffers carry no type;
/// objects usually keep their event struct in BTF with an unused global pointer to it).
fn event_type(btf: &Btf, map: &str, len: usize) -> Option<u32> {
    let fits = |id: u32| {
        btf.type_size(id).is_ok_and(|size| {
            let size = size as usize;
            size > 0 && size <= len && len - size < 8
        })
    };
    let stem = map.strip_suffix('s').unwrap_or(map);
    let names = [
        map.to_string(),
        stem.to_string(),
        format!("{stem}_event"),
        format!("{stem}_t"),
        "event".into(),
        "event_t".into(),
        "data_t".into(),
    ];
    for n in &names {
        for kind in [BtfKind::Struct, BtfKind::Typedef] {
            if let Some(id) = btf.id_by_name_kind(n, kind) {
                if fits(id) {
                    return Some(id);
                }
            }
        }
    }
    None
}

fn record_line(btf: Option<&Btf>, map: &str, data: &[u8]) -> String {
    if let Some(b) = btf {
        if let Some(id) = event_type(b, map, data.len()) {
            if let Ok(v) = oxbpf::btf::format_value(b, id, data) {
                return format!("{map}: {v}");
            }
        }
    }
    const SHOWN: usize = 64;
    let more = if data.len() > SHOWN { " ..." } else { "" };
    format!(
        "{map}: {} bytes: {}{more}",
        data.len(),
        out::hex(&data[..data.len().min(SHOWN)])
    )
}

/// The read-only globals (`.rodata*`), as loaded.
fn constants_text(s: &Session) -> String {
    let mut text = String::new();
    for g in s.loaded.globals() {
        if g.kind() != DataKind::Rodata || g.variables().is_empty() {
            continue;
        }
        let id = s
            .object
            .section_data(g.section())
            .ok()
            .and_then(|d| d.btf_datasec_id());
        if let Ok(Some(v)) = g.map().lookup_vec(&0u32.to_ne_bytes()) {
            text.push_str(&format!(
                "  {} (constants): {}\n",
                g.section(),
                mapview::show(s.object.btf(), id, &v)
            ));
        }
    }
    text
}

/// The maps' contents, through BTF.
fn maps_text(s: &Session, max: usize) -> String {
    let obj = &s.object;
    let mut text = String::new();
    for (name, map) in s.loaded.maps() {
        if mapview::not_listable(map.map_type()).is_some() {
            continue;
        }
        let def = obj.map(name).ok();
        let types = Types {
            btf: obj.btf(),
            key: def.and_then(|d| d.btf_key_type_id),
            value: def.and_then(|d| d.btf_value_type_id),
        };
        let arrayish = matches!(map.map_type(), MapType::ARRAY | MapType::PERCPU_ARRAY);
        match mapview::entries(map, max, |v| arrayish && mapview::is_zero(v)) {
            Err(e) => text.push_str(&format!("{name}: cannot read: {e}\n")),
            Ok(l) => {
                let what = if l.truncated {
                    format!(
                        "first {} entries; --max-entries shows more",
                        l.entries.len()
                    )
                } else {
                    out::count(l.entries.len(), "entry")
                };
                let mut head = format!(
                    "{name} ({}, {what}",
                    lower(map.map_type().short_name(), map.map_type().0),
                );
                if l.skipped > 0 {
                    head.push_str(&format!(", {} zero entries hidden", l.skipped));
                }
                text.push_str(&head);
                text.push_str("):\n");
                for e in &l.entries {
                    text.push_str(&format!(
                        "  {}: {}\n",
                        mapview::show_key(map, types, &e.key),
                        mapview::show_value(map, types, &e.value)
                    ));
                }
            }
        }
    }
    for g in s.loaded.globals() {
        if !matches!(g.kind(), DataKind::Data | DataKind::Bss) || g.variables().is_empty() {
            continue;
        }
        let id = obj
            .section_data(g.section())
            .ok()
            .and_then(|d| d.btf_datasec_id());
        match g.map().lookup_vec(&0u32.to_ne_bytes()) {
            Ok(Some(v)) => text.push_str(&format!(
                "{}: {}\n",
                g.section(),
                mapview::show(obj.btf(), id, &v)
            )),
            Ok(None) => {}
            Err(e) => text.push_str(&format!("{}: cannot read: {e}\n", g.section())),
        }
    }
    if text.is_empty() {
        text.push_str("(no maps with entries to show)\n");
    }
    text
}

/// Runs `oxbpf run`.
pub fn run(args: RunArgs) -> CmdResult {
    let interrupt = Interrupt::new();
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    let probe = crate::objects::open(&args.file)?;
    if needs_tracefs(&probe) {
        crate::mounts::ensure_tracefs()?;
    }
    drop(probe);
    let opts = Options {
        btf: args.btf.as_deref(),
        pin: args.pin.as_deref(),
        keep_going: false,
    };
    let mut s = load::load(&args.file, &args.edits, &opts)?.map_err(|(_, e)| Failure::from(e))?;
    out::line(&format!(
        "{}: loaded {} in {} ms",
        args.file.display(),
        out::count(s.loaded.programs().len(), "program"),
        s.elapsed.as_millis()
    ));
    out::print(&constants_text(&s));
    let links = attach_all(&s);

    // The streams.
    let mut rings = RingBufPoller::new().map_err(|e| Failure::from_error(Code::Failure, &e))?;
    let mut ring_names = Vec::new();
    let mut perf: Vec<(String, PerfBuffer)> = Vec::new();
    let stream_maps: Vec<(String, MapType)> = s
        .loaded
        .maps()
        .filter(|(_, m)| matches!(m.map_type(), MapType::RINGBUF | MapType::PERF_EVENT_ARRAY))
        .map(|(n, m)| (n.to_string(), m.map_type()))
        .collect();
    for (name, ty) in stream_maps {
        let Ok(map) = s.loaded.take_map(&name) else {
            continue;
        };
        let opened = if ty == MapType::RINGBUF {
            map.into_ring_buf()
                .and_then(|r| rings.add(r))
                .map(|_| ring_names.push(name.clone()))
        } else {
            PerfBuffer::new(map, PerfBufferOptions::default()).map(|p| perf.push((name.clone(), p)))
        };
        match opened {
            Ok(()) => out::line(&format!("  streaming {name}")),
            Err(e) => out::line(&format!("  cannot stream {name}: {e}")),
        };
    }
    out::line(match args.for_secs {
        Some(_) => "running (Ctrl-C to stop early)",
        None => "running until Ctrl-C",
    });

    let start = Instant::now();
    let until = deadline(args.for_secs);
    let mut next_maps = start + interval;
    let mut records = 0u64;
    let mut lost = 0u64;
    let btf = s.object.btf();
    let mut open = true;
    while open {
        if interrupt.fired() || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let wait = Duration::from_millis(100);
        let mut lines = String::new();
        let mut on_ring = |i: usize, data: &[u8]| {
            let name = ring_names.get(i).map(String::as_str).unwrap_or("ring");
            lines.push_str(&record_line(btf, name, data));
            lines.push('\n');
            records += 1;
        };
        let polled = if !ring_names.is_empty() {
            rings.poll(wait, &mut on_ring).map(|_| ())
        } else if perf.is_empty() {
            std::thread::sleep(wait);
            Ok(())
        } else {
            Ok(())
        };
        if let Err(e) = polled {
            return Err(Failure::from_error(Code::Failure, &e));
        }
        let perf_wait = if ring_names.is_empty() {
            wait
        } else {
            Duration::ZERO
        };
        for (k, (name, pb)) in perf.iter_mut().enumerate() {
            let mut on_perf = |_cpu: u32, r: PerfRecord<'_>| match r {
                PerfRecord::Sample(data) => {
                    lines.push_str(&record_line(btf, name, data));
                    lines.push('\n');
                    records += 1;
                }
                PerfRecord::Lost(n) => lost += n,
            };
            let r = if k == 0 {
                pb.poll(perf_wait, &mut on_perf)
            } else {
                pb.consume(&mut on_perf)
            };
            if let Err(e) = r {
                return Err(Failure::from_error(Code::Failure, &e));
            }
        }
        if Instant::now() >= next_maps {
            next_maps += interval;
            lines.push_str(&format!(
                "--- maps at {:.1} s ---\n{}",
                start.elapsed().as_secs_f64(),
                maps_text(&s, args.max_entries)
            ));
        }
        if !lines.is_empty() {
            open = out::print(&lines);
        }
    }
    let mut end = format!(
        "--- maps at the end ({:.1} s) ---\n{}",
        start.elapsed().as_secs_f64(),
        maps_text(&s, args.max_entries)
    );
    let n = links.len();
    drop(links);
    end.push_str(&format!(
        "stopped: {}{}, detached {}\n",
        out::count(records as usize, "record"),
        if lost > 0 {
            format!(" ({lost} lost)")
        } else {
            String::new()
        },
        out::count(n, "link")
    ));
    out::print(&end);
    Ok(())
}
