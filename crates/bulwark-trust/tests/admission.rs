//! Admission golden tests: the Kubernetes objects of
//! `../shared/data/k8s-admission.tar.zst` (kubernetes/api testdata: Pod,
//! Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, and a
//! fully populated AdmissionReview), with their placeholder images
//! replaced by images of an in-memory store, wrapped in AdmissionReview
//! requests, and checked response by response: uid, allowed, status,
//! warnings and the exact JSON patch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bulwark_trust::admission::{self, AdmissionOptions, CONTAINER_LISTS, ReviewResponse};
use bulwark_trust::evidence::{ArtifactStore, Descriptor, Fetched, MemoryStore, StoreError};
use bulwark_trust::gate::{Gate, GateOptions};
use bulwark_trust::policy::PolicySet;
use bulwark_trust::signature::{KeyKind, SigningKey, media_types};
use bulwark_trust::{Digest, ImageRef};
use serde_json::{Value, json};

const SIGNED: &str = "registry.example/team/app:1.0";
const UNSIGNED: &str = "registry.example/team/unsigned:1";

struct Counting {
    inner: MemoryStore,
    manifests: AtomicUsize,
}

impl ArtifactStore for Counting {
    fn manifest(&self, image: &ImageRef) -> Result<Fetched, StoreError> {
        self.manifests.fetch_add(1, Ordering::SeqCst);
        self.inner.manifest(image)
    }
    fn blob(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.inner.blob(image, digest)
    }
    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        self.inner.referrers(image, digest)
    }
}

struct Fixture {
    store: Arc<Counting>,
    key: SigningKey,
    digest: Digest,
}

fn fixture() -> Fixture {
    let store = MemoryStore::new();
    let key = SigningKey::generate(KeyKind::EcdsaP256).unwrap();
    let config = |user: &str| {
        json!({"architecture": "amd64", "os": "linux", "config": {"User": user},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(user.as_bytes()).to_string()]}})
    };
    let app: ImageRef = SIGNED.parse().unwrap();
    let digest = store.put_image(&app, config("1000"), &[b"l".to_vec()]);
    let (payload, ann) = key.simple_signing_layer(&app, &digest).unwrap();
    store.put_cosign_tag(
        &app,
        &digest,
        "sig",
        vec![(media_types::SIMPLE_SIGNING, payload, ann)],
    );
    store.put_image(&UNSIGNED.parse().unwrap(), config("1001"), &[b"u".to_vec()]);
    Fixture {
        store: Arc::new(Counting {
            inner: store,
            manifests: AtomicUsize::new(0),
        }),
        key,
        digest,
    }
}

fn gate(f: &Fixture, mode: &str) -> Gate {
    let pem: String = f
        .key
        .public_key_pem()
        .unwrap()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let yaml = format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: prod\nspec:\n  mode: {mode}\n  images: ['registry.example/**']\n  authorities:\n    - name: release\n      key:\n        ignoreTlog: true\n        pem: |\n{pem}  signatures:\n    - {{name: release, authorities: [release]}}\n"
    );
    Gate::new(
        f.store.clone(),
        PolicySet::from_yaml(&yaml).unwrap(),
        None,
        GateOptions::default(),
    )
}

fn k8s_object(file: &str) -> Value {
    let path = common::k8s()
        .join("kubernetes+api/testdata/HEAD")
        .join(file);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Set every container image of `obj` (of `kind`) to `image`.
fn set_images(kind: &str, obj: &mut Value, image: &str) -> Vec<String> {
    let base = admission::pod_spec_pointer(kind).unwrap();
    let spec = obj.pointer_mut(base).unwrap();
    let mut pointers = Vec::new();
    for list in CONTAINER_LISTS {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for (i, c) in containers.iter_mut().enumerate() {
                c["image"] = json!(image);
                pointers.push(format!("{base}/{list}/{i}/image"));
            }
        }
    }
    pointers
}

fn review(uid: &str, kind: &str, namespace: &str, operation: &str, object: Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
            "namespace": namespace, "operation": operation,
            "userInfo": {"username": "alice"},
            "object": object, "dryRun": false
        }
    })
    .to_string()
    .into_bytes()
}

fn run(body: &[u8], decider: &Gate, options: &AdmissionOptions) -> ReviewResponse {
    admission::respond(&admission::parse(body).unwrap(), decider, options)
}

