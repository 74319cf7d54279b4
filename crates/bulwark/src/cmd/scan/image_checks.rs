//! CIS Docker Benchmark section 4 checks of a scanned image, for the
//! compliance report: the image's configuration as `bulwark-trust` reads it
//! and the set-id files the catalog walk listed (the same visitor as the
//! ImagePolicy gate, riding along with the catalogers), judged by
//! `bulwark_trust::policy::image_checks` and stated in the control plane's
//! compliance vocabulary.

use bulwark_control::compliance::{Check, Status};
use bulwark_image::Image;
use bulwark_trust::evidence::{ImageConfig, SetuidFile};
use bulwark_trust::policy::{CisStatus, image_checks};

/// The section 4 checks of `image`, given the set-id files its walk found.
pub fn of(image: &Image, setid: Result<&[SetuidFile], &String>) -> Vec<Check> {
    let config = trust_config(image);
    image_checks(config.as_ref(), Some(setid))
        .into_iter()
        .map(|c| Check {
            id: c.id.to_owned(),
            title: c.title.to_owned(),
            status: match c.status {
                CisStatus::Pass => Status::Pass,
                CisStatus::Warn => Status::Warn,
                CisStatus::Fail => Status::Fail,
            },
            detail: c.detail,
        })
        .collect()
}

/// The checks under the findings table: one line each, status first.
pub fn table(checks: &[Check]) -> String {
    let mut out = String::from("\nCIS Docker Benchmark, section 4 (image):\n");
    for c in checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!(
            "  {status}  {:<5} {}: {}\n",
            c.id, c.title, c.detail
        ));
    }
    out
}

/// The configuration fields the checks read; `None` for a root filesystem
/// (no configuration blob: nothing to judge).
fn trust_config(image: &Image) -> Option<ImageConfig> {
    image.config_digest()?;
    let config = image.config();
    let run = &config.config;
    Some(ImageConfig {
        user: run.user.clone().unwrap_or_default(),
        env: run.env.clone().unwrap_or_default(),
        healthcheck: run.healthcheck.as_ref().map(healthcheck_test),
        history: config
            .history
            .iter()
            .filter_map(|h| h.created_by.clone())
            .collect(),
        // The checks read no layer digests; the walk verified them.
        diff_ids: Vec::new(),
    })
}

/// `Healthcheck.Test` as written; a healthcheck without a usable `Test`
/// is kept as empty, which the 4.6 check does not count as present.
fn healthcheck_test(value: &serde_json::Value) -> Vec<String> {
    value["Test"]
        .as_array()
        .map(|test| {
            test.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_line_per_check_status_first() {
        let check = |id: &str, status| Check {
            id: id.into(),
            title: "T".into(),
            status,
            detail: "d".into(),
        };
        let text = table(&[check("4.1", Status::Fail), check("4.10", Status::Pass)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "",
                "CIS Docker Benchmark, section 4 (image):",
                "  FAIL  4.1   T: d",
                "  pass  4.10  T: d"
            ]
        );
    }

    #[test]
    fn a_healthcheck_test_is_read_and_a_malformed_one_is_empty() {
        let ok = serde_json::json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 1});
        assert_eq!(healthcheck_test(&ok), ["CMD-SHELL", "curl -f localhost"]);
        assert!(healthcheck_test(&serde_json::json!({"Test": "CMD"})).is_empty());
        assert!(healthcheck_test(&serde_json::json!([1, 2])).is_empty());
    }
}
