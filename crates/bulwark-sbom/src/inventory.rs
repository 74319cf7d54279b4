//! Per-layer bookkeeping: which layer added each package.
//!
//! Files arrive in layer order. A package database rewritten by a later layer
//! (dpkg's `status` is rewritten by every `apt-get install`) must not move
//! every package to that layer, so for each path the [`Inventory`] remembers
//! since which layer each `name@version` has been present: a package keeps
//! the layer where it first appeared as long as every later rewrite of the
//! file still lists it. A whiteout ends that history.
//!
//! Which files survive to the final filesystem is the layer walker's job; it
//! hands the survivors to [`Inventory::finish`], which turns them into an
//! [`Sbom`]. Files read together are paired there: an `rpmdb.sqlite` with
//! the write-ahead log that survives beside it ([`rpm_wal`]).

mod rpm_wal;

use std::collections::{BTreeMap, HashMap};

use crate::catalog::{self, CatalogError, FileFindings, FileKind, Found, Limits};
use crate::model::{
    Distro, Ecosystem, Layer, LayerRef, Package, PackageKind, SCHEMA_VERSION, Sbom, Source, Warning,
};
use crate::purl::{PurlParts, purl};

/// The packages of one file, each with the layer it first appeared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogedFile {
    kind: FileKind,
    findings: FileFindings,
    first_layers: Vec<usize>,
    error: Option<CatalogError>,
    /// The bytes, for files read again with another at the end (rpm
    /// databases and their logs).
    raw: Option<Vec<u8>>,
    /// Why this file was read as something its own path does not say.
    note: Option<String>,
}

impl CatalogedFile {
    /// Which cataloger read the file.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// Records why the file was read as what it was (shown as a warning).
    pub fn note(&mut self, note: String) {
        self.note = Some(note);
    }
}

/// Identity of a package inside one file, for layer history.
type Identity = (String, String, Option<String>);

fn identity(found: &Found) -> Identity {
    (
        found.name.clone(),
        found.version.clone(),
        found.arch.clone(),
    )
}

/// Layer history of one path.
struct PathHistory {
    /// Layer that last wrote the path.
    layer: usize,
    /// Since which layer each package has been listed continuously.
    since: HashMap<Identity, usize>,
}

/// Collects catalog results while layers are walked.
pub struct Inventory {
    limits: Limits,
    history: BTreeMap<String, PathHistory>,
}

/// A surviving file, as the layer walker reports it.
pub struct Survivor {
    /// Path inside the image, without a leading `/`.
    pub path: String,
    /// Layer that wrote the surviving file.
    pub layer: usize,
    /// What [`Inventory::file`] made of it.
    pub file: CatalogedFile,
}

impl Inventory {
    pub fn new(limits: Limits) -> Self {
        Inventory {
            limits,
            history: BTreeMap::new(),
        }
    }

    /// The cataloging limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether to read a regular file, and by which cataloger.
    pub fn wants(&self, path: &str, mode: u32) -> Option<FileKind> {
        catalog::classify(path, mode & 0o111 != 0)
    }

    /// Catalogs a file's content (or the reason it could not be read) found
    /// at `path` in `layer`.
    pub fn file(
        &mut self,
        layer: usize,
        path: &str,
        kind: FileKind,
        content: Result<&[u8], CatalogError>,
    ) -> CatalogedFile {
        let raw = match (&content, kind) {
            (Ok(bytes), FileKind::RpmSqlite | FileKind::RpmSqliteWal) => Some(bytes.to_vec()),
            _ => None,
        };
        let (findings, error) =
            match content.and_then(|b| catalog::catalog_file(kind, path, b, &self.limits)) {
                Ok(findings) => (findings, None),
                Err(error) => (FileFindings::default(), Some(error)),
            };
        let previous = self.history.remove(path);
        let since: HashMap<Identity, usize> = findings
            .packages
            .iter()
            .map(|found| {
                let id = identity(found);
                let first = previous
                    .as_ref()
                    .and_then(|h| h.since.get(&id).copied())
                    .unwrap_or(layer);
                (id, first)
            })
            .collect();
        let first_layers = findings
            .packages
            .iter()
            .map(|f| since.get(&identity(f)).copied().unwrap_or(layer))
            .collect();
        self.history
            .insert(path.to_owned(), PathHistory { layer, since });
        CatalogedFile {
            kind,
            findings,
            first_layers,
            error,
            raw,
            note: None,
        }
    }

