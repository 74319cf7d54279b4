//! Just enough ELF to find named sections and read virtual addresses: the
//! section header table and its string table, bounds-checked, for 32/64-bit
//! and either byte order.

use super::CatalogError;

const SHT_NOBITS: u32 = 8;
/// Sections looked at, at most (a forged header cannot make us loop long).
const MAX_SECTIONS: usize = 65_535;

pub struct Elf<'a> {
    bytes: &'a [u8],
    sections: Vec<Section>,
    names: Vec<String>,
}

#[derive(Clone, Copy)]
struct Section {
    kind: u32,
    addr: u64,
    offset: u64,
    size: u64,
}

#[derive(Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    wide: bool,
    big: bool,
}

impl Reader<'_> {
    fn uint(&self, at: u64, len: usize) -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        let b = self.bytes.get(at..at.checked_add(len)?)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if self.big { b[i] } else { b[len - 1 - i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    }

    fn word(&self, at: u64) -> Option<u64> {
        self.uint(at, if self.wide { 8 } else { 4 })
    }
}

fn malformed(reason: &str) -> CatalogError {
    CatalogError::malformed("ELF", reason)
}

impl<'a> Elf<'a> {
    /// `Ok(None)` when the bytes are not ELF at all.
    pub fn parse(bytes: &'a [u8]) -> Result<Option<Self>, CatalogError> {
        if !bytes.starts_with(b"\x7fELF") {
            return Ok(None);
        }
        let r = Reader {
            bytes,
            wide: match bytes.get(4) {
                Some(1) => false,
                Some(2) => true,
                _ => return Err(malformed("unknown ELF class")),
            },
            big: match bytes.get(5) {
                Some(1) => false,
                Some(2) => true,
                _ => return Err(malformed("unknown byte order")),
            },
        };
        let (shoff, rest) = if r.wide { (0x28, 0x3a) } else { (0x20, 0x2e) };
        let header = || -> Option<(u64, u64, usize, usize)> {
            Some((
                r.word(shoff)?,
                r.uint(rest, 2)?,
                r.uint(rest + 2, 2)? as usize,
                r.uint(rest + 4, 2)? as usize,
            ))
        };
        let (table, entsize, count, names_index) =
            header().ok_or_else(|| malformed("truncated ELF header"))?;
        let sections = (0..count.min(MAX_SECTIONS))
            .map(|i| section(&r, entry_at(table, i, entsize)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("section headers run past the end"))?;
        let mut elf = Elf {
            bytes,
            sections,
            names: Vec::new(),
        };
        let strtab = elf.sections.get(names_index).copied();
        let names_data = strtab.and_then(|s| elf.data(&s)).unwrap_or_default();
        let name_offsets: Vec<u64> = (0..elf.sections.len())
            .map(|i| r.uint(entry_at(table, i, entsize), 4).unwrap_or(u64::MAX))
            .collect();
        elf.names = name_offsets
            .into_iter()
            .map(|off| c_string(names_data, off))
            .collect();
        Ok(Some(elf))
    }

    fn data(&self, s: &Section) -> Option<&'a [u8]> {
        if s.kind == SHT_NOBITS {
            return None;
        }
        let start = usize::try_from(s.offset).ok()?;
        let end = start.checked_add(usize::try_from(s.size).ok()?)?;
        self.bytes.get(start..end)
    }

    /// The bytes of the first section with this name.
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        let index = self.names.iter().position(|n| n == name)?;
        self.data(&self.sections[index])
    }

    /// `len` bytes at virtual address `addr`, if a section holds them.
    pub fn read_addr(&self, addr: u64, len: u64) -> Option<&'a [u8]> {
        let s = self
            .sections
            .iter()
            .find(|s| s.addr != 0 && s.addr <= addr && addr < s.addr.saturating_add(s.size))?;
        let data = self.data(s)?;
        let start = usize::try_from(addr - s.addr).ok()?;
        data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    }
}

