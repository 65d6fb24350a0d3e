//! `wasi:keyvalue/store@0.2.0-draft2`, the interface Spin's key-value
//! stores speak: an in-memory store shared by every instance of one
//! [`Host`](crate::Host) (and its clones), so that what one request writes
//! the next one reads, as under `spin up`.
//!
//! Only the stores the host was given exist (by default one, `default`, the
//! store Spin grants with `key_value_stores = ["default"]`); opening any other
//! name answers `no-such-store`. Nothing is persisted: the data lives as long
//! as the host.
//!
//! It is linked always. A component that does not import the interface (the
//! default FinConnect build) is unaffected.

use crate::state::StoreState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    wasmtime::component::bindgen!({
        path: "../../wit/build",
        world: "finconnect:build/host-keyvalue",
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
    });
}

use bindings::wasi::keyvalue::store::{self, Error, KeyResponse};

/// The name of the store Spin opens for `key_value_stores = ["default"]`.
pub(crate) const DEFAULT_STORE: &str = "default";

type Entries = BTreeMap<String, Vec<u8>>;

/// Every store of one host: name → keys → values.
#[derive(Clone, Debug)]
pub(crate) struct KeyValueStores {
    stores: Arc<Mutex<BTreeMap<String, Entries>>>,
}

impl KeyValueStores {
    /// Empty stores with these names.
    pub(crate) fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stores = names
            .into_iter()
            .map(|name| (name.into(), Entries::new()))
            .collect();
        Self {
            stores: Arc::new(Mutex::new(stores)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entries>> {
        self.stores.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the entries of store `name`; a store that vanished is empty.
    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Entries) -> T) -> Result<T, Error> {
        let mut stores = self.lock();
        let entries = stores.get_mut(name).ok_or(Error::NoSuchStore)?;
        Ok(f(entries))
    }

    /// The keys of store `name`, sorted (`None` when there is no such store).
    pub(crate) fn keys(&self, name: &str) -> Option<Vec<String>> {
        self.lock()
            .get(name)
            .map(|entries| entries.keys().cloned().collect())
    }

    /// Forgets every entry of every store.
    pub(crate) fn clear(&self) {
        for entries in self.lock().values_mut() {
            entries.clear();
        }
    }
}

impl Default for KeyValueStores {
    fn default() -> Self {
        Self::new([DEFAULT_STORE])
    }
}

/// An open `bucket` resource: the name of its store.
#[derive(Debug)]
#[allow(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Bucket {
    store: String,
}

/// Adds `wasi:keyvalue/store` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> anyhow::Result<()> {
    store::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)?;
    Ok(())
}

impl StoreState {
    fn bucket(&self, bucket: &Resource<Bucket>) -> Result<String, Error> {
        self.table
            .get(bucket)
            .map(|bucket| bucket.store.clone())
            .map_err(|err| Error::Other(err.to_string()))
    }
}

impl store::Host for StoreState {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, Error> {
        if self.keyvalue.keys(&identifier).is_none() {
            return Err(Error::NoSuchStore);
        }
        self.table
            .push(Bucket { store: identifier })
            .map_err(|err| Error::Other(err.to_string()))
    }
}

impl store::HostBucket for StoreState {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, Error> {
        let name = self.bucket(&bucket)?;
        self.keyvalue
            .with(&name, |entries| entries.get(&key).cloned())
    }

    fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), Error> {
        let name = self.bucket(&bucket)?;
        self.keyvalue.with(&name, |entries| {
            entries.insert(key, value);
        })
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), Error> {
        let name = self.bucket(&bucket)?;
        self.keyvalue.with(&name, |entries| {
            entries.remove(&key);
        })
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, Error> {
        let name = self.bucket(&bucket)?;
        self.keyvalue
            .with(&name, |entries| entries.contains_key(&key))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<KeyResponse, Error> {
        let name = self.bucket(&bucket)?;
        // One page holds every key: the cursor is accepted and never handed out.
        let _ = cursor;
        self.keyvalue.with(&name, |entries| KeyResponse {
            keys: entries.keys().cloned().collect(),
            cursor: None,
        })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
