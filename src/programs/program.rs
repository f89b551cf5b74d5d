//! [`Program`]: a loaded program's fd with the facts attach needs (name, type, expected
//! attach type, section), its kernel-side [`info`](Program::info), pinning and test runs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::syscall::{
    self, enable_stats, obj_get, obj_pin, prog_get_fd_by_id, prog_info, prog_info_with,
    prog_test_run, AttachType, FileFlags, FuncInfoRec, LineInfoRec, ProgInfo, ProgInfoArrays,
    ProgType, StatsType, SyscallError, TestRun, TestRunOutput,
};

use super::error::{AttachError, AttachErrorKind, ProgramError};

/// A program loaded in the kernel, ready to attach. Dropping it closes its fd; attachments
/// made from it keep the kernel program alive on their own.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    name: String,
    prog_type: ProgType,
    expected_attach_type: Option<AttachType>,
    section: Option<String>,
}

impl Program {
    /// Wraps the fd `BPF_PROG_LOAD` returned, with what the loader knows about it.
    ///
    /// `expected_attach_type` is what the load passed (`None` when it sent none); attach
    /// functions use it as the default hook.
    pub fn from_loaded(
        fd: OwnedFd,
        name: impl Into<String>,
        prog_type: ProgType,
        expected_attach_type: Option<AttachType>,
    ) -> Program {
        Program {
            fd,
            name: name.into(),
            prog_type,
            expected_attach_type,
            section: None,
        }
    }

    /// Records the ELF section the program came from (shown in errors, used by callers of
    /// auto-attach).
    pub fn with_section(mut self, section: impl Into<String>) -> Program {
        self.section = Some(section.into());
        self
    }

    /// Wraps any program fd, asking the kernel for its name and type (the expected attach
    /// type is not reported by the kernel, so it is `None`).
    pub fn from_fd(fd: OwnedFd) -> Result<Program, ProgramError> {
        let info = prog_info(fd.as_fd()).map_err(|source| ProgramError::Syscall {
            program: "?".into(),
            op: "info",
            source: Box::new(source),
        })?;
        Ok(Program::from_loaded(
            fd,
            info.name(),
            info.prog_type(),
            None,
        ))
    }

    /// Opens the program pinned at `path` (a bpffs file).
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Program, ProgramError> {
        let path = path.as_ref();
        let fd = obj_get(path, FileFlags::empty()).map_err(|source| ProgramError::Pin {
            program: "?".into(),
            op: "open pin",
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        Program::from_fd(fd)
    }

    /// Opens the program with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Program, ProgramError> {
        let fd = prog_get_fd_by_id(id).map_err(|source| ProgramError::Syscall {
            program: format!("id {id}"),
            op: "open by id",
            source: Box::new(source),
        })?;
        Program::from_fd(fd)
    }

    /// The program's name (as the loader named it; the kernel keeps 15 bytes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program type.
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// The `expected_attach_type` of the load, if any.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        self.expected_attach_type
    }

    /// The ELF section, when the loader recorded it.
    pub fn section(&self) -> Option<&str> {
        self.section.as_deref()
    }

    /// A second handle on the same kernel program (a dup of the fd).
    pub fn try_clone(&self) -> Result<Program, ProgramError> {
        let fd = self.dup_fd().map_err(|source| self.err("dup", source))?;
        Ok(Program {
            fd,
            name: self.name.clone(),
            prog_type: self.prog_type,
            expected_attach_type: self.expected_attach_type,
            section: self.section.clone(),
        })
    }

