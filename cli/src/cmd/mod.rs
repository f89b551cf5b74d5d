//! One module per subcommand.

pub mod btf;
