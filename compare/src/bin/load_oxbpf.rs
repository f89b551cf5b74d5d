//! One whole-tool load in a fresh process, oxbpf alone (see `compare::load_once`).

use compare::load_once::LoadFn;

fn main() {
    compare::load_once::main(&[("oxbpf", compare::load_once::oxbpf::load as LoadFn)]);
}