/// Offset of section header `i`; saturates so that a forged table offset
/// reads as out of range instead of overflowing.
fn entry_at(table: u64, i: usize, entsize: u64) -> u64 {
    table.saturating_add((i as u64).saturating_mul(entsize))
}

fn section(r: &Reader<'_>, at: u64) -> Option<Section> {
    Some(if r.wide {
        Section {
            kind: r.uint(at.saturating_add(4), 4)? as u32,
            addr: r.uint(at.saturating_add(16), 8)?,
            offset: r.uint(at.saturating_add(24), 8)?,
            size: r.uint(at.saturating_add(32), 8)?,
        }
    } else {
        Section {
            kind: r.uint(at.saturating_add(4), 4)? as u32,
            addr: r.uint(at.saturating_add(12), 4)?,
            offset: r.uint(at.saturating_add(16), 4)?,
            size: r.uint(at.saturating_add(20), 4)?,
        }
    })
}

fn c_string(data: &[u8], offset: u64) -> String {
    let Some(rest) = usize::try_from(offset).ok().and_then(|o| data.get(o..)) else {
        return String::new();
    };
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

/// Builds a little-endian 64-bit ELF file with the given sections (name,
/// address, bytes): a test fixture generator for the binary catalogers.
#[cfg(test)]
pub fn build(sections: &[(&str, u64, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for (name, _, _) in sections.iter().chain([(".shstrtab", 0, &[][..])].iter()) {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    let mut placed = Vec::new();
    for (_, addr, data) in sections {
        placed.push((*addr, out.len() as u64, data.len() as u64));
        out.extend_from_slice(data);
    }
    placed.push((0, out.len() as u64, names.len() as u64));
    out.extend_from_slice(&names);
    let table = out.len() as u64;
    out.extend_from_slice(&[0u8; 64]); // the null section
    for (i, (addr, offset, size)) in placed.iter().enumerate() {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name_offsets[i].to_le_bytes());
        h[4..8].copy_from_slice(&1u32.to_le_bytes());
        h[16..24].copy_from_slice(&addr.to_le_bytes());
        h[24..32].copy_from_slice(&offset.to_le_bytes());
        h[32..40].copy_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&h);
    }
    out[0x28..0x30].copy_from_slice(&table.to_le_bytes());
    out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    out[0x3c..0x3e].copy_from_slice(&((placed.len() + 1) as u16).to_le_bytes());
    out[0x3e..0x40].copy_from_slice(&(placed.len() as u16).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sections_by_name_and_reads_addresses() {
        let bytes = build(&[(".text", 0x1000, b"code"), (".dep-v0", 0x2000, b"deps")]);
        let elf = Elf::parse(&bytes).unwrap().unwrap();
        assert_eq!(elf.section(".dep-v0"), Some(&b"deps"[..]));
        assert_eq!(elf.section(".go.buildinfo"), None);
        assert_eq!(elf.read_addr(0x2001, 2), Some(&b"ep"[..]));
        assert_eq!(elf.read_addr(0x2003, 2), None);
    }

    #[test]
    fn not_elf_is_none() {
        assert!(Elf::parse(b"#!/bin/sh").unwrap().is_none());
    }

    #[test]
    fn truncated_or_forged_headers_are_errors_not_panics() {
        let bytes = build(&[(".text", 0x1000, b"code")]);
        for len in [5, 6, 20, 0x3f, bytes.len() - 40] {
            let r = Elf::parse(&bytes[..len]);
            assert!(r.is_err(), "len {len}");
        }
        let mut forged = bytes.clone();
        forged[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Elf::parse(&forged).is_err());
        let mut huge = bytes;
        // A section claiming to be huge reads as absent.
        let table = u64::from_le_bytes(huge[0x28..0x30].try_into().unwrap()) as usize;
        huge[table + 64 + 32..table + 64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        let elf = Elf::parse(&huge).unwrap().unwrap();
        assert_eq!(elf.section(".text"), None);
    }
}
