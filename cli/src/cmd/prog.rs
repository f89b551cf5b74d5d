//! `oxbpf prog list` and `oxbpf prog dump ID`: the system's programs, and one program's
//! instructions as the kernel holds them (after the verifier's rewrites), disassembled with
//! its source lines, function names, map names and called kernel functions.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;

use clap::Subcommand;
use oxbpf::btf::Btf;
use oxbpf::insn::{opcode::pseudo, Insn};
use oxbpf::loader::kallsyms::Kallsyms;
use oxbpf::programs::query::all_programs;
use oxbpf::programs::{Program, ProgramInfo};
use oxbpf::syscall::{map_get_fd_by_id, map_info, prog_xlated_insns, FileFlags};
use serde_json::{json, Value as Json};

use crate::exit::{CmdResult, Code, Failure};
use crate::listing::Listing;
use crate::objects::btf_by_id;
use crate::out::{self, lower, Table};

/// `oxbpf prog ...`
#[derive(Subcommand, Debug)]
pub enum ProgCommand {
    /// List every program of the system.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disassemble a loaded program's instructions (as the verifier rewrote them).
    Dump {
        /// The program's id (see `oxbpf prog list`).
        id: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `oxbpf prog ...`.
pub fn run(cmd: ProgCommand) -> CmdResult {
    match cmd {
        ProgCommand::List { json } => list(json),
        ProgCommand::Dump { id, json } => dump(id, json),
    }
}

fn info_json(p: &ProgramInfo) -> Json {
    json!({
        "id": p.id,
        "name": p.name,
        "type": lower(p.prog_type.short_name(), p.prog_type.0),
        "tag": p.tag_hex(),
        "created_by_uid": p.created_by_uid,
        "gpl_compatible": p.gpl_compatible,
        "xlated_size": p.xlated_size,
        "jited_size": p.jited_size,
        "verified_insns": p.verified_insns,
        "map_ids": p.map_ids,
        "btf_id": p.btf_id,
        "run_count": p.run_count,
        "run_time_ns": p.run_time_ns,
    })
}

fn list(json: bool) -> CmdResult {
    let progs = all_programs().map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail("while listing the system's programs")
    })?;
    if json {
        out::json(&Json::Array(progs.iter().map(info_json).collect()));
        return Ok(());
    }
    let mut t = Table::new(&[
        "ID", "TYPE", "NAME", "TAG", "UID", "XLATED", "JITED", "VERIFIED", "MAPS", "BTF",
    ]);
    for p in &progs {
        let maps: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
        t.row(vec![
            p.id.to_string(),
            lower(p.prog_type.short_name(), p.prog_type.0),
            if p.name.is_empty() {
                "-".into()
            } else {
                p.name.clone()
            },
            p.tag_hex(),
            p.created_by_uid.to_string(),
            p.xlated_size.to_string(),
            p.jited_size.to_string(),
            p.verified_insns.to_string(),
            if maps.is_empty() {
                "-".into()
            } else {
                maps.join(",")
            },
            if p.btf_id == 0 {
                "-".into()
            } else {
                p.btf_id.to_string()
            },
        ]);
    }
    out::print(&t.render());
    Ok(())
}

/// Kernel symbol names of the addresses the xlated calls jump to (`__bpf_call_base + imm`).
fn call_targets(insns: &[Insn]) -> HashMap<i32, String> {
    let imms: HashSet<i32> = insns
        .iter()
        .filter(|i| i.is_call() && (i.src() == 0 || i.src() == pseudo::KFUNC_CALL))
        .map(|i| i.imm)
        .collect();
    let mut names = HashMap::new();
    let Ok(k) = Kallsyms::running() else {
        return names;
    };
    let Some(base) = k
        .address("__bpf_call_base")
        .filter(|_| !k.addresses_hidden())
    else {
        return names;
    };
    let wanted: HashMap<u64, i32> = imms
        .iter()
        .map(|&imm| (base.wrapping_add(imm as i64 as u64), imm))
        .collect();
    for (name, addr) in k.iter() {
        if let Some(&imm) = wanted.get(&addr) {
            names.insert(imm, name.to_string());
        }
    }
    names
}

