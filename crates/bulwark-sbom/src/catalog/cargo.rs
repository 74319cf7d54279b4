//! Rust crates: `Cargo.lock` files and the dependency list cargo-auditable
//! embeds in binaries (`.dep-v0`: zlib-compressed JSON).

use std::io::Read;

use flate2::read::ZlibDecoder;
use serde::Deserialize;

use super::{CatalogError, Found};
use crate::model::{Ecosystem, PackageKind};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
}

/// Every `[[package]]` of a lock file (workspace members included: they are
/// what the lock file builds).
pub fn parse_lock(bytes: &[u8]) -> Result<Vec<Found>, CatalogError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CatalogError::malformed("Cargo.lock", e.to_string()))?;
    let lock: Lock =
        toml::from_str(text).map_err(|e| CatalogError::malformed("Cargo.lock", first_line(&e)))?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| Found::new(Ecosystem::Cargo, p.name, p.version))
        .collect())
}

fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[derive(Deserialize)]
struct Audit {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    root: bool,
}

/// The crates in a cargo-auditable `.dep-v0` section; the root crate is the
/// application. Decompression stops at `limit` bytes (a zlib bomb is an
/// error, not an allocation).
pub fn parse_auditable(section: &[u8], limit: u64) -> Result<Vec<Found>, CatalogError> {
    let mut json = Vec::new();
    ZlibDecoder::new(section)
        .take(limit + 1)
        .read_to_end(&mut json)
        .map_err(|e| CatalogError::malformed("cargo-auditable data", e.to_string()))?;
    if json.len() as u64 > limit {
        return Err(CatalogError::TooLarge {
            what: "decompressed .dep-v0 section".into(),
            limit,
        });
    }
    let audit: Audit = serde_json::from_slice(&json)
        .map_err(|e| CatalogError::malformed("cargo-auditable data", e.to_string()))?;
    Ok(audit
        .packages
        .into_iter()
        .map(|p| {
            let mut found = Found::new(Ecosystem::Cargo, p.name, p.version);
            if p.root {
                found.kind = PackageKind::Application;
            }
            found
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::ZlibEncoder};

    use super::*;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn lock_file_packages() {
        let lock =
            b"# generated\nversion = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\
dependencies = [\"itoa\"]\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.9\"\n\
source = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"af\"\n";
        let found = parse_lock(lock).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, [("app", "0.1.0"), ("itoa", "1.0.9")]);
    }

    #[test]
    fn malformed_lock_is_an_error() {
        assert!(parse_lock(b"[[package]]\nname = \"x\"\n").is_err());
        assert!(parse_lock(b"\xff\xfe").is_err());
        assert!(parse_lock(b"[[package]\n").is_err());
    }

    #[test]
    fn auditable_section_with_root() {
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1],"root":true},{"name":"itoa","version":"1.0.9","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;
        let found = parse_auditable(&zlib(json), 1 << 20).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].kind, PackageKind::Application);
        assert_eq!(found[2].name, "cc");
    }

    #[test]
    fn auditable_zlib_bomb_stops_at_the_limit() {
        let bomb = zlib(&vec![b' '; 4 << 20]);
        let err = parse_auditable(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, CatalogError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn auditable_garbage_is_an_error() {
        assert!(parse_auditable(b"not zlib", 1 << 20).is_err());
        assert!(parse_auditable(&zlib(b"{\"packages\":7}"), 1 << 20).is_err());
    }
}
