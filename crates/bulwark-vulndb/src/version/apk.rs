//! Alpine apk version ordering, written from the format description in
//! apk-package(5): `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`
//! and checked against `apk version -t` conformance vectors.
//!
//! The string is read as a stream of typed tokens (number, letter, suffix,
//! suffix number, revision). Two versions are walked in step; the first
//! token whose value differs decides. When one stream ends or changes token
//! type first, the longer version is newer unless what follows is a
//! pre-release suffix (`_alpha`, `_beta`, `_pre`, `_rc`). Strings that stop
//! following the grammar end in an "invalid" token, which sorts below the
//! end of a valid version.

use std::cmp::Ordering;

use super::digits::{cmp_numeric, ordered_by_compare};

#[derive(Clone, Debug)]
pub struct ApkVersion {
    original: String,
    tokens: Vec<Token>,
}

/// Token kinds, in the order that decides between versions that agree up
/// to the point where their kinds differ (a lower kind is newer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A number after `.` whose leading zeros are significant.
    Fraction,
    Number,
    Letter,
    /// A number position with no digits (`1..2`, `.r1`): older than a letter.
    Empty,
    Suffix,
    SuffixNumber,
    Revision,
    End,
    Invalid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    /// Digits without leading zeros, compared numerically.
    Num(String),
    /// Leading-zero fraction: compared as a string (`.05 < .1`).
    Frac(String),
    Letter(u8),
    /// Pre-release suffixes are negative, post-release ones positive.
    Suffix(i32),
    None,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    value: Value,
}

const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

impl ApkVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        if input.is_empty() {
            return Err("empty version");
        }
        Ok(ApkVersion {
            original: input.to_string(),
            tokens: tokenize(input.as_bytes()),
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        let end = Token {
            kind: Kind::End,
            value: Value::None,
        };
        let mut i = 0;
        loop {
            let a = self.tokens.get(i).unwrap_or(&end);
            let b = other.tokens.get(i).unwrap_or(&end);
            let invalid = (a.kind == Kind::Invalid, b.kind == Kind::Invalid);
            if invalid != (false, false) {
                // Where the grammar stops, the valid version is newer; two
                // invalid versions that agree up to here are equal.
                return match (self.is_invalid(), other.is_invalid()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => Ordering::Equal,
                };
            }
            if a.kind != b.kind {
                return differing_kinds(a, b);
            }
            if a.kind == Kind::End {
                return Ordering::Equal;
            }
            let ord = cmp_values(&a.value, &b.value);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
        }
    }

    fn is_invalid(&self) -> bool {
        self.tokens.last().is_some_and(|t| t.kind == Kind::Invalid)
    }
}

