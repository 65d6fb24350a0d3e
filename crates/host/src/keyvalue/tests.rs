//! `wasi:keyvalue` through the host's trait implementations (what a
//! component's calls reach), on both backends. No component here imports
//! `atomics` yet, so the calls are made directly on a [`StoreState`]: one
//! `StoreState` per instance, as the host makes them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use super::atomics::{self, CasError, HostCas as _};
use super::batch::Host as _;
use super::store::{self, HostBucket as _};
use super::{Bucket, Cas, DEFAULT_STORE, Error, KeyValueStores};
use crate::outbound::{Outbound, OutboundLog, ProviderClient};
use crate::state::StoreState;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

/// A directory of its own for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "finconnect-keyvalue-{}-{test}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        // A directory that does not exist yet: opening creates it.
        self.0.join("state/keyvalue.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a host call that waits for its write (an `async` import) to its end,
/// on this thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

fn open_sqlite(path: &Path) -> KeyValueStores {
    KeyValueStores::sqlite(path, [DEFAULT_STORE]).unwrap()
}

/// Runs `test` on an in-memory store and on a new SQLite file.
fn on_both_backends(name: &str, test: impl Fn(&KeyValueStores)) {
    test(&KeyValueStores::default());
    let dir = TempDir::new(name);
    test(&open_sqlite(&dir.file()));
}

/// One instance's view: a `StoreState` with the `default` bucket open.
struct Instance {
    state: StoreState,
    bucket: u32,
}

impl Instance {
    fn new(keyvalue: &KeyValueStores) -> Self {
        let mut state = StoreState {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                log: OutboundLog::default(),
                allowed: None,
                report_denials: false,
                client: ProviderClient::new(false),
            },
            variables: Arc::default(),
            variable_reads: Arc::default(),
            keyvalue: keyvalue.clone(),
        };
        let bucket = store::Host::open(&mut state, DEFAULT_STORE.to_owned())
            .unwrap()
            .rep();
        Self { state, bucket }
    }

    fn bucket(&self) -> Resource<Bucket> {
        Resource::new_borrow(self.bucket)
    }

    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        let bucket = self.bucket();
        self.state.get(bucket, key.to_owned()).unwrap()
    }

    fn set(&mut self, key: &str, value: &[u8]) {
        let bucket = self.bucket();
        block_on(self.state.set(bucket, key.to_owned(), value.to_vec())).unwrap();
    }

    fn set_many(&mut self, entries: &[(&str, &[u8])]) {
        let bucket = self.bucket();
        let entries = entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.to_vec()))
            .collect();
        block_on(self.state.set_many(bucket, entries)).unwrap();
    }

    fn delete(&mut self, key: &str) {
        let bucket = self.bucket();
        block_on(self.state.delete(bucket, key.to_owned())).unwrap();
    }

    fn list_keys(&mut self) -> Vec<String> {
        let bucket = self.bucket();
        let response = self.state.list_keys(bucket, None).unwrap();
        assert_eq!(response.cursor, None);
        response.keys
    }

    fn increment(&mut self, key: &str, delta: i64) -> Result<i64, Error> {
        let bucket = self.bucket();
        block_on(atomics::Host::increment(
            &mut self.state,
            bucket,
            key.to_owned(),
            delta,
        ))
    }

    fn cas(&mut self, key: &str) -> Resource<Cas> {
        let bucket = self.bucket();
        atomics::HostCas::new(&mut self.state, bucket, key.to_owned()).unwrap()
    }

    fn current(&mut self, cas: &Resource<Cas>) -> Option<Vec<u8>> {
        self.state.current(Resource::new_borrow(cas.rep())).unwrap()
    }

    fn swap(&mut self, cas: Resource<Cas>, value: &[u8]) -> Result<(), CasError> {
        block_on(atomics::Host::swap(&mut self.state, cas, value.to_vec()))
    }

    /// A swap that must fail with `cas-failed`: the fresh handle.
    fn swap_conflict(&mut self, cas: Resource<Cas>, value: &[u8]) -> Resource<Cas> {
        match self.swap(cas, value) {
            Err(CasError::CasFailed(fresh)) => fresh,
            Err(CasError::StoreError(err)) => panic!("store error instead of cas-failed: {err:?}"),
            Ok(()) => panic!("the swap succeeded though the key had changed"),
        }
    }

    /// Adds one to a decimal counter with a compare-and-swap loop; returns the tries it took.
    fn cas_add_one(&mut self, key: &str) -> usize {
        let mut cas = self.cas(key);
        for tries in 1.. {
            let current = self.current(&cas).map_or(0, |bytes| {
                String::from_utf8(bytes).unwrap().parse::<u64>().unwrap()
            });
            match self.swap(cas, (current + 1).to_string().as_bytes()) {
                Ok(()) => return tries,
                Err(CasError::CasFailed(fresh)) => cas = fresh,
                Err(CasError::StoreError(err)) => panic!("{err:?}"),
            }
        }
        unreachable!()
    }
}

