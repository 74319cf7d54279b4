//! X.509-SVIDs: issuing them (`issue`) and verifying them (`verify`) exactly
//! per `standards/X509-SVID.md`.

mod cert_info;
mod issue;
mod verify;

pub use cert_info::{CertInfo, CertInfoError, KeyUsageBits};
pub use issue::{
    CLOCK_SKEW_ALLOWANCE, CaCert, IssueError, LeafRequest, X509Svid, ca_params, issue_leaf,
    new_key, random_serial, self_signed_ca, signed_ca,
};
pub use verify::{PeerRole, VerifiedX509Svid, X509BundleSource, X509SvidError, verify_x509_svid};
