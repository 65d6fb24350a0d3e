//! `wasi:keyvalue@0.2.0-draft2` (`store`, `batch` and `atomics`), the
//! interfaces Spin's key-value stores speak, shared by every instance of one
//! [`Host`](crate::Host) (and its clones), so that what one request writes the
//! next one reads, as under `spin up`.
//!
//! Two backends hold the data:
//! - in memory (the default of [`HostBuilder`](crate::HostBuilder), what the
//!   tests use): it lives as long as the host;
//! - a SQLite file ([`HostBuilder::keyvalue_file`](crate::HostBuilder::keyvalue_file),
//!   what `finconnect-host up` uses): it outlives the process, and every host
//!   that opens the same file sees the others' writes.
//!
//! Only the stores the manifest grants open (`default`, the store Spin
//! grants with `key_value_stores = ["default"]`; a host without a manifest
//! grants it too); opening any other name answers `access-denied`, as under
//! Spin, and a component granted none runs without a store.
//!
//! ## Atomics
//!
//! Every write gives the keys it writes a version never handed out before
//! (a deleted key has no version, and a key written again never gets an old
//! version back): from one counter that only grows in memory, and from
//! blocks of one counter in the file for SQLite, so that hosts sharing a
//! file never hand out the same version.
//!
//! - `cas::new(bucket, key)` reads the key's value and version (or that it is
//!   absent) in one step and remembers both.
//! - `cas.current()` answers the value `new` read, without reading again: it
//!   is the value the swap is conditional on.
//! - `swap(cas, value)` writes `value` only if the key is still at the
//!   version `new` saw; a key that was absent must still be absent, so a swap
//!   on a cas made for an absent key is a create-if-absent. Otherwise it
//!   answers `cas-failed` with a new cas that has read the key again.
//! - `increment(bucket, key, delta)` reads the key as a signed 64-bit
//!   integer, absent counting as 0, and writes the sum back as 8 bytes,
//!   little-endian: the encoding Spin's SQLite store uses, so a component reads
//!   the same bytes under both. A value that is not 8 bytes long, or a sum
//!   that overflows, is an `error::other` and leaves the key unchanged.
//!
//! Each of these, and each write of `store` and `batch`, is one transaction:
//! instances of one host, and hosts sharing a SQLite file, do not lose each
//! other's updates.
//!
//! The interfaces are linked always (`atomics` unless
//! [`HostBuilder::without_keyvalue_atomics`](crate::HostBuilder::without_keyvalue_atomics)).
//! A component that does not import them (the default FinConnect build) is
//! unaffected.
//!
//! ## Operation counts
//!
//! Every call a component makes is counted by kind, in relaxed atomics shared
//! by the host and its clones ([`KeyValueOpCounts`], read with
//! [`Host::key_value_op_counts`](crate::Host::key_value_op_counts)): what
//! `cargo xtask bench --ledger` reports per pay. A batch call counts once per
//! key it names; `exists` counts as a `get`; a swap that fails counts as a
//! swap and, for the handle it hands back, a cas-open.

mod memory;
mod sqlite;
#[cfg(test)]
mod tests;

use crate::state::StoreState;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    wasmtime::component::bindgen!({
        path: "../../wit/build",
        world: "finconnect:build/host-keyvalue",
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
        // The writes wait for their transaction without holding a thread:
        // on a SQLite file, one commit serves every write that arrives while
        // the one before it is being committed (see `sqlite`).
        imports: {
            "wasi:keyvalue/store.[method]bucket.set": async,
            "wasi:keyvalue/store.[method]bucket.delete": async,
            "wasi:keyvalue/batch.set-many": async,
            "wasi:keyvalue/batch.delete-many": async,
            "wasi:keyvalue/atomics.increment": async,
            "wasi:keyvalue/atomics.swap": async,
        },
    });
}

use bindings::wasi::keyvalue::atomics::{self, CasError};
use bindings::wasi::keyvalue::batch;
use bindings::wasi::keyvalue::store::{self, Error, KeyResponse};

/// The name of the store Spin opens for `key_value_stores = ["default"]`.
pub(crate) const DEFAULT_STORE: &str = "default";

