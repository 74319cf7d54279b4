//! The `SpiffeWorkloadAPI` gRPC service.
//!
//! Every call must carry `workload.spiffe.io: true` (else InvalidArgument,
//! the Workload Endpoint spec's SSRF guard). The caller is attested from the
//! connection's kernel credentials on every call and again on every state
//! change of a stream; a caller that matches no entry gets PermissionDenied
//! (and a stream whose caller loses its last identity ends with it).

use std::pin::Pin;
use std::sync::Arc;

use bulwark_core::spiffe::SpiffeId;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{debug, info};

use super::conn::CallerInfo;
use super::pb::{self, spiffe_workload_api_server::SpiffeWorkloadApi};
use super::response;
use crate::attest::{Attestor, PeerCredentials};
use crate::entry::{Entry, WorkloadAttributes, identities_for};
use crate::jwt::validate_jwt_svid;
use crate::server::{IdentityState, Snapshot};

/// The metadata key every Workload API request must carry.
pub const SECURITY_HEADER: &str = "workload.spiffe.io";

type StreamOf<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The Workload API over an [`IdentityState`].
#[derive(Debug, Clone)]
pub struct WorkloadApi {
    state: Arc<IdentityState>,
    attestor: Arc<Attestor>,
}

impl WorkloadApi {
    pub fn new(state: Arc<IdentityState>, attestor: Arc<Attestor>) -> Self {
        WorkloadApi { state, attestor }
    }

    /// Checks the security header and returns the connection's caller.
    fn caller<T>(&self, req: &Request<T>) -> Result<Arc<Result<PeerCredentials, String>>, Status> {
        let header = req
            .metadata()
            .get(SECURITY_HEADER)
            .and_then(|v| v.to_str().ok());
        if header != Some("true") {
            return Err(Status::invalid_argument(
                "security header missing from request: workload.spiffe.io: true",
            ));
        }
        req.extensions()
            .get::<CallerInfo>()
            .map(|c| Arc::clone(&c.0))
            .ok_or_else(|| Status::permission_denied("caller credentials unavailable"))
    }

    /// Attests the caller against the current snapshot.
    async fn attest(
        &self,
        caller: &Arc<Result<PeerCredentials, String>>,
        snap: &Snapshot,
    ) -> Result<WorkloadAttributes, Status> {
        attest(&self.attestor, caller, snap).await
    }
}

async fn attest(
    attestor: &Arc<Attestor>,
    caller: &Arc<Result<PeerCredentials, String>>,
    snap: &Snapshot,
) -> Result<WorkloadAttributes, Status> {
    let need_hash = snap.entries.iter().any(|e| e.selectors.needs_binary_hash());
    let attestor = Arc::clone(attestor);
    let caller = Arc::clone(caller);
    let result = tokio::task::spawn_blocking(move || match caller.as_ref() {
        Ok(peer) => attestor.attest(peer, need_hash).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    })
    .await
    .map_err(|e| Status::internal(format!("attestation task failed: {e}")))?;
    result.map_err(|e| Status::permission_denied(format!("caller could not be attested: {e}")))
}

