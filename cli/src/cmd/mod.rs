//! One module per subcommand.

pub mod btf;
pub mod core;
pub mod demo;
pub mod feature;
pub mod inspect;
pub mod link;
pub mod load;
pub mod map;
pub mod prog;
pub mod run;
