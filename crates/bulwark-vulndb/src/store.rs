//! The embedded store: one SQLite file in the data directory holding the
//! advisories, their (ecosystem, package) keys, stored SBOM inventories,
//! findings with first-seen times, and the finding events.
//!
//! SQLite (rusqlite, bundled) rather than a key-value store because the
//! continuous re-match is a set of joins (affected keys x stored SBOM keys),
//! `findings --since` is a range query, and imports are one transaction:
//! a crash mid-import leaves the previous DB intact. The rollback journal
//! (not WAL) keeps the store a single file between runs.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

mod advisories;
mod corrupt;
mod findings;
mod inventories;
mod schema;

pub use advisories::{ImportSummary, Importer, PutOutcome, SourceStatus, Status};
pub use findings::{FindingEvent, Recorded, StoredFinding};
pub use inventories::{StoredInventory, TouchedInventory};
pub use schema::SCHEMA_VERSION;

/// File name of the store inside the data directory.
pub const FILE_NAME: &str = "vulndb.sqlite";

/// Errors of the store layer, each naming the DB file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no vulnerability DB at {path}: run `bulwark db import PATH...` first")]
    Missing { path: String },
    #[error(
        "vulnerability DB {path} is corrupt or truncated ({detail}): delete it and run `bulwark db import` again"
    )]
    Corrupt { path: String, detail: String },
    #[error("{path} is not a Bulwark vulnerability DB ({detail})")]
    Foreign { path: String, detail: String },
    #[error("vulnerability DB {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("vulnerability DB {path}: stored data unreadable: {detail}")]
    Data { path: String, detail: String },
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the store, creating the file (and its directory) if missing.
    pub fn open_or_create(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Self::open_inner(path, true)
    }

    /// Opens an existing store; a missing file is [`StoreError::Missing`].
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        Self::open_inner(path, false)
    }

    fn open_inner(path: &Path, create: bool) -> Result<Store, StoreError> {
        corrupt::check_file(path)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.pragma()?;
        schema::ensure(&store, create)?;
        Ok(store)
    }

    fn pragma(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;
                 PRAGMA cache_size=-65536;",
            )
            .map_err(|e| self.err(e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Maps a SQLite error, recognising corruption.
    pub(crate) fn err(&self, e: rusqlite::Error) -> StoreError {
        corrupt::classify(&self.path, e)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A metadata value.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// When the last import finished (RFC 3339), if any.
    pub fn built_at(&self) -> Result<Option<String>, StoreError> {
        self.meta("built_at")
    }

    /// Runs SQLite's `quick_check` over every page.
    pub fn verify(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: result,
            })
        }
    }

    /// Runs `f` in one read transaction: one shared lock and one check of
    /// the file for changes, instead of one per statement.
    pub fn read<T, E: From<StoreError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(|e| E::from(self.err(e)))?;
        let out = f();
        // A read transaction has nothing to keep: end it either way.
        let end = self.conn.execute_batch("COMMIT").map_err(|e| self.err(e));
        let v = out?;
        end.map_err(E::from)?;
        Ok(v)
    }

    /// Runs `f` in one transaction: all of it lands, or none.
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match f() {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                // The original error is what the caller needs to see.
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
