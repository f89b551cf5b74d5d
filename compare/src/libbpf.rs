//! libbpf's side of the differential check: an object prepared by libbpf, and each program's
//! final instructions.
//!
//! The libbpf is the one `libbpf-sys` 1.7.0+v1.7.0 vendors and builds from its C sources
//! (feature `vendored-libbpf`, on by default: libbpf is compiled and linked statically, libelf
//! and zlib come from the system), i.e. **libbpf v1.7.0**; [`version`] asks the linked library.
//!
//! [`prepare`] runs what `bpf_object__load` runs before the first `BPF_PROG_LOAD`:
//! `bpf_object__open_file` with `btf_custom_path` set to the target BTF (raw BTF or an ELF
//! with `.BTF`; `None`: the running kernel's), then `bpf_object__prepare` (libbpf ≥ 1.6):
//! feature probes, vmlinux BTF, externs, CO-RE, subprogram calls, data relocations, the
//! object's BTF loaded and its maps created (so it needs root), helper sanitization. Its
//! documented result is the final state of each program's instructions, read with
//! `bpf_program__insns`/`bpf_program__insn_cnt`.
//!
//! Map references: libbpf reserves a placeholder fd per map at open time and writes it into
//! each map-referencing `ld_imm64` (`src_reg` `BPF_PSEUDO_MAP_FD`/`BPF_PSEUDO_MAP_VALUE`);
//! map creation `dup2`s the real map onto it, so after preparation `bpf_map__fd` names the
//! map behind every such `imm`. The names reported are the object's own (see
//! [`crate::diff`]): libbpf's kernel-visible `objname.rodata`/`objname.kconfig` become
//! `.rodata`/`.kconfig` again.
//!
//! Maps pinned by name (`LIBBPF_PIN_BY_NAME`) are pinned under a private bpffs mounted on a
//! temporary directory for the preparation (`pin_root_path`), unmounted afterwards: nothing
//! is reused from, or left on, the system.
//!
//! Programs libbpf does not relocate (autoload off, e.g. `SEC("?tp/...")`) are listed in
//! [`Prepared::not_autoloaded`], not in [`Prepared::programs`]. libbpf's global state (its print
//! callback) is shared by the process, so preparations are serialized here.

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libbpf_rs::PrintLevel;
use libbpf_sys as sys;
use oxbpf::insn::{opcode::pseudo, ByteOrder, Insn};

use crate::diff::RelocatedProgram;

/// The libbpf release libbpf-sys vendors (as `major.minor`, from the linked library).
pub fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(sys::libbpf_version_string()) };
    s.to_string_lossy().into_owned()
}

/// What [`prepare`] returns.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    /// Every autoloaded program's final instructions and map references.
    pub programs: Vec<RelocatedProgram>,
    /// Programs libbpf left unrelocated because their autoload is off.
    pub not_autoloaded: Vec<String>,
    /// libbpf's log of the preparation (debug level: CO-RE decisions included).
    pub log: String,
}

/// A failed preparation.
#[derive(Clone, Debug)]
pub struct LibbpfError {
    /// The object.
    pub object: PathBuf,
    /// `"open"`, `"prepare"` (or `"mount bpffs for"`: the private pin root).
    pub stage: &'static str,
    /// The errno libbpf returned.
    pub errno: i32,
    /// libbpf's warnings (the debug log's `libbpf:` warning lines and the last lines).
    pub log: String,
}

