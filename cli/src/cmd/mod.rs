//! One module per subcommand.

pub mod btf;
pub mod core;
pub mod inspect;
