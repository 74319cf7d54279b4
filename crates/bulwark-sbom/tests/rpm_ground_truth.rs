//! rpmdb.sqlite ground truth: packages built with the real `rpmbuild` and
//! installed with the real `rpm` (Debian's rpm 4.18, sqlite backend) into a
//! fresh database; the cataloger must list exactly what `rpm -qa` lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use bulwark_sbom::catalog::{FileKind, Limits, catalog_file};

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install Debian's rpm): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn build_rpm(top: &Path, name: &str, epoch: Option<u32>, version: &str, license: &str) {
    let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    let spec = format!(
        "Name: {name}\n{epoch}Version: {version}\nRelease: 3.el9\nSummary: fixture\nLicense: {license}\n\
BuildArch: noarch\n\n%description\nfixture\n\n%files\n"
    );
    std::fs::create_dir_all(top).unwrap();
    let file = top.join(format!("{name}.spec"));
    std::fs::write(&file, spec).unwrap();
    let define = format!("_topdir {}", top.display());
    run(
        "rpmbuild",
        &[
            "--quiet",
            "--define",
            &define,
            "-bb",
            file.to_str().unwrap(),
        ],
    );
}

#[test]
fn rpmdb_sqlite_packages_equal_rpm_qa() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("build");
    let db = dir.path().join("db");
    build_rpm(&top, "openssl-libs", Some(1), "3.0.7", "ASL 2.0");
    build_rpm(&top, "bash", None, "5.1.8", "GPLv3+");
    build_rpm(&top, "tzdata", None, "2024a", "Public Domain");
    let dbpath = db.to_str().unwrap();
    run("rpm", &["--dbpath", dbpath, "--initdb"]);
    let rpms: Vec<String> = std::fs::read_dir(top.join("RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        .collect();
    let mut args = vec![
        "--dbpath",
        dbpath,
        "-i",
        "--justdb",
        "--nodeps",
        "--nosignature",
    ];
    args.extend(rpms.iter().map(String::as_str));
    run("rpm", &args);

    let qf = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n";
    let want: BTreeSet<(String, u32, String, String, String, String)> =
        run("rpm", &["--dbpath", dbpath, "-qa", "--qf", qf])
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].into(),
                    f[1].parse().unwrap(),
                    f[2].into(),
                    f[3].into(),
                    f[4].into(),
                    f[5].into(),
                )
            })
            .collect();
    assert_eq!(want.len(), 3);

    let bytes = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let found = catalog_file(
        FileKind::RpmSqlite,
        "var/lib/rpm/rpmdb.sqlite",
        &bytes,
        &Limits::default(),
    )
    .unwrap();
    assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    let got: BTreeSet<_> = found
        .packages
        .iter()
        .map(|p| {
            let src = p.source.as_ref().unwrap();
            (
                p.name.clone(),
                p.epoch.unwrap_or(0),
                p.version.clone(),
                p.arch.clone().unwrap(),
                format!("{}-{}.src.rpm", src.name, src.version),
                p.license.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
}
