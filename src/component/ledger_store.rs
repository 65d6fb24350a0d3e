//! The ledger's [`Store`] over the host's `wasi:keyvalue` bucket (Spin's
//! `default` store: `key_value_stores = ["default"]`). With `atomics`
//! (the default build) compare-and-swap and increment come from the host;
//! the `keyvalue-store-only` build has plain reads and writes only.

use super::bindings::wasi::keyvalue::store;
use finconnect_core::ledger::{CasError, Mode, Store, StoreError};

/// The store Spin opens for `key_value_stores = ["default"]`.
pub(super) const STORE_NAME: &str = "default";

/// One open bucket, and how its compare-and-swap behaves (found out on
/// the first compare-and-swap of this request, see `cas::kind`).
pub(super) struct KeyValue {
    bucket: store::Bucket,
    #[cfg_attr(feature = "keyvalue-store-only", allow(dead_code))]
    kind: std::cell::OnceCell<Kind>,
}

/// What a store's `wasi:keyvalue/atomics` compare-and-swap can be trusted
/// with, as its probe found (`cas::probe`).
#[cfg_attr(feature = "keyvalue-store-only", allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// It refuses a create that lost, and reports its swaps truly
    /// (finconnect-host's store, which versions every key).
    Exclusive,
    /// Its swaps are reported truly, but a swap on a key that was absent
    /// simply writes: creations take a guard (Spin's SQLite store).
    Guarded,
    /// Its swaps are reported as failed even when they wrote, and each
    /// compare-and-swap opens a connection to the store, with a second one
    /// after every reported failure (Spin's Redis store): creations take a
    /// guard, and a change is a compare and a write under the key's lock,
    /// on the store's one connection.
    Locked,
}

impl KeyValue {
    /// Opens the `default` store; the error says how to grant it.
    pub(super) fn open() -> Result<Self, StoreError> {
        patiently(|| store::open(STORE_NAME))
            .map(|bucket| KeyValue {
                bucket,
                kind: std::cell::OnceCell::new(),
            })
            .map_err(|error| match error {
                // Spin answers `access-denied` for a store the manifest does not grant.
                store::Error::NoSuchStore | store::Error::AccessDenied => {
                    StoreError::NotGranted(STORE_NAME.to_owned())
                }
                other => store_error(other),
            })
    }
}

fn store_error(error: store::Error) -> StoreError {
    match error {
        store::Error::NoSuchStore => StoreError::NoSuchStore(STORE_NAME.to_owned()),
        store::Error::AccessDenied => StoreError::AccessDenied,
        store::Error::Other(message) => StoreError::Other(message),
    }
}

#[cfg(not(feature = "keyvalue-store-only"))]
mod cas {
    use super::super::bindings::wasi::keyvalue::store;
    use super::super::bindings::wasi::keyvalue::{atomics, batch};
    use super::{KeyValue, Kind, patiently, store_error};
    use finconnect_core::ledger::{CasError, Mode, Store, StoreError};

    /// A compare-and-swap in progress, or a create on a guarded store.
    pub(in super::super) struct Handle {
        how: How,
        key: String,
        creation_guard: Option<String>,
    }

    /// How a [`Handle`]'s swap writes.
    enum How {
        /// The key was absent on a guarded or locked store, so no CAS was
        /// opened: the swap creates it with its guard and a plain `set`.
        Create,
        /// Through the store's own compare-and-swap.
        Cas(atomics::Cas),
        /// On a locked store: the value read, which the swap compares with
        /// the key's value again while it holds the key's lock.
        Read(Vec<u8>),
    }

    pub(super) const MODE: Mode = Mode::Atomic;

    /// Where the store's answer to the probe is kept: `exclusive`,
    /// `guarded` or `locked` ([`Kind`]). Outside the ledger's prefixes, so
    /// listings never see it. (`-v3`: Spin's Redis store became `locked`;
    /// `-v2`, whose `guarded` covered it too, is no longer read.)
    pub(super) const KIND_KEY: &str = "finconnect/store/cas-kind-v3";
    const EXCLUSIVE: &[u8] = b"exclusive";
    const GUARDED: &[u8] = b"guarded";
    const LOCKED: &[u8] = b"locked";

