//! What the runtime sensor costs the workloads it watches, and what it
//! costs itself. `cargo bench -p bulwark --bench sensor_overhead` (root,
//! runc, busybox-static, gcc; a few minutes).
//!
//! A static load generator (benches/support/load.c) runs inside a real runc
//! container and times its own loops; the real `bulwark agent --events`
//! (stdout to /dev/null, so every event is still serialised) runs or not.
//!
//! 1. Overhead: two real workloads (busybox httpd serving a wget client,
//!    a tar | gzip | md5sum pipeline) and exec-, connect- and open-heavy
//!    loops, agent running vs not, alternated over several rounds (the
//!    order flips every round); median ratios with/without of the loop's
//!    wall time, of the CPU time charged to the container's cgroup (the
//!    eBPF programs run in the traced tasks' context), and of that plus the
//!    agent's own CPU. The CPU ratios hold up on a machine shared with
//!    other work; the wall ratio does not.
//! 2. Cost: agent CPU (% of one core) and RSS while the container opens
//!    files at 1k, 10k and 100k events/s, read from `/proc/PID`.
//! 3. Headroom: the highest open rate with zero counted drops, read from
//!    the agent's own metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark aborts on setup errors"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::{Access, Container};

const ROUNDS: usize = 5;

fn main() {
    let load = build_load();
    let c = Container::builder("bench")
        .bind(&load, "/mnt/load", Access::ReadOnly)
        .file("/www/index.html", "hello from the benchmark\n", 0o644)
        .args(["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"])
        .start()
        .unwrap();
    println!(
        "machine: nproc {}, {}, kernel {}",
        nproc(),
        cpu_model(),
        kernel()
    );
    overhead(&c);
    cost(&c);
    headroom(&c);
    saturation(&c);
}

/// One run of the generator in the container.
struct Run {
    ops: u64,
    /// Wall time of the generator's loop.
    secs: f64,
    /// CPU time charged to the container's cgroup (every process in it,
    /// kernel time of the eBPF programs included) over the `runc exec`.
    cpu: f64,
}

fn run(c: &Container, args: &[&str]) -> Run {
    let mut argv = vec!["/mnt/load"];
    argv.extend_from_slice(args);
    let cpu0 = container_cpu(c);
    let out = c.exec(&argv).unwrap();
    let cpu = container_cpu(c) - cpu0;
    assert!(out.status.success(), "load {args:?}: {}", out.stderr);
    let field = |k: &str| -> u64 {
        out.stdout
            .split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {:?}", out.stdout))
    };
    Run {
        ops: field("ops="),
        secs: field("ns=") as f64 / 1e9,
        cpu,
    }
}

/// `usage_usec` of the container's cgroup v2, in seconds.
fn container_cpu(c: &Container) -> f64 {
    let stat = std::fs::read_to_string(c.cgroup_v2_dir().unwrap().join("cpu.stat")).unwrap();
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap()
        / 1e6
}

fn overhead(c: &Container) {
    let workloads: [(&str, &[&str], Vec<&str>); 6] = [
        (
            "web: busybox httpd + wget client, 300 requests",
            &[],
            vec![
                "cmd",
                "300",
                "/usr/bin/wget",
                "-q",
                "-O",
                "/dev/null",
                "http://127.0.0.1:8080/index.html",
            ],
        ),
        (
            "shell: pipeline tar cf - /bin /etc, gzip -1, md5sum; 40 times",
            &[],
            vec![
                "cmd",
                "40",
                "/bin/sh",
                "-c",
                "tar cf - /bin /etc | gzip -1 | md5sum >/dev/null",
            ],
        ),
        ("exec (fork + exec /bin/true)", &[], vec!["exec", "1500"]),
        (
            "connect (loopback TCP connect + accept + close)",
            &[],
            vec!["connect", "20000"],
        ),
        (
            "open (open + close /etc/passwd)",
            &[],
            vec!["open", "400000", "/etc/passwd"],
        ),
        (
            "open, agent with `--open writes` (read-only opens not reported)",
            &["--open", "writes"],
            vec!["open", "400000", "/etc/passwd"],
        ),
    ];
    println!(
        "\n| workload | ops/s without agent | ops/s with agent | wall time ratio | container CPU ratio | (container + agent) CPU ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, flags, args) in workloads {
        run(c, &args); // warm up caches
        let mut m = Measures::default();
        for round in 0..ROUNDS {
            let watched_run = || {
                let agent = Agent::start(flags);
                let cpu0 = agent.cpu_seconds();
                let r = run(c, &args);
                let agent_cpu = agent.cpu_seconds() - cpu0;
                agent.stop();
                (r, agent_cpu)
            };
            let (base, (watched, agent_cpu)) = if round % 2 == 0 {
                let base = run(c, &args);
                (base, watched_run())
            } else {
                let watched = watched_run();
                (run(c, &args), watched)
            };
            m.without.push(base.ops as f64 / base.secs);
            m.with.push(watched.ops as f64 / watched.secs);
            m.wall.push(watched.secs / base.secs);
            m.cpu.push(watched.cpu / base.cpu);
            m.total.push((watched.cpu + agent_cpu) / base.cpu);
        }
        println!(
            "| {name} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} |",
            median(&mut m.without),
            median(&mut m.with),
            median(&mut m.wall),
            median(&mut m.cpu),
            median(&mut m.total)
        );
    }
}

/// One value per round; the medians are printed.
#[derive(Default)]
struct Measures {
    without: Vec<f64>,
    with: Vec<f64>,
    wall: Vec<f64>,
    cpu: Vec<f64>,
    total: Vec<f64>,
}

