//! ferrostream: PySpark Streaming's API on a Rust micro-batch engine.
//!
//! `engine` is pure Rust (build it alone with `--no-default-features`); `python` holds the
//! PyO3 bindings that the `ferrostream` Python package wraps.

pub mod engine;

#[cfg(feature = "python")]
mod python;
