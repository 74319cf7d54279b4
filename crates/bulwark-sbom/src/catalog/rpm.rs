//! rpm databases. `rpmdb.sqlite` (rpm >= 4.16; Fedora 33+, RHEL 9, Alma and
//! Rocky 9) is read with SQLite from memory, with the transactions still in
//! its write-ahead log `rpmdb.sqlite-wal` replayed first (rpm keeps the
//! database in WAL mode). Berkeley DB `Packages` and NDB `Packages.db` are
//! recognised and reported as not read.

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::rpm_header::{
    Header, TAG_ARCH, TAG_EPOCH, TAG_LICENSE, TAG_NAME, TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION,
};
use super::{CatalogError, FileFindings, FileKind, Found, sqlite_wal};
use crate::model::{Ecosystem, SourcePackage};

/// Directories rpm keeps its database in.
pub fn is_rpmdb_dir(dir: &str) -> bool {
    matches!(
        dir,
        "var/lib/rpm" | "usr/lib/sysimage/rpm" | "usr/share/rpm"
    )
}

/// The files of an rpm database directory that are read.
pub const FILE_NAMES: &[&str] = &[
    "rpmdb.sqlite",
    "rpmdb.sqlite-wal",
    "Packages",
    "Packages.db",
];

pub fn classify(file: &str) -> Option<FileKind> {
    match file {
        "rpmdb.sqlite" => Some(FileKind::RpmSqlite),
        "rpmdb.sqlite-wal" => Some(FileKind::RpmSqliteWal),
        "Packages" | "Packages.db" => Some(FileKind::RpmUnsupported),
        _ => None,
    }
}

pub fn unsupported(path: &str) -> CatalogError {
    let format = if path.ends_with(".db") {
        "NDB"
    } else {
        "Berkeley DB"
    };
    CatalogError::Unsupported(format!(
        "{format} rpm database found and NOT read: its packages are missing from this SBOM \
         (only rpmdb.sqlite is supported)"
    ))
}

fn sqlite_error(e: rusqlite::Error) -> CatalogError {
    CatalogError::malformed("rpmdb.sqlite", e.to_string())
}

/// Packages in an `rpmdb.sqlite` file. Headers that do not parse are
/// warnings; `gpg-pubkey` pseudo-packages are left out.
pub fn parse_sqlite(bytes: &[u8]) -> Result<FileFindings, CatalogError> {
    read_sqlite(bytes.to_vec())
}

/// Packages in an `rpmdb.sqlite` file and its write-ahead log, as SQLite
/// (and so rpm) sees them: the log's committed transactions replayed onto
/// the database first.
pub fn parse_sqlite_with_wal(db: &[u8], wal: &[u8]) -> Result<FileFindings, CatalogError> {
    let replayed = sqlite_wal::replay(db, wal)?;
    let mut found = read_sqlite(replayed.database)?;
    if replayed.uncommitted > 0 {
        found.warnings.push(format!(
            "rpmdb.sqlite-wal: {} frame(s) after the last commit (an unfinished transaction) \
             not applied, as SQLite would not",
            replayed.uncommitted
        ));
    }
    Ok(found)
}

fn read_sqlite(mut image: Vec<u8>) -> Result<FileFindings, CatalogError> {
    if !image.starts_with(b"SQLite format 3\0") {
        return Err(CatalogError::malformed("rpmdb.sqlite", "no SQLite header"));
    }
    // The in-memory VFS does not do WAL: header bytes 18 and 19 saying "WAL"
    // (2) are set back to "rollback journal" (1). The log, if any, was
    // replayed already.
    if image.get(18..20) == Some(&[2, 2]) {
        image[18] = 1;
        image[19] = 1;
    }
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    conn.deserialize_read_exact(MAIN_DB, image.as_slice(), image.len(), true)
        .map_err(sqlite_error)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages")
        .map_err(sqlite_error)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sqlite_error)?;
    let mut out = FileFindings::default();
    for row in rows {
        let (hnum, blob) = row.map_err(sqlite_error)?;
        match package(&blob) {
            Ok(Some(found)) => out.packages.push(found),
            Ok(None) => {}
            Err(e) => out.warnings.push(format!("rpm header {hnum}: {e}")),
        }
    }
    Ok(out)
}

