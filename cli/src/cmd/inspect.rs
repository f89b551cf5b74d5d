//! `oxbpf inspect FILE.o`: what an object holds, offline and without privileges; with
//! `--relocated`, each program's final instructions after CO-RE against a target BTF.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use oxbpf::btf::{format_value, Btf};
use oxbpf::insn::{opcode::pseudo, Insn};
use oxbpf::loader::{kernel_btf, Loader};
use oxbpf::object::{DataKind, ExternKind, Object, Pinning};
use oxbpf::relocate::{MapRefKind, Relocated, RelocatedProgram};
use serde_json::{json, Value as Json};

use crate::exit::{CmdResult, Failure};
use crate::listing::Listing;
use crate::objects::{self, slot_name, type_name};
use crate::out::{self, lower, Table};

/// `oxbpf inspect`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The BPF object (ELF) file.
    pub file: PathBuf,
    /// Disassemble each program (as in the object, or relocated with --relocated).
    #[arg(long)]
    pub disasm: bool,
    /// Relocate offline: CO-RE against the target BTF, subprograms linked, externs
    /// resolved where possible; shows what the kernel would be handed.
    #[arg(long)]
    pub relocated: bool,
    /// The target BTF for --relocated (raw BTF or an ELF with .BTF; default: the running
    /// kernel's /sys/kernel/btf/vmlinux). Implies --relocated.
    #[arg(long, value_name = "TARGET")]
    pub btf: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `oxbpf inspect`.
pub fn run(args: InspectArgs) -> CmdResult {
    let obj = objects::open(&args.file)?;
    let relocated = if args.relocated || args.btf.is_some() {
        let mut loader = Loader::new();
        if let Some(p) = &args.btf {
            loader = loader.target_btf(p);
        }
        let _p = out::Progress::start(format!("relocating {}", args.file.display()));
        let r = loader.relocate(&obj).map_err(|e| {
            Failure::from(e).detail(format!(
                "while relocating against {}",
                objects::target_label(args.btf.as_ref())
            ))
        })?;
        // For naming kfunc calls; relocation already read it, so this cannot fail unless
        // nothing needed it.
        let target = match &args.btf {
            Some(p) => kernel_btf::read_btf_file(p).ok().map(Arc::new),
            None => kernel_btf::vmlinux().ok(),
        };
        Some((r, target))
    } else {
        None
    };
    let relocated = relocated.as_ref().map(|(r, t)| Reloc {
        r,
        target: t.as_deref(),
    });
    if args.json {
        out::json(&to_json(&args, &obj, relocated));
    } else {
        print_text(&args, &obj, relocated);
    }
    Ok(())
}

/// A relocation result and the target BTF it was made against.
#[derive(Clone, Copy)]
struct Reloc<'a> {
    r: &'a Relocated,
    target: Option<&'a Btf>,
}

fn core_count(obj: &Object) -> usize {
    obj.btf_ext()
        .map_or(0, |e| e.core_relos.iter().map(|s| s.records.len()).sum())
}

fn extern_kind(k: &ExternKind) -> &'static str {
    match k {
        ExternKind::Kconfig { .. } => "kconfig",
        ExternKind::Ksym { type_id: 0 } => "ksym (typeless)",
        ExternKind::Ksym { .. } => "ksym",
        ExternKind::Kfunc { .. } => "kfunc",
        ExternKind::Unknown => "unknown",
    }
}

fn pinning(p: Pinning) -> &'static str {
    match p {
        Pinning::None => "-",
        Pinning::ByName => "by-name",
    }
}

/// The initial value of a variable, through its BTF type when there is one.
fn initial_value(obj: &Object, bytes: &[u8], type_id: Option<u32>) -> String {
    match (obj.btf(), type_id) {
        (Some(btf), Some(id)) => format_value(btf, id, bytes).unwrap_or_else(|_| out::hex(bytes)),
        _ => out::hex(bytes),
    }
}

