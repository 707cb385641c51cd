//! The pure-Rust engine: no Python here (`cargo check --no-default-features` proves it).

pub mod args;
pub mod block;
pub mod checkpoint;
pub mod context;
pub mod error;
pub mod exec;
pub mod expr;
pub mod host;
pub mod keys;
pub mod ops;
pub mod paths;
pub mod pyhash;
pub mod rdd;
pub mod reclaim;
pub mod shuffle;
pub mod source;
pub mod step;
pub mod stream;
pub mod textio;
pub mod ui;
pub mod value;
pub mod wire;
