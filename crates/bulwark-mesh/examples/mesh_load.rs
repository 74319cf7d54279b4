//! Fixed-rate HTTP/1.1 load for `bench/mesh.sh`: request `i` is due at
//! `start + i / RPS` and its latency is measured from that due time, so a
//! slow response that delays later sends is counted against them too (no
//! coordinated omission). Keep-alive connections, used round-robin, each
//! warmed up by one request first (handshakes are not measured).
//!
//! `mesh_load HOST:PORT RPS SECONDS CONNECTIONS` prints one JSON object:
//! count, errors, p50/p90/p99/p999/max in microseconds, and the CPU time
//! this client used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/// Sleeps until `due` (the last stretch spinning, so wake-up slack does
/// not land in the measured latency).
fn wait_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(80);
    let now = Instant::now();
    if due > now + SPIN {
        std::thread::sleep(due - now - SPIN);
    }
    while Instant::now() < due {
        std::hint::spin_loop();
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body; `buf` keeps
/// whatever arrived after it.
fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            if !head.starts_with("HTTP/1.1 200") {
                return Err(std::io::Error::other(format!(
                    "unexpected response: {}",
                    head.lines().next().unwrap_or("")
                )));
            }
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + len;
            if buf.len() >= total {
                buf.drain(..total);
                return Ok(());
            }
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the comm).
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => 0.0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, rps, secs, conns] = args.as_slice() else {
        eprintln!("usage: mesh_load HOST:PORT RPS SECONDS CONNECTIONS");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("HOST:PORT");
    let rps: u64 = rps.parse().expect("RPS");
    let secs: f64 = secs.parse().expect("SECONDS");
    let nconn: usize = conns.parse().expect("CONNECTIONS");

    let mut conns: Vec<(TcpStream, Vec<u8>)> = (0..nconn)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            (s, Vec::new())
        })
        .collect();
    for (s, buf) in &mut conns {
        s.write_all(REQUEST).unwrap();
        read_response(s, buf).expect("warm-up request");
    }

    let total = (rps as f64 * secs) as u64;
    let interval = Duration::from_nanos(1_000_000_000 / rps.max(1));
    let mut lat_ns: Vec<u64> = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    for i in 0..total {
        let due = start + interval * i as u32;
        wait_until(due);
        let (s, buf) = &mut conns[i as usize % nconn];
        match s.write_all(REQUEST).and_then(|()| read_response(s, buf)) {
            Ok(()) => lat_ns.push(due.elapsed().as_nanos() as u64),
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    lat_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat_ns.is_empty() {
            return f64::NAN;
        }
        let i = ((p * lat_ns.len() as f64) as usize).min(lat_ns.len() - 1);
        lat_ns[i] as f64 / 1000.0
    };
    println!(
        "{{\"count\": {}, \"errors\": {errors}, \"seconds\": {elapsed:.3}, \"p50_us\": {:.1}, \"p90_us\": {:.1}, \"p99_us\": {:.1}, \"p999_us\": {:.1}, \"max_us\": {:.1}, \"client_cpu_s\": {cpu:.3}}}",
        lat_ns.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        lat_ns.last().map_or(f64::NAN, |v| *v as f64 / 1000.0),
    );
}
