//! The SQLite backend: one table of entries with a version column, and a
//! one-row table holding the last version reserved.
//!
//! Each connection reserves versions in blocks ([`VERSION_BLOCK`]) from that
//! row, in a transaction of its own, and hands them out from memory: a write
//! then changes only its entry's page, not the clock's as well (about half
//! the cost of a write, measured on a scratch copy: 39-48 against 17-27 µs).
//! Blocks never overlap, so two hosts on one file never hand out the same
//! version; a version a rolled-back write took is simply never used.
//!
//! Every write is an `IMMEDIATE` transaction: it takes the database's write
//! lock before reading, so a compare-and-swap or an increment cannot
//! interleave with another writer, whether that writer is another instance of
//! this host (same connection, behind the mutex) or another host or process
//! that opened the same file (its own connection; SQLite's locks, with a busy
//! timeout, order them).
//!
//! The entries live in an ordinary (rowid) table with an index on
//! `(store, key)`. Until 2026-12 they were in a `WITHOUT ROWID` table, where
//! a payment record (about 950 bytes with its key) no longer fits in its leaf
//! page and spills a 4 KiB overflow page that every rewrite replaces; a file
//! in that form is converted when it is opened ([`Sqlite::open`]). Older
//! hosts read and write the converted table unchanged: its columns and its
//! key are the same.

use super::{Backend, Error, Seen, Version, add, counter};
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
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
);
CREATE TABLE IF NOT EXISTS finconnect_keyvalue_clock (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    last INTEGER NOT NULL
);
INSERT OR IGNORE INTO finconnect_keyvalue_clock (id, last) VALUES (0, 0);
";

/// A `WITHOUT ROWID` table (files written before 2026-12) is converted in
/// the transaction that opens the file: moved aside first, then, once
/// [`SCHEMA`] has made the table anew, emptied into it and dropped.
const MOVE_ASIDE: &str =
    "ALTER TABLE finconnect_keyvalue RENAME TO finconnect_keyvalue_without_rowid";
const MOVE_BACK: &str = "
INSERT INTO finconnect_keyvalue (store, key, value, version)
    SELECT store, key, value, version FROM finconnect_keyvalue_without_rowid;
DROP TABLE finconnect_keyvalue_without_rowid;
";

const SELECT: &str = "SELECT version, value FROM finconnect_keyvalue WHERE store = ?1 AND key = ?2";
const UPSERT: &str =
    "INSERT INTO finconnect_keyvalue (store, key, value, version) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version";
const DELETE: &str = "DELETE FROM finconnect_keyvalue WHERE store = ?1 AND key = ?2";

/// How much of the file SQLite maps into memory for reading (1 GiB, at
/// about 5 KB per payment some 200,000 payments); past it, reads use `pread`.
const MMAP_SIZE: i64 = 1 << 30;

/// How many versions a connection reserves at a time.
const VERSION_BLOCK: Version = 1 << 20;

#[derive(Debug)]
pub(super) struct Sqlite {
    path: PathBuf,
    connection: Mutex<Reserved>,
}

/// The connection, and the versions it has reserved and not handed out:
/// `next..end`.
#[derive(Debug)]
struct Reserved {
    connection: Connection,
    next: Version,
    end: Version,
}

impl Reserved {
    /// A version for a write that is about to start: from the block, or
    /// from a new block reserved (and committed) first.
    fn version(&mut self) -> rusqlite::Result<Version> {
        if self.next >= self.end {
            let tx = Tx::begin(&self.connection, Tx::IMMEDIATE)?;
            let last: Version = tx
                .prepare_cached(
                    "UPDATE finconnect_keyvalue_clock SET last = last + ?1 WHERE id = 0 \
                     RETURNING last",
                )?
                .query_row([VERSION_BLOCK], |row| row.get(0))?;
            tx.commit()?;
            self.next = last - VERSION_BLOCK + 1;
            self.end = last + 1;
        }
        let version = self.next;
        self.next += 1;
        Ok(version)
    }
}

/// A transaction begun and ended with cached statements: rusqlite's
/// `Transaction` parses `BEGIN` and `COMMIT` again every time, about 1% of
/// `finconnect-host up`'s CPU with the ledger on. Dropped without
/// [`Tx::commit`] (an error, a failed commit, a panic), it rolls back.
struct Tx<'c> {
    connection: &'c Connection,
}