#[test]
fn a_cas_on_an_absent_key_is_a_create_if_absent() {
    on_both_backends("create-if-absent", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        let mut b = Instance::new(keyvalue);

        let cas = a.cas("ledger/tx-1");
        assert_eq!(a.current(&cas), None);
        // Another instance creates the key between `new` and `swap`.
        b.set("ledger/tx-1", b"theirs");
        let fresh = a.swap_conflict(cas, b"mine");
        assert_eq!(b.get("ledger/tx-1").as_deref(), Some(&b"theirs"[..]));
        // The handle `cas-failed` gives back has caught up with the key.
        assert_eq!(a.current(&fresh).as_deref(), Some(&b"theirs"[..]));
        a.swap(fresh, b"mine, after theirs").unwrap();
        assert_eq!(
            b.get("ledger/tx-1").as_deref(),
            Some(&b"mine, after theirs"[..])
        );

        // Nobody else: the key is created.
        let cas = a.cas("ledger/tx-2");
        a.swap(cas, b"first").unwrap();
        assert_eq!(b.get("ledger/tx-2").as_deref(), Some(&b"first"[..]));

        // Two handles made while the key was absent: only one creates it.
        let first = a.cas("ledger/tx-3");
        let second = b.cas("ledger/tx-3");
        a.swap(first, b"a").unwrap();
        b.swap_conflict(second, b"b");
        assert_eq!(a.get("ledger/tx-3").as_deref(), Some(&b"a"[..]));
    });
}

#[test]
fn a_cas_fails_once_the_key_changed_even_back_to_the_same_value() {
    on_both_backends("changed", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        let mut b = Instance::new(keyvalue);
        a.set("balance", b"100");

        // Unchanged: the swap goes through.
        let cas = a.cas("balance");
        assert_eq!(a.current(&cas).as_deref(), Some(&b"100"[..]));
        a.swap(cas, b"90").unwrap();
        assert_eq!(b.get("balance").as_deref(), Some(&b"90"[..]));

        // Changed by another instance: it fails and the other write stays.
        let cas = a.cas("balance");
        b.set("balance", b"80");
        // `current` answers what `new` read, the value the swap is conditional on.
        assert_eq!(a.current(&cas).as_deref(), Some(&b"90"[..]));
        let fresh = a.swap_conflict(cas, b"70");
        assert_eq!(b.get("balance").as_deref(), Some(&b"80"[..]));
        assert_eq!(a.current(&fresh).as_deref(), Some(&b"80"[..]));

        // Rewritten with the same bytes: still a change (versions, not values).
        let cas = a.cas("balance");
        b.set("balance", b"80");
        a.swap_conflict(cas, b"60");

        // Deleted, and written again with the same bytes: a change too.
        let cas = a.cas("balance");
        b.delete("balance");
        b.set("balance", b"80");
        a.swap_conflict(cas, b"60");

        // Deleted since: the swap fails, and the fresh handle sees it absent.
        let cas = a.cas("balance");
        b.delete("balance");
        let fresh = a.swap_conflict(cas, b"60");
        assert_eq!(a.current(&fresh), None);
        assert_eq!(b.get("balance"), None);

        // An increment is a change as well.
        a.set("counter", &5_i64.to_le_bytes());
        let cas = a.cas("counter");
        b.increment("counter", 0).unwrap();
        a.swap_conflict(cas, &9_i64.to_le_bytes());
    });
}

