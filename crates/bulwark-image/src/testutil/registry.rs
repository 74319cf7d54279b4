//! A real registry (Debian's `docker-registry`, distribution 2.8) on
//! loopback, with a temporary storage directory, killed on drop. Three
//! configurations: anonymous, htpasswd basic auth, and bearer tokens issued
//! by [`TokenServer`], an HTTP server in the test process whose ES256 tokens
//! the registry verifies against a certificate generated here with rcgen.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::reference::Reference;
use crate::registry::{Credentials, RegistryOptions};
use crate::testutil::token::TokenServer;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How the test registry authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// No authentication.
    Anonymous,
    /// htpasswd basic auth with one user.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Bearer tokens from an in-process token server that grants pull and
    /// push to this user and nothing to anyone else.
    Token {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

impl RegistryAuth {
    /// Basic auth for `user`/`password`.
    pub fn basic(user: &str, password: &str) -> Self {
        RegistryAuth::Basic {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Token auth for `user`/`password`.
    pub fn token(user: &str, password: &str) -> Self {
        RegistryAuth::Token {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The credentials a client needs, if any.
    pub fn credentials(&self) -> Option<Credentials> {
        match self {
            RegistryAuth::Anonymous => None,
            RegistryAuth::Basic { user, password } | RegistryAuth::Token { user, password } => {
                Some(Credentials {
                    username: user.clone(),
                    password: password.clone(),
                })
            }
        }
    }
}

/// A running registry; stopped and its storage removed on drop.
pub struct TestRegistry {
    child: Child,
    addr: SocketAddr,
    auth: RegistryAuth,
    tls: bool,
    token_server: Option<TokenServer>,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a plain-HTTP registry; panics with the registry's log if it
    /// does not come up, and names the missing package if it is not
    /// installed.
    pub fn start(auth: RegistryAuth) -> TestRegistry {
        TestRegistry::start_with(auth, false)
    }

    /// Starts an HTTPS registry whose certificate (for 127.0.0.1) is issued
    /// by a CA generated here; [`TestRegistry::options`] trusts that CA.
    pub fn start_tls(auth: RegistryAuth) -> TestRegistry {
        TestRegistry::start_with(auth, true)
    }

    fn start_with(auth: RegistryAuth, tls: bool) -> TestRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} missing: install the Debian package docker-registry (scripts/install-deps.sh)"
        );
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let addr = free_port();
            let token_server = match &auth {
                RegistryAuth::Token { user, password } => Some(TokenServer::start(user, password)),
                _ => None,
            };
            let mut config = config(dir.path(), addr, &auth, token_server.as_ref());
            if tls {
                config = config.replace(
                    &format!("  addr: {addr}\n"),
                    &format!("  addr: {addr}\n{}", tls_config(dir.path())),
                );
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut registry = TestRegistry {
                child,
                addr,
                auth: auth.clone(),
                tls,
                token_server,
                dir,
            };
            if registry.wait_ready() {
                return registry;
            }
            last_log = registry.log();
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A reference to `repo[:tag]` in this registry.
    pub fn reference(&self, repo_tag: &str) -> Reference {
        format!("{}/{repo_tag}", self.host()).parse().unwrap()
    }

    /// The auth configuration.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// Client options that reach this registry (plain HTTP, or HTTPS
    /// trusting its CA; its credentials; no auth files).
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            credentials: self.auth.credentials(),
            auth_files: vec![self.dir.path().join("no-auth-file.json")],
            plain_http: !self.tls,
            ca_files: if self.tls {
                vec![self.ca_file()]
            } else {
                Vec::new()
            },
            ..RegistryOptions::default()
        }
    }

    /// The CA certificate (PEM) of an HTTPS registry.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("certs/ca.crt")
    }

    /// Token requests the token server has seen (empty without one).
    pub fn token_requests(&self) -> Vec<crate::testutil::token::TokenRequest> {
        self.token_server
            .as_ref()
            .map(TokenServer::requests)
            .unwrap_or_default()
    }

    /// Pushes the image `oci:LAYOUT[:NAME]` to `repo:tag` here with skopeo
    /// (a third-party client), using this registry's credentials.
    pub fn push_oci_layout(&self, layout: &Path, name: Option<&str>, repo_tag: &str) {
        let source = match name {
            Some(n) => format!("oci:{}:{n}", layout.display()),
            None => format!("oci:{}", layout.display()),
        };
        self.skopeo_copy(&source, repo_tag, false);
    }

    /// `skopeo copy [--all] SOURCE docker://HOST/REPO_TAG` with this
    /// registry's credentials.
    pub fn skopeo_copy(&self, source: &str, repo_tag: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--insecure-policy"]);
        if self.tls {
            cmd.arg(format!(
                "--dest-cert-dir={}",
                self.dir.path().join("certs").display()
            ));
        } else {
            cmd.arg("--dest-tls-verify=false");
        }
        if all {
            cmd.arg("--all");
        }
        if let Some(c) = self.auth.credentials() {
            cmd.arg(format!("--dest-creds={}:{}", c.username, c.password));
        }
        cmd.env(
            "REGISTRY_AUTH_FILE",
            self.dir.path().join("skopeo-auth.json"),
        );
        cmd.arg(source)
            .arg(format!("docker://{}/{repo_tag}", self.host()));
        run(&mut cmd);
    }

    /// The registry's storage directory (to tamper with blobs in tests).
    pub fn storage_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// The requests served so far, as `(method, path)` (from the access
    /// log, in order): what tests count to prove a blob was fetched once.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.log().lines().filter_map(access_line).collect()
    }

    /// How many times the blob `digest` was downloaded (`GET`).
    pub fn blob_fetches(&self, digest: &str) -> usize {
        let suffix = format!("/blobs/{digest}");
        self.requests()
            .iter()
            .filter(|(method, path)| method == "GET" && path.ends_with(&suffix))
            .count()
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("registry.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command, panicking with its output if it fails (or is missing).
pub(crate) fn run(cmd: &mut Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (install it: scripts/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{program} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a CA and a server certificate for 127.0.0.1 under `dir/certs`
/// and returns the registry's `tls:` configuration.
fn tls_config(dir: &Path) -> String {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bulwark test registry CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(certs.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    )
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// `METHOD PATH` of an access-log line (combined log format:
/// `host - - [time] "GET /v2/... HTTP/1.1" 200 ...`).
fn access_line(line: &str) -> Option<(String, String)> {
    let (_, rest) = line.split_once('"')?;
    let (request, _) = rest.split_once('"')?;
    let mut words = request.split_whitespace();
    let (method, path, version) = (words.next()?, words.next()?, words.next()?);
    version
        .starts_with("HTTP/")
        .then(|| (method.to_owned(), path.to_owned()))
}

fn config(
    dir: &Path,
    addr: SocketAddr,
    auth: &RegistryAuth,
    tokens: Option<&TokenServer>,
) -> String {
    let storage = dir.join("storage");
    let mut text = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
        storage.display()
    );
    match auth {
        RegistryAuth::Anonymous => {}
        RegistryAuth::Basic { user, password } => {
            let htpasswd = dir.join("htpasswd");
            let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
            std::fs::write(&htpasswd, line).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: bulwark-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        RegistryAuth::Token { .. } => {
            let server = tokens.unwrap();
            let bundle = dir.join("token-ca.pem");
            std::fs::write(&bundle, server.certificate_pem()).unwrap();
            text.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                server.realm(),
                crate::testutil::token::SERVICE,
                crate::testutil::token::ISSUER,
                bundle.display()
            ));
        }
    }
    text
}
