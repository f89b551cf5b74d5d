//! Program commands: `BPF_PROG_LOAD`, `BPF_PROG_TEST_RUN`, `BPF_PROG_BIND_MAP`.
//!
//! ```no_run
//! use oxbpf::insn::Insn;
//! use oxbpf::syscall::{prog_load, prog_test_run, ProgLoad, ProgType, TestRun};
//! use std::os::fd::AsFd;
//!
//! // r0 = 42; exit
//! let insns = [Insn::new(0xb7, 0, 0, 0, 42), Insn::new(0x95, 0, 0, 0, 0)];
//! let mut log = vec![0u8; 64 * 1024];
//! let mut load = ProgLoad {
//!     prog_type: ProgType::SOCKET_FILTER,
//!     insns: &insns,
//!     license: c"GPL",
//!     name: "answer",
//!     log_level: oxbpf::syscall::LogLevel::LEVEL1,
//!     log_buf: Some(&mut log),
//!     ..Default::default()
//! };
//! let prog = prog_load(&mut load)?;
//! let out = prog_test_run(prog.as_fd(), &mut TestRun { data_in: &[0u8; 64], ..Default::default() })?;
//! assert_eq!(out.retval, 42);
//! # Ok::<(), oxbpf::syscall::SyscallError>(())
//! ```

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::error::Result;
use super::fd::{fd_i32, fd_u32, raw_u32};
use super::flags::{LogLevel, ProgFlags, TestRunFlags};
use super::sys::{bpf_fd, bpf_value, len_u32, mut_ptr_u64, obj_name, ptr_u64, Attr, Pod, Sealed};
use super::types::{AttachType, Command, ProgType};
use super::version::{field, Field};
use crate::insn::Insn;

/// The `BPF_PROG_LOAD` member of `union bpf_attr` (168 bytes on 6.18).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields mirror the uapi names
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    /// `attach_prog_fd` or `attach_btf_obj_fd` (a union).
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
    pub prog_token_fd: i32,
    pub fd_array_cnt: u32,
    pub signature: u64,
    pub signature_size: u32,
    pub keyring_id: i32,
}

impl Sealed for ProgLoadAttr {}
// SAFETY: repr(C), integer fields, no padding (offsets checked in tests).
unsafe impl Pod for ProgLoadAttr {}
impl Attr for ProgLoadAttr {
    const FIELDS: &'static [Field] = &[
        field("prog_type", 0, 3, 18),
        field("insn_cnt", 4, 3, 18),
        field("insns", 8, 3, 18),
        field("license", 16, 3, 18),
        field("log_level", 24, 3, 18),
        field("log_size", 28, 3, 18),
        field("log_buf", 32, 3, 18),
        field("kern_version", 40, 4, 1),
        field("prog_flags", 44, 4, 12),
        field("prog_name", 48, 4, 15),
        field("prog_ifindex", 64, 4, 15),
        field("expected_attach_type", 68, 4, 17),
        field("prog_btf_fd", 72, 5, 0),
        field("func_info_rec_size", 76, 5, 0),
        field("func_info", 80, 5, 0),
        field("func_info_cnt", 88, 5, 0),
        field("line_info_rec_size", 92, 5, 0),
        field("line_info", 96, 5, 0),
        field("line_info_cnt", 104, 5, 0),
        field("attach_btf_id", 108, 5, 5),
        field("attach_prog_fd", 112, 5, 5),
        field("core_relo_cnt", 116, 5, 17),
        field("fd_array", 120, 5, 14),
        field("core_relos", 128, 5, 17),
        field("core_relo_rec_size", 136, 5, 17),
        field("log_true_size", 140, 6, 4),
        field("prog_token_fd", 144, 6, 9),
        field("fd_array_cnt", 148, 6, 14),
        field("signature", 152, 6, 18),
        field("signature_size", 160, 6, 18),
        field("keyring_id", 164, 6, 18),
    ];
}

/// Records of a `.BTF.ext` section (func_info or line_info) as the kernel takes them: `count`
/// records of `rec_size` bytes each.
#[derive(Clone, Copy, Debug)]
pub struct ExtInfo<'a> {
    /// The records, back to back.
    pub data: &'a [u8],
    /// Size of one record (8 for func_info, 16 for line_info in current BTF.ext).
    pub rec_size: u32,
}

