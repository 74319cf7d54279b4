//! Image globs: `*` matches within one path component, `**` across
//! components; globs are normalised like references (`nginx` means
//! `docker.io/library/nginx`), so a policy and an image spelled differently
//! for the same repository still meet.

use crate::reference::{DOCKER_HUB, ImageRef};

/// A compiled image glob.
#[derive(Clone, Debug)]
pub struct ImageGlob {
    source: String,
    normalised: String,
    with_tag: bool,
    regex: regex::Regex,
}

impl ImageGlob {
    pub fn new(glob: &str) -> Result<ImageGlob, String> {
        if glob.is_empty() || glob.contains(char::is_whitespace) {
            return Err(format!(
                "image glob {glob:?}: must be non-empty without spaces"
            ));
        }
        let normalised = normalise(glob);
        let with_tag = normalised
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':') || last.contains('@'));
        let regex = regex::Regex::new(&to_regex(&normalised))
            .map_err(|e| format!("image glob {glob:?}: {e}"))?;
        Ok(ImageGlob {
            source: glob.to_string(),
            normalised,
            with_tag,
            regex,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the glob select `image`? Without a tag part the glob matches
    /// `registry/repository` (any tag or digest); with one it matches
    /// `registry/repository:tag` or `registry/repository@digest`.
    pub fn matches(&self, image: &ImageRef) -> bool {
        if !self.with_tag {
            return self.regex.is_match(&image.name());
        }
        let mut forms = Vec::new();
        if let Some(tag) = image.tag() {
            forms.push(format!("{}:{tag}", image.name()));
        }
        if let Some(d) = image.digest() {
            forms.push(format!("{}@{d}", image.name()));
        }
        forms.iter().any(|f| self.regex.is_match(f))
    }

    /// The glob as it is matched, after normalisation.
    pub fn normalised(&self) -> &str {
        &self.normalised
    }
}

fn normalise(glob: &str) -> String {
    if glob == "**" || glob == "*" {
        return "**".to_string();
    }
    let (first, rest) = match glob.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (glob, None),
    };
    let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    let is_wild_registry = first == "**";
    match rest {
        Some(rest) if is_registry => {
            let registry = match first.to_ascii_lowercase().as_str() {
                "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                    DOCKER_HUB.to_string()
                }
                other => other.to_string(),
            };
            if registry == DOCKER_HUB && !rest.contains('/') && !rest.starts_with("**") {
                format!("{registry}/library/{rest}")
            } else {
                format!("{registry}/{rest}")
            }
        }
        Some(_) if is_wild_registry => glob.to_string(),
        Some(_) => format!("{DOCKER_HUB}/{glob}"),
        None if glob.starts_with('*') => glob.to_string(),
        None => format!("{DOCKER_HUB}/library/{glob}"),
    }
}

fn to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, image: &str) -> bool {
        ImageGlob::new(glob)
            .unwrap()
            .matches(&image.parse().unwrap())
    }

    #[test]
    fn single_star_stays_within_a_component() {
        assert!(m("ghcr.io/org/*", "ghcr.io/org/app:1"));
        assert!(!m("ghcr.io/org/*", "ghcr.io/org/team/app:1"));
        assert!(m("ghcr.io/org/**", "ghcr.io/org/team/app:1"));
        assert!(!m("ghcr.io/org/**", "ghcr.io/orgx/app"));
    }

    #[test]
    fn docker_hub_spellings_meet() {
        assert!(m("nginx", "docker.io/library/nginx:1.25"));
        assert!(m("docker.io/nginx", "nginx"));
        assert!(m("index.docker.io/library/nginx", "nginx:latest"));
        assert!(m("bitnami/*", "bitnami/redis"));
        assert!(!m("nginx", "ghcr.io/library/nginx"));
        assert!(m("**", "ghcr.io/a/b/c"));
    }

    #[test]
    fn tag_globs_match_the_tag() {
        assert!(m("ghcr.io/org/app:v1.*", "ghcr.io/org/app:v1.2"));
        assert!(!m("ghcr.io/org/app:v1.*", "ghcr.io/org/app:v2.0"));
        assert!(!m("ghcr.io/org/app:v1.*", "ghcr.io/org/app"));
    }

    #[test]
    fn regex_metacharacters_are_literal() {
        assert!(!m("ghcr.io/org/a.b", "ghcr.io/org/axb"));
    }
}
