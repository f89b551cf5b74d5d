//! `BPF_OBJ_GET_INFO_BY_FD`: what the kernel tells about a program, map, BTF object or link,
//! including the arrays behind the info structs' pointer fields.
//!
//! Each `*_info` call sends an info struct laid out as this crate knows it; an older kernel
//! fills its prefix and leaves the rest zero. Arrays (translated instructions, map ids, BTF
//! data, names) are fetched with the `*_with` variants: first learn the counts, then pass
//! buffers. The `prog_map_ids`, `prog_xlated_insns`, `btf_data` helpers do both steps.

use std::os::fd::BorrowedFd;

use super::error::Result;
use super::fd::raw_u32;
use super::sys::{bpf_value, Attr, Pod, Sealed};
use super::types::Command;
use super::version::{field, Field};
use crate::insn::Insn;

/// The `info` member of `union bpf_attr` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

impl Sealed for InfoAttr {}
// SAFETY: repr(C), integer fields, no padding (4 + 4 + 8).
unsafe impl Pod for InfoAttr {}
impl Attr for InfoAttr {
    const FIELDS: &'static [Field] = &[
        field("bpf_fd", 0, 4, 13),
        field("info_len", 4, 4, 13),
        field("info", 8, 4, 13),
    ];
}

/// `struct bpf_prog_info` (232 bytes on 6.18).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields mirror the uapi names
pub struct ProgInfo {
    /// `type` (a [`ProgType`](super::ProgType) value).
    pub type_: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    /// Boot-time nanoseconds of the load.
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    /// Bit 0: `gpl_compatible` (see [`ProgInfo::gpl_compatible`]).
    pub gpl_compatible_bits: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad0: u32,
}

impl Sealed for ProgInfo {}
// SAFETY: repr(C), integer fields, explicit tail padding; offsets checked in tests.
unsafe impl Pod for ProgInfo {}

impl ProgInfo {
    /// The program type.
    pub fn prog_type(&self) -> super::ProgType {
        super::ProgType(self.type_)
    }

    /// The name, up to its first NUL.
    pub fn name(&self) -> String {
        c_name(&self.name)
    }

    /// Whether the license is GPL-compatible.
    pub fn gpl_compatible(&self) -> bool {
        self.gpl_compatible_bits & 1 != 0
    }
}

/// `struct bpf_map_info` (104 bytes on 6.18).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct MapInfo {
    /// `type` (a [`MapType`](super::MapType) value).
    pub type_: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_id: u32,
    pub map_extra: u64,
    pub hash: u64,
    pub hash_size: u32,
    pub _pad0: u32,
}

impl Sealed for MapInfo {}
// SAFETY: repr(C), integer fields, explicit tail padding; offsets checked in tests.
unsafe impl Pod for MapInfo {}

impl MapInfo {
    /// The map type.
    pub fn map_type(&self) -> super::MapType {
        super::MapType(self.type_)
    }

    /// The name, up to its first NUL.
    pub fn name(&self) -> String {
        c_name(&self.name)
    }
}

/// `struct bpf_btf_info` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct BtfInfo {
    pub btf: u64,
    pub btf_size: u32,
    pub id: u32,
    pub name: u64,
    pub name_len: u32,
    /// Non-zero for kernel (vmlinux or module) BTF.
    pub kernel_btf: u32,
}

impl Sealed for BtfInfo {}
// SAFETY: repr(C), integer fields, no padding.
unsafe impl Pod for BtfInfo {}

/// `struct bpf_link_info` (64 bytes on 6.18): the common head and the per-type union as raw
/// bytes, decoded by the accessors.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// `type` (a [`LinkType`](super::LinkType) value).
    pub type_: u32,
    /// Link id.
    pub id: u32,
    /// Id of the attached program.
    pub prog_id: u32,
    /// Padding before the union.
    pub _pad0: u32,
    /// The per-type union, native-endian bytes at offset 16.
    pub detail: [u64; 6],
}

impl Sealed for LinkInfo {}
// SAFETY: repr(C), integer fields, explicit padding.
unsafe impl Pod for LinkInfo {}