fn cost(c: &Container) {
    let agent = Agent::start(&[]);
    println!(
        "\n| target rate (opens/s) | achieved events/s delivered | agent CPU (% of one core) | agent RSS (MiB) | dropped |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for rate in [1_000u64, 10_000, 100_000] {
        let (cpu0, delivered0, drops0) = (agent.cpu_seconds(), agent.delivered(), agent.drops());
        let t0 = Instant::now();
        run(c, &["rate-open", &rate.to_string(), "5", "/etc/passwd"]);
        std::thread::sleep(Duration::from_millis(300)); // let the agent catch up
        let wall = t0.elapsed().as_secs_f64();
        let (cpu, delivered, drops) = (
            agent.cpu_seconds() - cpu0,
            agent.delivered() - delivered0,
            agent.drops() - drops0,
        );
        println!(
            "| {rate} | {:.0} | {:.1} | {:.1} | {drops} |",
            delivered as f64 / 5.0,
            100.0 * cpu / wall,
            agent.rss_bytes() as f64 / (1024.0 * 1024.0)
        );
    }
    agent.stop();
}

fn headroom(c: &Container) {
    let agent = Agent::start(&[]);
    println!("\n| offered open rate (/s) | achieved (/s) | dropped in 3 s (hop/type: count) |");
    println!("| --- | --- | --- |");
    for rate in [50_000u64, 100_000, 150_000, 200_000, 300_000, 400_000] {
        let drops0 = agent.drops();
        let Run { ops, secs, .. } = run(c, &["rate-open", &rate.to_string(), "3", "/etc/passwd"]);
        std::thread::sleep(Duration::from_millis(500));
        let dropped = agent.drops() - drops0;
        println!(
            "| {rate} | {:.0} | {dropped} {} |",
            ops as f64 / secs,
            agent.drops_by_hop()
        );
        if dropped > 0 && ops as f64 / secs < rate as f64 * 0.9 {
            break;
        }
    }
    let drops0 = agent.drops();
    let Run { ops, secs, .. } = run(c, &["open", "1000000", "/etc/passwd"]);
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "| unpaced | {:.0} | {} {} |",
        ops as f64 / secs,
        agent.drops() - drops0,
        agent.drops_by_hop()
    );
    agent.stop();
}

/// Saturation on purpose: a 64 KiB ring and a 256-record queue under an
/// unpaced open loop. Every record the kernel emitted must come out as
/// delivered or counted as dropped (the agent's final account).
fn saturation(c: &Container) {
    let agent = Agent::start(&["--ring-bytes", "65536", "--queue", "256"]);
    let Run { ops, secs, .. } = run(c, &["open", "1000000", "/etc/passwd"]);
    let by_hop = agent.drops_by_hop();
    let account = agent.stop();
    println!("\nsaturation (--ring-bytes 65536 --queue 256, unpaced opens):");
    println!("  {:.0} opens/s; drops by hop: {by_hop}", ops as f64 / secs);
    println!("  agent's final account: {account}");
}

struct Agent {
    child: Child,
    metrics: String,
    /// The agent's stderr after the metrics line, read by a thread (so the
    /// agent never blocks on it) until it exits.
    stderr: std::thread::JoinHandle<String>,
}

impl Agent {
    fn start(flags: &[&str]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .args(["agent", "--events", "--metrics", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let metrics = loop {
            line.clear();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "agent exited before serving metrics"
            );
            if let Some(rest) = line.trim().strip_prefix("bulwark: metrics on http://") {
                break rest.trim_end_matches("/metrics").to_owned();
            }
        };
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        // Let the start-up scan of running containers finish first.
        std::thread::sleep(Duration::from_millis(500));
        Agent {
            child,
            metrics,
            stderr,
        }
    }

    /// Stops the agent; returns its final account of delivered and lost
    /// records.
    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(self.child.wait().unwrap().success());
        let stderr = self.stderr.join().unwrap();
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("bulwark: sensor stopped: "))
            .unwrap_or_else(|| panic!("no final account in {stderr}"))
            .to_owned()
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap()
    }

    /// utime + stime, in seconds (USER_HZ = 100).
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .collect();
        (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
    }

    fn rss_bytes(&self) -> u64 {
        let status = self.proc_file("status");
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap();
        kb * 1024
    }

    fn scrape(&self) -> String {
        let mut s = TcpStream::connect(&self.metrics).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn sum(&self, family: &str, skip: &str) -> u64 {
        self.scrape()
            .lines()
            .filter(|l| l.starts_with(family) && (skip.is_empty() || !l.contains(skip)))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
            .sum()
    }

    /// Non-zero drop counters, `hop/type: n`, comma separated.
    fn drops_by_hop(&self) -> String {
        let parts: Vec<String> = self
            .scrape()
            .lines()
            .filter_map(|l| l.strip_prefix("bulwark_sensor_dropped_total{hop=\""))
            .filter_map(|l| {
                let (labels, n) = l.rsplit_once(' ')?;
                let (hop, kind) = labels.split_once("\",type=\"")?;
                let n: u64 = n.parse().ok()?;
                (n > 0).then(|| format!("{hop}/{}: {n}", kind.trim_end_matches("\"}")))
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(", "))
        }
    }

    fn drops(&self) -> u64 {
        self.sum("bulwark_sensor_dropped_total{", "hop=\"recorded\"")
    }

    fn delivered(&self) -> u64 {
        self.sum("bulwark_sensor_events_total{", "")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The static load generator, built once per source version.
fn build_load() -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/support/load.c");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sensor-bench-load");
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(src)
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "gcc -static {src} failed (build-essential, libc6-dev)"
    );
    out
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default()
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}
