//! The SQLite backend: one table of entries with a version column, and a
//! one-row table holding the last version handed out.
//!
//! Every write is an `IMMEDIATE` transaction: it takes the database's write
//! lock before reading, so a compare-and-swap or an increment cannot
//! interleave with another writer, whether that writer is another instance of
//! this host (same connection, behind the mutex) or another host or process
//! that opened the same file (its own connection; SQLite's locks, with a busy
//! timeout, order them).

use super::{Backend, Error, Seen, Version, add, counter};
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long an operation waits for another connection's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS finconnect_keyvalue (
    store   TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    value   BLOB    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finconnect_keyvalue_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    last INTEGER NOT NULL
);
INSERT OR IGNORE INTO finconnect_keyvalue_clock (id, last) VALUES (0, 0);
";

const SELECT: &str = "SELECT version, value FROM finconnect_keyvalue WHERE store = ?1 AND key = ?2";
const UPSERT: &str =
    "INSERT INTO finconnect_keyvalue (store, key, value, version) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version";
const DELETE: &str = "DELETE FROM finconnect_keyvalue WHERE store = ?1 AND key = ?2";

#[derive(Debug)]
pub(super) struct Sqlite {
    path: PathBuf,
    connection: Mutex<Connection>,
}

/// Why an operation failed: the database, or the data (e.g. a value that is
/// not a counter).
enum Failure {
    Database(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Self::Database(err)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Store(err)
    }
}

impl Sqlite {
    /// Opens (or creates, with its directory) the database at `path`.
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        let mut connection = Connection::open(path)
            .with_context(|| format!("cannot open the key-value store {}", path.display()))?;
        let setup = (|| -> rusqlite::Result<()> {
            connection.busy_timeout(BUSY_TIMEOUT)?;
            // Write-ahead logging lets readers go on while another connection
            // writes. Where the file system cannot have it, SQLite keeps its
            // rollback journal, which is as correct, only slower.
            let _mode: rusqlite::Result<String> =
                connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0));
            // With WAL, NORMAL syncs at checkpoints instead of at every
            // commit: the file stays consistent after a crash, and a power
            // cut may lose the last commits. A local runner's trade; each
            // commit waiting for the disk made a pay 4-5 times slower.
            connection.pragma_update(None, "synchronous", "normal")?;
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            tx.commit()
        })();
        setup.with_context(|| {
            format!(
                "cannot set up the key-value store {} (is it a SQLite database written by \
                 finconnect-host?)",
                path.display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
        })
    }

    /// Runs `f` on the connection (one operation at a time for this host).
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, Failure>) -> Result<T, Error> {
        // A panic while the lock was held cannot leave a transaction open:
        // rusqlite rolls it back when the `Transaction` is dropped.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut connection).map_err(|failure| match failure {
            Failure::Store(err) => err,
            Failure::Database(err) => {
                Error::Other(format!("key-value store {}: {err}", self.path.display()))
            }
        })
    }

    /// Runs `f` in a transaction that holds the write lock from its start,
    /// and commits what it did when it returns `Ok`.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>) -> Result<T, Error> {
        self.with(|connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

/// The version for this transaction's writes: one more than the last.
fn next_version(tx: &Transaction<'_>) -> rusqlite::Result<Version> {
    tx.prepare_cached(
        "UPDATE finconnect_keyvalue_clock SET last = last + 1 WHERE id = 0 RETURNING last",
    )?
    .query_row([], |row| row.get(0))
}

fn read(connection: &Connection, store: &str, key: &str) -> rusqlite::Result<Seen> {
    let entry = connection
        .prepare_cached(SELECT)?
        .query_row(params![store, key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(Seen { entry })
}

impl Backend for Sqlite {
    fn read(&self, store: &str, key: &str) -> Result<Seen, Error> {
        self.with(|connection| Ok(read(connection, store, key)?))
    }

    fn read_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.with(|connection| {
            // One read transaction: the values are of one moment.
            let tx = connection.transaction()?;
            let values = keys
                .iter()
                .map(|key| Ok(read(&tx, store, key)?.entry.map(|(_, value)| value)))
                .collect::<Result<_, Failure>>()?;
            tx.commit()?;
            Ok(values)
        })
    }

    fn write_many(&self, store: &str, entries: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        self.write(|tx| {
            let version = next_version(tx)?;
            for (key, value) in &entries {
                tx.prepare_cached(UPSERT)?
                    .execute(params![store, key, value, version])?;
            }
            Ok(())
        })
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), Error> {
        self.write(|tx| {
            for key in keys {
                tx.prepare_cached(DELETE)?.execute(params![store, key])?;
            }
            Ok(())
        })
    }

    fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        self.with(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT key FROM finconnect_keyvalue WHERE store = ?1 ORDER BY key",
            )?;
            let keys = statement
                .query_map(params![store], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(keys)
        })
    }

    fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<Version>,
        value: Vec<u8>,
    ) -> Result<bool, Error> {
        self.write(|tx| {
            if read(tx, store, key)?.version() != expected {
                return Ok(false);
            }
            let version = next_version(tx)?;
            tx.prepare_cached(UPSERT)?
                .execute(params![store, key, value, version])?;
            Ok(true)
        })
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, Error> {
        self.write(|tx| {
            let current = match read(tx, store, key)?.value() {
                Some(value) => counter(key, value)?,
                None => 0,
            };
            let sum = add(key, current, delta)?;
            let version = next_version(tx)?;
            tx.prepare_cached(UPSERT)?.execute(params![
                store,
                key,
                sum.to_le_bytes().as_slice(),
                version
            ])?;
            Ok(sum)
        })
    }

    fn clear(&self, stores: &[String]) -> Result<(), Error> {
        self.write(|tx| {
            for store in stores {
                tx.execute(
                    "DELETE FROM finconnect_keyvalue WHERE store = ?1",
                    params![store],
                )?;
            }
            Ok(())
        })
    }
}
