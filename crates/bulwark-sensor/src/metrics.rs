//! Prometheus metrics: the text exposition (pure) and a small HTTP
//! endpoint serving it on `GET /metrics`.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stats::{Hop, LossSnapshot};
use crate::wire::ev;

/// The agent process's own cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ResourceUsage {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Reads this process's CPU time and resident memory from `/proc/self`.
pub fn resource_usage() -> Option<ResourceUsage> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    parse_usage(&stat, &statm, ticks, page)
}

/// `utime + stime` (fields 14, 15 of stat) and resident pages (field 2 of statm).
pub fn parse_usage(stat: &str, statm: &str, ticks: i64, page: i64) -> Option<ResourceUsage> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some(ResourceUsage {
        cpu_seconds: (utime + stime) / ticks,
        rss_bytes: pages.saturating_mul(u64::try_from(page).unwrap_or(4096)),
    })
}

/// The exposition text for a snapshot, the hooks' states and the usage.
pub fn render(snap: &LossSnapshot, hooks: &[(&str, bool)], usage: Option<ResourceUsage>) -> String {
    let mut out = String::new();
    let types = 1..ev::MAX;
    family(
        &mut out,
        "bulwark_sensor_events_total",
        "counter",
        "Events delivered to the consumer, by type.",
    );
    for t in types.clone().filter(|t| *t != ev::CGROUP_MKDIR) {
        let _ = writeln!(
            out,
            "bulwark_sensor_events_total{{type=\"{}\"}} {}",
            ev::name(t),
            snap.delivered[usize::from(t)]
        );
    }
    family(
        &mut out,
        "bulwark_sensor_kernel_emitted_total",
        "counter",
        "Records the kernel programs tried to send, by type.",
    );
    for t in types.clone() {
        let _ = writeln!(
            out,
            "bulwark_sensor_kernel_emitted_total{{type=\"{}\"}} {}",
            ev::name(t),
            snap.emitted[usize::from(t)]
        );
    }
    family(
        &mut out,
        "bulwark_sensor_dropped_total",
        "counter",
        "Records lost, by hop and type.",
    );
    for hop in Hop::ALL {
        let per = snap.per_hop(hop);
        for t in 0..ev::MAX {
            let n = per[usize::from(t)];
            if n > 0 || (t > 0 && hop != Hop::Recorded) {
                let _ = writeln!(
                    out,
                    "bulwark_sensor_dropped_total{{hop=\"{}\",type=\"{}\"}} {n}",
                    hop.as_str(),
                    ev::name(t)
                );
            }
        }
    }
    family(
        &mut out,
        "bulwark_sensor_attribution_misses_total",
        "counter",
        "Events from outside the host pid namespace with no container found.",
    );
    let _ = writeln!(
        out,
        "bulwark_sensor_attribution_misses_total {}",
        snap.attribution_misses
    );
    family(
        &mut out,
        "bulwark_sensor_hook_attached",
        "gauge",
        "1 if the eBPF program is attached.",
    );
    for (program, up) in hooks {
        let _ = writeln!(
            out,
            "bulwark_sensor_hook_attached{{program=\"{program}\"}} {}",
            u8::from(*up)
        );
    }
    if let Some(u) = usage {
        family(
            &mut out,
            "bulwark_agent_cpu_seconds_total",
            "counter",
            "CPU time used by the agent process.",
        );
        let _ = writeln!(out, "bulwark_agent_cpu_seconds_total {}", u.cpu_seconds);
        family(
            &mut out,
            "bulwark_agent_resident_memory_bytes",
            "gauge",
            "Resident memory of the agent process.",
        );
        let _ = writeln!(out, "bulwark_agent_resident_memory_bytes {}", u.rss_bytes);
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A running metrics endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `render()` on `GET /metrics` at `addr` (port 0 picks one).
    pub fn start<F>(addr: SocketAddr, render: F) -> io::Result<MetricsServer>
    where
        F: Fn() -> String + Send + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bulwark-metrics".into())
            .spawn(move || accept_loop(&listener, &thread_stop, &render))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, render: &dyn Fn() -> String) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(err) = answer(stream, render) {
                    tracing::debug!(%err, "metrics request failed");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(err) => {
                tracing::warn!(%err, "metrics endpoint accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// One request: at most 8 KiB of head, read within 2 s.
fn answer(mut stream: TcpStream, render: &dyn Fn() -> String) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let request_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let (status, body) = if request_line.starts_with(b"GET /metrics ")
        || request_line.starts_with(b"GET /metrics?")
    {
        ("200 OK", render())
    } else {
        ("404 Not Found", "not found\n".to_owned())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;

    #[test]
    fn usage_parses_proc_self() {
        let stat =
            "77 (bulwark agent) S 1 77 77 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 4 0 1000 1 1";
        let u = parse_usage(stat, "5000 1200 300 1 0 900 0", 100, 4096).unwrap();
        assert!((u.cpu_seconds - 2.0).abs() < 1e-9);
        assert_eq!(u.rss_bytes, 1200 * 4096);
    }

    #[test]
    fn exposition_has_families_and_labelled_samples() {
        let s = Stats::default();
        s.set_kernel(usize::from(ev::EXEC), 5, 1, 0);
        s.delivered(ev::EXEC);
        s.dropped(Hop::Queue, ev::OPEN);
        let text = render(
            &s.snapshot(),
            &[
                ("sched_process_exec", true),
                ("sys_enter_finit_module", false),
            ],
            None,
        );
        assert!(text.contains("# TYPE bulwark_sensor_events_total counter"));
        assert!(text.contains("bulwark_sensor_events_total{type=\"exec\"} 1"));
        assert!(text.contains("bulwark_sensor_kernel_emitted_total{type=\"exec\"} 5"));
        assert!(
            text.contains("bulwark_sensor_dropped_total{hop=\"kernel_ringbuf\",type=\"exec\"} 1")
        );
        assert!(text.contains("bulwark_sensor_dropped_total{hop=\"queue\",type=\"open\"} 1"));
        assert!(
            text.contains("bulwark_sensor_hook_attached{program=\"sys_enter_finit_module\"} 0")
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("bulwark_"), "{line}");
        }
    }

    #[test]
    fn endpoint_serves_metrics_and_404s_the_rest() {
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), || "m 1\n".to_owned()).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(
            ok.starts_with("HTTP/1.1 200 OK") && ok.ends_with("\r\n\r\nm 1\n"),
            "{ok}"
        );
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
