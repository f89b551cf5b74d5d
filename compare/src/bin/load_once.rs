//! One whole-tool load in a fresh process, Every loader in one binary (see `compare::load_once`).

use compare::load_once::LoadFn;

fn main() {
    compare::load_once::main(&[
        ("libbpf", compare::load_once::libbpf::load as LoadFn),
        ("aya", compare::load_once::aya::load),
        ("oxbpf", compare::load_once::oxbpf::load),
    ]);
}
