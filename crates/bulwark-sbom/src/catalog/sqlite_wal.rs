//! SQLite write-ahead logs, applied in memory. rpm keeps `rpmdb.sqlite` in
//! WAL mode; transactions committed while another process had the database
//! open live only in `rpmdb.sqlite-wal` until a checkpoint copies them into
//! the main file. SQLite reads them by replaying the log when it opens the
//! database; this does the same replay on a private copy, so the database can
//! be opened from memory (SQLite's in-memory VFS does not do WAL).
//!
//! Format (<https://www.sqlite.org/fileformat2.html#the_write_ahead_log>):
//! a 32-byte header (magic, version, page size, checkpoint sequence, two
//! salts, checksum), then frames of a 24-byte header (page number, database
//! size in pages for the frame that commits a transaction, the salts, a
//! running checksum) and one page. A frame counts only if its salts match
//! the header and its checksum continues the chain; replay stops at the first
//! frame that does not, and only frames up to the last commit are applied.

use super::CatalogError;

const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;
const VERSION: u32 = 3_007_000;

fn malformed(reason: impl Into<String>) -> CatalogError {
    CatalogError::Malformed {
        format: "SQLite WAL",
        reason: reason.into(),
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// What replaying a log did.
#[derive(Debug, PartialEq, Eq)]
pub struct Replayed {
    /// The database with every committed frame applied.
    pub database: Vec<u8>,
    /// Committed transactions found in the log.
    pub commits: usize,
    /// Frames after the last commit (an unfinished transaction, or a torn
    /// write), not applied.
    pub uncommitted: usize,
}

/// Running checksum of the log, in the byte order the magic number names.
struct Checksum {
    big_endian: bool,
    s0: u32,
    s1: u32,
}

impl Checksum {
    fn add(&mut self, data: &[u8]) {
        for pair in data.chunks_exact(8) {
            let (a, b) = if self.big_endian {
                (be32(pair, 0), be32(pair, 4))
            } else {
                (
                    u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]),
                    u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]),
                )
            };
            self.s0 = self.s0.wrapping_add(a).wrapping_add(self.s1);
            self.s1 = self.s1.wrapping_add(b).wrapping_add(self.s0);
        }
    }

    fn matches(&self, bytes: &[u8], at: usize) -> bool {
        be32(bytes, at) == self.s0 && be32(bytes, at + 4) == self.s1
    }
}

/// Page size from a database header (`1` means 65536).
fn database_page_size(database: &[u8]) -> Option<usize> {
    let raw = u16::from_be_bytes([*database.get(16)?, *database.get(17)?]);
    Some(if raw == 1 { 65_536 } else { usize::from(raw) })
}

