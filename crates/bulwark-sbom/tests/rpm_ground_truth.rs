//! rpmdb.sqlite ground truth: packages built with the real `rpmbuild` and
//! installed with the real `rpm` (Debian's rpm 4.18, sqlite backend) into a
//! fresh database; the cataloger must list exactly what `rpm -qa` lists,
//! including when the last transactions are still in the write-ahead log
//! (rpm keeps the database in WAL mode; a reader holding the database open
//! stops rpm's checkpoint, as a copy taken while a process uses it would).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use bulwark_image::testutil::TarBuilder;
use bulwark_sbom::catalog::{FileKind, Limits, catalog_file, catalog_rpmdb_with_wal};
use bulwark_sbom::{Ecosystem, Sbom};

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
    install(dbpath, &rpms);

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

/// `rpm -qa` as (name, epoch, version-release) triples.
fn rpm_qa(dbpath: &str) -> Nevs {
    run(
        "rpm",
        &[
            "--dbpath",
            dbpath,
            "-qa",
            "--qf",
            "%{NAME}\t%{EPOCHNUM}\t%{VERSION}-%{RELEASE}\n",
        ],
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (f[0].into(), f[1].parse().unwrap(), f[2].into())
    })
    .collect()
}

fn install(dbpath: &str, rpms: &[String]) {
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
}

fn rpm_files(top: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let dir = top.join("RPMS/noarch");
            let file = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with(&format!("{n}-"))
                })
                .unwrap();
            file.to_str().unwrap().to_owned()
        })
        .collect()
}

type Nevs = BTreeSet<(String, u32, String)>;

/// A real rpm database whose second transaction is only in the log.
struct WalState {
    /// rpmdb.sqlite bytes.
    main: Vec<u8>,
    /// rpmdb.sqlite-wal bytes.
    wal: Vec<u8>,
    /// `rpm -qa` of the pair.
    all: Nevs,
    /// `rpm -qa` after the first transaction.
    first: Nevs,
}

fn rpmdb_in_wal_state() -> WalState {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("build");
    build_rpm(&top, "openssl-libs", Some(1), "3.0.7", "ASL 2.0");
    build_rpm(&top, "bash", None, "5.1.8", "GPLv3+");
    build_rpm(&top, "tzdata", None, "2024a", "Public Domain");
    let db = dir.path().join("db");
    let dbpath = db.to_str().unwrap();
    run("rpm", &["--dbpath", dbpath, "--initdb"]);
    install(dbpath, &rpm_files(&top, &["bash"]));
    let first = rpm_qa(dbpath);

    let reader = rusqlite::Connection::open(db.join("rpmdb.sqlite")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM Packages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 1);
    install(dbpath, &rpm_files(&top, &["openssl-libs", "tzdata"]));
    let main = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let wal = std::fs::read(db.join("rpmdb.sqlite-wal")).unwrap();
    let all = rpm_qa(dbpath);
    drop(reader);
    assert!(
        !wal.is_empty(),
        "rpm left no log: the fixture is not in WAL state"
    );
    WalState {
        main,
        wal,
        all,
        first,
    }
}

fn triples(found: &[bulwark_sbom::catalog::Found]) -> Nevs {
    found
        .iter()
        .map(|p| (p.name.clone(), p.epoch.unwrap_or(0), p.version.clone()))
        .collect()
}

#[test]
fn rpmdb_sqlite_in_wal_state_from_real_rpm_equals_rpm_qa() {
    let WalState {
        main,
        wal,
        all,
        first,
    } = rpmdb_in_wal_state();
    assert_eq!(all.len(), 3);
    let alone = catalog_file(
        FileKind::RpmSqlite,
        "var/lib/rpm/rpmdb.sqlite",
        &main,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        triples(&alone.packages),
        first,
        "the main file alone holds only the first transaction"
    );
    let replayed = catalog_rpmdb_with_wal(&main, &wal).unwrap();
    assert!(replayed.warnings.is_empty(), "{:?}", replayed.warnings);
    assert_eq!(triples(&replayed.packages), all);
}

