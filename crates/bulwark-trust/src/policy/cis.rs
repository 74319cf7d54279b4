//! Image configuration checks mapped to the CIS Docker Benchmark (v1.6,
//! section 4 "Container Images and Build File").

use crate::evidence::{ImageConfig, SetuidFile};

/// Result of one config check: passed, and why.
pub(super) type Check = (bool, String);

/// CIS 4.1: "Ensure that a user for the container has been created".
pub(super) fn non_root(config: &ImageConfig) -> Check {
    let user = config.user.trim();
    let name = user.split(':').next().unwrap_or("");
    let root = name.is_empty() || name == "root" || name.trim_start_matches('0').is_empty();
    if root {
        (false, format!("runs as root (USER {:?})", user))
    } else {
        (true, format!("USER {user}"))
    }
}

/// CIS 4.6: "Ensure that HEALTHCHECK instructions have been added".
pub(super) fn healthcheck(config: &ImageConfig) -> Check {
    match &config.healthcheck {
        Some(test) if test.first().map(String::as_str) != Some("NONE") && !test.is_empty() => {
            (true, format!("HEALTHCHECK {}", test.join(" ")))
        }
        Some(_) => (false, "HEALTHCHECK is disabled (NONE)".into()),
        None => (false, "no HEALTHCHECK".into()),
    }
}

/// CIS 4.9: "Ensure that COPY is used instead of ADD" — here: no `ADD` of a
/// remote URL, which fetches unverified content at build time.
pub(super) fn no_add_from_url(config: &ImageConfig) -> Check {
    let bad: Vec<&String> = config
        .history
        .iter()
        .filter(|line| {
            let l = line.to_ascii_lowercase();
            let add = l.contains("add ") || l.starts_with("add");
            add && (l.contains("http://") || l.contains("https://"))
        })
        .collect();
    match bad.first() {
        Some(line) => (
            false,
            format!("ADD from a URL in history: {}", truncate(line)),
        ),
        None => (true, "no ADD from URLs in history".into()),
    }
}

const SECRET_NAMES: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "private_key",
    "access_key",
    "credentials",
    "auth",
];

fn looks_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| n.contains(s))
}

fn looks_secret_value(value: &str) -> bool {
    value.contains("-----BEGIN") && value.contains("PRIVATE KEY")
        || (value.len() == 20
            && value.starts_with("AKIA")
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        || value.starts_with("ghp_") && value.len() >= 36
}

/// CIS 4.10: "Ensure secrets are not stored in Dockerfiles".
pub(super) fn no_secrets(config: &ImageConfig) -> Check {
    for entry in &config.env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        if !value.is_empty() && (looks_secret_name(name) || looks_secret_value(value)) {
            return (false, format!("ENV {name} looks like a secret"));
        }
    }
    for line in &config.history {
        for word in line.split_whitespace() {
            if let Some((name, value)) = word.split_once('=')
                && !value.is_empty()
                && (looks_secret_name(name) || looks_secret_value(value))
            {
                return (
                    false,
                    format!("build history sets {name}: {}", truncate(line)),
                );
            }
        }
    }
    (true, "no secrets in ENV or build history".into())
}

/// CIS 4.8: "Ensure setuid and setgid permissions are removed" — no such
/// file written above the first `base_layers` layers (the trusted base),
/// except `allowed`. A file an upper layer rewrites or re-modes counts as
/// added: its content is no longer the base's.
pub(super) fn no_setuid_added(
    files: Option<Result<&[SetuidFile], &String>>,
    base_layers: usize,
    allowed: &[String],
) -> Check {
    let files = match files {
        None => return (false, "layers were not inspected for set-uid files".into()),
        Some(Err(why)) => return (false, format!("layers could not be inspected: {why}")),
        Some(Ok(files)) => files,
    };
    let is_allowed = |f: &SetuidFile| {
        allowed
            .iter()
            .any(|a| a.trim_start_matches('/') == f.path.trim_start_matches('/'))
    };
    let (above, in_base): (Vec<&SetuidFile>, Vec<&SetuidFile>) =
        files.iter().partition(|f| f.layer >= base_layers);
    let (exempt, added): (Vec<&SetuidFile>, Vec<&SetuidFile>) =
        above.into_iter().partition(|f| is_allowed(f));
    let scope = if base_layers == 0 {
        "in the image (no trusted base)".to_string()
    } else {
        format!("above the trusted base's {base_layers} layer(s)")
    };
    if added.is_empty() {
        return (
            true,
            format!(
                "no set-uid/set-gid files {scope}; {} in the base, {} allowed",
                in_base.len(),
                exempt.len()
            ),
        );
    }
    let sample: Vec<String> = added
        .iter()
        .take(5)
        .map(|f| {
            format!(
                "/{} ({:o}, layer {})",
                f.path.trim_start_matches('/'),
                f.mode & 0o7777,
                f.layer
            )
        })
        .collect();
    (
        false,
        format!(
            "{} set-uid/set-gid file(s) {scope}: {}",
            added.len(),
            sample.join(", ")
        ),
    )
}