/// Keys with their values (`None`: absent), as `batch.get-many` answers.
type KeyValues = Vec<(String, Option<Vec<u8>>)>;

/// A version of a key's value: never handed out twice by one backend
/// (compared for equality only).
type Version = i64;

/// What one read of a key found: its value and version, or that it is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Seen {
    /// `None`: the key is absent.
    entry: Option<(Version, Vec<u8>)>,
}

impl Seen {
    fn version(&self) -> Option<Version> {
        self.entry.as_ref().map(|(version, _)| *version)
    }

    fn value(&self) -> Option<&[u8]> {
        self.entry.as_ref().map(|(_, value)| value.as_slice())
    }
}

/// A write, as a backend runs it: alone in its transaction, or with the
/// other writes waiting when it starts (see `sqlite`); either way it is
/// atomic, and its answer comes once it is committed.
#[derive(Debug)]
enum Write {
    /// Every entry (a key given twice keeps its last value).
    Entries {
        store: String,
        entries: Vec<(String, Vec<u8>)>,
    },
    /// Every key given; absent ones are skipped.
    Delete { store: String, keys: Vec<String> },
    /// `value` if `key` is still at `expected` (`None`: still absent).
    Swap {
        store: String,
        key: String,
        expected: Option<Version>,
        value: Vec<u8>,
    },
    /// Adds `delta` to the counter at `key` (see [`counter`] and [`add`]).
    Increment {
        store: String,
        key: String,
        delta: i64,
    },
    /// Every key of these stores.
    Clear { stores: Vec<String> },
}

/// What a committed [`Write`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Entries written, keys deleted, stores cleared.
    Done,
    /// A swap: whether it wrote.
    Swapped(bool),
    /// An increment: the counter's new value.
    Counter(i64),
}

impl Written {
    /// A swap's answer: whether it wrote.
    fn swapped(self) -> Result<bool, Error> {
        match self {
            Self::Swapped(swapped) => Ok(swapped),
            other => Err(mismatch("a swap", other)),
        }
    }

    /// An increment's answer: the counter's new value.
    fn counter(self) -> Result<i64, Error> {
        match self {
            Self::Counter(value) => Ok(value),
            other => Err(mismatch("an increment", other)),
        }
    }
}

/// A backend answered a write with the answer to another kind of write: a
/// bug, reported as the call's error rather than a panic.
fn mismatch(what: &str, answer: Written) -> Error {
    Error::Other(format!(
        "the key-value store answered {what} with {answer:?} (a bug in finconnect-host)"
    ))
}

/// A write handed to a backend: answered already, or waiting for the
/// commit that carries it.
#[derive(Debug)]
enum Pending {
    Answered(Result<Written, Error>),
    Leading(sqlite::Leading),
    Committing(sqlite::Waiting),
}

impl Pending {
    async fn answer(self) -> Result<Written, Error> {
        match self {
            Self::Answered(answer) => answer,
            Self::Leading(mut leading) => leading.answer().await,
            Self::Committing(mut waiting) => waiting.answer().await,
        }
    }
}

/// The answer to a queued write that was never answered: the write holding
/// the turn took it into its transaction and then panicked (a bug).
fn writer_gone() -> Error {
    Error::Other("the key-value store's writer stopped before it answered".to_owned())
}

/// Where the data is kept. Every read is one transaction; see [`Write`]
/// for writes.
trait Backend: Send + Sync + fmt::Debug {
    /// The value and version of `key`.
    fn read(&self, store: &str, key: &str) -> Result<Seen, Error>;
    /// The values of `keys`, in their order, read together.
    fn read_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error>;
    /// The keys of `store`, sorted.
    fn keys(&self, store: &str) -> Result<Vec<String>, Error>;
    /// Starts `write`, for a caller that awaits the answer.
    fn write(&self, write: Write) -> Pending;
    /// Runs `write`, for a caller that blocks its thread until the answer.
    fn write_blocking(&self, write: Write) -> Result<Written, Error>;
}

