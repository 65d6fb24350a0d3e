//! The storage seam: a small trait shaped like `wasi:keyvalue@0.2.0-draft2`
//! (`store` for get/set/delete/list-keys, `atomics` for compare-and-swap and
//! increment), an operation counter around any store, and an in-memory
//! store for tests.
//!
//! Two modes, chosen by what the host offers ([`Store::mode`]):
//!
//! - [`Mode::Atomic`]: `store` + `atomics` (Spin with SQLite or Redis, our
//!   wasmtime host). Claims and event sequence numbers are exact.
//! - [`Mode::StoreOnly`]: `store` (+ `batch`) without `atomics` (Akamai
//!   Functions). The ledger falls back to read-then-write claims and
//!   time-derived sequence numbers; [`super`] documents what weakens.
//!
//! `wasi:keyvalue`'s CAS is a resource: `cas::new(bucket, key)` remembers
//! the version it saw, `cas.current()` reads the value, and `swap(cas,
//! value)` fails with `cas-failed` when the key changed since. The ledger
//! relies on one more property that the WIT implies but does not spell
//! out: a CAS opened on an *absent* key fails to swap when someone created
//! the key in between. That makes it a create-if-absent.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which `wasi:keyvalue` interfaces the host provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `store` and `atomics`: compare-and-swap and increment are available.
    Atomic,
    /// `store` (and `batch`) only: no compare-and-swap, no increment.
    StoreOnly,
}

/// A failure of the store itself (`wasi:keyvalue/store.error`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The bucket does not exist (`no-such-store`).
    #[error("the key-value store `{0}` does not exist")]
    NoSuchStore(String),
    /// The component may not use it (`access-denied`).
    #[error("access to the key-value store was denied")]
    AccessDenied,
    /// The host did not grant the store FinConnect opens (Spin answers
    /// `access-denied` for a store the manifest does not list).
    #[error(
        "the key-value store `{0}` is not granted to FinConnect: add key_value_stores = [\"{0}\"] \
         to its component in spin.toml"
    )]
    NotGranted(String),
    /// The operation needs `wasi:keyvalue/atomics`, which this host lacks.
    #[error("the key-value store offers no `{0}` (wasi:keyvalue/atomics is missing)")]
    Unsupported(&'static str),
    /// Anything else the host reported (I/O, for instance).
    #[error("key-value store error: {0}")]
    Other(String),
}

impl StoreError {
    /// A host's message that says the store was busy and did nothing, so
    /// the same operation may be sent again: SQLite's `SQLITE_BUSY` ("database
    /// is locked"), which Spin's SQLite store passes on as text. Spin 4.0.2
    /// opens one connection per request that finds none open yet, so a
    /// burst of first requests runs several connections on one file for a
    /// moment, and a write on one can find another's lock.
    pub fn is_busy(&self) -> bool {
        Self::busy_message(match self {
            StoreError::Other(message) => message,
            _ => return false,
        })
    }

    /// [`Self::is_busy`] for a host's message before it is a [`StoreError`].
    pub fn busy_message(message: &str) -> bool {
        message.contains("database is locked") || message.contains("DatabaseBusy")
    }
}

/// Why a compare-and-swap did not happen (`wasi:keyvalue/atomics.cas-error`).
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key changed since the CAS was opened; nothing was written.
    #[error("the value changed since it was read")]
    Conflict,
}

/// A key-value bucket as the ledger uses it. Methods take `&self` like
/// `wasi:keyvalue`'s `bucket` resource, so one store can be shared by
/// several ledgers (or threads, in tests).
pub trait Store {
    /// A compare-and-swap in progress (`wasi:keyvalue/atomics.cas`).
    type Cas;

