//! Storing an agent's report: one transaction per report, de-duplicated
//! by (agent run, sequence number), audited before it commits. Only a
//! [`Screened`] report is stored: the node's claims about other nodes'
//! containers and workloads are already taken out.

use bulwark_control::rbac::{Permit, namespace_of, resources, verbs};
use bulwark_control::routing::{AlertMeta, Silence, silenced_by};
use bulwark_control::wire::{ContainerReport, Report};
use bulwark_core::Alert;

use super::ownership::Screened;
use super::{Store, StoreError, severity_rank};
use crate::db::{DbError, Gate, Stmt, Value};

/// An alert as stored, for routing to sinks after the commit.
#[derive(Clone, Debug)]
pub struct StoredAlert {
    pub id: String,
    pub alert: Alert,
    pub silenced_by: Option<String>,
}

/// What storing a report did.
#[derive(Debug)]
pub struct IngestOutcome<T> {
    /// False for a resend of a report already stored.
    pub stored: bool,
    pub alerts: Vec<StoredAlert>,
    pub gate: Option<T>,
    /// What the screening took out of the report.
    pub rejected: Vec<String>,
}

fn ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn node_stmts(node: &str, r: &Report, now: i64) -> Vec<Stmt> {
    vec![
        Stmt::new(
            "INSERT INTO nodes (id, hostname, version, boot, last_seq, first_seen, last_seen) \
             VALUES ($1, $2, $3, '', -1, $4, $4) ON CONFLICT (id) DO NOTHING",
            vec![node.into(), r.agent.hostname.clone().into(), r.agent.version.clone().into(), now.into()],
        ),
        Stmt::new(
            "UPDATE nodes SET hostname = $1, version = $2, boot = $3, last_seq = $4, last_seen = $5, \
             stale = 0, events = $6, events_lost = $7, alerts_dropped = $8, applied_update = $9, \
             update_failure = $11, alerts = $12, queue_drops = $13, flows_dropped = $14 \
             WHERE id = $10 AND (boot <> $3 OR last_seq < $4)",
            vec![
                r.agent.hostname.clone().into(),
                r.agent.version.clone().into(),
                r.boot.clone().into(),
                r.seq.into(),
                now.into(),
                r.counters.events.into(),
                r.counters.events_lost.into(),
                r.counters.alerts_dropped.into(),
                r.applied_update.into(),
                node.into(),
                r.update_failure
                    .as_ref()
                    .and_then(|f| serde_json::to_string(f).ok())
                    .into(),
                r.counters.alerts.into(),
                r.counters.queue_drops.into(),
                r.counters.flows_dropped.into(),
            ],
        )
        .expect_rows(1),
    ]
}

fn alert_stmts(
    node: &str,
    alerts: &[Alert],
    silences: &[Silence],
    now: i64,
) -> Result<(Vec<Stmt>, Vec<StoredAlert>), StoreError> {
    let n = i64::try_from(alerts.len()).unwrap_or(i64::MAX);
    let mut stmts = vec![Stmt::new(
        "UPDATE counters SET value = value + $1 WHERE name = 'alerts'",
        vec![n.into()],
    )];
    let mut stored = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let meta = AlertMeta::of(alert);
        let silence = silenced_by(silences, &meta, now).map(|s| s.id.clone());
        let id = crate::auth::secret::new_id().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let body = serde_json::to_string(alert).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let back = n - i64::try_from(i).unwrap_or(0) - 1;
        stmts.push(Stmt::new(
            "INSERT INTO alerts (id, seq, alert_id, node, workload, namespace, severity, rule, time, received_at, body, silenced_by) \
             VALUES ($1, (SELECT value FROM counters WHERE name = 'alerts') - $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            vec![
                id.clone().into(),
                back.into(),
                alert.id.clone().into(),
                node.into(),
                meta.workload.into(),
                meta.namespace.into(),
                severity_rank(alert.severity).into(),
                meta.rule.into(),
                ms(alert.time).into(),
                now.into(),
                body.into(),
                silence.clone().into(),
            ],
        ));
        if let Some(w) = &alert.workload {
            stmts.push(workload_stmt(
                w.as_str(),
                alert.image_digest.as_deref(),
                None,
                now,
            ));
        }
        stored.push(StoredAlert {
            id,
            alert: alert.clone(),
            silenced_by: silence,
        });
    }
    Ok((stmts, stored))
}

fn workload_stmt(id: &str, digest: Option<&str>, image: Option<&str>, now: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO workloads (id, namespace, image, image_digest, first_seen, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, \
         image = COALESCE(excluded.image, workloads.image), \
         image_digest = COALESCE(excluded.image_digest, workloads.image_digest)",
        vec![
            id.into(),
            namespace_of(id).into(),
            image.into(),
            digest.into(),
            now.into(),
        ],
    )
}

fn container_stmts(node: &str, c: &ContainerReport, now: i64) -> Result<Vec<Stmt>, StoreError> {
    let facts = c
        .facts
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(vec![
        workload_stmt(
            &c.workload,
            c.image_digest.as_deref(),
            c.image.as_deref(),
            now,
        ),
        Stmt::new(
            "INSERT INTO containers (id, node, workload, namespace, image, image_digest, running, facts, first_seen, last_seen) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO UPDATE SET \
             node = excluded.node, workload = excluded.workload, namespace = excluded.namespace, \
             image = excluded.image, image_digest = excluded.image_digest, running = excluded.running, \
             facts = COALESCE(excluded.facts, containers.facts), last_seen = excluded.last_seen \
             WHERE containers.node = excluded.node OR containers.running = 0",
            vec![
                c.id.clone().into(),
                node.into(),
                c.workload.clone().into(),
                namespace_of(&c.workload).into(),
                c.image.clone().into(),
                c.image_digest.clone().into(),
                c.running.into(),
                facts.into(),
                now.into(),
            ],
        ),
    ])
}