#[test]
fn increment_counts_an_absent_key_as_zero_and_writes_little_endian_i64() {
    on_both_backends("increment", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        assert_eq!(a.increment("sequence", 5).unwrap(), 5);
        // The bytes Spin's SQLite store writes for the same counter.
        assert_eq!(a.get("sequence"), Some(5_i64.to_le_bytes().to_vec()));
        assert_eq!(a.increment("sequence", -7).unwrap(), -2);
        assert_eq!(
            a.get("sequence"),
            Some(vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        );
        assert_eq!(a.increment("zero", 0).unwrap(), 0);
        assert_eq!(a.get("zero"), Some(vec![0; 8]));

        // A value written by `set` in the same encoding counts on from there.
        a.set("preset", &41_i64.to_le_bytes());
        assert_eq!(a.increment("preset", 1).unwrap(), 42);

        // Not a counter: an error that says why, and the value stays.
        a.set("text", b"42");
        let err = a.increment("text", 1).unwrap_err();
        assert!(
            matches!(&err, Error::Other(message) if message.contains("not a counter")),
            "{err:?}"
        );
        assert_eq!(a.get("text").as_deref(), Some(&b"42"[..]));

        // An overflow is an error too, not a wrapped value.
        a.set("big", &i64::MAX.to_le_bytes());
        let err = a.increment("big", 1).unwrap_err();
        assert!(
            matches!(&err, Error::Other(message) if message.contains("overflows")),
            "{err:?}"
        );
        assert_eq!(a.get("big"), Some(i64::MAX.to_le_bytes().to_vec()));
    });
}

#[test]
fn list_keys_is_sorted_and_follows_sets_and_deletes() {
    on_both_backends("list-keys", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        assert_eq!(a.list_keys(), Vec::<String>::new());
        a.set("b", b"2");
        a.set("a", b"1");
        a.increment("c", 3).unwrap();
        let cas = a.cas("d");
        a.swap(cas, b"4").unwrap();
        assert_eq!(a.list_keys(), ["a", "b", "c", "d"]);
        a.delete("b");
        // Deleting an absent key is not an error.
        a.delete("never-set");
        assert_eq!(a.list_keys(), ["a", "c", "d"]);

        let bucket = a.bucket();
        block_on(
            a.state
                .delete_many(bucket, vec!["a".to_owned(), "d".to_owned()]),
        )
        .unwrap();
        assert_eq!(a.list_keys(), ["c"]);
        assert_eq!(keyvalue.keys(DEFAULT_STORE).unwrap(), ["c"]);
        keyvalue.clear().unwrap();
        assert_eq!(a.list_keys(), Vec::<String>::new());
    });
}

#[test]
fn batch_operations_read_and_write_several_keys() {
    on_both_backends("batch", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        a.set_many(&[("x", b"1"), ("y", b"2")]);
        let bucket = a.bucket();
        let values = a
            .state
            .get_many(
                bucket,
                vec!["y".to_owned(), "missing".to_owned(), "x".to_owned()],
            )
            .unwrap();
        assert_eq!(
            values,
            [
                ("y".to_owned(), Some(b"2".to_vec())),
                ("missing".to_owned(), None),
                ("x".to_owned(), Some(b"1".to_vec())),
            ]
        );
    });
}

#[test]
fn only_the_default_store_opens() {
    on_both_backends("no-such-store", |keyvalue| {
        let mut a = Instance::new(keyvalue);
        let err = store::Host::open(&mut a.state, "other".to_owned()).unwrap_err();
        assert!(matches!(err, Error::AccessDenied), "{err:?}");
    });
}

#[test]
fn a_sqlite_file_keeps_the_data_for_the_next_host_and_is_shared_while_open() {
    let dir = TempDir::new("persistence");
    let path = dir.file();
    {
        let first = open_sqlite(&path);
        let mut a = Instance::new(&first);
        a.set("token", b"abc");
        a.increment("payments", 2).unwrap();
        assert_eq!(first.file(), Some(path.as_path()));
    }
    assert!(path.is_file(), "no file at {}", path.display());

    // A restart: a new connection to the same file.
    let second = open_sqlite(&path);
    let mut b = Instance::new(&second);
    assert_eq!(b.get("token").as_deref(), Some(&b"abc"[..]));
    assert_eq!(b.increment("payments", 1).unwrap(), 3);
    assert_eq!(b.list_keys(), ["payments", "token"]);

    // Two hosts on one file at once see each other's writes, and their
    // compare-and-swaps see each other's changes.
    let third = open_sqlite(&path);
    let mut c = Instance::new(&third);
    c.set("token", b"def");
    assert_eq!(b.get("token").as_deref(), Some(&b"def"[..]));
    let cas = b.cas("token");
    c.set("token", b"ghi");
    b.swap_conflict(cas, b"stale");
    let cas = b.cas("receipt");
    c.set("receipt", b"theirs");
    b.swap_conflict(cas, b"mine");
    assert_eq!(c.get("receipt").as_deref(), Some(&b"theirs"[..]));

    // Versions go on growing after a restart: a handle made before it does
    // not match a key rewritten after it.
    let cas = b.cas("token");
    drop(third);
    let fourth = open_sqlite(&path);
    Instance::new(&fourth).set("token", b"jkl");
    b.swap_conflict(cas, b"stale");

    // Hosts that open the file at the same time hand out versions of their
    // own: a handle made on one host's first write does not match another
    // host's first write of the same bytes.
    let shared = TempDir::new("versions");
    let (x, y, z) = (
        open_sqlite(&shared.file()),
        open_sqlite(&shared.file()),
        open_sqlite(&shared.file()),
    );
    let mut on_x = Instance::new(&x);
    let mut on_y = Instance::new(&y);
    on_x.set("order", b"same");
    let cas = on_y.cas("order");
    on_x.delete("order");
    Instance::new(&z).set("order", b"same");
    on_y.swap_conflict(cas, b"stale");

    // The in-memory store of a new host starts empty.
    assert_eq!(Instance::new(&KeyValueStores::default()).get("token"), None);
}

