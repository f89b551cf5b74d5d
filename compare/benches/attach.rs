//! Attach + detach of a tracepoint program (`syscalls/sys_enter_getpid`): oxbpf's programs
//! API and its syscall layer vs libbpf-rs vs aya. Needs root.
//!
//! Every side does per iteration what its attach API does: read the tracepoint id from
//! tracefs, `perf_event_open` it (all processes, CPU 0, as libbpf and aya do), create a
//! `BPF_LINK_CREATE` perf-event link, then detach (close the link and the perf event).
//! - oxbpf programs API: `tests/fixtures/compare/attach.clang19.o` loaded by oxbpf's
//!   `Loader`, `Program::attach_tracepoint`, the `Link` dropped.
//! - oxbpf syscall layer: the program hand-assembled with `oxbpf::insn::asm`, loaded with
//!   `syscall::prog_load`; `tracefs::event_id` + `perf_event_open` + `link_create`, dropped.
//! - libbpf-rs: `tests/fixtures/compare/attach.clang19.o` loaded by libbpf,
//!   `Program::attach_tracepoint`, the `Link` dropped.
//! - aya: the same object, `TracePoint::attach` + `TracePoint::detach`.
//!
//! Before timing, each side's link is checked to count a `getpid`. The ratios come from paired
//! rounds ([`Paired`]); criterion's runs give the absolute figures beside them.
//!
//! fentry attach is not measured: this kernel refuses fentry loads (EPERM) for every loader.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::path::PathBuf;

use compare::bench::{ratio, rounds, Paired};
use compare::summary::Table;
use compare::tracefs;
use libbpf_rs::{MapCore, MapFlags, ObjectBuilder, TracepointCategory};
use oxbpf::insn::{asm, opcode::size, reg::*, Insn};
use oxbpf::loader::Loader;
use oxbpf::maps::Array;
use oxbpf::object::Object;
use oxbpf::programs::Program;
use oxbpf::syscall::{self as ox, AttachType, LinkCreate, LinkTarget, MapFd, PerfEventAttr};

const GROUP: &str = "tracepoint_attach_detach";
const CATEGORY: &str = "syscalls";
const EVENT: &str = "sys_enter_getpid";

fn object() -> PathBuf {
    compare::repo_root().join("tests/fixtures/compare/attach.clang19.o")
}

fn getpid() {
    // SAFETY: a raw getpid (glibc does not cache it, but be explicit): no arguments.
    unsafe { libc::syscall(libc::SYS_getpid) };
}

/// `hits[0] += 1; return 0`, as `attach.bpf.c`'s `count_getpid`.
fn count_prog(map: &MapFd) -> Vec<Insn> {
    use std::os::fd::AsRawFd;
    let [ld0, ld1] = asm::ld_map_fd(R1, map.as_fd().as_raw_fd());
    vec![
        asm::st_imm(size::W, R10, -4, 0),
        asm::mov64_reg(R2, R10),
        asm::alu64_imm(oxbpf::insn::opcode::alu::ADD, R2, -4),
        ld0,
        ld1,
        asm::call_helper(1), // bpf_map_lookup_elem
        asm::jmp_imm(oxbpf::insn::opcode::jmp::JEQ, R0, 0, 2),
        asm::mov64_imm(R1, 1),
        asm::atomic_add64(R0, R1, 0),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ]
}

fn ox_hits(map: &MapFd) -> u64 {
    let mut v = [0u8; 8];
    ox::map_lookup_elem(map, &0u32.to_ne_bytes(), &mut v, ox::ElemFlags::ANY).unwrap();
    u64::from_ne_bytes(v)
}

fn ox_attach(tracefs: &std::path::Path, prog: std::os::fd::BorrowedFd<'_>) {
    let id = tracefs::event_id(tracefs, CATEGORY, EVENT).unwrap();
    let perf = ox::perf_event_open(&PerfEventAttr::tracepoint(id), -1, 0, None).unwrap();
    let link = ox::link_create(&LinkCreate::new(
        prog,
        LinkTarget::Fd(perf.as_fd()),
        AttachType::PERF_EVENT,
    ))
    .unwrap();
    black_box(&link);
    drop(link);
    drop(perf);
}

/// Attach + detach through oxbpf's programs API.
fn ox_api_attach(prog: &Program) {
    let link = prog.attach_tracepoint(CATEGORY, EVENT).unwrap();
    drop(black_box(link));
}

