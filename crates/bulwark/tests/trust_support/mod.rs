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
    world_at("registry.example")
}

/// `image` (written with `registry.example`) at registry `host` instead.
pub fn at(host: &str, image: &str) -> String {
    image.replacen("registry.example", host, 1)
}

/// The same world with its images in registry `host`.
pub fn world_at(host: &str) -> World {
    let store = MemoryStore::new();
    let key = SigningKey::generate(KeyKind::EcdsaP256).expect("key");
    let app: ImageRef = at(host, SIGNED).parse().expect("ref");
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
        &at(host, UNSIGNED).parse().expect("ref"),
        config("1000", "unsigned"),
        &[b"u".to_vec()],
    );
    let rooty: ImageRef = at(host, ROOTY).parse().expect("ref");
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
    policy_for(key, mode, "registry.example")
}

/// The policy for images in registry `host`.
pub fn policy_for(key: &SigningKey, mode: &str, host: &str) -> String {
    let pem: String = key
        .public_key_pem()
        .expect("pem")
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: prod\nspec:\n  mode: {mode}\n  images: ['{host}/**']\n  authorities:\n    - name: release\n      key:\n        ignoreTlog: true\n        pem: |\n{pem}  signatures:\n    - {{name: release, authorities: [release]}}\n  config:\n    nonRoot: true\n"
    )
}

/// Push every repository of `store` to the test registry at `host`: blobs,
/// manifests, tags, and for each manifest with a `subject` the OCI 1.1
/// referrers tag-schema index (`sha256-<hex>`), since distribution 2.8 has
/// no referrers API.
pub fn push(store: &MemoryStore, client: &bulwark_image::registry::Client) {
    use std::collections::BTreeMap;
    for repo in store.contents() {
        let reference = |target: &str| -> bulwark_image::Reference {
            format!("{}{target}", repo.name).parse().expect("reference")
        };
        let base = reference(":latest");
        for (_, bytes) in &repo.blobs {
            client.push_blob(&base, bytes).expect("push blob");
        }
        let mut referrers: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for (digest, media_type, bytes) in &repo.manifests {
            client
                .put_manifest(&reference(&format!("@{digest}")), bytes, media_type)
                .expect("put manifest");
            let v: serde_json::Value = serde_json::from_slice(bytes).expect("manifest json");
            if let Some(subject) = v["subject"]["digest"].as_str() {
                referrers
                    .entry(subject.to_string())
                    .or_default()
                    .push(json!({
                        "mediaType": media_type, "digest": digest.to_string(), "size": bytes.len(),
                        "artifactType": v["artifactType"],
                    }));
            }
        }
        for (tag, digest) in &repo.tags {
            let (_, media_type, bytes) = repo
                .manifests
                .iter()
                .find(|(d, _, _)| d == digest)
                .expect("tagged");
            client
                .put_manifest(&reference(&format!(":{tag}")), bytes, media_type)
                .expect("put tag");
        }
        for (subject, descriptors) in referrers {
            let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descriptors});
            let tag = subject.replacen(':', "-", 1);
            client
                .put_manifest(
                    &reference(&format!(":{tag}")),
                    index.to_string().as_bytes(),
                    "application/vnd.oci.image.index.v1+json",
                )
                .expect("put referrers index");
        }
    }
}