/// The connection's settings that its speed and safety rest on: WAL, syncs
/// at checkpoints, and reads through a 1 GiB memory map.
#[test]
fn a_sqlite_file_is_opened_in_wal_mode_with_reads_through_a_memory_map() {
    let dir = TempDir::new("settings");
    let store = super::sqlite::Sqlite::open(&dir.file()).unwrap();
    assert_eq!(store.pragma("journal_mode").unwrap(), "wal");
    // NORMAL is 1.
    assert_eq!(store.pragma("synchronous").unwrap(), "1");
    assert_eq!(
        store.pragma("mmap_size").unwrap(),
        (1_i64 << 30).to_string()
    );
}

/// A file written before the entries moved out of a `WITHOUT ROWID` table
/// is converted when a host opens it: every entry keeps its value and
/// version, and the next open finds nothing to convert.
#[test]
fn a_file_with_the_earlier_without_rowid_table_is_converted_at_open() {
    let dir = TempDir::new("convert");
    let path = dir.file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE finconnect_keyvalue (
                 store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 version INTEGER NOT NULL, PRIMARY KEY (store, key)
             ) WITHOUT ROWID;
             CREATE TABLE finconnect_keyvalue_clock (
                 id INTEGER PRIMARY KEY CHECK (id = 0), last INTEGER NOT NULL
             );
             INSERT INTO finconnect_keyvalue_clock (id, last) VALUES (0, 1048576);
             INSERT INTO finconnect_keyvalue VALUES ('default', 'order', x'6f6e65', 7);
             INSERT INTO finconnect_keyvalue VALUES ('default', 'count', x'0200000000000000', 8);
             INSERT INTO finconnect_keyvalue VALUES ('other', 'order', x'6f74686572', 9);",
        )
        .unwrap();
    }
    let table_sql = || -> String {
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'finconnect_keyvalue'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    let versions = || -> Vec<(String, String, i64)> {
        let connection = rusqlite::Connection::open(&path).unwrap();
        let mut statement = connection
            .prepare("SELECT store, key, version FROM finconnect_keyvalue ORDER BY store, key")
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };

    let keyvalue = open_sqlite(&path);
    let sql = table_sql();
    assert!(!sql.to_ascii_uppercase().contains("WITHOUT ROWID"), "{sql}");
    assert_eq!(
        versions(),
        [
            ("default".to_owned(), "count".to_owned(), 8),
            ("default".to_owned(), "order".to_owned(), 7),
            ("other".to_owned(), "order".to_owned(), 9),
        ]
    );
    let mut a = Instance::new(&keyvalue);
    assert_eq!(a.get("order").as_deref(), Some(&b"one"[..]));
    assert_eq!(a.increment("count", 1).unwrap(), 3);
    // A handle made on the converted entry still guards it.
    let cas = a.cas("order");
    a.set("order", b"two");
    a.swap_conflict(cas, b"stale");
    assert_eq!(a.list_keys(), ["count", "order"]);
    drop(keyvalue);

    // Opened again: nothing left to convert, nothing lost.
    let again = open_sqlite(&path);
    assert_eq!(
        Instance::new(&again).get("order").as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(table_sql(), sql);
}

#[test]
fn a_file_that_is_not_a_key_value_store_is_refused_at_open() {
    let dir = TempDir::new("not-sqlite");
    let path = dir.0.join("keyvalue.sqlite");
    std::fs::write(
        &path,
        b"this is not a SQLite database, it is long enough to tell",
    )
    .unwrap();
    let err = KeyValueStores::sqlite(&path, [DEFAULT_STORE]).unwrap_err();
    assert!(
        format!("{err:#}").contains(&path.display().to_string()),
        "{err:#}"
    );
}

/// Threads increment one counter, half through instances of one host, half
/// through a second host on the same file; no update is lost.
#[test]
fn concurrent_increments_and_compare_and_swaps_lose_no_update() {
    const THREADS: usize = 4;
    const EACH: usize = 100;
    let dir = TempDir::new("concurrent");
    let memory = KeyValueStores::default();
    let one = open_sqlite(&dir.file());
    let two = open_sqlite(&dir.file());
    for hosts in [[&memory, &memory], [&one, &two]] {
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let keyvalue = hosts[thread % 2];
                scope.spawn(move || {
                    let mut instance = Instance::new(keyvalue);
                    for _ in 0..EACH {
                        instance.increment("increments", 1).unwrap();
                        instance.cas_add_one("swaps");
                    }
                });
            }
        });
        let mut check = Instance::new(hosts[1]);
        let total = i64::try_from(THREADS * EACH).unwrap();
        assert_eq!(check.increment("increments", 0).unwrap(), total);
        assert_eq!(
            check.get("swaps"),
            Some(total.to_string().into_bytes()),
            "compare-and-swap lost updates"
        );
    }
}

