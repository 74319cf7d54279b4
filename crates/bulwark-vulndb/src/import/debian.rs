//! Debian security tracker `data/DSA/list` and `data/DLA/list` to OSV.
//!
//! Each advisory block is
//!
//! ```text
//! [29 Mar 2023] DSA-5380-1 xorg-server - security update
//!         {CVE-2023-1393}
//!         [bullseye] - xorg-server 2:1.20.11-1+deb11u6
//! ```
//!
//! and becomes one record with the CVEs as aliases and, per release line,
//! an `ECOSYSTEM` range `introduced 0, fixed VERSION` for the source package
//! in `Debian:N` (`N` from distro-info numbering). `<unfixed>` releases are
//! affected without a fix; `<not-affected>` and `<end-of-life>` lines give
//! no range.

use serde_json::{Value, json};

/// Debian release codenames and their OSV release numbers (distro-info).
const RELEASES: [(&str, &str); 20] = [
    ("buzz", "1.1"),
    ("rex", "1.2"),
    ("bo", "1.3"),
    ("hamm", "2.0"),
    ("slink", "2.1"),
    ("potato", "2.2"),
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("sid", "sid"),
];

/// The OSV release for a codename (`bookworm` -> `12`).
pub fn release_number(codename: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|(name, _)| *name == codename)
        .map(|(_, n)| *n)
}

struct Block {
    date: String,
    id: String,
    summary: String,
    cves: Vec<String>,
    fixes: Vec<Value>,
    problems: Vec<String>,
}

/// Converts a whole list file. Each item is a record value or a one-line
/// problem naming the advisory (an unknown release, a malformed line).
pub fn convert(text: &str) -> Vec<Result<Value, String>> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('[') {
            if let Some(b) = current.take() {
                out.push(finish(b));
            }
            match header(line) {
                Some(b) => current = Some(b),
                None => out.push(Err(format!(
                    "line {}: not an advisory header: {line:?}",
                    n + 1
                ))),
            }
            continue;
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(inner) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            block
                .cves
                .extend(inner.split_whitespace().map(str::to_string));
        } else if t.starts_with('[') {
            fix_line(block, t, n + 1);
        }
    }
    if let Some(b) = current.take() {
        out.push(finish(b));
    }
    out
}

fn header(line: &str) -> Option<Block> {
    let (date, rest) = line.strip_prefix('[')?.split_once(']')?;
    let mut words = rest.split_whitespace();
    let id = words.next()?.to_string();
    let summary = words.collect::<Vec<_>>().join(" ");
    Some(Block {
        date: parse_date(date)?,
        id,
        summary,
        cves: Vec::new(),
        fixes: Vec::new(),
        problems: Vec::new(),
    })
}

/// `29 Mar 2023` -> `2023-03-29T00:00:00Z`.
fn parse_date(s: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = s.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? + 1;
    let year: u32 = parts.next()?.parse().ok()?;
    Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"))
}

fn fix_line(block: &mut Block, t: &str, line_no: usize) {
    let parsed = (|| {
        let (release, rest) = t.strip_prefix('[')?.split_once(']')?;
        let rest = rest.trim().strip_prefix('-')?.trim();
        let mut words = rest.split_whitespace();
        Some((
            release.to_string(),
            words.next()?.to_string(),
            words.next()?.to_string(),
        ))
    })();
    let Some((release, package, version)) = parsed else {
        block
            .problems
            .push(format!("line {line_no}: malformed release line {t:?}"));
        return;
    };
    let Some(number) = release_number(&release) else {
        block.problems.push(format!(
            "line {line_no}: unknown Debian release {release:?}"
        ));
        return;
    };
    let events = match version.as_str() {
        "<not-affected>" | "<end-of-life>" | "<ignored>" | "<removed>" => return,
        "<unfixed>" => json!([{"introduced": "0"}]),
        v if v.starts_with('<') => {
            block
                .problems
                .push(format!("line {line_no}: unknown status {v:?}"));
            return;
        }
        v => json!([{"introduced": "0"}, {"fixed": v}]),
    };
    block.fixes.push(json!({
        "package": {"ecosystem": format!("Debian:{number}"), "name": package},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }));
}

fn finish(b: Block) -> Result<Value, String> {
    if let Some(problem) = b.problems.first() {
        return Err(format!("{}: {problem}", b.id));
    }
    Ok(json!({
        "schema_version": "1.7.0",
        "id": b.id,
        "modified": b.date,
        "published": b.date,
        "aliases": b.cves,
        "summary": b.summary,
        "affected": b.fixes,
        "references": [{
            "type": "ADVISORY",
            "url": format!("https://security-tracker.debian.org/tracker/{}", b.id),
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "[29 Mar 2023] DSA-5380-1 xorg-server - security update\n\t{CVE-2023-1393 CVE-2023-0001}\n\t[bullseye] - xorg-server 2:1.20.11-1+deb11u6\n\t[buster] - xorg-server <not-affected> (Vulnerable code not present)\n[17 Mar 2023] DSA-5356-2 sox - regression update\n\t[bullseye] - sox <unfixed>\n";

    #[test]
    fn converts_blocks_to_osv_with_release_numbers() {
        let out = convert(SAMPLE);
        assert_eq!(out.len(), 2);
        let r = out[0].as_ref().unwrap();
        assert_eq!(r["id"], "DSA-5380-1");
        assert_eq!(r["modified"], "2023-03-29T00:00:00Z");
        assert_eq!(r["aliases"], json!(["CVE-2023-1393", "CVE-2023-0001"]));
        assert_eq!(r["affected"].as_array().unwrap().len(), 1);
        assert_eq!(r["affected"][0]["package"]["ecosystem"], "Debian:11");
        assert_eq!(
            r["affected"][0]["ranges"][0]["events"][1]["fixed"],
            "2:1.20.11-1+deb11u6"
        );
        let unfixed = out[1].as_ref().unwrap();
        assert_eq!(
            unfixed["affected"][0]["ranges"][0]["events"],
            json!([{"introduced": "0"}])
        );
    }

    #[test]
    fn unknown_release_is_a_problem_naming_the_advisory() {
        let out = convert("[01 Jan 2020] DSA-1-1 x - y\n\t[hamster] - x 1.0\n");
        assert!(out[0].as_ref().unwrap_err().contains("DSA-1-1"));
    }
}
