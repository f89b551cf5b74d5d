//! CO-RE: relocating `tests/fixtures/core/many.clang19.o` (hundreds of relocations over
//! 20 kernel structs) against this machine's vmlinux BTF, oxbpf and aya-obj 0.3 side by side.
//!
//! oxbpf finds candidates through the BTF's essential-name index (built once per `Btf`) and
//! caches them per local type; aya-obj scans every vmlinux type per relocation.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use object::{Object, ObjectSection, SectionKind};
use oxbpf::btf::{Btf, BtfExt};
use oxbpf::insn::{ByteOrder, Insn};
use oxbpf::relocate::core::{CoreRelocator, Targets};

struct Input {
    elf: Vec<u8>,
    btf: Btf,
    ext: BtfExt,
    sections: Vec<(String, Vec<Insn>)>,
}

fn input() -> Input {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/core/many.clang19.o"
    );
    let elf = std::fs::read(path).expect("fixture");
    let file = object::File::parse(&*elf).expect("ELF");
    let data = |n: &str| file.section_by_name(n).unwrap().data().unwrap().to_vec();
    let btf = Btf::parse(data(".BTF")).unwrap();
    let ext = BtfExt::parse(&data(".BTF.ext"), &btf).unwrap();
    let sections = file
        .sections()
        .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
        .map(|s| {
            let insns = Insn::decode_all(s.data().unwrap(), ByteOrder::Little).unwrap();
            (s.name().unwrap().to_string(), insns)
        })
        .collect();
    drop(file);
    Input {
        elf,
        btf,
        ext,
        sections,
    }
}

fn relocate(inp: &Input, vmlinux: &Arc<Btf>) -> usize {
    let mut r = CoreRelocator::new(&inp.btf, Targets::kernel(vmlinux.clone()));
    let mut n = 0;
    for sec in &inp.ext.core_relos {
        let mut insns = inp
            .sections
            .iter()
            .find(|(name, _)| *name == sec.name)
            .unwrap()
            .1
            .clone();
        n += r
            .relocate_section(&sec.name, &sec.records, &mut insns)
            .unwrap()
            .len();
        black_box(&insns);
    }
    n
}

fn bench(c: &mut Criterion) {
    let Ok(raw) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("no /sys/kernel/btf/vmlinux: nothing to bench");
        return;
    };
    let inp = input();
    let vmlinux = Arc::new(Btf::parse(raw.clone()).unwrap());
    vmlinux.build_index();
    let n = relocate(&inp, &vmlinux);
    let mut g = c.benchmark_group("core");
    g.bench_function(
        format!("oxbpf relocate {n} records (vmlinux parsed, indexed)"),
        |b| b.iter(|| relocate(&inp, &vmlinux)),
    );
    g.bench_function(format!("oxbpf parse vmlinux + relocate {n} records"), |b| {
        b.iter(|| {
            let v = Arc::new(Btf::parse(raw.clone()).unwrap());
            relocate(&inp, &v)
        })
    });
    let aya_target = aya_obj::btf::Btf::parse(&raw, Default::default()).unwrap();
    g.sample_size(10);
    g.bench_function(
        format!("aya-obj relocate_btf {n} records (vmlinux parsed)"),
        |b| {
            b.iter(|| {
                let mut obj = aya_obj::Object::parse(&inp.elf).unwrap();
                obj.relocate_btf(&aya_target).unwrap();
                black_box(obj)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