    /// Which interfaces the host provides.
    fn mode(&self) -> Mode;
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key`, replacing what was there.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; an absent key is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every key that starts with `prefix`, in any order.
    /// (`list-keys` pages through the whole bucket; implementations filter.)
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Opens a compare-and-swap on `key` and reads its current value
    /// (`cas::new` then `cas.current`). [`Mode::StoreOnly`] stores answer
    /// [`StoreError::Unsupported`].
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError>;
    /// [`Self::cas_open`] on a key the caller expects to exist (a record it
    /// is about to change). It answers the same; a store whose
    /// [`Self::cas_open`] first reads the key to spare an absent key a CAS
    /// can open the CAS at once here, which reads the key only once.
    fn cas_open_existing(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        self.cas_open(key)
    }
    /// [`Self::cas_open_existing`] on a key the caller believes holds
    /// `expected` (a record it wrote itself). A store whose swap compares
    /// the key's value with the one it was opened on may open without
    /// reading the key and hand `expected` back as its value: a swap then
    /// conflicts if the key holds anything else, and the caller opens it
    /// again to read it. Others read it as [`Self::cas_open_existing`] does.
    fn cas_open_expecting(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        let _ = expected;
        self.cas_open_existing(key)
    }
    /// Writes `value` if the key has not changed since `cas` was opened.
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError>;
    /// [`Self::cas_swap`], then writes `companions` (plain keys, such as
    /// the indexes that point at the swapped key) when the swap succeeded.
    /// A store may write them in the same host call as the value: one
    /// `wasi:keyvalue/batch.set-many` for a guarded create on Spin's stores
    /// (one SQLite transaction, one sync of its log). Nothing of
    /// `companions` is written when the swap conflicts.
    fn cas_swap_with(
        &self,
        cas: Self::Cas,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        self.cas_swap(cas, value)?;
        for (key, value) in companions {
            self.set(key, value)?;
        }
        Ok(())
    }
    /// Adds `delta` to the integer under `key` (absent counts as 0) and
    /// returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
}

/// How many store operations were made, by kind. `reads` counts `get` and
/// `cas_open`, `writes` counts `set`, `delete` and successful `cas_swap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// `get` calls.
    pub gets: u64,
    /// `set` calls.
    pub sets: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// `list_keys` calls.
    pub lists: u64,
    /// `cas_open` calls.
    pub cas_opens: u64,
    /// `cas_swap` calls (successful or not).
    pub cas_swaps: u64,
    /// `increment` calls.
    pub increments: u64,
}

impl OpCounts {
    /// Round trips that read: `get`, `cas_open`, `list_keys`.
    pub fn reads(&self) -> u64 {
        self.gets + self.cas_opens + self.lists
    }

    /// Round trips that write: `set`, `delete`, `cas_swap`, `increment`.
    pub fn writes(&self) -> u64 {
        self.sets + self.deletes + self.cas_swaps + self.increments
    }

    /// Every round trip.
    pub fn total(&self) -> u64 {
        self.reads() + self.writes()
    }
}

/// Whether `store`'s compare-and-swap makes a create exclusive: a CAS
/// opened on an absent key must refuse to swap once someone created the
/// key. Tested on `key`, which must be absent and used by nobody else (the
/// component draws it at random): the CAS is opened, the key created with
/// `set`, then the swap tried; the key is deleted afterwards. A store that
/// refuses is exclusive, one that writes (Spin 4's SQLite store upserts)
/// is not, and needs a creation guard around every create.
///
/// The sequence is played by one caller, so it shows what the store does
/// when a create lands in between, not that the store's own check is
/// atomic; that much every CAS user trusts its store for already.
pub fn cas_creates_exclusively<S: Store>(store: &S, key: &str) -> Result<bool, StoreError> {
    let (cas, current) = store.cas_open(key)?;
    if current.is_some() {
        return Err(StoreError::Other(format!(
            "the probe key `{key}` is in use"
        )));
    }
    store.set(key, b"created in between")?;
    let exclusive = match store.cas_swap(cas, b"swapped") {
        Ok(()) => Ok(false),
        Err(CasError::Conflict) => Ok(true),
        Err(CasError::Store(error)) => Err(error),
    };
    store.delete(key)?;
    exclusive
}

/// Any store, with every operation counted (for the benchmark and tests).
#[derive(Debug, Default)]
pub struct Counted<S> {
    inner: S,
    counts: [AtomicU64; 7],
}

