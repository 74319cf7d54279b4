//! Storage: one SQL dialect over two engines.
//!
//! [`Db`] runs the same statements (`$1`-style placeholders, portable types:
//! `TEXT` and `BIGINT`) on embedded SQLite (rusqlite, the default: one file
//! in the data directory) or on PostgreSQL (sqlx, runtime queries: nothing
//! needs a database at build time). Both are migrated by the same files in
//! `migrations/` ([`migrate`]).
//!
//! Writes are all-or-nothing batches ([`Db::write`]): every statement runs
//! in one transaction, row-count expectations are checked, and a gate
//! (the audit log append) runs before the commit. If the gate fails,
//! nothing is committed.

mod migrate;
mod postgres;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

pub use migrate::{MIGRATIONS, Migration};

/// A statement parameter. Typed even when null, because PostgreSQL needs
/// the type of every parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(Some(v))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(Some(i64::from(v)))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Some(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        Value::Text(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        Value::Text(v.map(str::to_owned))
    }
}

/// A result cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// A result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> Result<&Cell, DbError> {
        self.0.get(i).ok_or(DbError::Decode {
            column: i,
            problem: "no such column",
        })
    }

    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?.ok_or(DbError::Decode {
            column: i,
            problem: "NULL where a number was expected",
        })
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Text(_) => Err(DbError::Decode {
                column: i,
                problem: "text where a number was expected",
            }),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or(DbError::Decode {
            column: i,
            problem: "NULL where text was expected",
        })
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v.clone())),
            Cell::Int(_) => Err(DbError::Decode {
                column: i,
                problem: "a number where text was expected",
            }),
        }
    }
}

/// One statement of a write batch.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Value>,
    /// Rows it must change, else the batch is rolled back with
    /// [`DbError::Conflict`].
    pub expect: Option<u64>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Stmt {
        Stmt {
            sql: sql.into(),
            params,
            expect: None,
        }
    }

    pub fn expect_rows(mut self, rows: u64) -> Stmt {
        self.expect = Some(rows);
        self
    }
}

/// Storage errors. Messages name the statement (its first line) or the
/// file/URL, never parameter values (they may hold secrets).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("opening {what}: {message}")]
    Open { what: String, message: String },
    #[error("statement {sql:?}: {message}")]
    Query { sql: String, message: String },
    #[error("statement {sql:?} changed {got} rows, expected {expected}")]
    Conflict {
        sql: String,
        expected: u64,
        got: u64,
    },
    #[error("column {column}: {problem}")]
    Decode {
        column: usize,
        problem: &'static str,
    },
    #[error("migration {version} ({name}): {message}")]
    Migration {
        version: i64,
        name: String,
        message: String,
    },
    #[error("refused before commit: {0}")]
    Gate(String),
    /// The gate ran (the audit record is written) but the commit failed:
    /// nothing changed.
    #[error("commit failed after the audit record was written: {0}")]
    Commit(String),
    #[error("storage worker: {0}")]
    Worker(String),
}

impl DbError {
    pub(crate) fn query(sql: &str, message: impl ToString) -> DbError {
        DbError::Query {
            sql: sql
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .chars()
                .take(120)
                .collect(),
            message: message.to_string(),
        }
    }
}

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbSpec {
    Sqlite(PathBuf),
    /// `postgres://...` (`?host=/socket/dir` for a unix socket).
    Postgres(String),
}

impl DbSpec {
    /// `postgres://`/`postgresql://` URLs, else a SQLite file path.
    pub fn parse(text: &str) -> DbSpec {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            DbSpec::Postgres(text.to_owned())
        } else {
            DbSpec::Sqlite(PathBuf::from(text))
        }
    }

    /// For logs: the file, or the URL without credentials.
    pub fn describe(&self) -> String {
        match self {
            DbSpec::Sqlite(path) => format!("sqlite:{}", path.display()),
            DbSpec::Postgres(url) => match url.split_once('@') {
                Some((scheme_user, rest)) => {
                    let scheme = scheme_user.split("//").next().unwrap_or("postgres:");
                    format!("{scheme}//***@{rest}")
                }
                None => url.clone(),
            },
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<sqlite::Sqlite>),
    Postgres(postgres::Postgres),
}

/// An open, migrated database.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("engine", &self.engine())
            .finish()
    }
}

/// A function run inside the write transaction, just before the commit.
pub type Gate<T> = Box<dyn FnOnce() -> Result<T, String> + Send + 'static>;

impl Db {
    /// Opens (creating a SQLite file if needed) and applies migrations.
    pub async fn open(spec: &DbSpec) -> Result<Db, DbError> {
        let backend = match spec {
            DbSpec::Sqlite(path) => Backend::Sqlite(Arc::new(sqlite::Sqlite::open(path).await?)),
            DbSpec::Postgres(url) => Backend::Postgres(postgres::Postgres::connect(url).await?),
        };
        let db = Db { backend };
        migrate::run(&db).await?;
        Ok(db)
    }

    pub fn engine(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
        }
    }

    pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
        match &self.backend {
            Backend::Sqlite(db) => db.query(sql, params).await,
            Backend::Postgres(db) => db.query(sql, params).await,
        }
    }

    pub async fn query_one(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs `stmts` in one transaction; runs `gate` before committing and
    /// commits only if it succeeds. Returns rows changed per statement and
    /// the gate's value.
    pub async fn write<T: Send + 'static>(
        &self,
        stmts: Vec<Stmt>,
        gate: Gate<T>,
    ) -> Result<(Vec<u64>, T), DbError> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(stmts, gate).await,
            Backend::Postgres(db) => db.write(stmts, gate).await,
        }
    }

    /// A write with no gate.
    pub async fn write_plain(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, DbError> {
        Ok(self.write(stmts, Box::new(|| Ok(()))).await?.0)
    }
}

/// Checks a statement's changed rows against its expectation.
pub(crate) fn check_expect(stmt: &Stmt, got: u64) -> Result<(), DbError> {
    match stmt.expect {
        Some(expected) if expected != got => Err(DbError::Conflict {
            sql: stmt.sql.lines().next().unwrap_or("").trim().to_owned(),
            expected,
            got,
        }),
        _ => Ok(()),
    }
}
