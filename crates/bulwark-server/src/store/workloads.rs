//! Workloads, their containers, and the connection graph between them.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_control::compliance::ContainerFacts;
use bulwark_control::rbac::{Permit, namespace_of, resources, verbs};

use super::{Store, StoreError, scope_clause};
use crate::db::{Row, Value};
use crate::model::{GraphEdge, GraphNode, GraphView, ModesView, WorkloadView};

const COLS: &str = "w.id, w.namespace, w.image, w.image_digest, w.first_seen, w.last_seen, \
    (SELECT COUNT(*) FROM containers c WHERE c.workload = w.id AND c.running = 1), p.version, p.modes";

fn view(r: &Row) -> Result<WorkloadView, StoreError> {
    let modes = r
        .opt_text(8)?
        .map(|m| serde_json::from_str::<ModesView>(&m))
        .transpose()
        .map_err(|e| StoreError::corrupt("profile modes", e))?;
    Ok(WorkloadView {
        id: r.text(0)?,
        namespace: r.text(1)?,
        image: r.opt_text(2)?,
        image_digest: r.opt_text(3)?,
        first_seen: r.int(4)?,
        last_seen: r.int(5)?,
        containers_running: r.int(6)?,
        profile_version: r.opt_int(7)?,
        modes,
    })
}

/// A running container with its compliance facts.
#[derive(Clone, Debug)]
pub struct ContainerRow {
    pub id: String,
    pub node: String,
    pub workload: String,
    pub namespace: String,
    pub facts: Option<ContainerFacts>,
}

impl Store {
    pub async fn list_workloads(
        &self,
        permit: &Permit<verbs::List, resources::Workloads>,
    ) -> Result<Vec<WorkloadView>, StoreError> {
        let mut params = Vec::new();
        let scope = scope_clause(permit.filter(), "w.namespace", "w.id", &mut params);
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {COLS} FROM workloads w LEFT JOIN profiles p ON p.workload = w.id \
                     WHERE {scope} ORDER BY w.id LIMIT 5000"
                ),
                params,
            )
            .await?;
        rows.iter().map(view).collect()
    }

    pub async fn get_workload(
        &self,
        _permit: &Permit<verbs::Get, resources::Workloads>,
        id: &str,
    ) -> Result<WorkloadView, StoreError> {
        let row = self
            .db
            .query_one(
                &format!("SELECT {COLS} FROM workloads w LEFT JOIN profiles p ON p.workload = w.id WHERE w.id = $1"),
                vec![Value::from(id)],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("workload {id}")))?;
        view(&row)
    }

    /// Running containers the permit reaches (for compliance).
    pub async fn running_containers(
        &self,
        permit: &Permit<verbs::List, resources::Compliance>,
    ) -> Result<Vec<ContainerRow>, StoreError> {
        let mut params = Vec::new();
        let scope = scope_clause(permit.filter(), "namespace", "workload", &mut params);
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT id, node, workload, namespace, facts FROM containers \
                     WHERE running = 1 AND {scope} ORDER BY workload, id LIMIT 10000"
                ),
                params,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ContainerRow {
                    id: r.text(0)?,
                    node: r.text(1)?,
                    workload: r.text(2)?,
                    namespace: r.text(3)?,
                    facts: r
                        .opt_text(4)?
                        .map(|f| serde_json::from_str(&f))
                        .transpose()
                        .map_err(|e| StoreError::corrupt("container facts", e))?,
                })
            })
            .collect()
    }

    /// The identity-to-identity graph: flows the agents attributed to a
    /// destination workload themselves, and flows from workloads to
    /// addresses, with each address resolved to the workload listening
    /// there (exact address first, then a wildcard listener on the port)
    /// or kept as an external peer.
    pub async fn graph(
        &self,
        permit: &Permit<verbs::List, resources::Workloads>,
    ) -> Result<GraphView, StoreError> {
        let listeners = self.listeners().await?;
        let rows = self
            .db
            .query(
                "SELECT src, dst, port, protocol, count, last_seen FROM flows ORDER BY count DESC LIMIT 5000",
                vec![],
            )
            .await?;
        let filter = permit.filter();
        let visible = |w: &str| filter.allows(namespace_of(w), Some(w));
        let attributed = self
            .db
            .query(
                "SELECT src, dst, port, protocol, count, last_seen FROM workload_flows ORDER BY count DESC LIMIT 5000",
                vec![],
            )
            .await?;
        let mut edges: BTreeMap<(String, String, i64, String), GraphEdge> = BTreeMap::new();
        let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
        let rows = attributed
            .iter()
            .map(|r| (r, true))
            .chain(rows.iter().map(|r| (r, false)));
        for (r, by_agent) in rows {
            let (src, to, port, proto) = (r.text(0)?, r.text(1)?, r.int(2)?, r.text(3)?);
            if !visible(&src) {
                continue;
            }
            let dst = if by_agent {
                to
            } else {
                resolve(&listeners, &to, port, &proto).unwrap_or_else(|| peer(&to, port))
            };
            let dst_is_workload = by_agent || listeners_contain(&listeners, &dst);
            if dst_is_workload && !visible(&dst) {
                continue;
            }
            for (id, kind) in [
                (&src, "workload"),
                (
                    &dst,
                    if dst_is_workload {
                        "workload"
                    } else {
                        "external"
                    },
                ),
            ] {
                nodes.entry(id.clone()).or_insert_with(|| GraphNode {
                    id: id.clone(),
                    kind: kind.into(),
                    namespace: if kind == "workload" {
                        namespace_of(id).into()
                    } else {
                        String::new()
                    },
                });
            }
            let key = (src.clone(), dst.clone(), port, proto.clone());
            let e = edges.entry(key).or_insert_with(|| GraphEdge {
                src,
                dst,
                port,
                protocol: proto,
                count: 0,
                last_seen: 0,
            });
            e.count += r.int(4)?;
            e.last_seen = e.last_seen.max(r.int(5)?);
        }
        Ok(GraphView {
            nodes: nodes.into_values().collect(),
            edges: edges.into_values().collect(),
        })
    }

    async fn listeners(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = self
            .db
            .query("SELECT addr, protocol, workload FROM listeners", vec![])
            .await?;
        rows.iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
            .collect()
    }
}

