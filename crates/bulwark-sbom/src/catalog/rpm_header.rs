//! The rpm header blob as stored in rpm databases: a big-endian index of
//! `(tag, type, offset, count)` entries followed by a data store.

use super::CatalogError;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

pub const TAG_NAME: i32 = 1000;
pub const TAG_VERSION: i32 = 1001;
pub const TAG_RELEASE: i32 = 1002;
pub const TAG_EPOCH: i32 = 1003;
pub const TAG_LICENSE: i32 = 1014;
pub const TAG_ARCH: i32 = 1022;
pub const TAG_SOURCERPM: i32 = 1044;

/// rpm refuses headers with more index entries than this (`HEADER_TAGS_MAX`).
const MAX_ENTRIES: usize = 0xffff;
/// and data stores larger than this (`HEADER_DATA_MAX`, 256 MiB).
const MAX_DATA: usize = 0x0fff_ffff;

/// A parsed header: index entries borrowed from the blob.
pub struct Header<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

struct Entry {
    tag: i32,
    kind: u32,
    offset: usize,
}

fn malformed(reason: impl Into<String>) -> CatalogError {
    CatalogError::malformed("rpm header", reason)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Header<'a> {
    /// Checks the blob's counts against its length.
    pub fn parse(blob: &'a [u8]) -> Result<Self, CatalogError> {
        let entries = be32(blob, 0).ok_or_else(|| malformed("shorter than 8 bytes"))? as usize;
        let data_len = be32(blob, 4).ok_or_else(|| malformed("shorter than 8 bytes"))? as usize;
        if entries > MAX_ENTRIES || data_len > MAX_DATA {
            return Err(malformed(format!(
                "{entries} entries / {data_len} data bytes exceed rpm's limits"
            )));
        }
        let index_end = 8 + entries * 16;
        let index = blob
            .get(8..index_end)
            .ok_or_else(|| malformed("index runs past the end"))?;
        let data = blob
            .get(index_end..index_end + data_len)
            .ok_or_else(|| malformed("data store runs past the end"))?;
        Ok(Header { index, data })
    }

    fn entry(&self, tag: i32) -> Option<Entry> {
        self.index.chunks_exact(16).find_map(|e| {
            let entry = Entry {
                tag: be32(e, 0)? as i32,
                kind: be32(e, 4)?,
                offset: be32(e, 8)? as usize,
            };
            (entry.tag == tag).then_some(entry)
        })
    }

    /// A string tag (first element for arrays), or `None` if absent or not a
    /// well-formed string.
    pub fn string(&self, tag: i32) -> Option<String> {
        let entry = self.entry(tag)?;
        if !matches!(
            entry.kind,
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING
        ) {
            return None;
        }
        let rest = self.data.get(entry.offset..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// An INT32 tag's first value.
    pub fn int32(&self, tag: i32) -> Option<u32> {
        let entry = self.entry(tag)?;
        (entry.kind == TYPE_INT32)
            .then(|| be32(self.data, entry.offset))
            .flatten()
    }
}

/// Builds a header blob: for tests of the parser and of the rpm cataloger.
#[cfg(test)]
pub fn build(strings: &[(i32, &str)], ints: &[(i32, u32)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, value) in strings {
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&TYPE_STRING.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(value.as_bytes());
        data.push(0);
    }
    for (tag, value) in ints {
        while data.len() % 4 != 0 {
            data.push(0);
        }
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&TYPE_INT32.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(&value.to_be_bytes());
    }
    let mut blob = Vec::new();
    blob.extend_from_slice(&((index.len() / 16) as u32).to_be_bytes());
    blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
    blob.extend_from_slice(&index);
    blob.extend_from_slice(&data);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_ints() {
        let blob = build(
            &[(TAG_NAME, "bash"), (TAG_VERSION, "5.1.8")],
            &[(TAG_EPOCH, 2)],
        );
        let h = Header::parse(&blob).unwrap();
        assert_eq!(h.string(TAG_NAME).as_deref(), Some("bash"));
        assert_eq!(h.string(TAG_VERSION).as_deref(), Some("5.1.8"));
        assert_eq!(h.int32(TAG_EPOCH), Some(2));
        assert_eq!(h.string(TAG_RELEASE), None);
        assert_eq!(h.string(TAG_EPOCH), None, "type mismatch is not a string");
    }

    #[test]
    fn truncated_blob_is_an_error() {
        let blob = build(&[(TAG_NAME, "bash")], &[]);
        for len in [0, 4, 7, 12, blob.len() - 1] {
            assert!(Header::parse(&blob[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn offsets_past_the_data_store_read_as_absent() {
        let mut blob = build(&[(TAG_NAME, "bash")], &[(TAG_EPOCH, 1)]);
        // Point both entries' offsets far outside the data store.
        for entry in 0..2 {
            let at = 8 + entry * 16 + 8;
            blob[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
        }
        let h = Header::parse(&blob).unwrap();
        assert_eq!(h.string(TAG_NAME), None);
        assert_eq!(h.int32(TAG_EPOCH), None);
    }

    #[test]
    fn huge_counts_are_refused_before_allocation() {
        let mut blob = vec![0xff; 8];
        blob.extend_from_slice(&[0; 64]);
        assert!(Header::parse(&blob).is_err());
    }
}