fn print_text(args: &InspectArgs, obj: &Object, relocated: Option<Reloc<'_>>) {
    let mut s = format!(
        "{}: object `{}`, license {}, {}, {}, {}\n",
        args.file.display(),
        obj.name(),
        obj.license().unwrap_or("(none)"),
        out::count(obj.programs().len(), "program"),
        out::count(obj.maps().len(), "map"),
        out::count(core_count(obj), "CO-RE relocation")
    );
    s.push_str("\nPrograms:\n");
    let mut t = Table::new(&[
        "NAME", "SECTION", "TYPE", "ATTACH", "TARGET", "INSNS", "AUTOLOAD",
    ]);
    for p in obj.programs() {
        t.row(vec![
            p.name().into(),
            p.section_name().into(),
            lower(p.prog_type().short_name(), p.prog_type().0),
            p.expected_attach_type()
                .map_or("-".into(), |a| lower(a.short_name(), a.0)),
            p.attach_target().unwrap_or("-").into(),
            obj.program_insns(p).len().to_string(),
            if p.autoload() { "yes" } else { "no" }.into(),
        ]);
    }
    s.push_str(&t.render());
    if !obj.maps().is_empty() {
        s.push_str("\nMaps:\n");
        let mut t = Table::new(&[
            "NAME",
            "TYPE",
            "KEY",
            "VALUE",
            "MAX",
            "FLAGS",
            "PIN",
            "KEY TYPE",
            "VALUE TYPE",
        ]);
        for m in obj.maps() {
            t.row(vec![
                m.name.clone(),
                lower(m.map_type.short_name(), m.map_type.0),
                m.key_size.to_string(),
                m.value_size.to_string(),
                m.max_entries.to_string(),
                out::flags(m.map_flags.iter_names()),
                pinning(m.pinning).into(),
                type_name(obj.btf(), m.btf_key_type_id),
                type_name(obj.btf(), m.btf_value_type_id),
            ]);
        }
        s.push_str(&t.render());
    }
    let data: Vec<_> = obj
        .data_sections()
        .iter()
        .filter(|d| d.kind() != DataKind::Kconfig)
        .collect();
    if !data.is_empty() {
        s.push_str("\nGlobal variables:\n");
        let mut t = Table::new(&["SECTION", "NAME", "OFFSET", "SIZE", "TYPE", "INITIAL VALUE"]);
        for d in data {
            if d.variables().is_empty() {
                t.row(vec![
                    d.name().into(),
                    "(no variables)".into(),
                    "".into(),
                    d.size().to_string(),
                ]);
            }
            for v in d.variables() {
                let bytes = d.get(&v.name).unwrap_or_default();
                t.row(vec![
                    d.name().into(),
                    v.name.clone(),
                    v.offset.to_string(),
                    v.size.to_string(),
                    type_name(obj.btf(), v.btf_type_id),
                    initial_value(obj, bytes, v.btf_type_id),
                ]);
            }
        }
        s.push_str(&t.render());
    }
    if !obj.externs().is_empty() {
        s.push_str("\nExterns:\n");
        let mut t = Table::new(&["NAME", "KIND", "WEAK"]);
        for e in obj.externs() {
            t.row(vec![
                e.name.clone(),
                extern_kind(&e.kind).into(),
                if e.weak { "yes" } else { "no" }.into(),
            ]);
        }
        s.push_str(&t.render());
    }
    s.push_str(&format!("\nBTF: {}\n", btf_summary(obj)));
    for w in obj.warnings() {
        s.push_str(&format!("warning: {w}\n"));
    }
    out::print(&s);

    match relocated {
        Some(Reloc { r, target }) => {
            let mut s = format!(
                "\nRelocated against {} ({} CO-RE decisions):\n",
                objects::target_label(args.btf.as_ref()),
                r.core.len()
            );
            for p in &r.programs {
                let poisoned = p.core.iter().filter(|d| d.is_poisoned()).count();
                s.push_str(&format!(
                    "  {}: {} instructions, {} map references, {} CO-RE relocations{}\n",
                    p.name,
                    p.insns.len(),
                    p.map_refs.len(),
                    p.core.len(),
                    if poisoned > 0 {
                        format!(" ({poisoned} poisoned)")
                    } else {
                        String::new()
                    }
                ));
                if args.disasm {
                    s.push_str(&relocated_listing(obj, p, target).render("    "));
                }
            }
            out::print(&s);
        }
        None if args.disasm => {
            let mut s = String::from("\nInstructions (as in the object, before relocation):\n");
            for p in obj.programs() {
                s.push_str(&format!("  {} (section {}):\n", p.name(), p.section_name()));
                s.push_str(&Listing::new(obj.program_insns(p)).render("    "));
            }
            out::print(&s);
        }
        None => {}
    }
}

fn btf_summary(obj: &Object) -> String {
    let Some(btf) = obj.btf() else {
        return "none (no CO-RE, no typed maps)".into();
    };
    let mut s = format!("{} types", btf.last_id());
    if let Some(ext) = obj.btf_ext() {
        let func: usize = ext.func_info.iter().map(|x| x.records.len()).sum();
        let line: usize = ext.line_info.iter().map(|x| x.records.len()).sum();
        s.push_str(&format!(
            ", BTF.ext: {func} func_info, {line} line_info, {} CO-RE relocations",
            core_count(obj)
        ));
    } else {
        s.push_str(", no BTF.ext");
    }
    s
}