    /// A whiteout (or opaque marker, or a non-file entry replacing a
    /// directory) in `layer` deleted `path` and everything below it from lower
    /// layers: their history ends.
    pub fn deleted(&mut self, layer: usize, path: &str) {
        let path = path.trim_end_matches('/');
        let prefix = format!("{path}/");
        self.history.retain(|p, h| {
            let below = path.is_empty() || p == path || p.starts_with(&prefix);
            !(below && h.layer < layer)
        });
    }

    /// Builds the SBOM from the files that survive in the final filesystem.
    /// `os_release` names where `etc/os-release` and `usr/lib/os-release`
    /// really are (after the image's symbolic links), in that order.
    pub fn finish(
        self,
        source: Source,
        layers: Vec<Layer>,
        survivors: impl IntoIterator<Item = Survivor>,
        os_release: &[String],
    ) -> Sbom {
        let mut survivors: Vec<Survivor> = survivors.into_iter().collect();
        rpm_wal::replay_logs(&mut survivors);
        let distro = distro(&survivors, os_release);
        let mut builder = Builder {
            layers: &layers,
            distro: distro.as_ref(),
            packages: BTreeMap::new(),
            warnings: Vec::new(),
        };
        for survivor in &survivors {
            builder.add(survivor);
        }
        let Builder {
            packages,
            mut warnings,
            ..
        } = builder;
        warnings.sort_by(|a, b| a.path.cmp(&b.path));
        Sbom {
            schema: SCHEMA_VERSION.to_owned(),
            source,
            distro,
            layers,
            packages: packages.into_values().collect(),
            warnings,
        }
    }
}

/// Where os-release(5) is looked for, first match wins.
pub const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The first of `paths` that holds an os-release file.
fn distro(survivors: &[Survivor], paths: &[String]) -> Option<Distro> {
    paths.iter().find_map(|path| {
        survivors
            .iter()
            .find(|s| s.path == *path && s.file.kind == FileKind::OsRelease)
            .and_then(|s| s.file.findings.distro.clone())
    })
}

/// Key that merges the same package found in several files.
type MergeKey = (Ecosystem, String, String, Option<String>, Option<u32>);

struct Builder<'a> {
    layers: &'a [Layer],
    distro: Option<&'a Distro>,
    packages: BTreeMap<MergeKey, Package>,
    warnings: Vec<Warning>,
}

