//! `bulwark verify IMAGE --policy FILE`: decide one image and say why.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bulwark_trust::ImageRef;
use bulwark_trust::evidence::{self, Finding};
use bulwark_trust::gate::Enricher as _;
use bulwark_trust::policy::{Outcome, Verdict, evaluate};

use super::trust::TrustArgs;

mod hook;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image reference (tag or digest), looked up in the layout or registry.
    #[arg(required_unless_present = "oci_hook")]
    pub image: Option<String>,
    /// Run as the image stage of an OCI runtime hook (`createRuntime`):
    /// read the container state from stdin, take the image from the
    /// container's annotations, exit 0 to let it start, 1 to refuse it.
    #[arg(long = "oci-hook", conflicts_with_all = ["image", "findings", "format"])]
    pub oci_hook: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Namespace to evaluate namespace-scoped policies for.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Vulnerability findings of the image (JSON list of
    /// `{id, package, severity, fixed_version}`) for `findings` limits,
    /// instead of scanning the image against the vulnerability DB.
    #[arg(long)]
    pub findings: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Table,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.oci_hook {
        return hook::run(&args.trust);
    }
    let image: ImageRef = args.image.as_deref().unwrap_or_default().parse()?;
    let policies = args.trust.policies()?;
    let root = args.trust.trust_root()?;
    let (store, inspector) = args.trust.store()?;
    let mut ev = evidence::collect(store.as_ref(), &image, &policies.trusted_bases())?;
    let mut needs = policies.needs(&image, args.namespace.as_deref());
    if let Some(path) = &args.findings {
        let bytes =
            std::fs::read(path).with_context(|| format!("read findings {}", path.display()))?;
        let findings: Vec<Finding> = serde_json::from_slice(&bytes)
            .with_context(|| format!("findings {}", path.display()))?;
        ev.findings = Some(Ok(findings));
        needs.findings = false;
    }
    if needs.any() {
        inspector.enrich(&mut ev, needs);
    }
    let verdict = evaluate(&policies, &ev, args.namespace.as_deref(), root.as_ref());
    match args.format {
        Format::Table => print!("{}", table(&verdict)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&verdict)?),
    }
    Ok(if verdict.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn table(v: &Verdict) -> String {
    let mut out = String::new();
    let outcome = match v.outcome() {
        Outcome::Allow => "ALLOW",
        Outcome::Warn => "WARN",
        Outcome::Deny => "DENY",
    };
    let _ = writeln!(out, "{outcome}  {}@{}", v.image(), v.digest());
    if v.policies().is_empty() {
        let _ = writeln!(out, "  no ImagePolicy selects this image");
    }
    for r in v.rules() {
        let mark = if r.passed { "pass" } else { "FAIL" };
        let cis = r.cis.map(|c| format!(" [CIS {c}]")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {mark}  {}/{} ({:?}){cis}: {}",
            r.policy, r.rule, r.mode, r.reason
        );
    }
    out
}
