//! Protect mode's cost, measured inside real runc containers: the same
//! workload in a container without enforcement (baseline) and in one under
//! Protect, rounds interleaved, medians compared as ratios. Needs root,
//! runc, busybox-static, cc and bpffs; run with
//! `cargo bench -p bulwark-enforce --bench protect`.
//!
//! - exec, cached: fork+exec+wait of an allowed 9 KB static program, steady
//!   state (after its first decision the kernel's ignore mark answers).
//! - exec, first decision: each exec is of a program not executed before
//!   (one fanotify round trip, identity match against the index).
//! - connect: socket+connect+close to an allowed TCP peer (cgroup connect4).
//! - sendto loop: unconnected 64-byte UDP datagrams to an allowed peer, each
//!   one through cgroup sendmsg4: the worst case for allowed traffic.
//! - TCP stream: 64 KiB writes on one allowed connection (the check happens
//!   at connect; the data path is untouched): typical allowed traffic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the integration tests; the benchmark uses only part of it.
#[allow(dead_code)]
#[path = "../tests/support/collect.rs"]
mod collect;
#[allow(dead_code)]
#[path = "../tests/support/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../tests/support/probe.rs"]
mod probe;

use std::net::{TcpListener, UdpSocket};

use bulwark_testkit::{Container, ContainerBuilder, Network};
use harness::Harness;

const ROUNDS: usize = 7;
const FIRST_EXECS: usize = 60;

fn image(name: &str) -> ContainerBuilder {
    let tiny = probe::tiny();
    let mut b = Container::builder(name)
        .network(Network::Host)
        .file("/usr/local/bin/probe", probe::probe(), 0o755)
        .file("/opt/t/t0", tiny.clone(), 0o755)
        .args(["sleep", "3600"]);
    // Fresh programs for every round of first-decision execs, per side.
    for side in ["a", "b"] {
        for r in 0..ROUNDS {
            for i in 0..FIRST_EXECS {
                b = b.file(&format!("/opt/{side}{r}/t{i}"), tiny.clone(), 0o755);
            }
        }
    }
    b
}

fn ns(c: &Container, args: &[&str]) -> f64 {
    let mut v = vec!["/usr/local/bin/probe"];
    v.extend_from_slice(args);
    let out = c.exec(v).unwrap();
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(
        f.len() >= 4 && f[0] == "ns" && f[3] == "0",
        "probe: {out:?}"
    );
    f[1].parse().unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Drain what is sent (stream case); plain connects close at once.
        for mut s in tcp.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            });
        }
    });
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let policy = format!(
        "  mode: protect
  exec:
    allow:
      - path: /bin/busybox
      - path: /usr/local/bin/probe
      - path: /opt/
  network:
    egress:
      - cidr: 127.0.0.1/32
        ports: [{tcp_port}]
        protocol: tcp
      - cidr: 127.0.0.1/32
        ports: [{udp_port}]
        protocol: udp
"
    );
    let h = Harness::new(&policy);
    let base = image("bench-base").start().unwrap();
    let (prot, p) = h.protect(image("bench-protect"));
    eprintln!(
        "protected: {} programs indexed, {} mounts marked",
        p.allowed_programs,
        p.marked_mounts.len()
    );
    let (tp, up) = (tcp_port.to_string(), udp_port.to_string());
    type Case<'a> = (&'a str, Box<dyn Fn(&Container, usize, &str) -> f64 + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "exec (cached), per exec",
            Box::new(|c, _, _| ns(c, &["bench-exec", "300", "/opt/t/t0"])),
        ),
        (
            "exec (first decision), per exec",
            Box::new(|c, r, side| {
                ns(
                    c,
                    &[
                        "bench-exec-each",
                        &FIRST_EXECS.to_string(),
                        &format!("/opt/{side}{r}"),
                    ],
                )
            }),
        ),
        (
            "connect+close, per call",
            Box::new(|c, _, _| ns(c, &["bench-connect", "3000", "127.0.0.1", &tp])),
        ),
        (
            "sendto 64 B loop, per datagram",
            Box::new(|c, _, _| ns(c, &["bench-sendto", "300000", "127.0.0.1", &up])),
        ),
        (
            "TCP stream, per 64 KiB write",
            Box::new(|c, _, _| ns(c, &["bench-stream", "20000", "127.0.0.1", &tp])),
        ),
    ];
    println!(
        "| measurement | no agent (median of {ROUNDS}) | Protect (median) | added | ratio (median of per-round ratios) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, run) in &cases {
        let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            // Alternate which side goes first, so drift hits both alike.
            let (x, y) = if r % 2 == 0 {
                let x = run(&base, r, "a");
                (x, run(&prot, r, "b"))
            } else {
                let y = run(&prot, r, "b");
                (run(&base, r, "a"), y)
            };
            a.push(x);
            b.push(y);
            ratios.push(y / x);
        }
        let (ma, mb) = (median(a), median(b));
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {:+.2} µs | {:.3} |",
            ma / 1000.0,
            mb / 1000.0,
            (mb - ma) / 1000.0,
            median(ratios)
        );
    }
    let denied = h.sink.denials().len();
    assert_eq!(denied, 0, "the benchmark's own actions must all be allowed");
    drop(base);
    drop(prot);
}
