//! apk's database `lib/apk/db/installed`: paragraphs of `X:value` lines
//! (`P` name, `V` version, `A` arch, `o` origin, `L` licence).

use super::{CatalogError, FileFindings, Found};
use crate::model::{Ecosystem, SourcePackage};

/// Packages in an installed database; entries without name or version are
/// warnings.
pub fn parse(bytes: &[u8]) -> Result<FileFindings, CatalogError> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = FileFindings::default();
    for (index, block) in text.split("\n\n").enumerate() {
        let mut entry = Entry::default();
        for line in block.lines() {
            if let Some((key, value)) = line.split_once(':') {
                entry.set(key, value.trim());
            }
        }
        if entry.is_empty() {
            continue;
        }
        match entry.into_found() {
            Ok(found) => out.packages.push(found),
            Err(reason) => out
                .warnings
                .push(format!("apk entry {}: {reason}", index + 1)),
        }
    }
    out.unless_all_malformed("apk database")
}

#[derive(Default)]
struct Entry<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
    license: Option<&'a str>,
    other: bool,
}

impl<'a> Entry<'a> {
    fn set(&mut self, key: &str, value: &'a str) {
        let value = Some(value).filter(|v| !v.is_empty());
        match key {
            "P" => self.name = value,
            "V" => self.version = value,
            "A" => self.arch = value,
            "o" => self.origin = value,
            "L" => self.license = value,
            _ => self.other = true,
        }
    }

    fn is_empty(&self) -> bool {
        self.name.is_none() && self.version.is_none() && !self.other
    }

    fn into_found(self) -> Result<Found, String> {
        let name = self.name.ok_or("no P: (name) line")?;
        let version = self
            .version
            .ok_or_else(|| format!("{name}: no V: (version) line"))?;
        let mut found = Found::new(Ecosystem::Apk, name, version);
        found.arch = self.arch.map(str::to_owned);
        found.license = self.license.map(str::to_owned);
        found.source = Some(SourcePackage {
            name: self.origin.unwrap_or(name).to_owned(),
            version: version.to_owned(),
        });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teras <timo.teras@iki.fi>
F:lib
R:ld-musl-x86_64.so.1

C:Q1def=
P:libcrypto3
V:3.1.4-r1
A:x86_64
L:Apache-2.0
o:openssl
";

    #[test]
    fn packages_with_origin_and_license() {
        let found = parse(INSTALLED.as_bytes()).unwrap();
        assert_eq!(found.packages.len(), 2);
        let crypto = &found.packages[1];
        assert_eq!(crypto.name, "libcrypto3");
        assert_eq!(crypto.version, "3.1.4-r1");
        assert_eq!(crypto.arch.as_deref(), Some("x86_64"));
        assert_eq!(crypto.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(crypto.source.as_ref().unwrap().name, "openssl");
    }

    #[test]
    fn truncated_database_keeps_complete_entries() {
        let cut = &INSTALLED[..INSTALLED.find("V:3.1.4").unwrap()];
        let found = parse(cut.as_bytes()).unwrap();
        assert_eq!(found.packages.len(), 1);
        assert_eq!(found.warnings.len(), 1);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"\x00\x01binary:junk\n").is_err());
        assert!(parse(b"").unwrap().packages.is_empty());
    }
}
