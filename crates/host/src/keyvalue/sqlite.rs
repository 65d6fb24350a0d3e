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
//! One connection serves reads and writes. Writes are committed in groups
//! ([`Group`]): a write that finds the writing connection free lets the
//! other ready tasks run once (their writes queue meanwhile), then runs on
//! its caller's thread, taking along every write queued so far (up to
//! [`BATCH`]); writes that arrive meanwhile queue, their callers waiting
//! without holding a thread, and when the transaction is committed the
//! next caller in the queue commits what has queued since. Each write is
//! still atomic, sees the ones before it in its transaction, and is
//! answered only once that transaction is committed. A write alone costs a
//! transaction, as before; under load a commit's fixed cost (its locks, the
//! log's commit frame) is shared. A write that fails on its data (an
//! increment of a value that is not a counter) writes nothing and leaves
//! the others be; a database error in a shared transaction rolls it back,
//! and its writes are run again, one transaction each, each with its own
//! answer.
//!
//! The entries live in an ordinary (rowid) table with an index on
//! `(store, key)`. Until 2026-12 they were in a `WITHOUT ROWID` table, where
//! a payment record (about 950 bytes with its key) no longer fits in its leaf
//! page and spills a 4 KiB overflow page that every rewrite replaces; a file
//! in that form is converted when it is opened ([`Sqlite::open`]). Older
//! hosts read and write the converted table unchanged: its columns and its
//! key are the same.

use super::{Backend, Error, Seen, Version, add, counter};
use super::{Pending, Write, Written};
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The most writes one transaction commits together.
const BATCH: usize = 64;

#[derive(Debug)]
pub(super) struct Sqlite {
    /// The connection, and the writes waiting for it.
    group: Arc<Group>,
}

/// Group commit by turns: the write that finds nobody writing takes the
/// turn, lets the other ready tasks run once ([`Leading`]), and then runs
/// on its caller's thread with every write queued so far; writes that
/// arrive meanwhile queue, and when the turn ends it passes, with the first
/// of them, to its caller, who commits the queue. No thread of its own: a
/// write alone costs what a transaction costs, and the callers waiting
/// (tasks, see [`Waiting`]) hold no thread.
#[derive(Debug)]
struct Group {
    /// Only the write holding the turn locks it.
    writer: Mutex<Writer>,
    queue: Mutex<Queue>,
    /// What the tests watch and steer.
    #[cfg(test)]
    hooks: Hooks,
}

#[derive(Debug, Default)]
struct Queue {
    /// Whether a write holds the turn.
    taken: bool,
    jobs: std::collections::VecDeque<Job>,
}

/// The turns and transactions, counted; a shared transaction made to fail
/// as a database error would; a panic in the write holding the turn.
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Hooks {
    /// Turns taken, counted once the write holding one has taken the queue.
    pub(super) turns: std::sync::atomic::AtomicUsize,
    pub(super) transactions: std::sync::atomic::AtomicUsize,
    pub(super) fail_next_shared: std::sync::atomic::AtomicBool,
    pub(super) panic_after_commit: std::sync::atomic::AtomicBool,
}

/// A queued write, and where its caller waits.
#[derive(Debug)]
struct Job {
    write: Write,
    reply: Reply,
}

/// What a queued write's caller is told: its answer, or that the turn is
/// now its own (with its write, not yet run).
#[derive(Debug)]
pub(super) enum Turn {
    Answer(Result<Written, Error>),
    Yours(Write),
}

/// Where a queued write's caller (a task) waits for its [`Turn`].
type Reply = tokio::sync::oneshot::Sender<Turn>;

/// A queued write's caller, waiting for its [`Turn`]. Dropped before it
/// learnt it (its instance went away), it still passes on a turn sent to
/// it, so that the writes queued behind it are not stranded.
#[derive(Debug)]
pub(super) struct Waiting {
    turn: tokio::sync::oneshot::Receiver<Turn>,
    group: Arc<Group>,
}

