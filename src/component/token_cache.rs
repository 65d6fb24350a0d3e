//! The opt-in token cache, backed by the host's key-value store
//! (`wasi:keyvalue/store`, Spin's `default` store). Off unless the
//! component was built with the `token-cache` feature AND the variable
//! `finconnect_token_cache` is `on`.

use finconnect_core::config::{self, Variables, names};
use finconnect_core::{Error, Result};

/// Whether the variable asks for the cache.
fn wanted(vars: &dyn Variables) -> Result<bool> {
    match config::optional(vars, names::TOKEN_CACHE)?.as_deref() {
        None | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(_) => Err(Error::config(names::TOKEN_CACHE, "must be `on` or `off`")),
    }
}

#[cfg(feature = "token-cache")]
pub(super) use with_store::open;

#[cfg(feature = "token-cache")]
mod with_store {
    use super::super::bindings::wasi::keyvalue::store;
    use finconnect_core::config::Variables;
    use finconnect_core::token_cache::TokenStore;

    /// The key-value bucket FinConnect keeps tokens in.
    pub(in super::super) struct Store(store::Bucket);

    /// Opens Spin's `default` store when the cache is switched on. A store
    /// that cannot be opened (not granted in `key_value_stores`) turns the
    /// cache off rather than failing the payment.
    pub(in super::super) fn open(vars: &dyn Variables) -> finconnect_core::Result<Option<Store>> {
        if !super::wanted(vars)? {
            return Ok(None);
        }
        Ok(store::open("default").ok().map(Store))
    }

    impl TokenStore for Store {
        fn get(&mut self, key: &str) -> Option<Vec<u8>> {
            self.0.get(key).ok().flatten()
        }

        fn set(&mut self, key: &str, value: &[u8]) {
            let _ = self.0.set(key, value);
        }

        fn delete(&mut self, key: &str) {
            let _ = self.0.delete(key);
        }
    }
}

#[cfg(not(feature = "token-cache"))]
pub(super) use without_store::open;

#[cfg(not(feature = "token-cache"))]
mod without_store {
    use finconnect_core::config::{Variables, names};
    use finconnect_core::{Error, Result};

    /// Refuses `finconnect_token_cache = on`: this build cannot keep tokens
    /// (the core's cache is not even compiled in).
    pub(in super::super) fn open(vars: &dyn Variables) -> Result<()> {
        if super::wanted(vars)? {
            return Err(Error::config(
                names::TOKEN_CACHE,
                "is `on`, but this build has no token cache (build with `--features token-cache`)",
            ));
        }
        Ok(())
    }
}