    /// Where the creation guard of `key` lives: outside the ledger's
    /// prefixes, so listings never see it.
    pub(super) fn guard_key(key: &str) -> String {
        format!("finconnect/cas-guard/{key}")
    }

    /// Where a guard's idle clock lives ([`take_over`]): the time, in Unix
    /// milliseconds as decimal text, at which a creator first found `key`
    /// still unwritten under its guard.
    pub(super) fn unwritten_key(key: &str) -> String {
        format!("finconnect/cas-guard-unwritten/{key}")
    }

    /// How long a guard may be seen holding an unwritten key before a
    /// creator takes it over. Its holder writes the key right after taking
    /// it (two consecutive key-value calls, milliseconds apart even when
    /// the store is busy), so a guard idle for this long lost its holder.
    const DEAD_GUARD_MS: u64 = 60_000;

    /// Where the lock of `key` lives on a locked store ([`locked_swap`]):
    /// an `increment` count, held by the caller that moved it to 1,
    /// deleted when released.
    pub(super) fn lock_key(key: &str) -> String {
        format!("finconnect/cas-lock/{key}")
    }

    /// Where a lock's idle clock lives ([`take_over`]): the time, in Unix
    /// milliseconds as decimal text, at which a caller first waited in vain
    /// for the lock of `key`. Deleted with the lock.
    pub(super) fn locked_since_key(key: &str) -> String {
        format!("finconnect/cas-lock-held/{key}")
    }

