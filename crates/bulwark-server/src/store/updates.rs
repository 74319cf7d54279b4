//! Updates for the nodes: a versioned log of documents to write (profiles,
//! policies, identity entries), and a notifier for open downlink streams.

use bulwark_control::wire::{Update, UpdateKind};
use tokio::sync::watch;

use super::{Store, StoreError};
use crate::db::{Stmt, Value};

/// Statements appending one update (version from the `updates` counter).
pub(super) fn update_stmts(
    kind: UpdateKind,
    name: &str,
    document: Option<&str>,
    now: i64,
) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "UPDATE counters SET value = value + 1 WHERE name = 'updates'",
            vec![],
        )
        .expect_rows(1),
        Stmt::new(
            "INSERT INTO updates (version, kind, name, document, created_at) \
             VALUES ((SELECT value FROM counters WHERE name = 'updates'), $1, $2, $3, $4)",
            vec![
                kind.as_str().into(),
                name.into(),
                document.map(str::to_owned).into(),
                now.into(),
            ],
        ),
    ]
}

/// Wakes downlink streams when an update is written.
#[derive(Debug)]
pub struct UpdateFeed {
    tx: watch::Sender<u64>,
}

impl Default for UpdateFeed {
    fn default() -> Self {
        UpdateFeed {
            tx: watch::channel(0).0,
        }
    }
}

impl UpdateFeed {
    pub fn notify(&self, latest: u64) {
        self.tx.send_if_modified(|v| {
            let newer = latest > *v;
            if newer {
                *v = latest;
            }
            newer
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

impl Store {
    pub async fn latest_update(&self) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one("SELECT value FROM counters WHERE name = 'updates'", vec![])
            .await?;
        Ok(row
            .map(|r| r.int(0))
            .transpose()?
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// Updates after `since`, oldest first, at most `limit`.
    pub async fn updates_since(&self, since: u64, limit: i64) -> Result<Vec<Update>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT version, kind, name, document FROM updates WHERE version > $1 ORDER BY version LIMIT $2",
                vec![Value::from(since), Value::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let kind = r.text(1)?;
                Ok(Update {
                    version: u64::try_from(r.int(0)?).unwrap_or(0),
                    kind: UpdateKind::parse(&kind)
                        .ok_or_else(|| StoreError::corrupt("update kind", kind))?,
                    name: r.text(2)?,
                    document: r.opt_text(3)?,
                })
            })
            .collect()
    }
}