fn patch_of(resp: &ReviewResponse) -> Value {
    let b64 = resp.response.patch.as_ref().expect("a patch");
    assert_eq!(resp.response.patch_type.as_deref(), Some("JSONPatch"));
    serde_json::from_slice(&B64.decode(b64).unwrap()).unwrap()
}

const WORKLOADS: [(&str, &str); 7] = [
    ("core.v1.Pod.json", "Pod"),
    ("apps.v1.Deployment.json", "Deployment"),
    ("apps.v1.StatefulSet.json", "StatefulSet"),
    ("apps.v1.DaemonSet.json", "DaemonSet"),
    ("apps.v1.ReplicaSet.json", "ReplicaSet"),
    ("batch.v1.Job.json", "Job"),
    ("batch.v1.CronJob.json", "CronJob"),
];

#[test]
fn every_workload_kind_gets_every_container_verified_and_pinned() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let options = AdmissionOptions {
        mutate: true,
        own_namespace: Some("bulwark-system".into()),
        fail_open: false,
    };
    for (file, kind) in WORKLOADS {
        let mut obj = k8s_object(file);
        let pointers = set_images(kind, &mut obj, SIGNED);
        assert_eq!(
            pointers.len(),
            3,
            "{kind}: init, regular and ephemeral containers"
        );
        let resp = run(
            &review(&format!("uid-{kind}"), kind, "prod", "CREATE", obj),
            &gate,
            &options,
        );
        assert_eq!(resp.response.uid, format!("uid-{kind}"));
        assert!(resp.response.allowed, "{kind}: {:?}", resp.response.status);
        let want: Vec<Value> = pointers
            .iter()
            .map(|p| json!({"op": "replace", "path": p, "value": format!("{SIGNED}@{}", f.digest)}))
            .collect();
        assert_eq!(patch_of(&resp), Value::Array(want), "{kind}");
        assert!(
            resp.response.audit_annotations["bulwark.dev/images"].contains(&f.digest.to_string())
        );
    }
}

#[test]
fn one_unsigned_container_of_any_kind_denies_the_object() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let options = AdmissionOptions {
        mutate: true,
        ..Default::default()
    };
    for list in CONTAINER_LISTS {
        let mut pod = k8s_object("core.v1.Pod.json");
        set_images("Pod", &mut pod, SIGNED);
        pod["spec"][list][0]["image"] = json!(UNSIGNED);
        let resp = run(&review("u1", "Pod", "prod", "CREATE", pod), &gate, &options);
        assert!(!resp.response.allowed, "{list}");
        assert!(resp.response.patch.is_none(), "no patch on a denial");
        let status = resp.response.status.unwrap();
        assert_eq!(status.code, 403);
        assert!(
            status.message.contains(list) && status.message.contains(UNSIGNED),
            "{}",
            status.message
        );
    }
}

#[test]
fn pinned_digests_are_not_patched_and_bad_references_are_denied() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let options = AdmissionOptions {
        mutate: true,
        ..Default::default()
    };
    let mut pod = k8s_object("core.v1.Pod.json");
    set_images("Pod", &mut pod, &format!("{SIGNED}@{}", f.digest));
    let resp = run(
        &review("u2", "Pod", "prod", "CREATE", pod.clone()),
        &gate,
        &options,
    );
    assert!(resp.response.allowed && resp.response.patch.is_none());

    // The placeholder of the Kubernetes testdata is not a valid reference.
    set_images("Pod", &mut pod, "imageValue");
    let resp = run(&review("u3", "Pod", "prod", "CREATE", pod), &gate, &options);
    assert!(!resp.response.allowed);
    assert!(resp.response.status.unwrap().message.contains("imageValue"));
}

#[test]
fn tag_pointing_at_a_swapped_digest_is_denied() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let mut pod = k8s_object("core.v1.Pod.json");
    set_images(
        "Pod",
        &mut pod,
        &format!("registry.example/team/app@{}", Digest::of(b"swapped")),
    );
    let resp = run(
        &review("u4", "Pod", "prod", "CREATE", pod),
        &gate,
        &AdmissionOptions::default(),
    );
    assert!(!resp.response.allowed);
}

