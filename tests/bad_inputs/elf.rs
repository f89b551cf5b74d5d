//! A small ELF64 little-endian editor for the bad-input catalogue: it rewrites header,
//! section-header, symbol and relocation fields of a fixture in place, and replaces a
//! section's contents by appending the new bytes at the end of the file (the section header
//! is pointed at them), so every hostile input starts from a real clang object.
#![allow(dead_code)]

use std::path::Path;

/// `e_ident` / header field offsets (ELF64).
pub const EI_CLASS: usize = 4;
pub const EI_DATA: usize = 5;
pub const E_TYPE: usize = 16;
pub const E_MACHINE: usize = 18;
pub const E_SHOFF: usize = 40;
pub const E_SHENTSIZE: usize = 58;
pub const E_SHNUM: usize = 60;
pub const E_SHSTRNDX: usize = 62;

/// Section-header field offsets.
pub const SH_NAME: usize = 0;
pub const SH_TYPE: usize = 4;
pub const SH_FLAGS: usize = 8;
pub const SH_OFFSET: usize = 24;
pub const SH_SIZE: usize = 32;
pub const SH_LINK: usize = 40;
pub const SH_INFO: usize = 44;
pub const SH_ENTSIZE: usize = 56;

/// Symbol field offsets (`Elf64_Sym`, 24 bytes).
pub const ST_NAME: usize = 0;
pub const ST_INFO: usize = 4;
pub const ST_SHNDX: usize = 6;
pub const ST_VALUE: usize = 8;
pub const ST_SIZE: usize = 16;

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_REL: u32 = 9;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOBITS: u32 = 8;

/// An object being edited.
#[derive(Clone)]
pub struct Elf {
    pub bytes: Vec<u8>,
}

