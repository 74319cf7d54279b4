//! What the API returns and accepts (JSON, described in the OpenAPI
//! document). Times are Unix milliseconds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user or service account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub name: String,
    /// `user` (may log in with a password) or `service` (tokens only).
    pub kind: String,
    pub created_at: i64,
    pub disabled: bool,
}

/// An API token or dashboard session (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub owner: String,
    pub name: String,
    /// `api` or `session`.
    pub kind: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A token just created: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub expires_at: Option<i64>,
}

/// Who a binding applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubjectView {
    /// `user` or `spiffe` (a SPIFFE ID, or a prefix ending in `/*`).
    pub kind: String,
    pub name: String,
}

/// A role binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BindingView {
    pub id: String,
    pub subject: SubjectView,
    pub role: String,
    /// `cluster`, `namespace:NS` or `workload:PATTERN`.
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A built-in role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    /// `verb resource` pairs.
    pub permissions: Vec<String>,
}

/// A node (agent), identified by its SVID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// No report within the server's stale interval.
    pub stale: bool,
    pub events: i64,
    pub events_lost: i64,
    pub alerts_dropped: i64,
    /// The newest update version that took effect on the node (applied to
    /// its engine, or written where its consumer reads it).
    pub applied_update: i64,
    /// The newest update the node refused, until a later update of the same
    /// document took effect.
    pub update_failure: Option<UpdateFailureView>,
    /// Alerts the agent handed to its uplink.
    pub alerts: i64,
    /// Events dropped at the sensor's queue (part of `events_lost`).
    pub queue_drops: i64,
    /// Connections not counted in flows (the agent's flow table was full).
    pub flows_dropped: i64,
}

/// An update a node did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdateFailureView {
    pub version: i64,
    /// `WorkloadProfile`, `EnforcementPolicy`, ...
    pub kind: String,
    pub name: String,
    /// One line naming the problem.
    pub reason: String,
}

/// Enforcement modes per behaviour class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModesView {
    pub process: String,
    pub file: String,
    pub network: String,
    pub capability: String,
}

/// A workload and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadView {
    pub id: String,
    pub namespace: String,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub containers_running: i64,
    pub profile_version: Option<i64>,
    pub modes: Option<ModesView>,
}

/// A workload's profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub workload: String,
    pub namespace: String,
    pub version: i64,
    pub modes: ModesView,
    /// The `kind: WorkloadProfile` YAML document.
    pub document: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A stored alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    /// The server's id of this occurrence.
    pub id: String,
    pub seq: i64,
    pub node: String,
    pub namespace: String,
    pub received_at: i64,
    /// The silence that held it back from the sinks, if any.
    pub silenced_by: Option<String>,
    /// The alert as the agent sent it (severity, workload, reason, ancestry, ...).
    #[schema(value_type = Object)]
    pub alert: serde_json::Value,
}

/// A silence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    #[schema(value_type = Object)]
    pub matcher: serde_json::Value,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An alert routing rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RouteView {
    pub name: String,
    /// `{min_severity, namespace?, workload?, sinks: [...]}`.
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    pub created_by: String,
    pub created_at: i64,
}

/// A scanned image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImageView {
    pub digest: String,
    pub reference: String,
    pub scanned_at: i64,
    pub packages: i64,
    /// CIS section 4 checks of its configuration.
    #[schema(value_type = Vec<Object>)]
    pub checks: serde_json::Value,
    /// Findings per severity name.
    #[schema(value_type = Object)]
    pub findings: serde_json::Value,
    /// Its layers, base first.
    pub layers: Vec<LayerView>,
}

/// One layer of a scanned image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LayerView {
    /// Position, 0 = base.
    pub index: u32,
    /// `sha256:` digest of the uncompressed layer.
    pub diff_id: String,
    /// The build step that made it, when the image records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// One vulnerability finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub image_digest: String,
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    pub severity: String,
    pub summary: String,
    /// The layer (diff id) that brought the package, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

/// A stored policy or identity document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub kind: String,
    pub name: String,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
    /// The YAML document.
    pub document: String,
}

/// A node of the connection graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GraphNode {
    pub id: String,
    /// `workload` or `external`.
    pub kind: String,
    pub namespace: String,
}

/// Connections from one identity to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GraphEdge {
    pub src: String,
    pub dst: String,
    pub port: i64,
    pub protocol: String,
    pub count: i64,
    pub last_seen: i64,
}

/// The identity-to-identity connection graph.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GraphView {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// An error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable: `unauthenticated`, `forbidden`, `not_found`, ...
    pub error: String,
    pub message: String,
    pub request_id: String,
}