impl ExtInfo<'_> {
    fn count(&self) -> u32 {
        match self.rec_size {
            0 => 0,
            n => u32::try_from(self.data.len() / n as usize).unwrap_or(u32::MAX),
        }
    }
}

/// What to load with [`prog_load`]. `Default` gives an empty request; set what you need.
///
/// Setting `token_fd` also sets `BPF_F_TOKEN_FD` in `prog_flags`.
#[derive(Debug, Default)]
pub struct ProgLoad<'a> {
    /// The program type.
    pub prog_type: ProgType,
    /// The instructions.
    pub insns: &'a [Insn],
    /// The license (`c"GPL"`, `c"Dual BSD/GPL"`, ...).
    pub license: &'a CStr,
    /// Verifier log level; 0 for no log.
    pub log_level: LogLevel,
    /// Buffer for the verifier log (its length is the log size).
    pub log_buf: Option<&'a mut [u8]>,
    /// Out: the log size the kernel needed (6.4+; 0 on older kernels), written on success
    /// and on failure.
    pub log_true_size: u32,
    /// `kern_version` (only checked for kprobes by kernels before 5.0).
    pub kern_version: u32,
    /// `prog_flags`.
    pub prog_flags: ProgFlags,
    /// The name (first 15 bytes are kept).
    pub name: &'a str,
    /// Device to offload to, or to bind an XDP program to (0: none).
    pub ifindex: u32,
    /// `expected_attach_type` (0 is `BPF_CGROUP_INET_INGRESS`, what "none" sends).
    pub expected_attach_type: AttachType,
    /// BTF object of the program (for func_info/line_info and BTF-typed globals).
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// Function info records (need `btf_fd`).
    pub func_info: Option<ExtInfo<'a>>,
    /// Line info records (need `btf_fd`).
    pub line_info: Option<ExtInfo<'a>>,
    /// BTF id of the attach target (fentry/fexit/lsm/struct_ops/iter/ext/tp_btf).
    pub attach_btf_id: u32,
    /// `attach_prog_fd` (a BPF program, for freplace/fentry on BPF) or `attach_btf_obj_fd`
    /// (a module BTF holding `attach_btf_id`); the kernel tells them apart by the fd's kind.
    pub attach_fd: Option<BorrowedFd<'a>>,
    /// `fd_array`: fds that instructions refer to by index (kfunc module BTFs by
    /// `insn.off`, maps by `BPF_PSEUDO_MAP_IDX`). Slot 0 of kfunc BTFs is never read (off 0
    /// means vmlinux); fill it with any fd.
    pub fd_array: &'a [BorrowedFd<'a>],
    /// Also pass `fd_array_cnt` (6.14): the kernel then binds every map of `fd_array` to the
    /// program, and rejects fds that are neither maps nor BTF.
    pub fd_array_cnt: bool,
    /// BPF token granting the permission (6.9).
    pub token_fd: Option<BorrowedFd<'a>>,
    /// Signature of the program (6.18 signed programs); empty for none.
    pub signature: &'a [u8],
    /// Keyring to check `signature` against (6.18).
    pub keyring_id: i32,
}

impl ProgLoad<'_> {
    /// The attribute struct this request becomes (pointers into `self`'s borrowed data).
    pub fn to_attr(&mut self) -> Result<ProgLoadAttr> {
        let cmd = Command::PROG_LOAD;
        let mut flags = self.prog_flags;
        if self.token_fd.is_some() {
            flags |= ProgFlags::TOKEN_FD;
        }
        let (log_buf, log_size) = match self.log_buf.as_deref_mut() {
            Some(buf) => {
                let size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
                (mut_ptr_u64(buf), size)
            }
            None => (0, 0),
        };
        let (func_info, func_info_rec_size, func_info_cnt) = ext(self.func_info);
        let (line_info, line_info_rec_size, line_info_cnt) = ext(self.line_info);
        Ok(ProgLoadAttr {
            prog_type: self.prog_type.0,
            insn_cnt: len_u32(cmd, "more than 2^32 instructions", self.insns.len())?,
            insns: ptr_u64(self.insns),
            license: self.license.as_ptr() as u64,
            log_level: self.log_level.bits(),
            log_size,
            log_buf,
            kern_version: self.kern_version,
            prog_flags: flags.bits(),
            prog_name: obj_name(self.name),
            prog_ifindex: self.ifindex,
            expected_attach_type: self.expected_attach_type.0,
            prog_btf_fd: fd_u32(self.btf_fd),
            func_info_rec_size,
            func_info,
            func_info_cnt,
            line_info_rec_size,
            line_info,
            line_info_cnt,
            attach_btf_id: self.attach_btf_id,
            attach_prog_fd: fd_u32(self.attach_fd),
            fd_array: ptr_u64(self.fd_array),
            fd_array_cnt: if self.fd_array_cnt {
                len_u32(cmd, "fd_array too long", self.fd_array.len())?
            } else {
                0
            },
            prog_token_fd: fd_i32(self.token_fd),
            signature: ptr_u64(self.signature),
            signature_size: len_u32(cmd, "signature too long", self.signature.len())?,
            keyring_id: self.keyring_id,
            ..Default::default()
        })
    }
}

