//! The compliance report: CIS Docker Benchmark checks of the scanned images
//! (section 4, stored with each scan) and of the running containers
//! (section 5, from the facts agents report), and the NIST SP 800-190
//! assessment of the platform's live state. Rendered as JSON or HTML.

use askama::Template;
use bulwark_control::compliance::{
    ContainerCompliance, ImageCompliance, Report, Status, container_checks, nist,
};
use bulwark_control::rbac::{Permit, resources, verbs};
use bulwark_control::wire::UpdateKind;

use crate::store::{Store, StoreError};

/// Builds the report for what `permit` reaches. The NIST assessment is
/// platform-wide, so only a cluster-wide permit gets it.
pub async fn report(
    store: &Store,
    permit: &Permit<verbs::List, resources::Compliance>,
) -> Result<Report, StoreError> {
    let images: Vec<ImageCompliance> = store
        .all_images()
        .await?
        .into_iter()
        .map(|i| {
            Ok(ImageCompliance {
                checks: serde_json::from_value(i.checks)
                    .map_err(|e| StoreError::corrupt("image checks", e))?,
                digest: i.digest,
                reference: i.reference,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let containers: Vec<ContainerCompliance> = store
        .running_containers(permit)
        .await?
        .into_iter()
        .filter_map(|c| {
            let facts = c.facts?;
            Some(ContainerCompliance {
                checks: container_checks(&facts),
                id: c.id,
                workload: c.workload,
                namespace: c.namespace,
                node: c.node,
            })
        })
        .collect();
    let assessment = if permit.filter().cluster {
        nist::assess(&platform_state(store, &images, &containers).await?)
    } else {
        Vec::new()
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Report::new(now, images, containers, assessment))
}

fn fails(checks: &[bulwark_control::compliance::Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

async fn platform_state(
    store: &Store,
    images: &[ImageCompliance],
    containers: &[ContainerCompliance],
) -> Result<nist::PlatformState, StoreError> {
    let image_views = store.all_images().await?;
    let severe = image_views
        .iter()
        .filter(|i| {
            ["critical", "high"].iter().any(|s| {
                i.findings
                    .get(*s)
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0)
                    > 0
            })
        })
        .count();
    let modes = store.all_modes().await?;
    let nodes = store.all_nodes().await?;
    let bindings = store.directory().binding_scopes().await?;
    Ok(nist::PlatformState {
        images: images.len(),
        images_with_critical_or_high: severe,
        images_failing_config: images.iter().filter(|i| fails(&i.checks)).count(),
        images_config_unchecked: images.iter().filter(|i| i.checks.is_empty()).count(),
        images_with_secrets: images
            .iter()
            .filter(|i| {
                i.checks
                    .iter()
                    .any(|c| c.id == "4.10" && c.status == Status::Fail)
            })
            .count(),
        vulndb_age_days: None,
        image_policies: store.count_documents(UpdateKind::ImagePolicy).await?,
        containers: containers.len(),
        containers_failing_runtime: containers.iter().filter(|c| fails(&c.checks)).count(),
        workloads: modes.len(),
        workloads_monitored: modes
            .iter()
            .filter(|m| !m.is_empty() && m.iter().all(|x| x != "discover"))
            .count(),
        workloads_protected: modes
            .iter()
            .filter(|m| !m.is_empty() && m.iter().all(|x| x == "protect"))
            .count(),
        enforcement_policies: store.count_documents(UpdateKind::EnforcementPolicy).await?,
        access_policies: store.count_documents(UpdateKind::AccessPolicy).await?,
        identity_entries: store.count_documents(UpdateKind::WorkloadIdentity).await?,
        nodes: nodes.len(),
        nodes_stale: nodes.iter().filter(|n| n.stale).count(),
        cluster_admins: bindings
            .iter()
            .filter(|(role, scope)| role == "admin" && scope == "cluster")
            .count(),
        role_bindings: bindings.len(),
    })
}

/// The HTML page.
#[derive(Template)]
#[template(path = "compliance.html")]
struct Page<'a> {
    r: &'a Report,
}

impl Page<'_> {
    fn status_class(&self, s: &Status) -> &'static str {
        status_class(*s)
    }

    fn coverage_name(&self, c: &nist::Coverage) -> &'static str {
        coverage_name(*c)
    }
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
    }
}

fn coverage_name(c: nist::Coverage) -> &'static str {
    match c {
        nist::Coverage::Met => "met",
        nist::Coverage::Partial => "partial",
        nist::Coverage::NotAddressed => "not addressed",
    }
}

/// The report as a standalone HTML page (every value escaped).
pub fn html(report: &Report) -> Result<String, askama::Error> {
    Page { r: report }.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_control::compliance::Check;

    #[test]
    fn html_escapes_values_from_agents_and_scans() -> anyhow::Result<()> {
        let report = Report::new(
            "2026-01-01T00:00:00Z".into(),
            vec![ImageCompliance {
                digest: "sha256:00".into(),
                reference: "<script>alert(1)</script>".into(),
                checks: vec![Check {
                    id: "4.1".into(),
                    title: "user".into(),
                    status: Status::Fail,
                    detail: "runs as \"root\" & <b>".into(),
                }],
            }],
            Vec::new(),
            nist::assess(&nist::PlatformState::default()),
        );
        let page = html(&report)?;
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(page.contains("NIST SP 800-190"));
        assert!(page.contains("class=\"fail\""));
        Ok(())
    }
}
