//! Rust bindings generated from the project's WIT (`wit/world.wit`, world
//! `finconnect`) and from Spin's `fermyon:spin/variables@2.0.0`.
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
        inline: "
            package fermyon:spin@2.0.0;

            interface variables {
                get: func(name: string) -> result<string, error>;

                variant error {
                    invalid-name(string),
                    undefined(string),
                    provider(string),
                    other(string),
                }
            }

            world spin-variables {
                import variables;
            }
        ",
        world: "spin-variables",
    });
}
