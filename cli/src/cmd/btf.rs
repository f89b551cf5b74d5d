//! `oxbpf btf dump`: a kernel's (or any file's) BTF as a C header or a raw listing.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use oxbpf::btf::{dump_c, dump_raw, Btf, DumpCOptions};
use oxbpf::loader::kernel_btf;

use crate::exit::{CmdResult, Code, Failure};

/// `oxbpf btf ...`
#[derive(Subcommand, Debug)]
pub enum BtfCommand {
    /// Dump BTF: by default the running kernel's vmlinux as a C header (vmlinux.h).
    Dump {
        /// A BTF file: raw BTF, or an ELF file with a .BTF section (a BPF object, a vmlinux).
        #[arg(long, conflicts_with = "module")]
        file: Option<PathBuf>,
        /// A kernel module's BTF (split on vmlinux), from /sys/kernel/btf/NAME.
        #[arg(long)]
        module: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::C)]
        format: Format,
        /// Leave out the `preserve_access_index` attribute block (C format).
        #[arg(long)]
        no_preserve_access_index: bool,
    },
}

/// `--format`
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A compilable C header.
    C,
    /// One line per type, like `bpftool btf dump ... format raw`.
    Raw,
}

/// Runs a `btf` subcommand.
pub fn run(cmd: BtfCommand) -> CmdResult {
    match cmd {
        BtfCommand::Dump {
            file,
            module,
            format,
            no_preserve_access_index,
        } => {
            let btf: Arc<Btf> = match (&file, &module) {
                (Some(path), _) => Arc::new(
                    kernel_btf::read_btf_file(path)
                        .map_err(|e| Failure::from_error(Code::Failure, &e))?,
                ),
                (None, Some(m)) => {
                    kernel_btf::module(m).map_err(|e| Failure::from_error(Code::Failure, &e))?
                }
                (None, None) => {
                    kernel_btf::vmlinux().map_err(|e| Failure::from_error(Code::Failure, &e))?
                }
            };
            let mut out = String::new();
            let r = match format {
                Format::C => {
                    let opts = DumpCOptions {
                        preserve_access_index: !no_preserve_access_index,
                        ..Default::default()
                    };
                    dump_c(&btf, &opts, &mut out)
                }
                Format::Raw => dump_raw(&btf, &mut out),
            };
            r.map_err(|e| Failure::from_error(Code::Failure, &e))?;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(out.as_bytes());
            Ok(())
        }
    }
}
