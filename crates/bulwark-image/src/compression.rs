//! Layer decompression (gzip, zstd or none, sniffed from the first bytes
//! rather than trusted from media types) with both digests computed on the
//! way: the blob digest over the compressed bytes and the diffID over the
//! uncompressed tar stream. Size and ratio limits are enforced here, inside
//! the stream, so no consumer can read past them.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use crate::digest::{Algorithm, Digest, Hasher, HashingReader};
use crate::error::ImageError;
use crate::limits::{Limit, Limits};

const BUF: usize = 256 * 1024;
/// libzstd's default window limit (128 MiB), stated so a frame asking for
/// more memory is refused whatever the library's default becomes.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// Zstandard, possibly several frames.
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the first bytes of a blob.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

type Raw<R> = BufReader<HashingReader<R>>;

#[allow(
    clippy::large_enum_variant,
    reason = "one decoder per layer; boxing the plain reader buys nothing"
)]
enum Decoder<R: Read> {
    Plain(Raw<R>),
    Gzip(Box<MultiGzDecoder<Raw<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Raw<R>>>),
}

impl<R: Read> Decoder<R> {
    fn raw(&self) -> &Raw<R> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.get_ref(),
            Decoder::Zstd(d) => d.get_ref(),
        }
    }

    fn into_raw(self) -> Raw<R> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => (*d).into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// The uncompressed tar stream of one layer, hashing both sides and
/// enforcing [`Limits::max_layer_bytes`], the image budget and the ratio.
pub(crate) struct LayerStream<R: Read> {
    decoder: Decoder<R>,
    compression: Compression,
    diff: Hasher,
    uncompressed: u64,
    max_layer: u64,
    image_budget: u64,
    max_ratio: u64,
    ratio_grace: u64,
    input: String,
}

/// What a fully read layer hashed to.
pub(crate) struct LayerDigests {
    pub blob: Digest,
    pub blob_size: u64,
    pub diff_id: Digest,
    pub uncompressed: u64,
}

impl<R: Read> LayerStream<R> {
    /// Starts decompressing `blob`; `image_budget` is what is left of
    /// [`Limits::max_image_bytes`].
    pub(crate) fn new(
        blob: R,
        algorithm: Algorithm,
        limits: &Limits,
        image_budget: u64,
        input: String,
    ) -> Result<Self, ImageError> {
        let mut raw = BufReader::with_capacity(BUF, HashingReader::new(blob, algorithm));
        let head = raw
            .fill_buf()
            .map_err(|e| ImageError::from_stream(&input, e))?;
        let compression = Compression::sniff(head);
        let decoder = match compression {
            Compression::None => Decoder::Plain(raw),
            Compression::Gzip => Decoder::Gzip(Box::new(MultiGzDecoder::new(raw))),
            Compression::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(raw)
                    .map_err(|e| ImageError::io(&input, e))?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| ImageError::io(&input, e))?;
                Decoder::Zstd(Box::new(d))
            }
        };
        Ok(LayerStream {
            decoder,
            compression,
            diff: Hasher::new(Algorithm::Sha256),
            uncompressed: 0,
            max_layer: limits.max_layer_bytes,
            image_budget,
            max_ratio: limits.max_ratio,
            ratio_grace: limits.ratio_grace_bytes,
            input,
        })
    }

    /// The compression found.
    pub(crate) fn compression(&self) -> Compression {
        self.compression
    }

    /// Reads everything left (the tar end marker and padding must be hashed
    /// too) and returns both digests.
    pub(crate) fn finish(mut self) -> Result<LayerDigests, ImageError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(ImageError::from_stream(&self.input, e)),
            }
        }
        let uncompressed = self.uncompressed;
        let diff_id = self.diff.finish();
        let mut raw = self.decoder.into_raw();
        // Bytes after the end of a compressed stream belong to the blob.
        io::copy(&mut raw, &mut io::sink()).map_err(|e| ImageError::from_stream(&self.input, e))?;
        let (blob, blob_size) = raw.into_inner().finish();
        Ok(LayerDigests {
            blob,
            blob_size,
            diff_id,
            uncompressed,
        })
    }

    fn check(&self) -> io::Result<()> {
        let fail = |what, limit| Err(ImageError::limit(what, limit, &self.input).into_io());
        if self.uncompressed > self.max_layer {
            return fail(Limit::LayerBytes, self.max_layer);
        }
        if self.uncompressed > self.image_budget {
            return fail(Limit::ImageBytes, self.image_budget);
        }
        if self.compression != Compression::None && self.uncompressed > self.ratio_grace {
            let compressed = self.decoder.raw().get_ref().count().max(1);
            if self.uncompressed / compressed > self.max_ratio {
                return fail(Limit::Ratio, self.max_ratio);
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for LayerStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        self.diff.update(&buf[..n]);
        self.uncompressed += n as u64;
        self.check()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_zstd_are_sniffed_and_hashed_on_both_sides() {
        let data = b"some tar bytes".repeat(100);
        for blob in [
            gzip(&data),
            zstd::encode_all(&data[..], 3).unwrap(),
            data.clone(),
        ] {
            let mut s = LayerStream::new(
                &blob[..],
                Algorithm::Sha256,
                &Limits::default(),
                u64::MAX,
                "t".into(),
            )
            .unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            let d = s.finish().unwrap();
            assert_eq!(out, data);
            assert_eq!(d.diff_id, Digest::sha256(&data));
            assert_eq!(d.blob, Digest::sha256(&blob));
            assert_eq!(d.blob_size, blob.len() as u64);
        }
    }

    #[test]
    fn gzip_bomb_hits_the_ratio_limit() {
        let zeros = vec![0u8; 8 << 20];
        let blob = gzip(&zeros);
        let limits = Limits {
            ratio_grace_bytes: 1 << 20,
            max_ratio: 100,
            ..Limits::default()
        };
        let mut s = LayerStream::new(
            &blob[..],
            Algorithm::Sha256,
            &limits,
            u64::MAX,
            "bomb".into(),
        )
        .unwrap();
        let err = io::copy(&mut s, &mut io::sink()).unwrap_err();
        let err = ImageError::from_stream("bomb", err);
        assert!(
            matches!(
                err,
                ImageError::LimitExceeded {
                    what: Limit::Ratio,
                    ..
                }
            ),
            "{err}"
        );
    }
}
