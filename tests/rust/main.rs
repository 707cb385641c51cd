//! Engine integration tests: the streaming driver with Rust closures as user code.

mod blocks;
mod keyed;
mod plans;
mod rdd_plans;
mod streaming;
mod support;
