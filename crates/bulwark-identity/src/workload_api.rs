//! The SPIFFE Workload API server on a Unix socket
//! (`standards/SPIFFE_Workload_API.md`, `SPIFFE_Workload_Endpoint.md`).
//!
//! The service is generated from `proto/workload.proto` (package-less, so
//! clients call `/SpiffeWorkloadAPI/FetchX509SVID` and so on). The socket is
//! open to every local process (mode 0777): who gets which identity is
//! decided by kernel attestation of each caller, not by file permissions.
//! Unknown methods (the optional WIT-SVID profile) answer Unimplemented.

mod authority;
mod conn;
pub mod pb;
mod response;
mod service;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;

pub use conn::{AttestedConn, CallerInfo};
pub use service::{SECURITY_HEADER, WorkloadApi};

use crate::attest::Attestor;
use crate::server::IdentityState;

/// Why the Workload API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("gRPC server on {path}: {source}")]
    Transport {
        path: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
}

/// Binds `path` (replacing a stale socket, never another kind of file).
pub fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let io = |source| ServeError::Io {
        path: path.to_owned(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ServeError::NotASocket(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
    Ok(listener)
}

/// Serves the Workload API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    path: &Path,
    state: Arc<IdentityState>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let api = WorkloadApi::new(state, Arc::new(Attestor::default()));
    let incoming = UnixListenerStream::new(listener).map(|s| s.map(AttestedConn::new));
    tonic::transport::Server::builder()
        .add_service(pb::spiffe_workload_api_server::SpiffeWorkloadApiServer::new(api))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|source| ServeError::Transport {
            path: path.to_owned(),
            source,
        })
}