impl<'c> Tx<'c> {
    /// Takes the write lock at once: nothing read in the transaction can
    /// change before it commits.
    const IMMEDIATE: &'static str = "BEGIN IMMEDIATE";
    /// A read transaction: every read in it sees one moment.
    const DEFERRED: &'static str = "BEGIN";

    fn begin(connection: &'c Connection, begin: &'static str) -> rusqlite::Result<Self> {
        connection.prepare_cached(begin)?.execute([])?;
        Ok(Self { connection })
    }

    fn commit(self) -> rusqlite::Result<()> {
        // On an error the transaction may still be open: `drop` ends it.
        self.connection.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.connection.is_autocommit() {
            // Nothing more can be done about a failed rollback here; the
            // next `BEGIN` on this connection then fails, and names why.
            let _ = self
                .connection
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]));
        }
    }
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
            // Reads through a memory map of the file instead of a `pread`
            // per page: without it a first pay made about 135 `pread`s
            // (a larger page cache did not lower that), with it about 5, and
            // 0.90x the host's CPU per pay (docs/PERFORMANCE.md). Writes
            // still go through the WAL. The trade, as SQLite documents it:
            // an I/O error while reading the mapped file stops the process
            // instead of failing the one operation.
            connection.pragma_update(None, "mmap_size", MMAP_SIZE)?;
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let table: Option<String> = tx
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'table' \
                     AND name = 'finconnect_keyvalue'",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            let convert =
                table.is_some_and(|sql| sql.to_ascii_uppercase().contains("WITHOUT ROWID"));
            if convert {
                tx.execute_batch(MOVE_ASIDE)?;
            }
            tx.execute_batch(SCHEMA)?;
            if convert {
                tx.execute_batch(MOVE_BACK)?;
            }
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
            connection: Mutex::new(Reserved {
                connection,
                next: 0,
                end: 0,
            }),
        })
    }

    /// A setting of the connection, as `PRAGMA name` reads it.
    #[cfg(test)]
    pub(super) fn pragma(&self, name: &str) -> rusqlite::Result<String> {
        let reserved = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        reserved
            .connection
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            })
    }

    /// Runs `f` on the connection (one operation at a time for this host).
    fn with<T>(&self, f: impl FnOnce(&mut Reserved) -> Result<T, Failure>) -> Result<T, Error> {
        // A panic while the lock was held cannot leave a transaction open:
        // a `Tx` rolls it back when it is dropped.
        let mut reserved = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut reserved).map_err(|failure| match failure {
            Failure::Store(err) => err,
            Failure::Database(err) => {
                Error::Other(format!("key-value store {}: {err}", self.path.display()))
            }
        })
    }

    /// Runs `f` in a transaction that holds the write lock from its start,
    /// with the version its writes take, and commits what it did when it
    /// returns `Ok`.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection, Version) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        self.with(|reserved| {
            let version = reserved.version()?;
            let tx = Tx::begin(&reserved.connection, Tx::IMMEDIATE)?;
            let out = f(&tx, version)?;
            tx.commit()?;
            Ok(out)
        })
    }
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
        self.with(|reserved| Ok(read(&reserved.connection, store, key)?))
    }

    fn read_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.with(|reserved| {
            // One read transaction: the values are of one moment.
            let tx = Tx::begin(&reserved.connection, Tx::DEFERRED)?;
            let values = keys
                .iter()
                .map(|key| Ok(read(&tx, store, key)?.entry.map(|(_, value)| value)))
                .collect::<Result<_, Failure>>()?;
            tx.commit()?;
            Ok(values)
        })
    }

    fn write_many(&self, store: &str, entries: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        self.write(|tx, version| {
            for (key, value) in &entries {
                tx.prepare_cached(UPSERT)?
                    .execute(params![store, key, value, version])?;
            }
            Ok(())
        })
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), Error> {
        self.write(|tx, _| {
            for key in keys {
                tx.prepare_cached(DELETE)?.execute(params![store, key])?;
            }
            Ok(())
        })
    }

    fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        self.with(|reserved| {
            let mut statement = reserved.connection.prepare_cached(
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
        self.write(|tx, version| {
            if read(tx, store, key)?.version() != expected {
                return Ok(false);
            }
            tx.prepare_cached(UPSERT)?
                .execute(params![store, key, value, version])?;
            Ok(true)
        })
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, Error> {
        self.write(|tx, version| {
            let current = match read(tx, store, key)?.value() {
                Some(value) => counter(key, value)?,
                None => 0,
            };
            let sum = add(key, current, delta)?;
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
        self.write(|tx, _| {
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
