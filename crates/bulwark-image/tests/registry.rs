//! Pulling from a real registry (Debian's docker-registry) on loopback,
//! with images pushed by a third-party client (skopeo), under anonymous,
//! basic and bearer-token auth.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers"
)]

mod common;

use bulwark_image::registry::{Client, Credentials};
use bulwark_image::testutil::{LayoutBuilder, RegistryAuth, TarBuilder, TestRegistry};
use bulwark_image::{Compression, Digest, Image, ImageError, OpenOptions, SourceKind, media};
use common::{survivors, walk};

fn layout(dir: &std::path::Path) -> Digest {
    LayoutBuilder::new(dir)
        .name("v1")
        .layer(
            TarBuilder::new()
                .file("etc/os-release", b"ID=test\n")
                .file("tmp/x", b"x")
                .finish(),
            Compression::Gzip,
        )
        .layer(
            TarBuilder::new().whiteout("tmp", "x").finish(),
            Compression::Zstd,
        )
        .write()
        .digest
}

fn open(
    registry: &TestRegistry,
    repo_tag: &str,
    options: OpenOptions,
) -> Result<Image, ImageError> {
    Image::open(&format!("{}/{repo_tag}", registry.host()), &options)
}

fn options(registry: &TestRegistry) -> OpenOptions {
    OpenOptions {
        registry: registry.options(),
        ..OpenOptions::default()
    }
}

fn pull_and_check(registry: &TestRegistry) {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = layout(tmp.path());
    registry.push_oci_layout(tmp.path(), Some("v1"), "team/app:1.0");
    let image = open(registry, "team/app:1.0", options(registry)).unwrap();
    assert_eq!(image.source_kind(), &SourceKind::Registry);
    assert_eq!(image.manifest_digest(), Some(&manifest));
    let (_, walked) = walk(&image).unwrap();
    assert_eq!(
        survivors(&walked),
        vec![(0, "etc/os-release".into(), "ID=test\n".into())]
    );
    let by_digest = open(registry, &format!("team/app@{manifest}"), options(registry)).unwrap();
    assert_eq!(by_digest.layers(), image.layers());
}

#[test]
fn anonymous_registry_serves_an_image_pushed_by_skopeo() {
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    pull_and_check(&registry);
    let client = Client::new(&registry.options()).unwrap();
    let reference = registry.reference("team/app");
    assert_eq!(client.tags(&reference).unwrap(), ["1.0"]);
}

#[test]
fn basic_auth_registry_needs_and_accepts_credentials() {
    let registry = TestRegistry::start(RegistryAuth::basic("alice", "wonderland"));
    pull_and_check(&registry);
    let mut anonymous = options(&registry);
    anonymous.registry.credentials = None;
    let err = open(&registry, "team/app:1.0", anonymous)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed") && err.contains("none are configured"),
        "{err}"
    );
    let mut wrong = options(&registry);
    wrong.registry.credentials = Some(Credentials {
        username: "alice".into(),
        password: "wrong".into(),
    });
    let err = open(&registry, "team/app:1.0", wrong)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed") && !err.contains("wrong"),
        "{err}"
    );
}

#[test]
fn token_auth_registry_gets_a_scoped_token_from_the_realm() {
    let registry = TestRegistry::start(RegistryAuth::token("bob", "builder"));
    pull_and_check(&registry);
    let requests = registry.token_requests();
    assert!(
        requests
            .iter()
            .any(|r| r.scope == "repository:team/app:pull" && r.user.as_deref() == Some("bob")),
        "{requests:?}"
    );
    let mut wrong = options(&registry);
    wrong.registry.credentials = Some(Credentials {
        username: "bob".into(),
        password: "nope".into(),
    });
    let err = open(&registry, "team/app:1.0", wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token endpoint answered 401"), "{err}");
}

#[test]
fn multi_arch_index_from_the_registry_honours_platform() {
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    let tmp = tempfile::tempdir().unwrap();
    let [amd, arm] = common::two_platforms(tmp.path());
    // index.json -> a nested index blob -> two manifests, as skopeo expects
    let nested = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [amd, arm]});
    let mut index_desc = bulwark_image::testutil::write_blob(
        tmp.path(),
        media::OCI_INDEX,
        &serde_json::to_vec(&nested).unwrap(),
    );
    index_desc
        .annotations
        .insert(bulwark_image::REF_NAME_ANNOTATION.into(), "multi".into());
    bulwark_image::testutil::write_index(tmp.path(), &[index_desc]);
    registry.skopeo_copy(
        &format!("oci:{}:multi", tmp.path().display()),
        "multi:latest",
        true,
    );
    for (platform, want) in [("linux/arm64", "arm64"), ("linux/amd64", "amd64")] {
        let mut o = options(&registry);
        o.platform = Some(platform.parse().unwrap());
        let image = open(&registry, "multi:latest", o).unwrap();
        assert_eq!(image.config().architecture, want);
        let (_, walked) = walk(&image).unwrap();
        assert_eq!(walked.kept[0].value, want.as_bytes());
    }
}