fn dump(id: u32, json: bool) -> CmdResult {
    let prog = Program::from_id(id).map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail(format!("while opening program {id}"))
    })?;
    let info = prog
        .info()
        .map_err(|e| Failure::from_error(Code::Failure, &e))?;
    let insns =
        prog_xlated_insns(prog.as_fd()).map_err(|e| Failure::from_error(Code::Failure, &e))?;
    if insns.is_empty() {
        return Err(Failure::new(
            Code::Privileges,
            format!("the kernel shows no instructions of program {id}"),
        )
        .detail("reading a program's instructions needs CAP_SYS_ADMIN (bpf_dump_raw_ok)"));
    }
    let btf: Option<Btf> = btf_by_id(info.btf_id);
    let maps: HashMap<u32, String> = info
        .map_ids
        .iter()
        .filter_map(|&m| {
            let fd = map_get_fd_by_id(m, FileFlags::empty()).ok()?;
            Some((m, map_info(fd.as_fd()).ok()?.name()))
        })
        .collect();
    let calls = call_targets(&insns);
    let vmlinux = oxbpf::loader::kernel_btf::vmlinux().ok();

    let map_name = |i: usize| -> Option<(u32, String)> {
        let insn = insns.get(i)?;
        if !insn.is_ld_imm64() || !matches!(insn.src(), pseudo::MAP_FD | pseudo::MAP_VALUE) {
            return None;
        }
        let id = insn.imm as u32;
        Some((id, maps.get(&id).cloned().unwrap_or_default()))
    };
    let mut l = Listing::new(&insns);
    l.imm_name = Box::new(|i, insn: &Insn, full| {
        let (id, name) = map_name(i)?;
        Some(match insn.src() {
            pseudo::MAP_VALUE => format!("map[id:{id}][0]+{} ({name})", full >> 32),
            _ => format!("map[id:{id}] ({name})"),
        })
    });
    l.map = Box::new(|i| map_name(i).map(|(_, n)| n));
    l.call_name = Box::new(|i, insn: &Insn| {
        if insn.is_pseudo_call() {
            // A JITed program's dump keeps the relative offset in `off` (and the
            // subprogram's index in `imm`); an interpreted one's in `imm`.
            let rel = if insn.off != 0 {
                i64::from(insn.off)
            } else {
                i64::from(insn.imm)
            };
            let target = (i as i64 + 1 + rel) as u32;
            let name = info
                .func_info
                .iter()
                .find(|f| f.insn_off == target)
                .and_then(|f| btf.as_ref()?.type_by_id(f.type_id).ok()?.name().ok());
            return Some(match name {
                Some(n) => format!("{rel:+} <{n}>"),
                None => format!("{rel:+}"),
            });
        }
        if let Some(n) = calls.get(&insn.imm) {
            return Some(n.clone());
        }
        if insn.is_kfunc_call() {
            let t = vmlinux.as_ref()?.type_by_id(insn.imm as u32).ok()?;
            return t.name().ok().map(str::to_string);
        }
        None
    });
    l.source = Box::new(|i| {
        let b = btf.as_ref()?;
        let li = info.line_info.iter().find(|l| l.insn_off as usize == i)?;
        let text = b.string_at(li.line_off).ok()?.trim();
        if text.is_empty() {
            return None;
        }
        let file = b.string_at(li.file_name_off).ok()?;
        let file = file.rsplit('/').next().unwrap_or(file);
        Some(format!("{text}  [{file}:{}]", li.line_col >> 10))
    });
    l.function = Box::new(|i| {
        let f = info.func_info.iter().find(|f| f.insn_off as usize == i)?;
        let name = btf.as_ref()?.type_by_id(f.type_id).ok()?.name().ok()?;
        Some(name.to_string())
    });

    if json {
        let mut j = info_json(&info);
        j["insns"] = l.json();
        out::json(&j);
    } else {
        let header = format!(
            "program {id} `{}` ({}), {} instructions{}\n",
            info.name,
            lower(info.prog_type.short_name(), info.prog_type.0),
            insns.len(),
            if btf.is_none() {
                " (no BTF: no source lines)"
            } else {
                ""
            }
        );
        out::print(&(header + &l.render("")));
    }
    Ok(())
}
