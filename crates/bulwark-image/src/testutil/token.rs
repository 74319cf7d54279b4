//! A token server for the test registry (the Docker token auth protocol):
//! `GET /token?service=...&scope=repository:NAME:ACTIONS` with optional
//! basic credentials, answered with an ES256 JWT whose `x5c` header carries
//! the certificate the registry trusts. Valid credentials get the actions
//! they ask for; anyone else gets a token granting nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The `service` the registry is configured with.
pub const SERVICE: &str = "bulwark-test-registry";
/// The token issuer the registry is configured with.
pub const ISSUER: &str = "bulwark-test-token-issuer";

/// One request the token server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `scope` parameter.
    pub scope: String,
    /// The user that authenticated, if any.
    pub user: Option<String>,
    /// Whether an `Authorization` header was sent at all.
    pub had_authorization: bool,
}

struct Shared {
    user: String,
    password: String,
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    requests: Mutex<Vec<TokenRequest>>,
    stop: AtomicBool,
}

/// The running token server; stopped on drop.
pub struct TokenServer {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    cert_pem: String,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts a token server accepting `user`/`password`.
    pub fn start(user: &str, password: &str) -> TokenServer {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["bulwark-test-token-issuer".into()]).unwrap();
        let cert = params.self_signed(&key_pair).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der())
                .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            user: user.into(),
            password: password.into(),
            key,
            cert_der: cert.der().to_vec(),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve(&s, stream);
                }
            }
        });
        TokenServer {
            shared,
            addr,
            cert_pem: cert.pem(),
            thread: Some(thread),
        }
    }

    /// The realm URL.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The certificate the registry must trust (PEM).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Requests answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_owned());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let scope = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .map(percent_decode)
        .unwrap_or_default();
    let user = authorization.as_deref().and_then(|a| basic_user(shared, a));
    let wrong_credentials = authorization.is_some() && user.is_none();
    shared.requests.lock().unwrap().push(TokenRequest {
        scope: scope.clone(),
        user: user.clone(),
        had_authorization: authorization.is_some(),
    });
    let mut out = stream;
    if wrong_credentials {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        return write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let token = issue(shared, &scope, user.is_some());
    let body = format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#);
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn basic_user(shared: &Shared, header: &str) -> Option<String> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == shared.user && password == shared.password).then(|| user.to_owned())
}

fn issue(shared: &Shared, scope: &str, authenticated: bool) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scope
        .split(' ')
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = if authenticated {
                actions.split(',').collect()
            } else {
                Vec::new()
            };
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&shared.cert_der)]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": if authenticated { shared.user.as_str() } else { "" }, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand_suffix()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = shared
        .key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn rand_suffix() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
