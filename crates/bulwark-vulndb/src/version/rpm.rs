//! RPM version ordering: `[epoch:]version[-release]`, each part compared
//! with the `rpmvercmp` rules (alphanumeric segments, `~` before anything,
//! `^` after the base version but before any further segment).
//!
//! An epoch is only recognised when everything before the first `:` is
//! digits; otherwise the whole string is the version (module-style strings
//! such as `1.module+el9+2:1` contain colons that are not epochs). A missing
//! epoch is `0`. A version without a release sorts before the same version
//! with any release, even an empty one.

use std::cmp::Ordering;

use std::ops::Range;

use super::digits::{all_digits, cmp_numeric, ordered_by_compare, span_of, text_at};

/// The parts are ranges of `original` (an absent epoch is empty: it
/// compares equal to `0`).
#[derive(Clone, Debug)]
pub struct RpmVersion {
    original: String,
    epoch: Range<usize>,
    version: Range<usize>,
    release: Option<Range<usize>>,
}

impl RpmVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        if input.trim().is_empty() {
            return Err("empty version");
        }
        let (epoch, rest) = match input.split_once(':') {
            Some((e, rest)) if all_digits(e) => (e, rest),
            _ => (&input[..0], input),
        };
        let (version, release) = match rest.split_once('-') {
            Some((v, r)) => (v, Some(span_of(input, r))),
            None => (rest, None),
        };
        Ok(RpmVersion {
            original: input.to_string(),
            epoch: span_of(input, epoch),
            version: span_of(input, version),
            release,
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        let (a, b) = (self.original.as_str(), other.original.as_str());
        cmp_numeric(text_at(a, &self.epoch), text_at(b, &other.epoch))
            .then_with(|| rpmvercmp(text_at(a, &self.version), text_at(b, &other.version)))
            .then_with(|| match (&self.release, &other.release) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => rpmvercmp(text_at(a, x), text_at(b, y)),
            })
    }
}

ordered_by_compare!(RpmVersion);

fn is_separator(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

fn run(s: &[u8], pred: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&c| !pred(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// `rpmvercmp`, with one deviation that the conformance vectors pin: an
/// empty string sorts before any non-empty one. Bytes that are not ASCII
/// letters, digits, `~` or `^` only separate segments.
pub(crate) fn rpmvercmp(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        a = run(a, is_separator).1;
        b = run(b, is_separator).1;
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) | (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), None) => return Ordering::Greater,
            (Some(b'^'), _) => return Ordering::Less,
            (None, Some(b'^')) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, _) | (_, None) => break,
            (Some(&first), Some(_)) => {
                let numeric = first.is_ascii_digit();
                let pred = |c: u8| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                };
                let (sa, ra) = run(a, pred);
                let (sb, rb) = run(b, pred);
                if sb.is_empty() {
                    // Segments of different kinds: a number is newer than letters.
                    return if numeric {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    };
                }
                let ord = if numeric {
                    cmp_numeric_bytes(sa, sb)
                } else {
                    sa.cmp(sb)
                };
                if ord != Ordering::Equal {
                    return ord;
                }
                a = ra;
                b = rb;
            }
        }
    }
    a.len().cmp(&b.len())
}

fn cmp_numeric_bytes(a: &[u8], b: &[u8]) -> Ordering {
    // Both are ASCII digit runs, so they are valid UTF-8.
    cmp_numeric(
        std::str::from_utf8(a).unwrap_or(""),
        std::str::from_utf8(b).unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        RpmVersion::parse(a)
            .unwrap()
            .cmp(&RpmVersion::parse(b).unwrap())
    }

    #[test]
    fn evr_epoch_tilde_and_caret() {
        assert_eq!(cmp("2:1.0-1", "1:9.9-1"), Ordering::Greater);
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(cmp("1.0.9-1.el9", "1.0.9-1.el9_2"), Ordering::Less);
    }
}
