//! Ground truth from real images: a Debian bookworm image with pip, npm,
//! cargo-auditable and Go layers (built by `tests/fixtures/build-images.sh`
//! from the Debian mirror, PyPI, npm and crates.io; cached under
//! `target/sbom-fixtures`). The SBOM's package set must equal what the
//! ecosystems' own tools say about the same (squashed) files:
//! `dpkg-query --admindir`, `pip list --path`, `npm ls --all --json`,
//! `rust-audit-info` (cargo-auditable's reader) and `go version -m`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bulwark_image::{Image, OpenOptions};
use bulwark_sbom::catalog::Limits;
use bulwark_sbom::{Ecosystem, Package, Sbom};

type Set = BTreeSet<(String, String)>;

fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = crate_dir.join("tests/fixtures/build-images.sh");
        let out = crate_dir.join("../../target/sbom-fixtures");
        let status = Command::new(&script)
            .env("OUT", &out)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "{} failed: {status}", script.display());
        out
    })
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (scripts/install-deps.sh installs it): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn scan(input: &Path) -> Sbom {
    let arg = input.to_str().unwrap();
    let image = Image::open(arg, &OpenOptions::default()).unwrap_or_else(|e| panic!("{arg}: {e}"));
    bulwark_sbom::scan(&image, arg, Limits::default()).unwrap()
}

fn oci() -> &'static Sbom {
    static SBOM: OnceLock<Sbom> = OnceLock::new();
    SBOM.get_or_init(|| scan(&fixtures().join("oci")))
}

fn rootfs(path: &str) -> String {
    fixtures()
        .join("rootfs")
        .join(path)
        .to_str()
        .unwrap()
        .to_owned()
}

/// The SBOM's packages of one ecosystem found under `under`.
fn packages<'a>(sbom: &'a Sbom, ecosystem: Ecosystem, under: &str) -> Vec<&'a Package> {
    sbom.packages
        .iter()
        .filter(|p| p.ecosystem == ecosystem && p.paths.iter().any(|path| path.starts_with(under)))
        .collect()
}

fn set<'a>(packages: impl IntoIterator<Item = &'a Package>) -> Set {
    packages
        .into_iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn package<'a>(sbom: &'a Sbom, ecosystem: Ecosystem, name: &str) -> &'a Package {
    sbom.packages
        .iter()
        .find(|p| p.ecosystem == ecosystem && p.name == name)
        .unwrap_or_else(|| panic!("no {ecosystem} package {name}"))
}

