//! A node reports only about itself: before a report is stored, every
//! container it names must not be running on another node, and every
//! flow, listener and profile must be of a workload that has a container
//! on this node (stored earlier or in this report). What fails is taken
//! out of the report and named in [`Screened::rejected`]; the rest is
//! stored. [`Screened`] is the proof the check ran: `ingest` takes
//! nothing else.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_control::wire::Report;

use super::{Store, StoreError};
use crate::db::Value;

/// Most rejection messages kept (the count of the rest is added).
const MAX_REJECTED: usize = 50;
/// Container ids per lookup query.
const CHUNK: usize = 500;

/// A report reduced to what the node may say about itself.
#[derive(Debug)]
pub struct Screened {
    node: String,
    report: Report,
    rejected: Vec<String>,
}

impl Screened {
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    /// What was taken out, each with the reason.
    pub fn rejected(&self) -> &[String] {
        &self.rejected
    }
}

struct Rejections(Vec<String>, usize);

impl Rejections {
    fn push(&mut self, message: String) {
        if self.0.len() < MAX_REJECTED {
            self.0.push(message);
        }
        self.1 += 1;
    }

    fn finish(mut self) -> Vec<String> {
        if self.1 > self.0.len() {
            let more = self.1 - self.0.len();
            self.0.push(format!("...and {more} more"));
        }
        self.0
    }
}

impl Store {
    /// Checks `report` from `node` (its verified SPIFFE ID) against what
    /// other nodes run.
    pub async fn screen(&self, node: &str, mut report: Report) -> Result<Screened, StoreError> {
        let elsewhere = self.running_elsewhere(node, &report).await?;
        let mut rejected = Rejections(Vec::new(), 0);
        report.containers.retain(|c| match elsewhere.get(&c.id) {
            Some(other) => {
                rejected.push(format!("container {}: runs on node {other}", c.id));
                false
            }
            None => true,
        });
        let mut own = self.node_workloads(node).await?;
        own.extend(report.containers.iter().map(|c| c.workload.clone()));
        let not_here = |w: &str| format!("workload {w} has no container on this node");
        report.flows.retain(|f| {
            let bad = std::iter::once(f.src.as_str())
                .chain(f.dst_workload.as_deref())
                .find(|w| !own.contains(*w));
            if let Some(w) = bad {
                rejected.push(format!("flow {} -> {}: {}", f.src, f.dst, not_here(w)));
            }
            bad.is_none()
        });
        report.listeners.retain(|l| {
            let ok = own.contains(&l.workload);
            if !ok {
                rejected.push(format!("listener {}: {}", l.addr, not_here(&l.workload)));
            }
            ok
        });
        report.profiles.retain(|p| {
            let ok = own.contains(&p.workload);
            if !ok {
                rejected.push(format!("profile: {}", not_here(&p.workload)));
            }
            ok
        });
        Ok(Screened {
            node: node.to_owned(),
            report,
            rejected: rejected.finish(),
        })
    }

    /// Container id -> the other node it runs on, for the report's ids.
    async fn running_elsewhere(
        &self,
        node: &str,
        report: &Report,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut out = BTreeMap::new();
        for chunk in report.containers.chunks(CHUNK) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let mut params = vec![Value::from(node)];
            params.extend(chunk.iter().map(|c| Value::from(c.id.as_str())));
            let rows = self
                .db
                .query(
                    &format!(
                        "SELECT id, node FROM containers WHERE running = 1 AND node <> $1 AND id IN ({})",
                        marks.join(", ")
                    ),
                    params,
                )
                .await?;
            for r in &rows {
                out.insert(r.text(0)?, r.text(1)?);
            }
        }
        Ok(out)
    }

    /// Workloads with a container (running or not) on `node`.
    async fn node_workloads(&self, node: &str) -> Result<BTreeSet<String>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT DISTINCT workload FROM containers WHERE node = $1",
                vec![Value::from(node)],
            )
            .await?;
        rows.iter().map(|r| Ok(r.text(0)?)).collect()
    }
}