/// Reads a counter `increment` wrote: a signed 64-bit integer, 8 bytes little-endian.
fn counter(key: &str, value: &[u8]) -> Result<i64, Error> {
    <[u8; 8]>::try_from(value)
        .map(i64::from_le_bytes)
        .map_err(|_| {
            Error::Other(format!(
                "cannot increment {key:?}: its value is {} bytes long, not a counter \
                 (a signed 64-bit integer, 8 bytes little-endian, as `increment` writes it)",
                value.len()
            ))
        })
}

/// `current + delta`, or an error when that overflows.
fn add(key: &str, current: i64, delta: i64) -> Result<i64, Error> {
    current.checked_add(delta).ok_or_else(|| {
        Error::Other(format!(
            "cannot increment {key:?} by {delta}: {current} + {delta} overflows a signed 64-bit integer"
        ))
    })
}

/// How many key-value operations of each kind the host's instances have
/// made (see the module's "Operation counts").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyValueOpCounts {
    /// `open` of a store, granted or not (neither a read nor a write).
    pub open: u64,
    /// `get`, `exists`, and each key of `get-many`.
    pub get: u64,
    /// `set`, and each entry of `set-many`.
    pub set: u64,
    /// `delete`, and each key of `delete-many`.
    pub delete: u64,
    /// `list-keys` (one per page asked for).
    pub list: u64,
    /// `cas::new`, and the fresh handle a failed swap hands back.
    pub cas_open: u64,
    /// `swap`, whether it wrote or not.
    pub swap: u64,
    /// `increment`.
    pub increment: u64,
}

impl KeyValueOpCounts {
    /// The operations that may write: set, delete, swap and increment.
    pub fn writes(&self) -> u64 {
        self.set + self.delete + self.swap + self.increment
    }

    /// The operations that only read: get, list and cas-open.
    pub fn reads(&self) -> u64 {
        self.get + self.list + self.cas_open
    }

    /// What was counted after `earlier` (a snapshot taken before).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            open: self.open.saturating_sub(earlier.open),
            get: self.get.saturating_sub(earlier.get),
            set: self.set.saturating_sub(earlier.set),
            delete: self.delete.saturating_sub(earlier.delete),
            list: self.list.saturating_sub(earlier.list),
            cas_open: self.cas_open.saturating_sub(earlier.cas_open),
            swap: self.swap.saturating_sub(earlier.swap),
            increment: self.increment.saturating_sub(earlier.increment),
        }
    }
}

/// One kind of counted operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    Open,
    Get,
    Set,
    Delete,
    List,
    CasOpen,
    Swap,
    Increment,
}

/// The live counters behind [`KeyValueOpCounts`].
#[derive(Debug, Default)]
struct OpCounters([AtomicU64; 8]);

impl OpCounters {
    fn add(&self, op: Op, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.0[op as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> KeyValueOpCounts {
        let read = |op: Op| self.0[op as usize].load(Ordering::Relaxed);
        KeyValueOpCounts {
            open: read(Op::Open),
            get: read(Op::Get),
            set: read(Op::Set),
            delete: read(Op::Delete),
            list: read(Op::List),
            cas_open: read(Op::CasOpen),
            swap: read(Op::Swap),
            increment: read(Op::Increment),
        }
    }
}

/// Every store of one host (and its clones): the names that exist, where
/// their data is kept, and how many operations the instances made.
#[derive(Clone, Debug)]
pub(crate) struct KeyValueStores {
    names: Arc<BTreeSet<String>>,
    backend: Arc<dyn Backend>,
    file: Option<Arc<Path>>,
    counters: Arc<OpCounters>,
}

impl KeyValueStores {
    /// Empty in-memory stores with these names.
    pub(crate) fn in_memory<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            names: Arc::new(names.into_iter().map(Into::into).collect()),
            backend: Arc::new(memory::Memory::default()),
            file: None,
            counters: Arc::default(),
        }
    }

    /// Stores with these names in the SQLite file at `path`, created (with its
    /// directory) when missing; what the file already holds is kept.
    pub(crate) fn sqlite<I, S>(path: &Path, names: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(Self {
            names: Arc::new(names.into_iter().map(Into::into).collect()),
            backend: Arc::new(sqlite::Sqlite::open(path)?),
            file: Some(Arc::from(path)),
            counters: Arc::default(),
        })
    }