pub(super) fn truncate(s: &str) -> String {
    if s.len() <= 100 {
        return s.to_string();
    }
    let mut end = 100;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ImageConfig {
        ImageConfig::default()
    }

    #[test]
    fn root_users_fail_4_1() {
        for user in ["", "root", "0", "0:0", "root:root", "00"] {
            let c = ImageConfig {
                user: user.into(),
                ..cfg()
            };
            assert!(!non_root(&c).0, "{user:?}");
        }
        for user in ["app", "1000", "1000:1000", "nobody"] {
            let c = ImageConfig {
                user: user.into(),
                ..cfg()
            };
            assert!(non_root(&c).0, "{user:?}");
        }
    }

    #[test]
    fn healthcheck_none_fails_4_6() {
        assert!(!healthcheck(&cfg()).0);
        let none = ImageConfig {
            healthcheck: Some(vec!["NONE".into()]),
            ..cfg()
        };
        assert!(!healthcheck(&none).0);
        let ok = ImageConfig {
            healthcheck: Some(vec!["CMD".into(), "true".into()]),
            ..cfg()
        };
        assert!(healthcheck(&ok).0);
    }

    #[test]
    fn add_from_url_fails_4_9() {
        let c = ImageConfig {
            history: vec!["ADD https://example.com/x.tgz /x # buildkit".into()],
            ..cfg()
        };
        assert!(!no_add_from_url(&c).0);
        let c = ImageConfig {
            history: vec![
                "/bin/sh -c #(nop) ADD file:abc in / ".into(),
                "RUN curl https://x".into(),
            ],
            ..cfg()
        };
        assert!(no_add_from_url(&c).0);
    }

    #[test]
    fn secrets_in_env_or_history_fail_4_10() {
        let c = ImageConfig {
            env: vec!["DB_PASSWORD=hunter2".into()],
            ..cfg()
        };
        assert!(!no_secrets(&c).0);
        let c = ImageConfig {
            env: vec!["X=AKIAABCDEFGHIJKLMNOP".into()],
            ..cfg()
        };
        assert!(!no_secrets(&c).0);
        let c = ImageConfig {
            history: vec!["ARG API_TOKEN=abc".into()],
            ..cfg()
        };
        assert!(!no_secrets(&c).0);
        let c = ImageConfig {
            env: vec!["PATH=/usr/bin".into(), "PASSWORD_FILE=".into()],
            ..cfg()
        };
        assert!(no_secrets(&c).0);
    }

    #[test]
    fn setuid_above_the_base_fails_4_8() {
        let files = vec![
            SetuidFile {
                layer: 0,
                path: "usr/bin/passwd".into(),
                mode: 0o104755,
            },
            SetuidFile {
                layer: 2,
                path: "usr/local/bin/esc".into(),
                mode: 0o104755,
            },
        ];
        let files = Some(Ok(files.as_slice()));
        let (passed, reason) = no_setuid_added(files, 1, &[]);
        assert!(!passed);
        assert!(
            reason.contains("/usr/local/bin/esc (4755, layer 2)"),
            "{reason}"
        );
        assert!(no_setuid_added(files, 3, &[]).0);
        assert!(no_setuid_added(files, 1, &["/usr/local/bin/esc".into()]).0);
        let (passed, reason) = no_setuid_added(files, 0, &["usr/local/bin/esc".into()]);
        assert!(!passed, "without a trusted base every set-uid file counts");
        assert!(reason.contains("/usr/bin/passwd"), "{reason}");
        assert!(!no_setuid_added(None, 0, &[]).0);
        let why = "layer 3: digest mismatch".to_string();
        let (passed, reason) = no_setuid_added(Some(Err(&why)), 0, &[]);
        assert!(!passed && reason.contains("digest mismatch"), "{reason}");
    }
}
