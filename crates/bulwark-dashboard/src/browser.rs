//! Headless Chromium for browser tests (feature `test-support`): Debian's
//! `chromedriver` on a loopback port drives Debian's `chromium`, through the
//! fantoccini WebDriver client. Both run in their own process group, killed
//! when the [`Browser`] is dropped. Screenshots go to
//! `target/dashboard-screenshots/`, kept as test artefacts.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

pub use fantoccini;

/// Where Debian's packages put the two programs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long [`Browser::wait_for`] and friends wait for the page.
pub const WAIT: Duration = Duration::from_secs(30);

/// Why the browser could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "{path} is missing: install the Debian packages chromium and chromium-driver (scripts/apt-packages.txt)"
    )]
    Missing { path: &'static str },
    #[error("starting chromedriver: {0}")]
    Spawn(std::io::Error),
    #[error("chromedriver did not answer on 127.0.0.1:{port} within {secs} s")]
    NotReady { port: u16, secs: u64 },
    #[error("opening a Chromium session: {0}")]
    Session(#[from] fantoccini::error::NewSessionError),
    #[error("{what}: {source}")]
    Command {
        what: String,
        source: fantoccini::error::CmdError,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn cmd(what: impl Into<String>) -> impl FnOnce(fantoccini::error::CmdError) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Command { what, source }
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    client: Client,
    shots: PathBuf,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver and the Chromium it started (one process group), killed on
/// drop, also when a test fails half-way.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with an empty profile and
    /// no background network traffic (the machine has no outside network).
    pub async fn start() -> Result<Browser, BrowserError> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(path).exists() {
                return Err(BrowserError::Missing { path });
            }
        }
        let profile = tempfile::tempdir().map_err(BrowserError::Spawn)?;
        let port = free_port().map_err(BrowserError::Spawn)?;
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(BrowserError::Spawn)?,
        );
        wait_ready(port).await?;
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities(profile.path()));
        let client = builder.connect(&format!("http://127.0.0.1:{port}")).await?;
        Ok(Browser {
            client,
            shots: screenshot_dir(),
            _driver: driver,
            _profile: profile,
        })
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.client()
            .goto(url)
            .await
            .map_err(cmd(format!("opening {url}")))
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn wait_for(&self, css: &str) -> Result<Element, BrowserError> {
        self.client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .map_err(cmd(format!("waiting for {css}")))
    }

    /// Waits until an element matching `css` contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Result<Element, BrowserError> {
        self.wait_for_texts(css, &[text]).await
    }

    /// Waits until one element matching `css` contains every one of `texts`.
    pub async fn wait_for_texts(&self, css: &str, texts: &[&str]) -> Result<Element, BrowserError> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .client()
                .find_all(Locator::Css(css))
                .await
                .map_err(cmd(format!("finding {css}")))?;
            for el in found {
                if el
                    .text()
                    .await
                    .is_ok_and(|t| texts.iter().all(|x| t.contains(x)))
                {
                    return Ok(el);
                }
            }
            if Instant::now() > deadline {
                let source = self.client().find(Locator::Css("body")).await;
                let body = match source {
                    Ok(b) => b.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                return Err(BrowserError::Command {
                    what: format!("waiting for {css} with text {texts:?}; the page says: {body}"),
                    source: fantoccini::error::CmdError::WaitTimeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `script` in the page (`arguments` bound to `args`).
    pub async fn eval(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, BrowserError> {
        self.client()
            .execute(script, args)
            .await
            .map_err(cmd(format!("running {script}")))
    }

    /// Saves a PNG of the window as `target/dashboard-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, BrowserError> {
        let png = self
            .client()
            .screenshot()
            .await
            .map_err(cmd(format!("screenshot {name}")))?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::create_dir_all(&self.shots)
            .and_then(|()| std::fs::write(&path, png))
            .map_err(|source| BrowserError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub async fn close(self) -> Result<(), BrowserError> {
        self.client
            .clone()
            .close()
            .await
            .map_err(cmd("closing the session"))
    }
}

fn capabilities(profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1400,1000",
    ]
    .map(String::from)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    caps
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_ready(port: u16) -> Result<(), BrowserError> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BrowserError::NotReady {
        port,
        secs: WAIT.as_secs(),
    })
}

/// `$CARGO_TARGET_DIR/dashboard-screenshots`, else the workspace's `target/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("dashboard-screenshots")
}
