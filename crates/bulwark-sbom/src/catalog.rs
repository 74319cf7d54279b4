//! Catalogers: pure functions from one file's bytes to the packages it
//! records.
//!
//! [`classify`] decides from a path (and the executable bit) whether a file is
//! worth reading and by which cataloger; [`catalog_file`] parses the bytes.
//! Nothing here knows about layers: [`crate::inventory`] does the bookkeeping.

mod apk;
mod cargo;
mod dpkg;
mod elf;
mod gobin;
mod java;
mod npm;
mod os_release;
mod python;
mod rpm;
mod rpm_header;
mod sqlite_wal;

use crate::model::{Distro, Ecosystem, PackageKind, SourcePackage};

/// Which cataloger reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `etc/os-release` (preferred) or `usr/lib/os-release`.
    OsRelease,
    /// `var/lib/dpkg/status`.
    DpkgStatus,
    /// One file of distroless `var/lib/dpkg/status.d/`.
    DpkgStatusD,
    /// `lib/apk/db/installed`.
    ApkInstalled,
    /// An `rpmdb.sqlite` database.
    RpmSqlite,
    /// The write-ahead log `rpmdb.sqlite-wal` beside it; read together with
    /// the database when both survive (see
    /// [`crate::inventory::Inventory::finish`]).
    RpmSqliteWal,
    /// A Berkeley DB `Packages` or NDB `Packages.db` rpm database: found,
    /// reported, not read.
    RpmUnsupported,
    /// `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` or an `*.egg-info` file.
    PythonMetadata,
    /// `node_modules/[@scope/]name/package.json`.
    NpmPackageJson,
    /// `Cargo.lock`.
    CargoLock,
    /// A JAR, WAR, EAR, PAR, SAR, JPI or HPI archive.
    JavaArchive,
    /// An executable file that may be an ELF binary with Go build info or a
    /// cargo-auditable `.dep-v0` section.
    Executable,
}

/// Size limits for reading files. A file over its limit is skipped with a
/// warning, never read into memory whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Text metadata: status files, METADATA, package.json, Cargo.lock.
    pub metadata_bytes: u64,
    /// rpm databases.
    pub rpmdb_bytes: u64,
    /// Executables scanned for Go build info and `.dep-v0`.
    pub binary_bytes: u64,
    /// Java archives (the outer file).
    pub archive_bytes: u64,
    /// One entry inside a Java archive, uncompressed.
    pub archive_entry_bytes: u64,
    /// All entries read from one Java archive and its nested archives,
    /// uncompressed.
    pub archive_total_bytes: u64,
    /// Entries in one Java archive.
    pub archive_entries: usize,
    /// Depth of JARs nested inside JARs (the outer archive is depth 0).
    pub archive_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Limits {
            metadata_bytes: 64 * MIB,
            rpmdb_bytes: 512 * MIB,
            binary_bytes: 512 * MIB,
            archive_bytes: 512 * MIB,
            archive_entry_bytes: 64 * MIB,
            archive_total_bytes: 512 * MIB,
            archive_entries: 100_000,
            archive_depth: 3,
        }
    }
}

impl Limits {
    /// The most bytes read from a file of this kind.
    pub fn for_kind(&self, kind: FileKind) -> u64 {
        match kind {
            FileKind::RpmSqlite | FileKind::RpmSqliteWal => self.rpmdb_bytes,
            FileKind::Executable => self.binary_bytes,
            FileKind::JavaArchive => self.archive_bytes,
            FileKind::RpmUnsupported => 0,
            _ => self.metadata_bytes,
        }
    }
}

/// A package as a cataloger reports it, before layer attribution and purl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub epoch: Option<u32>,
    pub arch: Option<String>,
    pub source: Option<SourcePackage>,
    pub license: Option<String>,
    pub kind: PackageKind,
}

impl Found {
    /// A library package with just a name and version.
    pub fn new(ecosystem: Ecosystem, name: impl Into<String>, version: impl Into<String>) -> Self {
        Found {
            ecosystem,
            name: name.into(),
            version: version.into(),
            epoch: None,
            arch: None,
            source: None,
            license: None,
            kind: PackageKind::Library,
        }
    }
}