/// Replays the committed transactions of `wal` onto a copy of `database`.
/// An empty log changes nothing. A log whose header is not valid is ignored
/// by SQLite and is an error here (it is reported, not silently dropped).
pub fn replay(database: &[u8], wal: &[u8]) -> Result<Replayed, CatalogError> {
    let unchanged = || Replayed {
        database: database.to_vec(),
        commits: 0,
        uncommitted: 0,
    };
    if wal.is_empty() {
        return Ok(unchanged());
    }
    if wal.len() < HEADER {
        return Err(malformed(format!("{}-byte log has no header", wal.len())));
    }
    let magic = be32(wal, 0);
    if magic != MAGIC_LE && magic != MAGIC_BE {
        return Err(malformed("bad magic number"));
    }
    if be32(wal, 4) != VERSION {
        return Err(malformed(format!("unknown version {}", be32(wal, 4))));
    }
    let page_size = be32(wal, 8) as usize;
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(malformed(format!("invalid page size {page_size}")));
    }
    if let Some(db_page) = database_page_size(database).filter(|_| database.len() >= 100)
        && db_page != page_size
    {
        return Err(malformed(format!(
            "page size {page_size} differs from the database's {db_page}"
        )));
    }
    let mut sum = Checksum {
        big_endian: magic == MAGIC_BE,
        s0: 0,
        s1: 0,
    };
    sum.add(&wal[..24]);
    if !sum.matches(wal, 24) {
        return Err(malformed("header checksum mismatch"));
    }
    let salts = &wal[16..24];
    let frames = frames(wal, page_size, salts, &mut sum);
    let Some(last_commit) = frames.iter().rposition(|f| f.commit_pages > 0) else {
        return Ok(Replayed {
            uncommitted: frames.len(),
            ..unchanged()
        });
    };
    // Every page a transaction adds is written to the log, so no committed
    // database is larger than the main file plus one page per frame; a page
    // number beyond that is a forged log asking for gigabytes of zeros.
    let most_pages = database.len() / page_size + frames.len();
    if let Some(f) = frames[..=last_commit]
        .iter()
        .find(|f| f.page > most_pages || f.commit_pages > most_pages)
    {
        return Err(malformed(format!(
            "frame names page {} (database size {}) of a database that can hold at most {most_pages}",
            f.page, f.commit_pages
        )));
    }
    let mut out = database.to_vec();
    for frame in &frames[..=last_commit] {
        let at = (frame.page - 1) * page_size;
        if out.len() < at + page_size {
            out.resize(at + page_size, 0);
        }
        out[at..at + page_size].copy_from_slice(frame.data);
    }
    out.truncate(frames[last_commit].commit_pages * page_size);
    Ok(Replayed {
        database: out,
        commits: frames[..=last_commit]
            .iter()
            .filter(|f| f.commit_pages > 0)
            .count(),
        uncommitted: frames.len() - last_commit - 1,
    })
}

struct Frame<'a> {
    page: usize,
    commit_pages: usize,
    data: &'a [u8],
}

