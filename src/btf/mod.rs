//! BTF: the BPF Type Format of `.BTF`/`.BTF.ext` sections and of `/sys/kernel/btf/*`.
//!
//! Pure: parses bytes, never makes a syscall.
//!
//! - [`Btf`] keeps the raw bytes (any shared owner, e.g. an mmap of
//!   `/sys/kernel/btf/vmlinux`), one offset per type id and, from the first name lookup, an
//!   index by essential name. [`Btf::type_by_id`] returns a [`Type`] view decoded on demand.
//!   Both byte orders are read; split BTF (module on vmlinux) continues the base's ids and
//!   string offsets.
//! - Lookups: [`Btf::ids_by_essential_name`] (CO-RE candidates), [`Btf::id_by_name_kind`],
//!   [`Btf::skip_mods_and_typedefs`], [`Btf::find_member`], [`Btf::type_size`],
//!   [`Btf::type_align`], [`Btf::type_name`].
//! - [`BtfExt`]: `.BTF.ext` func_info, line_info and CO-RE relocations per ELF section.
//! - [`BtfBuilder`]: an owned, editable type list that emits little-endian BTF; the
//!   [`sanitize`] and [`fixup_datasecs`] rewrites run on it before upload. When nothing needs
//!   sanitizing, [`fixup_raw`] does the DATASEC fix-up on a copy of the raw bytes instead.
//! - [`dump_c`] writes a compilable `vmlinux.h`; [`dump_raw`] a bpftool-style listing.
//! - [`decode_value`]/[`format_value`] show bytes through their type (map values, globals);
//!   [`parse_value`] turns text into a variable's bytes.

mod decl;
mod dump_c;
mod dump_raw;
mod error;
mod ext;
mod header;
mod index;
mod kind;
mod lookup;
mod padding;
mod raw_fixup;
mod sanitize;
mod strings;
mod table;
mod types;
mod value;
mod value_parse;
mod writer;

#[cfg(test)]
mod tests;

pub use dump_c::{dump_c, DumpCOptions};
pub use dump_raw::dump_raw;
pub use error::BtfError;
pub use ext::{BtfExt, CoreRelo, CoreReloKind, ExtSection, FuncInfo, LineInfo};
pub use header::{Endian, Header, BTF_HEADER_LEN, BTF_MAGIC};
pub use index::{essential_name, essential_name_len};
pub use kind::{BtfKind, FuncLinkage, IntInfo, VarLinkage};
pub use lookup::{MemberPath, MAX_RESOLVE_DEPTH, PTR_SIZE};
pub use raw_fixup::fixup_raw;
pub use sanitize::{
    fixup_datasecs, sanitize, set_func_linkage, DatasecLayout, MissingFeatures, VarSymbol,
};
pub use table::{Btf, BtfBytes};
pub use types::{ArrayInfo, EnumValue, Member, Param, Record, Records, Type, VarSecinfo};
pub use value::{decode_value, format_value, parse_value, Value, ValueError};
pub use writer::{BtfBuilder, EnumValueDef, MemberDef, ParamDef, TypeBody, TypeDef};
#[cfg(test)]
mod dump_c_tests;
#[cfg(test)]
mod ext_tests;
#[cfg(test)]
mod sanitize_tests;
#[cfg(test)]
mod vmlinux_tests;