/// What one file contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFindings {
    pub packages: Vec<Found>,
    pub distro: Option<Distro>,
    /// Problems with this file that did not stop the rest of it being read
    /// (a malformed entry, a nested archive over its limit).
    pub warnings: Vec<String>,
}

impl FileFindings {
    fn packages(packages: Vec<Found>) -> Self {
        FileFindings {
            packages,
            ..Default::default()
        }
    }

    /// A database whose every entry was malformed is not a database of
    /// `format`: one error instead of a warning per entry.
    fn unless_all_malformed(self, format: &'static str) -> Result<Self, CatalogError> {
        if self.packages.is_empty() && !self.warnings.is_empty() {
            return Err(CatalogError::malformed(format, self.warnings.join("; ")));
        }
        Ok(self)
    }
}

/// Why a file could not be cataloged at all. Reported as a warning in the
/// SBOM; the scan goes on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("not valid {format}: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("{what} is over the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("{0}")]
    Unsupported(String),
}

impl CatalogError {
    fn malformed(format: &'static str, reason: impl Into<String>) -> Self {
        CatalogError::Malformed {
            format,
            reason: reason.into(),
        }
    }
}

/// Directories whose files the catalogers find by a fixed path, with a file
/// name each cataloger there reads (any name in `status.d`). A process in the
/// container reaches them through symbolic links; [`crate::scan`] follows the
/// image's links to find where the files really are.
pub const FIXED_LOCATIONS: &[(&str, &[&str])] = &[
    ("etc", &["os-release"]),
    ("usr/lib", &["os-release"]),
    ("var/lib/dpkg", &["status"]),
    (STATUS_D, &["any-package"]),
    ("lib/apk/db", &["installed"]),
    ("usr/lib/apk/db", &["installed"]),
    ("var/lib/rpm", rpm::FILE_NAMES),
    ("usr/lib/sysimage/rpm", rpm::FILE_NAMES),
    ("usr/share/rpm", rpm::FILE_NAMES),
];

/// The `status.d` directory of dpkg: every file in it is a package entry.
pub const STATUS_D: &str = "var/lib/dpkg/status.d";

/// Whether [`classify`] decides the files of `dir` by the directory alone
/// (`status.d`: any name; rpm directories: only database names), instead
/// of by the general file-name rules.
pub fn classifies_any_name(dir: &str) -> bool {
    dir == STATUS_D || rpm::is_rpmdb_dir(dir)
}

/// Decides whether a file is read, and by which cataloger. `path` is relative
/// to the image root, without a leading `/`.
pub fn classify(path: &str, executable: bool) -> Option<FileKind> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    match (dir, file) {
        ("etc" | "usr/lib", "os-release") => return Some(FileKind::OsRelease),
        ("var/lib/dpkg", "status") => return Some(FileKind::DpkgStatus),
        ("var/lib/dpkg/status.d", f) if !f.ends_with(".md5sums") && !f.starts_with('.') => {
            return Some(FileKind::DpkgStatusD);
        }
        ("lib/apk/db" | "usr/lib/apk/db", "installed") => return Some(FileKind::ApkInstalled),
        (d, f) if rpm::is_rpmdb_dir(d) => return rpm::classify(f),
        _ => {}
    }
    if python::is_metadata_path(dir, file) {
        return Some(FileKind::PythonMetadata);
    }
    if file == "package.json" && npm::is_package_dir(dir) {
        return Some(FileKind::NpmPackageJson);
    }
    if file == "Cargo.lock" {
        return Some(FileKind::CargoLock);
    }
    if java::is_archive_name(file) {
        return Some(FileKind::JavaArchive);
    }
    executable.then_some(FileKind::Executable)
}

