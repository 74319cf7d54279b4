//! Software bills of materials for container images.
//!
//! Catalogers turn the bytes of package-database files (dpkg, apk, rpm),
//! language metadata (Python, npm, Cargo, Java) and binaries (Go build info,
//! cargo-auditable) into [`Package`]s; the [`Sbom`] records which layer added
//! each package and which files it came from.
//!
//! This crate does no I/O: it never opens files or sockets. Reading images and
//! walking layers is `bulwark-image`'s job; matching packages against
//! vulnerabilities is `bulwark-vulndb`'s.

mod alias;
pub mod catalog;
pub mod format;
pub mod inventory;
pub mod model;
pub mod purl;
mod scan;

pub use scan::{ScanError, Scanned, scan, scan_with};

pub use model::{
    Distro, Ecosystem, Layer, LayerRef, Package, PackageKind, SCHEMA_VERSION, Sbom, Source,
    SourcePackage, Warning,
};
