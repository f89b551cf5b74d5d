//! The whole-tool load of one object in a fresh process, shared by the `load_*` binaries:
//! open an object, CO-RE-relocate it, create its maps and load every program with one loader,
//! then print one JSON line:
//!
//! ```text
//! load_oxbpf|load_libbpf|load_aya [--loader NAME|none] OBJECT [--btf TARGET_BTF]
//! load_once --loader libbpf|aya|oxbpf|none OBJECT [--btf TARGET_BTF]
//! {"loader":"libbpf","object":"...","programs":3,"wall_ns":..,"user_ns":..,"sys_ns":..,"maxrss_kb":..}
//! ```
//!
//! `wall_ns` runs from the start of `main` (before the object is read) to the last program
//! loaded; `user_ns`/`sys_ns` are the whole process's CPU times from `getrusage(RUSAGE_SELF)`
//! and `maxrss_kb` its peak RSS (`ru_maxrss`), read after the load. `--loader none` reports
//! the binary's floor (its RSS and CPU with no load). Exit status 1: the load failed (the
//! error on stderr); 2: usage.
//!
//! Each loader has its own binary (`load_oxbpf`, `load_libbpf`, `load_aya`) that links only
//! that loader, as a tool built on it would: a binary linking all three (`load_once`)
//! interleaves their code, and the code pages a load touches (faulted in 64 KiB at a time)
//! then count for the neighbours' code too. `LOAD_ONCE_STATUS=1` prints where the RSS is
//! (anonymous, file-backed; mappings over 64 KiB) to stderr.
//!
//! - libbpf: `bpf_object__open_file` (with `btf_custom_path`) + `bpf_object__load`, through
//!   libbpf-sys (libbpf 1.7), logging off.
//! - aya: `EbpfLoader` (with `.btf(...)` for a custom target) + `load()` of every program whose
//!   load takes no arguments (tracepoints, raw tracepoints, kprobes, uprobes, networking,
//!   cgroup...); others are counted as `"skipped"`.
//! - oxbpf: `Object::open` + `Loader::new()` (+ `.target_btf(...)` for a custom target)
//!   `.load(obj)`, counting the loaded programs.

use std::path::PathBuf;
use std::time::Instant;

/// The command line.
pub struct Args {
    /// The loader asked for.
    pub loader: String,
    /// The object to load.
    pub object: PathBuf,
    /// A custom target BTF.
    pub btf: Option<PathBuf>,
}

/// Loaded programs, and programs the loader could not be asked to load.
pub struct Loaded {
    /// Programs loaded.
    pub programs: usize,
    /// Programs the loader cannot load without arguments (aya).
    pub skipped: usize,
    /// Keeps the loaded object (fds) alive until the figures are taken.
    pub _keep: Box<dyn std::any::Any>,
}

/// A loader: the load of `args.object`.
pub type LoadFn = fn(&Args) -> Result<Loaded, String>;

fn usage(names: &[&str]) -> ! {
    eprintln!(
        "usage: load_* --loader {}|none OBJECT [--btf TARGET_BTF]",
        names.join("|")
    );
    std::process::exit(2)
}

fn args(names: &[&str]) -> Args {
    let mut loader = None;
    let mut object = None;
    let mut btf = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--loader" => loader = it.next(),
            "--btf" => btf = it.next().map(PathBuf::from),
            _ if object.is_none() && !a.starts_with("--") => object = Some(PathBuf::from(a)),
            _ => usage(names),
        }
    }
    // A binary with one loader needs no `--loader`.
    let loader = loader.or_else(|| (names.len() == 1).then(|| names[0].to_string()));
    match (loader, object) {
        (Some(loader), Some(object)) => Args {
            loader,
            object,
            btf,
        },
        _ => usage(names),
    }
}

/// The `main` of a `load_*` binary offering `loaders` (and `none`).
pub fn main(loaders: &[(&str, LoadFn)]) {
    let start = Instant::now();
    let names: Vec<&str> = loaders.iter().map(|(n, _)| *n).collect();
    let args = args(&names);
    let loaded = if args.loader == "none" {
        Ok(Loaded {
            programs: 0,
            skipped: 0,
            _keep: Box::new(()),
        })
    } else {
        match loaders.iter().find(|(n, _)| *n == args.loader) {
            Some((_, load)) => load(&args),
            None => usage(&names),
        }
    };
    let wall = start.elapsed();
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load_once: {}: {e}", args.object.display());
            std::process::exit(1)
        }
    };
    // SAFETY: getrusage fills the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let ns = |t: libc::timeval| t.tv_sec as u128 * 1_000_000_000 + t.tv_usec as u128 * 1000;
    println!(
        "{{\"loader\":\"{}\",\"object\":{},\"programs\":{},\"skipped\":{},\"wall_ns\":{},\"user_ns\":{},\"sys_ns\":{},\"maxrss_kb\":{}}}",
        args.loader,
        serde_json::Value::String(args.object.display().to_string()),
        loaded.programs,
        loaded.skipped,
        wall.as_nanos(),
        ns(ru.ru_utime),
        ns(ru.ru_stime),
        ru.ru_maxrss
    );
    if std::env::var_os("LOAD_ONCE_STATUS").is_some() {
        print_rss();
    }
    drop(loaded);
}

/// Where the RSS is: `/proc/self/status`'s Rss lines and the mappings over 64 KiB resident.
fn print_rss() {
    if let Ok(st) = std::fs::read_to_string("/proc/self/status") {
        for l in st
            .lines()
            .filter(|l| l.starts_with("Rss") || l.starts_with("VmHWM"))
        {
            eprintln!("{l}");
        }
    }
    if let Ok(sm) = std::fs::read_to_string("/proc/self/smaps") {
        let mut head = "";
        for l in sm.lines() {
            if l.contains('-') && !l.starts_with(|c: char| c.is_ascii_uppercase()) {
                head = l;
            } else if let Some(v) = l.strip_prefix("Rss:") {
                let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                if kb > 64 {
                    eprintln!("{kb:>6} kB {head}");
                }
            }
        }
    }
}

pub mod aya;
pub mod libbpf;
pub mod oxbpf;