fn peer(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The workload listening on `ip:port`: an exact listener, else the only
/// workload listening on any address at that port.
fn resolve(
    listeners: &[(String, String, String)],
    ip: &str,
    port: i64,
    proto: &str,
) -> Option<String> {
    let exact = peer(ip, port);
    if let Some((_, _, w)) = listeners.iter().find(|(a, p, _)| *a == exact && p == proto) {
        return Some(w.clone());
    }
    let wildcard: BTreeSet<&String> = listeners
        .iter()
        .filter(|(a, p, _)| {
            p == proto && (*a == format!("0.0.0.0:{port}") || *a == format!("[::]:{port}"))
        })
        .map(|(_, _, w)| w)
        .collect();
    match wildcard.into_iter().collect::<Vec<_>>().as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

fn listeners_contain(listeners: &[(String, String, String)], id: &str) -> bool {
    listeners.iter().any(|(_, _, w)| w == id)
}

impl Store {
    /// The modes of every workload's profile (empty: no profile yet), for
    /// the platform-wide compliance assessment.
    pub async fn all_modes(&self) -> Result<Vec<Vec<String>>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT p.modes FROM workloads w LEFT JOIN profiles p ON p.workload = w.id",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(match r.opt_text(0)? {
                    None => Vec::new(),
                    Some(m) => {
                        let m: ModesView = serde_json::from_str(&m)
                            .map_err(|e| StoreError::corrupt("profile modes", e))?;
                        vec![m.process, m.file, m.network, m.capability]
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(addr: &str, w: &str) -> (String, String, String) {
        (addr.into(), "tcp".into(), w.into())
    }

    #[test]
    fn peers_resolve_to_exact_then_unique_wildcard_listeners() {
        let ls = vec![
            l("10.0.0.2:80", "web"),
            l("0.0.0.0:5432", "db"),
            l("0.0.0.0:53", "dns1"),
            l("[::]:53", "dns2"),
        ];
        assert_eq!(resolve(&ls, "10.0.0.2", 80, "tcp").as_deref(), Some("web"));
        assert_eq!(resolve(&ls, "10.0.0.9", 5432, "tcp").as_deref(), Some("db"));
        assert_eq!(
            resolve(&ls, "10.0.0.9", 53, "tcp"),
            None,
            "two workloads listen on 53"
        );
        assert_eq!(resolve(&ls, "10.0.0.2", 80, "udp"), None);
        assert_eq!(peer("::1", 80), "[::1]:80");
    }
}
