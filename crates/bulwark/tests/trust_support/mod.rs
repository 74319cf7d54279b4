//! Shared by the `bulwark verify` / `bulwark admission` tests: an image
//! world built in memory with our own cosign-format signer (no shared data),
//! written out as a real OCI image layout, and a policy for it.

#![allow(dead_code)]

use std::path::Path;

use bulwark_trust::evidence::MemoryStore;
use bulwark_trust::signature::{COSIGN_SIGN_PREDICATE, KeyKind, SigningKey, media_types};
use bulwark_trust::{Digest, ImageRef};
use serde_json::json;

pub const SIGNED: &str = "registry.example/team/app:1.0";
pub const UNSIGNED: &str = "registry.example/team/unsigned:1";
pub const ROOTY: &str = "registry.example/team/rooty:1";

pub struct World {
    pub store: MemoryStore,
    pub key: SigningKey,
    pub signed_digest: Digest,
}

fn config(user: &str, salt: &str) -> serde_json::Value {
    json!({"architecture": "amd64", "os": "linux",
        "config": {"User": user, "Healthcheck": {"Test": ["CMD", "/bin/true"]}},
        "history": [{"created_by": "COPY . /app"}],
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(salt.as_bytes()).to_string()]}})
}

pub fn world() -> World {
    let store = MemoryStore::new();
    let key = SigningKey::generate(KeyKind::EcdsaP256).expect("key");
    let app: ImageRef = SIGNED.parse().expect("ref");
    let signed_digest = store.put_image(&app, config("1000", "app"), &[b"app".to_vec()]);
    let (payload, ann) = key
        .simple_signing_layer(&app, &signed_digest)
        .expect("sign");
    store.put_cosign_tag(
        &app,
        &signed_digest,
        "sig",
        vec![(media_types::SIMPLE_SIGNING, payload, ann)],
    );
    store.put_image(
        &UNSIGNED.parse().expect("ref"),
        config("1000", "unsigned"),
        &[b"u".to_vec()],
    );
    let rooty: ImageRef = ROOTY.parse().expect("ref");
    let rooty_digest = store.put_image(&rooty, config("root", "rooty"), &[b"r".to_vec()]);
    let bundle = key
        .dsse_bundle(&rooty, &rooty_digest, COSIGN_SIGN_PREDICATE, json!({}))
        .expect("bundle");
    store.put_bundle_referrer(&rooty, &rooty_digest, 100, bundle);
    World {
        store,
        key,
        signed_digest,
    }
}

/// Write every repository of `store` into one OCI layout at `dir`, tags as
/// `org.opencontainers.image.ref.name` = `registry/repository:tag`.
pub fn write_layout(store: &MemoryStore, dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let mut index = Vec::new();
    for repo in store.contents() {
        for (digest, bytes) in &repo.blobs {
            std::fs::write(blobs.join(digest.hex()), bytes).expect("blob");
        }
        for (digest, _, bytes) in &repo.manifests {
            std::fs::write(blobs.join(digest.hex()), bytes).expect("manifest");
        }
        for (tag, digest) in &repo.tags {
            let (_, media_type, bytes) = repo
                .manifests
                .iter()
                .find(|(d, _, _)| d == digest)
                .expect("tagged manifest");
            index.push(json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": format!("{}:{tag}", repo.name)}}));
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
}

/// A policy requiring `key`'s signature and a non-root user for
/// `registry.example/**`.
pub fn policy(key: &SigningKey, mode: &str) -> String {
    let pem: String = key
        .public_key_pem()
        .expect("pem")
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: prod\nspec:\n  mode: {mode}\n  images: ['registry.example/**']\n  authorities:\n    - name: release\n      key:\n        ignoreTlog: true\n        pem: |\n{pem}  signatures:\n    - {{name: release, authorities: [release]}}\n  config:\n    nonRoot: true\n"
    )
}
