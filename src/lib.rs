//! FinConnect as a WebAssembly component (wasm32-wasip2, WASI 0.2).
//!
//! A thin shell around `finconnect-core`: it exports the WIT package
//! `finconnect:payments` and `wasi:http/incoming-handler`, reads variables
//! through `wasi:config/store` (or Spin's own variables interface with the
//! `spin-variables` feature), and sends provider calls through
//! `wasi:http/outgoing-handler`. Everything else is in the core.
//!
//! Natively this crate is empty: it exists there to host the integration
//! tests in `tests/`, which run the built `.wasm` in a wasmtime host.

#![deny(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod component;
