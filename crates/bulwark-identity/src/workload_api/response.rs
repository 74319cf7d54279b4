//! Building full-state Workload API responses from a snapshot.

use std::collections::{BTreeSet, HashMap};

use prost_types::value::Kind;
use serde_json::Value;

use super::pb;
use crate::entry::Entry;
use crate::server::Snapshot;

/// `spiffe://<td>` of the snapshot's trust domain: the bundle map key.
fn td_key(snap: &Snapshot) -> String {
    snap.trust_domain.id().to_string()
}

/// One X509SVID per identity, in entry order (the first is the default).
/// Hints stay unique within the response: a repeated hint is left empty.
pub fn x509_svids(snap: &Snapshot, identities: &[&Entry]) -> pb::X509svidResponse {
    let bundle = snap.bundle.x509_der_concat();
    let mut hints = BTreeSet::new();
    let svids = identities
        .iter()
        .filter_map(|e| {
            let issued = snap.svids.get(&e.name)?;
            Some(pb::X509svid {
                spiffe_id: e.spiffe_id.to_string(),
                x509_svid: issued
                    .svid
                    .chain
                    .iter()
                    .flat_map(|c| c.iter().copied())
                    .collect(),
                x509_svid_key: issued.svid.key_pkcs8.clone(),
                bundle: bundle.clone(),
                hint: unique_hint(e, &mut hints),
            })
        })
        .collect();
    pb::X509svidResponse {
        svids,
        crl: Vec::new(),
        federated_bundles: HashMap::new(),
    }
}

pub fn unique_hint(e: &Entry, seen: &mut BTreeSet<String>) -> String {
    match &e.hint {
        Some(h) if seen.insert(h.clone()) => h.clone(),
        _ => String::new(),
    }
}

pub fn x509_bundles(snap: &Snapshot) -> pb::X509BundlesResponse {
    pb::X509BundlesResponse {
        crl: Vec::new(),
        bundles: HashMap::from([(td_key(snap), snap.bundle.x509_der_concat())]),
    }
}

pub fn jwt_bundles(snap: &Snapshot) -> pb::JwtBundlesResponse {
    pb::JwtBundlesResponse {
        bundles: HashMap::from([(td_key(snap), snap.bundle.jwks_json().into_bytes())]),
    }
}

/// JSON claims as a protobuf `Struct`.
pub fn claims_struct(claims: &serde_json::Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: claims
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect(),
    }
}

fn to_value(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(claims_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}