/// A component that imports `wasi:keyvalue/atomics@0.2.0-draft2`, of which
/// only the resource `cas`: enough for the linker to look it up. (An instance
/// with nothing in it would link whether the host has it or not.)
fn component_importing_atomics() -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
        TypeBounds,
    };
    let mut atomics = InstanceType::new();
    atomics.export("cas", ComponentTypeRef::Type(TypeBounds::SubResource));
    let mut types = ComponentTypeSection::new();
    types.instance(&atomics);
    let mut imports = ComponentImportSection::new();
    imports.import(
        "wasi:keyvalue/atomics@0.2.0-draft2",
        ComponentTypeRef::Instance(0),
    );
    let mut component = Component::new();
    component.section(&types);
    component.section(&imports);
    component.finish()
}

#[test]
fn without_atomics_a_component_that_imports_them_does_not_link() {
    let engine = wasmtime::Engine::default();
    let component =
        wasmtime::component::Component::new(&engine, component_importing_atomics()).unwrap();
    for atomics in [true, false] {
        let mut linker = wasmtime::component::Linker::<StoreState>::new(&engine);
        super::add_to_linker(&mut linker, atomics).unwrap();
        let linked = linker.instantiate_pre(&component);
        match (atomics, linked) {
            (true, Ok(_)) => {}
            (false, Err(err)) => {
                let message = format!("{err:#}");
                assert!(message.contains("wasi:keyvalue/atomics"), "{message}");
            }
            (true, Err(err)) => panic!("atomics linked, yet: {err:#}"),
            (false, Ok(_)) => panic!("linked without atomics"),
        }
    }
}

#[test]
fn operations_are_counted_by_kind_across_instances() {
    use super::KeyValueOpCounts;
    on_both_backends("op-counts", |keyvalue| {
        let before = keyvalue.op_counts();
        let mut a = Instance::new(keyvalue);
        // A second instance of the same host adds to the same counters.
        let mut b = Instance::new(keyvalue);

        a.set("k", b"1");
        assert_eq!(b.get("k"), Some(b"1".to_vec()));
        let bucket = b.bucket();
        assert!(
            store::HostBucket::exists(&mut b.state, bucket, "k".to_owned()).unwrap(),
            "exists after set"
        );
        assert_eq!(a.list_keys(), ["k"]);
        assert_eq!(a.increment("n", 2).unwrap(), 2);

        // A create that wins, then a stale handle whose swap fails and
        // hands back a fresh one (a second cas-open).
        let created = a.cas("c");
        let stale = b.cas("c");
        a.swap(created, b"first").unwrap();
        let fresh = b.swap_conflict(stale, b"second");
        atomics::HostCas::drop(&mut b.state, fresh).unwrap();

        // Batches count each key they name.
        a.set_many(&[("x", b"1"), ("y", b"2")]);
        let bucket = a.bucket();
        let values = a
            .state
            .get_many(bucket, vec!["x".to_owned(), "y".to_owned(), "z".to_owned()])
            .unwrap();
        assert_eq!(values.len(), 3);
        let bucket = b.bucket();
        block_on(
            b.state
                .delete_many(bucket, vec!["x".to_owned(), "y".to_owned()]),
        )
        .unwrap();
        b.delete("k");
        // Each instance opened the store; an open counts whether the store
        // is granted or not.
        store::Host::open(&mut a.state, "not-granted".to_owned()).unwrap_err();

        let counted = keyvalue.op_counts().since(&before);
        assert_eq!(
            counted,
            KeyValueOpCounts {
                open: 2 + 1,
                get: 2 + 3,
                set: 1 + 2,
                delete: 2 + 1,
                list: 1,
                cas_open: 3,
                swap: 2,
                increment: 1,
            }
        );
        assert_eq!(counted.writes(), 3 + 3 + 2 + 1);
        assert_eq!(counted.reads(), 5 + 1 + 3);
        // A clone of the stores (another host handle) shares the counters;
        // a new set of stores starts from zero.
        assert_eq!(keyvalue.clone().op_counts(), keyvalue.op_counts());
        assert_eq!(
            KeyValueStores::default().op_counts(),
            KeyValueOpCounts::default()
        );
    });
}