ordered_by_compare!(ApkVersion);

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => cmp_numeric(x, y),
        (Value::Frac(x), Value::Frac(y)) => x.cmp(y),
        (Value::Frac(_), Value::Num(_)) => Ordering::Less,
        (Value::Num(_), Value::Frac(_)) => Ordering::Greater,
        (Value::Letter(x), Value::Letter(y)) => x.cmp(y),
        (Value::Suffix(x), Value::Suffix(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// The two versions agree so far and then continue with different token
/// kinds: a following pre-release suffix makes a version older, otherwise
/// the kind order decides (more components = newer).
fn differing_kinds(a: &Token, b: &Token) -> Ordering {
    if let (Kind::Suffix, Value::Suffix(v)) = (a.kind, &a.value)
        && *v < 0
    {
        return Ordering::Less;
    }
    if let (Kind::Suffix, Value::Suffix(v)) = (b.kind, &b.value)
        && *v < 0
    {
        return Ordering::Greater;
    }
    // Numbers and fractions are one class for this decision.
    let rank = |k: Kind| {
        if k == Kind::Fraction { Kind::Number } else { k }
    };
    rank(b.kind).cmp(&rank(a.kind))
}

fn tokenize(s: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut kind = Kind::Number;
    loop {
        let Some((value, consumed)) = read_token(kind, &s[pos..]) else {
            tokens.push(Token {
                kind: Kind::Invalid,
                value: Value::None,
            });
            return tokens;
        };
        let stored = match (&value, kind) {
            (Value::Num(n), Kind::Number | Kind::Fraction) if n.is_empty() => Kind::Empty,
            _ => kind,
        };
        tokens.push(Token {
            kind: stored,
            value,
        });
        pos += consumed;
        match next_kind(kind, &s[pos..]) {
            Some((Kind::End, _)) => return tokens,
            Some((k, skip)) => {
                kind = k;
                pos += skip;
            }
            None => {
                tokens.push(Token {
                    kind: Kind::Invalid,
                    value: Value::None,
                });
                return tokens;
            }
        }
    }
}

/// Reads one token of `kind` at the start of `s`: its value and length.
fn read_token(kind: Kind, s: &[u8]) -> Option<(Value, usize)> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let text = |n: usize| String::from_utf8_lossy(&s[..n]).into_owned();
    match kind {
        Kind::Fraction if s.first() == Some(&b'0') => {
            (digits > 0).then(|| (Value::Frac(text(digits)), digits))
        }
        Kind::Fraction | Kind::Number => Some((Value::Num(text(digits)), digits)),
        // `-r` must carry a number unless it ends the string (`1-r` is `1-r0`).
        Kind::Revision if digits == 0 && s.is_empty() => Some((Value::Num(String::new()), 0)),
        Kind::SuffixNumber | Kind::Revision => {
            (digits > 0).then(|| (Value::Num(text(digits)), digits))
        }
        Kind::Letter => s
            .first()
            .filter(|c| c.is_ascii_lowercase())
            .map(|&c| (Value::Letter(c), 1)),
        Kind::Suffix => read_suffix(s),
        Kind::Empty | Kind::End | Kind::Invalid => None,
    }
}

fn read_suffix(s: &[u8]) -> Option<(Value, usize)> {
    for (i, suffix) in PRE_SUFFIXES.iter().enumerate() {
        if s.starts_with(suffix.as_bytes()) {
            let weight = i as i32 - PRE_SUFFIXES.len() as i32;
            return Some((Value::Suffix(weight), suffix.len()));
        }
    }
    for (i, suffix) in POST_SUFFIXES.iter().enumerate() {
        if s.starts_with(suffix.as_bytes()) {
            return Some((Value::Suffix(i as i32 + 1), suffix.len()));
        }
    }
    None
}

/// The kind of the token that follows a token of kind `prev`, and how many
/// separator bytes to skip; `None` when the rest does not fit the grammar.
fn next_kind(prev: Kind, rest: &[u8]) -> Option<(Kind, usize)> {
    let Some(&c) = rest.first() else {
        return Some((Kind::End, 0));
    };
    let after_number = matches!(prev, Kind::Number | Kind::Fraction);
    if after_number && c.is_ascii_lowercase() {
        return Some((Kind::Letter, 0));
    }
    if prev == Kind::Letter && c.is_ascii_digit() {
        return Some((Kind::Number, 0));
    }
    if prev == Kind::Suffix && c.is_ascii_digit() {
        return Some((Kind::SuffixNumber, 0));
    }
    match c {
        b'.' => Some((Kind::Fraction, 1)),
        b'_' => Some((Kind::Suffix, 1)),
        b'-' if rest.get(1) == Some(&b'r') => Some((Kind::Revision, 2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        ApkVersion::parse(a)
            .unwrap()
            .cmp(&ApkVersion::parse(b).unwrap())
    }

    #[test]
    fn suffixes_letters_and_revisions() {
        assert_eq!(cmp("1.2.3_rc1", "1.2.3"), Ordering::Less);
        assert_eq!(cmp("1.2.3a", "1.2.3"), Ordering::Greater);
        assert_eq!(cmp("1.2.3-r10", "1.2.3-r9"), Ordering::Greater);
        assert_eq!(cmp("1.2.3_p1", "1.2.3"), Ordering::Greater);
        assert_eq!(cmp("1.0_alpha", "1.0_beta"), Ordering::Less);
    }
}
