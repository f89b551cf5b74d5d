//! oxbpf side by side with libbpf and aya.
//!
//! This crate is a workspace member outside `default-members`: it links libbpf (vendored by
//! `libbpf-sys`, built from C with the system's libelf and zlib) and aya, which the `oxbpf`
//! library itself never depends on. It holds:
//!
//! - [`libbpf`]: libbpf's preparation of an object (open with a target BTF, relocate, create
//!   maps, no program load) and each program's final instructions;
//! - [`diff`]: the differential comparison of two such instruction streams, modulo map fds;
//! - [`oxbpf_side`]: oxbpf's loader preparing the same streams;
//! - [`heap`], [`tracefs`], [`bench`], [`summary`]: what the benchmarks under `benches/`
//!   and the `load_once`/`report` binaries share.
//!
//! `cargo test -p compare` runs the differential test; `cargo bench -p compare` the benchmarks
//! (both need root for the kernel parts); `compare/report.sh` writes the ratio table.
#![warn(missing_docs)]

pub mod bench;
pub mod diff;
pub mod heap;
pub mod libbpf;
pub mod load_once;
pub mod oxbpf_side;
pub mod summary;
pub mod tracefs;

/// The repository root (the workspace holding this crate).
pub fn repo_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Whether this process may load BPF (euid 0 or CAP_BPF/CAP_SYS_ADMIN); `Err` says why not.
pub fn bpf_privileges() -> Result<(), String> {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        Ok(())
    } else {
        Err(format!(
            "needs root or CAP_BPF+CAP_PERFMON (CapEff {caps:#x})"
        ))
    }
}