    /// Opens a compare-and-swap on `key`. On a guarded store (below) the key
    /// is read first, and an absent key gets no CAS at all: its create is
    /// the guard and a `set`. That spares Spin's SQLite store a CAS that
    /// would only upsert. A locked store opens none ever: the key is read,
    /// and compared again at the swap.
    pub(super) fn open(kv: &KeyValue, key: &str) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        match kind(kv) {
            Kind::Exclusive => open_cas(kv, key),
            Kind::Guarded => {
                if patiently(|| kv.bucket.get(key))
                    .map_err(store_error)?
                    .is_none()
                {
                    return Ok(guarded_create(key));
                }
                open_cas(kv, key)
            }
            Kind::Locked => open_read(kv, key),
        }
    }

    /// An absent key on a guarded store: no CAS, its create is the guard
    /// and a `set`.
    fn guarded_create(key: &str) -> (Handle, Option<Vec<u8>>) {
        let handle = Handle {
            how: How::Create,
            key: key.to_owned(),
            creation_guard: Some(guard_key(key)),
        };
        (handle, None)
    }

    /// A locked store's handle on `key` holding `value`, which its swap
    /// compares with the key's value again under the lock.
    fn compared_later(key: &str, value: Vec<u8>) -> (Handle, Option<Vec<u8>>) {
        let handle = Handle {
            how: How::Read(value.clone()),
            key: key.to_owned(),
            creation_guard: None,
        };
        (handle, Some(value))
    }

    /// [`open`] on a locked store: one read; an absent key is a guarded
    /// create.
    fn open_read(kv: &KeyValue, key: &str) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        let Some(current) = patiently(|| kv.bucket.get(key)).map_err(store_error)? else {
            return Ok(guarded_create(key));
        };
        Ok(compared_later(key, current))
    }

    /// [`open`] for a key the ledger expects to exist (a record it is
    /// about to change): the CAS is opened at once and the key read through
    /// it, one read where [`open`] makes two on a guarded store. A key that
    /// is absent after all gets what [`open`] gives it: no CAS, a guarded
    /// create.
    pub(super) fn open_existing(
        kv: &KeyValue,
        key: &str,
    ) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        let kind = kind(kv);
        if kind == Kind::Locked {
            return open_read(kv, key);
        }
        let (handle, current) = open_cas(kv, key)?;
        if current.is_none() && kind != Kind::Exclusive {
            drop(handle);
            return Ok(guarded_create(key));
        }
        Ok((handle, current))
    }

    /// [`open_existing`] for a key the caller believes holds `expected`: on
    /// a locked store nothing is read, the swap compares anyway.
    pub(super) fn open_expecting(
        kv: &KeyValue,
        key: &str,
        expected: &[u8],
    ) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        if kind(kv) != Kind::Locked {
            return open_existing(kv, key);
        }
        Ok(compared_later(key, expected.to_vec()))
    }

    fn open_cas(kv: &KeyValue, key: &str) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        let cas = patiently(|| atomics::Cas::new(&kv.bucket, key)).map_err(store_error)?;
        let current = patiently(|| cas.current()).map_err(store_error)?;
        let creation_guard = current.is_none().then(|| guard_key(key));
        Ok((
            Handle {
                how: How::Cas(cas),
                key: key.to_owned(),
                creation_guard,
            },
            current,
        ))
    }

    /// Spin 4's SQLite store compares values, and a swap on a key that was
    /// absent when read simply writes (it upserts), so two instances could
    /// both "create" one key. On such a store a creation first takes the
    /// key's guard with `increment`, which every store does atomically:
    /// only the caller that moves it from 0 to 1 creates, and then writes
    /// the key with `set`. Spin's Redis store creates the same way, and
    /// changes a key under a lock instead of a CAS ([`locked_swap`]). A
    /// store whose CAS refuses a create that lost, and reports its swaps
    /// truly (finconnect-host's, which versions every key), needs no guard.
    ///
    /// `companions` are written once the swap succeeded. A guarded create
    /// and a locked change write the key and the companions in one
    /// `batch.set-many` (Spin's SQLite store: one transaction and one sync
    /// of its log where a `set` each took one each; Redis: one `MSET`).
    /// After a true CAS they follow in one `set-many` of their own.
    pub(super) fn swap(
        kv: &KeyValue,
        handle: Handle,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        if let Some(guard) = &handle.creation_guard
            && (matches!(handle.how, How::Create) || kind(kv) != Kind::Exclusive)
        {
            let taken = increment(kv, guard, 1)?;
            if taken != 1
                && (wait_for_creation(kv, &handle.key)
                    || !take_over(kv, guard, &unwritten_key(&handle.key), false))
            {
                return Err(CasError::Conflict);
            }
        }
        swap_unguarded(kv, handle, value, companions)
    }

    /// How long a caller waits, in all, for another's short hold to end
    /// (a winner's `set` after its guard, a holder's release of a lock):
    /// pauses of 1, 2, 4, ... 64 ms between looks, 127 ms in all.
    const WAIT_PAUSES_MS: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];

    /// Looks with `done` at once and again after each of [`WAIT_PAUSES_MS`]:
    /// whether one look said yes. An error ends the wait.
    fn within_a_wait<E>(mut done: impl FnMut() -> Result<bool, E>) -> Result<bool, E> {
        if done()? {
            return Ok(true);
        }
        for millis in WAIT_PAUSES_MS {
            super::pause(millis);
            if done()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A create that lost the guard waits until the key it lost appears
    /// (the winner holds the guard between its `increment` and its `set`),
    /// so that the caller's retry reads the winner's value instead of
    /// taking the guard again. Without the wait, 32 concurrent requests on
    /// one key could spend every retry inside that window when Spin's
    /// SQLite store is slow to write, and one of them answered
    /// `ledger_unavailable`. Bounded (127 ms): a winner that died between
    /// the two leaves the key absent, which [`take_over`] deals with.
    ///
    /// `true` when the key appeared (or could not be read), `false` when it
    /// is still absent after the wait.
    fn wait_for_creation(kv: &KeyValue, key: &str) -> bool {
        let read = || patiently(|| kv.bucket.get(key));
        let Ok(appeared) =
            within_a_wait(|| Ok::<_, std::convert::Infallible>(!matches!(read(), Ok(None))));
        appeared
    }

    /// A guard that has held `key` unwritten for [`DEAD_GUARD_MS`] lost its
    /// holder (it died between its `increment` and its `set`), and without
    /// this the key could never be created: every request with its
    /// idempotency key answered 503. A creator that lost the guard and
    /// waited in vain starts the guard's idle clock (`clock`,
    /// [`unwritten_key`]) if nobody has; once the clock is older than
    /// [`DEAD_GUARD_MS`], a creator takes the guard over and creates the
    /// key. `true`: this caller now holds the guard. A key's lock on a
    /// locked store ([`locked_swap`], `lock`: true; `clock` is then
    /// [`locked_since_key`]) is taken over the same way.
    ///
    /// Only one creator takes a guard over: each reads the guard's count,
    /// then the clock, restarts the clock, and increments the guard, and
    /// holds it only if nobody incremented it between its read and its
    /// increment. Two takers both holding it would have to do all four
    /// steps one after the other, and the second would then read the clock
    /// the first restarted, which is not old. Any failure answers `false`,
    /// as a lost guard does. Costs nothing while guards are released: only
    /// a creator that waited for a key that never came gets here.
    ///
    /// A lock, unlike a guard, is released (deleted with its clock), so a
    /// clock started just after a release would time the next holder from
    /// too early; the count is read again after starting one, and a clock
    /// found to outlive its lock is deleted.
    fn take_over(kv: &KeyValue, guard: &str, clock: &str, lock: bool) -> bool {
        let now = now_ms();
        let Ok(seen) = increment(kv, guard, 0) else {
            return false;
        };
        let restart = || patiently(|| kv.bucket.set(clock, now.to_string().as_bytes())).is_ok();
        let started = match patiently(|| kv.bucket.get(clock)) {
            Ok(Some(started)) => std::str::from_utf8(&started)
                .ok()
                .and_then(|text| text.parse::<u64>().ok()),
            Ok(None) => None,
            Err(_) => return false,
        };
        match started {
            // A clock already running is left alone until it is old, so
            // that callers retrying meanwhile do not keep it young.
            Some(started) if now.saturating_sub(started) < DEAD_GUARD_MS => false,
            // The first to find the key unwritten (or a clock that cannot
            // be read): the clock starts now.
            None => {
                if restart() && lock && matches!(increment(kv, guard, 0), Ok(0)) {
                    let _ = patiently(|| kv.bucket.delete(clock));
                }
                false
            }
            // Old: restarted before the increment, for the next taker to see.
            // A lock that its holder released meanwhile is held by whoever
            // moves it to 1, as always: this caller, if its increment did.
            Some(_) => {
                restart()
                    && matches!(increment(kv, guard, 1),
                        Ok(count) if count == seen + 1 || (lock && count == 1))
            }
        }
    }

    /// The wall clock in Unix milliseconds.
    fn now_ms() -> u64 {
        let now = wasip2::clocks::wall_clock::now();
        now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
    }

    /// A swap on a locked store (Spin's Redis store), where the store's own
    /// compare-and-swap costs two new connections and reports what it did
    /// wrongly. The caller takes the key's lock (an `increment` that moves
    /// it from absent to 1), reads the key, writes `value` and the
    /// companions in one write if it still holds exactly `expected`, and
    /// deletes the lock. Every change of a key on such a store goes through
    /// this, so the compare and the write are never split by another
    /// change: a value that came back after changes (a list of deliveries
    /// emptied again) is compared as it stands, with nobody changing it
    /// meanwhile. A caller that waited for the
    /// lock in vain ([`WAIT_PAUSES_MS`]; a hold is three consecutive store
    /// calls) answers a conflict; a lock
    /// whose holder died while it held it is taken over after a minute
    /// ([`take_over`]).
    fn locked_swap(
        kv: &KeyValue,
        key: &str,
        expected: &[u8],
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        let lock = lock_key(key);
        let clock = locked_since_key(key);
        if !take_lock(kv, &lock, &clock)? {
            return Err(CasError::Conflict);
        }
        let written = match patiently(|| kv.bucket.get(key)) {
            Ok(Some(current)) if current == expected => {
                set_with(kv, key.to_owned(), value, companions)
            }
            Ok(_) => Err(CasError::Conflict),
            Err(error) => Err(CasError::Store(store_error(error))),
        };
        // A release that fails leaves the lock to be taken over after a
        // minute, like a dead holder's; the write stands either way.
        let held = [lock, clock];
        let _ = patiently(|| batch::delete_many(&kv.bucket, &held));
        written
    }

    /// Takes the lock `lock`, waiting a little for another holder.
    fn take_lock(kv: &KeyValue, lock: &str, clock: &str) -> Result<bool, CasError> {
        Ok(
            within_a_wait(|| increment(kv, lock, 1).map(|count| count == 1))?
                || take_over(kv, lock, clock, true),
        )
    }

    fn swap_unguarded(
        kv: &KeyValue,
        handle: Handle,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        let cas = match handle.how {
            How::Cas(cas) => cas,
            // A create whose guard this call holds.
            How::Create => return set_with(kv, handle.key, value, companions),
            How::Read(expected) => {
                return locked_swap(kv, &handle.key, &expected, value, companions);
            }
        };
        match atomics::swap(cas, value) {
            Ok(()) => {}
            // Spin 4.0.2's Redis store reports every swap as failed, even
            // one that wrote (it sends UNWATCH with an argument, which Redis
            // refuses). The value is read back: finding exactly the bytes
            // written means the swap happened. Records carry claim ids and
            // revisions, so another writer's bytes differ; a list of
            // deliveries another writer left exactly as this one meant to
            // leave it holds what this swap was for all the same.
            Err(atomics::CasError::CasFailed(_)) => {
                match patiently(|| kv.bucket.get(&handle.key)) {
                    Ok(Some(stored)) if stored == value => {}
                    _ => return Err(CasError::Conflict),
                }
            }
            // Busy: the swap did nothing. The caller reads the key again
            // and decides anew, as after a lost swap.
            Err(atomics::CasError::StoreError(store::Error::Other(message)))
                if StoreError::busy_message(&message) =>
            {
                return Err(CasError::Conflict);
            }
            Err(atomics::CasError::StoreError(error)) => {
                return Err(CasError::Store(store_error(error)));
            }
        }
        set_many(kv, companions)
    }

    /// `key` and its companions in one write ([`set_many`]).
    fn set_with(
        kv: &KeyValue,
        key: String,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        let mut entries = Vec::with_capacity(1 + companions.len());
        entries.push((key, value.to_vec()));
        entries.extend_from_slice(companions);
        set_many(kv, &entries)
    }

    /// One `wasi:keyvalue/batch.set-many` (a plain `set` for one entry,
    /// nothing for none).
    fn set_many(kv: &KeyValue, entries: &[(String, Vec<u8>)]) -> Result<(), CasError> {
        let written = match entries {
            [] => Ok(()),
            [(key, value)] => patiently(|| kv.bucket.set(key, value)),
            _ => patiently(|| batch::set_many(&kv.bucket, entries)),
        };
        written.map_err(|error| CasError::Store(store_error(error)))
    }

    /// What this store's CAS can be trusted with ([`Kind`]): remembered
    /// for the request, read from the store (one `get`, on the first CAS of
    /// a request), else probed once per store and written down. A failure
    /// answers [`Kind::Guarded`], which is correct on every store; so does
    /// an answer this version does not know.
    fn kind(kv: &KeyValue) -> Kind {
        if let Some(known) = kv.kind.get() {
            return *known;
        }
        let known = match patiently(|| kv.bucket.get(KIND_KEY)) {
            Ok(Some(answer)) => Some(match answer.as_slice() {
                EXCLUSIVE => Kind::Exclusive,
                LOCKED => Kind::Locked,
                _ => Kind::Guarded,
            }),
            Ok(None) => probe(kv).ok(),
            Err(_) => None,
        };
        match known {
            Some(known) => *kv.kind.get_or_init(|| known),
            None => Kind::Guarded,
        }
    }

    /// Two checks on random keys: whether a CAS refuses a create that lost
    /// ([`finconnect_core::ledger::cas_creates_exclusively`]), and whether a
    /// swap that wrote is reported as written.
    fn probe(kv: &KeyValue) -> Result<Kind, StoreError> {
        let key = |what: &str| {
            format!(
                "finconnect/store/probe-{what}-{:016x}",
                wasip2::random::random::get_random_u64()
            )
        };
        let exclusive =
            finconnect_core::ledger::cas_creates_exclusively(&Unguarded(kv), &key("create"))?;
        let (kind, answer) = match (exclusive, swaps_report_truly(kv, &key("swap"))?) {
            (true, true) => (Kind::Exclusive, EXCLUSIVE),
            (false, true) => (Kind::Guarded, GUARDED),
            (_, false) => (Kind::Locked, LOCKED),
        };
        kv.bucket.set(KIND_KEY, answer).map_err(store_error)?;
        Ok(kind)
    }

    /// A swap on an absent key nobody else touches: reported as written?
    fn swaps_report_truly(kv: &KeyValue, key: &str) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(&kv.bucket, key).map_err(store_error)?;
        if cas.current().map_err(store_error)?.is_some() {
            return Err(StoreError::Other(format!(
                "the probe key `{key}` is in use"
            )));
        }
        let reported = atomics::swap(cas, b"swapped");
        kv.bucket.delete(key).map_err(store_error)?;
        match reported {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(error)) => Err(store_error(error)),
        }
    }

    /// The bucket's own operations, without creation guards: what the
    /// probe must see.
    struct Unguarded<'a>(&'a KeyValue);

    impl Store for Unguarded<'_> {
        type Cas = Handle;

        fn mode(&self) -> Mode {
            MODE
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.bucket.get(key).map_err(store_error)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            self.0.bucket.set(key, value).map_err(store_error)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.bucket.delete(key).map_err(store_error)
        }
        fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.0.list_keys(prefix)
        }
        fn cas_open(&self, key: &str) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
            open_cas(self.0, key)
        }
        fn cas_swap(&self, cas: Handle, value: &[u8]) -> Result<(), CasError> {
            swap_unguarded(self.0, cas, value, &[])
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            increment(self.0, key, delta)
        }
    }

    pub(super) fn increment(kv: &KeyValue, key: &str, delta: i64) -> Result<i64, StoreError> {
        patiently(|| atomics::increment(&kv.bucket, key, delta)).map_err(store_error)
    }

    /// A deleted key may be created again: its guard goes too, with the
    /// guard's idle clock if a slow holder left one. Its lock on a locked
    /// store stays: only its holder (or, after a minute, a taker) deletes a
    /// lock, or a second caller could take it while the first still holds
    /// it.
    pub(super) fn forget(kv: &KeyValue, key: &str) -> Result<(), StoreError> {
        let keys = [guard_key(key), unwritten_key(key)];
        patiently(|| batch::delete_many(&kv.bucket, &keys)).map_err(store_error)
    }
}