/// Before a complete container list: the node's containers not in it
/// have stopped (or were removed).
fn stopped_stmt(node: &str) -> Stmt {
    Stmt::new(
        "UPDATE containers SET running = 0 WHERE node = $1 AND running = 1",
        vec![node.into()],
    )
}

fn network_stmts(r: &Report, now: i64) -> Vec<Stmt> {
    let mut stmts = Vec::new();
    for f in &r.flows {
        if let Some(dst) = &f.dst_workload {
            stmts.push(Stmt::new(
                "INSERT INTO workload_flows (src, dst, port, protocol, count, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (src, dst, port, protocol) DO UPDATE SET \
                 count = workload_flows.count + excluded.count, \
                 last_seen = excluded.last_seen",
                vec![
                    f.src.clone().into(),
                    dst.clone().into(),
                    i64::from(f.dst.port()).into(),
                    f.protocol.clone().into(),
                    f.count.into(),
                    f.last_seen.min(now).into(),
                ],
            ));
            continue;
        }
        stmts.push(Stmt::new(
            "INSERT INTO flows (src, dst, port, protocol, count, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (src, dst, port, protocol) DO UPDATE SET count = flows.count + excluded.count, \
             last_seen = excluded.last_seen",
            vec![
                f.src.clone().into(),
                f.dst.ip().to_string().into(),
                i64::from(f.dst.port()).into(),
                f.protocol.clone().into(),
                f.count.into(),
                f.last_seen.min(now).into(),
            ],
        ));
    }
    for l in &r.listeners {
        stmts.push(Stmt::new(
            "INSERT INTO listeners (addr, protocol, workload, last_seen) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (addr, protocol) DO UPDATE SET workload = excluded.workload, last_seen = excluded.last_seen",
            vec![l.addr.to_string().into(), l.protocol.clone().into(), l.workload.clone().into(), now.into()],
        ));
    }
    stmts
}

fn profile_stmts(r: &Report, node: &str, now: i64) -> Result<Vec<Stmt>, StoreError> {
    let mut stmts = Vec::new();
    for doc in &r.profiles {
        let parsed = bulwark_profile::parse(&doc.yaml, &format!("profile of {}", doc.workload))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let [profile] = parsed.as_slice() else {
            return Err(StoreError::Invalid(format!(
                "profile of {}: expected exactly one document",
                doc.workload
            )));
        };
        let workload = profile.metadata.name.as_str();
        if workload != doc.workload {
            return Err(StoreError::Invalid(format!(
                "profile sent for {} names workload {workload}",
                doc.workload
            )));
        }
        let modes = super::profiles::modes_json(&profile.spec.modes)?;
        stmts.push(workload_stmt(workload, None, None, now));
        stmts.push(Stmt::new(
            "INSERT INTO profiles (workload, namespace, document, version, modes, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workload) DO UPDATE SET \
             document = excluded.document, version = excluded.version, modes = excluded.modes, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by \
             WHERE profiles.version < excluded.version",
            vec![
                workload.into(),
                namespace_of(workload).into(),
                doc.yaml.clone().into(),
                profile.metadata.version.into(),
                modes.into(),
                now.into(),
                node.into(),
            ],
        ));
    }
    Ok(stmts)
}

impl Store {
    /// Active silences (for routing at ingest).
    pub async fn active_silences(&self, now: i64) -> Result<Vec<Silence>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, matcher, expires_at FROM silences WHERE expires_at > $1",
                vec![Value::from(now)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Silence {
                    id: r.text(0)?,
                    matcher: serde_json::from_str(&r.text(1)?)
                        .map_err(|e| StoreError::corrupt("silence matcher", e))?,
                    expires_at: r.int(2)?,
                })
            })
            .collect()
    }

    /// Stores one screened report (from its node's verified SPIFFE ID).
    pub async fn ingest<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Create, resources::AgentStream>,
        screened: &Screened,
        gate: Gate<T>,
    ) -> Result<IngestOutcome<T>, StoreError> {
        let (node, report) = (screened.node(), screened.report());
        report.check_limits().map_err(StoreError::Invalid)?;
        let now = crate::now_ms();
        let silences = self.active_silences(now).await?;
        let mut stmts = node_stmts(node, report, now);
        let (alert_stmts, alerts) = alert_stmts(node, &report.alerts, &silences, now)?;
        stmts.extend(alert_stmts);
        if report.containers_complete {
            stmts.push(stopped_stmt(node));
        }
        for c in &report.containers {
            stmts.extend(container_stmts(node, c, now)?);
        }
        stmts.extend(network_stmts(report, now));
        stmts.extend(profile_stmts(report, node, now)?);
        match self.db.write(stmts, gate).await {
            Ok((_, v)) => Ok(IngestOutcome {
                stored: true,
                alerts,
                gate: Some(v),
                rejected: screened.rejected().to_vec(),
            }),
            // The sequence check: a resend of something already stored.
            Err(DbError::Conflict { .. }) => Ok(IngestOutcome {
                stored: false,
                alerts: Vec::new(),
                gate: None,
                rejected: screened.rejected().to_vec(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}