    /// The SQLite file, or `None` for in-memory stores.
    pub(crate) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The operations counted so far, by kind.
    pub(crate) fn op_counts(&self) -> KeyValueOpCounts {
        self.counters.snapshot()
    }

    /// Counts `n` operations of kind `op`.
    fn count(&self, op: Op, n: usize) {
        self.counters.add(op, n);
    }

    /// Whether there is a store called `name`.
    pub(crate) fn has_store(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn check(&self, store: &str) -> Result<(), Error> {
        if self.has_store(store) {
            Ok(())
        } else {
            Err(Error::NoSuchStore)
        }
    }

    fn read(&self, store: &str, key: &str) -> Result<Seen, Error> {
        self.check(store)?;
        self.backend.read(store, key)
    }

    fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read(store, key)?.entry.map(|(_, value)| value))
    }

    fn get_many(&self, store: &str, keys: Vec<String>) -> Result<KeyValues, Error> {
        self.check(store)?;
        let values = self.backend.read_many(store, &keys)?;
        Ok(keys.into_iter().zip(values).collect())
    }

    /// The keys of store `name`, sorted.
    pub(crate) fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        self.check(store)?;
        self.backend.keys(store)
    }

    /// Runs `write` on `store` and awaits its commit. A write with nothing
    /// to write is answered at once.
    async fn write(&self, write: Write) -> Result<Written, Error> {
        if let Some(answer) = self.answered(&write) {
            return answer;
        }
        self.backend.write(write).answer().await
    }

    /// [`Self::write`] for a caller outside the async runtime's tasks.
    fn write_blocking(&self, write: Write) -> Result<Written, Error> {
        if let Some(answer) = self.answered(&write) {
            return answer;
        }
        self.backend.write_blocking(write)
    }

    /// The answer to `write` when it needs no backend: a store that does
    /// not exist, or nothing to write.
    fn answered(&self, write: &Write) -> Option<Result<Written, Error>> {
        let (store, empty) = match write {
            Write::Entries { store, entries } => (store, entries.is_empty()),
            Write::Delete { store, keys } => (store, keys.is_empty()),
            Write::Swap { store, .. } | Write::Increment { store, .. } => (store, false),
            Write::Clear { .. } => return None,
        };
        match self.check(store) {
            Err(err) => Some(Err(err)),
            Ok(()) => empty.then_some(Ok(Written::Done)),
        }
    }

    /// Forgets every entry of every store of this host.
    pub(crate) fn clear(&self) -> Result<(), Error> {
        let stores: Vec<String> = self.names.iter().cloned().collect();
        self.write_blocking(Write::Clear { stores }).map(|_| ())
    }
}

impl Default for KeyValueStores {
    fn default() -> Self {
        Self::in_memory([DEFAULT_STORE])
    }
}

/// A `wasi:keyvalue` error as a sentence (for the host's own API).
pub(crate) fn describe(err: &Error) -> String {
    match err {
        Error::NoSuchStore => "no such key-value store".to_owned(),
        Error::AccessDenied => "access to the key-value store denied".to_owned(),
        Error::Other(message) => message.clone(),
    }
}

/// An open `bucket` resource: the name of its store.
#[derive(Debug)]
#[allow(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Bucket {
    store: String,
}

/// A `cas` resource: the key and what `cas::new` read of it.
#[derive(Debug)]
#[allow(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct Cas {
    store: String,
    key: String,
    seen: Seen,
}

/// Adds `wasi:keyvalue/store` and `batch` to `linker`, and `atomics` when asked.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>, atomics: bool) -> anyhow::Result<()> {
    store::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)?;
    batch::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)?;
    if atomics {
        atomics::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)?;
    }
    Ok(())
}

fn table_error(err: wasmtime::component::ResourceTableError) -> Error {
    Error::Other(format!("key-value resource: {err}"))
}