#[cfg(feature = "keyvalue-store-only")]
mod cas {
    use super::KeyValue;
    use finconnect_core::ledger::{CasError, StoreError};

    /// No compare-and-swap without `atomics`: the ledger never opens one
    /// in [`finconnect_core::ledger::Mode::StoreOnly`].
    pub(super) type Handle = ();
    pub(super) const MODE: finconnect_core::ledger::Mode = finconnect_core::ledger::Mode::StoreOnly;

    pub(super) fn open(_: &KeyValue, _: &str) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        Err(StoreError::Unsupported("compare-and-swap"))
    }

    pub(super) fn open_existing(
        kv: &KeyValue,
        key: &str,
    ) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        open(kv, key)
    }

    pub(super) fn open_expecting(
        kv: &KeyValue,
        key: &str,
        _: &[u8],
    ) -> Result<(Handle, Option<Vec<u8>>), StoreError> {
        open(kv, key)
    }

    pub(super) fn swap(
        _: &KeyValue,
        _: Handle,
        _: &[u8],
        _: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        Err(CasError::Store(StoreError::Unsupported("compare-and-swap")))
    }

    pub(super) fn forget(_: &KeyValue, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    pub(super) fn increment(_: &KeyValue, _: &str, _: i64) -> Result<i64, StoreError> {
        Err(StoreError::Unsupported("increment"))
    }
}

