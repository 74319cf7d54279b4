//! A real PostgreSQL for tests: Debian's server binaries (package
//! `postgresql`), a fresh cluster in a temp dir owned by the `postgres`
//! user, listening only on a Unix socket in that dir. Stopped on drop.
//! Missing binaries or user fail the test loudly (never skipped).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct PgCluster {
    pub url: String,
    dir: tempfile::TempDir,
    bin: PathBuf,
    server: Child,
}

fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries are missing: install the Debian package `postgresql` (scripts/apt-packages.txt)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    found.sort();
    found
        .pop()
        .context("no /usr/lib/postgresql/*/bin with initdb and postgres: install `postgresql`")
}

fn as_postgres(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(bin).args(args);
    cmd
}

impl PgCluster {
    pub fn start() -> Result<PgCluster> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("bulwark-pg-").tempdir()?;
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .context("chown (is the `postgres` user there? install `postgresql`)")?;
        if !status.success() {
            bail!(
                "chown postgres {} failed: the `postgres` user is missing? install `postgresql`",
                dir.path().display()
            );
        }
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "bulwark",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )
        .output()
        .context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        // A port per test process: only the socket file name uses it.
        let port = 20_000 + (std::process::id() % 20_000);
        let sock = dir.path().to_string_lossy().into_owned();
        let server = as_postgres(
            &bin.join("postgres"),
            &[
                "-D",
                &data_s,
                "-k",
                &sock,
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=on",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting postgres")?;
        let socket = dir.path().join(format!(".s.PGSQL.{port}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("postgres did not open {} within 60 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The socket appears before the server accepts; give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        Ok(PgCluster {
            url: format!("postgres://bulwark@localhost/postgres?host={sock}&port={port}"),
            dir,
            bin,
            server,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "stop",
                "-D",
                &data.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "-t",
                "20",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        if !matches!(self.server.try_wait(), Ok(Some(_))) {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}
