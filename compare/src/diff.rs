//! The differential check: two loaders' final instructions for the same object, compared
//! instruction by instruction, modulo map fds.
//!
//! Each side hands in, per program, its name, its final instructions (what would go to
//! `BPF_PROG_LOAD`) and the map each map-referencing `ld_imm64` names — a list of
//! `(instruction index, map name)`. Map names are the object's own: the `.maps` variable name,
//! or the ELF section name of a global-data map (`.rodata`, `.data.custom`, `.kconfig`), never
//! libbpf's kernel-visible `objname.rodata` (see [`crate::libbpf`]).
//!
//! [`normalise`] makes the two streams comparable: the `imm` of each listed `ld_imm64` (a map
//! fd, different in every process) becomes 0, and a module BTF fd in the second half of a typed
//! ksym `ld_imm64` becomes [`MODULE_BTF_FD`]. Everything else is compared bit for bit: opcode,
//! registers (so `src_reg` `BPF_PSEUDO_MAP_FD` vs `BPF_PSEUDO_MAP_IDX` is a difference), offset
//! and the remaining immediates. [`compare`] reports every difference.

use std::collections::BTreeMap;
use std::fmt;

use oxbpf::insn::{opcode::pseudo, Disassembler, Insn};

/// One program's final instructions as a loader would hand them to the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelocatedProgram {
    /// The program's name (its function symbol).
    pub name: String,
    /// The instructions, subprograms appended.
    pub insns: Vec<Insn>,
    /// `(index of the ld_imm64, map name)` for every instruction that refers to a map.
    pub map_refs: Vec<(usize, String)>,
}

impl From<(String, Vec<Insn>, Vec<(usize, String)>)> for RelocatedProgram {
    fn from((name, insns, map_refs): (String, Vec<Insn>, Vec<(usize, String)>)) -> Self {
        RelocatedProgram {
            name,
            insns,
            map_refs,
        }
    }
}

/// What a module BTF fd (second half of a typed-ksym `ld_imm64`) becomes after
/// [`normalise`]: the fd differs per process, that it is a module's does not.
pub const MODULE_BTF_FD: i32 = -1;

