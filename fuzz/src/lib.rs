//! Shared pieces of the fuzz targets: the fixtures some targets relocate against, the input
//! splitter, and walks that touch every accessor of a parsed value (a panic anywhere is a
//! finding; errors are fine).

use std::sync::{Arc, OnceLock};

use oxbpf::btf::{Btf, BtfBuilder, BtfKind, MissingFeatures};
use oxbpf::object::Object;

/// The CO-RE fixtures, built by `tests/fixtures/build.sh`.
pub const CORE_OBJECTS: [&[u8]; 4] = [
    include_bytes!("../../tests/fixtures/core/layout.clang19.o"),
    include_bytes!("../../tests/fixtures/core/kernel.clang19.o"),
    include_bytes!("../../tests/fixtures/core/poisoned.clang19.o"),
    include_bytes!("../../tests/fixtures/core/layout.clang14.o"),
];

/// The custom CO-RE target built from `layout.bpf.c -DTARGET`.
pub const LAYOUT_TARGET_OBJECT: &[u8] =
    include_bytes!("../../tests/fixtures/core/layout.TARGET.clang19.o");

/// Linux 6.1's vmlinux BTF, parsed once per process (the fixed target of the `core` and
/// `relocate` targets' fuzzed objects).
pub fn linux_61() -> Arc<Btf> {
    static BTF: OnceLock<Arc<Btf>> = OnceLock::new();
    BTF.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/btf/linux-6.1.btf"
        );
        let bytes = std::fs::read(path).expect("tests/fixtures/btf/linux-6.1.btf");
        let btf = Btf::parse(bytes).expect("linux-6.1.btf parses");
        btf.build_index();
        Arc::new(btf)
    })
    .clone()
}

/// The parsed CO-RE fixture objects.
pub fn core_objects() -> &'static [Object] {
    static OBJS: OnceLock<Vec<Object>> = OnceLock::new();
    OBJS.get_or_init(|| {
        CORE_OBJECTS
            .iter()
            .map(|b| Object::parse(b).expect("fixture parses"))
            .collect()
    })
}

/// The `.BTF` of `layout.TARGET`.
pub fn layout_target() -> Arc<Btf> {
    static BTF: OnceLock<Arc<Btf>> = OnceLock::new();
    BTF.get_or_init(|| {
        let obj = Object::parse(LAYOUT_TARGET_OBJECT).expect("fixture parses");
        let raw = obj.btf().expect("fixture has BTF").raw_bytes().to_vec();
        Arc::new(Btf::parse(raw).expect("fixture BTF parses"))
    })
    .clone()
}

/// Splits `[len: u32 le][len bytes][rest]` into its two parts; a length past the end takes
/// everything for the first part.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    rest.split_at(len)
}

/// Joins two parts the way [`split`] splits them (to write seeds).
pub fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + a.len() + b.len());
    v.extend_from_slice(&(a.len() as u32).to_le_bytes());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

/// Every accessor and lookup of every type of `btf`, then the writer's round trip and the
/// sanitizer. Returns how many types were walked.
pub fn walk_btf(btf: &Btf) -> u32 {
    let mut walked = 0;
    for id in 0..=btf.last_id() {
        let Ok(t) = btf.type_by_id(id) else { continue };
        walked += 1;
        let _ = (
            t.kind(),
            t.vlen(),
            t.kflag(),
            t.size(),
            t.ref_type(),
            t.int(),
            t.array(),
        );
        let _ = (
            t.enum_is_signed(),
            t.is_variadic(),
            t.func_linkage(),
            t.var_linkage(),
        );
        let _ = (
            t.decl_tag_component_idx(),
            t.tag_is_attr(),
            t.fwd_is_union(),
        );
        let name = t.name().unwrap_or("");
        let mut first_member = None;
        if let Some(ms) = t.members() {
            for m in ms {
                let n = m.name();
                if first_member.is_none() {
                    first_member = n.ok().map(str::to_string);
                }
            }
        }
        if let Some(vs) = t.enum_values() {
            for v in vs {
                let _ = (v.name(), v.value_i64());
            }
        }
        if let Some(ps) = t.params() {
            for p in ps {
                let _ = p.name();
            }
        }
        if let Some(vs) = t.datasec_vars() {
            for v in vs {
                let _ = btf.type_by_id(v.type_id);
            }
        }
        let _ = btf.type_size(id);
        let _ = btf.type_align(id);
        let _ = btf.skip_mods(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = btf.type_name(id);
        let _ = btf.declaration(id, "x");
        if let Some(m) = first_member {
            let _ = btf.find_member(id, &m);
        }
        if !name.is_empty() && id % 7 == 0 {
            let _ = btf.ids_by_essential_name(name, t.kind());
            let _ = btf.id_by_name_kind(name, t.kind());
            let _ = btf.ids_by_name(name);
        }
        let _ = format!("{t:?}");
    }
    let _ = btf.id_by_name_kind("task_struct", BtfKind::Struct);
    let mut raw = String::new();
    let _ = oxbpf::btf::dump_raw(btf, &mut raw);
    round_trip(btf);
    walked
}

/// The writer must emit BTF the parser takes back, before and after sanitizing.
fn round_trip(btf: &Btf) {
    if btf.base().is_some() {
        return;
    }
    let Ok(mut b) = BtfBuilder::from_btf(btf) else {
        return;
    };
    if let Ok(bytes) = b.to_bytes() {
        if let Err(e) = Btf::parse(bytes) {
            panic!("writer output does not parse back: {e}");
        }
    }
    let all = MissingFeatures {
        func: true,
        global_func: true,
        datasec: true,
        qmark_datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };
    oxbpf::btf::sanitize(&mut b, &all);
    if let Ok(bytes) = b.to_bytes() {
        if let Err(e) = Btf::parse(bytes) {
            panic!("sanitized writer output does not parse back: {e}");
        }
    }
}

/// Every accessor of a parsed object.
pub fn walk_object(obj: &Object) {
    let _ = (
        obj.name(),
        obj.byte_order(),
        obj.license(),
        obj.kern_version(),
    );
    let _ = (
        obj.arena_data(),
        obj.jump_tables(),
        obj.is_loadable_on_host(),
    );
    for p in obj.programs() {
        let insns = obj.program_insns(p);
        let _ = oxbpf::insn::decode(insns);
        let _ = format!("{p:?}");
    }
    for s in obj.prog_sections() {
        let _ = format!("{s:?}");
    }
    for m in obj.maps() {
        let _ = format!("{m:?}");
    }
    for d in obj.data_sections() {
        // Not the bytes: a large `.bss` would make the harness, not the parser, slow.
        let _ = (
            d.name(),
            d.map_name(),
            d.size(),
            format!("{:?}", d.variables()),
        );
        for v in d.variables() {
            let _ = d.get(&v.name);
        }
    }
    for e in obj.externs() {
        let _ = format!("{e:?}");
    }
    if let Some(btf) = obj.btf() {
        let _ = btf.last_id();
    }
}
