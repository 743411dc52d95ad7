//! The dashboard's SQL: its sessions and nothing else.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::session::Session;

pub(super) fn session_insert(tx: &Transaction, s: &Session) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO dashboard_sessions (id_hash, csrf, token, user_id, user_name, domain_name,
             project_id, project_name, is_admin, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            s.id_hash,
            s.csrf,
            s.token,
            s.user_id,
            s.user_name,
            s.domain_name,
            s.project_id,
            s.project_name,
            s.is_admin,
            s.created_at,
            s.expires_at
        ],
    )?;
    Ok(())
}

/// The live session under `id_hash` (expired ones are not returned).
pub(super) fn session_get(
    conn: &Connection,
    id_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<Session>> {
    conn.query_row(
        "SELECT id_hash, csrf, token, user_id, user_name, domain_name, project_id, project_name,
                is_admin, created_at, expires_at
         FROM dashboard_sessions WHERE id_hash = ?1 AND expires_at > ?2",
        params![id_hash, now],
        |r| {
            Ok(Session {
                id_hash: r.get(0)?,
                csrf: r.get(1)?,
                token: r.get(2)?,
                user_id: r.get(3)?,
                user_name: r.get(4)?,
                domain_name: r.get(5)?,
                project_id: r.get(6)?,
                project_name: r.get(7)?,
                is_admin: r.get(8)?,
                created_at: r.get(9)?,
                expires_at: r.get(10)?,
            })
        },
    )
    .optional()
}

/// Deletes one session; returns whether it existed.
pub(super) fn session_delete(tx: &Transaction, id_hash: &str) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "DELETE FROM dashboard_sessions WHERE id_hash = ?1",
        [id_hash],
    )? > 0)
}

/// Drops sessions past their expiry; returns how many.
pub(super) fn sessions_purge(tx: &Transaction, now: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM dashboard_sessions WHERE expires_at <= ?1",
        [now],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::session::{id_hash, random_secret};

    fn db(dir: &std::path::Path) -> Connection {
        // Db::open applies every migration, ours included.
        let path = dir.join("state.db");
        drop(crate::db::Db::open(&path).expect("db"));
        Connection::open(&path).expect("reopen")
    }

    fn session(expires_at: i64) -> Session {
        Session {
            id_hash: id_hash(&random_secret()),
            csrf: random_secret(),
            token: "gAAAA-token".into(),
            user_id: "u".into(),
            user_name: "demo".into(),
            domain_name: "Default".into(),
            project_id: "p".into(),
            project_name: "demo".into(),
            is_admin: false,
            created_at: 0,
            expires_at,
        }
    }

    #[test]
    fn sessions_round_trip_expire_and_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = db(dir.path());
        let live = session(100);
        let old = session(10);
        let tx = c.transaction().expect("tx");
        session_insert(&tx, &live).expect("insert");
        session_insert(&tx, &old).expect("insert");
        tx.commit().expect("commit");
        let got = session_get(&c, &live.id_hash, 50)
            .expect("get")
            .expect("live");
        assert_eq!(got.csrf, live.csrf);
        assert!(
            session_get(&c, &old.id_hash, 50).expect("get").is_none(),
            "expired"
        );
        assert!(session_get(&c, "nope", 50).expect("get").is_none());
        let tx = c.transaction().expect("tx");
        assert_eq!(sessions_purge(&tx, 50).expect("purge"), 1);
        assert!(session_delete(&tx, &live.id_hash).expect("delete"));
        assert!(!session_delete(&tx, &live.id_hash).expect("delete"));
        tx.commit().expect("commit");
        assert!(session_get(&c, &live.id_hash, 50).expect("get").is_none());
    }
}
