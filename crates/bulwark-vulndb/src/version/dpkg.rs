//! dpkg version ordering (deb-version(7)): `[epoch:]upstream[-revision]`,
//! compared part by part with `verrevcmp`, where `~` sorts before
//! everything, even the end of the string.

use std::cmp::Ordering;

use std::ops::Range;

use super::digits::{cmp_numeric, ordered_by_compare, span_of, split_run, text_at};

/// The parts are ranges of `original` (an absent epoch is empty: it
/// compares equal to `0`).
#[derive(Clone, Debug)]
pub struct DpkgVersion {
    original: String,
    epoch: Range<usize>,
    upstream: Range<usize>,
    revision: Range<usize>,
}

impl DpkgVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        if s.is_empty() {
            return Err("empty version");
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                if !e.bytes().all(|b| b.is_ascii_digit()) || e.is_empty() {
                    return Err("epoch is not a number");
                }
                (e, rest)
            }
            None => (&s[..0], s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, &rest[rest.len()..]),
        };
        if upstream.is_empty() {
            return Err("empty upstream version");
        }
        if s.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err("contains whitespace");
        }
        Ok(DpkgVersion {
            original: input.to_string(),
            epoch: span_of(input, epoch),
            upstream: span_of(input, upstream),
            revision: span_of(input, revision),
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        let (a, b) = (self.original.as_str(), other.original.as_str());
        cmp_numeric(text_at(a, &self.epoch), text_at(b, &other.epoch))
            .then_with(|| verrevcmp(text_at(a, &self.upstream), text_at(b, &other.upstream)))
            .then_with(|| verrevcmp(text_at(a, &self.revision), text_at(b, &other.revision)))
    }
}

ordered_by_compare!(DpkgVersion);

/// Sort weight of one byte of a non-digit run: `~` lowest, then the end of
/// the run, then letters, then everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(mut a: &str, mut b: &str) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        let (a_text, a_rest) = split_run(a, |c| !c.is_ascii_digit());
        let (b_text, b_rest) = split_run(b, |c| !c.is_ascii_digit());
        let (ab, bb) = (a_text.as_bytes(), b_text.as_bytes());
        for i in 0..ab.len().max(bb.len()) {
            let ord = weight(ab.get(i).copied()).cmp(&weight(bb.get(i).copied()));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let (a_num, a_rest) = split_run(a_rest, |c| c.is_ascii_digit());
        let (b_num, b_rest) = split_run(b_rest, |c| c.is_ascii_digit());
        let ord = cmp_numeric(a_num, b_num);
        if ord != Ordering::Equal {
            return ord;
        }
        a = a_rest;
        b = b_rest;
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        DpkgVersion::parse(a)
            .unwrap()
            .cmp(&DpkgVersion::parse(b).unwrap())
    }

    #[test]
    fn tilde_sorts_before_release_and_epoch_wins() {
        assert_eq!(cmp("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(cmp("1:1.2-1", "1.3-1~deb12u1"), Ordering::Greater);
        assert_eq!(cmp("1.2.3-1~deb7u1", "1.2.3-1"), Ordering::Less);
        assert_eq!(cmp("0.0.0", "0.0.0-0"), Ordering::Equal);
    }

    #[test]
    fn rejects_non_numeric_epoch_and_empty() {
        assert!(DpkgVersion::parse("a:1.0").is_err());
        assert!(DpkgVersion::parse("").is_err());
        assert!(DpkgVersion::parse("1:-1").is_err());
    }
}