/// Writes that arrive while a write waits for the file's lock (held here by
/// another connection, as another host would hold it) are committed
/// together once it is free, in the order they came, each with its own
/// answer: an increment that fails on its data fails alone. With
/// `fail_shared`, that shared transaction fails as a database error would,
/// and each of its writes is run again alone, applied once.
fn writes_waiting_for_the_lock(fail_shared: bool) {
    use super::{Write, Written};
    const INCREMENTS: i64 = 10;
    let dir = TempDir::new("waiting");
    let path = dir.file();
    let sqlite = super::sqlite::Sqlite::open(&path).unwrap();
    let store = || DEFAULT_STORE.to_owned();
    let increment = |key: &str| Write::Increment {
        store: store(),
        key: key.to_owned(),
        delta: 1,
    };
    let create = |value: &[u8]| Write::Swap {
        store: store(),
        key: "created".to_owned(),
        expected: None,
        value: value.to_vec(),
    };
    let answer = |write: Write| {
        block_on(super::Backend::write(&sqlite, write).answer())
            .map_err(|err| super::describe(&err))
    };
    let text = Write::Entries {
        store: store(),
        entries: vec![("text".to_owned(), b"not a counter".to_vec())],
    };
    assert_eq!(answer(text), Ok(Written::Done));
    let before = sqlite.hooks().transactions.load(Ordering::Relaxed);
    let turns = sqlite.hooks().turns.load(Ordering::Relaxed);

    let other = hold_write_lock(&path);
    if fail_shared {
        sqlite
            .hooks()
            .fail_next_shared
            .store(true, Ordering::Relaxed);
    }
    let answers = std::thread::scope(|scope| {
        // The first write takes the turn and the (empty) queue, and waits
        // for the lock.
        let first = scope.spawn(|| answer(increment("n")));
        while sqlite.hooks().turns.load(Ordering::Relaxed) == turns {
            std::thread::yield_now();
        }
        // These queue behind it.
        let mut queued = Vec::new();
        for _ in 1..INCREMENTS {
            queued.push(super::Backend::write(&sqlite, increment("n")));
        }
        queued.push(super::Backend::write(&sqlite, create(b"first")));
        queued.push(super::Backend::write(&sqlite, create(b"second")));
        queued.push(super::Backend::write(&sqlite, increment("text")));
        queued.push(super::Backend::write(
            &sqlite,
            Write::Entries {
                store: store(),
                entries: vec![("after".to_owned(), b"yes".to_vec())],
            },
        ));
        other.execute_batch("COMMIT").unwrap();
        let mut answers = vec![first.join().unwrap()];
        for pending in queued {
            answers.push(block_on(pending.answer()).map_err(|err| super::describe(&err)));
        }
        answers
    });

    let counters: Vec<_> = (1..=INCREMENTS).map(|n| Ok(Written::Counter(n))).collect();
    assert_eq!(answers[..counters.len()], counters);
    let rest = &answers[counters.len()..];
    assert_eq!(rest[0], Ok(Written::Swapped(true)));
    assert_eq!(
        rest[1],
        Ok(Written::Swapped(false)),
        "a second create of one key"
    );
    assert!(
        matches!(&rest[2], Err(message) if message.contains("not a counter")),
        "{:?}",
        rest[2]
    );
    assert_eq!(rest[3], Ok(Written::Done));
    let read = |key: &str| super::Backend::read(&sqlite, DEFAULT_STORE, key).unwrap();
    assert_eq!(read("n").value(), Some(INCREMENTS.to_le_bytes().as_slice()));
    assert_eq!(read("created").value(), Some(b"first".as_slice()));
    assert_eq!(read("text").value(), Some(b"not a counter".as_slice()));
    assert_eq!(read("after").value(), Some(b"yes".as_slice()));
    assert!(!sqlite.turn_taken(), "the turn was not given back");

    let transactions = sqlite.hooks().transactions.load(Ordering::Relaxed) - before;
    let queued = answers.len() - 1;
    if fail_shared {
        // The first write alone, the queued ones together (which fails),
        // then each of them alone.
        assert_eq!(transactions, 1 + 1 + queued);
        assert!(!sqlite.hooks().fail_next_shared.load(Ordering::Relaxed));
    } else {
        assert_eq!(transactions, 2, "{} writes", answers.len());
    }
}