impl Waiting {
    pub(super) async fn answer(&mut self) -> Result<Written, Error> {
        match (&mut self.turn).await {
            Ok(Turn::Answer(answer)) => answer,
            Ok(Turn::Yours(write)) => self.group.lead(write),
            Err(_) => Err(super::writer_gone()),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // After `close`, no turn can arrive: either it came before (and is
        // read here) or its sender learns that nobody listens.
        self.turn.close();
        if let Ok(Turn::Yours(_)) = self.turn.try_recv() {
            // The write's caller is gone: it is not run, the turn goes on.
            self.group.pass();
        }
    }
}

/// A write that took the free turn. Before it commits, it lets the
/// runtime run every other task that is ready, once: writes those tasks
/// start meanwhile queue, and go in its transaction. Dropped before it
/// committed (its instance went away), it passes the turn on.
#[derive(Debug)]
pub(super) struct Leading {
    write: Option<Write>,
    group: Arc<Group>,
}

impl Leading {
    pub(super) async fn answer(&mut self) -> Result<Written, Error> {
        tokio::task::yield_now().await;
        match self.write.take() {
            Some(write) => self.group.lead(write),
            None => Err(super::writer_gone()),
        }
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        if self.write.take().is_some() {
            self.group.pass();
        }
    }
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
        self.versions(1)
    }

    /// The first of `n` consecutive versions for writes about to start (in
    /// a transaction not yet begun).
    fn versions(&mut self, n: usize) -> rusqlite::Result<Version> {
        let n = Version::try_from(n).unwrap_or(Version::MAX);
        if self.end - self.next < n {
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
        let first = self.next;
        self.next += n;
        Ok(first)
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

/// The settings every connection to the file gets.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // With WAL, NORMAL syncs at checkpoints instead of at every commit: the
    // file stays consistent after a crash, and a power cut may lose the last
    // commits. A local runner's trade; each commit waiting for the disk made
    // a pay 4-5 times slower.
    connection.pragma_update(None, "synchronous", "normal")?;
    // Reads through a memory map of the file instead of a `pread` per page:
    // without it a first pay made about 135 `pread`s (a larger page cache
    // did not lower that), with it about 5, and 0.90x the host's CPU per pay
    // (docs/PERFORMANCE.md). Writes still go through the WAL. The trade, as
    // SQLite documents it: an I/O error while reading the mapped file stops
    // the process instead of failing the one operation.
    connection.pragma_update(None, "mmap_size", MMAP_SIZE)
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
            configure(&connection)?;
            // Write-ahead logging lets readers go on while another connection
            // writes. Where the file system cannot have it, SQLite keeps its
            // rollback journal, which is as correct, only slower.
            let _mode: rusqlite::Result<String> =
                connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0));
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
        let not_ours = || {
            format!(
                "cannot set up the key-value store {} (is it a SQLite database written by \
                 finconnect-host?)",
                path.display()
            )
        };
        setup.with_context(not_ours)?;
        let writer = Writer {
            reserved: Reserved {
                connection,
                next: 0,
                end: 0,
            },
            path: path.to_path_buf(),
        };
        Ok(Self {
            group: Arc::new(Group {
                writer: Mutex::new(writer),
                queue: Mutex::default(),
                #[cfg(test)]
                hooks: Hooks::default(),
            }),
        })
    }

    /// A setting of the connection, as `PRAGMA name` reads it.
    #[cfg(test)]
    pub(super) fn pragma(&self, name: &str) -> rusqlite::Result<String> {
        let writer = self
            .group
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        writer
            .reserved
            .connection
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            })
    }

    #[cfg(test)]
    pub(super) fn hooks(&self) -> &Hooks {
        &self.group.hooks
    }

    /// Whether a write holds the turn (tests only).
    #[cfg(test)]
    pub(super) fn turn_taken(&self) -> bool {
        self.group
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .taken
    }

    /// Runs `f` on the connection, between two transactions of writes.
    /// Reads share the writes' connection: a second connection would see
    /// every commit of the first as a change of the file, and SQLite then
    /// unmaps all it had mapped of it (`munmap` and page faults were 9% of
    /// the host's CPU with the ledger on).
    fn read_with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let writer = self
            .group
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&writer.reserved.connection).map_err(|err| database_error(&writer.path, &err))
    }
}

