//! Attestation against real processes and real cgroups (needs root, as CI
//! runs). Children are Python one-liners that connect to a socket we own.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bulwark_testkit::TestCgroup;

use super::*;

const CLIENT: &str = r#"
import socket, sys
sys.stdin.readline()
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print("connected", flush=True)
sys.stdin.readline()
"#;

/// A Python child that connects to `sock` once told to on stdin.
fn child(sock: &Path, uid: Option<u32>) -> Child {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", CLIENT])
        .arg(sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(uid) = uid {
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
    }
    cmd.spawn()
        .expect("python3 must be installed (scripts/apt-packages.txt)")
}

fn go(child: &mut Child) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
}

fn wait_connected(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "connected");
}

fn listener(dir: &Path) -> (UnixListener, PathBuf) {
    let path = dir.join("s.sock");
    let l = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (l, path)
}

#[test]
fn own_process_is_attested_from_the_kernel() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let peer = PeerCredentials::of_socket(a.as_fd()).unwrap();
    drop(b);
    assert_eq!(peer.pid, std::process::id());
    assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
    assert!(
        matches!(peer.pin, Pin::PidFd(_)),
        "kernel 6.5+ gives SO_PEERPIDFD"
    );
    let attrs = Attestor::default().attest(&peer, true).unwrap();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(attrs.binary_path.as_deref(), Some(exe.to_str().unwrap()));
    let want = hex::encode(Sha256::digest(std::fs::read(&exe).unwrap()));
    assert_eq!(attrs.binary_sha256.as_deref(), Some(want.as_str()));
    assert!(!attrs.cgroups.is_empty());
}

#[test]
fn caller_in_another_cgroup_and_uid_is_seen_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, sock) = listener(tmp.path());
    let cg = TestCgroup::create("identity-attest").unwrap();
    let mut c = child(&sock, Some(65534));
    cg.add(c.id()).unwrap();
    go(&mut c);
    let (conn, _) = l.accept().unwrap();
    wait_connected(&mut c);
    let peer = PeerCredentials::of_socket(conn.as_fd()).unwrap();
    assert_eq!(peer.pid, c.id());
    let attrs = Attestor::default().attest(&peer, false).unwrap();
    assert_eq!((attrs.uid, attrs.gid), (65534, 0));
    assert!(
        attrs.cgroups.iter().any(|c| c == cg.path()),
        "{:?} lacks {}",
        attrs.cgroups,
        cg.path()
    );
    assert!(attrs.binary_path.unwrap().contains("python3"));
    assert!(attrs.container.is_none());
    go(&mut c);
    c.wait().unwrap();
}

#[test]
fn exited_caller_whose_pid_may_be_reused_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, sock) = listener(tmp.path());
    let mut c = child(&sock, None);
    go(&mut c);
    let (conn, _) = l.accept().unwrap();
    wait_connected(&mut c);
    let peer = PeerCredentials::of_socket(conn.as_fd()).unwrap();
    assert!(peer.is_alive());
    go(&mut c);
    c.wait().unwrap(); // reaped: the pid is free for reuse now
    assert!(!peer.is_alive());
    let err = Attestor::default().attest(&peer, false).unwrap_err();
    assert!(matches!(err, AttestError::ProcessGone { .. }), "{err}");
}

#[test]
fn forged_mountinfo_does_not_change_the_attested_cgroup() {
    // A caller that bind-mounts a fake cgroup tree in its own mount namespace
    // changes what /proc/PID/mountinfo shows, never /proc/PID/cgroup.
    let tmp = tempfile::tempdir().unwrap();
    let (l, sock) = listener(tmp.path());
    let cg = TestCgroup::create("identity-mountinfo").unwrap();
    let script = format!(
        "mkdir -p {d}/fake && mount -t tmpfs fake {d}/fake && mount --bind {d}/fake /sys/fs/cgroup && exec python3 -c '{CLIENT}' {s}",
        d = tmp.path().display(),
        s = sock.display()
    );
    let mut c = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    cg.add(c.id()).unwrap();
    go(&mut c);
    let (conn, _) = l.accept().unwrap();
    wait_connected(&mut c);
    let peer = PeerCredentials::of_socket(conn.as_fd()).unwrap();
    let mountinfo = std::fs::read_to_string(format!("/proc/{}/mountinfo", peer.pid)).unwrap();
    assert!(mountinfo.contains("fake"), "the child did forge its mounts");
    let attrs = Attestor::default().attest(&peer, false).unwrap();
    assert!(
        attrs.cgroups.iter().any(|c| c == cg.path()),
        "{:?}",
        attrs.cgroups
    );
    go(&mut c);
    c.wait().unwrap();
}
