//! Engine operators whose plans live in Rust: keyed operations over co-partitioned inputs,
//! Python's ordering, and actions computed natively.

pub mod actions;
pub mod histogram;
pub mod keyed;
pub mod order;
pub mod sample;
