//! A thread that drains one eBPF ring buffer and hands each record to a
//! handler; used for the network refusals and the fileless-exec records.

use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use aya::maps::{MapData, RingBuf};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Called with each record (the ring buffer slot is released afterwards),
/// and once per poll round with `None` (for periodic checks such as loss
/// counters).
pub type Handler = Box<dyn FnMut(Option<&[u8]>) + Send>;

/// The reader thread; dropping it drains what is left and stops the thread.
#[derive(Debug)]
pub struct RingReader {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl RingReader {
    pub fn start(
        name: &str,
        ring: RingBuf<MapData>,
        handler: Handler,
    ) -> std::io::Result<RingReader> {
        let (rx, tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || read_loop(ring, rx, handler))?;
        Ok(RingReader {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = nix::unistd::write(&tx, b"x");
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn drain(ring: &mut RingBuf<MapData>, handler: &mut Handler) {
    while let Some(item) = ring.next() {
        let record = item.to_vec();
        drop(item);
        handler(Some(&record));
    }
    handler(None);
}

fn read_loop(mut ring: RingBuf<MapData>, stop: OwnedFd, mut handler: Handler) {
    loop {
        drain(&mut ring, &mut handler);
        let mut fds = [
            PollFd::new(ring.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => {
                tracing::error!("polling a ring buffer: {e}");
                return;
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            drain(&mut ring, &mut handler);
            return;
        }
    }
}
