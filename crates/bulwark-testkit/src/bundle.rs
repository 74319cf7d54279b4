//! The OCI bundle directory of one test container.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::net::VethNet;
use crate::rootfs::cache_dir;
use crate::spec::{ExtraFile, Spec, config_json};
use crate::{Error, Rootfs};

/// `config.json`, the pid file, the init's stdout/stderr logs and, for a
/// writable container, a private rootfs copy. Removed on drop.
#[derive(Debug)]
pub(crate) struct Bundle {
    dir: TempDir,
}

/// Writes one [`ExtraFile`] below `root` (its path was validated: absolute,
/// no `..`); an existing symlink at the destination is replaced, not followed.
fn write_extra(root: &Path, f: &ExtraFile) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let dest = root.join(f.path.trim_start_matches('/'));
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    if fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(&dest).map_err(|e| Error::io("replacing", &dest, e))?;
    }
    fs::write(&dest, &f.contents).map_err(|e| Error::io("writing", &dest, e))?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(f.mode))
        .map_err(|e| Error::io("setting the mode of", &dest, e))
}

impl Bundle {
    pub fn write(
        id: &str,
        spec: &Spec,
        rootfs: &Rootfs,
        net: Option<&VethNet>,
        cgroups_path: &str,
    ) -> Result<Bundle, Error> {
        let parent = cache_dir().join("bundles");
        fs::create_dir_all(&parent).map_err(|e| Error::io("creating", &parent, e))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io("creating a bundle in", &parent, e))?;
        let rootfs = if spec.writable_rootfs {
            rootfs.copy_to(&dir.path().join("rootfs"))?
        } else {
            rootfs.clone()
        };
        for f in &spec.files {
            write_extra(rootfs.path(), f)?;
        }
        let netns = net.map(VethNet::netns_path);
        let config = config_json(spec, rootfs.path(), netns.as_deref(), cgroups_path, id);
        let path = dir.path().join("config.json");
        let text = serde_json::to_vec_pretty(&config)
            .map_err(|e| Error::io("serialising", &path, e.into()))?;
        fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
        Ok(Bundle { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("init.pid")
    }

    pub fn stdout_log(&self) -> PathBuf {
        self.dir.path().join("stdout.log")
    }

    pub fn stderr_log(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    pub fn read_pid(&self, id: &str) -> Result<u32, Error> {
        let path = self.pid_file();
        let content = fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        content.trim().parse().map_err(|_| Error::BadPidFile {
            id: id.to_owned(),
            path,
            content,
        })
    }
}
