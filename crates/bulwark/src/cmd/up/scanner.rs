//! A least-privilege token for pushing image scans to this platform's
//! server: on the first start with the server up, a `scanner` service user
//! bound to the `scanner` role (create images, read nothing) and its API
//! token in `D/server/scanner.token` (0600), made through the server's own
//! API with the bootstrap admin token (so every step is audited).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

const USER: &str = "scanner";

/// The token file, created if it is missing and the admin token is there;
/// None when there is no admin token to create it with.
pub fn ensure_token(server_dir: &Path, listen: SocketAddr) -> anyhow::Result<Option<PathBuf>> {
    let path = server_dir.join("scanner.token");
    if path.exists() {
        return Ok(Some(path));
    }
    let Ok(admin) = std::fs::read_to_string(server_dir.join("admin.token")) else {
        return Ok(None);
    };
    let api = Api {
        base: format!("http://{listen}/api/v1"),
        admin: admin.trim().to_owned(),
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent(),
    };
    // An earlier start may have made the user before it was stopped.
    api.post("users", &json!({"name": USER, "kind": "service"}), &[409])?;
    let binding =
        json!({"subject": {"kind": "user", "name": USER}, "role": "scanner", "scope": "cluster"});
    api.post("role-bindings", &binding, &[409])?;
    let token = api.post("tokens", &json!({"name": "scanner", "owner": USER}), &[])?;
    let token = token["token"]
        .as_str()
        .context("creating the scanner token: no token in the answer")?;
    bulwark_server::bootstrap::write_private(&path, &format!("{token}\n"))?;
    Ok(Some(path))
}

struct Api {
    base: String,
    admin: String,
    agent: ureq::Agent,
}

impl Api {
    /// POSTs `body`; statuses in `also_ok` count as done (e.g. 409: exists).
    fn post(&self, what: &str, body: &Value, also_ok: &[u16]) -> anyhow::Result<Value> {
        let url = format!("{}/{what}", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("authorization", format!("Bearer {}", self.admin))
            .header("content-type", "application/json")
            .send(body.to_string())
            .with_context(|| format!("creating the scanner token: POST {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) || also_ok.contains(&status) {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        anyhow::bail!(
            "creating the scanner token: POST {url}: {status}: {}",
            text.trim()
        )
    }
}