/// The valid frames of the log, in order: up to the first one whose salts
/// or running checksum do not match (or that is cut short).
fn frames<'a>(wal: &'a [u8], page_size: usize, salts: &[u8], sum: &mut Checksum) -> Vec<Frame<'a>> {
    let mut out = Vec::new();
    for frame in wal[HEADER..].chunks_exact(FRAME_HEADER + page_size) {
        let (header, data) = frame.split_at(FRAME_HEADER);
        let page = be32(header, 0) as usize;
        if page == 0 || &header[8..16] != salts {
            break;
        }
        sum.add(&header[..8]);
        sum.add(data);
        if !sum.matches(header, 16) {
            break;
        }
        out.push(Frame {
            page,
            commit_pages: be32(header, 4) as usize,
            data,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;

    use super::*;

    /// A database in WAL mode with automatic checkpoints off, and the
    /// bytes of the main file and the log while the connection is open.
    fn wal_db(dir: &Path, setup: &str, more: &str) -> (Vec<u8>, Vec<u8>, Connection) {
        let path = dir.join("t.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint=0; {setup}; PRAGMA wal_checkpoint(TRUNCATE);"
        ))
        .unwrap();
        conn.execute_batch(more).unwrap();
        let db = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.join("t.sqlite-wal")).unwrap();
        (db, wal, conn)
    }

    fn names(database: &[u8]) -> Vec<String> {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut image = database.to_vec();
        image[18] = 1;
        image[19] = 1;
        conn.deserialize_read_exact(rusqlite::MAIN_DB, image.as_slice(), image.len(), true)
            .unwrap();
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn committed_transactions_in_the_log_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal, _conn) = wal_db(
            dir.path(),
            "CREATE TABLE t (n TEXT); INSERT INTO t VALUES ('base')",
            "INSERT INTO t VALUES ('one'); INSERT INTO t VALUES ('two')",
        );
        assert_eq!(names(&db), ["base"], "the main file alone lacks the log");
        let replayed = replay(&db, &wal).unwrap();
        assert_eq!(replayed.commits, 2);
        assert_eq!(replayed.uncommitted, 0);
        assert_eq!(names(&replayed.database), ["base", "one", "two"]);
    }

    #[test]
    fn an_unfinished_transaction_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(3000);
        let (db, wal, _conn) = wal_db(
            dir.path(),
            "CREATE TABLE t (n TEXT); INSERT INTO t VALUES ('base')",
            &format!(
                "INSERT INTO t VALUES ('committed'); PRAGMA cache_size=1; BEGIN; \
                 WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200) \
                 INSERT INTO t SELECT '{big}' || i FROM c;"
            ),
        );
        let replayed = replay(&db, &wal).unwrap();
        assert!(
            replayed.uncommitted > 0,
            "the open transaction spilled frames"
        );
        assert_eq!(names(&replayed.database), ["base", "committed"]);
    }

    #[test]
    fn replay_stops_at_a_torn_or_corrupt_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal, _conn) = wal_db(
            dir.path(),
            "CREATE TABLE t (n TEXT); INSERT INTO t VALUES ('base')",
            "INSERT INTO t VALUES ('one'); INSERT INTO t VALUES ('two')",
        );
        let first = replay(&db, &wal).unwrap();
        // Cut the log inside its last frame: the second commit is lost.
        let torn = replay(&db, &wal[..wal.len() - 10]).unwrap();
        assert_eq!(torn.commits, first.commits - 1);
        assert_eq!(names(&torn.database), ["base", "one"]);
        // Flip a byte of the last frame's page: its checksum fails.
        let mut corrupt = wal.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(
            names(&replay(&db, &corrupt).unwrap().database),
            ["base", "one"]
        );
    }

    #[test]
    fn empty_log_changes_nothing_and_a_foreign_log_is_an_error() {
        assert_eq!(replay(b"db", b"").unwrap().database, b"db");
        assert!(replay(b"db", b"short").is_err());
        assert!(replay(b"db", &[0u8; 64]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let (db, mut wal, _conn) = wal_db(
            dir.path(),
            "CREATE TABLE t (n TEXT)",
            "INSERT INTO t VALUES ('one')",
        );
        wal[20] ^= 1; // salt-2: the header checksum no longer matches
        let err = replay(&db, &wal).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    /// A one-frame log committing `page`, with valid salts and checksums.
    fn forged_log(page: u32, commit_pages: u32) -> Vec<u8> {
        let page_size = 4096u32;
        let mut wal = Vec::new();
        for word in [MAGIC_BE, VERSION, page_size, 0, 7, 9] {
            wal.extend_from_slice(&word.to_be_bytes());
        }
        let mut sum = Checksum {
            big_endian: true,
            s0: 0,
            s1: 0,
        };
        sum.add(&wal[..24]);
        wal.extend_from_slice(&sum.s0.to_be_bytes());
        wal.extend_from_slice(&sum.s1.to_be_bytes());
        let mut header = Vec::new();
        header.extend_from_slice(&page.to_be_bytes());
        header.extend_from_slice(&commit_pages.to_be_bytes());
        header.extend_from_slice(&wal[16..24]);
        let data = vec![0u8; page_size as usize];
        sum.add(&header[..8]);
        sum.add(&data);
        header.extend_from_slice(&sum.s0.to_be_bytes());
        header.extend_from_slice(&sum.s1.to_be_bytes());
        wal.extend_from_slice(&header);
        wal.extend_from_slice(&data);
        wal
    }

    #[test]
    fn forged_log_naming_a_huge_page_number_is_an_error_not_an_allocation() {
        let mut db = vec![0u8; 4096];
        db[16] = 0x10; // page size 4096 in the database header
        assert_eq!(replay(&db, &forged_log(2, 2)).unwrap().database.len(), 8192);
        let err = replay(&db, &forged_log(u32::MAX, u32::MAX)).unwrap_err();
        assert!(err.to_string().contains("at most 2"), "{err}");
        let err = replay(&db, &forged_log(1, 1_000_000)).unwrap_err();
        assert!(err.to_string().contains("at most 2"), "{err}");
    }

    #[test]
    fn a_database_that_exists_only_in_the_log_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint=0; CREATE TABLE t (n TEXT); INSERT INTO t VALUES ('only')",
        )
        .unwrap();
        let wal = std::fs::read(dir.path().join("t.sqlite-wal")).unwrap();
        let main = std::fs::read(&path).unwrap();
        let replayed = replay(&main, &wal).unwrap();
        assert_eq!(names(&replayed.database), ["only"]);
    }
}
