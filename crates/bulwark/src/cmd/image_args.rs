//! Flags every command that opens an image shares: platform selection and
//! registry access.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use bulwark_image::registry::{Credentials, RegistryOptions};
use bulwark_image::{OpenOptions, Platform};

/// How to open an image.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImageArgs {
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`);
    /// default: this host's.
    #[arg(long, value_parser = parse_platform)]
    pub platform: Option<Platform>,

    /// Registry user name (with --password or $BULWARK_REGISTRY_PASSWORD);
    /// without it, credentials come from the auth files.
    #[arg(long, env = "BULWARK_REGISTRY_USERNAME")]
    pub username: Option<String>,

    /// Registry password or token (prefer --password-stdin or the
    /// environment variable: command lines are visible to other users).
    #[arg(long, env = "BULWARK_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Read the registry password from the first line of standard input.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,

    /// Auth file to look registry credentials up in (docker/podman
    /// `auth.json` format); repeatable. Default: the usual ones.
    #[arg(long = "authfile")]
    pub auth_files: Vec<PathBuf>,

    /// Extra PEM CA certificate to trust for registries; repeatable.
    #[arg(long = "ca-file")]
    pub ca_files: Vec<PathBuf>,

    /// Talk to the registry over plain HTTP (credentials only to loopback).
    #[arg(long)]
    pub insecure: bool,

    /// Registry network timeout in seconds (0: the default, 60).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    s.parse()
        .map_err(|e: bulwark_image::PlatformParseError| e.to_string())
}

impl ImageArgs {
    pub fn open_options(&self) -> anyhow::Result<OpenOptions> {
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            self.password.clone()
        };
        let credentials = match (&self.username, password) {
            (Some(username), Some(password)) => Some(Credentials {
                username: username.clone(),
                password,
            }),
            (None, None) => None,
            (Some(_), None) => bail!("--username needs --password (or $BULWARK_REGISTRY_PASSWORD)"),
            (None, Some(_)) => bail!("--password needs --username (or $BULWARK_REGISTRY_USERNAME)"),
        };
        Ok(OpenOptions {
            platform: self.platform.clone(),
            registry: RegistryOptions {
                credentials,
                auth_files: self.auth_files.clone(),
                plain_http: self.insecure,
                ca_files: self.ca_files.clone(),
                timeout_secs: self.timeout,
            },
            ..OpenOptions::default()
        })
    }

    /// Opens the image IMAGE names with these options.
    pub fn open(&self, image: &str) -> anyhow::Result<bulwark_image::Image> {
        Ok(bulwark_image::Image::open(image, &self.open_options()?)?)
    }
}