impl Store for KeyValue {
    type Cas = cas::Handle;

    fn mode(&self) -> Mode {
        cas::MODE
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        patiently(|| self.bucket.get(key)).map_err(store_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        patiently(|| self.bucket.set(key, value)).map_err(store_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        patiently(|| self.bucket.delete(key)).map_err(store_error)?;
        cas::forget(self, key)
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page =
                patiently(|| self.bucket.list_keys(cursor.as_deref())).map_err(store_error)?;
            keys.extend(page.keys.into_iter().filter(|key| key.starts_with(prefix)));
            match page.cursor {
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        cas::open(self, key)
    }

    fn cas_open_existing(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        cas::open_existing(self, key)
    }

    fn cas_open_expecting(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        cas::open_expecting(self, key, expected)
    }

    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError> {
        cas::swap(self, cas, value, &[])
    }

    fn cas_swap_with(
        &self,
        cas: Self::Cas,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        cas::swap(self, cas, value, companions)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        cas::increment(self, key, delta)
    }
}

/// The token hint store ([`finconnect_core::flow::Finconnect::with_token_hints`]):
/// a failed read or write only means no hint. A refresh lease is taken with
/// `wasi:keyvalue/atomics` `increment` (the caller that moves the key to 1
/// holds it). Without atomics (`keyvalue-store-only`), or when the
/// increment fails, every claim is granted: each refused call then fetches
/// a token of its own, as without a store, and concurrent Daraja calls can
/// refuse each other again.
///
/// The store is the one the request already has open (the ledger's), or
/// else the `default` store, opened when a provider that uses hints first
/// asks ([`TokenHints::is_available`]): a call to any other provider opens
/// nothing. Without a store granted there are no hints.
///
/// [`TokenHints::is_available`]: finconnect_core::token_hints::TokenHints::is_available
pub(super) struct Hints<'s> {
    given: Option<&'s KeyValue>,
    opened: std::cell::OnceCell<Option<KeyValue>>,
}

impl<'s> Hints<'s> {
    pub(super) fn new(given: Option<&'s KeyValue>) -> Self {
        Self {
            given,
            opened: std::cell::OnceCell::new(),
        }
    }

    fn store(&self) -> Option<&KeyValue> {
        self.given
            .or_else(|| self.opened.get_or_init(|| KeyValue::open().ok()).as_ref())
    }
}

impl finconnect_core::token_hints::TokenHints for Hints<'_> {
    fn is_available(&mut self) -> bool {
        self.store().is_some()
    }

    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.store()?.bucket.get(key).ok().flatten()
    }