impl Group {
    /// Runs `own`, holding the turn, with what is queued (up to
    /// [`BATCH`] in all), then passes the turn on.
    fn lead(&self, own: Write) -> Result<Written, Error> {
        // Passes the turn on when it is dropped: after the commit, and also
        // when a panic unwinds through it (in builds that unwind), so that
        // the writes queued behind are not left waiting for good.
        let _pass_on = PassOn(self);
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let jobs = self.take(BATCH - 1);
        #[cfg(test)]
        self.hooks
            .turns
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = writer.commit(own, jobs, self);
        #[cfg(test)]
        assert!(
            !self
                .hooks
                .panic_after_commit
                .swap(false, std::sync::atomic::Ordering::Relaxed),
            "a test's panic after a commit"
        );
        answer
    }

    /// Up to `n` queued writes, first come first.
    fn take(&self, n: usize) -> Vec<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let n = n.min(queue.jobs.len());
        queue.jobs.drain(..n).collect()
    }

    /// Ends the turn: it goes to the first queued write whose caller still
    /// waits, or to nobody when none is left.
    fn pass(&self) {
        loop {
            let next = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                match queue.jobs.pop_front() {
                    Some(next) => next,
                    None => {
                        queue.taken = false;
                        return;
                    }
                }
            };
            // A caller that is gone did not see its write run: it is not run.
            if next.reply.send(Turn::Yours(next.write)).is_ok() {
                return;
            }
        }
    }

    /// Starts `write`: at once when the turn is free, else queued.
    fn submit(self: &Arc<Self>, write: Write) -> Pending {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.taken {
            let (reply, turn) = tokio::sync::oneshot::channel();
            queue.jobs.push_back(Job { write, reply });
            return Pending::Committing(Waiting {
                turn,
                group: self.clone(),
            });
        }
        queue.taken = true;
        drop(queue);
        Pending::Leading(Leading {
            write: Some(write),
            group: self.clone(),
        })
    }

    /// `write` for a thread that waits: alone, as soon as the connection
    /// is free, without the turn. Waiting for a turn could wait for a task
    /// that only this thread would run.
    fn submit_blocking(&self, write: &Write) -> Result<Written, Error> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.alone(write, self)
    }

    #[cfg(test)]
    fn count_transaction(&self) {
        self.hooks
            .transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    #[cfg(not(test))]
    fn count_transaction(&self) {}

    /// Whether the next shared transaction is to fail (tests only).
    #[cfg(test)]
    fn fail_shared(&self) -> bool {
        self.hooks
            .fail_next_shared
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(not(test))]
    fn fail_shared(&self) -> bool {
        false
    }
}

/// Ends a turn when dropped ([`Group::lead`]). Declared before the writer's
/// lock in `lead`, it is dropped after it: the connection is free when the
/// turn passes.
struct PassOn<'g>(&'g Group);

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        self.0.pass();
    }
}

fn database_error(path: &Path, err: &rusqlite::Error) -> Error {
    Error::Other(format!("key-value store {}: {err}", path.display()))
}

/// The writing connection and what it reserved.
#[derive(Debug)]
struct Writer {
    reserved: Reserved,
    path: PathBuf,
}

impl Writer {
    /// Commits `own` with `jobs`, answers the jobs, and returns `own`'s
    /// answer. Together in one transaction when there are several; when
    /// that fails as a whole, one transaction each.
    fn commit(&mut self, own: Write, jobs: Vec<Job>, group: &Group) -> Result<Written, Error> {
        if !jobs.is_empty() {
            let writes: Vec<&Write> = std::iter::once(&own)
                .chain(jobs.iter().map(|job| &job.write))
                .collect();
            group.count_transaction();
            if let Ok(mut answers) = self.together(&writes, group) {
                let answer = answers.remove(0);
                for (job, answer) in jobs.into_iter().zip(answers) {
                    // A caller that is gone is not told; the write stands.
                    let _ = job.reply.send(Turn::Answer(answer));
                }
                return answer;
            }
        }
        let answer = self.alone(&own, group);
        for job in jobs {
            let answer = self.alone(&job.write, group);
            let _ = job.reply.send(Turn::Answer(answer));
        }
        answer
    }

