//! One whole-tool load in a fresh process: open an object, CO-RE-relocate it, create its
//! maps and load every program, with the chosen loader; then print one JSON line:
//!
//! ```text
//! load_once --loader libbpf|aya|oxbpf|none OBJECT [--btf TARGET_BTF]
//! {"loader":"libbpf","object":"...","programs":3,"wall_ns":..,"user_ns":..,"sys_ns":..,"maxrss_kb":..}
//! ```
//!
//! `wall_ns` runs from the start of `main` (before the object is read) to the last program
//! loaded; `user_ns`/`sys_ns` are the whole process's CPU times from `getrusage(RUSAGE_SELF)`
//! and `maxrss_kb` its peak RSS (`ru_maxrss`), read after the load. The binary links every
//! loader, so `--loader none` reports the process floor (its RSS and CPU with no load) to
//! subtract. Exit status 1: the load failed (the error on stderr); 2: usage, or a loader that
//! is not available yet.
//!
//! - libbpf: `bpf_object__open_file` (with `btf_custom_path`) + `bpf_object__load`, through
//!   libbpf-sys (libbpf 1.7), logging off.
//! - aya: `EbpfLoader` (with `.btf(...)` for a custom target) + `load()` of every program whose
//!   load takes no arguments (tracepoints, raw tracepoints, kprobes, uprobes, networking,
//!   cgroup...); others are counted as `"skipped"`.
//! - oxbpf: HOOK(oxbpf-loader), not wired yet: `Loader::new()` (+ the custom target BTF)
//!   `.load(Object::open(path))`, counting the loaded programs.

use std::path::PathBuf;
use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: load_once --loader libbpf|aya|oxbpf|none OBJECT [--btf TARGET_BTF]");
    std::process::exit(2)
}

struct Args {
    loader: String,
    object: PathBuf,
    btf: Option<PathBuf>,
}

fn args() -> Args {
    let mut loader = None;
    let mut object = None;
    let mut btf = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--loader" => loader = it.next(),
            "--btf" => btf = it.next().map(PathBuf::from),
            _ if object.is_none() && !a.starts_with("--") => object = Some(PathBuf::from(a)),
            _ => usage(),
        }
    }
    match (loader, object) {
        (Some(loader), Some(object)) => Args {
            loader,
            object,
            btf,
        },
        _ => usage(),
    }
}

/// Loaded programs, and programs the loader could not be asked to load.
struct Loaded {
    programs: usize,
    skipped: usize,
    /// Keeps the loaded object (fds) alive until the figures are taken.
    _keep: Box<dyn std::any::Any>,
}

fn load_libbpf(args: &Args) -> Result<Loaded, String> {
    use libbpf_sys as sys;
    use std::os::unix::ffi::OsStrExt;

    struct Obj(*mut sys::bpf_object);
    impl Drop for Obj {
        fn drop(&mut self) {
            // SAFETY: an object from bpf_object__open_file, closed once.
            unsafe { sys::bpf_object__close(self.0) };
        }
    }
    // SAFETY: no callback: libbpf prints nothing.
    unsafe { sys::libbpf_set_print(None) };
    let path =
        std::ffi::CString::new(args.object.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let btf = match &args.btf {
        Some(b) => {
            Some(std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let opts = sys::bpf_object_open_opts {
        sz: std::mem::size_of::<sys::bpf_object_open_opts>() as _,
        btf_custom_path: btf.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
        ..Default::default()
    };
    // SAFETY: `path` and `opts` outlive the call.
    let obj = unsafe { sys::bpf_object__open_file(path.as_ptr(), &opts) };
    if obj.is_null() {
        return Err(format!("libbpf open: {}", std::io::Error::last_os_error()));
    }
    let obj = Obj(obj);
    // SAFETY: a freshly opened object.
    let err = unsafe { sys::bpf_object__load(obj.0) };
    if err < 0 {
        return Err(format!(
            "libbpf load: {}",
            std::io::Error::from_raw_os_error(-err)
        ));
    }
    let mut programs = 0;
    let mut prog = std::ptr::null_mut();
    loop {
        // SAFETY: iterates the live object's programs.
        prog = unsafe { sys::bpf_object__next_program(obj.0, prog) };
        if prog.is_null() {
            break;
        }
        // SAFETY: a program of the live object.
        if unsafe { sys::bpf_program__fd(prog) } >= 0 {
            programs += 1;
        }
    }
    Ok(Loaded {
        programs,
        skipped: 0,
        _keep: Box::new(obj),
    })
}

fn load_aya(args: &Args) -> Result<Loaded, String> {
    use aya::programs::Program as P;
    let data = std::fs::read(&args.object).map_err(|e| e.to_string())?;
    let btf = match &args.btf {
        Some(b) => Some(
            aya_obj::btf::Btf::parse_file(b, aya::Endianness::default())
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let mut loader = aya::EbpfLoader::new();
    if let Some(b) = &btf {
        loader.btf(Some(b));
    }
    let mut ebpf = loader.load(&data).map_err(|e| format!("aya load: {e}"))?;
    let (mut programs, mut skipped) = (0, 0);
    for (name, prog) in ebpf.programs_mut() {
        let r = match prog {
            P::KProbe(p) => p.load(),
            P::UProbe(p) => p.load(),
            P::TracePoint(p) => p.load(),
            P::SocketFilter(p) => p.load(),
            P::Xdp(p) => p.load(),
            P::SkMsg(p) => p.load(),
            P::SkSkb(p) => p.load(),
            P::CgroupSockAddr(p) => p.load(),
            P::SockOps(p) => p.load(),
            P::SchedClassifier(p) => p.load(),
            P::CgroupSkb(p) => p.load(),
            P::CgroupSysctl(p) => p.load(),
            P::CgroupSockopt(p) => p.load(),
            P::LircMode2(p) => p.load(),
            P::PerfEvent(p) => p.load(),
            P::RawTracePoint(p) => p.load(),
            P::FlowDissector(p) => p.load(),
            P::SkLookup(p) => p.load(),
            P::CgroupSock(p) => p.load(),
            P::CgroupDevice(p) => p.load(),
            _ => {
                skipped += 1;
                continue;
            }
        };
        r.map_err(|e| format!("aya: program {name}: {e}"))?;
        programs += 1;
    }
    Ok(Loaded {
        programs,
        skipped,
        _keep: Box::new(ebpf),
    })
}

fn load_oxbpf(_args: &Args) -> Result<Loaded, String> {
    // HOOK(oxbpf-loader): wire `oxbpf::loader` here when it lands.
    eprintln!("load_once: oxbpf's loader is not wired yet (HOOK(oxbpf-loader))");
    std::process::exit(2)
}

fn main() {
    let start = Instant::now();
    let args = args();
    let loaded = match args.loader.as_str() {
        "libbpf" => load_libbpf(&args),
        "aya" => load_aya(&args),
        "oxbpf" => load_oxbpf(&args),
        "none" => Ok(Loaded {
            programs: 0,
            skipped: 0,
            _keep: Box::new(()),
        }),
        _ => usage(),
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
    drop(loaded);
}
