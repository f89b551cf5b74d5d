//! oxbpf: a pure-Rust eBPF loader.
//!
//! oxbpf reads ELF objects that clang compiled from BPF C, relocates them with BTF/CO-RE
//! against the running kernel's BTF, and speaks raw `bpf(2)` to create maps, load programs
//! and attach links. No libbpf, no libelf, no C toolchain at run time.
//!
//! The pipeline is a chain of types (see `DESIGN.md`):
//!
//! ```text
//! .o bytes --Object::parse--> Object --relocate--> relocated programs
//!          --Loader::load--> Loaded { programs, maps } --attach--> Link
//! ```
//!
//! The pure stages ([`object`], [`btf`], [`insn`], [`relocate`]) never make a syscall; the
//! kernel-facing stages ([`syscall`], [`features`], [`maps`], [`programs`], [`loader`]) do.
#![warn(missing_docs)]

pub mod btf;
pub mod features;
pub mod insn;
pub mod loader;
pub mod maps;
pub mod object;
pub mod programs;
pub mod relocate;
pub mod syscall;
