//! C header (`vmlinux.h`) output.

use super::error::BtfError;
use super::table::Btf;

/// Options of [`dump_c`].
#[derive(Debug, Clone, Default)]
pub struct DumpCOptions {}

/// Write every type as a compilable C header.
pub fn dump_c(_btf: &Btf, _opts: &DumpCOptions, _out: &mut String) -> Result<(), BtfError> {
    Ok(())
}