impl fmt::Display for LibbpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "libbpf {} of {} failed: {} (errno {})",
            self.stage,
            self.object.display(),
            std::io::Error::from_raw_os_error(self.errno),
            self.errno
        )?;
        let tail: Vec<&str> = self.log.lines().rev().take(15).collect();
        for line in tail.iter().rev() {
            write!(f, "\n  | {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LibbpfError {}

/// Serializes preparations: libbpf's print callback is process-wide.
static LOCK: Mutex<()> = Mutex::new(());
/// The log of the preparation under way.
static LOG: Mutex<String> = Mutex::new(String::new());

fn capture(_level: PrintLevel, msg: String) {
    if let Ok(mut log) = LOG.lock() {
        log.push_str(&msg);
    }
}

/// Closes the object (its maps and BTF fds with it) on every path.
struct ObjectGuard(*mut sys::bpf_object);

impl Drop for ObjectGuard {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful bpf_object__open_file and is closed once.
        unsafe { sys::bpf_object__close(self.0) };
    }
}

fn cstring(p: &Path) -> CString {
    // A path from the OS holds no NUL byte.
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn c_str(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libbpf returns NUL-terminated names that live as long as the object.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Prepares `object` with libbpf against `target_btf` (`None`: the running kernel's BTF)
/// and returns every autoloaded program's final instructions. Needs root (maps are created).
pub fn prepare(object: &Path, target_btf: Option<&Path>) -> Result<Prepared, LibbpfError> {
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut log) = LOG.lock() {
        log.clear();
    }
    let previous = libbpf_rs::set_print(Some((PrintLevel::Debug, capture)));
    let result = prepare_locked(object, target_btf);
    libbpf_rs::set_print(previous);
    let log = LOG.lock().map(|l| l.clone()).unwrap_or_default();
    match result {
        Ok(mut p) => {
            p.log = log;
            Ok(p)
        }
        Err((stage, errno)) => Err(LibbpfError {
            object: object.to_path_buf(),
            stage,
            errno,
            log,
        }),
    }
}

/// A bpffs on a fresh temporary directory, unmounted and removed on drop.
struct PinRoot(PathBuf);

impl PinRoot {
    fn mount() -> Result<PinRoot, i32> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("compare-bpffs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        let flags = nix::mount::MsFlags::empty();
        if let Err(e) = nix::mount::mount(Some("bpf"), &dir, Some("bpf"), flags, None::<&str>) {
            let _ = std::fs::remove_dir(&dir);
            return Err(e as i32);
        }
        Ok(PinRoot(dir))
    }
}

impl Drop for PinRoot {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn prepare_locked(
    object: &Path,
    target_btf: Option<&Path>,
) -> Result<Prepared, (&'static str, i32)> {
    let path = cstring(object);
    let btf = target_btf.map(cstring);
    // Declared before the object: dropped (unmounted) after it is closed.
    let pin_root = PinRoot::mount().map_err(|e| ("mount bpffs for", e))?;
    let pin_path = cstring(&pin_root.0);
    let opts = sys::bpf_object_open_opts {
        sz: std::mem::size_of::<sys::bpf_object_open_opts>() as _,
        btf_custom_path: btf.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
        pin_root_path: pin_path.as_ptr(),
        ..Default::default()
    };
    // SAFETY: `path` and `opts` (and the string it points to) outlive the call.
    let obj = unsafe { sys::bpf_object__open_file(path.as_ptr(), &opts) };
    if obj.is_null() {
        return Err((
            "open",
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    let obj = ObjectGuard(obj);
    // SAFETY: a valid, freshly opened object.
    let err = unsafe { sys::bpf_object__prepare(obj.0) };
    if err < 0 {
        return Err(("prepare", -err));
    }

    let maps = map_names(obj.0);
    let mut out = Prepared::default();
    let mut prog: *mut sys::bpf_program = std::ptr::null_mut();
    loop {
        // SAFETY: iterates the object's programs; `prog` is null or the previous one.
        prog = unsafe { sys::bpf_object__next_program(obj.0, prog) };
        if prog.is_null() {
            break;
        }
        // SAFETY: `prog` belongs to the live object.
        let name = c_str(unsafe { sys::bpf_program__name(prog) });
        // SAFETY: as above.
        if !unsafe { sys::bpf_program__autoload(prog) } {
            out.not_autoloaded.push(name);
            continue;
        }
        // SAFETY: as above; the pointer holds `insn_cnt` instructions of 8 bytes each.
        let insns = unsafe {
            let p = sys::bpf_program__insns(prog);
            let n = sys::bpf_program__insn_cnt(prog);
            if p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.cast::<[u8; 8]>(), n as usize)
            }
        };
        let insns: Vec<Insn> = insns
            .iter()
            .map(|b| Insn::from_bytes(*b, ByteOrder::NATIVE))
            .collect();
        let map_refs = map_refs(&insns, &maps);
        out.programs.push(RelocatedProgram {
            name,
            insns,
            map_refs,
        });
    }
    Ok(out)
}

/// `(fd, name)` of every map of the prepared object, with the object's own names.
fn map_names(obj: *mut sys::bpf_object) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let mut map: *mut sys::bpf_map = std::ptr::null_mut();
    loop {
        // SAFETY: iterates the object's maps; `map` is null or the previous one.
        map = unsafe { sys::bpf_object__next_map(obj, map) };
        if map.is_null() {
            break;
        }
        // SAFETY: `map` belongs to the live object.
        let (fd, name, internal) = unsafe {
            (
                sys::bpf_map__fd(map),
                c_str(sys::bpf_map__name(map)),
                sys::bpf_map__is_internal(map),
            )
        };
        out.push((fd, section_name(obj, map, name, internal)));
    }
    out
}

/// libbpf names `.rodata`, `.data`, `.bss` and `.kconfig` maps `<object prefix>.rodata` etc.
/// (object names stop before their first `.`); `bpf_object__find_map_by_name` still finds
/// them by their section name, which confirms the one recovered here.
fn section_name(
    obj: *mut sys::bpf_object,
    map: *mut sys::bpf_map,
    name: String,
    internal: bool,
) -> String {
    if !internal || name.starts_with('.') {
        return name;
    }
    let Some(dot) = name.find('.') else {
        return name;
    };
    let real = &name[dot..];
    let c = CString::new(real).unwrap_or_default();
    // SAFETY: a live object and a NUL-terminated name.
    let found = unsafe { sys::bpf_object__find_map_by_name(obj, c.as_ptr()) };
    if found == map {
        real.to_string()
    } else {
        name
    }
}

/// The map each map-referencing `ld_imm64` names, by fd.
fn map_refs(insns: &[Insn], maps: &[(i32, String)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        if insn.is_ld_imm64() {
            if matches!(insn.src(), pseudo::MAP_FD | pseudo::MAP_VALUE) {
                let name = maps
                    .iter()
                    .find(|(fd, _)| *fd == insn.imm)
                    .map_or_else(|| "<map not in the object>".to_string(), |m| m.1.clone());
                out.push((i, name));
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}