#[test]
fn writes_that_wait_for_the_lock_are_committed_together_each_with_its_answer() {
    writes_waiting_for_the_lock(false);
}

#[test]
fn a_shared_transaction_that_fails_is_run_again_one_write_at_a_time() {
    writes_waiting_for_the_lock(true);
}

/// Writes `v` to `key` of the default store.
fn set(key: &str) -> super::Write {
    super::Write::Entries {
        store: DEFAULT_STORE.to_owned(),
        entries: vec![(key.to_owned(), b"v".to_vec())],
    }
}

/// A connection of its own to the file at `path`, holding its write lock
/// (as another host would) until it commits.
fn hold_write_lock(path: &Path) -> rusqlite::Connection {
    let other = rusqlite::Connection::open(path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
}

/// A queued write whose caller went away (its instance was dropped) before
/// its turn came, or after the turn was handed to it and before it took
/// it, is not run, and the writes queued behind it still are.
#[test]
fn a_queued_write_whose_caller_is_gone_passes_the_turn_on() {
    use super::Written;
    for handed_over_first in [false, true] {
        let dir = TempDir::new("gone");
        let path = dir.file();
        let sqlite = super::sqlite::Sqlite::open(&path).unwrap();
        let other = hold_write_lock(&path);
        let behind = std::thread::scope(|scope| {
            let first =
                scope.spawn(|| block_on(super::Backend::write(&sqlite, set("first")).answer()));
            // Once it has taken the (empty) queue, it waits for the lock.
            while sqlite.hooks().turns.load(Ordering::Relaxed) == 0 {
                std::thread::yield_now();
            }
            let mut gone = Some(super::Backend::write(&sqlite, set("gone")));
            let behind = super::Backend::write(&sqlite, set("behind"));
            if !handed_over_first {
                drop(gone.take());
            }
            other.execute_batch("COMMIT").unwrap();
            assert_eq!(first.join().unwrap().unwrap(), Written::Done);
            if handed_over_first {
                // The turn is with the queued write whose caller is about to go.
                assert!(sqlite.turn_taken());
                drop(gone.take());
            }
            // A turn stranded with the gone caller would leave it waiting.
            let behind = block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(10), behind.answer()).await
            });
            behind
                .expect("the write behind never got its turn")
                .map_err(|err| super::describe(&err))
        });
        let case = format!("turn handed over before the caller went: {handed_over_first}");
        assert_eq!(behind, Ok(Written::Done), "{case}");
        let read = |key: &str| super::Backend::read(&sqlite, DEFAULT_STORE, key).unwrap();
        assert!(read("first").value().is_some(), "{case}");
        assert!(read("behind").value().is_some(), "{case}");
        assert_eq!(read("gone").value(), None, "{case}");
        assert!(!sqlite.turn_taken());
    }
}

