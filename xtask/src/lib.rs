//! What `cargo xtask` shares with the project's tests and benchmarks.

pub mod spin_store;
pub mod spin_variables;
