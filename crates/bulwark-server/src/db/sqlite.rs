//! SQLite through rusqlite (bundled), on blocking threads: one writer
//! connection, a small pool of readers (WAL lets them read while the
//! writer writes). `synchronous=FULL`: a commit is on disk when it returns.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{Cell, DbError, Gate, Row, Stmt, Value, check_expect};

const MAX_IDLE_READERS: usize = 8;

pub(super) struct Sqlite {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

fn open_conn(path: &Path) -> Result<Connection, DbError> {
    let err = |e: rusqlite::Error| DbError::Open {
        what: path.display().to_string(),
        message: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(err)?;
    Ok(conn)
}

/// `$1` -> `?1` (SQLite's numbered parameters), outside string literals.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_string = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
        }
        if c == '$' && !in_string && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn bind(values: &[Value]) -> Vec<rusqlite::types::Value> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(Some(i)) => rusqlite::types::Value::Integer(*i),
            Value::Text(Some(s)) => rusqlite::types::Value::Text(s.clone()),
            Value::Int(None) | Value::Text(None) => rusqlite::types::Value::Null,
        })
        .collect()
}

fn read_rows(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let q = |e: rusqlite::Error| DbError::query(sql, e);
    let mut stmt = conn.prepare_cached(&placeholders(sql)).map_err(q)?;
    let n = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(bind(params)))
        .map_err(q)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(q)? {
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            cells.push(match row.get_ref(i).map_err(q)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Real(_) | ValueRef::Blob(_) => {
                    return Err(DbError::Decode {
                        column: i,
                        problem: "unexpected REAL or BLOB",
                    });
                }
            });
        }
        out.push(Row(cells));
    }
    Ok(out)
}

fn execute(conn: &Connection, stmt: &Stmt) -> Result<u64, DbError> {
    let q = |e: rusqlite::Error| DbError::query(&stmt.sql, e);
    let mut prepared = conn.prepare_cached(&placeholders(&stmt.sql)).map_err(q)?;
    let changed = prepared
        .execute(rusqlite::params_from_iter(bind(&stmt.params)))
        .map_err(q)?;
    Ok(changed as u64)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Worker(e.to_string()))?
}

impl Sqlite {
    pub(super) async fn open(path: &Path) -> Result<Sqlite, DbError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let writer = blocking(move || {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| DbError::Open {
                    what: dir.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            open_conn(&p)
        })
        .await?;
        Ok(Sqlite {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
        let sql = sql.to_owned();
        let path = self.path.clone();
        let readers = Arc::clone(&self.readers);
        blocking(move || {
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_conn(&path)?,
            };
            let result = read_rows(&conn, &sql, &params);
            let mut idle = readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
    }

    pub(super) async fn write<T: Send + 'static>(
        &self,
        stmts: Vec<Stmt>,
        gate: Gate<T>,
    ) -> Result<(Vec<u64>, T), DbError> {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| DbError::query("BEGIN IMMEDIATE", e))?;
            let result = run_batch(&conn, &stmts, gate);
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = conn.execute_batch(end);
            match (result, ended) {
                (Ok(v), Ok(())) => Ok(v),
                (Err(e), _) => Err(e),
                // The gate ran last in the batch: its record is written.
                (Ok(_), Err(e)) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(DbError::Commit(e.to_string()))
                }
            }
        })
        .await
    }
}

fn run_batch<T>(
    conn: &Connection,
    stmts: &[Stmt],
    gate: Gate<T>,
) -> Result<(Vec<u64>, T), DbError> {
    let mut changed = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        let n = execute(conn, stmt)?;
        check_expect(stmt, n)?;
        changed.push(n);
    }
    let value = gate().map_err(DbError::Gate)?;
    Ok((changed, value))
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_numbered_outside_strings() {
        assert_eq!(
            placeholders("SELECT $1, '$2', $10 FROM t WHERE a = $2"),
            "SELECT ?1, '$2', ?10 FROM t WHERE a = ?2"
        );
        assert_eq!(placeholders("SELECT '$' || $1"), "SELECT '$' || ?1");
    }
}
