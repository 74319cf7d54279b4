//! Real runc containers: lifecycle, cgroups, networks, mounts, annotations,
//! hooks and cleanup. Needs root, runc, busybox-static and iproute2.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use bulwark_testkit::{Access, Container, Hook, HookPoint, Network};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[test]
fn run_returns_output_and_exit_code() -> Result {
    let out = Container::builder("echo")
        .args(["sh", "-c", "echo out; echo err >&2; exit 3"])
        .run()?;
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.status.code(), Some(3));
    Ok(())
}

#[test]
fn killed_container_reports_the_signal() -> Result {
    let mut c = Container::builder("killed").start()?;
    c.kill("KILL")?;
    let status = c.wait(Duration::from_secs(10))?;
    assert_eq!(status.signal(), Some(9));
    Ok(())
}

#[test]
fn created_container_has_its_v2_cgroup_before_start() -> Result {
    let c = Container::builder("cgroup").create()?;
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid()))?;
    let v2_line = proc_cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .ok_or("no cgroup v2 line")?;
    assert_eq!(v2_line, format!("0::{}", c.cgroups_path()));
    assert!(c.cgroups_path().ends_with(c.id()));
    let dir = c.cgroup_v2_dir()?;
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))?;
    assert!(procs.lines().any(|p| p == c.pid().to_string()));
    assert_ne!(c.cgroup_v2_id()?, 0);
    Ok(())
}

#[test]
fn custom_cgroups_path_is_used() -> Result {
    let path = format!("/bulwark-testkit/custom-{}/leaf", std::process::id());
    let c = Container::builder("custom-cg")
        .cgroups_path(&path)
        .start()?;
    assert_eq!(c.cgroups_path(), path);
    assert!(c.cgroup_v2_dir()?.ends_with(path.trim_start_matches('/')));
    drop(c);
    // runc removes the leaf; the parent is ours to remove in every hierarchy.
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")? {
        let parent = hierarchy?
            .path()
            .join(format!("bulwark-testkit/custom-{}", std::process::id()));
        if parent.exists() {
            std::fs::remove_dir(&parent)?;
        }
    }
    Ok(())
}

#[test]
fn exec_runs_in_the_container() -> Result {
    let c = Container::builder("exec").start()?;
    let out = c.exec(["hostname"])?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.trim(), c.id());
    let out = c.exec(["sh", "-c", "cat /proc/self/cgroup"])?;
    assert!(out.stdout.contains(&format!("0::{}", c.cgroups_path())));
    Ok(())
}

#[test]
fn rootfs_is_read_only_by_default_and_tmp_is_writable() -> Result {
    let out = Container::builder("ro")
        .args([
            "sh",
            "-c",
            "touch /etc/x 2>/dev/null && echo wrote; touch /tmp/x && echo tmp",
        ])
        .run()?;
    assert_eq!(out.stdout, "tmp\n");
    Ok(())
}

#[test]
fn writable_rootfs_is_private() -> Result {
    let name = format!("/etc/written-{}", std::process::id());
    let out = Container::builder("rw")
        .writable_rootfs()
        .args(["sh", "-c", &format!("echo hi > {name} && cat {name}")])
        .run()?;
    assert_eq!(out.stdout, "hi\n");
    let shared = bulwark_testkit::Rootfs::busybox()?;
    assert!(!shared.path().join(name.trim_start_matches('/')).exists());
    Ok(())
}

#[test]
fn files_added_before_create_are_in_the_image() -> Result {
    let out = Container::builder("files")
        .file(
            "/usr/local/bin/hello",
            "#!/bin/sh\necho from-image\n",
            0o755,
        )
        .file("/bin/ls", "replaced symlink\n", 0o644)
        .args(["sh", "-c", "/usr/local/bin/hello && cat /bin/ls"])
        .run()?;
    assert_eq!(out.stdout, "from-image\nreplaced symlink\n");
    let shared = bulwark_testkit::Rootfs::busybox()?;
    assert!(
        std::fs::symlink_metadata(shared.path().join("bin/ls"))?
            .file_type()
            .is_symlink()
    );
    Ok(())
}

#[test]
fn file_path_with_traversal_is_refused() {
    let err = Container::builder("files-bad")
        .file("/../../etc/x", "x", 0o644)
        .create();
    assert!(matches!(err, Err(bulwark_testkit::Error::Invalid { .. })));
}

#[test]
fn bind_mounts_respect_access() -> Result {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("in.txt"), "from host")?;
    let out_dir = tempfile::tempdir()?;
    let out = Container::builder("bind")
        .bind(dir.path(), "/mnt/in", Access::ReadOnly)
        .bind(out_dir.path(), "/mnt/out", Access::ReadWrite)
        .args([
            "sh",
            "-c",
            "cat /mnt/in/in.txt; echo x > /mnt/in/y 2>/dev/null || echo ro; echo w > /mnt/out/o",
        ])
        .run()?;
    assert_eq!(out.stdout, "from hostro\n");
    assert_eq!(std::fs::read_to_string(out_dir.path().join("o"))?, "w\n");
    Ok(())
}

