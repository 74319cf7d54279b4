//! Go build info (`.go.buildinfo`): the toolchain version and the module
//! list (`mod`, `dep`, `=>` replacement lines) that `go version -m` prints.
//! Both the inline layout (Go 1.18+) and the older pointer layout are read.

use super::elf::Elf;
use super::{CatalogError, Found};
use crate::model::{Ecosystem, PackageKind};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const FLAG_BIG_ENDIAN: u8 = 1;
const FLAG_INLINE: u8 = 2;
/// Longest version or module-info string read (the real ones are KiBs).
const MAX_STRING: u64 = 16 << 20;

fn malformed(reason: impl Into<String>) -> CatalogError {
    CatalogError::malformed("Go build info", reason)
}

/// The modules of a Go binary, plus `stdlib` at the toolchain version.
pub fn parse(section: &[u8], elf: &Elf<'_>) -> Result<Vec<Found>, CatalogError> {
    let start = find(section, MAGIC).ok_or_else(|| malformed("no build info header"))?;
    let header = section
        .get(start..start + HEADER_LEN)
        .ok_or_else(|| malformed("truncated header"))?;
    let (version, modinfo) = if header[15] & FLAG_INLINE != 0 {
        let mut rest = &section[start + HEADER_LEN..];
        (varint_string(&mut rest)?, varint_string(&mut rest)?)
    } else {
        pointer_strings(header, elf)?
    };
    Ok(modules(&version, strip_sentinels(&modinfo)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn varint_string(rest: &mut &[u8]) -> Result<String, CatalogError> {
    let mut len = 0u64;
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest
            .split_first()
            .ok_or_else(|| malformed("truncated length"))?;
        *rest = tail;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(malformed("length varint too long"));
        }
    }
    if len > MAX_STRING {
        return Err(malformed(format!("string of {len} bytes")));
    }
    let len = len as usize;
    let bytes = rest
        .get(..len)
        .ok_or_else(|| malformed("string runs past the section"))?;
    *rest = &rest[len..];
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Go 1.13-1.17: the header holds pointers to two Go string headers.
fn pointer_strings(header: &[u8], elf: &Elf<'_>) -> Result<(String, String), CatalogError> {
    let size = u64::from(header[14]);
    if size != 4 && size != 8 {
        return Err(malformed(format!("pointer size {size}")));
    }
    let big = header[15] & FLAG_BIG_ENDIAN != 0;
    let word = |bytes: &[u8]| -> u64 {
        let mut v = 0u64;
        for i in 0..bytes.len() {
            let b = if big {
                bytes[i]
            } else {
                bytes[bytes.len() - 1 - i]
            };
            v = (v << 8) | u64::from(b);
        }
        v
    };
    let n = size as usize;
    let read_string = |ptr: u64| -> Option<String> {
        let head = elf.read_addr(ptr, 2 * size)?;
        let (data, len) = (word(&head[..n]), word(&head[n..]));
        if len > MAX_STRING {
            return None;
        }
        Some(String::from_utf8_lossy(elf.read_addr(data, len)?).into_owned())
    };
    let version = read_string(word(&header[16..16 + n]))
        .ok_or_else(|| malformed("version pointer outside the binary"))?;
    let modinfo = read_string(word(&header[16 + n..16 + 2 * n])).unwrap_or_default();
    Ok((version, modinfo))
}

/// Module info is framed by 16-byte sentinels.
fn strip_sentinels(modinfo: &str) -> &str {
    let bytes = modinfo.as_bytes();
    if bytes.len() >= 33 && bytes[bytes.len() - 17] == b'\n' {
        modinfo.get(16..bytes.len() - 16).unwrap_or(modinfo)
    } else {
        modinfo
    }
}

fn modules(go_version: &str, modinfo: &str) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    if let Some(v) = stdlib_version(go_version) {
        out.push(Found::new(Ecosystem::Golang, "stdlib", v));
    }
    for line in modinfo.lines() {
        let mut fields = line.split('\t');
        let (Some(key), Some(path)) = (fields.next(), fields.next()) else {
            continue;
        };
        let version = fields.next().unwrap_or_default();
        match key {
            "mod" | "dep" if !path.is_empty() => {
                let mut found = Found::new(Ecosystem::Golang, path, version);
                if key == "mod" {
                    found.kind = PackageKind::Application;
                }
                out.push(found);
            }
            // A replacement by another module names the module really built;
            // a local directory (`./x`, `../x`, `/x`) has no module version,
            // and the original requirement stays.
            "=>" if !version.is_empty() && !path.starts_with(['.', '/']) => {
                if let Some(last) = out.last_mut().filter(|l| l.name != "stdlib") {
                    last.name = path.to_owned();
                    last.version = version.to_owned();
                }
            }
            _ => {}
        }
    }
    out
}

/// `go1.21.3` -> `v1.21.3`, `go1.22.1 X:boringcrypto` -> `v1.22.1`,
/// `go1.21rc2` -> `v1.21rc2`; development toolchains (`devel ...`) have no
/// stdlib version.
fn stdlib_version(go_version: &str) -> Option<String> {
    let token = go_version.split_whitespace().next()?;
    let v = token.strip_prefix("go")?;
    v.starts_with(|c: char| c.is_ascii_digit())
        .then(|| format!("v{v}"))
}

#[cfg(test)]
mod tests {
    use super::super::elf;
    use super::*;

    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    const SENTINEL: &str = "0123456789abcdef";

    fn modinfo() -> String {
        format!(
            "{SENTINEL}path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\n\
dep\tgolang.org/x/text\tv0.3.7\th1:abc=\n\
dep\tgithub.com/old/thing\tv1.0.0\th1:def=\n=>\tgithub.com/new/thing\tv1.2.0\th1:ghi=\n\
dep\texample.com/local\tv0.1.0\n=>\t../local\t(devel)\t\n\
build\t-compiler=gc\nbuild\tGOOS=linux\n\x0a{SENTINEL}"
        )
    }

    fn inline_section(version: &str, modinfo: &str) -> Vec<u8> {
        let mut s = b"junk".to_vec();
        s.extend_from_slice(MAGIC);
        s.push(8);
        s.push(FLAG_INLINE);
        s.resize(4 + HEADER_LEN, 0);
        varint(version.len(), &mut s);
        s.extend_from_slice(version.as_bytes());
        varint(modinfo.len(), &mut s);
        s.extend_from_slice(modinfo.as_bytes());
        s
    }

    fn names(found: &[Found]) -> Vec<(String, String)> {
        found
            .iter()
            .map(|f| (f.name.clone(), f.version.clone()))
            .collect()
    }

    #[test]
    fn inline_build_info_with_replacements() {
        let section = inline_section("go1.19.8", &modinfo());
        let bin = elf::build(&[(".go.buildinfo", 0x1000, &section)]);
        let elf = Elf::parse(&bin).unwrap().unwrap();
        let found = parse(elf.section(".go.buildinfo").unwrap(), &elf).unwrap();
        let want = [
            ("stdlib", "v1.19.8"),
            ("example.com/hello", "(devel)"),
            ("golang.org/x/text", "v0.3.7"),
            ("github.com/new/thing", "v1.2.0"),
            ("example.com/local", "v0.1.0"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(names(&found), want);
        assert_eq!(found[1].kind, PackageKind::Application);
    }

    #[test]
    fn pointer_build_info_of_old_toolchains() {
        let modinfo = modinfo();
        // Two Go string headers at 0x3000, their bytes at 0x4000.
        let version = "go1.16.15";
        let data_addr = 0x4000u64;
        let mut data = version.as_bytes().to_vec();
        data.extend_from_slice(modinfo.as_bytes());
        let mut heads = Vec::new();
        for (addr, len) in [
            (data_addr, version.len()),
            (data_addr + version.len() as u64, modinfo.len()),
        ] {
            heads.extend_from_slice(&addr.to_le_bytes());
            heads.extend_from_slice(&(len as u64).to_le_bytes());
        }
        let mut header = MAGIC.to_vec();
        header.push(8);
        header.push(0);
        header.extend_from_slice(&0x3000u64.to_le_bytes());
        header.extend_from_slice(&0x3010u64.to_le_bytes());
        let bin = elf::build(&[
            (".go.buildinfo", 0x1000, &header),
            (".rodata", 0x3000, &heads),
            (".data", data_addr, &data),
        ]);
        let elf = Elf::parse(&bin).unwrap().unwrap();
        let found = parse(elf.section(".go.buildinfo").unwrap(), &elf).unwrap();
        assert_eq!(found[0].version, "v1.16.15");
        assert_eq!(found.len(), 5);
    }

    #[test]
    fn stdlib_versions() {
        assert_eq!(stdlib_version("go1.21.3").as_deref(), Some("v1.21.3"));
        assert_eq!(
            stdlib_version("go1.22.1 X:boringcrypto").as_deref(),
            Some("v1.22.1")
        );
        assert_eq!(stdlib_version("devel go1.23-abc"), None);
        assert_eq!(stdlib_version(""), None);
    }

    #[test]
    fn malformed_build_info_is_an_error_not_a_panic() {
        let bin = elf::build(&[(".text", 0x1000, b"x")]);
        let elf = Elf::parse(&bin).unwrap().unwrap();
        let good = inline_section("go1.19.8", &modinfo());
        for len in [3, 10, 20, 36, 38, good.len() - 5] {
            assert!(parse(&good[..len], &elf).is_err(), "len {len}");
        }
        let mut huge = good[..4 + HEADER_LEN].to_vec();
        huge.extend_from_slice(&[0xff; 12]);
        assert!(parse(&huge, &elf).is_err());
        // Pointer layout whose pointers lead nowhere.
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[8, 0]);
        header.extend_from_slice(&[0xee; 16]);
        assert!(parse(&header, &elf).is_err());
    }
}
