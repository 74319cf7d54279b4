//! The human-readable table.

use std::fmt::Write;

use super::ScanReport;

/// One row per finding, most severe first, then a summary line.
pub fn table(r: &ScanReport) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 6]> = r
        .findings
        .iter()
        .map(|f| {
            let cve = f
                .aliases
                .iter()
                .find(|a| a.starts_with("CVE-"))
                .cloned()
                .unwrap_or_default();
            [
                f.package.clone(),
                f.installed_version.clone(),
                f.fixed_version.clone().unwrap_or_else(|| "(no fix)".into()),
                f.severity.to_string().to_uppercase(),
                f.vuln_id.clone(),
                cve,
            ]
        })
        .collect();
    let header = ["PACKAGE", "INSTALLED", "FIXED", "SEVERITY", "ID", "CVE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let mut counts = std::collections::BTreeMap::new();
    for f in &r.findings {
        *counts
            .entry(std::cmp::Reverse(f.severity))
            .or_insert(0usize) += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{}: {n}", s.0))
        .collect();
    let _ = writeln!(
        out,
        "\n{}: {} findings ({}){}",
        r.target.reference,
        r.findings.len(),
        if summary.is_empty() {
            "none".to_string()
        } else {
            summary.join(", ")
        },
        if r.suppressed.is_empty() {
            String::new()
        } else {
            format!(", {} suppressed by VEX", r.suppressed.len())
        }
    );
    out
}
