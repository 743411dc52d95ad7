//! A small key/value table for facts a service records about itself across
//! restarts (first-start markers, generated ranges). Each service owns its keys;
//! the table belongs to no service.

use rusqlite::{Connection, OptionalExtension};

/// The value stored under `key`, if any.
pub(crate) fn get(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}

/// Stores `value` under `key`, replacing what was there.
pub(crate) fn put(c: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_and_get_reads_back() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .unwrap();
        assert_eq!(get(&c, "k").unwrap(), None);
        put(&c, "k", "1").unwrap();
        put(&c, "k", "2").unwrap();
        assert_eq!(get(&c, "k").unwrap().as_deref(), Some("2"));
    }
}
