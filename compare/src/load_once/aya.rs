//! aya: `EbpfLoader::load` + `load()` of every program that takes no arguments.

use super::{Args, Loaded};

/// Loads `args.object` with aya.
pub fn load(args: &Args) -> Result<Loaded, String> {
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
