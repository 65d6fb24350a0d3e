//! Rust bindings generated from the project's WIT (`wit/world.wit`, world
//! `finconnect`) and from Spin's `fermyon:spin/variables@2.0.0` (vendored in
//! `wit/deps/spin@2.0.0`, world `host-spin-variables` of `wit/build/build.wit`).
#![allow(missing_docs, unreachable_pub, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "finconnect",
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

/// `fermyon:spin/variables@2.0.0`, what a build with the `spin-variables`
/// feature imports instead of `wasi:config/store`.
pub mod spin {
    wasmtime::component::bindgen!({
        path: "../../wit/build",
        world: "finconnect:build/host-spin-variables",
    });
}
