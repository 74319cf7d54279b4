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
//! - connect: socket+connect+close to an allowed TCP peer (cgroup connect4);
//!   closed with RST so 21,000 connects leave no ports in TIME_WAIT.
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

const ROUNDS: usize = 15;
const FIRST_EXECS: usize = 40;

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

/// One probe run: the mean ns per call, each call's ns (up to 5,000
/// calls), and the per-call median.
struct Run {
    mean: f64,
    calls: Vec<f64>,
    p50: f64,
}

fn ns(c: &Container, args: &[&str]) -> Run {
    let mut v = vec!["/usr/local/bin/probe"];
    v.extend_from_slice(args);
    let out = c.exec(v).unwrap();
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(
        f.len() >= 7 && f[0] == "ns" && f[3] == "0",
        "probe: {out:?}"
    );
    let (calls, p50) = match f[4] {
        "lat" => {
            let calls: Vec<f64> = f[5..].iter().map(|t| t.parse().unwrap()).collect();
            let p50 = percentile(calls.clone(), 0.5);
            (calls, p50)
        }
        "pct" => (Vec::new(), f[5].parse().unwrap()),
        other => panic!("probe: unexpected {other:?}"),
    };
    Run {
        mean: f[1].parse().unwrap(),
        calls,
        p50,
    }
}

/// A TCP listener on an ephemeral loopback port with `backlog`.
fn listener(backlog: nix::sys::socket::Backlog) -> TcpListener {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, listen, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, 1, 0),
    )
    .unwrap();
    listen(&fd, backlog).unwrap();
    TcpListener::from(fd)
}

fn median(v: Vec<f64>) -> f64 {
    percentile(v, 0.5)
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

fn main() {
    // connect+close: a full accept queue drops SYNs (1 s retransmits would
    // swamp the mean), so the backlog is SOMAXCONN, not std's 128, and the
    // loop accepts without a thread per connection. Each connection is dropped when the next one arrives, after
    // the client reset it.
    let tcp = listener(nix::sys::socket::Backlog::MAXCONN);
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut previous = None;
        for s in tcp.incoming() {
            previous = s.ok().or(previous);
        }
        drop(previous);
    });
    // Stream: one connection per round, drained.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in sink.incoming().flatten() {
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
        ports: [{tcp_port}, {sink_port}]
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
    let (tp, sp, up) = (
        tcp_port.to_string(),
        sink_port.to_string(),
        udp_port.to_string(),
    );
    type Case<'a> = (&'a str, Box<dyn Fn(&Container, usize, &str) -> Run + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "exec (cached), per exec",
            Box::new(|c, _, _| ns(c, &["bench-exec", "200", "/opt/t/t0"])),
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
            Box::new(|c, _, _| ns(c, &["bench-connect", "1500", "127.0.0.1", &tp])),
        ),
        (
            "sendto 64 B loop, per datagram",
            Box::new(|c, _, _| ns(c, &["bench-sendto", "100000", "127.0.0.1", &up])),
        ),
        (
            "TCP stream, per 64 KiB write",
            Box::new(|c, _, _| ns(c, &["bench-stream", "10000", "127.0.0.1", &sp])),
        ),
    ];
    println!(
        "| measurement | no agent (median of {ROUNDS} means) | Protect | added | ratio of means | ratio of per-call medians |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut spread = Vec::new();
    for (name, run) in &cases {
        let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut p50_ratios = Vec::new();
        let (mut calls_a, mut calls_b) = (Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            // Alternate which side goes first, so drift hits both alike.
            let (x, y) = if r % 2 == 0 {
                let x = run(&base, r, "a");
                (x, run(&prot, r, "b"))
            } else {
                let y = run(&prot, r, "b");
                (run(&base, r, "a"), y)
            };
            ratios.push(y.mean / x.mean);
            p50_ratios.push(y.p50 / x.p50);
            a.push(x.mean);
            b.push(y.mean);
            calls_a.extend(x.calls);
            calls_b.extend(y.calls);
        }
        let (ma, mb) = (median(a), median(b));
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {:+.2} µs | {:.3} | {:.3} |",
            ma / 1000.0,
            mb / 1000.0,
            (mb - ma) / 1000.0,
            median(ratios),
            median(p50_ratios)
        );
        if !calls_a.is_empty() && !calls_b.is_empty() {
            spread.push((name, calls_a, calls_b));
        }
    }
    println!();
    println!(
        "| per call (all rounds pooled) | calls per side | no agent p50 / p99 | Protect p50 / p99 |"
    );
    println!("| --- | --- | --- | --- |");
    for (name, ca, cb) in spread {
        println!(
            "| {name} | {} | {} / {} µs | {} / {} µs |",
            ca.len().min(cb.len()),
            us(percentile(ca.clone(), 0.5)),
            us(percentile(ca, 0.99)),
            us(percentile(cb.clone(), 0.5)),
            us(percentile(cb, 0.99)),
        );
    }
    let id = bulwark_core::ContainerId::new(prot.id()).unwrap();
    let l = h
        .enforcer
        .protection(&id)
        .and_then(|p| p.decision_latency)
        .expect("the protected container has a guard");
    println!(
        "\nAgent side, every exec decision of the protected container (event read -> answer \
         written): {} decisions, p50 {} µs, p99 {} µs, max {} µs (bucket upper bounds)",
        l.count,
        us(l.p50_ns as f64),
        us(l.p99_ns as f64),
        us(l.max_ns as f64)
    );
    let denied = h.sink.denials().len();
    assert_eq!(denied, 0, "the benchmark's own actions must all be allowed");
    drop(base);
    drop(prot);
}
