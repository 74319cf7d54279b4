//! The shipped Kubernetes manifests (`deploy/admission/`) validate against
//! the Kubernetes 1.37 schemas with `kubernetes-validate --strict` (PyPI,
//! installed by scripts/install-deps.sh), the validator rejects a broken
//! copy (so this test can fail), the Deployment only passes flags
//! `bulwark admission` has, and the example policy parses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> PathBuf {
    let venv = repo().join(".cache/venv/bin/kubernetes-validate");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubernetes-validate"))
        .find(|p| p.exists());
    on_path.unwrap_or_else(|| {
        panic!("kubernetes-validate not found in .cache/venv/bin or PATH: run scripts/install-deps.sh (PyPI package kubernetes-validate)")
    })
}

fn manifests() -> Vec<PathBuf> {
    let dir = repo().join("deploy/admission");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(validator())
        .args(["--strict", "-k", "1.37.0"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn admission_manifests_validate_against_kubernetes_schemas() {
    let files = manifests();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for want in ["deployment.yaml", "service.yaml", "webhooks.yaml"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from deploy/admission"
        );
    }
    let (ok, log) = validate(&files);
    assert!(ok, "{log}");
    for kind in [
        "deployment/bulwark-admission",
        "service/bulwark-admission",
        "mutatingwebhookconfiguration/",
        "validatingwebhookconfiguration/",
    ] {
        assert!(
            log.contains(&format!("passed for resource {kind}")),
            "{kind} not validated:\n{log}"
        );
    }
}

#[test]
fn the_validator_rejects_a_broken_webhook_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("deploy/admission/webhooks.yaml")).unwrap();
    let broken = dir.path().join("webhooks.yaml");
    std::fs::write(
        &broken,
        text.replacen(
            "failurePolicy: Fail",
            "failurePolicy: Fail\n    failurePolcy: Ignore",
            1,
        ),
    )
    .unwrap();
    let (ok, log) = validate(&[broken]);
    assert!(!ok, "an unknown field must fail strict validation:\n{log}");
}

#[test]
fn deployment_flags_exist_and_the_example_policy_parses() {
    let deployment =
        std::fs::read_to_string(repo().join("deploy/admission/deployment.yaml")).unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["admission", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in deployment
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- --"))
    {
        let flag = line.trim_start_matches("- ").split('=').next().unwrap();
        assert!(
            help.contains(flag),
            "deployment passes {flag}, which bulwark admission lacks"
        );
    }
    let configmap: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("deploy/admission/policy-configmap.yaml")).unwrap(),
    )
    .unwrap();
    let policy = configmap["data"]["policy.yaml"].as_str().unwrap();
    bulwark_trust::policy::PolicySet::from_yaml(policy).unwrap();
    // The webhooks' timeout stays above the server's deadline.
    let webhooks = std::fs::read_to_string(repo().join("deploy/admission/webhooks.yaml")).unwrap();
    assert!(
        webhooks.matches("timeoutSeconds: 10").count() == 2
            && deployment.contains("--deadline-ms=8000")
    );
}
