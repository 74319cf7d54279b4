//! Scan results and their output formats: a table for people, JSON,
//! SARIF 2.1.0 for code-scanning tools, and a CycloneDX 1.6 vulnerability
//! disclosure report (VDR).

use bulwark_core::Severity;
use serde::Serialize;

use crate::matcher::{Finding, MatchWarning};
use crate::vex::Suppression;

mod cyclonedx;
mod sarif;
mod table;

pub use cyclonedx::cyclonedx;
pub use sarif::sarif;
pub use table::table;

/// What was scanned.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The key the SBOM and its findings are stored under for the
    /// continuous re-match (`bulwark findings`, `explain`).
    pub stored_as: String,
    /// The image's layers, base first: what each finding's `layer` names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<TargetLayer>,
}

/// One layer of the scanned image.
#[derive(Clone, Debug, Serialize)]
pub struct TargetLayer {
    /// Position, 0 = base.
    pub index: usize,
    /// `sha256:` of the uncompressed layer.
    pub diff_id: String,
    /// The build step that made it (image config history), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Target {
    /// The layer a finding's `layer` diff id names.
    pub fn layer(&self, diff_id: &str) -> Option<&TargetLayer> {
        self.layers.iter().find(|l| l.diff_id == diff_id)
    }
}

/// A finding a VEX statement suppressed.
#[derive(Clone, Debug, Serialize)]
pub struct Suppressed {
    pub finding: Finding,
    pub vex: Suppression,
}

/// Everything one scan found.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    pub schema: &'static str,
    pub target: Target,
    /// When the DB was last imported (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_built_at: Option<String>,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<MatchWarning>,
    /// Packages with no OSV ecosystem, so not matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_packages: Vec<String>,
    /// Components in the SBOM that were matched.
    pub packages: Vec<crate::matcher::Component>,
}

pub const SCHEMA: &str = "bulwark.scan/v1";

impl ScanReport {
    /// Whether any finding is at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }
}
