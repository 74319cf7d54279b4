//! The small pattern languages of a profile: file path patterns, argument
//! globs and address ranges, each validated when parsed so an imported
//! profile cannot smuggle in something the matcher would misread.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// `path` with `.`, `..` and repeated `/` resolved lexically (`..` never
/// climbs above `/`). Relative paths are returned unchanged.
pub fn normalize_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// An absolute file path pattern. A segment that is exactly `*` matches any
/// one segment; a trailing `/` makes it a prefix that matches the directory
/// and everything below it. `/proc/*/stat`, `/etc/nginx/`, `/tmp/app.log`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPattern(String);

impl PathPattern {
    pub fn new(text: impl Into<String>) -> Result<PathPattern, String> {
        let text = text.into();
        validate_path_pattern(&text)?;
        Ok(PathPattern(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_prefix(&self) -> bool {
        self.0.ends_with('/')
    }

    /// The pattern's segments (without the trailing empty one of a prefix).
    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.trim_end_matches('/').split('/').skip(1)
    }

    /// Whether the (normalized, absolute) `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let mut want = self.segments();
        let mut have = path.split('/').skip(1).filter(|s| !s.is_empty());
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (None, Some(_)) => return self.is_prefix(),
                (Some(_), None) => return false,
                (Some(w), Some(h)) if w == "*" || w == h => {}
                (Some(_), Some(_)) => return false,
            }
        }
    }
}

fn validate_path_pattern(text: &str) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err(format!("path pattern {text:?} is not absolute"));
    }
    if text.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "path pattern is {} bytes, the limit is {MAX_PATTERN_LEN}",
            text.len()
        ));
    }
    if let Some(ch) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "path pattern {:?} contains the control character {ch:?}",
            text.escape_debug().to_string()
        ));
    }
    let body = text.trim_end_matches('/');
    for seg in body.split('/').skip(1) {
        match seg {
            "" => return Err(format!("path pattern {text:?} has an empty segment")),
            "." | ".." => return Err(format!("path pattern {text:?} has a {seg:?} segment")),
            s if s != "*" && s.contains('*') => {
                return Err(format!(
                    "path pattern {text:?}: `*` must be a whole segment"
                ));
            }
            _ => {}
        }
    }
    if text.len() > 1 && text.ends_with("//") {
        return Err(format!("path pattern {text:?} ends in `//`"));
    }
    Ok(())
}

impl TryFrom<String> for PathPattern {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PathPattern::new(value)
    }
}