fn no_identity(attrs: &WorkloadAttributes) -> Status {
    info!(
        pid = attrs.pid,
        uid = attrs.uid,
        "Workload API caller matches no registration entry"
    );
    Status::permission_denied("no identity issued")
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for WorkloadApi {
    type FetchX509SVIDStream = StreamOf<pb::X509svidResponse>;
    type FetchX509BundlesStream = StreamOf<pb::X509BundlesResponse>;
    type FetchJWTBundlesStream = StreamOf<pb::JwtBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        req: Request<pb::X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        let caller = self.caller(&req)?;
        Ok(Response::new(self.stream(caller, |snap, ids| {
            response::x509_svids(snap, ids)
        })))
    }

    async fn fetch_x509_bundles(
        &self,
        req: Request<pb::X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        let caller = self.caller(&req)?;
        Ok(Response::new(
            self.stream(caller, |snap, _| response::x509_bundles(snap)),
        ))
    }

    async fn fetch_jwt_bundles(
        &self,
        req: Request<pb::JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        let caller = self.caller(&req)?;
        Ok(Response::new(
            self.stream(caller, |snap, _| response::jwt_bundles(snap)),
        ))
    }

    async fn fetch_jwtsvid(
        &self,
        req: Request<pb::JwtsvidRequest>,
    ) -> Result<Response<pb::JwtsvidResponse>, Status> {
        let caller = self.caller(&req)?;
        let req = req.into_inner();
        if req.audience.is_empty() || req.audience.iter().any(String::is_empty) {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        let snap = self.state.current();
        let attrs = self.attest(&caller, &snap).await?;
        let mut ids = identities_for(&snap.entries, &attrs);
        if ids.is_empty() {
            return Err(no_identity(&attrs));
        }
        if !req.spiffe_id.is_empty() {
            let want = SpiffeId::new(req.spiffe_id.as_str())
                .map_err(|e| Status::invalid_argument(format!("spiffe_id: {e}")))?;
            ids.retain(|e| e.spiffe_id == want);
            if ids.is_empty() {
                return Err(Status::permission_denied(format!(
                    "caller is not entitled to {want}"
                )));
            }
        }
        let svids = jwt_svids(&snap, &ids, &req.audience)?;
        debug!(pid = attrs.pid, count = svids.len(), "JWT-SVIDs issued");
        Ok(Response::new(pb::JwtsvidResponse { svids }))
    }

    async fn validate_jwtsvid(
        &self,
        req: Request<pb::ValidateJwtsvidRequest>,
    ) -> Result<Response<pb::ValidateJwtsvidResponse>, Status> {
        let caller = self.caller(&req)?;
        let req = req.into_inner();
        if req.audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        if req.svid.is_empty() {
            return Err(Status::invalid_argument("svid must be specified"));
        }
        let snap = self.state.current();
        self.attest(&caller, &snap).await?;
        let now = std::time::SystemTime::now();
        let verified = validate_jwt_svid(&req.svid, &req.audience, &snap.bundles, now)
            .map_err(|e| Status::invalid_argument(format!("invalid JWT-SVID: {e}")))?;
        Ok(Response::new(pb::ValidateJwtsvidResponse {
            spiffe_id: verified.spiffe_id().to_string(),
            claims: Some(response::claims_struct(verified.claims())),
        }))
    }
}

fn jwt_svids(
    snap: &Snapshot,
    ids: &[&Entry],
    audience: &[String],
) -> Result<Vec<pb::Jwtsvid>, Status> {
    let now = std::time::SystemTime::now();
    let mut hints = std::collections::BTreeSet::new();
    ids.iter()
        .map(|e| {
            let svid = snap
                .jwt_signer
                .issue(&e.spiffe_id, audience, e.jwt_ttl, now)
                .map_err(|err| Status::internal(format!("signing JWT-SVID: {err}")))?;
            Ok(pb::Jwtsvid {
                spiffe_id: e.spiffe_id.to_string(),
                svid: svid.token,
                hint: response::unique_hint(e, &mut hints),
            })
        })
        .collect()
}

impl WorkloadApi {
    /// A full-state stream: one message now, then one whenever the state
    /// changes in a way that changes the message. Ends with PermissionDenied
    /// when the caller has (or is left with) no identity.
    fn stream<T, F>(&self, caller: Arc<Result<PeerCredentials, String>>, build: F) -> StreamOf<T>
    where
        T: PartialEq + Clone + Send + 'static,
        F: Fn(&Snapshot, &[&Entry]) -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(4);
        let state = Arc::clone(&self.state);
        let attestor = Arc::clone(&self.attestor);
        tokio::spawn(async move {
            let mut changes = state.subscribe();
            let mut last: Option<T> = None;
            loop {
                changes.borrow_and_update();
                let snap = state.current();
                let message = match attest(&attestor, &caller, &snap).await {
                    Ok(attrs) => {
                        let ids = identities_for(&snap.entries, &attrs);
                        if ids.is_empty() {
                            Err(no_identity(&attrs))
                        } else {
                            Ok(build(&snap, &ids))
                        }
                    }
                    Err(status) => Err(status),
                };
                match message {
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    Ok(m) if last.as_ref() != Some(&m) => {
                        if tx.send(Ok(m.clone())).await.is_err() {
                            return;
                        }
                        last = Some(m);
                    }
                    Ok(_) => {}
                }
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}
