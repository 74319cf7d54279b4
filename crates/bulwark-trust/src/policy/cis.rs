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
/// file added above the first `base_layers` layers, except `allowed`.
pub(super) fn no_setuid_added(
    files: Option<&[SetuidFile]>,
    base_layers: usize,
    allowed: &[String],
) -> Check {
    let Some(files) = files else {
        return (false, "layers were not inspected for set-uid files".into());
    };
    let added: Vec<&SetuidFile> = files
        .iter()
        .filter(|f| {
            f.layer >= base_layers
                && !allowed
                    .iter()
                    .any(|a| a.trim_start_matches('/') == f.path.trim_start_matches('/'))
        })
        .collect();
    match added.as_slice() {
        [] => (
            true,
            format!("no set-uid/set-gid files above layer {base_layers}"),
        ),
        files => (
            false,
            format!(
                "set-uid/set-gid files added: {}",
                files
                    .iter()
                    .take(5)
                    .map(|f| format!("{} ({:o}, layer {})", f.path, f.mode & 0o7777, f.layer))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

fn truncate(s: &str) -> String {
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
        assert!(!no_setuid_added(Some(&files), 1, &[]).0);
        assert!(no_setuid_added(Some(&files), 3, &[]).0);
        assert!(no_setuid_added(Some(&files), 1, &["/usr/local/bin/esc".into()]).0);
        assert!(!no_setuid_added(None, 0, &[]).0);
    }
}
