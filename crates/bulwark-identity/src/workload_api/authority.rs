//! Makes gRPC clients that send a socket path as `:authority` usable.
//!
//! grpc-core based clients (Python's grpcio, and so the `spiffe` package on
//! PyPI; also grpc-java and grpc-swift) send the percent-encoded Unix socket
//! path as the HTTP/2 `:authority` of every request. The `h2` crate under
//! tonic rejects such an authority as malformed and resets the stream
//! (hyperium/h2#487, grpc/grpc#38142), so those clients could not talk to the
//! Workload API at all. The authority means nothing on a Unix socket; this
//! filter sits on the client-to-server byte stream, decodes each request's
//! header block (HPACK, with the connection's dynamic table), replaces
//! `:authority` with `localhost` and re-encodes it. Every other frame passes
//! through untouched.

use fluke_hpack::{Decoder, Encoder};

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The server's SETTINGS_MAX_FRAME_SIZE (h2's default, which tonic keeps).
const MAX_FRAME: usize = 16_384;
/// Largest header block accepted (all CONTINUATIONs together).
const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// Why the byte stream is not HTTP/2 this filter can handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    #[error("HTTP/2 frame of {0} bytes is larger than the {MAX_FRAME} the server allows")]
    FrameTooLarge(usize),
    #[error("HTTP/2 header block larger than {MAX_HEADER_BLOCK} bytes")]
    HeaderBlockTooLarge,
    #[error("malformed HTTP/2 HEADERS frame")]
    Malformed,
    #[error("HPACK decoding failed: {0}")]
    Hpack(String),
}

/// A pending header block (HEADERS plus CONTINUATIONs).
struct Pending {
    stream_id: [u8; 4],
    flags: u8,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// The client-to-server rewriting state of one connection.
pub struct AuthorityFilter {
    preface_left: usize,
    input: Vec<u8>,
    pending: Option<Pending>,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
}

impl Default for AuthorityFilter {
    fn default() -> Self {
        AuthorityFilter {
            preface_left: PREFACE_LEN,
            input: Vec::new(),
            pending: None,
            decoder: Decoder::new(),
            encoder: Encoder::new(),
        }
    }
}

impl AuthorityFilter {
    /// Feeds bytes read from the client; appends what the server should see.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), AuthorityError> {
        let mut bytes = bytes;
        if self.preface_left > 0 {
            let n = self.preface_left.min(bytes.len());
            out.extend_from_slice(&bytes[..n]);
            self.preface_left -= n;
            bytes = &bytes[n..];
        }
        self.input.extend_from_slice(bytes);
        let mut used = 0;
        while let Some(len) = self.next_frame_len(used)? {
            let frame = self.input[used..used + len].to_vec();
            self.frame(&frame, out)?;
            used += len;
        }
        self.input.drain(..used);
        Ok(())
    }

    /// The length of the complete frame at `at`, if all of it has arrived.
    fn next_frame_len(&self, at: usize) -> Result<Option<usize>, AuthorityError> {
        let rest = &self.input[at..];
        if rest.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let payload = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        if payload > MAX_FRAME {
            return Err(AuthorityError::FrameTooLarge(payload));
        }
        let len = FRAME_HEADER_LEN + payload;
        Ok((rest.len() >= len).then_some(len))
    }

    fn frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), AuthorityError> {
        let (kind, flags) = (frame[3], frame[4]);
        let stream_id = [frame[5], frame[6], frame[7], frame[8]];
        let payload = &frame[FRAME_HEADER_LEN..];
        match kind {
            HEADERS => {
                let (priority, fragment) = split_headers_payload(flags, payload)?;
                self.pending = Some(Pending {
                    stream_id,
                    flags,
                    priority,
                    block: fragment.to_vec(),
                });
            }
            CONTINUATION if self.pending.is_some() => {
                if let Some(p) = &mut self.pending {
                    p.block.extend_from_slice(payload);
                    p.flags |= flags & END_HEADERS;
                }
            }
            _ => {
                out.extend_from_slice(frame);
                return Ok(());
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.block.len() > MAX_HEADER_BLOCK)
        {
            return Err(AuthorityError::HeaderBlockTooLarge);
        }
        match self.pending.take() {
            Some(p) if p.flags & END_HEADERS != 0 => self.emit(p, out),
            other => {
                self.pending = other;
                Ok(())
            }
        }
    }

    fn emit(&mut self, p: Pending, out: &mut Vec<u8>) -> Result<(), AuthorityError> {
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        self.decoder
            .decode_with_cb(&p.block, |name, value| {
                let value = if name.as_ref() == b":authority" {
                    b"localhost".to_vec()
                } else {
                    value.into_owned()
                };
                headers.push((name.into_owned(), value));
            })
            .map_err(|e| AuthorityError::Hpack(format!("{e:?}")))?;
        let mut block = p.priority.map(|pr| pr.to_vec()).unwrap_or_default();
        block.extend(
            self.encoder
                .encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))),
        );
        let flags = (p.flags & (END_STREAM | PRIORITY)) | END_HEADERS;
        write_frames(&p.stream_id, flags, &block, out);
        Ok(())
    }
}

/// The priority fields and the header block fragment of a HEADERS payload.
fn split_headers_payload(
    flags: u8,
    payload: &[u8],
) -> Result<(Option<[u8; 5]>, &[u8]), AuthorityError> {
    let mut p = payload;
    let mut pad = 0usize;
    if flags & PADDED != 0 {
        let (&n, rest) = p.split_first().ok_or(AuthorityError::Malformed)?;
        pad = usize::from(n);
        p = rest;
    }
    let priority = if flags & PRIORITY != 0 {
        let fields: [u8; 5] = p
            .get(..5)
            .and_then(|s| s.try_into().ok())
            .ok_or(AuthorityError::Malformed)?;
        p = &p[5..];
        Some(fields)
    } else {
        None
    };
    let end = p.len().checked_sub(pad).ok_or(AuthorityError::Malformed)?;
    Ok((priority, &p[..end]))
}

/// One HEADERS frame, split into CONTINUATIONs past the maximum frame size.
fn write_frames(stream_id: &[u8; 4], flags: u8, block: &[u8], out: &mut Vec<u8>) {
    let mut chunks = block.chunks(MAX_FRAME).peekable();
    let mut first = true;
    if block.is_empty() {
        write_frame(HEADERS, flags, stream_id, &[], out);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let kind = if first { HEADERS } else { CONTINUATION };
        let mut f = if first { flags & !END_HEADERS } else { 0 };
        if last {
            f |= END_HEADERS;
        }
        write_frame(kind, f, stream_id, chunk, out);
        first = false;
    }
}

fn write_frame(kind: u8, flags: u8, stream_id: &[u8; 4], payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(stream_id);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests;