impl<S> Counted<S> {
    /// Counts the operations made on `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counts: Default::default(),
        }
    }

    /// The store inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counts so far.
    pub fn counts(&self) -> OpCounts {
        let read = |i: usize| self.counts[i].load(Ordering::Relaxed);
        OpCounts {
            gets: read(0),
            sets: read(1),
            deletes: read(2),
            lists: read(3),
            cas_opens: read(4),
            cas_swaps: read(5),
            increments: read(6),
        }
    }

    /// The counts so far, then zero.
    pub fn take_counts(&self) -> OpCounts {
        let counts = self.counts();
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
        counts
    }

    fn bump(&self, i: usize) {
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: Store> Store for Counted<S> {
    type Cas = S::Cas;

    fn mode(&self) -> Mode {
        self.inner.mode()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bump(0);
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bump(1);
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bump(2);
        self.inner.delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.bump(3);
        self.inner.list_keys(prefix)
    }
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        self.bump(4);
        self.inner.cas_open(key)
    }
    fn cas_open_existing(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        self.bump(4);
        self.inner.cas_open_existing(key)
    }
    fn cas_open_expecting(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        self.bump(4);
        self.inner.cas_open_expecting(key, expected)
    }
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError> {
        self.bump(5);
        self.inner.cas_swap(cas, value)
    }
    /// Counted as the swap and one `set` per companion, whether or not the
    /// store sends them in one call.
    fn cas_swap_with(
        &self,
        cas: Self::Cas,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        self.bump(5);
        let result = self.inner.cas_swap_with(cas, value, companions);
        if result.is_ok() {
            for _ in companions {
                self.bump(1);
            }
        }
        result
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.bump(6);
        self.inner.increment(key, delta)
    }
}

impl<S: Store + ?Sized> Store for &S {
    type Cas = S::Cas;

    fn mode(&self) -> Mode {
        (**self).mode()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list_keys(prefix)
    }
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        (**self).cas_open(key)
    }
    fn cas_open_existing(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        (**self).cas_open_existing(key)
    }
    fn cas_open_expecting(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        (**self).cas_open_expecting(key, expected)
    }
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError> {
        (**self).cas_swap(cas, value)
    }
    fn cas_swap_with(
        &self,
        cas: Self::Cas,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        (**self).cas_swap_with(cas, value, companions)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        (**self).increment(key, delta)
    }
}

/// Keys with their version and value.
type Entries = BTreeMap<String, (u64, Vec<u8>)>;

/// A hook run just before [`MemoryStore`] writes a key, outside its lock:
/// tests use it to slip a second claimer into a race window.
pub type WriteHook = Box<dyn FnMut(&str) + Send>;

/// An in-memory bucket with versioned values, for tests and benchmarks.
/// It behaves like a host with or without `atomics` ([`MemoryStore::new`],
/// [`MemoryStore::store_only`]), and can run a hook before a write
/// ([`MemoryStore::before_next_write`]) to simulate a concurrent claimer
/// deterministically.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
    next_version: AtomicU64,
    store_only: bool,
    upserts_creates: bool,
    compares_values: bool,
    refuses_under: Option<String>,
    hook: Mutex<Option<(String, WriteHook)>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// [`MemoryStore`]'s CAS handle: the key and the version it saw (0:
/// absent), or the value it expects (opened by
/// [`Store::cas_open_expecting`] on [`MemoryStore::comparing_values`]).
#[derive(Debug)]
pub struct MemoryCas {
    key: String,
    version: u64,
    expected: Option<Vec<u8>>,
}

impl MemoryStore {
    /// A bucket with `store` and `atomics`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bucket without `atomics` (CAS and increment answer
    /// [`StoreError::Unsupported`]).
    pub fn store_only() -> Self {
        Self {
            store_only: true,
            ..Self::default()
        }
    }

    /// A bucket with `atomics` whose compare-and-swap does not make a
    /// create exclusive: a swap on a CAS opened while the key was absent
    /// writes even when the key was created meanwhile. Spin 4's SQLite
    /// store behaves so (it upserts); [`cas_creates_exclusively`] tells
    /// such a store from one like [`MemoryStore::new`].
    pub fn with_upserting_creates() -> Self {
        Self {
            upserts_creates: true,
            ..Self::default()
        }
    }

    /// A bucket with `atomics` whose [`Store::cas_open_expecting`] does not
    /// read the key, and whose swap on such a handle compares values, as
    /// the component's store does on Spin's Redis store (a compare and a
    /// write under a lock).
    pub fn comparing_values() -> Self {
        Self {
            compares_values: true,
            ..Self::default()
        }
    }

    /// This bucket, failing every write (set, delete, swap, increment) to a
    /// key that starts with `prefix` with a store error: what a caller does
    /// when the store refuses part of its work.
    pub fn refusing_writes_under(self, prefix: &str) -> Self {
        Self {
            refuses_under: Some(prefix.to_owned()),
            ..self
        }
    }

