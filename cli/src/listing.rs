//! Disassembly listings with names: functions as headers, C source lines as comments, map
//! names and call targets filled in (used by `inspect --disasm` and `prog dump`).

use oxbpf::insn::{Disassembler, Insn};
use serde_json::{json, Value as Json};

type ImmName<'a> = dyn Fn(usize, &Insn, u64) -> Option<String> + 'a;
type CallName<'a> = dyn Fn(usize, &Insn) -> Option<String> + 'a;
type At<'a> = dyn Fn(usize) -> Option<String> + 'a;

/// What a listing shows besides the instructions.
pub struct Listing<'a> {
    /// The instructions.
    pub insns: &'a [Insn],
    /// The name of the constant of the `ld_imm64` at an index (a map).
    pub imm_name: Box<ImmName<'a>>,
    /// The name of the call at an index (a subprogram, a kfunc).
    pub call_name: Box<CallName<'a>>,
    /// The source line that starts at an index.
    pub source: Box<At<'a>>,
    /// The function that starts at an index.
    pub function: Box<At<'a>>,
    /// The name of the map an `ld_imm64` at an index refers to (for JSON).
    pub map: Box<At<'a>>,
}

impl<'a> Listing<'a> {
    /// A listing with no names.
    pub fn new(insns: &'a [Insn]) -> Listing<'a> {
        Listing {
            insns,
            imm_name: Box::new(|_, _, _| None),
            call_name: Box::new(|_, _| None),
            source: Box::new(|_| None),
            function: Box::new(|_| None),
            map: Box::new(|_| None),
        }
    }

    /// The index of `insn` within the listing's slice (the disassembler hands out
    /// references into it).
    fn index_of(&self, insn: &Insn) -> Option<usize> {
        let base = self.insns.as_ptr() as usize;
        let at = insn as *const Insn as usize;
        let off = at.checked_sub(base)? / std::mem::size_of::<Insn>();
        (off < self.insns.len()).then_some(off)
    }

    fn disassembler(&self) -> Disassembler<'_> {
        Disassembler::new()
            .with_imm_names(move |insn, v| {
                let i = self.index_of(insn)?;
                (self.imm_name)(i, insn, v)
            })
            .with_call_names(move |insn| {
                let i = self.index_of(insn)?;
                (self.call_name)(i, insn)
            })
    }

    /// The listing as text: `name:` headers, `; source` comments, `  12: (85) call ...`.
    pub fn render(&self, indent: &str) -> String {
        let d = self.disassembler();
        let mut out = String::new();
        let mut last_source = String::new();
        let mut i = 0;
        while i < self.insns.len() {
            if let Some(f) = (self.function)(i) {
                out.push_str(&format!("{indent}{f}:\n"));
                last_source.clear();
            }
            if let Some(s) = (self.source)(i) {
                if s != last_source {
                    out.push_str(&format!("{indent}; {s}\n"));
                    last_source = s;
                }
            }
            out.push_str(&format!("{indent}{i:5}: {}\n", d.line(self.insns, i)));
            i += if self.insns[i].is_ld_imm64() { 2 } else { 1 };
        }
        out
    }

    /// One JSON record per instruction (both halves of an `ld_imm64`): the raw fields, and
    /// the text, the map name and the source line where known.
    pub fn json(&self) -> Json {
        let d = self.disassembler();
        let mut v = Vec::with_capacity(self.insns.len());
        let mut second_half = false;
        for (i, insn) in self.insns.iter().enumerate() {
            let mut r = json!({
                "index": i,
                "code": insn.code,
                "dst": insn.dst(),
                "src": insn.src(),
                "off": insn.off,
                "imm": insn.imm,
            });
            if !second_half {
                r["text"] = json!(d.text(self.insns, i));
                if let Some(n) = (self.map)(i) {
                    r["map"] = json!(n);
                }
                if let Some(s) = (self.source)(i) {
                    r["source"] = json!(s);
                }
            }
            second_half = !second_half && insn.is_ld_imm64();
            v.push(r);
        }
        Json::Array(v)
    }
}
