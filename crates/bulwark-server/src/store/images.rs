//! Scanned images and their findings.

use std::collections::BTreeMap;

use bulwark_control::compliance::Check;
use bulwark_control::rbac::{Permit, resources, verbs};
use bulwark_core::Severity;

use super::{Store, StoreError, page_limit, severity_of_rank, severity_rank};
use crate::db::{Gate, Row, Stmt, Value};
use crate::model::{FindingView, ImageView, LayerView};

/// One finding of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    pub severity: Severity,
    pub summary: String,
    /// The layer (diff id) that brought the package.
    pub layer: Option<String>,
}

/// The result of scanning one image. `None` checks or layers keep what
/// an earlier scan of the same digest stored (a re-match of a stored
/// SBOM knows neither).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageScan {
    pub digest: String,
    pub reference: String,
    pub packages: usize,
    pub checks: Option<Vec<Check>>,
    pub layers: Option<Vec<LayerView>>,
    pub findings: Vec<Finding>,
}

fn finding_view(r: &Row) -> Result<FindingView, StoreError> {
    Ok(FindingView {
        image_digest: r.text(0)?,
        vulnerability: r.text(1)?,
        package: r.text(2)?,
        version: r.text(3)?,
        fixed: r.opt_text(4)?,
        severity: severity_of_rank(r.int(5)?).to_string(),
        summary: r.text(6)?,
        layer: r.opt_text(7)?,
    })
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The image row: inserted, or updated in place (a re-push of the same
/// digest), keeping stored checks and layers the scan does not carry.
fn image_upsert(scan: &ImageScan) -> Result<Stmt, StoreError> {
    let mut update = vec![
        "reference = excluded.reference",
        "scanned_at = excluded.scanned_at",
        "packages = excluded.packages",
    ];
    if scan.checks.is_some() {
        update.push("checks = excluded.checks");
    }
    if scan.layers.is_some() {
        update.push("layers = excluded.layers");
    }
    let checks = json_text(scan.checks.as_deref().unwrap_or_default())?;
    let layers = json_text(scan.layers.as_deref().unwrap_or_default())?;
    Ok(Stmt::new(
        format!(
            "INSERT INTO images (digest, reference, scanned_at, packages, checks, layers) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO UPDATE SET {}",
            update.join(", ")
        ),
        vec![
            scan.digest.clone().into(),
            scan.reference.clone().into(),
            crate::now_ms().into(),
            Value::from(i64::try_from(scan.packages).unwrap_or(i64::MAX)),
            checks.into(),
            layers.into(),
        ],
    ))
}

impl Store {
    /// Stores a scan, replacing the image's previous findings.
    pub async fn put_image<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Create, resources::Images>,
        scan: &ImageScan,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let mut stmts = vec![
            image_upsert(scan)?,
            Stmt::new(
                "DELETE FROM findings WHERE image_digest = $1",
                vec![scan.digest.clone().into()],
            ),
        ];
        for f in &scan.findings {
            stmts.push(Stmt::new(
                "INSERT INTO findings (image_digest, vulnerability, package, version, fixed, severity, summary, layer) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (image_digest, vulnerability, package) DO NOTHING",
                vec![
                    scan.digest.clone().into(),
                    f.vulnerability.clone().into(),
                    f.package.clone().into(),
                    f.version.clone().into(),
                    f.fixed.clone().into(),
                    severity_rank(f.severity).into(),
                    f.summary.clone().into(),
                    f.layer.clone().into(),
                ],
            ));
        }
        Ok(self.db.write(stmts, gate).await?.1)
    }

    async fn image_rows(&self, digest: Option<&str>) -> Result<Vec<ImageView>, StoreError> {
        let (cond, params) = match digest {
            Some(d) => ("WHERE i.digest = $1", vec![Value::from(d)]),
            None => ("", vec![]),
        };
        let rows = self
            .db
            .query(
                &format!("SELECT i.digest, i.reference, i.scanned_at, i.packages, i.checks, i.layers FROM images i {cond} ORDER BY i.scanned_at DESC LIMIT 1000"),
                params,
            )
            .await?;
        let counts = self
            .db
            .query("SELECT image_digest, severity, COUNT(*) FROM findings GROUP BY image_digest, severity", vec![])
            .await?;
        let mut by_image: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for c in &counts {
            by_image
                .entry(c.text(0)?)
                .or_default()
                .insert(severity_of_rank(c.int(1)?).to_string(), c.int(2)?);
        }
        rows.iter()
            .map(|r| {
                let digest = r.text(0)?;
                let findings = by_image.remove(&digest).unwrap_or_default();
                Ok(ImageView {
                    findings: serde_json::to_value(findings)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    digest,
                    reference: r.text(1)?,
                    scanned_at: r.int(2)?,
                    packages: r.int(3)?,
                    checks: serde_json::from_str(&r.text(4)?)
                        .map_err(|e| StoreError::corrupt("image checks", e))?,
                    layers: serde_json::from_str(&r.text(5)?)
                        .map_err(|e| StoreError::corrupt("image layers", e))?,
                })
            })
            .collect()
    }

    pub async fn list_images(
        &self,
        _permit: &Permit<verbs::List, resources::Images>,
    ) -> Result<Vec<ImageView>, StoreError> {
        self.image_rows(None).await
    }

    /// Every image (for the compliance report and assessment).
    pub async fn all_images(&self) -> Result<Vec<ImageView>, StoreError> {
        self.image_rows(None).await
    }

    pub async fn get_image(
        &self,
        _permit: &Permit<verbs::Get, resources::Images>,
        digest: &str,
    ) -> Result<ImageView, StoreError> {
        self.image_rows(Some(digest))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("image {digest}")))
    }

    /// Findings, most severe first.
    pub async fn list_findings(
        &self,
        _permit: &Permit<verbs::List, resources::Findings>,
        image: Option<&str>,
        min_severity: Option<Severity>,
        limit: Option<i64>,
    ) -> Result<Vec<FindingView>, StoreError> {
        let mut params = vec![Value::from(severity_rank(
            min_severity.unwrap_or(Severity::Unknown),
        ))];
        let mut cond = "severity >= $1".to_owned();
        if let Some(d) = image {
            params.push(Value::from(d));
            cond.push_str(&format!(" AND image_digest = ${}", params.len()));
        }
        params.push(Value::from(page_limit(limit)));
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT image_digest, vulnerability, package, version, fixed, severity, summary, layer FROM findings \
                     WHERE {cond} ORDER BY severity DESC, vulnerability LIMIT ${}",
                    params.len()
                ),
                params,
            )
            .await?;
        rows.iter().map(finding_view).collect()
    }
}
