//! A streaming tar reader (ustar, GNU and PAX) built for hostile input: every
//! extension header is bounded, numeric fields are checked, header checksums
//! are verified, and content is never buffered. The `tar` crate reads GNU long
//! names and PAX headers fully into memory whatever their declared size; this
//! reader refuses them past [`Limits::max_extension_bytes`].

use std::io::{self, BufReader, Read, Seek};

use crate::limits::{Limit, Limits};

const BLOCK: usize = 512;

/// The kind of a tar entry, from its typeflag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TarKind {
    File,
    Hardlink,
    Symlink,
    CharDevice,
    BlockDevice,
    Dir,
    Fifo,
    /// A GNU or PAX sparse file: content is not the file's bytes.
    Sparse,
    /// Any other typeflag (vendor extensions, volume labels).
    Unknown(u8),
}

impl TarKind {
    fn from_flag(flag: u8) -> TarKind {
        match flag {
            b'0' | 0 | b'7' => TarKind::File,
            b'1' => TarKind::Hardlink,
            b'2' => TarKind::Symlink,
            b'3' => TarKind::CharDevice,
            b'4' => TarKind::BlockDevice,
            b'5' => TarKind::Dir,
            b'6' => TarKind::Fifo,
            b'S' => TarKind::Sparse,
            other => TarKind::Unknown(other),
        }
    }

    /// Types whose size field does not announce content (as in Go's reader).
    fn header_only(self) -> bool {
        matches!(
            self,
            TarKind::Hardlink
                | TarKind::Symlink
                | TarKind::CharDevice
                | TarKind::BlockDevice
                | TarKind::Dir
                | TarKind::Fifo
        )
    }
}

/// One entry's header, with PAX and GNU extensions applied.
#[derive(Clone, Debug)]
pub(crate) struct TarHeader {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: TarKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
}

/// Why a tar stream cannot be read.
#[derive(Debug)]
pub(crate) enum TarError {
    Io(io::Error),
    Truncated(&'static str),
    Malformed(String),
    Limit(Limit, u64),
}

impl From<io::Error> for TarError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            TarError::Truncated("stream ended inside an entry")
        } else {
            TarError::Io(err)
        }
    }
}

/// Where tar bytes come from: any reader, or a seekable file that can skip
/// content without reading it.
pub(crate) trait TarInput: Read + Sized {
    /// Skips `n` bytes.
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut self.by_ref().take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// The offset of the next byte, when the input knows it.
    fn position(&mut self) -> Option<u64> {
        None
    }
}

/// Any reader, skipped by reading.
pub(crate) struct Streamed<R>(pub R);

impl<R: Read> Read for Streamed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> TarInput for Streamed<R> {}

/// A seekable file: content is skipped with a seek.
pub(crate) struct Seekable<F: Read + Seek>(pub BufReader<F>);

impl<F: Read + Seek> Read for Seekable<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<F: Read + Seek> TarInput for Seekable<F> {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let n = i64::try_from(n).map_err(|_| io::Error::other("offset too large"))?;
        self.0.seek_relative(n)
    }

    fn position(&mut self) -> Option<u64> {
        self.0.stream_position().ok()
    }
}

/// Reads entries one after the other; content of the current entry is read
/// through [`TarReader::read_content`] or skipped by the next `next()`.
pub(crate) struct TarReader<R> {
    input: R,
    /// Unread content bytes of the current entry.
    remaining: u64,
    /// Padding after the current entry's content.
    padding: u64,
    max_extension: u64,
    max_path: usize,
    done: bool,
}

#[derive(Default)]
struct Extensions {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    sparse: bool,
}

impl<R: TarInput> TarReader<R> {
    pub(crate) fn new(input: R, limits: &Limits) -> Self {
        TarReader {
            input,
            remaining: 0,
            padding: 0,
            max_extension: limits.max_extension_bytes,
            max_path: limits.max_path_bytes,
            done: false,
        }
    }

    /// The input, e.g. to drain what follows the end-of-archive marker.
    pub(crate) fn into_inner(self) -> R {
        self.input
    }

    /// Offset of the current entry's content in a seekable input.
    pub(crate) fn content_position(&mut self) -> Option<u64> {
        self.input.position()
    }