    /// Runs `hook` once, just before the next write to a key that starts
    /// with `prefix` (outside the store's lock, so the hook may use the
    /// store).
    pub fn before_next_write(&self, prefix: &str, hook: impl FnMut(&str) + Send + 'static) {
        if let Ok(mut slot) = self.hook.lock() {
            *slot = Some((prefix.to_owned(), Box::new(hook)));
        }
    }

    /// Every key and value, in key order.
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        self.entries
            .lock()
            .map(|map| {
                map.iter()
                    .map(|(key, (_, value))| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether writes to `key` fail ([`MemoryStore::refusing_writes_under`]).
    fn refuse(&self, key: &str) -> Result<(), StoreError> {
        match &self.refuses_under {
            Some(prefix) if key.starts_with(prefix.as_str()) => {
                Err(StoreError::Other(format!("writes to `{key}` are refused")))
            }
            _ => Ok(()),
        }
    }

    fn run_hook(&self, key: &str) {
        let taken = match self.hook.lock() {
            Ok(mut slot) => match slot.as_ref() {
                Some((prefix, _)) if key.starts_with(prefix.as_str()) => slot.take(),
                _ => None,
            },
            Err(_) => None,
        };
        if let Some((_, mut hook)) = taken {
            hook(key);
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Other("the in-memory store's lock is poisoned".into()))
    }

    fn version(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn atomics(&self, what: &'static str) -> Result<(), StoreError> {
        if self.store_only {
            Err(StoreError::Unsupported(what))
        } else {
            Ok(())
        }
    }
}

impl Store for MemoryStore {
    type Cas = MemoryCas;

    fn mode(&self) -> Mode {
        if self.store_only {
            Mode::StoreOnly
        } else {
            Mode::Atomic
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(key).map(|(_, value)| value.clone()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.refuse(key)?;
        self.run_hook(key);
        let version = self.version();
        self.lock()?
            .insert(key.to_owned(), (version, value.to_vec()));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.refuse(key)?;
        self.run_hook(key);
        self.lock()?.remove(key);
        Ok(())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()?
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn cas_open(&self, key: &str) -> Result<(MemoryCas, Option<Vec<u8>>), StoreError> {
        self.atomics("compare-and-swap")?;
        let map = self.lock()?;
        let (version, value) = match map.get(key) {
            Some((version, value)) => (*version, Some(value.clone())),
            None => (0, None),
        };
        Ok((
            MemoryCas {
                key: key.to_owned(),
                version,
                expected: None,
            },
            value,
        ))
    }

    fn cas_open_expecting(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<(MemoryCas, Option<Vec<u8>>), StoreError> {
        if !self.compares_values {
            return self.cas_open(key);
        }
        self.atomics("compare-and-swap")?;
        let cas = MemoryCas {
            key: key.to_owned(),
            version: 0,
            expected: Some(expected.to_vec()),
        };
        Ok((cas, Some(expected.to_vec())))
    }

    fn cas_swap(&self, cas: MemoryCas, value: &[u8]) -> Result<(), CasError> {
        self.atomics("compare-and-swap")?;
        self.refuse(&cas.key)?;
        self.run_hook(&cas.key);
        let version = self.version();
        let mut map = self.lock()?;
        if let Some(expected) = &cas.expected {
            if map.get(&cas.key).map(|(_, value)| value) != Some(expected) {
                return Err(CasError::Conflict);
            }
            map.insert(cas.key, (version, value.to_vec()));
            return Ok(());
        }
        let current = map.get(&cas.key).map_or(0, |(version, _)| *version);
        if current != cas.version && !(self.upserts_creates && cas.version == 0) {
            return Err(CasError::Conflict);
        }
        map.insert(cas.key, (version, value.to_vec()));
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.atomics("increment")?;
        self.refuse(key)?;
        let version = self.version();
        let mut map = self.lock()?;
        let current = match map.get(key) {
            None => 0,
            Some((_, bytes)) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| StoreError::Other(format!("`{key}` does not hold an integer")))?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StoreError::Other(format!("`{key}` would overflow")))?;
        map.insert(key.to_owned(), (version, next.to_string().into_bytes()));
        Ok(next)
    }
}
