//! The human-readable table.

use std::fmt::Write;

use super::ScanReport;

/// One row per finding, most severe first, the layers that introduced
/// vulnerable packages, then a summary line.
pub fn table(r: &ScanReport) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 7]> = r
        .findings
        .iter()
        .map(|f| {
            let cve = f
                .aliases
                .iter()
                .find(|a| a.starts_with("CVE-"))
                .map(ToString::to_string)
                .unwrap_or_default();
            [
                f.package.to_string(),
                f.installed_version.to_string(),
                f.fixed_version
                    .as_ref()
                    .map_or_else(|| "(no fix)".into(), ToString::to_string),
                f.severity.to_string().to_uppercase(),
                f.vuln_id.to_string(),
                cve,
                layer_cell(r, f.layer.as_deref()),
            ]
        })
        .collect();
    let header = [
        "PACKAGE",
        "INSTALLED",
        "FIXED",
        "SEVERITY",
        "ID",
        "CVE",
        "LAYER",
    ]
    .map(String::from);
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
    layer_legend(r, &mut out);
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

/// The layer column: the layer's index when the image lists it, else a
/// short diff id.
fn layer_cell(r: &ScanReport, diff_id: Option<&str>) -> String {
    match diff_id {
        None => String::new(),
        Some(d) => match r.target.layer(d) {
            Some(l) => l.index.to_string(),
            None => short(d).to_string(),
        },
    }
}

fn short(diff_id: &str) -> &str {
    let end = diff_id.len().min("sha256:".len() + 12);
    diff_id.get(..end).unwrap_or(diff_id)
}

/// The layers findings were introduced in: index, diff id, build step.
fn layer_legend(r: &ScanReport, out: &mut String) {
    let mut per_layer = std::collections::BTreeMap::new();
    for f in &r.findings {
        if let Some(l) = f.layer.as_deref().and_then(|d| r.target.layer(d)) {
            *per_layer.entry(l.index).or_insert(0usize) += 1;
        }
    }
    if per_layer.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nLAYER  DIFF ID              FINDINGS  CREATED BY");
    for l in &r.target.layers {
        let Some(n) = per_layer.get(&l.index) else {
            continue;
        };
        let step = l.created_by.as_deref().unwrap_or("");
        let step: String = step.chars().take(80).collect();
        let line = format!("{:<5}  {:<19}  {n:<8}  {step}", l.index, short(&l.diff_id));
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