    /// `writes` in one transaction, each with its answer; `Err` when the
    /// transaction as a whole failed (nothing of it is committed).
    fn together(
        &mut self,
        writes: &[&Write],
        group: &Group,
    ) -> rusqlite::Result<Vec<Result<Written, Error>>> {
        let first = self.reserved.versions(writes.len())?;
        let tx = Tx::begin(&self.reserved.connection, Tx::IMMEDIATE)?;
        let mut answers = Vec::with_capacity(writes.len());
        for (version, write) in (first..).zip(writes) {
            match apply(&tx, write, version) {
                Ok(written) => answers.push(Ok(written)),
                // Nothing of it was written: the others go on.
                Err(Failure::Store(err)) => answers.push(Err(err)),
                Err(Failure::Database(err)) => return Err(err),
            }
        }
        if group.fail_shared() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some("failed by a test".to_owned()),
            ));
        }
        tx.commit()?;
        Ok(answers)
    }

    /// `write` in a transaction of its own.
    fn alone(&mut self, write: &Write, group: &Group) -> Result<Written, Error> {
        group.count_transaction();
        let answer = (|| {
            let version = self.reserved.version()?;
            let tx = Tx::begin(&self.reserved.connection, Tx::IMMEDIATE)?;
            let written = apply(&tx, write, version)?;
            tx.commit()?;
            Ok(written)
        })();
        answer.map_err(|failure| match failure {
            Failure::Store(err) => err,
            Failure::Database(err) => database_error(&self.path, &err),
        })
    }
}

fn apply(tx: &Connection, write: &Write, version: Version) -> Result<Written, Failure> {
    match write {
        Write::Entries { store, entries } => {
            for (key, value) in entries {
                tx.prepare_cached(UPSERT)?
                    .execute(params![store, key, value, version])?;
            }
            Ok(Written::Done)
        }
        Write::Delete { store, keys } => {
            for key in keys {
                tx.prepare_cached(DELETE)?.execute(params![store, key])?;
            }
            Ok(Written::Done)
        }
        Write::Swap {
            store,
            key,
            expected,
            value,
        } => {
            if read(tx, store, key)?.version() != *expected {
                return Ok(Written::Swapped(false));
            }
            tx.prepare_cached(UPSERT)?
                .execute(params![store, key, value, version])?;
            Ok(Written::Swapped(true))
        }
        Write::Increment { store, key, delta } => {
            let current = match read(tx, store, key)?.value() {
                Some(value) => counter(key, value)?,
                None => 0,
            };
            let sum = add(key, current, *delta)?;
            tx.prepare_cached(UPSERT)?.execute(params![
                store,
                key,
                sum.to_le_bytes().as_slice(),
                version
            ])?;
            Ok(Written::Counter(sum))
        }
        Write::Clear { stores } => {
            for store in stores {
                tx.execute(
                    "DELETE FROM finconnect_keyvalue WHERE store = ?1",
                    params![store],
                )?;
            }
            Ok(Written::Done)
        }
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
        self.read_with(|reader| read(reader, store, key))
    }

    fn read_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.read_with(|reader| {
            // One read transaction: the values are of one moment.
            let tx = Tx::begin(reader, Tx::DEFERRED)?;
            let values = keys
                .iter()
                .map(|key| Ok(read(&tx, store, key)?.entry.map(|(_, value)| value)))
                .collect::<rusqlite::Result<_>>()?;
            tx.commit()?;
            Ok(values)
        })
    }

    fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        self.read_with(|reader| {
            let mut statement = reader.prepare_cached(
                "SELECT key FROM finconnect_keyvalue WHERE store = ?1 ORDER BY key",
            )?;
            let keys = statement
                .query_map(params![store], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(keys)
        })
    }

    fn write(&self, write: Write) -> Pending {
        self.group.submit(write)
    }

    fn write_blocking(&self, write: Write) -> Result<Written, Error> {
        self.group.submit_blocking(&write)
    }
}