fn package(blob: &[u8]) -> Result<Option<Found>, CatalogError> {
    let header = Header::parse(blob)?;
    let name = header
        .string(TAG_NAME)
        .ok_or_else(|| CatalogError::malformed("rpm header", "no NAME"))?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = header
        .string(TAG_VERSION)
        .ok_or_else(|| CatalogError::malformed("rpm header", format!("{name}: no VERSION")))?;
    let version = match header.string(TAG_RELEASE) {
        Some(release) => format!("{version}-{release}"),
        None => version,
    };
    let mut found = Found::new(Ecosystem::Rpm, name, version);
    found.epoch = header.int32(TAG_EPOCH);
    found.arch = header.string(TAG_ARCH);
    found.license = header.string(TAG_LICENSE);
    found.source = header.string(TAG_SOURCERPM).and_then(|s| source_rpm(&s));
    Ok(Some(found))
}

/// `bash-5.1.8-6.el9.src.rpm` -> `bash`, `5.1.8-6.el9`.
fn source_rpm(file: &str) -> Option<SourcePackage> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some(SourcePackage {
        name: name.into(),
        version: format!("{version}-{release}"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::rpm_header::build;
    use super::*;

    fn sqlite_db(blobs: &[Vec<u8>]) -> Vec<u8> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .unwrap();
        for blob in blobs {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
                .unwrap();
        }
        conn.serialize(MAIN_DB).unwrap().to_vec()
    }

    fn header(name: &str, epoch: Option<u32>) -> Vec<u8> {
        let ints: Vec<(i32, u32)> = epoch.map(|e| (TAG_EPOCH, e)).into_iter().collect();
        build(
            &[
                (TAG_NAME, name),
                (TAG_VERSION, "3.0.7"),
                (TAG_RELEASE, "24.el9"),
                (TAG_ARCH, "x86_64"),
                (TAG_LICENSE, "ASL 2.0"),
                (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
            ],
            &ints,
        )
    }

    #[test]
    fn reads_packages_from_sqlite_blobs() {
        let db = sqlite_db(&[header("openssl-libs", Some(1)), header("gpg-pubkey", None)]);
        let found = parse_sqlite(&db).unwrap();
        assert_eq!(found.packages.len(), 1, "gpg-pubkey is not a package");
        let p = &found.packages[0];
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "3.0.7-24.el9");
        assert_eq!(p.epoch, Some(1));
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        let src = p.source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_str()),
            ("openssl", "3.0.7-24.el9")
        );
    }

    #[test]
    fn corrupt_header_row_is_a_warning_not_the_end() {
        let db = sqlite_db(&[vec![0, 0, 0, 9], header("bash", None)]);
        let found = parse_sqlite(&db).unwrap();
        assert_eq!(found.packages.len(), 1);
        assert_eq!(found.warnings.len(), 1);
    }

    #[test]
    fn truncated_or_foreign_database_is_an_error() {
        let db = sqlite_db(&[header("bash", None)]);
        assert!(parse_sqlite(&db[..db.len() / 2]).is_err());
        assert!(parse_sqlite(b"not a database").is_err());
        assert!(parse_sqlite(b"").is_err());
        let empty = Connection::open_in_memory().unwrap();
        let other = empty.serialize(MAIN_DB).unwrap().to_vec();
        assert!(parse_sqlite(&other).is_err(), "no Packages table");
    }

    #[test]
    fn bdb_and_ndb_are_named_in_the_warning() {
        assert!(
            unsupported("var/lib/rpm/Packages")
                .to_string()
                .contains("Berkeley DB")
        );
        assert!(
            unsupported("usr/lib/sysimage/rpm/Packages.db")
                .to_string()
                .contains("NDB")
        );
    }

    #[test]
    fn source_rpm_names() {
        let s = source_rpm("glibc-2.34-60.el9.src.rpm").unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_str()),
            ("glibc", "2.34-60.el9")
        );
        assert!(source_rpm("weird").is_none());
    }
}