impl Elf {
    /// A fixture under `tests/fixtures/` (`"smoke/minimal.clang19.o"`).
    pub fn fixture(rel: &str) -> Elf {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel);
        Elf {
            bytes: std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        }
    }

    pub fn u16_at(&self, off: usize) -> u16 {
        u16::from_le_bytes(self.bytes[off..off + 2].try_into().unwrap())
    }
    pub fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().unwrap())
    }
    pub fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes[off..off + 8].try_into().unwrap())
    }
    pub fn put_u8(&mut self, off: usize, v: u8) -> &mut Self {
        self.bytes[off] = v;
        self
    }
    pub fn put_u16(&mut self, off: usize, v: u16) -> &mut Self {
        self.bytes[off..off + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn put_u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    pub fn put_u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.bytes[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// Offset of section header `idx`.
    pub fn sh(&self, idx: usize) -> usize {
        self.u64_at(E_SHOFF) as usize + idx * usize::from(self.u16_at(E_SHENTSIZE))
    }
    pub fn shnum(&self) -> usize {
        usize::from(self.u16_at(E_SHNUM))
    }
    pub fn sh_u32(&self, idx: usize, field: usize) -> u32 {
        self.u32_at(self.sh(idx) + field)
    }
    pub fn sh_u64(&self, idx: usize, field: usize) -> u64 {
        self.u64_at(self.sh(idx) + field)
    }
    pub fn set_sh_u32(&mut self, idx: usize, field: usize, v: u32) -> &mut Self {
        let o = self.sh(idx) + field;
        self.put_u32(o, v)
    }
    pub fn set_sh_u64(&mut self, idx: usize, field: usize, v: u64) -> &mut Self {
        let o = self.sh(idx) + field;
        self.put_u64(o, v)
    }

    /// The name of section `idx`.
    pub fn section_name(&self, idx: usize) -> String {
        let strtab = usize::from(self.u16_at(E_SHSTRNDX));
        let base = self.sh_u64(strtab, SH_OFFSET) as usize;
        let off = base + self.sh_u32(idx, SH_NAME) as usize;
        let end = self.bytes[off..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(self.bytes[off..off + end].to_vec()).unwrap()
    }

    /// The index of the section named `name`.
    pub fn section(&self, name: &str) -> usize {
        (0..self.shnum())
            .find(|&i| self.section_name(i) == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    /// The file range of section `idx`'s contents.
    pub fn range(&self, idx: usize) -> std::ops::Range<usize> {
        let off = self.sh_u64(idx, SH_OFFSET) as usize;
        off..off + self.sh_u64(idx, SH_SIZE) as usize
    }

    /// The contents of the section named `name`.
    pub fn data(&self, name: &str) -> Vec<u8> {
        self.bytes[self.range(self.section(name))].to_vec()
    }

    /// Points section `idx` at `data`, appended (8-aligned) at the end of the file.
    pub fn replace(&mut self, idx: usize, data: &[u8]) -> &mut Self {
        while self.bytes.len() % 8 != 0 {
            self.bytes.push(0);
        }
        let off = self.bytes.len() as u64;
        self.bytes.extend_from_slice(data);
        self.set_sh_u64(idx, SH_OFFSET, off);
        self.set_sh_u64(idx, SH_SIZE, data.len() as u64)
    }

    /// Replaces the contents of the section named `name`.
    pub fn replace_named(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let i = self.section(name);
        self.replace(i, data)
    }

    /// Edits the contents of the section named `name` in place.
    pub fn edit(&mut self, name: &str, f: impl FnOnce(&mut [u8])) -> &mut Self {
        let r = self.range(self.section(name));
        f(&mut self.bytes[r]);
        self
    }

    /// The symbol table's section index.
    pub fn symtab(&self) -> usize {
        (0..self.shnum())
            .find(|&i| self.sh_u32(i, SH_TYPE) == SHT_SYMTAB)
            .expect("a symbol table")
    }

    /// File offset of symbol `idx`.
    pub fn sym(&self, idx: usize) -> usize {
        self.sh_u64(self.symtab(), SH_OFFSET) as usize + 24 * idx
    }

    pub fn sym_count(&self) -> usize {
        self.sh_u64(self.symtab(), SH_SIZE) as usize / 24
    }

    /// The name of symbol `idx`.
    pub fn sym_name(&self, idx: usize) -> String {
        let strtab = self.sh_u32(self.symtab(), SH_LINK) as usize;
        let base = self.sh_u64(strtab, SH_OFFSET) as usize;
        let off = base + self.u32_at(self.sym(idx) + ST_NAME) as usize;
        let end = self.bytes[off..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(self.bytes[off..off + end].to_vec()).unwrap()
    }

    /// The index of the symbol named `name`.
    pub fn symbol(&self, name: &str) -> usize {
        (0..self.sym_count())
            .find(|&i| self.sym_name(i) == name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    /// Sets a field of the symbol named `name` (`width` 1, 2, 4 or 8 bytes).
    pub fn set_sym(&mut self, name: &str, field: usize, width: usize, v: u64) -> &mut Self {
        let o = self.sym(self.symbol(name)) + field;
        self.bytes[o..o + width].copy_from_slice(&v.to_le_bytes()[..width]);
        self
    }

    /// File offset of relocation `n` of the REL section named `name`.
    pub fn rel(&self, name: &str, n: usize) -> usize {
        self.sh_u64(self.section(name), SH_OFFSET) as usize + 16 * n
    }

    /// Rewrites relocation `n` of `name`: offset, symbol index, type.
    pub fn set_rel(&mut self, name: &str, n: usize, off: u64, sym: u32, r_type: u32) -> &mut Self {
        let o = self.rel(name, n);
        self.put_u64(o, off);
        self.put_u64(o + 8, (u64::from(sym) << 32) | u64::from(r_type))
    }

    /// (offset, symbol, type) of relocation `n` of `name`.
    pub fn get_rel(&self, name: &str, n: usize) -> (u64, u32, u32) {
        let o = self.rel(name, n);
        let info = self.u64_at(o + 8);
        (self.u64_at(o), (info >> 32) as u32, info as u32)
    }

    /// Appends `s` to the symbol string table and returns its offset.
    pub fn add_symbol_string(&mut self, s: &str) -> u32 {
        let strtab = self.sh_u32(self.symtab(), SH_LINK) as usize;
        let mut data = self.bytes[self.range(strtab)].to_vec();
        let off = data.len() as u32;
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.replace(strtab, &data);
        off
    }

    /// Parses the result.
    pub fn parse(&self) -> Result<oxbpf::object::Object, oxbpf::object::ObjectError> {
        oxbpf::object::Object::parse(&self.bytes)
    }
}
