//! Executable sections, the functions in them, and the entry programs among those.

use std::collections::HashMap;

use super::elf::{ElfFile, ElfSymbol, SecRole, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_NOTYPE};
use super::error::ObjectError;
use super::relocs::Reloc;
use super::section::{AutoAttach, SecDef, SecFlags, SecInfo};
use crate::btf::BtfExt;
use crate::insn::Insn;
use crate::syscall::{AttachType, ProgType};

/// An executable ELF section: its instructions and relocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgSection {
    /// The section name (`xdp`, `kprobe/do_unlinkat`, `.text`).
    pub name: String,
    /// The ELF section index.
    pub elf_index: usize,
    /// The instructions, decoded in the object's byte order.
    pub insns: Vec<Insn>,
    /// Relocations, sorted by instruction index.
    pub relocs: Vec<Reloc>,
    /// Indices into [`Object::functions`](super::Object::functions) of the functions in this
    /// section, by instruction offset.
    pub functions: Vec<usize>,
}

impl ProgSection {
    /// Whether this is `.text` (whose functions are all subprograms).
    pub fn is_text(&self) -> bool {
        self.name == ".text"
    }
}

/// ELF symbol binding of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `STB_LOCAL` (`static`).
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK` (`__weak`).
    Weak,
}

/// A function: an `STT_FUNC` symbol in an executable section (or, for old objects without
/// function symbols, a whole section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The symbol name.
    pub name: String,
    /// Index into [`Object::prog_sections`](super::Object::prog_sections).
    pub section: usize,
    /// First instruction (index within the section).
    pub insn_off: usize,
    /// Number of instructions.
    pub insn_len: usize,
    /// Symbol binding.
    pub binding: Binding,
    /// `STV_HIDDEN`/`STV_INTERNAL` visibility (`__hidden`): a global function whose BTF FUNC
    /// libbpf marks static before load.
    pub hidden: bool,
    /// The BTF FUNC describing it (from `.BTF.ext` func_info), when known.
    pub btf_id: Option<u32>,
    /// Index into [`Object::programs`](super::Object::programs) when this function is an
    /// entry program; `None` for subprograms.
    pub program: Option<usize>,
}

impl Function {
    /// The instruction index range within the section.
    pub fn insn_range(&self) -> std::ops::Range<usize> {
        self.insn_off..self.insn_off + self.insn_len
    }

    /// Whether the symbol is global or weak.
    pub fn is_global(&self) -> bool {
        self.binding != Binding::Local
    }
}

/// An entry program: a global function in a non-`.text` executable section, classified by
/// its section name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    name: String,
    section_name: String,
    function: usize,
    section: usize,
    sec: SecInfo,
    prog_type: ProgType,
    expected_attach_type: Option<AttachType>,
    flags: SecFlags,
    autoload: bool,
    attach_target: Option<String>,
}

impl Program {
    pub(crate) fn new(name: String, section_name: String, function: usize, section: usize) -> Self {
        let sec = SecInfo::parse(&section_name);
        let (prog_type, expected_attach_type, flags) = match sec.def {
            Some(d) => (d.prog_type, d.attach_type, d.flags),
            None => (ProgType::UNSPEC, None, SecFlags::empty()),
        };
        Program {
            name,
            section_name,
            function,
            section,
            prog_type,
            expected_attach_type,
            flags,
            autoload: sec.autoload,
            attach_target: sec.attach_target.clone(),
            sec,
        }
    }

    /// The program (function) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The section name as written in `SEC()` (with a leading `?` if any).
    pub fn section_name(&self) -> &str {
        &self.section_name
    }

    /// Index into [`Object::functions`](super::Object::functions).
    pub fn function(&self) -> usize {
        self.function
    }

    /// Index into [`Object::prog_sections`](super::Object::prog_sections).
    pub fn section(&self) -> usize {
        self.section
    }

    /// The row of the section table the section name matched; `None` for an unknown section.
    pub fn sec_def(&self) -> Option<&'static SecDef> {
        self.sec.def
    }

    /// The program type (`UNSPEC` for an unknown section until [`Program::set_type`]).
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// Whether the program type is known (from the section name or set by the user).
    pub fn has_known_type(&self) -> bool {
        self.prog_type != ProgType::UNSPEC
    }

    /// `expected_attach_type` at load.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        self.expected_attach_type
    }

    /// Load flags from the section table.
    pub fn flags(&self) -> SecFlags {
        self.flags
    }

    /// Whether the program is sleepable.
    pub fn is_sleepable(&self) -> bool {
        self.flags.contains(SecFlags::SLEEPABLE)
    }

    /// How the program attaches automatically ([`AutoAttach::None`] for unknown sections).
    pub fn auto_attach(&self) -> AutoAttach {
        self.sec.def.map_or(AutoAttach::None, |d| d.auto_attach)
    }

    /// Whether the section makes this a return probe (kretprobe, uretprobe, kretsyscall, ...).
    pub fn is_retprobe(&self) -> bool {
        self.sec.def.is_some_and(|d| d.retprobe)
    }

    /// The attach target: the text after the first `/` of the section name, or what
    /// [`Program::set_attach_target`] set.
    pub fn attach_target(&self) -> Option<&str> {
        self.attach_target.as_deref()
    }

    /// Whether the program is loaded (`false` for `SEC("?...")` until changed).
    pub fn autoload(&self) -> bool {
        self.autoload
    }

    /// Set the program type (and clear the expected attach type); for unknown sections, or
    /// to override the section's.
    pub fn set_type(&mut self, prog_type: ProgType) -> &mut Self {
        self.prog_type = prog_type;
        self.expected_attach_type = None;
        self
    }

    /// Set the expected attach type.
    pub fn set_expected_attach_type(&mut self, attach: Option<AttachType>) -> &mut Self {
        self.expected_attach_type = attach;
        self
    }

    /// Set the load flags.
    pub fn set_flags(&mut self, flags: SecFlags) -> &mut Self {
        self.flags = flags;
        self
    }

    /// Load the program or not.
    pub fn set_autoload(&mut self, autoload: bool) -> &mut Self {
        self.autoload = autoload;
        self
    }

    /// Set the attach target (BTF name, kprobe function, ...).
    pub fn set_attach_target(&mut self, target: Option<String>) -> &mut Self {
        self.attach_target = target;
        self
    }
}

/// The executable sections, their functions and the entry programs, plus the ELF section
/// index → program section index map.
pub(super) struct Progs {
    pub sections: Vec<ProgSection>,
    pub functions: Vec<Function>,
    pub programs: Vec<Program>,
    /// By ELF section index: the program section index.
    pub by_elf: Vec<Option<usize>>,
    /// Program index by name (the first of a name).
    pub by_name: HashMap<String, usize>,
}

impl Progs {
    /// The entry program named `name` whose function starts at byte `value` of ELF section
    /// `elf_idx`.
    pub fn entry_at(&self, elf_idx: usize, value: u64, name: &str) -> Option<&Program> {
        let si = (*self.by_elf.get(elf_idx)?)?;
        let p = self.programs.get(*self.by_name.get(name)?)?;
        let f = self.functions.get(p.function)?;
        (p.section == si && f.insn_off as u64 * 8 == value).then_some(p)
    }
}

/// Find every executable section's functions and the entry programs among them.
pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    btf_ext: Option<&BtfExt>,
) -> Result<Progs, ObjectError> {
    let mut out = Progs {
        sections: Vec::new(),
        functions: Vec::new(),
        programs: Vec::new(),
        by_elf: vec![None; elf.sections.len()],
        by_name: HashMap::new(),
    };
    for (elf_idx, role) in roles.iter().enumerate() {
        if *role != SecRole::Exec {
            continue;
        }
        let sec_name = elf.sections[elf_idx].name.to_string();
        let bytes = elf.section_data(elf_idx)?;
        let insns = Insn::decode_all(bytes, elf.order).map_err(|rem| {
            ObjectError::section(
                &sec_name,
                format!(
                    "size {} is not a multiple of 8 ({rem} bytes left)",
                    bytes.len()
                ),
            )
        })?;
        let si = out.sections.len();
        out.by_elf[elf_idx] = Some(si);
        let func_info: HashMap<u32, u32> = btf_ext
            .and_then(|e| e.func_info_for(&sec_name))
            .map(|s| s.records.iter().map(|r| (r.insn_off, r.type_id)).collect())
            .unwrap_or_default();
        let funcs = section_functions(elf, elf_idx, &sec_name, insns.len())?;
        let is_text = sec_name == ".text";
        let mut indices = Vec::with_capacity(funcs.len());
        for mut f in funcs {
            f.section = si;
            f.btf_id = func_info.get(&((f.insn_off * 8) as u32)).copied();
            let fi = out.functions.len();
            if !is_text && f.is_global() {
                f.program = Some(out.programs.len());
                out.by_name
                    .entry(f.name.clone())
                    .or_insert(out.programs.len());
                out.programs
                    .push(Program::new(f.name.clone(), sec_name.clone(), fi, si));
            }
            indices.push(fi);
            out.functions.push(f);
        }
        out.sections.push(ProgSection {
            name: sec_name,
            elf_index: elf_idx,
            insns,
            relocs: Vec::new(),
            functions: indices,
        });
    }
    reject_duplicate_programs(&out)?;
    Ok(out)
}

/// Entry programs are found by name (and pinned by it): two of the same name (a hostile
/// object; a linked ELF cannot hold two global symbols alike) would make that ambiguous.
fn reject_duplicate_programs(progs: &Progs) -> Result<(), ObjectError> {
    let mut seen: HashMap<&str, &str> = HashMap::with_capacity(progs.programs.len());
    for p in &progs.programs {
        if let Some(first) = seen.insert(&p.name, &p.section_name) {
            return Err(ObjectError::Program {
                program: p.name.clone(),
                problem: format!(
                    "defined twice (in sections `{first}` and `{}`)",
                    p.section_name
                ),
            });
        }
    }
    Ok(())
}

/// The functions of one executable section, by offset. A section without FUNC symbols (old
/// compilers) is one function named after a symbol at its start, or after the section.
fn section_functions(
    elf: &ElfFile<'_>,
    elf_idx: usize,
    sec_name: &str,
    n_insns: usize,
) -> Result<Vec<Function>, ObjectError> {
    let in_section = || {
        elf.by_section[elf_idx]
            .iter()
            .filter_map(|&i| elf.symbol(i))
    };
    let mut syms: Vec<&ElfSymbol<'_>> = in_section().filter(|s| s.typ == STT_FUNC).collect();
    if syms.is_empty() {
        // Old compilers (clang < 9) emitted functions as NOTYPE symbols; local labels
        // (`LBB0_2`, `.L...`) are not functions.
        syms = in_section()
            .filter(|s| s.typ == STT_NOTYPE && !s.name.is_empty())
            .filter(|s| s.is_global() || !is_label(&s.name))
            .collect();
    }
    if syms.is_empty() {
        return Ok(vec![Function {
            name: sec_name.to_string(),
            section: 0,
            insn_off: 0,
            insn_len: n_insns,
            binding: Binding::Global,
            hidden: false,
            btf_id: None,
            program: None,
        }]);
    }
    syms.sort_by(|a, b| a.value.cmp(&b.value).then_with(|| a.name.cmp(&b.name)));
    let sec_bytes = n_insns as u64 * 8;
    // Where the next function (at a larger offset) starts, for symbols without a size.
    let mut next_start = vec![sec_bytes; syms.len()];
    for k in (0..syms.len().saturating_sub(1)).rev() {
        next_start[k] = if syms[k + 1].value > syms[k].value {
            syms[k + 1].value
        } else {
            next_start[k + 1]
        };
    }
    let mut out = Vec::with_capacity(syms.len());
    for (k, s) in syms.iter().enumerate() {
        let bad = |problem: String| ObjectError::symbol(sec_name, &s.name, problem);
        if s.value % 8 != 0 || s.size % 8 != 0 {
            return Err(bad(format!(
                "offset {} or size {} is not a multiple of 8",
                s.value, s.size
            )));
        }
        let size = if s.size == 0 {
            next_start[k].saturating_sub(s.value)
        } else {
            s.size
        };
        match s.value.checked_add(size) {
            Some(end) if end <= sec_bytes => {}
            _ => {
                return Err(bad(format!(
                    "function at offset {} size {} crosses the section end ({sec_bytes})",
                    s.value, size
                )))
            }
        }
        out.push(Function {
            name: s.name.to_string(),
            section: 0,
            insn_off: (s.value / 8) as usize,
            insn_len: (size / 8) as usize,
            binding: binding_of(s),
            hidden: s.hidden,
            btf_id: None,
            program: None,
        });
    }
    Ok(out)
}

/// An assembler-local label name.
fn is_label(name: &str) -> bool {
    name.starts_with(".L")
        || name
            .strip_prefix("LBB")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

fn binding_of(s: &ElfSymbol<'_>) -> Binding {
    match s.bind {
        STB_GLOBAL => Binding::Global,
        STB_WEAK => Binding::Weak,
        _ => Binding::Local,
    }
}
