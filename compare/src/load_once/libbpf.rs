//! libbpf: `bpf_object__open_file` + `bpf_object__load` (libbpf-sys, libbpf 1.7), logging off.

use super::{Args, Loaded};

/// Loads `args.object` with libbpf.
pub fn load(args: &Args) -> Result<Loaded, String> {
    use libbpf_sys as sys;
    use std::os::unix::ffi::OsStrExt;

    struct Obj(*mut sys::bpf_object);
    impl Drop for Obj {
        fn drop(&mut self) {
            // SAFETY: an object from bpf_object__open_file, closed once.
            unsafe { sys::bpf_object__close(self.0) };
        }
    }
    // SAFETY: no callback: libbpf prints nothing.
    unsafe { sys::libbpf_set_print(None) };
    let path =
        std::ffi::CString::new(args.object.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let btf = match &args.btf {
        Some(b) => {
            Some(std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let opts = sys::bpf_object_open_opts {
        sz: std::mem::size_of::<sys::bpf_object_open_opts>() as _,
        btf_custom_path: btf.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
        ..Default::default()
    };
    // SAFETY: `path` and `opts` outlive the call.
    let obj = unsafe { sys::bpf_object__open_file(path.as_ptr(), &opts) };
    if obj.is_null() {
        return Err(format!("libbpf open: {}", std::io::Error::last_os_error()));
    }
    let obj = Obj(obj);
    // SAFETY: a freshly opened object.
    let err = unsafe { sys::bpf_object__load(obj.0) };
    if err < 0 {
        return Err(format!(
            "libbpf load: {}",
            std::io::Error::from_raw_os_error(-err)
        ));
    }
    let mut programs = 0;
    let mut prog = std::ptr::null_mut();
    loop {
        // SAFETY: iterates the live object's programs.
        prog = unsafe { sys::bpf_object__next_program(obj.0, prog) };
        if prog.is_null() {
            break;
        }
        // SAFETY: a program of the live object.
        if unsafe { sys::bpf_program__fd(prog) } >= 0 {
            programs += 1;
        }
    }
    Ok(Loaded {
        programs,
        skipped: 0,
        _keep: Box::new(obj),
    })
}
