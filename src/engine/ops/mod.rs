//! Engine operators whose plans live in Rust: keyed operations over co-partitioned inputs.

pub mod keyed;
