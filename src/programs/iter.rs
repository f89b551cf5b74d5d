//! BPF iterators: an iter link (`BPF_LINK_CREATE` with `BPF_TRACE_ITER`, optionally
//! parameterized by a map, a cgroup or a task), and [`IterStream`], one run of it read as a
//! file (`read(2)` of a `BPF_ITER_CREATE` fd runs the program over the objects).
//!
//! ```no_run
//! # fn f(prog: &oxbpf::programs::Program) -> Result<(), Box<dyn std::error::Error>> {
//! let link = prog.attach_iter(oxbpf::programs::IterTarget::None)?;
//! let text = link.open_iter()?.read_to_string()?; // or any `std::io::Read` use
//! println!("{text}");
//! # Ok(()) }
//! ```

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::syscall::{iter_create, link_create, AttachType, LinkCreate, LinkExtra, LinkTarget};

use super::error::{AttachErrorKind, Result};
use super::link::Link;
use super::Program;

/// Walk order of a cgroup iterator (`enum bpf_cgroup_iter_order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CgroupIterOrder {
    /// The cgroup only.
    #[default]
    SelfOnly,
    /// Descendants, parents first.
    DescendantsPre,
    /// Descendants, children first.
    DescendantsPost,
    /// The cgroup and its ancestors up to the root.
    AncestorsUp,
}

/// What an iterator walks, for iterator kinds that take a parameter.
#[derive(Clone, Copy, Debug)]
pub enum IterTarget<'a> {
    /// No parameter (`task`, `bpf_map`, `tcp`, ...).
    None,
    /// The elements of a map (`bpf_map_elem`, `bpf_sk_storage_map`).
    Map(BorrowedFd<'a>),
    /// Cgroups from one cgroup directory fd (`cgroup`, 6.1).
    Cgroup {
        /// An open cgroup directory.
        fd: BorrowedFd<'a>,
        /// Walk order.
        order: CgroupIterOrder,
    },
    /// One thread (`task`, `task_file`, `task_vma`; 6.1).
    Thread(u32),
    /// The threads of one process (6.1).
    Process(u32),
    /// The process of a pidfd (6.1).
    Pidfd(BorrowedFd<'a>),
}

impl IterTarget<'_> {
    /// `union bpf_iter_link_info` bytes (empty for no parameter).
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        let put =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        match *self {
            IterTarget::None => return Vec::new(),
            IterTarget::Map(fd) => put(&mut b, 0, fd.as_raw_fd() as u32),
            IterTarget::Cgroup { fd, order } => {
                let order = match order {
                    CgroupIterOrder::SelfOnly => 1,
                    CgroupIterOrder::DescendantsPre => 2,
                    CgroupIterOrder::DescendantsPost => 3,
                    CgroupIterOrder::AncestorsUp => 4,
                };
                put(&mut b, 0, order);
                put(&mut b, 4, fd.as_raw_fd() as u32);
            }
            IterTarget::Thread(tid) => put(&mut b, 0, tid),
            IterTarget::Process(pid) => put(&mut b, 4, pid),
            IterTarget::Pidfd(fd) => put(&mut b, 8, fd.as_raw_fd() as u32),
        }
        b
    }
}

impl Program {
    /// Creates an iterator link for this iter program (loaded with `BPF_TRACE_ITER` and
    /// the `bpf_iter_<kind>` BTF id); run it with [`Link::open_iter`].
    pub fn attach_iter(&self, target: IterTarget<'_>) -> Result<Link> {
        let desc = format!("iterator ({target:?})");
        if self.expected_attach_type() != Some(AttachType::TRACE_ITER) {
            return Err(self.wrong_type(&desc, "TRACING with BPF_TRACE_ITER"));
        }
        let info = target.encode();
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::None, AttachType::TRACE_ITER);
        if !info.is_empty() {
            req.extra = LinkExtra::Iter { info: &info };
        }
        let fd = link_create(&req).map_err(self.attach_err(&desc))?;
        Ok(Link::bpf(fd, self.name(), "iterator"))
    }
}

impl Link {
    /// Starts one run of an iterator link: reading the stream runs the program and returns
    /// what it wrote with `bpf_seq_write`/`bpf_seq_printf`.
    pub fn open_iter(&self) -> Result<IterStream> {
        let Some(fd) = self.fd() else {
            return Err(AttachErrorKind::LinkOp {
                program: self.program().to_string(),
                target: self.target().to_string(),
                op: "open an iterator on",
                method: "non-bpf-link",
            }
            .into());
        };
        let iter = iter_create(fd).map_err(|source| AttachErrorKind::Link {
            program: self.program().to_string(),
            target: self.target().to_string(),
            op: "open iterator",
            path: None,
            source,
        })?;
        Ok(IterStream {
            file: File::from(iter),
        })
    }
}

/// One run of an iterator, read like a file.
#[derive(Debug)]
pub struct IterStream {
    file: File,
}

impl IterStream {
    /// Runs the iterator to the end and returns its output as text (the stream implements
    /// [`Read`] too; this inherent method shadows `Read::read_to_string`).
    pub fn read_to_string(&mut self) -> std::io::Result<String> {
        let mut s = String::new();
        Read::read_to_string(&mut self.file, &mut s)?;
        Ok(s)
    }
}

impl Read for IterStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl AsFd for IterStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_info_is_encoded_as_the_kernel_reads_it() {
        assert!(IterTarget::None.encode().is_empty());
        let b = IterTarget::Process(42).encode();
        assert_eq!(b.len(), 16);
        assert_eq!(&b[4..8], &42u32.to_ne_bytes());
        let b = IterTarget::Thread(7).encode();
        assert_eq!(&b[0..4], &7u32.to_ne_bytes());
    }
}
