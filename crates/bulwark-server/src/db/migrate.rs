//! Schema migrations: the same SQL files for both engines, applied in
//! order, each in one transaction together with its row in
//! `schema_migrations` (version, name, SHA-256 of the file). A migration
//! already applied with a different checksum stops the server: the schema
//! on disk is not the one this binary was built for.

use sha2::{Digest, Sha256};

use super::{Db, DbError, Stmt, Value};

/// One migration file.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "image_layers",
        sql: include_str!("../../migrations/0002_image_layers.sql"),
    },
    Migration {
        version: 3,
        name: "node_update_failure",
        sql: include_str!("../../migrations/0003_node_update_failure.sql"),
    },
    Migration {
        version: 4,
        name: "node_state",
        sql: include_str!("../../migrations/0004_node_state.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The statements of a migration file: split at `;` line ends, comment
/// lines dropped.
fn statements(sql: &str) -> Vec<String> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(";\n")
        .chain(std::iter::once(""))
        .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

pub(super) async fn run(db: &Db) -> Result<(), DbError> {
    db.write_plain(vec![Stmt::new(CREATE_TABLE, vec![])])
        .await?;
    let applied = db
        .query(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            vec![],
        )
        .await?;
    for m in MIGRATIONS {
        let want = checksum(m.sql);
        let found = applied.iter().find(|r| r.int(0).ok() == Some(m.version));
        if let Some(row) = found {
            if row.text(1)? != want {
                return Err(DbError::Migration {
                    version: m.version,
                    name: m.name.into(),
                    message: "applied with a different checksum: the database schema \
                              does not match this build"
                        .into(),
                });
            }
            continue;
        }
        let mut stmts: Vec<Stmt> = statements(m.sql)
            .into_iter()
            .map(|s| Stmt::new(s, vec![]))
            .collect();
        stmts.push(Stmt::new(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            vec![
                Value::from(m.version),
                Value::from(m.name),
                Value::from(want),
                Value::from(crate::now_ms()),
            ],
        ));
        db.write_plain(stmts)
            .await
            .map_err(|e| DbError::Migration {
                version: m.version,
                name: m.name.into(),
                message: e.to_string(),
            })?;
        tracing::info!(
            version = m.version,
            name = m.name,
            engine = db.engine(),
            "migration applied"
        );
    }
    if let Some(newest) = applied.iter().filter_map(|r| r.int(0).ok()).max() {
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        if newest > known {
            return Err(DbError::Migration {
                version: newest,
                name: "?".into(),
                message: format!(
                    "the database was migrated by a newer build (this one knows up to {known})"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_semicolon_line_ends_without_comments() {
        let got = statements(
            "-- c\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\nINSERT INTO a VALUES ('x;y');\n",
        );
        assert_eq!(
            got,
            [
                "CREATE TABLE a (x TEXT)",
                "CREATE INDEX i ON a (x)",
                "INSERT INTO a VALUES ('x;y')"
            ]
        );
    }

    #[test]
    fn every_migration_has_statements_and_increasing_versions() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last);
            last = m.version;
            assert!(!statements(m.sql).is_empty());
        }
    }
}