fn ext(info: Option<ExtInfo<'_>>) -> (u64, u32, u32) {
    match info {
        Some(i) if i.count() > 0 => (ptr_u64(i.data), i.rec_size, i.count()),
        _ => (0, 0, 0),
    }
}

/// How many times `BPF_PROG_LOAD` is tried while the kernel answers EAGAIN.
pub const PROG_LOAD_ATTEMPTS: usize = 5;

/// `BPF_PROG_LOAD`: loads a program, retrying up to [`PROG_LOAD_ATTEMPTS`] times on EAGAIN.
///
/// The verifier log goes to `req.log_buf`; `req.log_true_size` is updated after the call,
/// also when it fails (ENOSPC: the log did not fit).
pub fn prog_load(req: &mut ProgLoad<'_>) -> Result<OwnedFd> {
    let mut attempt = 1;
    loop {
        // Rebuilt each attempt: the kernel (or a test fake) may have written into it.
        let mut attr = req.to_attr()?;
        // SAFETY: every pointer of `attr` comes from `req`'s borrowed data: `insns` with
        // `insn_cnt` instructions, `license` NUL-terminated, `log_buf` with `log_size` bytes
        // (exclusively borrowed: the kernel writes it), `func_info`/`line_info` with
        // `cnt * rec_size` bytes (cnt computed from the data length), `fd_array` of
        // `BorrowedFd` (repr(transparent) over a C int), `signature` with its size; all live
        // for the call.
        let result = unsafe { bpf_fd(Command::PROG_LOAD, &mut attr) };
        req.log_true_size = attr.log_true_size;
        match result {
            Err(e) if e.errno == Errno::EAGAIN && attempt < PROG_LOAD_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// The `test` member of `union bpf_attr` (`BPF_PROG_TEST_RUN`, 80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad0: u32,
}

impl Sealed for TestRunAttr {}
// SAFETY: repr(C), integer fields, explicit tail padding.
unsafe impl Pod for TestRunAttr {}
impl Attr for TestRunAttr {
    const FIELDS: &'static [Field] = &[
        field("prog_fd", 0, 4, 12),
        field("retval", 4, 4, 12),
        field("data_size_in", 8, 4, 12),
        field("data_size_out", 12, 4, 12),
        field("data_in", 16, 4, 12),
        field("data_out", 24, 4, 12),
        field("repeat", 32, 4, 12),
        field("duration", 36, 4, 12),
        field("ctx_size_in", 40, 5, 2),
        field("ctx_size_out", 44, 5, 2),
        field("ctx_in", 48, 5, 2),
        field("ctx_out", 56, 5, 2),
        field("flags", 64, 5, 10),
        field("cpu", 68, 5, 10),
        field("batch_size", 72, 5, 18),
    ];
}

/// Inputs and output buffers of [`prog_test_run`].
#[derive(Debug, Default)]
pub struct TestRun<'a> {
    /// Packet (or other data) given to the program.
    pub data_in: &'a [u8],
    /// Receives the data after the run (an empty buffer is not passed).
    pub data_out: Option<&'a mut [u8]>,
    /// Context given to the program (e.g. a `__sk_buff` or raw tracepoint arguments).
    pub ctx_in: &'a [u8],
    /// Receives the context after the run.
    pub ctx_out: Option<&'a mut [u8]>,
    /// A context the kernel reads and writes back in place (`BPF_PROG_TYPE_SYSCALL`
    /// programs, which take no `ctx_out`); replaces `ctx_in` when set.
    pub ctx_in_out: Option<&'a mut [u8]>,
    /// Number of runs (0 and 1 both run once); `duration` is the mean.
    pub repeat: u32,
    /// `flags`.
    pub flags: TestRunFlags,
    /// CPU to run on, with [`TestRunFlags::RUN_ON_CPU`].
    pub cpu: u32,
    /// XDP live-frames batch size.
    pub batch_size: u32,
}

