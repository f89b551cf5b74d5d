//! One module per subcommand.

pub mod btf;
pub mod core;
pub mod demo;
pub mod inspect;
pub mod load;
pub mod run;
