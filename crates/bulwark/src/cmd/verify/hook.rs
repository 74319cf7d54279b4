//! `bulwark verify --oci-hook`: the image-policy stage of an OCI runtime
//! hook. The runtime gives the container state on stdin; the image and pod
//! namespace come from the bundle's annotations (as `bulwark-containers`
//! reads them). Exit 0 lets the container start; exit 1 refuses it, and
//! runc aborts the start.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use bulwark_trust::gate::GateOptions;

use super::super::trust::TrustArgs;

/// The state is small; refuse anything larger.
const MAX_STATE: u64 = 1 << 20;

#[derive(serde::Deserialize)]
struct State {
    #[serde(default)]
    bundle: Option<std::path::PathBuf>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

pub fn run(trust: &TrustArgs) -> anyhow::Result<ExitCode> {
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_STATE)
        .read_to_end(&mut raw)
        .context("read OCI state from stdin")?;
    let state: State = serde_json::from_slice(&raw).context("OCI state on stdin")?;
    let mut annotations = state.annotations;
    if let Some(bundle) = &state.bundle {
        let config = bundle.join("config.json");
        let text = std::fs::read(&config).with_context(|| format!("read {}", config.display()))?;
        let spec: State =
            serde_json::from_slice(&text).with_context(|| format!("{}", config.display()))?;
        for (k, v) in spec.annotations {
            annotations.entry(k).or_insert(v);
        }
    }
    let meta = bulwark_containers::from_annotations(&annotations);
    let gate = trust.gate(GateOptions::default())?;
    let namespace = meta.pod.as_ref().and_then(|p| p.namespace.as_deref());
    let decision = bulwark_trust::hook::decide(
        &gate,
        meta.image.as_deref(),
        meta.image_digest.as_deref(),
        namespace,
    );
    eprintln!("{}", decision.message);
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
