//! Accepted Unix-socket connections, with the caller's kernel credentials
//! taken at accept time (before the caller can hand the socket to anyone).

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::Connected;

use super::authority::AuthorityFilter;
use crate::attest::PeerCredentials;

/// The caller of one connection, as tonic hands it to each request.
#[derive(Debug, Clone)]
pub struct CallerInfo(pub Arc<Result<PeerCredentials, String>>);

/// A Workload API connection.
pub struct AttestedConn {
    stream: UnixStream,
    caller: CallerInfo,
    /// Client-to-server bytes pass through this (see `super::authority`).
    filter: AuthorityFilter,
    filtered: Vec<u8>,
    filtered_pos: usize,
}

impl std::fmt::Debug for AttestedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestedConn")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl AttestedConn {
    pub fn new(stream: UnixStream) -> Self {
        let creds = PeerCredentials::of_socket(stream.as_fd()).map_err(|e| e.to_string());
        AttestedConn {
            stream,
            caller: CallerInfo(Arc::new(creds)),
            filter: AuthorityFilter::default(),
            filtered: Vec::new(),
            filtered_pos: 0,
        }
    }
}

impl Connected for AttestedConn {
    type ConnectInfo = CallerInfo;

    fn connect_info(&self) -> CallerInfo {
        self.caller.clone()
    }
}

impl AsyncRead for AttestedConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.filtered_pos < this.filtered.len() {
                let ready = &this.filtered[this.filtered_pos..];
                let n = ready.len().min(buf.remaining());
                buf.put_slice(&ready[..n]);
                this.filtered_pos += n;
                if this.filtered_pos == this.filtered.len() {
                    this.filtered.clear();
                    this.filtered_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut raw = [0u8; 8192];
            let mut raw_buf = ReadBuf::new(&mut raw);
            std::task::ready!(Pin::new(&mut this.stream).poll_read(cx, &mut raw_buf))?;
            if raw_buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.filter
                .feed(raw_buf.filled(), &mut this.filtered)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }
}

impl AsyncWrite for AttestedConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
