//! First start: with no account in the directory, create the first
//! administrator (a random password, written to a 0600 file in the data
//! directory) and, if asked, an admin API token written to a 0600 file.
//! Both are audited. Later starts change nothing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bulwark_audit::Entry;
use bulwark_control::rbac::{Principal, Subject};
use serde_json::json;

use crate::app::{App, StartError};
use crate::auth::secret;
use crate::store::TokenOwner;

/// What the first start created.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// The admin's name and where its password is.
    pub admin: Option<(String, PathBuf)>,
    pub token_file: Option<PathBuf>,
}

/// Writes `text` to a new file only root can read (refuses to overwrite).
pub fn write_private(path: &Path, text: &str) -> Result<(), StartError> {
    let err = |e: std::io::Error| StartError::Invalid(format!("writing {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Creates the first admin if there is no account yet.
pub async fn first_start(
    app: &App,
    admin: &str,
    token_file: Option<&Path>,
) -> Result<Bootstrapped, StartError> {
    if app.store.directory().user_count().await? > 0 {
        return Ok(Bootstrapped::default());
    }
    let password = secret::new_password().map_err(|e| StartError::Invalid(e.to_string()))?;
    let phc = secret::hash_password(&password).map_err(|e| StartError::Invalid(e.to_string()))?;
    let password_file = app.settings.data_dir.join("initial-admin-password");
    write_private(&password_file, &format!("{password}\n"))?;
    let entry = Entry::new("server", "bootstrap.admin")
        .target(admin)
        .detail(json!({"password_file": password_file.display().to_string()}));
    app.store
        .directory()
        .bootstrap_admin(admin, phc, app.audit.gate(entry))
        .await?;
    let mut done = Bootstrapped {
        admin: Some((admin.to_owned(), password_file)),
        token_file: None,
    };
    if let Some(path) = token_file {
        let principal = Principal {
            subject: Subject::User(admin.to_owned()),
            bindings: Vec::new(),
        };
        let entry = Entry::new("server", "bootstrap.token")
            .target(admin)
            .detail(json!({"token_file": path.display().to_string()}));
        let (token, _) = app
            .store
            .directory()
            .create_token(
                TokenOwner::Caller(&principal),
                "bootstrap",
                "api",
                None,
                None,
                app.audit.gate(entry),
            )
            .await?;
        write_private(path, &format!("{}\n", token.token))?;
        done.token_file = Some(path.to_path_buf());
    }
    Ok(done)
}
