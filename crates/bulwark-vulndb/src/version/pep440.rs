//! Python versions: PEP 440 ordering (via `uv-pep440`), with strings that
//! are not valid PEP 440 ordered the way `packaging` < 22 and setuptools
//! ordered "legacy" versions: below every valid version, and among
//! themselves by a key of zero-padded numbers and `*`-prefixed words.

use std::cmp::Ordering;
use std::str::FromStr;

use super::digits::ordered_by_compare;

#[derive(Clone, Debug)]
pub struct PyVersion {
    original: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Legacy(Vec<String>),
    Pep440(uv_pep440::Version),
}

impl PyVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("empty version");
        }
        let kind = match uv_pep440::Version::from_str(trimmed) {
            Ok(v) => Kind::Pep440(v),
            Err(_) => Kind::Legacy(legacy_key(trimmed)),
        };
        Ok(PyVersion {
            original: input.to_string(),
            kind,
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        match (&self.kind, &other.kind) {
            (Kind::Pep440(a), Kind::Pep440(b)) => a.cmp(b),
            (Kind::Legacy(_), Kind::Pep440(_)) => Ordering::Less,
            (Kind::Pep440(_), Kind::Legacy(_)) => Ordering::Greater,
            (Kind::Legacy(a), Kind::Legacy(b)) => a.cmp(b),
        }
    }

    /// Whether the string is a valid PEP 440 version.
    pub fn is_pep440(&self) -> bool {
        matches!(self.kind, Kind::Pep440(_))
    }
}

ordered_by_compare!(PyVersion);

/// Splits into runs of digits, runs of letters, `.` and `-`; anything
/// else is a one-character part of its own.
fn legacy_parts(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut pending = String::new();
    while i < bytes.len() {
        let c = bytes[i];
        let run_len = if c.is_ascii_digit() {
            bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count()
        } else if c.is_ascii_lowercase() {
            bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase())
                .count()
        } else if c == b'.' || c == b'-' {
            1
        } else {
            // Not a token: it stays glued to the text between tokens.
            pending.push(char::from(c));
            i += 1;
            continue;
        };
        if !pending.is_empty() {
            parts.push(std::mem::take(&mut pending));
        }
        parts.push(String::from_utf8_lossy(&bytes[i..i + run_len]).into_owned());
        i += run_len;
    }
    if !pending.is_empty() {
        parts.push(pending);
    }
    parts
}

fn legacy_key(s: &str) -> Vec<String> {
    let lower = s.to_ascii_lowercase();
    let mut key: Vec<String> = Vec::new();
    let mapped = legacy_parts(&lower).into_iter().filter_map(|p| {
        let p = match p.as_str() {
            "pre" | "preview" | "rc" => "c".to_string(),
            "-" => "final-".to_string(),
            "dev" => "@".to_string(),
            _ => p,
        };
        if p.is_empty() || p == "." {
            None
        } else if p.as_bytes()[0].is_ascii_digit() {
            Some(format!("{p:0>8}"))
        } else {
            Some(format!("*{p}"))
        }
    });
    for part in mapped.chain(std::iter::once("*final".to_string())) {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while key.last().is_some_and(|p| p == "*final-") {
                    key.pop();
                }
            }
            while key.last().is_some_and(|p| p == "00000000") {
                key.pop();
            }
        }
        key.push(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        PyVersion::parse(a)
            .unwrap()
            .cmp(&PyVersion::parse(b).unwrap())
    }

    #[test]
    fn pep440_order_with_dev_pre_post_and_local() {
        assert_eq!(cmp("1.0.dev0", "1.0a0"), Ordering::Less);
        assert_eq!(cmp("1.0rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0.post1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0+local", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1!0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0", "1.0.0"), Ordering::Equal);
    }

    #[test]
    fn legacy_versions_sort_below_valid_ones() {
        assert_eq!(cmp("0.1-bulbasaur", "0.1-charmander"), Ordering::Less);
        assert_eq!(cmp("0.9-ivysaur", "0.0.1"), Ordering::Less);
        assert!(!PyVersion::parse("0.1-bulbasaur").unwrap().is_pep440());
    }
}
