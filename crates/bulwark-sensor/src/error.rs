use std::io;
use std::path::PathBuf;

/// Why the sensor could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("the sensor needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN); running as uid {uid}")]
    NotRoot { uid: u32 },
    #[error("mounting {fs} at {path}")]
    Mount {
        fs: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("loading the eBPF object")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {program} is missing from the object")]
    MissingProgram { program: &'static str },
    #[error("eBPF map {map} is missing from the object")]
    MissingMap { map: &'static str },
    #[error("eBPF map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("required hook {program} failed: {detail}")]
    Hook {
        program: &'static str,
        detail: String,
    },
    #[error("ring buffer size {bytes} must be a power of two and a multiple of the page size")]
    RingSize { bytes: u32 },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("starting the {thread} thread")]
    Thread {
        thread: &'static str,
        #[source]
        source: io::Error,
    },
}
