//! The enforcement service's control socket: a unix stream socket, one JSON
//! request per line and one JSON answer per line. Only root may talk to it
//! (checked with `SO_PEERCRED`, and the socket file is mode 0600): the OCI
//! hook runs as root under the container runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bulwark_core::ContainerId;
use serde::{Deserialize, Serialize};

use crate::backend::Backends;
use crate::container::Registration;
use crate::denial::StartRefusal;
use crate::enforcer::{Enforcer, Protection};

/// Longest request or answer line (bytes).
pub const MAX_LINE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: answer is not valid: {problem}")]
    Protocol { path: PathBuf, problem: String },
    #[error("enforcement service: {0}")]
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Arm a container (OCI `createRuntime`/`prestart`).
    Register {
        registration: Registration,
    },
    /// Tear a container's enforcement down (OCI `poststop`).
    Unregister {
        id: ContainerId,
    },
    /// A hook stage refused the container's start: report it.
    StartRefused {
        refusal: StartRefusal,
    },
    Status,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Registered {
        protection: Protection,
    },
    Unregistered {
        known: bool,
    },
    Recorded,
    Status {
        backends: Backends,
        containers: Vec<Protection>,
    },
    Error {
        message: String,
    },
}

/// The listening side, run by the service.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listen on `path` (replacing a stale socket) and serve `enforcer`;
    /// also runs its housekeeping every `tick`.
    pub fn start(
        path: &Path,
        enforcer: Arc<Enforcer>,
        tick: Duration,
    ) -> Result<Server, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("enforce-control".into())
            .spawn(move || serve(listener, enforcer, flag, tick))
            .map_err(io)?;
        Ok(Server {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, enforcer: Arc<Enforcer>, stop: Arc<AtomicBool>, tick: Duration) {
    let mut last_tick = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let e = enforcer.clone();
                let spawned = std::thread::Builder::new()
                    .name("enforce-conn".into())
                    .spawn(move || handle(stream, &e));
                if let Err(err) = spawned {
                    tracing::error!("control connection thread: {err}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => tracing::warn!("control socket accept: {e}"),
        }
        if last_tick.elapsed() >= tick {
            enforcer.tick();
            last_tick = std::time::Instant::now();
        }
    }
}

fn handle(stream: UnixStream, enforcer: &Enforcer) {
    let answer = match peer_is_root(&stream) {
        Ok(true) => match read_line(&stream) {
            Ok(line) => match serde_json::from_str::<Request>(&line) {
                Ok(req) => dispatch(req, enforcer),
                Err(e) => Response::Error {
                    message: format!("request is not valid JSON for this protocol: {e}"),
                },
            },
            Err(e) => Response::Error {
                message: format!("reading the request: {e}"),
            },
        },
        Ok(false) => Response::Error {
            message: "only root may use the enforcement control socket".into(),
        },
        Err(e) => Response::Error {
            message: format!("SO_PEERCRED: {e}"),
        },
    };
    let mut stream = stream;
    if let Ok(mut text) = serde_json::to_string(&answer) {
        text.push('\n');
        let _ = stream.write_all(text.as_bytes());
    }
}

fn dispatch(req: Request, enforcer: &Enforcer) -> Response {
    match req {
        Request::Register { registration } => match enforcer.register(registration) {
            Ok(protection) => Response::Registered { protection },
            Err(e) => Response::Error {
                message: error_chain(&e),
            },
        },
        Request::Unregister { id } => match enforcer.unregister(&id) {
            Ok(known) => Response::Unregistered { known },
            Err(e) => Response::Error {
                message: error_chain(&e),
            },
        },
        Request::StartRefused { refusal } => {
            enforcer.start_refused(&refusal);
            Response::Recorded
        }
        Request::Status => Response::Status {
            backends: enforcer.backends().clone(),
            containers: enforcer
                .containers()
                .iter()
                .filter_map(|id| enforcer.protection(id))
                .collect(),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn peer_is_root(stream: &UnixStream) -> Result<bool, nix::Error> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(cred.uid() == 0)
}

fn read_line(stream: &UnixStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = String::new();
    let mut reader = BufReader::new(stream.take(MAX_LINE as u64));
    reader.read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(std::io::Error::other("line too long or not terminated"));
    }
    Ok(line)
}

/// Send one request and wait (at most `timeout`) for its answer.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut text = serde_json::to_string(request).map_err(|e| ControlError::Protocol {
        path: path.to_owned(),
        problem: e.to_string(),
    })?;
    text.push('\n');
    stream.write_all(text.as_bytes()).map_err(io)?;
    let line = read_line(&stream).map_err(io)?;
    let response: Response = serde_json::from_str(&line).map_err(|e| ControlError::Protocol {
        path: path.to_owned(),
        problem: e.to_string(),
    })?;
    match response {
        Response::Error { message } => Err(ControlError::Refused(message)),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_op() {
        let r = Request::Unregister {
            id: ContainerId::new("c1").unwrap(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"op":"unregister","id":"c1"}"#);
        let back: Request = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn forged_container_id_in_a_request_is_refused_at_parse() {
        let bad = r#"{"op":"unregister","id":"../../x"}"#;
        assert!(serde_json::from_str::<Request>(bad).is_err());
    }
}
