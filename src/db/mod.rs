//! The state database: one SQLite file (WAL, foreign keys), migrations tracked with
//! `PRAGMA user_version`, and every call run off the async worker threads.

mod migrations;
pub(crate) mod settings;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, Transaction};

pub(crate) use migrations::MIGRATIONS;

/// Handle to the state database. Writes are serialized on one connection (SQLite has
/// one writer anyway); reads spread over a few WAL reader connections.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

const READERS: usize = 4;

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Db> {
        create_private(path)?;
        let mut writer = open_conn(path, false)
            .with_context(|| format!("opening state database {}", path.display()))?;
        migrations::migrate(&mut writer, MIGRATIONS)?;
        let readers = (0..READERS)
            .map(|_| open_conn(path, true).map(Mutex::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Db {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: Default::default(),
            }),
        })
    }

    /// Runs `f` on a reader connection on the blocking pool.
    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let i = inner
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % inner.readers.len();
            let conn = lock(&inner.readers[i]);
            f(&conn)
        })
        .await
    }

    /// Runs `f` inside one write transaction, committed when `f` returns Ok.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + From<rusqlite::Error> + Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Synchronous write for start-up code that runs before the listener.
    pub(crate) fn write_blocking<T, E>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let mut conn = lock(&self.inner.writer);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Synchronous read for start-up code and CLI commands.
    pub(crate) fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let conn = lock(&self.inner.readers[0]);
        f(&conn)
    }
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding a connection leaves SQLite itself consistent (the
    // transaction rolls back on drop), so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run_blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("database task failed: {e}").into()),
    }
}

/// Creates the database file owner-only before SQLite opens it (its WAL and SHM
/// files take the database's mode), and makes existing ones private.
fn create_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        crate::fsutil::make_private(Path::new(&p))?;
    }
    Ok(())
}

fn open_conn(path: &Path, read_only: bool) -> anyhow::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // FULL makes a commit durable before the API acknowledges it (kill -9, power loss).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Whether `e` is a UNIQUE or PRIMARY KEY violation: the database's way of saying
/// "that already exists", which callers turn into their own conflict error.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let db = Db::open(&path).expect("open");
        let v: i64 = db.read_blocking(|c| {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("user_version")
        });
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = db.read_blocking(|c| {
            c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .expect("journal_mode")
        });
        assert_eq!(mode, "wal");
        drop(db);
        Db::open(&path).expect("reopen is a no-op migration");
    }
}