impl StoreState {
    fn bucket(&self, bucket: &Resource<Bucket>) -> Result<String, Error> {
        self.table
            .get(bucket)
            .map(|bucket| bucket.store.clone())
            .map_err(table_error)
    }

    /// Reads `key` of `store` and hands out a `cas` remembering what was read.
    fn new_cas(&mut self, store: String, key: String) -> Result<Resource<Cas>, Error> {
        self.keyvalue.count(Op::CasOpen, 1);
        let seen = self.keyvalue.read(&store, &key)?;
        self.table
            .push(Cas { store, key, seen })
            .map_err(table_error)
    }
}

impl store::Host for StoreState {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, Error> {
        self.keyvalue.count(Op::Open, 1);
        // Spin answers a store the component was not granted so.
        if !self.keyvalue.has_store(&identifier) {
            return Err(Error::AccessDenied);
        }
        self.table
            .push(Bucket { store: identifier })
            .map_err(table_error)
    }
}

impl store::HostBucket for StoreState {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.keyvalue.count(Op::Get, 1);
        let name = self.bucket(&bucket)?;
        self.keyvalue.get(&name, &key)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.keyvalue.count(Op::Set, 1);
        let store = self.bucket(&bucket)?;
        let entries = vec![(key, value)];
        let write = Write::Entries { store, entries };
        self.keyvalue.write(write).await.map(|_| ())
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), Error> {
        self.keyvalue.count(Op::Delete, 1);
        let store = self.bucket(&bucket)?;
        let keys = vec![key];
        self.keyvalue
            .write(Write::Delete { store, keys })
            .await
            .map(|_| ())
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, Error> {
        self.keyvalue.count(Op::Get, 1);
        let name = self.bucket(&bucket)?;
        Ok(self.keyvalue.read(&name, &key)?.entry.is_some())
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<KeyResponse, Error> {
        self.keyvalue.count(Op::List, 1);
        let name = self.bucket(&bucket)?;
        // One page holds every key: the cursor is accepted and never handed out.
        let _ = cursor;
        Ok(KeyResponse {
            keys: self.keyvalue.keys(&name)?,
            cursor: None,
        })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for StoreState {
    fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<KeyValues, Error> {
        self.keyvalue.count(Op::Get, keys.len());
        let name = self.bucket(&bucket)?;
        self.keyvalue.get_many(&name, keys)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        self.keyvalue.count(Op::Set, key_values.len());
        let store = self.bucket(&bucket)?;
        let write = Write::Entries {
            store,
            entries: key_values,
        };
        self.keyvalue.write(write).await.map(|_| ())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), Error> {
        self.keyvalue.count(Op::Delete, keys.len());
        let store = self.bucket(&bucket)?;
        self.keyvalue
            .write(Write::Delete { store, keys })
            .await
            .map(|_| ())
    }
}

impl atomics::Host for StoreState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, Error> {
        self.keyvalue.count(Op::Increment, 1);
        let store = self.bucket(&bucket)?;
        let write = Write::Increment { store, key, delta };
        self.keyvalue.write(write).await?.counter()
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), CasError> {
        self.keyvalue.count(Op::Swap, 1);
        let Cas { store, key, seen } = self
            .table
            .delete(cas)
            .map_err(|err| CasError::StoreError(table_error(err)))?;
        // The key is needed again only for the fresh handle of a failed swap.
        let write = Write::Swap {
            store: store.clone(),
            key: key.clone(),
            expected: seen.version(),
            value,
        };
        let swapped = self
            .keyvalue
            .write(write)
            .await
            .and_then(Written::swapped)
            .map_err(CasError::StoreError)?;
        if swapped {
            return Ok(());
        }
        // The spec asks for a handle that has caught up with the key.
        let fresh = self.new_cas(store, key).map_err(CasError::StoreError)?;
        Err(CasError::CasFailed(fresh))
    }
}

impl atomics::HostCas for StoreState {
    fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Resource<Cas>, Error> {
        let name = self.bucket(&bucket)?;
        self.new_cas(name, key)
    }

    fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, Error> {
        let cas = self.table.get(&cas).map_err(table_error)?;
        Ok(cas.seen.value().map(<[u8]>::to_vec))
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