impl LinkInfo {
    /// The link type.
    pub fn link_type(&self) -> super::LinkType {
        super::LinkType(self.type_)
    }

    /// The `u32` at byte `offset` of the union (0, 4, 8, ...).
    pub fn detail_u32(&self, offset: usize) -> u32 {
        let word = self.detail.get(offset / 8).copied().unwrap_or(0);
        let bytes = word.to_ne_bytes();
        let half = if offset % 8 >= 4 {
            &bytes[4..]
        } else {
            &bytes[..4]
        };
        u32::from_ne_bytes([half[0], half[1], half[2], half[3]])
    }

    /// The `u64` at byte `offset` (a multiple of 8) of the union.
    pub fn detail_u64(&self, offset: usize) -> u64 {
        self.detail.get(offset / 8).copied().unwrap_or(0)
    }
}

fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Runs `BPF_OBJ_GET_INFO_BY_FD` with `info` (whose pointer fields must be valid) and
/// returns the length the kernel filled.
///
/// # Safety
///
/// Every pointer field of `info` must be valid for the writes the kernel makes through it,
/// bounded by the count/length field next to it.
unsafe fn get_info<T: Pod>(fd: BorrowedFd<'_>, info: &mut T) -> Result<u32> {
    let bytes = super::sys::bytes_mut(info);
    let mut attr = InfoAttr {
        bpf_fd: raw_u32(fd),
        info_len: bytes.len() as u32,
        info: bytes.as_mut_ptr() as u64,
    };
    // SAFETY: `attr.info` points to `info`, exclusively borrowed, `info_len` bytes long; the
    // pointers inside `info` are guaranteed by the caller.
    unsafe { bpf_value(Command::OBJ_GET_INFO_BY_FD, &mut attr)? };
    Ok(attr.info_len)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map.
pub fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo> {
    let mut info = MapInfo::default();
    // SAFETY: `MapInfo` has no pointer fields.
    unsafe { get_info(fd, &mut info)? };
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program, without arrays (counts only).
pub fn prog_info(fd: BorrowedFd<'_>) -> Result<ProgInfo> {
    prog_info_with(fd, &mut ProgInfoArrays::default())
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a BTF object, without its data or name.
pub fn btf_info(fd: BorrowedFd<'_>) -> Result<BtfInfo> {
    btf_info_with(fd, &mut [], &mut [])
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a link, without the arrays some link types report.
pub fn link_info(fd: BorrowedFd<'_>) -> Result<LinkInfo> {
    let mut info = LinkInfo::default();
    // SAFETY: all union bytes are zero: no pointers for the kernel to write through.
    unsafe { get_info(fd, &mut info)? };
    Ok(info)
}

/// `struct bpf_func_info`: a function's first instruction and BTF type (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncInfoRec {
    /// Instruction index.
    pub insn_off: u32,
    /// BTF `FUNC` type id.
    pub type_id: u32,
}

/// `struct bpf_line_info`: a source line of an instruction (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineInfoRec {
    /// Instruction index.
    pub insn_off: u32,
    /// File name offset in the BTF string table.
    pub file_name_off: u32,
    /// Source line offset in the BTF string table.
    pub line_off: u32,
    /// Line number (upper 22 bits) and column (lower 10 bits).
    pub line_col: u32,
}

/// Buffers for the arrays of [`prog_info_with`]. Each `Some` buffer gets up to its length of
/// entries; the returned [`ProgInfo`] tells how many exist (`nr_*`, `*_len`).
#[derive(Debug, Default)]
pub struct ProgInfoArrays<'a> {
    /// JIT-compiled machine code.
    pub jited_prog_insns: Option<&'a mut [u8]>,
    /// Instructions as the verifier rewrote them.
    pub xlated_prog_insns: Option<&'a mut [Insn]>,
    /// Ids of the maps the program uses.
    pub map_ids: Option<&'a mut [u32]>,
    /// Kernel addresses of the JIT-compiled functions.
    pub jited_ksyms: Option<&'a mut [u64]>,
    /// Lengths of the JIT-compiled functions.
    pub jited_func_lens: Option<&'a mut [u32]>,
    /// Function info records.
    pub func_info: Option<&'a mut [FuncInfoRec]>,
    /// Line info records.
    pub line_info: Option<&'a mut [LineInfoRec]>,
    /// Machine-code addresses of the line info records.
    pub jited_line_info: Option<&'a mut [u64]>,
    /// Tags of the program and its subprograms.
    pub prog_tags: Option<&'a mut [[u8; 8]]>,
}

fn count_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program, filling the arrays `arrays` has buffers for.
pub fn prog_info_with(fd: BorrowedFd<'_>, arrays: &mut ProgInfoArrays<'_>) -> Result<ProgInfo> {
    let mut info = ProgInfo::default();
    // Each pointer below comes with a count that bounds the kernel's writes to the buffer's
    // length (in elements of the kernel's record size).
    if let Some(b) = arrays.jited_prog_insns.as_deref_mut() {
        info.jited_prog_len = count_u32(b.len());
        info.jited_prog_insns = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.xlated_prog_insns.as_deref_mut() {
        info.xlated_prog_len = count_u32(b.len().saturating_mul(Insn::SIZE));
        info.xlated_prog_insns = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.map_ids.as_deref_mut() {
        info.nr_map_ids = count_u32(b.len());
        info.map_ids = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.jited_ksyms.as_deref_mut() {
        info.nr_jited_ksyms = count_u32(b.len());
        info.jited_ksyms = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.jited_func_lens.as_deref_mut() {
        info.nr_jited_func_lens = count_u32(b.len());
        info.jited_func_lens = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.func_info.as_deref_mut() {
        info.nr_func_info = count_u32(b.len());
        info.func_info_rec_size = std::mem::size_of::<FuncInfoRec>() as u32;
        info.func_info = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.line_info.as_deref_mut() {
        info.nr_line_info = count_u32(b.len());
        info.line_info_rec_size = std::mem::size_of::<LineInfoRec>() as u32;
        info.line_info = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.jited_line_info.as_deref_mut() {
        info.nr_jited_line_info = count_u32(b.len());
        info.jited_line_info_rec_size = 8;
        info.jited_line_info = super::sys::mut_ptr_u64(b);
    }
    if let Some(b) = arrays.prog_tags.as_deref_mut() {
        info.nr_prog_tags = count_u32(b.len());
        info.prog_tags = super::sys::mut_ptr_u64(b);
    }
    // SAFETY: every pointer set above points into a buffer of `arrays`, exclusively borrowed
    // for the call, with a count/length no larger than the buffer (the kernel writes at most
    // that many records of the sizes given). Buffers left `None` keep pointer and count 0.
    unsafe { get_info(fd, &mut info)? };
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a BTF object, filling `data` with (a prefix of) the raw BTF
/// and `name` with (a prefix of) its NUL-terminated name. Empty buffers are not filled.
///
/// The returned `btf_size` and `name_len` tell the full sizes.
pub fn btf_info_with(fd: BorrowedFd<'_>, data: &mut [u8], name: &mut [u8]) -> Result<BtfInfo> {
    let mut info = BtfInfo {
        btf: super::sys::mut_ptr_u64(data),
        btf_size: if data.is_empty() {
            0
        } else {
            count_u32(data.len())
        },
        name: super::sys::mut_ptr_u64(name),
        name_len: if name.is_empty() {
            0
        } else {
            count_u32(name.len())
        },
        ..Default::default()
    };
    // SAFETY: `btf`/`name` point to `data`/`name` (exclusively borrowed) with their lengths
    // in `btf_size`/`name_len`, which bound the kernel's writes; empty buffers pass null/0.
    unsafe { get_info(fd, &mut info)? };
    Ok(info)
}

/// The ids of the maps a program uses.
pub fn prog_map_ids(fd: BorrowedFd<'_>) -> Result<Vec<u32>> {
    let n = prog_info(fd)?.nr_map_ids as usize;
    let mut ids = vec![0u32; n];
    let info = prog_info_with(
        fd,
        &mut ProgInfoArrays {
            map_ids: Some(&mut ids),
            ..Default::default()
        },
    )?;
    ids.truncate((info.nr_map_ids as usize).min(n));
    Ok(ids)
}

/// The program's instructions as the verifier rewrote them (needs CAP_SYS_ADMIN or
/// CAP_BPF+CAP_PERFMON; empty if the kernel withholds them).
pub fn prog_xlated_insns(fd: BorrowedFd<'_>) -> Result<Vec<Insn>> {
    let n = prog_info(fd)?.xlated_prog_len as usize / Insn::SIZE;
    let mut insns = vec![Insn::default(); n];
    let info = prog_info_with(
        fd,
        &mut ProgInfoArrays {
            xlated_prog_insns: Some(&mut insns),
            ..Default::default()
        },
    )?;
    insns.truncate((info.xlated_prog_len as usize / Insn::SIZE).min(n));
    Ok(insns)
}

/// The raw bytes of a BTF object.
pub fn btf_data(fd: BorrowedFd<'_>) -> Result<Vec<u8>> {
    let n = btf_info(fd)?.btf_size as usize;
    let mut data = vec![0u8; n];
    let info = btf_info_with(fd, &mut data, &mut [])?;
    data.truncate((info.btf_size as usize).min(n));
    Ok(data)
}

/// The name of a BTF object (`vmlinux`, a module's name, or what a loader named it).
pub fn btf_name(fd: BorrowedFd<'_>) -> Result<String> {
    // The kernel answers ENOSPC (with the length needed) when the buffer is too small.
    let mut name = vec![0u8; 64];
    loop {
        match btf_info_with(fd, &mut [], &mut name) {
            Ok(_) => return Ok(c_name(&name)),
            Err(e) if e.errno == nix::errno::Errno::ENOSPC && name.len() < 1 << 16 => {
                name = vec![0u8; name.len() * 16];
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where a link type reports its name (a pointer and a `u32` length, as offsets into the
/// union of [`LinkInfo`]), or `None` for types without one.
fn link_name_slot(info: &LinkInfo) -> Option<(usize, usize)> {
    use super::LinkType;
    match info.link_type() {
        LinkType::RAW_TRACEPOINT | LinkType::ITER => Some((0, 8)),
        LinkType::UPROBE_MULTI => Some((0, 32)),
        // perf_event.type: 1-4 uprobe/uretprobe/kprobe/kretprobe, 5 tracepoint, 6 event.
        LinkType::PERF_EVENT if (1..=5).contains(&info.detail_u32(0)) => Some((8, 16)),
        _ => None,
    }
}

/// The name a link reports: a raw tracepoint's or tracepoint's name, an iterator's target,
/// a kprobe's function, a uprobe's binary path; `None` for link types without one.
pub fn link_info_name(fd: BorrowedFd<'_>) -> Result<Option<String>> {
    let first = link_info(fd)?;
    let Some((ptr_off, len_off)) = link_name_slot(&first) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 4096];
    loop {
        let mut info = LinkInfo::default();
        if let Some(slot) = info.detail.get_mut(ptr_off / 8) {
            *slot = buf.as_mut_ptr() as u64;
        }
        info.set_detail_u32(len_off, count_u32(buf.len()));
        // SAFETY: the only pointer is `buf`'s, at the offset where this link type (fixed for
        // the fd's lifetime, read by the first call) takes its name buffer, with `buf.len()`
        // in the matching length field, which bounds the kernel's write.
        match unsafe { get_info(fd, &mut info) } {
            Ok(_) => return Ok(Some(c_name(&buf))),
            Err(e) if e.errno == nix::errno::Errno::ENOSPC && buf.len() < 1 << 20 => {
                buf = vec![0u8; buf.len() * 16];
            }
            Err(e) => return Err(e),
        }
    }
}

impl LinkInfo {
    fn set_detail_u32(&mut self, offset: usize, v: u32) {
        if let Some(word) = self.detail.get_mut(offset / 8) {
            let mut bytes = word.to_ne_bytes();
            let at = if offset % 8 >= 4 { 4 } else { 0 };
            bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            *word = u64::from_ne_bytes(bytes);
        }
    }
}