impl From<PathPattern> for String {
    fn from(p: PathPattern) -> String {
        p.0
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A glob over a whole string: `*` matches any run of characters, `\*` and
/// `\\` stand for themselves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArgPattern(String);

/// One element of a parsed glob.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Star,
    Char(char),
}

impl ArgPattern {
    pub fn new(text: impl Into<String>) -> Result<ArgPattern, String> {
        let text = text.into();
        if text.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "argument pattern is {} bytes, the limit is {MAX_PATTERN_LEN}",
                text.len()
            ));
        }
        if text.ends_with('\\') && !text.ends_with("\\\\") {
            return Err(format!("argument pattern {text:?} ends in a lone `\\`"));
        }
        Ok(ArgPattern(text))
    }

    /// The pattern that matches exactly `text`.
    pub fn literal(text: &str) -> ArgPattern {
        let mut out = String::with_capacity(text.len());
        for ch in text.chars() {
            if ch == '*' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        ArgPattern(out)
    }

    pub fn any() -> ArgPattern {
        ArgPattern("*".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn tokens(&self) -> Vec<Token> {
        let mut out = Vec::with_capacity(self.0.len());
        let mut chars = self.0.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '*' => out.push(Token::Star),
                '\\' => out.push(Token::Char(chars.next().unwrap_or('\\'))),
                c => out.push(Token::Char(c)),
            }
        }
        out
    }

    /// Linear-time glob match (one backtrack point), no exponential cases.
    pub fn matches(&self, text: &str) -> bool {
        let pat = self.tokens();
        let txt: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < txt.len() {
            match pat.get(p) {
                Some(Token::Char(c)) if *c == txt[t] => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        pat[p.min(pat.len())..].iter().all(|t| *t == Token::Star)
    }
}

impl TryFrom<String> for ArgPattern {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ArgPattern::new(value)
    }
}

impl From<ArgPattern> for String {
    fn from(p: ArgPattern) -> String {
        p.0
    }
}

impl fmt::Display for ArgPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address or a range: `10.0.0.7`, `10.0.0.0/24`, `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A single address (IPv4-mapped IPv6 addresses become IPv4).
    pub fn host(addr: IpAddr) -> Cidr {
        let addr = canonical_ip(addr);
        Cidr {
            addr,
            prefix: max_prefix(addr),
        }
    }

    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, String> {
        let addr = canonical_ip(addr);
        if prefix > max_prefix(addr) {
            return Err(format!("prefix /{prefix} is too long for {addr}"));
        }
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        match prefix {
            None => Ok(Cidr::host(addr)),
            Some(p) => {
                let prefix: u8 = p.parse().map_err(|_| format!("{s:?}: bad prefix length"))?;
                Cidr::new(addr, prefix)
            }
        }
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_and_never_climbs_above_root() {
        assert_eq!(normalize_path("/etc/../etc/./shadow"), "/etc/shadow");
        assert_eq!(normalize_path("/../../etc//shadow"), "/etc/shadow");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("rel/x"), "rel/x");
    }

    #[test]
    fn path_patterns_match_segments_and_prefixes() {
        let p = |s: &str| PathPattern::new(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(p("/proc/*/stat").matches("/proc/42/stat"));
        assert!(!p("/proc/*/stat").matches("/proc/42/environ"));
        assert!(!p("/proc/*/stat").matches("/proc/42/stat/x"));
        assert!(p("/etc/nginx/").matches("/etc/nginx/conf.d/a.conf"));
        assert!(p("/etc/nginx/").matches("/etc/nginx"));
        assert!(!p("/etc/nginx/").matches("/etc/nginxx"));
        assert!(!p("/etc/nginx").matches("/etc/nginx/x"));
        assert!(p("/").matches("/anything/at/all"));
        assert!(!p("/etc/").matches("etc/x"));
    }

    #[test]
    fn path_pattern_rejects_traversal_and_partial_wildcards() {
        for bad in [
            "etc",
            "/etc/../shadow",
            "/a//b",
            "/a/./b",
            "/a/b*",
            "/a\n/b",
            "/a//",
        ] {
            assert!(PathPattern::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn arg_glob_matches_and_literals_escape_stars() {
        let g = |s: &str| ArgPattern::new(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(g("-c *").matches("-c echo hi"));
        assert!(g("*").matches(""));
        assert!(g("a*b*c").matches("aXXbYYc"));
        assert!(!g("a*b*c").matches("aXXbYY"));
        let lit = ArgPattern::literal("rm -rf *");
        assert!(lit.matches("rm -rf *"));
        assert!(!lit.matches("rm -rf /"));
        assert!(ArgPattern::new("bad\\").is_err());
    }

    #[test]
    fn arg_glob_has_no_exponential_case() {
        // Classic backtracking bomb: would take ages with naive recursion.
        let g = ArgPattern::new(format!("{}b", "a*".repeat(50))).unwrap_or_else(|e| panic!("{e}"));
        assert!(!g.matches(&"a".repeat(4000)));
    }

    #[test]
    fn cidr_contains_and_maps_v4_in_v6() {
        let net: Cidr = "10.1.2.0/24"
            .parse()
            .unwrap_or_else(|e: String| panic!("{e}"));
        assert!(net.contains("10.1.2.77".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains("10.1.3.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        let mapped: IpAddr = "::ffff:10.1.2.3"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(net.contains(mapped));
        assert_eq!(Cidr::host(mapped).to_string(), "10.1.2.3");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert_eq!(
            "10.0.0.9/8".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.0/8".into())
        );
    }
}
