//! One whole-tool load in a fresh process, libbpf alone (see `compare::load_once`).

use compare::load_once::LoadFn;

fn main() {
    compare::load_once::main(&[("libbpf", compare::load_once::libbpf::load as LoadFn)]);
}