    /// The next entry, or `None` at the end-of-archive marker (or a clean end
    /// of stream between entries).
    pub(crate) fn next_header(&mut self) -> Result<Option<TarHeader>, TarError> {
        self.skip_rest()?;
        let mut ext = Extensions::default();
        loop {
            let Some(block) = self.read_block()? else {
                self.done = true;
                return Ok(None);
            };
            let raw = parse_block(&block)?;
            let size = raw.size;
            match raw.flag {
                b'x' => self.read_pax(size, &mut ext)?,
                b'g' => self.skip_sized(size)?,
                b'L' => ext.name = Some(trim_nul(self.read_extension(size)?)),
                b'K' => ext.link = Some(trim_nul(self.read_extension(size)?)),
                _ => return self.finish_header(raw, ext).map(Some),
            }
        }
    }

    fn finish_header(&mut self, raw: RawHeader, ext: Extensions) -> Result<TarHeader, TarError> {
        let mut kind = TarKind::from_flag(raw.flag);
        if ext.sparse {
            kind = TarKind::Sparse;
        }
        let size = ext.size.unwrap_or(raw.size);
        let header = TarHeader {
            name: ext.name.unwrap_or(raw.name),
            link: ext.link.unwrap_or(raw.link),
            kind,
            mode: raw.mode,
            uid: ext.uid.unwrap_or(raw.uid),
            gid: ext.gid.unwrap_or(raw.gid),
            size: if kind.header_only() { 0 } else { size },
        };
        if header.name.len() > self.max_path || header.link.len() > self.max_path {
            return Err(TarError::Limit(Limit::PathBytes, self.max_path as u64));
        }
        self.remaining = header.size;
        self.padding = padding(header.size);
        Ok(header)
    }

    /// Reads content of the current entry.
    pub(crate) fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.input.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream ended inside an entry's content",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Skips the rest of the current entry. Content must be complete; a
    /// stream that ends inside the padding after complete content is taken
    /// as ended (umoci 0.4 writes layers without final padding or end
    /// marker, and the digests still cover every byte).
    fn skip_rest(&mut self) -> Result<(), TarError> {
        let (content, pad) = (self.remaining, self.padding);
        self.remaining = 0;
        self.padding = 0;
        if content > 0 {
            self.input.skip(content)?;
        }
        if pad > 0 {
            match self.input.skip(pad) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.done = true,
                other => other?,
            }
        }
        Ok(())
    }

    fn skip_sized(&mut self, size: u64) -> Result<(), TarError> {
        self.input.skip(size + padding(size))?;
        Ok(())
    }

    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, TarError> {
        if self.done {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.input.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => return Err(TarError::Truncated("stream ended inside a header")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        Ok(Some(block))
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > self.max_extension {
            return Err(TarError::Limit(Limit::ExtensionBytes, self.max_extension));
        }
        // size is bounded above, so the cast cannot truncate.
        let mut data = vec![0u8; size as usize];
        self.input.read_exact(&mut data)?;
        self.input.skip(padding(size))?;
        Ok(data)
    }

    fn read_pax(&mut self, size: u64, ext: &mut Extensions) -> Result<(), TarError> {
        let data = self.read_extension(size)?;
        for (key, value) in pax_records(&data)? {
            match key {
                b"path" => ext.name = Some(value.to_vec()),
                b"linkpath" => ext.link = Some(value.to_vec()),
                b"size" => ext.size = Some(pax_number(value)?),
                b"uid" => ext.uid = Some(pax_number(value)?),
                b"gid" => ext.gid = Some(pax_number(value)?),
                k if k.starts_with(b"GNU.sparse.") => ext.sparse = true,
                _ => {}
            }
        }
        Ok(())
    }
}

struct RawHeader {
    name: Vec<u8>,
    link: Vec<u8>,
    flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
}

fn parse_block(block: &[u8; BLOCK]) -> Result<RawHeader, TarError> {
    verify_checksum(block)?;
    let magic = &block[257..263];
    let mut name = field_bytes(&block[0..100]).to_vec();
    if magic == b"ustar\0" {
        let prefix = field_bytes(&block[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    let mode = number(&block[100..108], "mode")?;
    Ok(RawHeader {
        name,
        link: field_bytes(&block[157..257]).to_vec(),
        flag: block[156],
        mode: u32::try_from(mode & 0o7777_7777).unwrap_or(0),
        uid: number(&block[108..116], "uid")?,
        gid: number(&block[116..124], "gid")?,
        size: number(&block[124..136], "size")?,
    })
}

fn verify_checksum(block: &[u8; BLOCK]) -> Result<(), TarError> {
    let stored = number(&block[148..156], "checksum")?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(TarError::Malformed(
            "bad header checksum (not a tar stream?)".into(),
        ))
    }
}

/// A NUL-terminated field.
fn field_bytes(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

fn trim_nul(mut data: Vec<u8>) -> Vec<u8> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    data.truncate(end);
    data
}

/// An octal or base-256 numeric field.
fn number(field: &[u8], what: &str) -> Result<u64, TarError> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        if field[0] == 0xff {
            return Err(TarError::Malformed(format!("negative {what}")));
        }
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| TarError::Malformed(format!("{what} overflows")))?;
        }
        return Ok(value);
    }
    let text = field_bytes(field);
    let text = trim_ascii(text);
    let mut value: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(TarError::Malformed(format!("invalid octal {what} field")));
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| TarError::Malformed(format!("{what} overflows")))?;
    }
    Ok(value)
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | 0, rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | 0] = s {
        s = rest;
    }
    s
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// PAX records: `"<len> <key>=<value>\n"`, `len` counting the whole record.
type PaxRecord<'a> = (&'a [u8], &'a [u8]);