fn main() {
    if let Err(why) = compare::bpf_privileges() {
        eprintln!("SKIPPED attach: {why}");
        return;
    }
    let tracefs = match tracefs::ensure_mounted() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("SKIPPED attach: {e}");
            return;
        }
    };
    libbpf_rs::set_print(None);

    // oxbpf: map + hand-assembled program.
    let map = ox::map_create(&ox::MapCreate {
        map_type: ox::MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        name: "cmp_hits",
        ..Default::default()
    })
    .unwrap();
    let insns = count_prog(&map);
    let prog = ox::prog_load(&mut ox::ProgLoad {
        prog_type: ox::ProgType::TRACEPOINT,
        insns: &insns,
        license: c"GPL",
        name: "cmp_getpid",
        ..Default::default()
    })
    .expect("oxbpf loads the tracepoint program");
    {
        let id = tracefs::event_id(&tracefs, CATEGORY, EVENT).unwrap();
        let perf = ox::perf_event_open(&PerfEventAttr::tracepoint(id), -1, 0, None).unwrap();
        let _link = ox::link_create(&LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(perf.as_fd()),
            AttachType::PERF_EVENT,
        ))
        .unwrap();
        getpid();
        assert!(ox_hits(&map) > 0, "oxbpf's link counts getpid");
    }

    // oxbpf's loader and programs API, on the object libbpf and aya load.
    let ox_loaded = Object::open(object())
        .map_err(|e| e.to_string())
        .and_then(|o| Loader::new().load(o).map_err(|e| e.to_string()))
        .expect("oxbpf loads attach.clang19.o");
    let ox_prog = ox_loaded
        .program("count_getpid")
        .expect("count_getpid")
        .program();
    {
        let _link = ox_prog.attach_tracepoint(CATEGORY, EVENT).unwrap();
        getpid();
        let hits = Array::<u64, _>::new(ox_loaded.map("hits").expect("hits")).unwrap();
        assert!(
            hits.get(0).unwrap() > 0,
            "oxbpf's attach_tracepoint link counts"
        );
    }

    // libbpf-rs.
    let lb_obj = ObjectBuilder::default()
        .open_file(object())
        .and_then(|o| o.load())
        .expect("libbpf loads attach.clang19.o");
    let lb_prog = lb_obj
        .progs_mut()
        .find(|p| p.name() == "count_getpid")
        .expect("count_getpid");
    let lb_hits = lb_obj.maps().find(|m| m.name() == "hits").expect("hits");
    {
        let _link = lb_prog
            .attach_tracepoint(TracepointCategory::Syscalls, EVENT)
            .unwrap();
        getpid();
        let v = lb_hits
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .unwrap()
            .unwrap();
        assert!(
            u64::from_ne_bytes(v[..8].try_into().unwrap()) > 0,
            "libbpf's link counts"
        );
    }

    // aya.
    let data = std::fs::read(object()).unwrap();
    let mut aya_obj = aya::Ebpf::load(&data).expect("aya loads attach.clang19.o");
    {
        let tp: &mut aya::programs::TracePoint = aya_obj
            .program_mut("count_getpid")
            .expect("count_getpid")
            .try_into()
            .unwrap();
        tp.load().unwrap();
        let link = tp.attach(CATEGORY, EVENT).unwrap();
        getpid();
        tp.detach(link).unwrap();
    }
    {
        let hits: aya::maps::Array<_, u64> =
            aya::maps::Array::try_from(aya_obj.map("hits").unwrap()).unwrap();
        assert!(hits.get(&0, 0).unwrap() > 0, "aya's link counts");
    }

    let m = {
        let lb_prog = &lb_prog;
        let tp: &mut aya::programs::TracePoint = aya_obj
            .program_mut("count_getpid")
            .unwrap()
            .try_into()
            .unwrap();
        Paired::new()
            .side("oxbpf", || ox_attach(&tracefs, prog.as_fd()))
            .side("oxbpf-programs", || ox_api_attach(ox_prog))
            .side("libbpf-rs", move || {
                let link = lb_prog
                    .attach_tracepoint(TracepointCategory::Syscalls, EVENT)
                    .unwrap();
                drop(black_box(link));
            })
            .side("aya", move || {
                let link = tp.attach(CATEGORY, EVENT).unwrap();
                tp.detach(black_box(link)).unwrap();
            })
            .run(rounds(300))
    };

    let mut c = compare::bench::criterion();
    {
        let mut g = c.benchmark_group(GROUP);
        g.bench_function("oxbpf", |b| b.iter(|| ox_attach(&tracefs, prog.as_fd())));
        g.bench_function("oxbpf-programs", |b| b.iter(|| ox_api_attach(ox_prog)));
        g.bench_function("libbpf-rs", |b| {
            b.iter(|| {
                let link = lb_prog
                    .attach_tracepoint(TracepointCategory::Syscalls, EVENT)
                    .unwrap();
                drop(black_box(link));
            })
        });
        let tp: &mut aya::programs::TracePoint = aya_obj
            .program_mut("count_getpid")
            .unwrap()
            .try_into()
            .unwrap();
        g.bench_function("aya", |b| {
            b.iter(|| {
                let link = tp.attach(CATEGORY, EVENT).unwrap();
                tp.detach(black_box(link)).unwrap();
            })
        });
        g.finish();
    }

    let t = |id| m.get(id);
    let mut table = Table::new("attach");
    table.ratio(
        "tracepoint attach + detach: oxbpf (programs API) / libbpf-rs",
        ratio(t("oxbpf-programs"), t("libbpf-rs")),
        None,
        "`Program::attach_tracepoint`, `Link` dropped; same object as libbpf-rs and aya",
    );
    table.ratio(
        "tracepoint attach + detach: oxbpf (programs API) / aya",
        ratio(t("oxbpf-programs"), t("aya")),
        None,
        "",
    );
    table.ratio(
        "tracepoint attach + detach: oxbpf (syscall layer) / libbpf-rs",
        ratio(t("oxbpf"), t("libbpf-rs")),
        None,
        "tracefs id read + perf_event_open + BPF_LINK_CREATE + close; paired rounds; issue 8 sets no target",
    );
    table.ratio(
        "tracepoint attach + detach: oxbpf (syscall layer) / aya",
        ratio(t("oxbpf"), t("aya")),
        None,
        "",
    );
    table.ratio(
        "fentry attach + detach",
        None,
        None,
        "not measured: this kernel refuses fentry loads (EPERM) for every loader",
    );
    table.print_and_save();
    c.final_summary();
}