#[test]
fn dpkg_packages_equal_dpkg_query_including_source_packages() {
    let admindir = format!("--admindir={}", rootfs("var/lib/dpkg"));
    let format = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n";
    let out = run("dpkg-query", &[&admindir, "-W", "-f", format]);
    let mut want = BTreeSet::new();
    for line in out.lines().filter(|l| l.starts_with("ii")) {
        let f: Vec<&str> = line.split('\t').collect();
        want.insert((
            f[1].to_owned(),
            f[2].to_owned(),
            f[3].to_owned(),
            f[4].to_owned(),
            f[5].to_owned(),
        ));
    }
    assert!(
        want.len() > 80,
        "minbase has about 90 packages: {}",
        want.len()
    );
    let got: BTreeSet<_> = packages(oci(), Ecosystem::Deb, "/var/lib/dpkg/status")
        .into_iter()
        .map(|p| {
            let src = p.source.as_ref().unwrap();
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap(),
                src.name.clone(),
                src.version.clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn pip_packages_equal_pip_list_path() {
    let out = run(
        "python3",
        &[
            "-m",
            "pip",
            "list",
            "--disable-pip-version-check",
            "--format",
            "json",
            "--path",
            &rootfs("opt/python"),
        ],
    );
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let want: Set = listed
        .iter()
        .map(|p| {
            (
                pep503(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        want.contains(&("requests".into(), "2.31.0".into())),
        "{want:?}"
    );
    assert!(want.contains(&("pyyaml".into(), "6.0.1".into())));
    assert_eq!(set(packages(oci(), Ecosystem::Pypi, "/opt/python/")), want);
}

fn pep503(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn npm_packages_equal_npm_ls_all() {
    let out = run(
        "npm",
        &["ls", "--all", "--json", "--prefix", &rootfs("opt/app")],
    );
    let tree: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut want = Set::new();
    collect_npm(&tree, &mut want);
    assert!(
        want.len() > 50,
        "express has dozens of dependencies: {}",
        want.len()
    );
    assert!(want.contains(&("@sindresorhus/is".into(), "4.6.0".into())));
    let got = set(packages(oci(), Ecosystem::Npm, "/opt/app/"));
    assert_eq!(got, want);
    assert!(
        !oci().packages.iter().any(|p| p.name == "fixture-app"),
        "the project's own package.json is not a dependency"
    );
}

fn collect_npm(node: &serde_json::Value, out: &mut Set) {
    let Some(deps) = node["dependencies"].as_object() else {
        return;
    };
    for (name, dep) in deps {
        if let Some(version) = dep["version"].as_str() {
            out.insert((name.clone(), version.to_owned()));
        }
        collect_npm(dep, out);
    }
}

#[test]
fn cargo_auditable_packages_equal_rust_audit_info() {
    let out = run("rust-audit-info", &[&rootfs("usr/local/bin/rust-hello")]);
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want: Set = info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(want.len(), 3);
    assert_eq!(
        set(packages(
            oci(),
            Ecosystem::Cargo,
            "/usr/local/bin/rust-hello"
        )),
        want
    );
    let root = package(oci(), Ecosystem::Cargo, "rust-hello");
    assert_eq!(root.kind, bulwark_sbom::PackageKind::Application);
}

#[test]
fn go_modules_equal_go_version_m_with_replacements_and_stdlib() {
    let out = run("go", &["version", "-m", &rootfs("usr/local/bin/go-hello")]);
    let mut lines = out.lines();
    let go = lines.next().and_then(|l| l.rsplit_once(": go")).unwrap().1;
    let mut want = Set::from([("stdlib".to_owned(), format!("v{go}"))]);
    // A `=>` line replaces the module of the line before it, unless it names
    // a local directory.
    let mut last: Option<(String, String)> = None;
    for line in lines {
        match line.trim_start().split('\t').collect::<Vec<_>>().as_slice() {
            ["mod" | "dep", path, version, ..] => {
                want.extend(last.replace((path.to_string(), version.to_string())));
            }
            ["=>", path, version, ..] if !path.starts_with(['.', '/']) => {
                last = Some((path.to_string(), version.to_string()));
            }
            _ => {}
        }
    }
    want.extend(last);
    assert!(
        want.contains(&("github.com/fork/text".into(), "v0.7.1".into())),
        "{want:?}"
    );
    assert!(want.contains(&("example.com/greet".into(), "v0.1.0".into())));
    assert_eq!(
        set(packages(
            oci(),
            Ecosystem::Golang,
            "/usr/local/bin/go-hello"
        )),
        want
    );
}

#[test]
fn layers_attribute_each_package_to_the_layer_that_added_it() {
    let sbom = oci();
    assert_eq!(sbom.layers.len(), 6);
    let layer = |eco, name| package(sbom, eco, name).layer.index;
    assert_eq!(
        layer(Ecosystem::Deb, "libc6"),
        0,
        "base packages stay in layer 0 though status was rewritten"
    );
    assert_eq!(layer(Ecosystem::Deb, "libexpat1"), 1);
    assert_eq!(layer(Ecosystem::Pypi, "requests"), 2);
    assert_eq!(layer(Ecosystem::Npm, "express"), 3);
    assert_eq!(layer(Ecosystem::Cargo, "itoa"), 4);
    assert_eq!(layer(Ecosystem::Golang, "stdlib"), 4);
    for p in &sbom.packages {
        assert_eq!(p.layer.diff_id, sbom.layers[p.layer.index].diff_id);
        assert!(p.layer.diff_id.starts_with("sha256:"));
    }
}

#[test]
fn whiteouts_remove_deleted_packages() {
    let sbom = oci();
    let gone = |eco, name: &str| {
        !sbom
            .packages
            .iter()
            .any(|p| p.ecosystem == eco && p.name == name)
    };
    assert!(gone(Ecosystem::Deb, "xz-utils"), "dpkg -r in layer 5");
    assert!(
        gone(Ecosystem::Pypi, "six"),
        "rm -r six in layer 5 (whiteouts)"
    );
}

#[test]
fn distro_and_purls() {
    let sbom = oci();
    let distro = sbom.distro.as_ref().unwrap();
    assert_eq!(
        (distro.id.as_str(), distro.version_id.as_str()),
        ("debian", "12")
    );
    let libc = package(sbom, Ecosystem::Deb, "libc6");
    assert_eq!(
        libc.purl,
        format!(
            "pkg:deb/debian/libc6@{}?arch=amd64&distro=debian-12",
            libc.version.replace('+', "%2B")
        )
    );
    assert_eq!(sbom.osv_ecosystem(libc).as_deref(), Some("Debian:12"));
    assert_eq!(
        package(sbom, Ecosystem::Npm, "@sindresorhus/is").purl,
        "pkg:npm/%40sindresorhus/is@4.6.0"
    );
    assert_eq!(
        package(sbom, Ecosystem::Pypi, "pyyaml").purl,
        "pkg:pypi/pyyaml@6.0.1"
    );
    assert!(sbom.warnings.is_empty(), "{:?}", sbom.warnings);
}

#[test]
fn docker_archive_of_the_same_image_gives_the_same_sbom() {
    let archive = scan(&fixtures().join("debian.tar"));
    let strip = |s: &Sbom| -> Vec<(String, String, usize, Vec<String>)> {
        s.packages
            .iter()
            .map(|p| {
                (
                    p.purl.clone(),
                    p.version.clone(),
                    p.layer.index,
                    p.paths.clone(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&archive), strip(oci()));
    assert_eq!(archive.layers, oci().layers, "same diffIDs");
    assert_eq!(archive.source.kind, "docker-archive");
}

#[test]
fn rootfs_directory_gives_the_same_packages_in_one_layer() {
    let dir = scan(&fixtures().join("rootfs"));
    let purls = |s: &Sbom| {
        s.packages
            .iter()
            .map(|p| p.purl.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(purls(&dir), purls(oci()));
    assert_eq!(dir.source.kind, "rootfs");
    assert!(dir.packages.iter().all(|p| p.layer.index == 0));
}