/// Catalogs one file's bytes. `path` is the file's path in the image (used
/// for the Java file-name fallback and for messages).
pub fn catalog_file(
    kind: FileKind,
    path: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<FileFindings, CatalogError> {
    match kind {
        FileKind::OsRelease => Ok(FileFindings {
            distro: os_release::parse(bytes),
            ..Default::default()
        }),
        FileKind::DpkgStatus | FileKind::DpkgStatusD => dpkg::parse(bytes),
        FileKind::ApkInstalled => apk::parse(bytes),
        FileKind::RpmSqlite => rpm::parse_sqlite(bytes),
        // Nothing on its own: replayed onto the database it belongs to.
        FileKind::RpmSqliteWal => Ok(FileFindings::default()),
        FileKind::RpmUnsupported => Err(rpm::unsupported(path)),
        FileKind::PythonMetadata => python::parse(bytes).map(FileFindings::packages),
        FileKind::NpmPackageJson => npm::parse(bytes),
        FileKind::CargoLock => cargo::parse_lock(bytes).map(FileFindings::packages),
        FileKind::JavaArchive => Ok(java::parse(path, bytes, limits)),
        FileKind::Executable => binary(bytes, limits),
    }
}

/// An `rpmdb.sqlite` read together with its write-ahead log (committed
/// transactions replayed first, as SQLite does on open).
pub fn catalog_rpmdb_with_wal(db: &[u8], wal: &[u8]) -> Result<FileFindings, CatalogError> {
    rpm::parse_sqlite_with_wal(db, wal)
}

/// Executables: Go build info and cargo-auditable data from ELF sections.
fn binary(bytes: &[u8], limits: &Limits) -> Result<FileFindings, CatalogError> {
    let Some(elf) = elf::Elf::parse(bytes)? else {
        return Ok(FileFindings::default());
    };
    let mut found = FileFindings::default();
    if let Some(section) = elf.section(".go.buildinfo") {
        found.packages.extend(gobin::parse(section, &elf)?);
    }
    if let Some(section) = elf.section(".dep-v0") {
        found
            .packages
            .extend(cargo::parse_auditable(section, limits.metadata_bytes)?);
    }
    Ok(found)
}

/// Whether the first bytes of a file could start an ELF binary. Lets a caller
/// stop reading an executable that is a script.
pub fn looks_like_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_picks_the_right_cataloger() {
        let cases = [
            ("etc/os-release", Some(FileKind::OsRelease)),
            ("usr/lib/os-release", Some(FileKind::OsRelease)),
            ("var/lib/dpkg/status", Some(FileKind::DpkgStatus)),
            ("var/lib/dpkg/status-old", None),
            ("var/lib/dpkg/status.d/libc6", Some(FileKind::DpkgStatusD)),
            ("var/lib/dpkg/status.d/libc6.md5sums", None),
            ("lib/apk/db/installed", Some(FileKind::ApkInstalled)),
            ("var/lib/rpm/rpmdb.sqlite", Some(FileKind::RpmSqlite)),
            ("var/lib/rpm/rpmdb.sqlite-wal", Some(FileKind::RpmSqliteWal)),
            ("var/lib/rpm/rpmdb.sqlite-shm", None),
            (
                "usr/lib/sysimage/rpm/rpmdb.sqlite",
                Some(FileKind::RpmSqlite),
            ),
            ("var/lib/rpm/Packages", Some(FileKind::RpmUnsupported)),
            (
                "usr/lib/sysimage/rpm/Packages.db",
                Some(FileKind::RpmUnsupported),
            ),
            (
                "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                Some(FileKind::PythonMetadata),
            ),
            (
                "opt/x/foo.egg-info/PKG-INFO",
                Some(FileKind::PythonMetadata),
            ),
            ("opt/x/foo-1.0.egg-info", Some(FileKind::PythonMetadata)),
            (
                "app/node_modules/lodash/package.json",
                Some(FileKind::NpmPackageJson),
            ),
            (
                "app/node_modules/@types/node/package.json",
                Some(FileKind::NpmPackageJson),
            ),
            ("app/node_modules/lodash/fp/package.json", None),
            ("app/package.json", None),
            ("src/Cargo.lock", Some(FileKind::CargoLock)),
            ("opt/app/lib/guava-31.jar", Some(FileKind::JavaArchive)),
            ("usr/bin/ls", None),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path, false), want, "{path}");
        }
        assert_eq!(classify("usr/bin/ls", true), Some(FileKind::Executable));
    }

    #[test]
    fn non_elf_executable_yields_nothing() {
        let found = catalog_file(
            FileKind::Executable,
            "usr/bin/script",
            b"#!/bin/sh\necho hi\n",
            &Limits::default(),
        )
        .unwrap();
        assert!(found.packages.is_empty());
    }
}
