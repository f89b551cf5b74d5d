//! Opening an object file and applying the command line to it before load (`--set`,
//! `--disable`), shared by `inspect`, `load`, `run` and `core check`.

use std::path::{Path, PathBuf};

use clap::Args;
use oxbpf::btf::Btf;
use oxbpf::object::Object;
use oxbpf::relocate::MapSlot;

use crate::exit::{CmdResult, Code, Failure};

/// `--set VAR=VALUE` and `--disable PROG`.
#[derive(Args, Debug, Default)]
pub struct Edits {
    /// Set a global variable before load (`const volatile` ones included); VALUE is read
    /// through the variable's type: integers, true/false, enumerator names, strings for
    /// char arrays.
    #[arg(long = "set", value_name = "VAR=VALUE")]
    pub set: Vec<String>,
    /// Do not load this program (repeatable).
    #[arg(long = "disable", value_name = "PROG")]
    pub disable: Vec<String>,
}

/// Reads and parses an object file; a failure names the file.
pub fn open(path: &Path) -> Result<Object, Failure> {
    Object::open(path).map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail(format!("while reading {}", path.display()))
    })
}

/// Parses an embedded object.
pub fn parse(bytes: &[u8], name: &str) -> Result<Object, Failure> {
    Object::parse_named(bytes, name).map_err(|e| Failure::from_error(Code::Failure, &e))
}

/// Applies `--set` and `--disable` to `obj`.
pub fn apply(obj: &mut Object, edits: &Edits) -> CmdResult {
    for s in &edits.set {
        let Some((name, value)) = s.split_once('=') else {
            return Err(Failure::new(
                Code::Usage,
                format!("--set {s}: expected VAR=VALUE"),
            ));
        };
        if let Err(e) = obj.set_variable_text(name.trim(), value) {
            let mut f = Failure::from_error(Code::Usage, &e);
            if matches!(e, oxbpf::object::ObjectError::NoSuchGlobal(_)) {
                f = f.detail(format!("the object's variables: {}", variable_names(obj)));
            }
            return Err(f);
        }
    }
    for p in &edits.disable {
        match obj.program_mut(p) {
            Ok(prog) => {
                prog.set_autoload(false);
            }
            Err(e) => {
                let names: Vec<&str> = obj.programs().iter().map(|p| p.name()).collect();
                return Err(Failure::from_error(Code::Usage, &e)
                    .detail(format!("the object's programs: {}", names.join(", "))));
            }
        }
    }
    Ok(())
}

fn variable_names(obj: &Object) -> String {
    let names: Vec<String> = obj
        .data_sections()
        .iter()
        .flat_map(|d| {
            d.variables()
                .iter()
                .map(move |v| format!("{} ({})", v.name, d.name()))
        })
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The type `id` of `btf` as C, or `-`.
pub fn type_name(btf: Option<&Btf>, id: Option<u32>) -> String {
    match (btf, id) {
        (Some(b), Some(id)) if id != 0 => b.type_name(id).unwrap_or_else(|_| format!("[{id}]")),
        _ => "-".into(),
    }
}

/// The name of the map a relocated instruction refers to.
pub fn slot_name(obj: &Object, slot: MapSlot) -> String {
    match slot {
        MapSlot::Map(i) => obj.maps().get(i).map(|m| m.name.clone()),
        MapSlot::Data(i) => obj.data_sections().get(i).map(|d| d.name().to_string()),
    }
    .unwrap_or_else(|| "?".into())
}

/// A target BTF argument's display name: the file name, or `running kernel`.
pub fn target_label(path: Option<&PathBuf>) -> String {
    match path {
        Some(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
        None => "running kernel".into(),
    }
}

/// The BTF object `id` of the kernel (a loaded object's, or a module's split on vmlinux),
/// parsed; `None` when it cannot be read.
pub fn btf_by_id(id: u32) -> Option<Btf> {
    use oxbpf::syscall::{btf_data, btf_get_fd_by_id, btf_info, btf_name};
    use std::os::fd::AsFd;
    if id == 0 {
        return None;
    }
    let fd = btf_get_fd_by_id(id).ok()?;
    let data = btf_data(fd.as_fd()).ok()?;
    let info = btf_info(fd.as_fd()).ok()?;
    let name = btf_name(fd.as_fd()).unwrap_or_default();
    if info.kernel_btf != 0 && name != "vmlinux" {
        let base = oxbpf::loader::kernel_btf::vmlinux().ok()?;
        return Btf::parse_split(data, base).ok();
    }
    Btf::parse(data).ok()
}
