//! Registry credentials: given explicitly, or looked up the way docker,
//! podman and skopeo do: `REGISTRY_AUTH_FILE`, then
//! `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json`
//! or `~/.docker/config.json` (`auths` entries, `credHelpers` and
//! `credsStore` helper programs).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;
use crate::registry::RegistryError;

/// A user name and password (or token) for one registry. The password never
/// appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The auth files consulted, in order, from the environment.
pub(crate) fn default_auth_files() -> Vec<PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(d.join("containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG") {
        files.push(d.join("config.json"));
    } else if let Some(h) = env("HOME") {
        files.push(h.join(".docker/config.json"));
    }
    files
}

/// Looks up credentials for `registry` in `files` (first file that has an
/// entry wins). Missing files are skipped; unreadable or malformed ones are
/// errors.
pub(crate) fn lookup(
    registry: &str,
    files: &[PathBuf],
) -> Result<Option<Credentials>, RegistryError> {
    for file in files {
        let text = match std::fs::read(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(cred_error(file, &e.to_string())),
        };
        let config: ConfigFile =
            serde_json::from_slice(&text).map_err(|e| cred_error(file, &e.to_string()))?;
        if let Some(c) = from_config(&config, registry, file)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn from_config(
    config: &ConfigFile,
    registry: &str,
    file: &Path,
) -> Result<Option<Credentials>, RegistryError> {
    if let Some(helper) = config.cred_helpers.get(registry) {
        return run_helper(helper, registry, file);
    }
    for key in keys(registry) {
        if let Some(entry) = config.auths.get(&key)
            && let Some(c) = decode_entry(entry, file)?
        {
            return Ok(Some(c));
        }
    }
    match &config.creds_store {
        Some(store) => run_helper(store, registry, file),
        None => Ok(None),
    }
}

/// The spellings an `auths` key may take for one registry.
fn keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if registry == DOCKER_HUB {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("index.docker.io".into());
        keys.push("registry-1.docker.io".into());
    }
    keys
}

fn decode_entry(entry: &AuthEntry, file: &Path) -> Result<Option<Credentials>, RegistryError> {
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| cred_error(file, "an auth entry is not base64"))?;
    let text =
        String::from_utf8(decoded).map_err(|_| cred_error(file, "an auth entry is not UTF-8"))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| cred_error(file, "an auth entry is not user:password"))?;
    Ok(Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

fn run_helper(
    helper: &str,
    registry: &str,
    file: &Path,
) -> Result<Option<Credentials>, RegistryError> {
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(cred_error(
            file,
            "credential helper name has unexpected characters",
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| cred_error(file, &format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| cred_error(file, &format!("{program}: {e}")))?;
    if !out.status.success() {
        return Ok(None); // helpers exit non-zero for "no credentials"
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct HelperOut {
        username: String,
        secret: String,
    }
    let parsed: HelperOut = serde_json::from_slice(&out.stdout)
        .map_err(|e| cred_error(file, &format!("{program} output: {e}")))?;
    Ok(Some(Credentials {
        username: parsed.username,
        password: parsed.secret,
    }))
}

fn cred_error(file: &Path, reason: &str) -> RegistryError {
    RegistryError::Credentials {
        source_file: file.display().to_string(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn finds_base64_and_split_entries_under_any_key_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let f = write(
            dir.path(),
            &format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"r.example:5000":{{"username":"bob","password":"pw"}}}}}}"#
            ),
        );
        let hub = lookup(DOCKER_HUB, std::slice::from_ref(&f))
            .unwrap()
            .unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "s3cr:et")
        );
        let other = lookup("r.example:5000", std::slice::from_ref(&f))
            .unwrap()
            .unwrap();
        assert_eq!(other.username, "bob");
        assert_eq!(lookup("nobody.example", &[f]).unwrap(), None);
    }

    #[test]
    fn malformed_auth_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), r#"{"auths":{"x":{"auth":"%%%"}}}"#);
        let err = lookup("x", std::slice::from_ref(&f))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json") && err.contains("base64"),
            "{err}"
        );
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
