//! Read-only profile commands: list, show, diff, export.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bulwark_core::WorkloadId;
use bulwark_nanoseg::ProfileStore;
use bulwark_profile::ProfileDiff;

use super::{mode_letters, stored, workload_id};

pub fn list(store: &ProfileStore, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    let mut bad = 0;
    for listed in store.list()? {
        match listed.profile {
            Ok((p, _)) => rows.push(p),
            Err(e) => {
                bad += 1;
                eprintln!("bulwark: {:#}", anyhow::Error::from(e));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|p| {
                serde_json::json!({
                    "workload": p.workload(), "version": p.metadata.version,
                    "modes": p.spec.modes, "rules": p.rule_count(),
                    "images": p.spec.images.iter().map(|i| &i.version).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(items))?;
    } else {
        writeln!(
            out,
            "{:<48} {:>7}  {:<10} {:<10} {:<10} {:<10} {:>5}  IMAGES",
            "WORKLOAD", "VERSION", "PROCESS", "FILE", "NETWORK", "CAPABILITY", "RULES"
        )?;
        for p in &rows {
            let modes: Vec<String> = mode_letters(p).iter().map(|(_, m)| m.to_string()).collect();
            let images: Vec<&str> = p.spec.images.iter().map(|i| i.version.as_str()).collect();
            writeln!(
                out,
                "{:<48} {:>7}  {:<10} {:<10} {:<10} {:<10} {:>5}  {}",
                p.workload().as_str(),
                p.metadata.version,
                modes[0],
                modes[1],
                modes[2],
                modes[3],
                p.rule_count(),
                images.join(",")
            )?;
        }
    }
    Ok(if bad > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn show(store: &ProfileStore, id: &WorkloadId, json: bool) -> anyhow::Result<ExitCode> {
    let profile = stored(store, id)?;
    let text = if json {
        serde_json::to_string_pretty(&profile)? + "\n"
    } else {
        bulwark_profile::to_yaml(&profile)?
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn diff(
    store: &ProfileStore,
    id: &WorkloadId,
    images: Option<Vec<String>>,
    file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let profile = stored(store, id)?;
    let d: ProfileDiff = match (images, file) {
        (Some(v), _) if v.len() == 2 => {
            for image in &v {
                if !profile.spec.images.iter().any(|i| &i.version == image) {
                    let known: Vec<&str> = profile
                        .spec
                        .images
                        .iter()
                        .map(|i| i.version.as_str())
                        .collect();
                    anyhow::bail!(
                        "workload {id} has no image version {image:?} (known: {})",
                        known.join(", ")
                    );
                }
            }
            bulwark_profile::version_diff(&profile, &v[0], &v[1])
        }
        (_, Some(path)) => {
            let edited = super::edit::read_documents(&path)?
                .into_iter()
                .find(|p| p.workload() == id)
                .with_context(|| {
                    format!("{} holds no profile for workload {id}", path.display())
                })?;
            bulwark_profile::diff(&profile, &edited)
        }
        _ => anyhow::bail!("give --images FROM TO or --file FILE"),
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&d)?)?;
    } else {
        out.write_all(d.render().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(
    store: &ProfileStore,
    names: &[String],
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let profiles = if names.is_empty() {
        let mut all = Vec::new();
        for listed in store.list()? {
            all.push(listed.profile?.0);
        }
        all
    } else {
        names
            .iter()
            .map(|n| stored(store, &workload_id(n)?))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let text = bulwark_profile::to_yaml_stream(&profiles)?;
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
