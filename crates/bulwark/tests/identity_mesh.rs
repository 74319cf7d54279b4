//! The whole stack as a user runs it: `bulwark identity ca init`, `entry add`,
//! `identity serve`, and two `bulwark proxy` processes that get their SVIDs
//! from the Workload API, each attested by the cgroup it was started in.
//! Needs root (cgroups).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::TestCgroup;

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bulwark(data: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .arg("identity")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `bulwark ARGS` already inside `cgroup` (it moves itself there
/// before exec, so it never runs outside it).
fn spawn_in(cgroup: &TestCgroup, args: &[String]) -> Kill {
    let procs = Path::new("/sys/fs/cgroup/unified")
        .join(cgroup.path().trim_start_matches('/'))
        .join("cgroup.procs");
    let procs = if procs.exists() {
        procs
    } else {
        Path::new("/sys/fs/cgroup")
            .join(cgroup.path().trim_start_matches('/'))
            .join("cgroup.procs")
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "echo $$ > {} && exec \"$0\" \"$@\"",
            procs.display()
        ))
        .arg(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Kill(cmd.spawn().unwrap())
}

/// Waits for `bulwark: listening on ADDR` on the child's stderr.
fn listening_addr(child: &mut Kill) -> SocketAddr {
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("bulwark: listening on ") {
            let addr = addr.parse().unwrap();
            std::thread::spawn(move || for _ in lines {});
            return addr;
        }
        assert!(
            !line.contains("error") && !line.starts_with("bulwark: no"),
            "{line}"
        );
    }
    panic!("proxy exited before listening");
}

fn entry(name: &str, id: &str, cgroup: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: {name}\nspec:\n  spiffeId: {id}\n  selectors:\n    cgroup: {cgroup}\n"
    )
}

#[test]
fn proxies_get_identities_from_the_workload_api_by_cgroup_and_authorise_by_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let web_cg = TestCgroup::create("cli-web").unwrap();
    let api_cg = TestCgroup::create("cli-api").unwrap();
    bulwark(&data, &["ca", "init", "--trust-domain", "example.org"]);
    for (name, id, cg) in [
        ("web", "spiffe://example.org/web", &web_cg),
        ("api", "spiffe://example.org/api", &api_cg),
    ] {
        let file = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&file, entry(name, id, cg.path())).unwrap();
        bulwark(&data, &["entry", "add", file.to_str().unwrap()]);
    }
    let listed = String::from_utf8(bulwark(&data, &["entry", "list"]).stdout).unwrap();
    assert!(
        listed.contains("spiffe://example.org/web") && listed.contains("spiffe://example.org/api")
    );

    let socket = tmp.path().join("workload.sock");
    let _server = Kill(
        Command::new(BIN)
            .args(["identity", "--data-dir"])
            .arg(&data)
            .args(["serve", "--socket"])
            .arg(&socket)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Workload API socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in upstream.incoming() {
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });

    let policy = tmp.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: bulwark.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: web-to-api}\nspec:\n  to: spiffe://example.org/api\n  from: [spiffe://example.org/web]\n",
    )
    .unwrap();
    let endpoint = format!("unix://{}", socket.display());
    let server_log = tmp.path().join("api-decisions.jsonl");
    let mut api = spawn_in(
        &api_cg,
        &[
            "proxy".into(),
            "--workload-api".into(),
            endpoint.clone(),
            "--inbound".into(),
            format!("127.0.0.1:0={upstream_addr}"),
            "--policy".into(),
            policy.display().to_string(),
            "--decision-log".into(),
            server_log.display().to_string(),
        ],
    );
    let inbound = listening_addr(&mut api);
    let mut web = spawn_in(
        &web_cg,
        &[
            "proxy".into(),
            "--workload-api".into(),
            endpoint,
            "--outbound".into(),
            format!("127.0.0.1:0={inbound}@spiffe://example.org/api"),
            "--decision-log".into(),
            tmp.path().join("web-decisions.jsonl").display().to_string(),
        ],
    );
    let outbound = listening_addr(&mut web);

    let mut app = TcpStream::connect(outbound).unwrap();
    app.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    app.write_all(b"ping over mTLS").unwrap();
    let mut buf = [0u8; 14];
    app.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping over mTLS");

    let log = std::fs::read_to_string(&server_log).unwrap();
    let rec: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(rec["decision"], "allow");
    assert_eq!(rec["peer_id"], "spiffe://example.org/web");
    assert_eq!(rec["local_id"], "spiffe://example.org/api");
}