/// A relocated program's listing: maps by name, subprogram calls by function, source lines.
fn relocated_listing<'a>(
    obj: &'a Object,
    p: &'a RelocatedProgram,
    target: Option<&'a Btf>,
) -> Listing<'a> {
    let btf: Option<&Btf> = obj.btf();
    let mut l = Listing::new(&p.insns);
    l.imm_name = Box::new(move |i, insn: &Insn, full| {
        let r = p.map_refs.iter().find(|r| r.insn == i)?;
        let name = slot_name(obj, r.map);
        Some(match (r.kind, insn.src()) {
            (MapRefKind::Value, _) | (_, pseudo::MAP_VALUE) => {
                format!("map_value[{name}]+{}", full >> 32)
            }
            _ => format!("map[{name}]"),
        })
    });
    l.map = Box::new(move |i| {
        let r = p.map_refs.iter().find(|r| r.insn == i)?;
        Some(slot_name(obj, r.map))
    });
    l.call_name = Box::new(move |i, insn: &Insn| {
        if insn.is_pseudo_call() {
            let target = (i as i64 + 1 + i64::from(insn.imm)) as usize;
            return p
                .function_at(target)
                .map(|f| format!("{:+} <{}>", insn.imm, f.name));
        }
        if insn.is_kfunc_call() && insn.off == 0 {
            let t = target?.type_by_id(insn.imm as u32).ok()?;
            return t.name().ok().map(str::to_string);
        }
        None
    });
    l.source = Box::new(move |i| {
        let btf = btf?;
        let li = p.line_info.iter().find(|l| l.insn_off as usize == i)?;
        let text = btf.string_at(li.line_off).ok()?.trim();
        if text.is_empty() {
            return None;
        }
        let file = btf.string_at(li.file_name_off).ok()?;
        let file = file.rsplit('/').next().unwrap_or(file);
        Some(format!("{text}  [{file}:{}]", li.line_col >> 10))
    });
    l.function = Box::new(move |i| {
        p.placements
            .iter()
            .find(|f| f.start == i)
            .map(|f| f.name.clone())
    });
    l
}

fn to_json(args: &InspectArgs, obj: &Object, relocated: Option<Reloc<'_>>) -> Json {
    let programs: Vec<Json> = obj
        .programs()
        .iter()
        .map(|p| {
            let mut j = json!({
                "name": p.name(),
                "section": p.section_name(),
                "type": lower(p.prog_type().short_name(), p.prog_type().0),
                "expected_attach_type": p.expected_attach_type().map(|a| lower(a.short_name(), a.0)),
                "attach_target": p.attach_target(),
                "auto_attach": format!("{:?}", p.auto_attach()).to_ascii_lowercase(),
                "insns": obj.program_insns(p).len(),
                "autoload": p.autoload(),
                "sleepable": p.is_sleepable(),
            });
            if args.disasm && relocated.is_none() {
                j["instructions"] = Listing::new(obj.program_insns(p)).json();
            }
            j
        })
        .collect();
    let maps: Vec<Json> = obj
        .maps()
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "type": lower(m.map_type.short_name(), m.map_type.0),
                "key_size": m.key_size,
                "value_size": m.value_size,
                "max_entries": m.max_entries,
                "flags": m.map_flags.bits(),
                "pinning": pinning(m.pinning),
                "key_type": m.btf_key_type_id.map(|id| type_name(obj.btf(), Some(id))),
                "value_type": m.btf_value_type_id.map(|id| type_name(obj.btf(), Some(id))),
            })
        })
        .collect();
    let globals: Vec<Json> = obj
        .data_sections()
        .iter()
        .filter(|d| d.kind() != DataKind::Kconfig)
        .map(|d| {
            let vars: Vec<Json> = d
                .variables()
                .iter()
                .map(|v| {
                    let bytes = d.get(&v.name).unwrap_or_default();
                    let value = match (obj.btf(), v.btf_type_id) {
                        (Some(b), Some(id)) => oxbpf::btf::decode_value(b, id, bytes)
                            .map(|v| out::value_json(&v))
                            .unwrap_or_else(|_| json!(out::hex(bytes))),
                        _ => json!(out::hex(bytes)),
                    };
                    json!({
                        "name": v.name,
                        "offset": v.offset,
                        "size": v.size,
                        "type": type_name(obj.btf(), v.btf_type_id),
                        "value": value,
                    })
                })
                .collect();
            json!({
                "section": d.name(),
                "map": d.map_name(),
                "size": d.size(),
                "read_only": d.is_read_only(),
                "variables": vars,
            })
        })
        .collect();
    let externs: Vec<Json> = obj
        .externs()
        .iter()
        .map(|e| json!({"name": e.name, "kind": extern_kind(&e.kind), "weak": e.weak}))
        .collect();
    let mut j = json!({
        "file": args.file.display().to_string(),
        "name": obj.name(),
        "license": obj.license(),
        "kern_version": obj.kern_version(),
        "programs": programs,
        "maps": maps,
        "globals": globals,
        "externs": externs,
        "btf": obj.btf().map(|b| json!({
            "types": b.last_id(),
            "ext": obj.btf_ext().is_some(),
        })),
        "core_relocations": core_count(obj),
        "warnings": obj.warnings().iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    });
    if let Some(Reloc { r, target }) = relocated {
        j["target"] = json!(objects::target_label(args.btf.as_ref()));
        j["relocated"] = Json::Array(
            r.programs
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "insns": relocated_listing(obj, p, target).json(),
                        "functions": p.placements.iter().map(|f| json!({
                            "name": f.name, "start": f.start, "len": f.len,
                        })).collect::<Vec<_>>(),
                        "core": p.core.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        );
    }
    j
}
