//! SVID issuance rate, against the cost of generating the P-256 key alone
//! (the baseline every issuance pays). `cargo bench -p bulwark-identity`.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use bulwark_core::spiffe::{SpiffeId, TrustDomain};
use bulwark_identity::ca::{CaPolicy, TrustDomainCa};
use bulwark_identity::x509::LeafRequest;

fn main() {
    divan::main();
}

fn ca() -> TrustDomainCa {
    let td = TrustDomain::new("example.org").unwrap();
    TrustDomainCa::init(td, CaPolicy::default(), SystemTime::now()).unwrap()
}

/// Baseline: one P-256 key pair.
#[divan::bench]
fn baseline_p256_keygen() -> rcgen::KeyPair {
    bulwark_identity::x509::new_key().unwrap()
}

/// One X.509-SVID: key pair, certificate, ECDSA signature by the intermediate.
#[divan::bench]
fn issue_x509_svid(bencher: divan::Bencher<'_, '_>) {
    let ca = ca();
    let id = SpiffeId::new("spiffe://example.org/web").unwrap();
    bencher.bench_local(|| {
        ca.issue_x509(&LeafRequest {
            id: &id,
            ttl: Duration::from_secs(3600),
            now: SystemTime::now(),
            dns_names: &[],
        })
        .unwrap()
    });
}

/// One JWT-SVID (ES256 signature).
#[divan::bench]
fn issue_jwt_svid(bencher: divan::Bencher<'_, '_>) {
    let ca = ca();
    let id = SpiffeId::new("spiffe://example.org/web").unwrap();
    let aud = vec!["db".to_string()];
    bencher.bench_local(|| {
        ca.issue_jwt(&id, &aud, Duration::from_secs(300), SystemTime::now())
            .unwrap()
    });
}