    /// The fd, giving up the rest.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub(crate) fn dup_fd(&self) -> Result<OwnedFd, SyscallError> {
        self.fd.try_clone().map_err(|e| {
            SyscallError::from_code(
                syscall::Call::DupFd,
                e.raw_os_error().unwrap_or(libc::EBADF),
            )
        })
    }

    /// Maps a syscall failure while attaching to `target` to an [`AttachError`].
    pub(crate) fn attach_err<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Fn(SyscallError) -> AttachError + 'a {
        move |source| {
            AttachErrorKind::Syscall {
                program: self.name.clone(),
                target: target.to_string(),
                source,
            }
            .into()
        }
    }

    pub(crate) fn unsupported(&self, target: &str, why: impl Into<String>) -> AttachError {
        AttachErrorKind::Unsupported {
            program: self.name.clone(),
            target: target.to_string(),
            why: why.into(),
        }
        .into()
    }

    pub(crate) fn wrong_type(&self, target: &str, expected: &'static str) -> AttachError {
        AttachErrorKind::WrongProgramType {
            program: self.name.clone(),
            target: target.to_string(),
            prog_type: self.prog_type,
            expected,
        }
        .into()
    }

    pub(crate) fn io_err(
        &self,
        target: &str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> AttachError {
        AttachErrorKind::Io {
            program: self.name.clone(),
            target: target.to_string(),
            path: path.into(),
            source,
        }
        .into()
    }

    fn err(&self, op: &'static str, source: SyscallError) -> ProgramError {
        ProgramError::Syscall {
            program: self.name.clone(),
            op,
            source: Box::new(source),
        }
    }

    /// The kernel's id of the program.
    pub fn id(&self) -> Result<u32, ProgramError> {
        Ok(self.raw_info()?.id)
    }

    /// The program's tag (a hash of its instructions, as `bpftool prog` shows it).
    pub fn tag(&self) -> Result<[u8; 8], ProgramError> {
        Ok(self.raw_info()?.tag)
    }

    fn raw_info(&self) -> Result<ProgInfo, ProgramError> {
        prog_info(self.fd.as_fd()).map_err(|source| self.err("info", source))
    }

    /// What the kernel reports about the program: sizes, run statistics (non-zero while
    /// statistics are enabled, see [`enable_run_stats`]), map ids, line info.
    pub fn info(&self) -> Result<ProgramInfo, ProgramError> {
        let first = self.raw_info()?;
        let mut map_ids = vec![0u32; first.nr_map_ids as usize];
        let mut line_info = vec![LineInfoRec::default(); first.nr_line_info as usize];
        let mut func_info = vec![FuncInfoRec::default(); first.nr_func_info as usize];
        let info = prog_info_with(
            self.fd.as_fd(),
            &mut ProgInfoArrays {
                map_ids: Some(&mut map_ids),
                line_info: (first.line_info_rec_size as usize
                    == std::mem::size_of::<LineInfoRec>())
                .then_some(&mut line_info[..]),
                func_info: (first.func_info_rec_size as usize
                    == std::mem::size_of::<FuncInfoRec>())
                .then_some(&mut func_info[..]),
                ..Default::default()
            },
        )
        .map_err(|source| self.err("info", source))?;
        map_ids.truncate(info.nr_map_ids as usize);
        line_info.truncate(info.nr_line_info as usize);
        func_info.truncate(info.nr_func_info as usize);
        Ok(ProgramInfo {
            id: info.id,
            name: info.name(),
            prog_type: info.prog_type(),
            tag: info.tag,
            run_count: info.run_cnt,
            run_time_ns: info.run_time_ns,
            recursion_misses: info.recursion_misses,
            xlated_size: info.xlated_prog_len,
            jited_size: info.jited_prog_len,
            verified_insns: info.verified_insns,
            map_ids,
            btf_id: info.btf_id,
            load_time_ns: info.load_time,
            created_by_uid: info.created_by_uid,
            gpl_compatible: info.gpl_compatible(),
            line_info,
            func_info,
            raw: info,
        })
    }

    /// Pins the program at `path` in a bpffs.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<(), ProgramError> {
        let path = path.as_ref();
        obj_pin(self.fd.as_fd(), path).map_err(|source| ProgramError::Pin {
            program: self.name.clone(),
            op: "pin",
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Runs the program once (or `run.repeat` times) on `run`'s data and context with
    /// `BPF_PROG_TEST_RUN`.
    ///
    /// ```no_run
    /// # fn f(prog: &oxbpf::programs::Program) -> Result<(), oxbpf::programs::ProgramError> {
    /// use oxbpf::syscall::TestRun;
    /// let mut out = [0u8; 64];
    /// let result = prog.test_run(&mut TestRun {
    ///     data_in: &[0u8; 64],
    ///     data_out: Some(&mut out),
    ///     repeat: 100,
    ///     ..Default::default()
    /// })?;
    /// println!("returned {} in {} ns", result.retval, result.duration_ns);
    /// # Ok(()) }
    /// ```
    pub fn test_run(&self, run: &mut TestRun<'_>) -> Result<TestRunOutput, ProgramError> {
        prog_test_run(self.fd.as_fd(), run).map_err(|source| self.err("test run", source))
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A program as `bpftool prog show` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Kernel id.
    pub id: u32,
    /// Name (15 bytes at most).
    pub name: String,
    /// Type.
    pub prog_type: ProgType,
    /// Tag.
    pub tag: [u8; 8],
    /// Runs counted while statistics were enabled.
    pub run_count: u64,
    /// Total run time in nanoseconds while statistics were enabled.
    pub run_time_ns: u64,
    /// Runs skipped because the program was already running on the CPU.
    pub recursion_misses: u64,
    /// Size of the verifier-rewritten instructions in bytes.
    pub xlated_size: u32,
    /// Size of the JIT-compiled code in bytes.
    pub jited_size: u32,
    /// Instructions the verifier processed.
    pub verified_insns: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// Id of the program's BTF (0: none).
    pub btf_id: u32,
    /// Boot-time nanoseconds of the load.
    pub load_time_ns: u64,
    /// The uid that loaded it.
    pub created_by_uid: u32,
    /// Whether the license is GPL-compatible.
    pub gpl_compatible: bool,
    /// Line info records (instruction → source line; strings are in the program's BTF).
    pub line_info: Vec<LineInfoRec>,
    /// Function info records.
    pub func_info: Vec<FuncInfoRec>,
    /// The whole info struct.
    pub raw: ProgInfo,
}

impl ProgramInfo {
    /// The tag as 16 hex digits.
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Run-time statistics for every program (`BPF_ENABLE_STATS`), on while this guard lives.
#[derive(Debug)]
pub struct RunStats {
    _fd: OwnedFd,
}

/// Turns on run count and run time accounting of all programs until the guard drops.
pub fn enable_run_stats() -> Result<RunStats, SyscallError> {
    Ok(RunStats {
        _fd: enable_stats(StatsType::RUN_TIME)?,
    })
}
