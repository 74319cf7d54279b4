//! Tar streams written header by header, so tests can produce exactly the
//! bytes an attacker would: `..` names, absolute names, links anywhere,
//! devices, duplicates, non-UTF-8 and very long names, lying sizes.

use std::io::Write;

use crate::compression::Compression;

/// Builds a tar stream entry by entry (ustar headers, PAX records for long
/// names and link targets).
#[derive(Default)]
pub struct TarBuilder {
    out: Vec<u8>,
}

impl TarBuilder {
    /// An empty stream.
    pub fn new() -> Self {
        TarBuilder::default()
    }

    /// A regular file.
    pub fn file(self, name: impl AsRef<[u8]>, content: &[u8]) -> Self {
        self.file_mode(name, content, 0o644)
    }

    /// A regular file with a mode.
    pub fn file_mode(mut self, name: impl AsRef<[u8]>, content: &[u8], mode: u32) -> Self {
        self.entry(name.as_ref(), b'0', b"", content.len() as u64, mode);
        self.out.extend_from_slice(content);
        self.pad();
        self
    }

    /// A directory.
    pub fn dir(mut self, name: impl AsRef<[u8]>) -> Self {
        self.entry(name.as_ref(), b'5', b"", 0, 0o755);
        self
    }

    /// A symbolic link.
    pub fn symlink(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.entry(name.as_ref(), b'2', target.as_ref(), 0, 0o777);
        self
    }

    /// A hard link.
    pub fn hardlink(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.entry(name.as_ref(), b'1', target.as_ref(), 0, 0o644);
        self
    }

    /// An entry of any typeflag without content (devices, fifos, ...).
    pub fn special(mut self, name: impl AsRef<[u8]>, typeflag: u8) -> Self {
        self.entry(name.as_ref(), typeflag, b"", 0, 0o600);
        self
    }

    /// A whiteout for `dir/name`.
    pub fn whiteout(self, dir: &str, name: &str) -> Self {
        let path = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(path, b"")
    }

    /// An opaque marker for `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(format!("{dir}/.wh..wh..opq"), b"")
    }

    /// A regular-file header declaring `declared` bytes followed by only
    /// `content` (a lying or truncated entry); no end marker is written
    /// after it by [`TarBuilder::finish`] if the entry is left incomplete.
    pub fn file_declaring(mut self, name: impl AsRef<[u8]>, declared: u64, content: &[u8]) -> Self {
        self.entry(name.as_ref(), b'0', b"", declared, 0o644);
        self.out.extend_from_slice(content);
        self
    }

    /// Raw bytes appended as they are.
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// The stream with its end-of-archive marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The stream without an end marker (truncated archives).
    pub fn finish_without_end(self) -> Vec<u8> {
        self.out
    }

    fn pad(&mut self) {
        let rem = self.out.len() % 512;
        if rem != 0 {
            self.out.resize(self.out.len() + 512 - rem, 0);
        }
    }

    fn entry(&mut self, name: &[u8], flag: u8, link: &[u8], size: u64, mode: u32) {
        let mut pax = Vec::new();
        if name.len() > 100 {
            pax.extend(pax_record(b"path", name));
        }
        if link.len() > 100 {
            pax.extend(pax_record(b"linkpath", link));
        }
        if !pax.is_empty() {
            let header = header(b"pax", b'x', b"", pax.len() as u64, 0o644);
            self.out.extend_from_slice(&header);
            self.out.extend_from_slice(&pax);
            self.pad();
        }
        let short = &name[..name.len().min(100)];
        let short_link = &link[..link.len().min(100)];
        self.out
            .extend_from_slice(&header(short, flag, short_link, size, mode));
    }
}

fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body_len + 1;
    while len.to_string().len() + body_len != len {
        len = len.to_string().len() + body_len;
    }
    let mut rec = format!("{len} ").into_bytes();
    rec.extend_from_slice(key);
    rec.push(b'=');
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn header(name: &[u8], flag: u8, link: &[u8], size: u64, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 0o77777777777 {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], 0);
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

/// Compresses a tar stream.
pub fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
    }
}