fn scan(layers: Vec<Vec<u8>>) -> Sbom {
    common::scan_layout(layers, Limits::default())
}

fn rpm_packages(sbom: &Sbom) -> BTreeSet<(String, u32, String, usize)> {
    sbom.packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Rpm)
        .map(|p| {
            (
                p.name.clone(),
                p.epoch.unwrap_or(0),
                p.version.clone(),
                p.layer.index,
            )
        })
        .collect()
}

#[test]
fn image_with_an_rpmdb_log_reports_the_logged_transactions_from_the_logs_layer() {
    let WalState {
        main,
        wal,
        all,
        first,
    } = rpmdb_in_wal_state();
    // Layer 0: the database after the first transaction (and an empty log,
    // as rpm leaves it). Layer 1: only the log changed.
    let sbom = scan(vec![
        TarBuilder::new()
            .file("usr/lib/sysimage/rpm/rpmdb.sqlite", &main)
            .file("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", b"")
            .symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm")
            .finish(),
        TarBuilder::new()
            .file("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", &wal)
            .finish(),
    ]);
    let want: BTreeSet<_> = all
        .iter()
        .map(|(n, e, v)| {
            let layer = usize::from(!first.contains(&(n.clone(), *e, v.clone())));
            (n.clone(), *e, v.clone(), layer)
        })
        .collect();
    assert_eq!(rpm_packages(&sbom), want);
    assert!(sbom.warnings.is_empty(), "{:?}", sbom.warnings);
}

#[test]
fn deleted_rpmdb_log_is_not_replayed() {
    let WalState {
        main, wal, first, ..
    } = rpmdb_in_wal_state();
    let sbom = scan(vec![
        TarBuilder::new()
            .file("var/lib/rpm/rpmdb.sqlite", &main)
            .file("var/lib/rpm/rpmdb.sqlite-wal", &wal)
            .finish(),
        TarBuilder::new()
            .whiteout("var/lib/rpm", "rpmdb.sqlite-wal")
            .finish(),
    ]);
    let got: BTreeSet<_> = rpm_packages(&sbom)
        .into_iter()
        .map(|(n, e, v, _)| (n, e, v))
        .collect();
    assert_eq!(got, first);
}

#[test]
fn rpmdb_log_without_its_database_is_a_warning_saying_packages_are_missing() {
    let WalState { wal, .. } = rpmdb_in_wal_state();
    let sbom = scan(vec![
        TarBuilder::new()
            .file("var/lib/rpm/rpmdb.sqlite-wal", &wal)
            .finish(),
    ]);
    assert!(sbom.packages.is_empty());
    assert_eq!(sbom.warnings.len(), 1, "{:?}", sbom.warnings);
    let w = &sbom.warnings[0];
    assert_eq!(w.path, "/var/lib/rpm/rpmdb.sqlite-wal");
    assert!(w.message.contains("NOT in this SBOM"), "{}", w.message);
}

#[test]
fn corrupt_rpmdb_log_is_a_warning_and_the_database_is_still_read() {
    let WalState {
        main,
        mut wal,
        first,
        ..
    } = rpmdb_in_wal_state();
    wal[8] ^= 0x01; // page size: the header no longer checks out
    let sbom = scan(vec![
        TarBuilder::new()
            .file("var/lib/rpm/rpmdb.sqlite", &main)
            .file("var/lib/rpm/rpmdb.sqlite-wal", &wal)
            .finish(),
    ]);
    let got: BTreeSet<_> = rpm_packages(&sbom)
        .into_iter()
        .map(|(n, e, v, _)| (n, e, v))
        .collect();
    assert_eq!(got, first);
    assert_eq!(sbom.warnings.len(), 1, "{:?}", sbom.warnings);
    assert!(
        sbom.warnings[0].message.contains("cannot replay"),
        "{}",
        sbom.warnings[0].message
    );
}