/// A write from a thread that blocks (`Host::clear_key_value_stores`) does
/// not wait for the turn: here the turn has been handed to a queued write
/// whose task only this thread would poll, and the clear still runs.
#[test]
fn a_blocking_write_does_not_wait_for_a_turn_handed_to_a_task_not_yet_polled() {
    use super::{Write, Written};
    let dir = TempDir::new("blocking");
    let path = dir.file();
    let sqlite = Arc::new(super::sqlite::Sqlite::open(&path).unwrap());
    let other = hold_write_lock(&path);
    let queued = std::thread::scope(|scope| {
        let first =
            scope.spawn(|| block_on(super::Backend::write(&*sqlite, set("first")).answer()));
        while sqlite.hooks().turns.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        let queued = super::Backend::write(&*sqlite, set("queued"));
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(first.join().unwrap().unwrap(), Written::Done);
        queued
    });
    assert!(sqlite.turn_taken(), "the turn is with the queued write");
    let clear = Write::Clear {
        stores: vec![DEFAULT_STORE.to_owned()],
    };
    let (done, cleared) = std::sync::mpsc::channel();
    // Not scoped: a thread stuck waiting must not keep the test from failing.
    let clearing = sqlite.clone();
    std::thread::spawn(move || {
        done.send(super::Backend::write_blocking(&*clearing, clear).is_ok())
    });
    let cleared = cleared
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the blocking write waited for the turn");
    assert!(cleared);
    assert_eq!(block_on(queued.answer()).unwrap(), Written::Done);
    let read = |key: &str| super::Backend::read(&*sqlite, DEFAULT_STORE, key).unwrap();
    assert_eq!(read("first").value(), None, "cleared");
    assert!(read("queued").value().is_some(), "written after the clear");
}

/// A write that panics while it holds the turn (a bug; in a build that
/// unwinds) still passes the turn on: the write queued behind it runs.
#[test]
fn a_panic_while_holding_the_turn_passes_it_on() {
    use super::Written;
    let dir = TempDir::new("panic");
    let path = dir.file();
    let sqlite = super::sqlite::Sqlite::open(&path).unwrap();
    sqlite
        .hooks()
        .panic_after_commit
        .store(true, Ordering::Relaxed);
    let other = hold_write_lock(&path);
    let behind = std::thread::scope(|scope| {
        let first = scope.spawn(|| block_on(super::Backend::write(&sqlite, set("first")).answer()));
        while sqlite.hooks().turns.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        let behind = super::Backend::write(&sqlite, set("behind"));
        other.execute_batch("COMMIT").unwrap();
        assert!(first.join().is_err(), "the first write panicked");
        block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), behind.answer()).await
        })
        .expect("the write behind never got its turn")
    });
    assert_eq!(behind.unwrap(), Written::Done);
    assert!(!sqlite.turn_taken());
    let read = |key: &str| super::Backend::read(&sqlite, DEFAULT_STORE, key).unwrap();
    assert!(read("behind").value().is_some());
}

/// Writes that tasks start together, with the turn free, go in one
/// transaction: the write that takes the turn lets the other ready tasks
/// run once before it commits, and their writes queue behind it.
#[test]
fn writes_started_together_by_tasks_share_one_transaction() {
    use super::Written;
    const TASKS: usize = 8;
    let dir = TempDir::new("together");
    let sqlite = Arc::new(super::sqlite::Sqlite::open(&dir.file()).unwrap());
    let before = sqlite.hooks().transactions.load(Ordering::Relaxed);
    let answers = block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|n| {
                let sqlite = sqlite.clone();
                tokio::spawn(async move {
                    super::Backend::write(&*sqlite, set(&format!("key-{n}")))
                        .answer()
                        .await
                        .map_err(|err| super::describe(&err))
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    });
    assert!(
        answers.iter().all(|answer| *answer == Ok(Written::Done)),
        "{answers:?}"
    );
    let transactions = sqlite.hooks().transactions.load(Ordering::Relaxed) - before;
    assert_eq!(transactions, 1, "{TASKS} writes");
    let read = |key: &str| super::Backend::read(&*sqlite, DEFAULT_STORE, key).unwrap();
    assert!((0..TASKS).all(|n| read(&format!("key-{n}")).value().is_some()));
    assert!(!sqlite.turn_taken());
}

/// A write that took the free turn and whose caller went away before it
/// committed (its instance was dropped while it let other tasks run) is not
/// run, and passes the turn to the write queued behind it.
#[test]
fn a_write_that_took_the_turn_and_went_away_before_committing_passes_it_on() {
    use super::Written;
    let dir = TempDir::new("leader-gone");
    let sqlite = super::sqlite::Sqlite::open(&dir.file()).unwrap();
    let gone = super::Backend::write(&sqlite, set("gone"));
    assert!(sqlite.turn_taken());
    let behind = super::Backend::write(&sqlite, set("behind"));
    drop(gone);
    let behind = block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), behind.answer()).await
    })
    .expect("the write behind never got its turn");
    assert_eq!(behind.unwrap(), Written::Done);
    assert!(!sqlite.turn_taken());
    let read = |key: &str| super::Backend::read(&sqlite, DEFAULT_STORE, key).unwrap();
    assert_eq!(read("gone").value(), None);
    assert!(read("behind").value().is_some());
}
