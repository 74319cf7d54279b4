//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Basic realm="..."` or `Bearer realm="...",service="...",scope="..."`.

use std::collections::BTreeMap;

/// A parsed challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses the first challenge of a header value.
pub(crate) fn parse(header: &str) -> Result<Challenge, String> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = params(rest)?;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Ok(Challenge::Basic),
        "bearer" => Ok(Challenge::Bearer {
            realm: params
                .get("realm")
                .cloned()
                .ok_or("bearer challenge without realm")?,
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        other => Err(format!("unsupported auth scheme {other:?}")),
    }
}

/// `key="quoted, value",key2=token` pairs.
fn params(mut rest: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            return Ok(out);
        }
        let eq = rest.find('=').ok_or("malformed auth parameter")?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or("unterminated quoted auth parameter")?;
            value = v;
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let c = parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/debian:pull".into()),
            }
        );
    }

    #[test]
    fn parses_basic_and_unquoted_and_escaped() {
        assert_eq!(
            parse(r#"Basic realm="basic-realm""#).unwrap(),
            Challenge::Basic
        );
        let c = parse(r#"bearer realm=http://x/t, scope="a\"b""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "http://x/t".into(),
                service: None,
                scope: Some("a\"b".into())
            }
        );
    }

    #[test]
    fn malformed_challenges_are_errors() {
        assert!(parse("Bearer service=x").is_err());
        assert!(parse(r#"Bearer realm="unterminated"#).is_err());
        assert!(parse("Negotiate abc").is_err());
    }
}
