//! A table for people: one package a line, with type and layer.

use std::fmt::Write;

use crate::model::Sbom;

const HEADERS: [&str; 4] = ["NAME", "VERSION", "TYPE", "LAYER"];

pub fn render(sbom: &Sbom) -> String {
    let mut out = String::new();
    let distro = sbom
        .distro
        .as_ref()
        .map(|d| d.pretty_name.clone().unwrap_or_else(|| d.purl_qualifier()))
        .unwrap_or_else(|| "unknown OS".into());
    let _ = writeln!(
        out,
        "{} ({}): {distro}, {}, {}",
        sbom.source.reference,
        sbom.source.kind,
        plural(sbom.layers.len(), "layer"),
        plural(sbom.packages.len(), "package")
    );
    let rows: Vec<[String; 4]> = sbom
        .packages
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.version.clone(),
                p.ecosystem.to_string(),
                p.layer.index.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4], out: &mut String| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(HEADERS, &mut out);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]], &mut out);
    }
    for w in &sbom.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn aligned_columns_and_warnings() {
        let text = render(&sample());
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            "target/debian-oci:latest (oci-layout): Debian GNU/Linux 12 (bookworm), 2 layers, 4 packages"
        );
        assert!(lines[1].starts_with("NAME "));
        let col = lines[1].find("VERSION").unwrap();
        assert_eq!(&lines[2][col..col + 14], "2.36-9+deb12u4");
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("warning: /var/lib/rpm/Packages (layer 0)")
        );
    }
}