#[test]
fn tampered_blob_in_registry_storage_fails_the_walk() {
    let registry = TestRegistry::start(RegistryAuth::Anonymous);
    let tmp = tempfile::tempdir().unwrap();
    LayoutBuilder::new(tmp.path())
        .layer(
            TarBuilder::new().file("f", b"original").finish(),
            Compression::None,
        )
        .write();
    registry.push_oci_layout(tmp.path(), None, "tamper:1");
    let image = open(&registry, "tamper:1", options(&registry)).unwrap();
    let layer = image.layers()[0].digest.clone().unwrap();
    let data = registry_blob_path(&registry, &layer);
    // skopeo compressed the layer on push: swap in a valid gzip stream with
    // other content, so only the digest check can catch it.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&std::fs::read(&data).unwrap()[..]),
        &mut tar,
    )
    .unwrap();
    let pos = tar.windows(8).position(|w| w == b"original").unwrap();
    tar[pos..pos + 8].copy_from_slice(b"tampered");
    std::fs::write(
        &data,
        bulwark_image::testutil::compress(&tar, Compression::Gzip),
    )
    .unwrap();
    let err = image.walk_only().unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
}

fn registry_blob_path(registry: &TestRegistry, digest: &Digest) -> std::path::PathBuf {
    registry.storage_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{}/data",
        &digest.hex()[..2],
        digest.hex()
    ))
}

#[test]
fn referrers_fall_back_to_the_tag_schema_and_filter_by_artifact_type() {
    let registry = TestRegistry::start(RegistryAuth::token("carol", "pw"));
    let tmp = tempfile::tempdir().unwrap();
    let subject = layout(tmp.path());
    registry.push_oci_layout(tmp.path(), Some("v1"), "signed:1");
    let client = Client::new(&registry.options()).unwrap();
    let reference = registry.reference("signed:1");
    assert!(
        client
            .referrers(&reference, &subject, None)
            .unwrap()
            .manifests
            .is_empty()
    );
    let empty = client.push_blob(&reference, b"{}").unwrap();
    let payload = client.push_blob(&reference, b"signature bytes").unwrap();
    let artifact = serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": media::OCI_EMPTY, "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": payload, "size": 15}],
        "subject": {"mediaType": media::OCI_MANIFEST, "digest": subject, "size": 1},
    });
    let artifact_bytes = serde_json::to_vec(&artifact).unwrap();
    let by_digest = reference.with_target(None, Some(Digest::sha256(&artifact_bytes)));
    let artifact_digest = client
        .put_manifest(&by_digest, &artifact_bytes, media::OCI_MANIFEST)
        .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [{
        "mediaType": media::OCI_MANIFEST, "digest": artifact_digest, "size": artifact_bytes.len(),
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}]});
    let tag = bulwark_image::registry::referrers_tag(&subject);
    client
        .put_manifest(
            &reference.with_target(Some(&tag), None),
            &serde_json::to_vec(&index).unwrap(),
            media::OCI_INDEX,
        )
        .unwrap();
    let found = client.referrers(&reference, &subject, None).unwrap();
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, artifact_digest);
    let filtered = client
        .referrers(&reference, &subject, Some("application/other"))
        .unwrap();
    assert!(filtered.manifests.is_empty());
    let fetched = client.manifest(&by_digest, 1 << 20).unwrap();
    assert_eq!(fetched.digest, artifact_digest);
    assert_eq!(
        client.blob_bytes(&reference, &payload, 1024).unwrap(),
        b"signature bytes"
    );
}

#[test]
fn credentials_are_never_sent_over_plain_http_to_a_non_loopback_host() {
    use std::io::{BufRead, BufReader, Write};
    // This host's own non-loopback address (a UDP "connect" sends nothing).
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("192.0.2.1:9").unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback());
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut saw_authorization = false;
        if let Ok((stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                saw_authorization |= line.to_ascii_lowercase().starts_with("authorization:");
                line.clear();
            }
            let mut out = stream;
            let _ = out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        saw_authorization
    });
    let options = bulwark_image::registry::RegistryOptions {
        plain_http: true,
        credentials: Some(Credentials {
            username: "u".into(),
            password: "secret".into(),
        }),
        ..Default::default()
    };
    let client = Client::new(&options).unwrap();
    let reference: bulwark_image::Reference = format!("{addr}/x:1").parse().unwrap();
    let err = client.manifest(&reference, 1024).unwrap_err().to_string();
    assert!(
        err.contains("refusing to send credentials over plain HTTP"),
        "{err}"
    );
    assert!(!server.join().unwrap(), "credentials were sent");
}

#[test]
fn https_registry_is_verified_against_the_given_ca_and_refused_without_it() {
    let registry = TestRegistry::start_tls(RegistryAuth::basic("erin", "tls-pw"));
    pull_and_check(&registry);
    let mut untrusted = options(&registry);
    untrusted.registry.ca_files.clear();
    let err = open(&registry, "team/app:1.0", untrusted).unwrap_err();
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(
        chain.contains("https://127.0.0.1") && chain.to_lowercase().contains("certificate"),
        "{chain}"
    );
}
