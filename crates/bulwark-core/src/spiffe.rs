//! SPIFFE IDs and trust domains, validated exactly as the SPIFFE ID
//! specification (`standards/SPIFFE-ID.md` §2) requires.
//!
//! A [`SpiffeId`] is `spiffe://<trust domain>[/<segment>...]`:
//!
//! - the scheme is `spiffe`, written in lower case (the reference libraries
//!   go-spiffe and rust-spiffe reject any other spelling, so an ID written
//!   otherwise would not work with them);
//! - the trust domain is not empty, at most 255 bytes, and made only of
//!   `[a-z0-9._-]`: no upper case, no percent-encoding, no userinfo (`@`),
//!   no port (`:`), no IPv6 literal (`[`);
//! - each path segment is non-empty, made only of `[a-zA-Z0-9._-]`, and is not
//!   `.` or `..`; there is no trailing `/`, no query and no fragment;
//! - the whole ID is at most 2048 bytes.
//!
//! Nothing is normalised: an ID that is not already in canonical form is
//! rejected, so two valid IDs are the same identity exactly when their strings
//! are equal. That is what keeps `spiffe://td/a/../admin` from ever being
//! compared as `spiffe://td/admin` (SPIRE audit finding SPI-01-003).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const SCHEME_PREFIX: &str = "spiffe://";
/// Longest trust domain name (the RFC 3986 host limit the spec adopts).
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// Longest SPIFFE ID (spec §2.3).
pub const MAX_SPIFFE_ID_LEN: usize = 2048;

/// Why a string is not a valid SPIFFE ID or trust domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    #[error("SPIFFE ID is empty")]
    Empty,
    #[error("{input:?} is not a SPIFFE ID: the scheme must be `spiffe://` in lower case")]
    WrongScheme { input: String },
    #[error("{input:?}: the trust domain is empty")]
    MissingTrustDomain { input: String },
    #[error("{input:?}: the trust domain must be lower case (found {ch:?})")]
    UpperCaseTrustDomain { input: String, ch: char },
    #[error("{input:?}: a SPIFFE ID must not carry userinfo (`@`) in its trust domain")]
    UserInfo { input: String },
    #[error("{input:?}: a SPIFFE ID must not carry a port (`:`) in its trust domain")]
    Port { input: String },
    #[error("{input:?}: percent-encoding is not allowed in a SPIFFE ID")]
    PercentEncoded { input: String },
    #[error("{input:?}: a SPIFFE ID must not have a query (`?`) or fragment (`#`)")]
    QueryOrFragment { input: String },
    #[error(
        "{input:?}: the trust domain may only contain a-z, 0-9, `.`, `-` and `_` (found {ch:?})"
    )]
    TrustDomainChar { input: String, ch: char },
    #[error("{input:?}: the trust domain is {len} bytes long, the limit is {MAX_TRUST_DOMAIN_LEN}")]
    TrustDomainTooLong { input: String, len: usize },
    #[error("{input:?}: the path has an empty segment (`//` or a trailing `/`)")]
    EmptySegment { input: String },
    #[error("{input:?}: the path has a `.` or `..` segment")]
    DotSegment { input: String },
    #[error(
        "{input:?}: path segments may only contain a-z, A-Z, 0-9, `.`, `-` and `_` (found {ch:?})"
    )]
    PathChar { input: String, ch: char },
    #[error("SPIFFE ID is {len} bytes long, the limit is {MAX_SPIFFE_ID_LEN}")]
    TooLong { len: usize },
}

/// A trust domain name, e.g. `example.org` (without the scheme).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a bare trust domain name such as `example.org`.
    pub fn new(name: impl Into<String>) -> Result<Self, SpiffeIdError> {
        let name = name.into();
        validate_trust_domain(&name, &name)?;
        Ok(TrustDomain(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SPIFFE ID of the trust domain itself, `spiffe://<name>`: the ID of
    /// its signing authority and the key of its bundle in the Workload API.
    pub fn id(&self) -> SpiffeId {
        SpiffeId {
            full: format!("{SCHEME_PREFIX}{}", self.0),
            td_end: SCHEME_PREFIX.len() + self.0.len(),
        }
    }

    /// The SPIFFE ID `spiffe://<name>/<segments joined by />`.
    pub fn member<S: AsRef<str>>(&self, segments: &[S]) -> Result<SpiffeId, SpiffeIdError> {
        let mut full = format!("{SCHEME_PREFIX}{}", self.0);
        for segment in segments {
            full.push('/');
            full.push_str(segment.as_ref());
        }
        SpiffeId::new(full)
    }
}

/// A validated SPIFFE ID, e.g. `spiffe://example.org/ns/prod/sa/web`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpiffeId {
    full: String,
    /// Byte offset where the trust domain ends and the path begins.
    td_end: usize,
}

impl SpiffeId {
    pub fn new(input: impl Into<String>) -> Result<Self, SpiffeIdError> {
        let full = input.into();
        let td_end = validate_id(&full)?;
        Ok(SpiffeId { full, td_end })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The trust domain name, e.g. `example.org`.
    pub fn trust_domain_name(&self) -> &str {
        &self.full[SCHEME_PREFIX.len()..self.td_end]
    }

    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain(self.trust_domain_name().to_owned())
    }

    /// The path including its leading `/`, or `""` for a trust domain ID.
    pub fn path(&self) -> &str {
        &self.full[self.td_end..]
    }

    /// The path segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path().split('/').skip(1)
    }

    /// True for `spiffe://<td>` with no path: the ID of a signing authority,
    /// never a valid workload (leaf) identity.
    pub fn is_trust_domain_id(&self) -> bool {
        self.td_end == self.full.len()
    }

    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain_name() == td.as_str()
    }
}