/// A copy of `prog` with its map fds (and module BTF fds) replaced, its refs sorted by index.
pub fn normalise(prog: &RelocatedProgram) -> RelocatedProgram {
    let mut insns = prog.insns.clone();
    for (idx, _) in &prog.map_refs {
        if let Some(insn) = insns.get_mut(*idx) {
            insn.imm = 0;
        }
    }
    let mut i = 0;
    while i + 1 < insns.len() {
        let (lo, hi) = (insns[i], insns[i + 1]);
        if lo.is_ld_imm64() {
            if lo.src() == pseudo::BTF_ID && hi.imm != 0 {
                insns[i + 1].imm = MODULE_BTF_FD;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut map_refs = prog.map_refs.clone();
    map_refs.sort();
    RelocatedProgram {
        name: prog.name.clone(),
        insns,
        map_refs,
    }
}

/// One way two sides disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A program only one side produced.
    MissingProgram {
        /// The program.
        program: String,
        /// The label of the side that has it.
        only_in: String,
    },
    /// The instruction counts differ (the per-index differences follow).
    Length {
        /// The program.
        program: String,
        /// Left side's count.
        left: usize,
        /// Right side's count.
        right: usize,
    },
    /// An instruction differs (after normalisation); `None` past one side's end.
    Insn {
        /// The program.
        program: String,
        /// Instruction index.
        index: usize,
        /// Left side's instruction, described.
        left: Option<String>,
        /// Right side's instruction, described.
        right: Option<String>,
    },
    /// The map an `ld_imm64` names differs (or only one side says it names a map).
    MapRef {
        /// The program.
        program: String,
        /// Instruction index.
        index: usize,
        /// Left side's map.
        left: Option<String>,
        /// Right side's map.
        right: Option<String>,
    },
}

/// The outcome of [`compare`].
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// The left side's label (`libbpf`).
    pub left: String,
    /// The right side's label (`oxbpf`).
    pub right: String,
    /// Programs present on both sides.
    pub compared: usize,
    /// Every difference found, in program then index order.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// Whether the two sides agree on everything.
    pub fn is_identical(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Describes instruction `index` of `insns` for a difference report: the verifier's syntax
/// (`Disassembler::text`), then the raw fields, since two instructions can disassemble alike
/// and still differ.
pub fn describe(insns: &[Insn], index: usize) -> Option<String> {
    let i = insns.get(index)?;
    let mut s = format!(
        "{} [code={:#04x} dst=r{} src={} off={} imm={:#x}",
        Disassembler::new().text(insns, index),
        i.code,
        i.dst(),
        i.src(),
        i.off,
        i.imm
    );
    if i.is_ld_imm64() {
        if let Some(next) = insns.get(index + 1) {
            s.push_str(&format!(" (imm64={:#x})", i.imm64(next)));
        }
    }
    s.push(']');
    Some(s)
}

/// Compares two sides' programs (each normalised first) and reports every difference.
pub fn compare(
    left_label: &str,
    left: &[RelocatedProgram],
    right_label: &str,
    right: &[RelocatedProgram],
) -> Comparison {
    let by_name = |side: &[RelocatedProgram]| -> BTreeMap<String, RelocatedProgram> {
        side.iter()
            .map(|p| (p.name.clone(), normalise(p)))
            .collect()
    };
    let (l, r) = (by_name(left), by_name(right));
    let mut out = Comparison {
        left: left_label.to_string(),
        right: right_label.to_string(),
        ..Default::default()
    };
    let names: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
    for name in names {
        match (l.get(name), r.get(name)) {
            (Some(a), Some(b)) => {
                out.compared += 1;
                program_differences(name, a, b, &mut out.differences);
            }
            (Some(_), None) => out.differences.push(Difference::MissingProgram {
                program: name.clone(),
                only_in: left_label.to_string(),
            }),
            (None, Some(_)) => out.differences.push(Difference::MissingProgram {
                program: name.clone(),
                only_in: right_label.to_string(),
            }),
            (None, None) => {}
        }
    }
    out
}

fn program_differences(
    name: &str,
    a: &RelocatedProgram,
    b: &RelocatedProgram,
    out: &mut Vec<Difference>,
) {
    if a.insns.len() != b.insns.len() {
        out.push(Difference::Length {
            program: name.to_string(),
            left: a.insns.len(),
            right: b.insns.len(),
        });
    }
    for index in 0..a.insns.len().max(b.insns.len()) {
        if a.insns.get(index) != b.insns.get(index) {
            out.push(Difference::Insn {
                program: name.to_string(),
                index,
                left: describe(&a.insns, index),
                right: describe(&b.insns, index),
            });
        }
    }
    let refs =
        |p: &RelocatedProgram| -> BTreeMap<usize, String> { p.map_refs.iter().cloned().collect() };
    let (ra, rb) = (refs(a), refs(b));
    let indices: std::collections::BTreeSet<&usize> = ra.keys().chain(rb.keys()).collect();
    for index in indices {
        let (x, y) = (ra.get(index), rb.get(index));
        if x != y {
            out.push(Difference::MapRef {
                program: name.to_string(),
                index: *index,
                left: x.cloned(),
                right: y.cloned(),
            });
        }
    }
}

fn or_none(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("(none)")
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (l, r) = (&self.left, &self.right);
        writeln!(
            f,
            "{l} vs {r}: {} program(s) compared, {} difference(s)",
            self.compared,
            self.differences.len()
        )?;
        for d in &self.differences {
            match d {
                Difference::MissingProgram { program, only_in } => {
                    writeln!(f, "  {program}: only {only_in} has this program")?
                }
                Difference::Length {
                    program,
                    left,
                    right,
                } => writeln!(f, "  {program}: {left} insns ({l}) vs {right} ({r})")?,
                Difference::Insn {
                    program,
                    index,
                    left,
                    right,
                } => writeln!(
                    f,
                    "  {program} #{index}:\n    {l:>8}: {}\n    {r:>8}: {}",
                    or_none(left),
                    or_none(right)
                )?,
                Difference::MapRef {
                    program,
                    index,
                    left,
                    right,
                } => writeln!(
                    f,
                    "  {program} #{index}: map {} ({l}) vs {} ({r})",
                    or_none(left),
                    or_none(right)
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbpf::insn::{asm, reg::*};

    fn prog(map_fd: i32, map: &str) -> RelocatedProgram {
        let [lo, hi] = asm::ld_imm64(R1, 0);
        let lo = Insn::new(lo.code, R1, pseudo::MAP_FD, 0, map_fd);
        (
            "p".to_string(),
            vec![lo, hi, asm::mov64_imm(R0, 0), asm::exit()],
            vec![(0, map.to_string())],
        )
            .into()
    }

    #[test]
    fn map_fds_do_not_matter_map_names_do() {
        let c = compare("a", &[prog(7, "m")], "b", &[prog(12, "m")]);
        assert!(c.is_identical(), "{c}");
        assert_eq!(c.compared, 1);
        let c = compare("a", &[prog(7, "m")], "b", &[prog(7, "n")]);
        assert_eq!(
            c.differences,
            vec![Difference::MapRef {
                program: "p".into(),
                index: 0,
                left: Some("m".into()),
                right: Some("n".into())
            }]
        );
    }

    #[test]
    fn every_instruction_difference_is_reported() {
        let a = prog(3, "m");
        let mut b = a.clone();
        b.insns[2].imm = 1;
        b.insns.push(asm::exit());
        let c = compare("libbpf", &[a], "oxbpf", &[b]);
        assert_eq!(c.differences.len(), 3, "{c}");
        assert!(matches!(
            c.differences[0],
            Difference::Length {
                left: 4,
                right: 5,
                ..
            }
        ));
        assert!(matches!(
            c.differences[1],
            Difference::Insn { index: 2, .. }
        ));
        assert!(matches!(
            &c.differences[2],
            Difference::Insn {
                index: 4,
                left: None,
                right: Some(_),
                ..
            }
        ));
        let text = c.to_string();
        assert!(text.contains("p #2:") && text.contains("imm=0x1"), "{text}");
    }

    #[test]
    fn describe_gives_verifier_syntax_and_raw_fields() {
        let insns = [asm::mov64_imm(R1, 7), asm::exit()];
        let d = describe(&insns, 0).unwrap();
        assert!(d.starts_with("r1 = 7 [code=0xb7 dst=r1"), "{d}");
        assert_eq!(describe(&insns, 2), None);
    }

    #[test]
    fn unlisted_map_fd_is_a_difference() {
        let a = prog(3, "m");
        let mut b = prog(4, "m");
        b.map_refs.clear();
        let c = compare("a", &[a], "b", &[b]);
        assert_eq!(c.differences.len(), 2, "{c}");
    }

    #[test]
    fn missing_programs_are_named() {
        let c = compare("a", &[prog(3, "m")], "b", &[]);
        assert_eq!(
            c.differences,
            vec![Difference::MissingProgram {
                program: "p".into(),
                only_in: "a".into()
            }]
        );
    }

    #[test]
    fn module_btf_fds_are_normalised() {
        let ksym = |fd| {
            let lo = Insn::new(0x18, R1, pseudo::BTF_ID, 0, 1234);
            let hi = Insn::new(0, 0, 0, 0, fd);
            RelocatedProgram {
                name: "k".into(),
                insns: vec![lo, hi, asm::exit()],
                map_refs: vec![],
            }
        };
        assert!(compare("a", &[ksym(5)], "b", &[ksym(9)]).is_identical());
        assert!(!compare("a", &[ksym(0)], "b", &[ksym(9)]).is_identical());
    }
}
