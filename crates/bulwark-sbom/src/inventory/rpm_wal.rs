//! An `rpmdb.sqlite` and the `rpmdb.sqlite-wal` that survives beside it are
//! one database: rpm (through SQLite) sees the log's committed transactions
//! as part of it, so they are replayed onto the database before its
//! packages count. Packages found only thanks to the log are attributed to
//! the layer that wrote the log.

use std::collections::HashMap;

use super::{Survivor, identity};
use crate::catalog::{self, CatalogError, FileKind};

/// Pairs every non-empty surviving log with the database beside it and
/// replaces the database's packages with those of the replayed database. A
/// log that cannot be replayed, or has no database, becomes a warning that
/// says its transactions are missing.
pub(super) fn replay_logs(survivors: &mut [Survivor]) {
    let logs: Vec<usize> = survivors
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.file.kind == FileKind::RpmSqliteWal
                && s.file.raw.as_ref().is_some_and(|raw| !raw.is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    for log in logs {
        let db_path = survivors[log]
            .path
            .strip_suffix("-wal")
            .unwrap_or_default()
            .to_owned();
        let db = survivors
            .iter()
            .position(|s| s.path == db_path && s.file.kind == FileKind::RpmSqlite);
        let Some(db) = db else {
            survivors[log].file.error =
                Some(missing(format!("write-ahead log found without /{db_path}")));
            continue;
        };
        replay(survivors, db, log);
    }
}

fn missing(why: String) -> CatalogError {
    CatalogError::Unsupported(format!(
        "{why}: the packages of the transactions in it are NOT in this SBOM"
    ))
}

fn replay(survivors: &mut [Survivor], db: usize, log: usize) {
    let wal = survivors[log].file.raw.take().unwrap_or_default();
    let log_layer = survivors[log].layer;
    let Some(bytes) = survivors[db].file.raw.as_deref() else {
        // The database itself was not read (over its limit): already a warning.
        return;
    };
    let findings = match catalog::catalog_rpmdb_with_wal(bytes, &wal) {
        Ok(findings) => findings,
        Err(e) => {
            survivors[log].file.error = Some(missing(format!("cannot replay it: {e}")));
            return;
        }
    };
    let file = &mut survivors[db].file;
    let before: HashMap<_, usize> = file
        .findings
        .packages
        .iter()
        .map(identity)
        .zip(file.first_layers.iter().copied())
        .collect();
    file.first_layers = findings
        .packages
        .iter()
        .map(|p| before.get(&identity(p)).copied().unwrap_or(log_layer))
        .collect();
    file.findings = findings;
    file.error = None;
}
