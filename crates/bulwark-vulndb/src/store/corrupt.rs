//! Recognising a damaged store before and while using it.

use std::io::Read;
use std::path::Path;

use rusqlite::ErrorCode;

use super::StoreError;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
const HEADER_LEN: usize = 100;

/// Cheap checks on the file itself: the SQLite header is present and the
/// file is as long as the header says (a truncated copy is caught here,
/// without reading every page). An absent or empty file is fine (new DB).
pub(crate) fn check_file(path: &Path) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.display().to_string(),
        detail,
    };
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let len = file.metadata().map_err(|e| corrupt(e.to_string()))?.len();
    if len == 0 {
        return Ok(());
    }
    let mut header = [0u8; HEADER_LEN];
    if (len as usize) < HEADER_LEN || file.read_exact(&mut header).is_err() {
        return Err(corrupt(format!(
            "only {len} bytes, shorter than a SQLite header"
        )));
    }
    if &header[..16] != MAGIC {
        return Err(StoreError::Foreign {
            path: path.display().to_string(),
            detail: "no SQLite header".into(),
        });
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    // The in-header page count is valid when the two change counters agree.
    let valid_for = u32::from_be_bytes([header[92], header[93], header[94], header[95]]);
    let counter = u32::from_be_bytes([header[24], header[25], header[26], header[27]]);
    if valid_for == counter && pages > 0 && page_size * pages > len {
        return Err(corrupt(format!(
            "file has {len} bytes, header says {pages} pages of {page_size} bytes"
        )));
    }
    Ok(())
}

/// A SQLite error, as corruption when SQLite says so.
pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let code = e.sqlite_error_code();
    match code {
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.display().to_string(),
            detail: e.to_string(),
        },
        Some(ErrorCode::NotADatabase) => StoreError::Foreign {
            path: path.display().to_string(),
            detail: e.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.display().to_string(),
            source: e,
        },
    }
}
