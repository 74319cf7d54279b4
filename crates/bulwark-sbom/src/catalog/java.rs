//! Java archives (JAR, WAR, EAR, ...): Maven coordinates from
//! `META-INF/maven/**/pom.properties`, else `META-INF/MANIFEST.MF`, else the
//! file name; nested archives (`WEB-INF/lib/*.jar`, fat JARs) are opened
//! in memory up to a depth and byte budget, so a zip bomb costs at most the
//! budget.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::{FileFindings, Found, Limits};
use crate::model::Ecosystem;

const EXTENSIONS: [&str; 7] = [".jar", ".war", ".ear", ".par", ".sar", ".jpi", ".hpi"];
/// pom.properties and MANIFEST.MF are small; more is not metadata.
const MAX_METADATA: u64 = 1 << 20;

pub fn is_archive_name(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) && lower.len() > 4
}

/// All packages in a Java archive and the archives nested in it. Problems
/// (corrupt archive, limits) are warnings: what could be read is kept.
pub fn parse(path: &str, bytes: &[u8], limits: &Limits) -> FileFindings {
    let mut walk = Walk {
        limits,
        budget: limits.archive_total_bytes,
        out: FileFindings::default(),
    };
    walk.archive(path, bytes, 0);
    walk.out
}

struct Walk<'a> {
    limits: &'a Limits,
    /// Uncompressed bytes still allowed for this outer archive.
    budget: u64,
    out: FileFindings,
}

#[derive(Default)]
struct Contents {
    poms: Vec<Found>,
    manifest: Option<String>,
    nested: Vec<(String, Vec<u8>)>,
}

impl Walk<'_> {
    fn archive(&mut self, name: &str, bytes: &[u8], depth: usize) {
        let mut zip = match ZipArchive::new(Cursor::new(bytes)) {
            Ok(zip) => zip,
            Err(e) => return self.warn(name, format!("not a readable zip archive: {e}")),
        };
        if zip.len() > self.limits.archive_entries {
            let limit = self.limits.archive_entries;
            return self.warn(
                name,
                format!("{} entries, over the limit of {limit}", zip.len()),
            );
        }
        let contents = self.contents(name, &mut zip, depth);
        self.out
            .packages
            .extend(coordinates(name, contents.poms, contents.manifest));
        for (inner, bytes) in contents.nested {
            self.archive(&format!("{name}!/{inner}"), &bytes, depth + 1);
        }
    }

    fn contents(
        &mut self,
        name: &str,
        zip: &mut ZipArchive<Cursor<&[u8]>>,
        depth: usize,
    ) -> Contents {
        let mut contents = Contents::default();
        for i in 0..zip.len() {
            let mut entry = match zip.by_index(i) {
                Ok(entry) => entry,
                Err(e) => {
                    self.warn(name, format!("entry {i}: {e}"));
                    continue;
                }
            };
            let entry_name = entry.name().to_owned();
            let want = if entry_name.starts_with("META-INF/maven/")
                && entry_name.ends_with("/pom.properties")
            {
                Want::Pom
            } else if entry_name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                Want::Manifest
            } else if is_archive_name(&entry_name) {
                if depth + 1 > self.limits.archive_depth {
                    let limit = self.limits.archive_depth;
                    self.warn(
                        name,
                        format!("{entry_name}: nested deeper than {limit}, not read"),
                    );
                    continue;
                }
                Want::Nested
            } else {
                continue;
            };
            let limit = match want {
                Want::Nested => self.limits.archive_entry_bytes,
                _ => MAX_METADATA,
            };
            let bytes = match self.read(&mut entry, limit) {
                Ok(bytes) => bytes,
                Err(reason) => {
                    self.warn(name, format!("{entry_name}: {reason}"));
                    continue;
                }
            };
            match want {
                Want::Pom => contents.poms.extend(pom_properties(&bytes)),
                Want::Manifest => contents.manifest = Some(String::from_utf8_lossy(&bytes).into()),
                Want::Nested => contents.nested.push((entry_name, bytes)),
            }
        }
        contents
    }

    /// Reads one entry, stopping at the entry limit and at the archive's
    /// remaining budget, whatever sizes the entry header declares.
    fn read(&mut self, entry: &mut impl Read, limit: u64) -> Result<Vec<u8>, String> {
        let cap = limit.min(self.budget);
        let mut bytes = Vec::new();
        entry
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot decompress: {e}"))?;
        if bytes.len() as u64 > cap {
            return Err(if cap == self.budget {
                format!(
                    "archive expands past {} bytes in total: rest not read",
                    self.limits.archive_total_bytes
                )
            } else {
                format!("expands past {limit} bytes: not read")
            });
        }
        self.budget -= bytes.len() as u64;
        Ok(bytes)
    }

    fn warn(&mut self, name: &str, message: String) {
        self.out.warnings.push(format!("{name}: {message}"));
    }
}

