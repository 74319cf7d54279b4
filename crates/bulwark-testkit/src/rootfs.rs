//! Root filesystems for test containers, built once and cached.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Where Debian's `busybox-static` installs its binary.
const BUSYBOX: &str = "/bin/busybox";
/// Bump when the layout below changes, so stale caches are not reused.
const LAYOUT_VERSION: u32 = 1;

/// A prepared root filesystem directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rootfs {
    path: PathBuf,
}

impl Rootfs {
    /// A root filesystem holding Debian's statically linked busybox at
    /// `/bin/busybox` with a symlink per applet (`/bin/sh`, `/bin/cat`,
    /// `/usr/bin/nc`, ...), `/etc/passwd` and `/etc/group`, and the mount
    /// points runc needs. Built on first use under the cargo target directory
    /// (`target/bulwark-testkit/`), keyed by the busybox binary's size and
    /// mtime; concurrent builders race safely (build aside, then rename).
    pub fn busybox() -> Result<Rootfs, Error> {
        let meta = fs::metadata(BUSYBOX).map_err(|_| Error::MissingTool {
            tool: BUSYBOX,
            package: "busybox-static",
        })?;
        if !is_static_elf(Path::new(BUSYBOX))? {
            return Err(Error::BusyboxNotStatic {
                path: BUSYBOX.into(),
            });
        }
        let key = format!("busybox-v{LAYOUT_VERSION}-{}-{}", meta.len(), meta.mtime());
        let path = cache_dir().join(key);
        if !path.join("bin/busybox").exists() {
            build_cached(&path, build_busybox)?;
        }
        Ok(Rootfs { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A private, writable copy in `dir` (symlinks kept as symlinks).
    pub(crate) fn copy_to(&self, dir: &Path) -> Result<Rootfs, Error> {
        let status = Command::new("cp")
            .arg("-a")
            .arg(&self.path)
            .arg(dir)
            .status()
            .map_err(|source| Error::Spawn {
                program: "cp",
                source,
            })?;
        if !status.success() {
            return Err(Error::io(
                "copying rootfs to",
                dir,
                std::io::Error::other(status.to_string()),
            ));
        }
        Ok(Rootfs {
            path: dir.to_owned(),
        })
    }
}

/// The directory for cached fixtures: `BULWARK_TESTKIT_CACHE`, else
/// `bulwark-testkit/` in the cargo target directory of the running test
/// (the ancestor of the test binary holding `CACHEDIR.TAG`), else the
/// system temp directory.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BULWARK_TESTKIT_CACHE") {
        return PathBuf::from(dir);
    }
    let target = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|a| a.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("bulwark-testkit")
}

/// Builds into a sibling temp dir, then renames into place; losing the race
/// to another process is fine, its result is identical.
fn build_cached(path: &Path, build: fn(&Path) -> Result<(), Error>) -> Result<(), Error> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".building-")
        .tempdir_in(parent)
        .map_err(|e| Error::io("creating a temp dir in", parent, e))?;
    build(tmp.path())?;
    let built = tmp.keep();
    if fs::rename(&built, path).is_err() {
        // Someone else finished first; use theirs.
        let _ = fs::remove_dir_all(&built);
        if !path.join("bin").exists() {
            return Err(Error::io(
                "publishing rootfs",
                path,
                std::io::Error::other("rename failed and no finished copy exists"),
            ));
        }
    }
    Ok(())
}

fn build_busybox(root: &Path) -> Result<(), Error> {
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "root",
        "mnt", "var/tmp", "home",
    ] {
        let d = root.join(dir);
        fs::create_dir_all(&d).map_err(|e| Error::io("creating", &d, e))?;
    }
    let bin = root.join("bin/busybox");
    fs::copy(BUSYBOX, &bin).map_err(|e| Error::io("copying busybox to", &bin, e))?;
    for applet in applets()? {
        let link = root.join(&applet);
        if applet == "bin/busybox" || link.exists() {
            continue;
        }
        symlink("/bin/busybox", &link).map_err(|e| Error::io("linking applet", &link, e))?;
    }
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    write(root, "etc/group", "root:x:0:\nnogroup:x:65534:\n")?;
    write(root, "etc/hosts", "127.0.0.1 localhost\n")?;
    Ok(())
}

/// Applet paths relative to `/` (`bin/sh`, `usr/bin/nc`, ...).
fn applets() -> Result<Vec<String>, Error> {
    let out = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .map_err(|source| Error::Spawn {
            program: BUSYBOX,
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty() && !l.contains(".."))
        .collect())
}

fn write(root: &Path, rel: &str, content: &str) -> Result<(), Error> {
    let p = root.join(rel);
    fs::write(&p, content).map_err(|e| Error::io("writing", &p, e))
}

/// True if the ELF file has no `PT_INTERP` program header (no dynamic loader).
fn is_static_elf(path: &Path) -> Result<bool, Error> {
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| Error::io("reading", path, e))?;
    Ok(elf64_has_interp(&head) == Some(false))
}

/// `Some(has PT_INTERP)` for a little-endian ELF64 header, `None` otherwise.
fn elf64_has_interp(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if head.get(..4)? != b"\x7fELF" || *head.get(4)? != 2 || *head.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let off = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(head.get(off..off + 4)?.try_into().ok()?);
        if p_type == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_elf_is_not_reported_as_static() {
        assert_eq!(elf64_has_interp(b"#!/bin/sh\n"), None);
        assert_eq!(elf64_has_interp(b""), None);
    }

    #[test]
    fn truncated_program_headers_are_not_trusted() {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = 2;
        head[5] = 1;
        head[0x20] = 64; // phoff just past the header
        head[0x36] = 56;
        head[0x38] = 4; // four headers that are not there
        assert_eq!(elf64_has_interp(&head), None);
    }

    #[test]
    fn this_test_binary_is_dynamically_linked() {
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&exe).unwrap());
    }
}
