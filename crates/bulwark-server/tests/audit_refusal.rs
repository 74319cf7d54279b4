//! If the audit log cannot be written, the request is refused and nothing
//! changes: the log lives on a real, tiny tmpfs that the test fills up.
//! And if a write's commit fails after its record was written (the
//! database on a full tmpfs), the log records the abort. Needs root
//! (mount); fails loudly without it.

mod support;

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;
use support::TestServer;

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Result<Tmpfs> {
        std::fs::create_dir_all(path)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "bulwark-audit-test",
            ])
            .arg(path)
            .output()
            .context("running mount")?;
        if !out.status.success() {
            bail!(
                "mounting a tmpfs needs root: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until a write fails.
fn fill(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    Ok(path)
}

/// Once there is room again: the refused silence is not stored, the same
/// write now succeeds, and the audit chain verifies.
async fn nothing_committed_then_the_write_succeeds(
    s: &TestServer,
    silence: serde_json::Value,
) -> Result<()> {
    let list = s.ok("GET", "/api/v1/silences", &s.admin, None).await?;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "a refused write must not be committed: {list}"
    );
    s.ok("POST", "/api/v1/silences", &s.admin, Some(silence))
        .await?;
    bulwark_audit::verify_file(&s.audit_path(), None)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_refused_when_the_audit_log_cannot_be_written() -> Result<()> {
    let outer = tempfile::tempdir()?;
    let mount = outer.path().join("audit-fs");
    let _fs = Tmpfs::mount(&mount, "1m")?;
    let db = outer.path().join("control.db");
    let s = TestServer::start_with(|c| {
        c.data_dir = mount.join("server");
        c.db = bulwark_server::db::DbSpec::Sqlite(db.clone());
    })
    .await?;
    assert_eq!(
        s.call("GET", "/api/v1/workloads", Some(&s.admin), None)
            .await?
            .0,
        200
    );
    let filler = fill(&mount)?;

    // The log's last page may still have room for a few records; once it
    // is full every call is refused.
    let mut refused = None;
    for _ in 0..200 {
        let (status, v) = s
            .call("GET", "/api/v1/workloads", Some(&s.admin), None)
            .await?;
        if status != 200 {
            refused = Some((status, v));
            break;
        }
    }
    let (status, v) = refused.context("no call was refused on a full file system")?;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"], "audit_unavailable");
    let (status, _) = s.call("GET", "/api/v1/nodes", Some(&s.admin), None).await?;
    assert_eq!(status, 503, "still refused while the log cannot be written");
    let silence = json!({"matcher": {"namespace": "default"}, "reason": "r", "expires_at": bulwark_server::now_ms() + 60_000});
    let (status, v) = s
        .call(
            "POST",
            "/api/v1/silences",
            Some(&s.admin),
            Some(silence.clone()),
        )
        .await?;
    assert_eq!(status, 503, "{v}");

    std::fs::remove_file(&filler)?;
    nothing_committed_then_the_write_succeeds(&s, silence).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_commit_fails_after_its_record_is_recorded_as_aborted() -> Result<()> {
    let outer = tempfile::tempdir()?;
    let mount = outer.path().join("db-fs");
    let _fs = Tmpfs::mount(&mount, "4m")?;
    let db = mount.join("control.db");
    // The audit log stays on the test's own disk; only the database fills.
    let s =
        TestServer::start_with(|c| c.db = bulwark_server::db::DbSpec::Sqlite(db.clone())).await?;
    s.ok("GET", "/api/v1/silences", &s.admin, None).await?;
    let filler = fill(&mount)?;

    let silence = json!({"matcher": {"namespace": "default"}, "reason": "r", "expires_at": bulwark_server::now_ms() + 60_000});
    let (status, v) = s
        .call(
            "POST",
            "/api/v1/silences",
            Some(&s.admin),
            Some(silence.clone()),
        )
        .await?;
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"], "commit_failed", "{v}");
    let records = s.audit_records()?;
    let [.., gate, abort] = records.as_slice() else {
        bail!("fewer than two records: {records:#?}");
    };
    assert_eq!(gate["action"], "silence.create", "{gate}");
    assert_eq!(gate["detail"]["request_id"], v["request_id"]);
    assert_eq!(abort["action"], "silence.create.aborted", "{abort}");
    assert_eq!(abort["outcome"], "failure");
    assert_eq!(abort["actor"], gate["actor"]);
    assert_eq!(abort["target"], gate["target"]);
    assert_eq!(abort["detail"]["aborts_seq"], gate["seq"]);
    assert_eq!(abort["detail"]["request_id"], v["request_id"]);

    std::fs::remove_file(&filler)?;
    nothing_committed_then_the_write_succeeds(&s, silence).await
}