fn pax_records(mut data: &[u8]) -> Result<Vec<PaxRecord<'_>>, TarError> {
    let bad = || TarError::Malformed("malformed PAX record".into());
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &data[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Ok(out)
}

fn pax_number(value: &[u8]) -> Result<u64, TarError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TarError::Malformed("invalid PAX number".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(bytes: &[u8]) -> Result<Vec<(TarHeader, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(Streamed(bytes), &Limits::default());
        let mut out = Vec::new();
        while let Some(h) = r.next_header()? {
            let mut content = Vec::new();
            let mut buf = [0u8; 7];
            loop {
                let n = r.read_content(&mut buf)?;
                if n == 0 {
                    break;
                }
                content.extend_from_slice(&buf[..n]);
            }
            out.push((h, content));
        }
        Ok(out)
    }

    fn build(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_what_the_tar_crate_writes() {
        let long = "d/".repeat(120) + "file";
        let bytes = build(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            b.append_data(&mut h, "a/hello", &b"hello"[..]).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "a/link", "../target").unwrap();
        });
        let got = entries(&bytes).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0.name, b"a/hello");
        assert_eq!(got[0].0.mode, 0o644);
        assert_eq!(got[0].1, b"hello");
        assert_eq!(got[1].0.name, long.as_bytes());
        assert_eq!(got[1].1, b"abc");
        assert_eq!(got[2].0.kind, TarKind::Symlink);
        assert_eq!(got[2].0.link, b"../target");
    }

    #[test]
    fn pax_path_and_size_override_the_header() {
        let bytes = build(|b| {
            b.append_pax_extensions([("path", &b"pax/name"[..])])
                .unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_size(2);
            b.append_data(&mut h, "short", &b"hi"[..]).unwrap();
        });
        let got = entries(&bytes).unwrap();
        assert_eq!(got[0].0.name, b"pax/name");
        assert_eq!(got[0].1, b"hi");
    }

    #[test]
    fn huge_gnu_long_name_is_a_limit_error_not_an_allocation() {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(1 << 40);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'a'; 512]);
        assert!(matches!(
            entries(&bytes),
            Err(TarError::Limit(Limit::ExtensionBytes, _))
        ));
    }

    #[test]
    fn bad_checksum_is_malformed() {
        let mut bytes = build(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            b.append_data(&mut h, "x", &b""[..]).unwrap();
        });
        bytes[0] = b'y';
        assert!(matches!(entries(&bytes), Err(TarError::Malformed(_))));
    }

    #[test]
    fn truncated_content_is_reported() {
        let bytes = build(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(1000);
            b.append_data(&mut h, "x", &[7u8; 1000][..]).unwrap();
        });
        assert!(matches!(
            entries(&bytes[..700]),
            Err(TarError::Truncated(_) | TarError::Io(_))
        ));
    }

    #[test]
    fn missing_final_padding_and_end_marker_is_tolerated_after_complete_content() {
        let bytes = build(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(9);
            b.append_data(&mut h, "etc/os-release", &b"ID=umoci\n"[..])
                .unwrap();
        });
        let got = entries(&bytes[..512 + 9]).unwrap();
        assert_eq!(got[0].1, b"ID=umoci\n");
        assert!(entries(&bytes[..512 + 8]).is_err());
    }

    #[test]
    fn base256_sizes_parse() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 0x10;
        field[10] = 0x01;
        assert_eq!(number(&field, "size").unwrap(), 0x110);
    }

    #[test]
    fn directory_size_field_is_ignored() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path("dir/").unwrap();
        h.set_size(4096);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        let got = entries(&bytes).unwrap();
        assert_eq!(got[0].0.kind, TarKind::Dir);
        assert_eq!(got[0].0.size, 0);
    }
}
