//! PostgreSQL through sqlx, with runtime queries only (no `query!` macros,
//! so building needs no database).

use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Column, Postgres as Pg, Row as _, TypeInfo};

use super::{Cell, DbError, Gate, Row, Stmt, Value, check_expect};

#[derive(Clone)]
pub(super) struct Postgres {
    pool: PgPool,
}

/// A query over one of the store's statements. Every statement text is a
/// constant written in this crate (values always travel as bound
/// parameters), which is what makes the `AssertSqlSafe` true.
fn statement(sql: &str) -> Query<'_, Pg, PgArguments> {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
}

fn bind<'q>(mut q: Query<'q, Pg, PgArguments>, params: &'q [Value]) -> Query<'q, Pg, PgArguments> {
    for p in params {
        q = match p {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.as_deref()),
        };
    }
    q
}

fn decode(row: &PgRow) -> Result<Row, DbError> {
    let mut cells = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let bad = |problem| DbError::Decode { column: i, problem };
        let cell = match col.type_info().name() {
            "INT8" => row
                .try_get::<Option<i64>, _>(i)
                .map_err(|_| bad("unreadable INT8"))?
                .map_or(Cell::Null, Cell::Int),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)
                .map_err(|_| bad("unreadable INT4"))?
                .map_or(Cell::Null, |v| Cell::Int(i64::from(v))),
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => row
                .try_get::<Option<String>, _>(i)
                .map_err(|_| bad("unreadable TEXT"))?
                .map_or(Cell::Null, Cell::Text),
            _ => return Err(bad("column type is neither BIGINT nor TEXT")),
        };
        cells.push(cell);
    }
    Ok(Row(cells))
}

impl Postgres {
    pub(super) async fn connect(url: &str) -> Result<Postgres, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| DbError::Open {
                what: super::DbSpec::Postgres(url.to_owned()).describe(),
                message: e.to_string(),
            })?;
        Ok(Postgres { pool })
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
        let rows = bind(statement(sql), &params)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| DbError::query(sql, e))?;
        rows.iter().map(decode).collect()
    }

    pub(super) async fn write<T: Send + 'static>(
        &self,
        stmts: Vec<Stmt>,
        gate: Gate<T>,
    ) -> Result<(Vec<u64>, T), DbError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| DbError::query("BEGIN", e))?;
        let mut changed = Vec::with_capacity(stmts.len());
        for stmt in &stmts {
            let done = bind(statement(&stmt.sql), &stmt.params)
                .execute(&mut *tx)
                .await
                .map_err(|e| DbError::query(&stmt.sql, e))?;
            check_expect(stmt, done.rows_affected())?;
            changed.push(done.rows_affected());
        }
        let value = tokio::task::spawn_blocking(gate)
            .await
            .map_err(|e| DbError::Worker(e.to_string()))?
            .map_err(DbError::Gate)?;
        tx.commit()
            .await
            .map_err(|e| DbError::Commit(e.to_string()))?;
        Ok((changed, value))
    }
}