/// Checks a whole ID and returns where its trust domain ends.
fn validate_id(input: &str) -> Result<usize, SpiffeIdError> {
    if input.is_empty() {
        return Err(SpiffeIdError::Empty);
    }
    if input.len() > MAX_SPIFFE_ID_LEN {
        return Err(SpiffeIdError::TooLong { len: input.len() });
    }
    let rest = input
        .strip_prefix(SCHEME_PREFIX)
        .ok_or_else(|| SpiffeIdError::WrongScheme {
            input: input.to_owned(),
        })?;
    let td_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    validate_trust_domain(&rest[..td_len], input)?;
    validate_path(&rest[td_len..], input)?;
    Ok(SCHEME_PREFIX.len() + td_len)
}

fn validate_trust_domain(name: &str, input: &str) -> Result<(), SpiffeIdError> {
    let owned = || input.to_owned();
    if name.is_empty() {
        return Err(SpiffeIdError::MissingTrustDomain { input: owned() });
    }
    for ch in name.chars() {
        match ch {
            'a'..='z' | '0'..='9' | '.' | '-' | '_' => {}
            'A'..='Z' => return Err(SpiffeIdError::UpperCaseTrustDomain { input: owned(), ch }),
            '@' => return Err(SpiffeIdError::UserInfo { input: owned() }),
            ':' => return Err(SpiffeIdError::Port { input: owned() }),
            '%' => return Err(SpiffeIdError::PercentEncoded { input: owned() }),
            '?' | '#' => return Err(SpiffeIdError::QueryOrFragment { input: owned() }),
            _ => return Err(SpiffeIdError::TrustDomainChar { input: owned(), ch }),
        }
    }
    if name.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong {
            input: owned(),
            len: name.len(),
        });
    }
    Ok(())
}

/// Checks the path part (empty, or starting with `/`).
fn validate_path(path: &str, input: &str) -> Result<(), SpiffeIdError> {
    if path.is_empty() {
        return Ok(());
    }
    let owned = || input.to_owned();
    let Some(segments) = path.strip_prefix('/') else {
        // The trust domain scan stopped at `?` or `#`.
        return Err(SpiffeIdError::QueryOrFragment { input: owned() });
    };
    for segment in segments.split('/') {
        validate_segment(segment, input)?;
    }
    Ok(())
}

fn validate_segment(segment: &str, input: &str) -> Result<(), SpiffeIdError> {
    let owned = || input.to_owned();
    match segment {
        "" => return Err(SpiffeIdError::EmptySegment { input: owned() }),
        "." | ".." => return Err(SpiffeIdError::DotSegment { input: owned() }),
        _ => {}
    }
    for ch in segment.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => {}
            '%' => return Err(SpiffeIdError::PercentEncoded { input: owned() }),
            '?' | '#' => return Err(SpiffeIdError::QueryOrFragment { input: owned() }),
            _ => return Err(SpiffeIdError::PathChar { input: owned(), ch }),
        }
    }
    Ok(())
}

// === trait impls ===

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TrustDomain::new(s)
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpiffeId::new(s)
    }
}

impl TryFrom<String> for TrustDomain {
    type Error = SpiffeIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TrustDomain::new(value)
    }
}

impl TryFrom<String> for SpiffeId {
    type Error = SpiffeIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SpiffeId::new(value)
    }
}

impl From<TrustDomain> for String {
    fn from(td: TrustDomain) -> String {
        td.0
    }
}

impl From<SpiffeId> for String {
    fn from(id: SpiffeId) -> String {
        id.full
    }
}

#[cfg(test)]
mod tests;