/// What [`prog_test_run`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value.
    pub retval: u32,
    /// Mean run time in nanoseconds.
    pub duration_ns: u32,
    /// Size of the output data (may exceed the buffer, which then holds a prefix).
    pub data_size_out: u32,
    /// Size of the output context.
    pub ctx_size_out: u32,
}

/// `BPF_PROG_TEST_RUN` (alias `BPF_PROG_RUN`): runs a loaded program once (or `repeat`
/// times) on the given data/context.
pub fn prog_test_run(prog: BorrowedFd<'_>, run: &mut TestRun<'_>) -> Result<TestRunOutput> {
    let cmd = Command::PROG_TEST_RUN;
    let mut attr = TestRunAttr {
        prog_fd: raw_u32(prog),
        data_size_in: len_u32(cmd, "data_in too long", run.data_in.len())?,
        data_in: ptr_u64(run.data_in),
        repeat: run.repeat,
        ctx_size_in: len_u32(cmd, "ctx_in too long", run.ctx_in.len())?,
        ctx_in: ptr_u64(run.ctx_in),
        flags: run.flags.bits(),
        cpu: run.cpu,
        batch_size: run.batch_size,
        ..Default::default()
    };
    // The kernel treats data_size_out 0 as "unbounded", so an empty buffer must not be
    // passed at all: mut_ptr_u64 gives 0 for it.
    if let Some(out) = run.data_out.as_deref_mut() {
        attr.data_size_out = u32::try_from(out.len()).unwrap_or(u32::MAX);
        attr.data_out = mut_ptr_u64(out);
    }
    if let Some(out) = run.ctx_out.as_deref_mut() {
        attr.ctx_size_out = u32::try_from(out.len()).unwrap_or(u32::MAX);
        attr.ctx_out = mut_ptr_u64(out);
    }
    if let Some(ctx) = run.ctx_in_out.as_deref_mut() {
        attr.ctx_size_in = len_u32(cmd, "ctx_in too long", ctx.len())?;
        attr.ctx_in = mut_ptr_u64(ctx);
    }
    // SAFETY: `data_in`/`ctx_in` point to borrowed input slices with their lengths (or
    // `ctx_in` to the exclusively borrowed `ctx_in_out`, which the kernel may write back
    // within `ctx_size_in`); `data_out`/`ctx_out` are null or point to exclusively borrowed
    // buffers whose non-zero lengths in `*_size_out` bound the kernel's writes. All live for
    // the call.
    unsafe { bpf_value(cmd, &mut attr)? };
    Ok(TestRunOutput {
        retval: attr.retval,
        duration_ns: attr.duration,
        data_size_out: attr.data_size_out,
        ctx_size_out: attr.ctx_size_out,
    })
}

/// The `prog_bind_map` member of `union bpf_attr` (12 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ProgBindMapAttr {
    pub prog_fd: u32,
    pub map_fd: u32,
    pub flags: u32,
}

impl Sealed for ProgBindMapAttr {}
// SAFETY: repr(C), three u32s.
unsafe impl Pod for ProgBindMapAttr {}
impl Attr for ProgBindMapAttr {
    const FIELDS: &'static [Field] = &[
        field("prog_fd", 0, 5, 10),
        field("map_fd", 4, 5, 10),
        field("flags", 8, 5, 10),
    ];
}

/// `BPF_PROG_BIND_MAP`: keeps `map` alive as long as `prog` (e.g. `.rodata` of a program
/// that no longer references it).
pub fn prog_bind_map(prog: BorrowedFd<'_>, map: BorrowedFd<'_>) -> Result<()> {
    let mut attr = ProgBindMapAttr {
        prog_fd: raw_u32(prog),
        map_fd: raw_u32(map),
        flags: 0,
    };
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::PROG_BIND_MAP, &mut attr) }.map(drop)
}