#[test]
fn own_namespace_and_non_mutating_operations_are_admitted() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let options = AdmissionOptions {
        own_namespace: Some("bulwark-system".into()),
        ..Default::default()
    };
    let mut pod = k8s_object("core.v1.Pod.json");
    set_images("Pod", &mut pod, UNSIGNED);
    assert!(
        run(
            &review("u5", "Pod", "bulwark-system", "CREATE", pod.clone()),
            &gate,
            &options
        )
        .response
        .allowed
    );
    assert!(
        run(
            &review("u6", "Pod", "prod", "DELETE", pod.clone()),
            &gate,
            &options
        )
        .response
        .allowed
    );
    assert!(
        !run(&review("u7", "Pod", "prod", "UPDATE", pod), &gate, &options)
            .response
            .allowed
    );
}

#[test]
fn unreachable_images_fail_closed_unless_fail_open() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let mut pod = k8s_object("core.v1.Pod.json");
    set_images("Pod", &mut pod, "registry.example/team/missing:1");
    let body = review("u8", "Pod", "prod", "CREATE", pod);
    let closed = run(&body, &gate, &AdmissionOptions::default());
    assert!(!closed.response.allowed);
    assert!(
        closed
            .response
            .status
            .unwrap()
            .message
            .contains("cannot be verified")
    );
    let open = run(
        &body,
        &gate,
        &AdmissionOptions {
            fail_open: true,
            ..Default::default()
        },
    );
    assert!(open.response.allowed && !open.response.warnings.is_empty());
    let deadline = admission::deadline_response("u9", &AdmissionOptions::default());
    assert!(!deadline.response.allowed && deadline.response.uid == "u9");
}

#[test]
fn warn_mode_admits_with_warnings() {
    let f = fixture();
    let gate = gate(&f, "warn");
    let mut pod = k8s_object("core.v1.Pod.json");
    set_images("Pod", &mut pod, UNSIGNED);
    let resp = run(
        &review("u10", "Pod", "prod", "CREATE", pod),
        &gate,
        &AdmissionOptions {
            mutate: true,
            ..Default::default()
        },
    );
    assert!(resp.response.allowed);
    assert_eq!(
        resp.response.warnings.len(),
        3,
        "one warning per container: {:?}",
        resp.response.warnings
    );
    for (w, list) in resp.response.warnings.iter().zip(CONTAINER_LISTS) {
        assert!(
            w.starts_with(list) && w.contains("signatures/release"),
            "{w}"
        );
    }
}

#[test]
fn the_kubernetes_golden_admission_review_parses_and_is_answered() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let body = serde_json::to_vec(&k8s_object("admission.k8s.io.v1.AdmissionReview.json")).unwrap();
    let parsed = admission::parse(&body).unwrap();
    let req = parsed.request.as_ref().unwrap();
    assert_eq!(
        (req.uid.as_str(), req.operation.as_str(), req.dry_run),
        ("uidValue", "operationValue", Some(true))
    );
    let resp = admission::respond(&parsed, &gate, &AdmissionOptions::default());
    assert_eq!(resp.response.uid, "uidValue");
    assert!(resp.response.allowed, "a CustomType carries no pod spec");
    let out = serde_json::to_value(&resp).unwrap();
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(out["kind"], "AdmissionReview");
}

#[test]
fn malformed_reviews_are_refused() {
    assert!(admission::parse(b"{").is_err());
    assert!(
        admission::parse(
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
        )
        .is_err()
    );
    assert!(
        admission::parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#)
            .is_err()
    );
}

#[test]
fn verdicts_are_cached_by_digest_policy_and_trust_root() {
    let f = fixture();
    let gate = gate(&f, "enforce");
    let image: ImageRef = format!("{SIGNED}@{}", f.digest).parse().unwrap();
    let first = gate.decide(&image, Some("prod")).unwrap();
    let fetched = f.store.manifests.load(Ordering::SeqCst);
    let second = gate.decide(&image, Some("prod")).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the cached verdict is reused");
    assert_eq!(
        f.store.manifests.load(Ordering::SeqCst),
        fetched,
        "no store access on a cache hit"
    );
    assert_eq!(gate.cached_verdicts(), 1);
    // A new policy generation is a different key.
    let other = self::gate(&f, "warn");
    let third = other.decide(&image, Some("prod")).unwrap();
    assert!(!Arc::ptr_eq(&first, &third));
}
