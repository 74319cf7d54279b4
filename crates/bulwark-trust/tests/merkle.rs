//! RFC 6962 Merkle inclusion and consistency vectors against the Merkle
//! verification our Rekor checks rely on (sigstore-merkle, used by
//! sigstore-verify for inclusion proofs and checkpoints).
//!
//! Origin: `sigstore+sigstore-rust/crates/sigstore-merkle/test-data/merkle/testdata/{inclusion,consistency}/`
//! in `../shared/data/sigstore.tar.zst` (transparency-dev style vectors:
//! `wantErr` says whether the proof must be refused).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sigstore_merkle::{verify_consistency_proof, verify_inclusion_proof};
use sigstore_verify::types::Sha256Hash;

fn vectors(kind: &str) -> Vec<PathBuf> {
    let root = common::sigstore()
        .join("sigstore+sigstore-rust/crates/sigstore-merkle/test-data/merkle/testdata")
        .join(kind);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("vector dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn hash(v: &Value) -> Result<Sha256Hash, String> {
    let s = v.as_str().unwrap_or("");
    let bytes = B64.decode(s).map_err(|e| e.to_string())?;
    if bytes.len() != 32 {
        return Err(format!("{} bytes", bytes.len()));
    }
    Sha256Hash::from_base64(s).map_err(|e| e.to_string())
}

fn hashes(v: &Value) -> Result<Vec<Sha256Hash>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(hash).collect(),
        _ => Err("proof is not a list".into()),
    }
}

fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read vector")).expect("vector JSON")
}

/// Vectors whose roots are placeholders ("don't care", 9 bytes), not
/// SHA-256 hashes. They expect success for equal sizes and an empty proof;
/// a root that is not 32 bytes is malformed Rekor input, so we refuse
/// them, deliberately stricter than the vector.
const STRICTER_ON_MALFORMED_ROOTS: [&str; 2] = [
    "sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-one.json",
    "sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-zero.json",
];

fn check(kind: &str, run: impl Fn(&Value) -> Result<(), String>) {
    let files = vectors(kind);
    assert!(!files.is_empty(), "no {kind} vectors");
    let mut wrong = Vec::new();
    for path in &files {
        let v = load(path);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let stricter = STRICTER_ON_MALFORMED_ROOTS.contains(&name.as_ref());
        let want_err = stricter || v["wantErr"].as_bool().unwrap_or(false);
        let got_err = run(&v).is_err();
        if want_err != got_err {
            wrong.push(format!(
                "{}: wantErr={want_err} got_err={got_err}",
                path.display()
            ));
        }
    }
    println!(
        "merkle {kind}: {} vectors, {} wrong",
        files.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn inclusion_vectors_accept_and_refuse_as_labelled() {
    check("inclusion", |v| {
        verify_inclusion_proof(
            &hash(&v["leafHash"])?,
            v["leafIdx"]
                .as_i64()
                .ok_or("leafIdx")?
                .try_into()
                .map_err(|_| "negative leafIdx")?,
            v["treeSize"]
                .as_i64()
                .ok_or("treeSize")?
                .try_into()
                .map_err(|_| "negative treeSize")?,
            &hashes(&v["proof"])?,
            &hash(&v["root"])?,
        )
        .map_err(|e| e.to_string())
    });
}

#[test]
fn consistency_vectors_accept_and_refuse_as_labelled() {
    check("consistency", |v| {
        verify_consistency_proof(
            v["size1"]
                .as_i64()
                .ok_or("size1")?
                .try_into()
                .map_err(|_| "negative size1")?,
            v["size2"]
                .as_i64()
                .ok_or("size2")?
                .try_into()
                .map_err(|_| "negative size2")?,
            &hashes(&v["proof"])?,
            &hash(&v["root1"])?,
            &hash(&v["root2"])?,
        )
        .map_err(|e| e.to_string())
    });
}
