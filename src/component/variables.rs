//! Variables, read at call time from the host.

use finconnect_core::config::Variables;

/// The host's variables: `wasi:config/store` by default, Spin's
/// `fermyon:spin/variables` with the `spin-variables` feature.
pub(super) struct HostVariables;

#[cfg(not(feature = "spin-variables"))]
impl Variables for HostVariables {
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        use super::bindings::wasi::config::store;
        store::get(name).map_err(|error| match error {
            store::Error::Upstream(reason) | store::Error::Io(reason) => reason,
        })
    }
}

#[cfg(feature = "spin-variables")]
impl Variables for HostVariables {
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        use spin_sdk::variables::{Error, get};
        match get(name) {
            Ok(value) => Ok(Some(value)),
            Err(Error::Undefined(_)) => Ok(None),
            Err(other) => Err(other.to_string()),
        }
    }
}
