//! The two files of a log: the records (`NAME`) and the head (`NAME.head`),
//! and the small reads and writes on them.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::chain::Head;
use crate::record::MAX_LINE_LEN;

/// Width of the head file: fixed, so it is rewritten in place by one write.
const HEAD_WIDTH: usize = 128;

/// Where the head of the log at `log` is kept.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// Opens (creating with mode 0600) a file for reading and appending.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Opens (creating with mode 0600) a file for reading and writing in place.
pub fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// Reads the head file. `Ok(None)` if it is empty (never written).
pub fn read_head(file: &File) -> io::Result<Option<Result<Head, String>>> {
    let mut buf = vec![0u8; HEAD_WIDTH * 2];
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read_at(&mut buf[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    if filled == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&buf[..filled]);
    Ok(Some(
        serde_json::from_str(text.trim_end()).map_err(|e| format!("unreadable: {e}")),
    ))
}

/// Rewrites the head in place (one write of a fixed width), and makes it
/// durable if `sync`.
pub fn write_head(file: &File, head: Head, sync: bool) -> io::Result<()> {
    let mut text = serde_json::to_string(&head).map_err(io::Error::other)?;
    while text.len() < HEAD_WIDTH - 1 {
        text.push(' ');
    }
    text.push('\n');
    file.write_all_at(text.as_bytes(), 0)?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

/// The end of the log: its last complete line (without `\n`) and the number
/// of bytes after it that do not end in a newline (a torn write).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tail {
    pub last_line: Option<String>,
    pub torn: u64,
    pub len: u64,
}

/// Reads backwards from the end until the last complete line is found.
pub fn read_tail(file: &File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    let window = len.min(2 * (MAX_LINE_LEN as u64 + 1));
    let mut buf = vec![0u8; window as usize];
    file.read_exact_at(&mut buf, len - window)?;
    let complete_end = buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    let Some(end) = complete_end else {
        return Ok(Tail {
            last_line: None,
            torn: window,
            len,
        });
    };
    let torn = (buf.len() - end) as u64;
    let body = &buf[..end - 1];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if start == 0 && window < len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "last line is longer than any audit record",
        ));
    }
    let line = String::from_utf8(body[start..].to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "last line is not UTF-8"))?;
    Ok(Tail {
        last_line: Some(line),
        torn,
        len,
    })
}

/// Reads one line of at most `MAX_LINE_LEN + 1` bytes (newline included).
/// Returns the bytes read (empty at the end of the file); a longer line comes
/// back without its newline, which the verifier reports.
pub fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    let mut limited = reader.take(MAX_LINE_LEN as u64 + 1);
    limited.read_until(b'\n', buf)
}

/// Makes a newly created directory entry durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
