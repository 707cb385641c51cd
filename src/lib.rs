//! ferrostream: PySpark Streaming's API on a Rust micro-batch engine.
//!
//! `engine` is pure Rust (build it alone with `--no-default-features`); `python` holds the
//! PyO3 bindings that the `ferrostream` Python package wraps.

pub mod engine;

#[cfg(feature = "python")]
mod python;

/// The engine allocates and frees many small values (keys, tuples, strings); mimalloc serves
/// that pattern much better than the system allocator, and in parallel. (Python objects keep
/// Python's own allocator.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