    fn set(&mut self, key: &str, value: &[u8]) {
        if let Some(store) = self.store() {
            let _ = store.bucket.set(key, value);
        }
    }

    fn claim(&mut self, key: &str) -> bool {
        self.store()
            .is_none_or(|store| cas::increment(store, key, 1).map_or(true, |count| count == 1))
    }

    fn release(&mut self, key: &str) {
        if let Some(store) = self.store() {
            let _ = store.bucket.delete(key);
        }
    }

    fn pause(&mut self, millis: u32) {
        pause(millis);
    }
}

/// Pauses before each new try of an operation the store refused as busy
/// ([`StoreError::is_busy`]): 63 ms in all, then its answer stands.
const BUSY_PAUSES_MS: [u32; 6] = [1, 2, 4, 8, 16, 32];

/// Runs `op`, and again after a pause while the store answers that it was
/// busy and did nothing (Spin's SQLite store, while a burst of first
/// requests opens several connections on its file). Without this such a
/// request answered `ledger_unavailable`, or, when it came after the
/// provider's answer, left the payment `initiating` with no event.
fn patiently<T>(mut op: impl FnMut() -> Result<T, store::Error>) -> Result<T, store::Error> {
    let mut tries = 0;
    loop {
        match op() {
            Err(store::Error::Other(message)) if busy_pause(&message, &mut tries) => {}
            done => return done,
        }
    }
}

/// Whether `message` is the store's "busy" with a try left; if so, pauses
/// before it (kept out of [`patiently`], which is built once per caller).
fn busy_pause(message: &str, tries: &mut usize) -> bool {
    let Some(millis) = BUSY_PAUSES_MS.get(*tries) else {
        return false;
    };
    if !StoreError::busy_message(message) {
        return false;
    }
    *tries += 1;
    pause(*millis);
    true
}

/// Blocks on a `wasi:clocks/monotonic-clock` timer.
fn pause(millis: u32) {
    let nanos = u64::from(millis) * 1_000_000;
    wasip2::clocks::monotonic_clock::subscribe_duration(nanos).block();
}
