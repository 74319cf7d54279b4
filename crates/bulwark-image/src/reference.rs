//! Registry references: `[registry[:port]/]repository[:tag][@digest]`, with
//! Docker Hub's normalisation (`debian` is `docker.io/library/debian:latest`).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalised registry reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a registry reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {text:?}: {reason}")]
pub struct ReferenceParseError {
    /// The offending text (truncated).
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Reference {
    /// A reference from parts; `repository` must be valid.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Reference, ReferenceParseError> {
        let mut text = format!("{registry}/{repository}");
        if let Some(t) = tag {
            text.push(':');
            text.push_str(t);
        }
        let mut r: Reference = text.parse()?;
        r.digest = digest;
        Ok(r)
    }

    /// The registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host to talk to: Docker Hub's API host for `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository, e.g. `library/debian`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest if given, else the tag, else
    /// `latest`.
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository at another tag or digest.
    pub fn with_target(&self, tag: Option<&str>, digest: Option<Digest>) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: tag.map(str::to_owned),
            digest,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ReferenceParseError {
            text: text.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        if text.is_empty() || text.len() > 512 {
            return Err(fail("empty or longer than 512 characters"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|e| fail(&e.to_string()))?),
            ),
            None => (text, None),
        };
        let (name, tag) = split_tag(rest);
        if tag.is_some_and(|t| !valid_tag(t)) {
            return Err(fail("invalid tag"));
        }
        let (registry, repository) = split_registry(name);
        if !valid_registry(&registry) {
            return Err(fail("invalid registry host"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        if !valid_repository(&repository) {
            return Err(fail(
                "invalid repository name (lowercase letters, digits, . _ - and / only)",
            ));
        }
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

/// Splits `name[:tag]`; a `:` inside the registry part (a port) is not a tag.
fn split_tag(text: &str) -> (&str, Option<&str>) {
    match text.rfind(':') {
        Some(i) if !text[i + 1..].contains('/') => (&text[..i], Some(&text[i + 1..])),
        _ => (text, None),
    }
}

fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            let registry = if first == "index.docker.io" {
                DOCKER_HUB
            } else {
                first
            };
            (registry.to_owned(), rest)
        }
        _ => (DOCKER_HUB.to_owned(), name),
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_registry(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.split('/').all(|component| {
            let b = component.as_bytes();
            !b.is_empty()
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_are_normalised() {
        let r: Reference = "debian".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/debian");
        assert_eq!(r.target(), "latest");
        assert_eq!(r.api_host(), DOCKER_HUB_API);
        let r: Reference = "bitnami/redis:7.2".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/bitnami/redis:7.2");
        let r: Reference = "index.docker.io/library/alpine:3".parse().unwrap();
        assert_eq!(r.registry(), DOCKER_HUB);
    }

    #[test]
    fn registry_with_port_and_digest() {
        let d = Digest::sha256(b"x");
        let r: Reference = format!("127.0.0.1:5000/a/b:v1@{d}").parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.target(), d.to_string());
        let r: Reference = "localhost:5000/x".parse().unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("localhost:5000", "x", None)
        );
        let r: Reference = "localhost/x".parse().unwrap();
        assert_eq!(r.registry(), "localhost");
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "UPPER/case",
            "a/../b",
            "repo:bad tag",
            "repo@sha256:short",
            "example.com/",
            "a//b",
            "-a",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
