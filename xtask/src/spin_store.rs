//! Spin's SQLite key-value store in write-ahead-log mode.
//!
//! `spin up` keeps the `default` key-value store in a SQLite file
//! (`.spin/sqlite_key_value.db` next to the manifest, unless `--state-dir`
//! or a runtime configuration names another). Spin opens that file without
//! choosing a journal mode, so a file Spin creates itself uses SQLite's
//! rollback journal: every write creates, syncs and removes a journal file
//! besides syncing the database. The journal mode is a property of the file,
//! kept in its header, and SQLite opens a file that was switched to
//! write-ahead logging (WAL) in WAL mode ever after: Spin then appends each
//! write to the log and syncs the log once per write (its connection keeps
//! SQLite's default `synchronous = FULL`, so a write Spin has acknowledged
//! is on disk either way). FinConnect's ledger writes for every payment,
//! and under Spin those writes are most of a payment's cost
//! (docs/PERFORMANCE.md).

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Where `spin up` keeps its `default` key-value store, relative to the
/// directory of the manifest, when neither `--state-dir` nor a runtime
/// configuration says otherwise.
pub const SPIN_DEFAULT_STORE: &str = ".spin/sqlite_key_value.db";

/// What [`use_wal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// There was no file: an empty database in WAL mode was created (Spin
    /// adds its table when it first opens it).
    Created,
    /// The file used a rollback journal and now uses WAL; its data is kept.
    Switched {
        /// The journal mode it had (`delete`, `truncate`, `persist`, …).
        from: JournalMode,
    },
    /// The file was in WAL mode already: nothing was written.
    AlreadyWal,
}

/// A SQLite journal mode as `PRAGMA journal_mode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    Delete,
    Truncate,
    Persist,
    Memory,
    Wal,
    Off,
}

impl JournalMode {
    fn parse(name: &str) -> Option<JournalMode> {
        Some(match name.to_ascii_lowercase().as_str() {
            "delete" => JournalMode::Delete,
            "truncate" => JournalMode::Truncate,
            "persist" => JournalMode::Persist,
            "memory" => JournalMode::Memory,
            "wal" => JournalMode::Wal,
            "off" => JournalMode::Off,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
            JournalMode::Memory => "memory",
            JournalMode::Wal => "wal",
            JournalMode::Off => "off",
        }
    }
}

impl std::fmt::Display for JournalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a switch waits for a Spin that is writing to the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes the SQLite file at `path` use WAL: creates it (and its directory)
/// when it does not exist, switches it when it uses a rollback journal, and
/// leaves it alone when it is in WAL mode already. Switching a file that a
/// running Spin has open is safe for SQLite, but is best done with Spin
/// stopped; it waits up to 5 s for Spin's current write.
pub fn use_wal(path: &Path) -> anyhow::Result<Outcome> {
    let existed = path.exists();
    if !existed && let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .with_context(|| format!("cannot open {} as a SQLite database", path.display()))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .with_context(|| format!("cannot set a busy timeout on {}", path.display()))?;
    let before = mode(&connection, path)?;
    if before == JournalMode::Wal {
        return Ok(Outcome::AlreadyWal);
    }
    let after: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .with_context(|| format!("cannot switch {} to WAL mode", path.display()))?;
    if JournalMode::parse(&after) != Some(JournalMode::Wal) {
        bail!(
            "{}: SQLite kept the journal mode `{after}` instead of `wal` (WAL needs a local \
             file system with shared memory; a network file system has none)",
            path.display()
        );
    }
    Ok(if existed {
        Outcome::Switched { from: before }
    } else {
        Outcome::Created
    })
}

/// The journal mode the SQLite file at `path` is in, read without writing.
pub fn journal_mode(path: &Path) -> anyhow::Result<JournalMode> {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {} as a SQLite database", path.display()))?;
    mode(&connection, path)
}

fn mode(connection: &Connection, path: &Path) -> anyhow::Result<JournalMode> {
    // Reading the schema makes SQLite read the file's header, so a file that
    // is not a database fails here, with its name, rather than being
    // overwritten.
    connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| {
            row.get::<_, i64>(0)
        })
        .with_context(|| format!("{} is not a SQLite database", path.display()))?;
    let name: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .with_context(|| format!("cannot read the journal mode of {}", path.display()))?;
    JournalMode::parse(&name)
        .with_context(|| format!("{}: unknown journal mode `{name}`", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "finconnect-xtask-spin-store-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A file laid out as Spin lays out its store, in Spin's default
    /// (rollback journal) mode, with one value.
    fn spin_like_store(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, \
                 value BLOB NOT NULL, PRIMARY KEY (store, key)); \
                 INSERT INTO spin_key_value VALUES ('default', 'finconnect/k', x'7b7d');",
            )
            .unwrap();
    }

    #[test]
    fn a_missing_store_is_created_in_wal_mode_with_its_directory() {
        let dir = scratch("missing");
        let path = dir.join(SPIN_DEFAULT_STORE);
        assert_eq!(use_wal(&path).unwrap(), Outcome::Created);
        assert_eq!(journal_mode(&path).unwrap(), JournalMode::Wal);
        // A second connection, as Spin's, opens it in WAL mode by itself.
        let connection = Connection::open(&path).unwrap();
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(use_wal(&path).unwrap(), Outcome::AlreadyWal);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_store_in_rollback_mode_is_switched_and_keeps_its_data() {
        let dir = scratch("switch");
        let path = dir.join("kv.db");
        spin_like_store(&path);
        assert_eq!(journal_mode(&path).unwrap(), JournalMode::Delete);
        assert_eq!(
            use_wal(&path).unwrap(),
            Outcome::Switched {
                from: JournalMode::Delete
            }
        );
        let connection = Connection::open(&path).unwrap();
        let value: Vec<u8> = connection
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'finconnect/k'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(value, b"{}");
        drop(connection);
        assert_eq!(journal_mode(&path).unwrap(), JournalMode::Wal);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_and_left_as_it_was() {
        let dir = scratch("not-db");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notes.db");
        let text = "not a database, but somebody's notes\n".repeat(200);
        std::fs::write(&path, &text).unwrap();
        let err = format!("{:#}", use_wal(&path).unwrap_err());
        assert!(err.contains("notes.db is not a SQLite database"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reading_the_mode_of_a_missing_file_is_an_error_naming_it_and_creates_nothing() {
        let dir = scratch("read-missing");
        let path = dir.join("absent.db");
        let err = format!("{:#}", journal_mode(&path).unwrap_err());
        assert!(err.contains("absent.db"), "{err}");
        assert!(!dir.exists());
    }
}
