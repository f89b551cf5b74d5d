//! oxbpf: `Object::open` + `Loader::load`.

use super::{Args, Loaded};

/// Loads `args.object` with oxbpf.
pub fn load(args: &Args) -> Result<Loaded, String> {
    let obj = oxbpf::object::Object::open(&args.object).map_err(|e| format!("oxbpf open: {e}"))?;
    let mut loader = oxbpf::loader::Loader::new();
    if let Some(b) = &args.btf {
        loader = loader.target_btf(b);
    }
    let loaded = loader.load(obj).map_err(|e| format!("oxbpf load: {e}"))?;
    Ok(Loaded {
        programs: loaded.programs().len(),
        skipped: 0,
        _keep: Box::new(loaded),
    })
}
