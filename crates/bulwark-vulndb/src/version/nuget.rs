//! NuGet version ordering (`NuGetVersion`): up to four numeric parts
//! (missing ones are `0`), SemVer 2.0 pre-release labels compared without
//! regard to case, build metadata ignored.

use std::cmp::Ordering;

use super::digits::{all_digits, cmp_numeric, ordered_by_compare};

#[derive(Clone, Debug)]
pub struct NuGetVersion {
    original: String,
    numbers: [String; 4],
    labels: Vec<String>,
}

impl NuGetVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 4 || parts.iter().any(|p| !all_digits(p)) {
            return Err("expected 1 to 4 numeric parts");
        }
        let mut numbers: [String; 4] = Default::default();
        for (i, slot) in numbers.iter_mut().enumerate() {
            *slot = parts.get(i).copied().unwrap_or("0").to_string();
        }
        let labels = match pre {
            Some(p) => p.split('.').map(str::to_ascii_lowercase).collect(),
            None => Vec::new(),
        };
        Ok(NuGetVersion {
            original: input.to_string(),
            numbers,
            labels,
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        for (a, b) in self.numbers.iter().zip(&other.numbers) {
            let ord = cmp_numeric(a, b);
            if ord.is_ne() {
                return ord;
            }
        }
        match (self.labels.is_empty(), other.labels.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        for (a, b) in self.labels.iter().zip(&other.labels) {
            let ord = match (all_digits(a), all_digits(b)) {
                (true, true) => cmp_numeric(a, b),
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => a.cmp(b),
            };
            if ord.is_ne() {
                return ord;
            }
        }
        self.labels.len().cmp(&other.labels.len())
    }
}

ordered_by_compare!(NuGetVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        NuGetVersion::parse(a)
            .unwrap()
            .cmp(&NuGetVersion::parse(b).unwrap())
    }

    #[test]
    fn four_parts_and_case_insensitive_labels() {
        assert_eq!(cmp("1.0", "1.0.0.0"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-BETA", "1.0.0-beta"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-beta", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("1.0.01", "1.0.1.0"), Ordering::Equal);
    }
}
