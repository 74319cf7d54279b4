//! `bulwark explain FINDING`: the record, the matched range and the
//! comparator that fired.

use std::process::ExitCode;

use bulwark_vulndb::store::Store;

use super::DataDir;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,
    /// A finding id (`VULN/ecosystem/package@version`, as printed by
    /// `scan --format json`) or an advisory id.
    finding: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&args.data.vulndb())?;
    let findings = store.findings_named(&args.finding)?;
    let vuln_id = findings
        .first()
        .map(|f| f.finding.vuln_id.to_string())
        .unwrap_or_else(|| args.finding.clone());
    let Some(record) = store.record(&vuln_id)? else {
        anyhow::bail!(
            "no finding or advisory {:?} in {}",
            args.finding,
            store.path().display()
        );
    };
    for f in &findings {
        let x = &f.finding;
        println!("finding:     {}", x.id);
        println!("image:       {}", f.digest);
        println!(
            "package:     {} {} ({})",
            x.package, x.installed_version, x.ecosystem
        );
        if let Some(src) = &x.source_package {
            println!("source:      {src} (advisories name the source package)");
        }
        println!("severity:    {} ({})", x.severity, x.severity_source);
        println!(
            "fixed in:    {}",
            x.fixed_version.as_deref().unwrap_or("no fix")
        );
        println!("first seen:  {}", f.first_seen);
        if let Some(r) = &f.resolved_at {
            println!("resolved:    {r}");
        }
        println!(
            "matched:     affected[{}] of {}",
            x.affected_index, x.vuln_id
        );
        println!("comparator:  {}", x.evidence.describe());
        if let Some(affected) = record.get("affected").and_then(|a| a.get(x.affected_index)) {
            println!("entry:       {}", serde_json::to_string(affected)?);
        }
        println!();
    }
    if findings.is_empty() {
        println!("no stored finding for {}; the advisory:", args.finding);
    }
    println!("record:\n{}", serde_json::to_string_pretty(&record)?);
    Ok(ExitCode::SUCCESS)
}
