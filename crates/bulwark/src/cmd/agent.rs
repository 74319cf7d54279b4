//! `bulwark agent`: run the runtime sensor until SIGINT/SIGTERM (or
//! `--duration`), printing events as JSON lines (`--events`), health alerts
//! as JSON lines on stderr, and serving Prometheus metrics (`--metrics`).

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::Context;
use bulwark_sensor::metrics::{self, MetricsServer};
use bulwark_sensor::{EventStream, Filter, JsonLines, OpenMode, Sensor, SensorConfig};
use nix::sys::signal::{SigSet, Signal};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    events: bool,
    /// Which tasks the kernel reports.
    #[arg(long, value_enum, default_value_t = FilterArg::Containers)]
    filter: FilterArg,
    /// Also report tasks in (or below) this cgroup v2 id; repeatable.
    #[arg(long = "watch-cgroup", value_name = "ID")]
    watch: Vec<u64>,
    /// Which file opens the kernel reports.
    #[arg(long, value_enum, default_value_t = OpenArg::All)]
    open: OpenArg,
    /// Kernel ring buffer size in bytes: a power of two, at least 4096.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    ring_bytes: u32,
    /// Records queued between the sensor and the output before dropping.
    #[arg(long, value_name = "RECORDS", default_value_t = 16_384)]
    queue: usize,
    /// Serve Prometheus metrics on http://ADDR/metrics (port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    #[command(flatten)]
    nanoseg: super::nanoseg::ProfilesArgs,
    #[command(flatten)]
    link: super::server_link::LinkArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FilterArg {
    /// Tasks outside the host pid namespace (all containers).
    Containers,
    /// Every task but the agent.
    All,
    /// Only tasks in cgroups given with --watch-cgroup.
    Watched,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OpenArg {
    All,
    /// Only opens for writing, creating or truncating.
    Writes,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(Arc::clone(&stop))?;
    let cfg = SensorConfig {
        filter: match args.filter {
            FilterArg::Containers => Filter::Containers,
            FilterArg::All => Filter::All,
            FilterArg::Watched => Filter::Watched,
        },
        open_mode: match args.open {
            OpenArg::All => OpenMode::All,
            OpenArg::Writes => OpenMode::Writes,
        },
        ring_bytes: args.ring_bytes,
        watched_cgroups: args.watch.clone(),
        queue_capacity: args.queue,
        ..SensorConfig::default()
    };
    // Without --profiles there are no alerts, but the link still
    // heartbeats for as long as its sink is held.
    let (applier, inbox) =
        super::server_updates::applier(&args.nanoseg.data, args.nanoseg.enabled());
    let link = args.link.start(
        &args.nanoseg.data,
        Arc::new(applier),
        args.nanoseg.enabled(),
    )?;
    let (uplink, link_done, reporter) = match link {
        Some(l) => (Some(l.sink), Some(l.done), Some(l.reporter)),
        None => (None, None, None),
    };
    let (to_profiles, heartbeat_only) = if args.nanoseg.enabled() {
        (uplink, None)
    } else {
        (None, uplink)
    };
    let mut profiles = args.nanoseg.start(
        to_profiles.map(|s| Box::new(s) as Box<dyn bulwark_alert::Sink>),
        inbox,
    )?;
    let (sensor, stream) = Sensor::start(cfg).context("starting the sensor")?;
    if let Some(r) = &reporter {
        r.count(stream.stats());
    }
    let _metrics = match args.metrics {
        Some(addr) => Some(serve_metrics(addr, &sensor)?),
        None => None,
    };
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let stdout = std::io::stdout();
    let events = args.events.then(|| BufWriter::new(stdout.lock()));
    let mut sink = JsonLines::new(events, std::io::stderr());
    let stats = Arc::clone(stream.stats());
    consume(
        &stream,
        &mut sink,
        profiles.as_mut(),
        reporter.as_ref(),
        &stop,
        deadline,
    );
    // Stop in the background while the rest of the stream is written out.
    let stopper = std::thread::spawn(move || sensor.stop());
    for record in stream {
        if let Some(p) = profiles.as_mut() {
            p.record(&record);
        }
        if let Some(r) = &reporter {
            r.record(&record);
        }
        if sink.write(&record, &stats).is_err() {
            break;
        }
    }
    if let Some(p) = profiles {
        let s = p.finish()?;
        eprintln!(
            "bulwark: profiles: {} events, {} alerts, {} changes audited",
            s.events, s.alerts, s.changes
        );
    }
    let _ = sink.flush();
    drop(heartbeat_only);
    if let Some(done) = link_done
        && !done.wait(args.link.flush_timeout())
    {
        eprintln!(
            "bulwark: the server did not acknowledge the last report in time; its alerts are not delivered"
        );
    }
    stopper
        .join()
        .map_err(|_| anyhow::anyhow!("the sensor's stop panicked"))?
        .context("stopping the sensor")?;
    let s = stats.snapshot();
    eprintln!(
        "bulwark: sensor stopped: {} records from the kernel, {} events delivered, {} lost, {} unaccounted",
        s.emitted_total(),
        s.delivered_total(),
        s.dropped_total(),
        s.unaccounted()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes records until stopped, the deadline passes or stdout closes.
fn consume<W: Write, H: Write>(
    stream: &EventStream,
    sink: &mut JsonLines<W, H>,
    mut profiles: Option<&mut super::nanoseg::Runner>,
    reporter: Option<&super::server_link::Reporter>,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) {
    let stats = Arc::clone(stream.stats());
    let mut unflushed = 0usize;
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        match stream.recv_timeout(Duration::from_millis(200)) {
            Ok(record) => {
                if let Some(p) = profiles.as_deref_mut() {
                    p.record(&record);
                }
                if let Some(r) = reporter {
                    r.record(&record);
                }
                unflushed += 1;
                if sink.write(&record, &stats).is_err()
                    || (unflushed >= 256 && sink.flush().is_err())
                {
                    return;
                }
                unflushed %= 256;
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(p) = profiles.as_deref_mut() {
                    p.idle();
                }
                unflushed = 0;
                if sink.flush().is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn serve_metrics(addr: SocketAddr, sensor: &Sensor) -> anyhow::Result<MetricsServer> {
    let stats = Arc::clone(sensor.stats());
    let hooks: Vec<(&'static str, bool)> = sensor
        .hooks()
        .iter()
        .map(|h| (h.hook.program, h.error.is_none()))
        .collect();
    let server = MetricsServer::start(addr, move || {
        metrics::render(&stats.snapshot(), &hooks, metrics::resource_usage())
    })
    .with_context(|| format!("serving metrics on {addr}"))?;
    eprintln!("bulwark: metrics on http://{}/metrics", server.addr());
    Ok(server)
}

/// SIGINT and SIGTERM set `stop` (blocked here, waited for in a thread,
/// so every thread started later inherits the block).
fn stop_on_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().context("blocking SIGINT/SIGTERM")?;
    std::thread::Builder::new()
        .name("bulwark-signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
