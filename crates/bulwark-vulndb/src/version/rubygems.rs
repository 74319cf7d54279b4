//! RubyGems `Gem::Version` ordering: segments are runs of digits or
//! letters; a letter segment makes the version a pre-release and sorts
//! below any number; trailing zeros of the release and pre-release parts
//! are ignored.

use std::cmp::Ordering;

use super::digits::{cmp_numeric, ordered_by_compare};

#[derive(Clone, Debug)]
pub struct GemVersion {
    original: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Num(String),
    Str(String),
}

impl GemVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        if s.is_empty() {
            return Ok(GemVersion {
                original: input.to_string(),
                segments: vec![Segment::Num("0".into())],
            });
        }
        if !s.as_bytes()[0].is_ascii_digit()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err("not a RubyGems version (digits, letters, '.' and '-')");
        }
        // `1.0-rc1` means `1.0.pre.rc1`.
        let s = s.replace('-', ".pre.");
        Ok(GemVersion {
            original: input.to_string(),
            segments: canonical(segments(&s)),
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        let zero = Segment::Num("0".into());
        for i in 0..self.segments.len().max(other.segments.len()) {
            let a = self.segments.get(i).unwrap_or(&zero);
            let b = other.segments.get(i).unwrap_or(&zero);
            let ord = match (a, b) {
                (Segment::Num(x), Segment::Num(y)) => cmp_numeric(x, y),
                (Segment::Str(_), Segment::Num(_)) => Ordering::Less,
                (Segment::Num(_), Segment::Str(_)) => Ordering::Greater,
                (Segment::Str(x), Segment::Str(y)) => x.cmp(y),
            };
            if ord.is_ne() {
                return ord;
            }
        }
        Ordering::Equal
    }
}

ordered_by_compare!(GemVersion);

fn segments(s: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            let n = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let digits = s[i..i + n].trim_start_matches('0');
            out.push(Segment::Num(
                if digits.is_empty() { "0" } else { digits }.into(),
            ));
            i += n;
        } else if c.is_ascii_alphabetic() {
            let n = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            out.push(Segment::Str(s[i..i + n].to_string()));
            i += n;
        } else {
            i += 1;
        }
    }
    out
}

/// Drops trailing zeros from the release part (before the first letter
/// segment) and from the pre-release part.
fn canonical(segs: Vec<Segment>) -> Vec<Segment> {
    let split = segs
        .iter()
        .position(|s| matches!(s, Segment::Str(_)))
        .unwrap_or(segs.len());
    let (release, pre) = segs.split_at(split);
    let trim = |part: &[Segment]| {
        let end = part
            .iter()
            .rposition(|s| *s != Segment::Num("0".into()))
            .map_or(0, |p| p + 1);
        part[..end].to_vec()
    };
    let mut out = trim(release);
    out.extend(trim(pre));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        GemVersion::parse(a)
            .unwrap()
            .cmp(&GemVersion::parse(b).unwrap())
    }

    #[test]
    fn prereleases_and_trailing_zeros() {
        assert_eq!(cmp("1.0.0", "1"), Ordering::Equal);
        assert_eq!(cmp("1.0.a", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0-rc1", "1.0.pre.rc1"), Ordering::Equal);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
    }
}