#[test]
fn veth_container_reaches_a_listener_on_the_host_end() -> Result {
    let c = Container::builder("veth").network(Network::Veth).start()?;
    let net = c.network().ok_or("no veth network")?;
    let listener = TcpListener::bind((net.host_addr(), 0))?;
    let port = listener.local_addr()?.port();
    let cmd = format!("echo hello | nc {} {port}", net.host_addr());
    let client = std::thread::spawn({
        let id = c.id().to_owned();
        move || {
            std::process::Command::new("runc")
                .args(["exec", &id, "sh", "-c", &cmd])
                .output()
        }
    });
    let (stream, peer) = listener.accept()?;
    assert_eq!(peer.ip(), net.container_addr());
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    assert_eq!(line, "hello\n");
    let out = client.join().map_err(|_| "client thread panicked")??;
    assert!(out.status.success(), "{out:?}");
    Ok(())
}

#[test]
fn host_network_container_reaches_host_loopback() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let c = Container::builder("hostnet")
        .network(Network::Host)
        .args(["sh", "-c", &format!("echo hi | nc 127.0.0.1 {port}")])
        .start()?;
    let (mut stream, _) = listener.accept()?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    assert_eq!(line, "hi\n");
    stream.write_all(b"bye\n")?;
    drop(c);
    Ok(())
}

#[test]
fn isolated_network_has_only_loopback() -> Result {
    let out = Container::builder("isolated")
        .args(["sh", "-c", "ls /sys/class/net"])
        .run()?;
    assert_eq!(out.stdout.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    Ok(())
}

#[test]
fn annotations_and_image_reach_config_and_runc_state() -> Result {
    let c = Container::builder("annot")
        .annotation("org.example/team", "blue")
        .image("registry.test/app:1", Some("sha256:abc"))
        .create()?;
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.bundle().join("config.json"))?)?;
    assert_eq!(config["annotations"]["org.example/team"], "blue");
    assert_eq!(
        config["annotations"][bulwark_testkit::ANNOTATION_IMAGE],
        "registry.test/app:1"
    );
    assert_eq!(
        config["annotations"][bulwark_testkit::ANNOTATION_IMAGE_DIGEST],
        "sha256:abc"
    );
    assert!(config["process"].get("rlimits").is_none());
    let state = std::fs::read_to_string(Path::new("/run/runc").join(c.id()).join("state.json"))?;
    assert!(state.contains(&format!("bundle={}", c.bundle().display())));
    Ok(())
}

#[test]
fn create_runtime_hook_receives_the_container_state() -> Result {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("state.json");
    let hook = Hook::new("/bin/sh").args([
        "sh".to_owned(),
        "-c".to_owned(),
        format!("cat > {}", out.display()),
    ]);
    let c = Container::builder("hook")
        .hook(HookPoint::CreateRuntime, hook)
        .create()?;
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    assert_eq!(state["id"], c.id());
    assert_eq!(state["pid"], c.pid());
    Ok(())
}

#[test]
fn failing_prestart_hook_fails_create_with_runc_message() -> Result {
    let err = Container::builder("badhook")
        .hook(HookPoint::Prestart, Hook::new("/bin/false"))
        .create()
        .err()
        .ok_or("create with a failing hook succeeded")?;
    let msg = err.to_string();
    assert!(msg.contains("runc create"), "{msg}");
    Ok(())
}

#[test]
fn drop_removes_container_cgroup_and_netns() -> Result {
    let c = Container::builder("cleanup")
        .network(Network::Veth)
        .start()?;
    let id = c.id().to_owned();
    let cg = c.cgroup_v2_dir()?;
    let netns = c.network().ok_or("no veth")?.netns_path();
    let host_if = c.network().ok_or("no veth")?.host_interface().to_owned();
    assert!(cg.exists() && netns.exists());
    drop(c);
    assert!(!Path::new("/run/runc").join(&id).exists());
    assert!(!cg.exists());
    assert!(!netns.exists());
    assert!(!Path::new("/sys/class/net").join(host_if).exists());
    Ok(())
}

#[test]
fn invalid_mount_destination_is_refused_before_runc_runs() {
    let err = Container::builder("bad")
        .bind("/tmp", "../etc", Access::ReadOnly)
        .create()
        .err();
    assert!(matches!(err, Some(bulwark_testkit::Error::Invalid { .. })));
}

#[test]
fn test_cgroup_holds_a_host_process_and_is_removed_on_drop() -> Result {
    let cg = bulwark_testkit::TestCgroup::create("testkit-cg")?;
    let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
    cg.add(child.id())?;
    let seen = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id()))?;
    assert!(
        seen.lines()
            .any(|l| l.starts_with("0::") && l.ends_with(cg.path())),
        "{seen}"
    );
    let mount = if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let dir = Path::new(mount).join(cg.path().trim_start_matches('/'));
    assert!(dir.is_dir());
    drop(cg); // the child is still inside: it is moved out first
    assert!(!dir.exists());
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn prepare_command_edits_the_bundle_before_runc_sees_it() -> Result {
    let out = Container::builder("prepared")
        .args(["echo", "ORIGINAL"])
        .prepare(["sh", "-c", "sed -i s/ORIGINAL/PREPARED/ \"$0/config.json\""])
        .run()?;
    assert_eq!(out.stdout, "PREPARED\n");
    Ok(())
}

#[test]
fn failing_prepare_command_stops_the_container_and_names_the_command() {
    let err = Container::builder("prepare-fails")
        .args(["echo", "never"])
        .prepare(["sh", "-c", "echo broken >&2; exit 3"])
        .run()
        .expect_err("a failed preparation must not start the container");
    let text = err.to_string();
    assert!(text.contains("sh -c") && text.contains("broken"), "{text}");
}
