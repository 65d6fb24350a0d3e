//! Variables, read at call time from the host, each at most once per call.

use finconnect_core::config::Variables;
use std::cell::RefCell;

/// The host's variables: `wasi:config/store` by default, Spin's
/// `fermyon:spin/variables` with the `spin-variables` feature.
///
/// One value lives as long as one request or one WIT call, and remembers
/// what it has read: a variable is asked of the host at most once in that
/// time, however many steps need it (a pay's check and its request both
/// load the provider's variables). Under `spin up` each read resolves the
/// variable's template through Spin's providers, whose environment provider
/// blocks a runtime thread per read, so repeats are not free. A new call
/// reads afresh, so a changed variable is seen by the next call.
pub(super) struct HostVariables {
    /// Names read so far and what the host answered (values may be
    /// secrets: this type has no `Debug`). Failed reads are not kept.
    read: RefCell<Vec<(String, Option<String>)>>,
}

impl HostVariables {
    pub(super) fn new() -> Self {
        Self {
            read: RefCell::new(Vec::new()),
        }
    }
}

impl Variables for HostVariables {
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        if let Some((_, value)) = self.read.borrow().iter().find(|(known, _)| known == name) {
            return Ok(value.clone());
        }
        let value = from_host(name)?;
        self.read
            .borrow_mut()
            .push((name.to_owned(), value.clone()));
        Ok(value)
    }
}

#[cfg(not(feature = "spin-variables"))]
fn from_host(name: &str) -> Result<Option<String>, String> {
    use super::bindings::wasi::config::store;
    store::get(name).map_err(|error| match error {
        store::Error::Upstream(reason) | store::Error::Io(reason) => reason,
    })
}

#[cfg(feature = "spin-variables")]
fn from_host(name: &str) -> Result<Option<String>, String> {
    use spin_sdk::variables::{Error, get};
    match get(name) {
        Ok(value) => Ok(Some(value)),
        Err(Error::Undefined(_)) => Ok(None),
        Err(other) => Err(other.to_string()),
    }
}