enum Want {
    Pom,
    Manifest,
    Nested,
}

fn properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with(['#', '!']))
        .filter_map(|l| l.split_once(['=', ':']))
        .map(|(k, v)| (k.trim(), v.trim()))
}

fn pom_properties(bytes: &[u8]) -> Option<Found> {
    let text = String::from_utf8_lossy(bytes);
    let (mut group, mut artifact, mut version) = (None, None, None);
    for (key, value) in properties(&text) {
        match key {
            "groupId" => group = Some(value.to_owned()),
            "artifactId" => artifact = Some(value.to_owned()),
            "version" => version = Some(value.to_owned()),
            _ => {}
        }
    }
    let (group, artifact, version) = (group?, artifact?, version?);
    (!group.is_empty() && !artifact.is_empty() && !version.is_empty())
        .then(|| Found::new(Ecosystem::Maven, format!("{group}:{artifact}"), version))
}

/// The archive's own coordinates: pom.properties if any, else the manifest
/// and file name.
fn coordinates(path: &str, poms: Vec<Found>, manifest: Option<String>) -> Vec<Found> {
    if !poms.is_empty() {
        return poms;
    }
    let file = path.rsplit(['/', '!']).next().unwrap_or(path);
    let (stem_name, stem_version) = split_file_name(file);
    let manifest = manifest.unwrap_or_default();
    let field = |name: &str| {
        manifest
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let version = field("Implementation-Version")
        .or_else(|| field("Bundle-Version"))
        .or(stem_version);
    let artifact = stem_name.or_else(|| field("Implementation-Title"));
    let (Some(artifact), Some(version)) = (artifact, version) else {
        return Vec::new();
    };
    let name = match field("Implementation-Vendor-Id") {
        Some(group) => format!("{group}:{artifact}"),
        None => artifact,
    };
    vec![Found::new(Ecosystem::Maven, name, version)]
}

/// `commons-lang3-3.12.0.jar` -> (`commons-lang3`, `3.12.0`).
fn split_file_name(file: &str) -> (Option<String>, Option<String>) {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let split = stem
        .match_indices('-')
        .map(|(i, _)| i)
        .find(|&i| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
    match split {
        Some(i) => (Some(stem[..i].to_owned()), Some(stem[i + 1..].to_owned())),
        None => (Some(stem.to_owned()).filter(|s| !s.is_empty()), None),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn coords(found: &FileFindings) -> Vec<(String, String)> {
        found
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    }

    fn pom(group: &str, artifact: &str, version: &str) -> Vec<u8> {
        format!("#Generated\ngroupId={group}\nartifactId={artifact}\nversion={version}\n")
            .into_bytes()
    }

    #[test]
    fn pom_properties_give_coordinates() {
        let pom = pom("org.apache.commons", "commons-lang3", "3.12.0");
        let jar = zip(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            (
                "META-INF/maven/org.apache.commons/commons-lang3/pom.properties",
                &pom,
            ),
        ]);
        let found = parse("app/lib/x.jar", &jar, &Limits::default());
        assert_eq!(
            coords(&found),
            [("org.apache.commons:commons-lang3".into(), "3.12.0".into())]
        );
    }

    #[test]
    fn manifest_then_file_name_fallback() {
        let jar = zip(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Version: 2.1\nImplementation-Vendor-Id: com.acme\n",
        )]);
        let found = parse("lib/widget-2.0.jar", &jar, &Limits::default());
        assert_eq!(coords(&found), [("com.acme:widget".into(), "2.1".into())]);
        let bare = zip(&[("a.class", b"x")]);
        let found = parse("lib/guava-31.1-jre.jar", &bare, &Limits::default());
        assert_eq!(coords(&found), [("guava".into(), "31.1-jre".into())]);
    }

    #[test]
    fn nested_jars_are_read_within_depth() {
        let inner = zip(&[(
            "META-INF/maven/com.google.guava/guava/pom.properties",
            &pom("com.google.guava", "guava", "31.1-jre"),
        )]);
        let innermost = zip(&[("META-INF/maven/a/b/pom.properties", &pom("a", "b", "1"))]);
        let middle = zip(&[("lib/deep.jar", &innermost)]);
        let war = zip(&[
            ("WEB-INF/lib/guava-31.1-jre.jar", &inner),
            ("WEB-INF/lib/middle.jar", &middle),
            (
                "META-INF/maven/com.acme/app/pom.properties",
                &pom("com.acme", "app", "1.0"),
            ),
        ]);
        let limits = Limits {
            archive_depth: 1,
            ..Limits::default()
        };
        let found = parse("srv/app.war", &war, &limits);
        let got = coords(&found);
        assert!(
            got.contains(&("com.google.guava:guava".into(), "31.1-jre".into())),
            "{got:?}"
        );
        assert!(got.contains(&("com.acme:app".into(), "1.0".into())));
        assert!(
            !got.iter().any(|(n, _)| n == "a:b"),
            "depth 2 is past the limit"
        );
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains("nested deeper than 1")),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn zip_bomb_in_a_nested_jar_stops_at_the_entry_limit() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = zip(&[("big.bin", &zeros)]);
        let outer = zip(&[
            ("lib/bomb.jar", &zip(&[("x.jar", &zeros)])),
            ("lib/b.jar", &bomb),
        ]);
        assert!(outer.len() < 200 << 10, "compresses well: {}", outer.len());
        let limits = Limits {
            archive_entry_bytes: 1 << 20,
            ..Limits::default()
        };
        let found = parse("app.jar", &outer, &limits);
        assert!(
            found.warnings.iter().any(|w| w.contains("expands past")),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn zip_bomb_total_budget_is_enforced_across_entries() {
        let pom = pom("a", "b", "1");
        // Incompressible padding, so each nested JAR really is 300 KiB.
        let mut seed = 1u32;
        let pad: Vec<u8> = (0..300 << 10)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        let small = zip(&[("META-INF/maven/a/b/pom.properties", &pom), ("pad", &pad)]);
        let entries: Vec<(String, &[u8])> = (0..10)
            .map(|i| (format!("lib/{i}.jar"), &small[..]))
            .collect();
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let outer = zip(&refs);
        let limits = Limits {
            archive_total_bytes: 1 << 20,
            ..Limits::default()
        };
        let found = parse("app.jar", &outer, &limits);
        assert!(
            found.warnings.iter().any(|w| w.contains("in total")),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn corrupt_archive_is_a_warning() {
        let found = parse("x.jar", b"PK\x03\x04 not really", &Limits::default());
        assert!(found.packages.is_empty() || found.packages[0].name == "x");
        assert!(!found.warnings.is_empty());
        let jar = zip(&[("META-INF/maven/a/b/pom.properties", b"garbage\xff\xfe")]);
        let found = parse("lib/x.jar", &jar, &Limits::default());
        assert_eq!(coords(&found), Vec::<(String, String)>::new());
    }

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("a-b-1.2.jar"),
            (Some("a-b".into()), Some("1.2".into()))
        );
        assert_eq!(split_file_name("plain.jar"), (Some("plain".into()), None));
        assert!(is_archive_name("X.JAR"));
        assert!(!is_archive_name(".jar"));
    }
}
