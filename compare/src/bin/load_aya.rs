//! One whole-tool load in a fresh process, aya alone (see `compare::load_once`).

use compare::load_once::LoadFn;

fn main() {
    compare::load_once::main(&[("aya", compare::load_once::aya::load as LoadFn)]);
}
