//! Schema migrations embedded in the binary, applied in order at start and tracked
//! with `PRAGMA user_version` so each runs exactly once.

use anyhow::Context;
use rusqlite::Connection;

/// Every migration, oldest first. Never edit a released one: append a new one.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_identity",
        include_str!("migrations/0001_identity.sql"),
    ),
    ("0002_image", include_str!("migrations/0002_image.sql")),
    ("0003_network", include_str!("migrations/0003_network.sql")),
    (
        "0004_placement",
        include_str!("migrations/0004_placement.sql"),
    ),
    ("0005_compute", include_str!("migrations/0005_compute.sql")),
    (
        "0006_subnetpools",
        include_str!("migrations/0006_subnetpools.sql"),
    ),
    (
        "0007_port_forwardings",
        include_str!("migrations/0007_port_forwardings.sql"),
    ),
    (
        "0008_console_auth_tokens",
        include_str!("migrations/0008_console_auth_tokens.sql"),
    ),
    (
        "0009_compute_aggregates",
        include_str!("migrations/0009_compute_aggregates.sql"),
    ),
    (
        "0010_image_metadefs",
        include_str!("migrations/0010_image_metadefs.sql"),
    ),
    ("0011_volume", include_str!("migrations/0011_volume.sql")),
    (
        "0012_identity_credentials",
        include_str!("migrations/0012_identity_credentials.sql"),
    ),
    ("0013_object", include_str!("migrations/0013_object.sql")),
    (
        "0014_orchestration",
        include_str!("migrations/0014_orchestration.sql"),
    ),
    (
        "0015_dashboard_sessions",
        include_str!("migrations/0015_dashboard_sessions.sql"),
    ),
    (
        "0016_volume_attachments",
        include_str!("migrations/0016_volume_attachments.sql"),
    ),
    (
        "0018_identity_trusts",
        include_str!("migrations/0018_identity_trusts.sql"),
    ),
    (
        "0019_compute_quotas_migrations",
        include_str!("migrations/0019_compute_quotas_migrations.sql"),
    ),
    (
        "0020_volume_transfers_qos_backups",
        include_str!("migrations/0020_volume_transfers_qos_backups.sql"),
    ),
    (
        "0022_orchestration_intents",
        include_str!("migrations/0022_orchestration_intents.sql"),
    ),
    (
        "0025_identity_oauth1",
        include_str!("migrations/0025_identity_oauth1.sql"),
    ),
    (
        "0024_volume_iscsi_exports",
        include_str!("migrations/0024_volume_iscsi_exports.sql"),
    ),
    (
        "0026_orchestration_software",
        include_str!("migrations/0026_orchestration_software.sql"),
    ),
    (
        "0031_object_sync_tombstones",
        include_str!("migrations/0031_object_sync_tombstones.sql"),
    ),
    (
        "0027_volume_groups",
        include_str!("migrations/0027_volume_groups.sql"),
    ),
    (
        "0029_orchestration_rollback",
        include_str!("migrations/0029_orchestration_rollback.sql"),
    ),
];

pub(super) fn migrate(conn: &mut Connection, migrations: &[(&str, &str)]) -> anyhow::Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > migrations.len() {
        anyhow::bail!(
            "the state database has schema version {current}, newer than this onestack ({}); \
             upgrade onestack or use another state directory",
            migrations.len()
        );
    }
    for (i, (name, sql)) in migrations.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {name}"))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_an_old_schema_in_place() {
        let mut conn = Connection::open_in_memory().expect("db");
        let v1: &[(&str, &str)] = &[("a", "CREATE TABLE t (id TEXT PRIMARY KEY);")];
        migrate(&mut conn, v1).expect("v1");
        conn.execute("INSERT INTO t (id) VALUES ('x')", [])
            .expect("insert");
        let v2: &[(&str, &str)] = &[
            v1[0],
            (
                "b",
                "ALTER TABLE t ADD COLUMN name TEXT NOT NULL DEFAULT '';",
            ),
        ];
        migrate(&mut conn, v2).expect("v2");
        let (id, name): (String, String) = conn
            .query_row("SELECT id, name FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("row kept");
        assert_eq!((id.as_str(), name.as_str()), ("x", ""));
        assert!(
            migrate(&mut conn, &v2[..1]).is_err(),
            "newer schema is refused"
        );
    }

    #[test]
    fn all_embedded_migrations_apply() {
        let mut conn = Connection::open_in_memory().expect("db");
        migrate(&mut conn, MIGRATIONS).expect("migrations apply");
    }
}