impl Builder<'_> {
    fn add(&mut self, survivor: &Survivor) {
        let file = &survivor.file;
        let path = format!("/{}", survivor.path);
        let warn = |message: String| Warning {
            path: path.clone(),
            layer: Some(survivor.layer),
            message,
        };
        self.warnings
            .extend(file.note.iter().map(|n| warn(n.clone())));
        self.warnings
            .extend(file.error.iter().map(|e| warn(e.to_string())));
        self.warnings
            .extend(file.findings.warnings.iter().map(|w| warn(w.clone())));
        for (found, first) in file.findings.packages.iter().zip(&file.first_layers) {
            match self.package(found, *first, &path) {
                Ok(package) => self.merge(package),
                Err(e) => self.warnings.push(warn(e.to_string())),
            }
        }
    }

    fn package(
        &self,
        found: &Found,
        layer: usize,
        path: &str,
    ) -> Result<Package, crate::purl::PurlError> {
        let purl = purl(&PurlParts {
            ecosystem: found.ecosystem,
            name: &found.name,
            version: &found.version,
            arch: found.arch.as_deref(),
            epoch: found.epoch,
            distro: self.distro,
        })?;
        let diff_id = self
            .layers
            .get(layer)
            .map(|l| l.diff_id.clone())
            .unwrap_or_default();
        Ok(Package {
            ecosystem: found.ecosystem,
            name: found.name.clone(),
            version: found.version.clone(),
            epoch: found.epoch,
            arch: found.arch.clone(),
            source: found.source.clone(),
            license: found.license.clone(),
            kind: found.kind,
            purl,
            layer: LayerRef {
                index: layer,
                diff_id,
            },
            paths: vec![path.to_owned()],
        })
    }

    fn merge(&mut self, package: Package) {
        let key = (
            package.ecosystem,
            package.name.clone(),
            package.version.clone(),
            package.arch.clone(),
            package.epoch,
        );
        match self.packages.get_mut(&key) {
            None => {
                self.packages.insert(key, package);
            }
            Some(existing) => {
                for path in package.paths {
                    if !existing.paths.contains(&path) {
                        existing.paths.push(path);
                    }
                }
                if package.layer.index < existing.layer.index {
                    existing.layer = package.layer;
                }
                if package.kind == PackageKind::Application {
                    existing.kind = PackageKind::Application;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(n: usize) -> Vec<Layer> {
        (0..n)
            .map(|index| Layer {
                index,
                diff_id: format!("sha256:{index:064}"),
            })
            .collect()
    }

    fn source() -> Source {
        Source {
            kind: "oci-layout".into(),
            reference: "test".into(),
            digest: None,
            platform: None,
        }
    }

    fn status(packages: &[(&str, &str)]) -> Vec<u8> {
        packages
            .iter()
            .map(|(n, v)| format!("Package: {n}\nStatus: install ok installed\nVersion: {v}\nArchitecture: amd64\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    fn os_release() -> Vec<String> {
        super::OS_RELEASE.iter().map(|p| (*p).to_owned()).collect()
    }

    const STATUS: &str = "var/lib/dpkg/status";
    const OS_RELEASE: &str = "usr/lib/os-release";

    fn survivor(path: &str, layer: usize, file: CatalogedFile) -> Survivor {
        Survivor {
            path: path.into(),
            layer,
            file,
        }
    }

    #[test]
    fn rewritten_status_keeps_the_layer_where_each_package_first_appeared() {
        let mut inv = Inventory::new(Limits::default());
        let kind = inv.wants(STATUS, 0o644).unwrap();
        inv.file(
            0,
            STATUS,
            kind,
            Ok(&status(&[("libc6", "2.36-9"), ("openssl", "3.0.11-1")])),
        );
        inv.file(
            1,
            STATUS,
            kind,
            Ok(&status(&[
                ("libc6", "2.36-9"),
                ("openssl", "3.0.13-1"),
                ("curl", "7.88"),
            ])),
        );
        let last = inv.file(
            2,
            STATUS,
            kind,
            Ok(&status(&[
                ("libc6", "2.36-9"),
                ("openssl", "3.0.13-1"),
                ("curl", "7.88"),
            ])),
        );
        let os = inv.file(
            0,
            OS_RELEASE,
            FileKind::OsRelease,
            Ok(b"ID=debian\nVERSION_ID=\"12\"\n"),
        );
        let sbom = inv.finish(
            source(),
            layers(3),
            [survivor(STATUS, 2, last), survivor(OS_RELEASE, 0, os)],
            &os_release(),
        );
        let got: Vec<_> = sbom
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.layer.index))
            .collect();
        assert_eq!(
            got,
            [
                ("curl", "7.88", 1),
                ("libc6", "2.36-9", 0),
                ("openssl", "3.0.13-1", 1)
            ]
        );
        assert_eq!(sbom.packages[1].layer.diff_id, format!("sha256:{:064}", 0));
        assert_eq!(
            sbom.packages[1].purl,
            "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12"
        );
        assert_eq!(sbom.packages[1].paths, ["/var/lib/dpkg/status"]);
    }

    #[test]
    fn whiteout_ends_the_history_of_a_path() {
        let mut inv = Inventory::new(Limits::default());
        let kind = FileKind::DpkgStatus;
        inv.file(0, STATUS, kind, Ok(&status(&[("libc6", "2.36-9")])));
        inv.deleted(1, "var/lib/dpkg");
        let again = inv.file(2, STATUS, kind, Ok(&status(&[("libc6", "2.36-9")])));
        let sbom = inv.finish(
            source(),
            layers(3),
            [survivor(STATUS, 2, again)],
            &os_release(),
        );
        assert_eq!(sbom.packages[0].layer.index, 2);
    }

    #[test]
    fn whiteout_in_a_layer_does_not_touch_that_layers_own_files() {
        let mut inv = Inventory::new(Limits::default());
        inv.file(0, STATUS, FileKind::DpkgStatus, Ok(&status(&[("a", "1")])));
        inv.file(1, STATUS, FileKind::DpkgStatus, Ok(&status(&[("a", "1")])));
        inv.deleted(1, STATUS);
        assert_eq!(inv.history.get(STATUS).map(|h| h.since.len()), Some(1));
        inv.deleted(2, "");
        assert!(
            inv.history.is_empty(),
            "an opaque root clears everything lower"
        );
    }

    #[test]
    fn same_package_in_two_files_merges_paths_and_takes_the_lower_layer() {
        let mut inv = Inventory::new(Limits::default());
        let json = br#"{"name":"lodash","version":"4.17.21"}"#;
        let a = "app/node_modules/lodash/package.json";
        let b = "app/node_modules/x/node_modules/lodash/package.json";
        let fa = inv.file(1, a, FileKind::NpmPackageJson, Ok(json));
        let fb = inv.file(0, b, FileKind::NpmPackageJson, Ok(json));
        let sbom = inv.finish(
            source(),
            layers(2),
            [survivor(a, 1, fa), survivor(b, 0, fb)],
            &os_release(),
        );
        assert_eq!(sbom.packages.len(), 1);
        let p = &sbom.packages[0];
        assert_eq!(p.ecosystem, Ecosystem::Npm);
        assert_eq!(p.layer.index, 0);
        assert_eq!(p.paths.len(), 2);
    }

    #[test]
    fn unreadable_files_become_warnings_with_path_and_layer() {
        let mut inv = Inventory::new(Limits::default());
        let bad = inv.file(0, "var/lib/rpm/Packages", FileKind::RpmUnsupported, Ok(b""));
        let big = inv.file(
            1,
            "x/node_modules/big/package.json",
            FileKind::NpmPackageJson,
            Err(CatalogError::TooLarge {
                what: "file".into(),
                limit: 10,
            }),
        );
        let sbom = inv.finish(
            source(),
            layers(2),
            [
                survivor("var/lib/rpm/Packages", 0, bad),
                survivor("x/node_modules/big/package.json", 1, big),
            ],
            &os_release(),
        );
        assert!(sbom.packages.is_empty());
        assert_eq!(sbom.warnings.len(), 2);
        assert!(sbom.warnings[0].message.contains("Berkeley DB"));
        assert_eq!(sbom.warnings[0].path, "/var/lib/rpm/Packages");
        assert_eq!(sbom.warnings[1].layer, Some(1));
    }

    #[test]
    fn etc_os_release_wins_over_usr_lib() {
        let mut inv = Inventory::new(Limits::default());
        let usr = inv.file(
            0,
            OS_RELEASE,
            FileKind::OsRelease,
            Ok(b"ID=debian\nVERSION_ID=12\n"),
        );
        let etc = inv.file(
            0,
            "etc/os-release",
            FileKind::OsRelease,
            Ok(b"ID=ubuntu\nVERSION_ID=22.04\n"),
        );
        let sbom = inv.finish(
            source(),
            layers(1),
            [
                survivor(OS_RELEASE, 0, usr),
                survivor("etc/os-release", 0, etc),
            ],
            &os_release(),
        );
        assert_eq!(sbom.distro.unwrap().id, "ubuntu");
    }
}
