//! Which interpreter the kernel opens for execution when a file runs: the
//! ELF `PT_INTERP` (the dynamic loader) or the `#!` line of a script.
//! Pure parsing of a file's first bytes; every offset is bounds-checked, so a
//! hostile file yields `None`, never a panic.

/// How many leading bytes [`interpreter`] needs to see.
pub const HEAD_BYTES: usize = 4096;

const PT_INTERP: u32 = 3;
const MAX_INTERP_LEN: usize = 4096;

/// The interpreter path named by `head` (the first bytes of a file).
pub fn interpreter(head: &[u8]) -> Option<String> {
    if head.starts_with(b"#!") {
        shebang(head)
    } else if head.starts_with(b"\x7fELF") {
        elf_interp(head)
    } else {
        None
    }
}

fn shebang(head: &[u8]) -> Option<String> {
    let line = head[2..].split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line)
        .ok()?
        .trim_start_matches([' ', '\t']);
    let path = line.split([' ', '\t', '\r']).next()?;
    (path.starts_with('/') && path.len() <= MAX_INTERP_LEN).then(|| path.to_owned())
}

fn u16_at(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn u32_at(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn u64_at(b: &[u8], off: usize, le: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(off..off.checked_add(8)?)?.try_into().ok()?;
    Some(if le {
        u64::from_le_bytes(s)
    } else {
        u64::from_be_bytes(s)
    })
}

/// Field offsets of the ELF header and program header, per class.
struct Layout {
    phoff: usize,
    phentsize: usize,
    phnum: usize,
    p_offset: usize,
    p_filesz: usize,
}

const ELF64: Layout = Layout {
    phoff: 0x20,
    phentsize: 0x36,
    phnum: 0x38,
    p_offset: 0x08,
    p_filesz: 0x20,
};

const ELF32: Layout = Layout {
    phoff: 0x1c,
    phentsize: 0x2a,
    phnum: 0x2c,
    p_offset: 0x04,
    p_filesz: 0x10,
};

fn elf_interp(head: &[u8]) -> Option<String> {
    let is64 = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let le = match head.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let l = if is64 { &ELF64 } else { &ELF32 };
    let word = |off: usize| -> Option<usize> {
        if is64 {
            usize::try_from(u64_at(head, off, le)?).ok()
        } else {
            usize::try_from(u32_at(head, off, le)?).ok()
        }
    };
    let phoff = word(l.phoff)?;
    let phentsize = usize::from(u16_at(head, l.phentsize, le)?);
    let phnum = usize::from(u16_at(head, l.phnum, le)?);
    for i in 0..phnum.min(256) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(head, ph, le)? != PT_INTERP {
            continue;
        }
        let off = word(ph.checked_add(l.p_offset)?)?;
        let len = word(ph.checked_add(l.p_filesz)?)?;
        if len == 0 || len > MAX_INTERP_LEN {
            return None;
        }
        let raw = head.get(off..off.checked_add(len)?)?;
        let raw = raw.split(|b| *b == 0).next()?;
        let path = std::str::from_utf8(raw).ok()?;
        return path.starts_with('/').then(|| path.to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF64 header with one PT_INTERP entry.
    fn elf_with_interp(path: &str) -> Vec<u8> {
        let mut b = vec![0u8; 0x200];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[0x40..0x44].copy_from_slice(&PT_INTERP.to_le_bytes());
        b[0x48..0x50].copy_from_slice(&0x100u64.to_le_bytes());
        let bytes = path.as_bytes();
        b[0x60..0x68].copy_from_slice(&(bytes.len() as u64 + 1).to_le_bytes());
        b[0x100..0x100 + bytes.len()].copy_from_slice(bytes);
        b
    }

    #[test]
    fn finds_dynamic_loader_of_elf64() {
        let b = elf_with_interp("/lib64/ld-linux-x86-64.so.2");
        assert_eq!(
            interpreter(&b).as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
    }

    #[test]
    fn finds_shebang_interpreter_ignoring_arguments() {
        assert_eq!(
            interpreter(b"#!/bin/sh -e\necho").as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(
            interpreter(b"#! /usr/bin/env python3\n").as_deref(),
            Some("/usr/bin/env")
        );
        assert_eq!(interpreter(b"#!relative\n"), None);
    }

    #[test]
    fn hostile_headers_yield_none_not_panic() {
        let mut b = elf_with_interp("/lib/ld.so");
        b[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(interpreter(&b), None);
        let mut b = elf_with_interp("/lib/ld.so");
        b[0x48..0x50].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
        assert_eq!(interpreter(&b), None);
        assert_eq!(interpreter(b"\x7fELF"), None);
        assert_eq!(interpreter(b""), None);
    }

    #[test]
    fn static_binary_without_pt_interp_has_none() {
        let mut b = elf_with_interp("/x");
        b[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(interpreter(&b), None);
    }
}
