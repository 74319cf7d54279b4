//! The stored form of a [`Candidate`]: a compact binary layout read once
//! per (key, record) on every scan, so it is decoded without a parser and
//! with one allocation for all its strings (JSON decoding was a third of
//! a 10,000-package match, one allocation per string another quarter).
//!
//! Layout: one format byte ([`FORMAT`]), the length of the text, the text
//! (every string of the candidate, concatenated in field order, UTF-8),
//! then the fields in declaration order. Integers are LEB128 varints; a
//! string is its byte length (its bytes are the next ones of the text);
//! `Option` one byte (0 none, 1 some) before the value; lists a varint
//! count. Enums are one byte each (range type, event kind, severity).
//! Every length is checked against the bytes left before anything is
//! allocated, so a damaged row is an error, never a panic or a huge
//! allocation.

use std::sync::{Arc, OnceLock};

use bulwark_core::Severity;

use super::{Candidate, CandidateEntry, CandidateRange, RangeEvent, Score};
use crate::matcher::SeverityChoice;
use crate::matcher::text::Text;
use crate::osv::RangeType;

/// Version of this layout, the first byte of every encoded candidate.
/// Format 1 (schema 3) kept each string inline; stores holding it are
/// migrated on open.
pub const FORMAT: u8 = 2;

/// A stored candidate that does not decode: where and what.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stored candidate unreadable at byte {at}: {what}")]
pub struct WireError {
    pub at: usize,
    pub what: &'static str,
}

/// Encodes `c` in the stored layout.
pub fn encode(c: &Candidate) -> Vec<u8> {
    let mut w = Writer {
        fields: Vec::with_capacity(64),
        text: String::with_capacity(256),
    };
    w.str(&c.vuln_id);
    w.list(&c.aliases, |w, a| w.str(a));
    w.opt(c.summary.as_deref(), |w, s| w.str(s));
    w.opt(c.url.as_deref(), |w, s| w.str(s));
    w.byte(u8::from(c.withdrawn));
    w.list(&c.entries, entry);
    let mut out = Vec::with_capacity(w.text.len() + w.fields.len() + 6);
    out.push(FORMAT);
    push_uint(&mut out, w.text.len() as u64);
    out.extend_from_slice(w.text.as_bytes());
    out.extend_from_slice(&w.fields);
    out
}

fn entry(w: &mut Writer, e: &CandidateEntry) {
    w.uint(e.index as u64);
    w.list(&e.versions, |w, v| w.str(v));
    w.list(&e.ranges, range);
    w.byte(severity_code(e.severity.severity));
    w.str(&e.severity.source);
    w.list(&e.scores, |w, s| {
        w.str(&s.kind);
        w.str(&s.score);
    });
}

fn range(w: &mut Writer, r: &CandidateRange) {
    w.byte(match r.kind {
        RangeType::SemVer => 0,
        RangeType::Ecosystem => 1,
        RangeType::Git => 2,
    });
    w.opt(r.repo.as_deref(), |w, s| w.str(s));
    w.list(&r.events, |w, e| {
        w.byte(match e {
            RangeEvent::Introduced(_) => 0,
            RangeEvent::Fixed(_) => 1,
            RangeEvent::LastAffected(_) => 2,
            RangeEvent::Limit(_) => 3,
        });
        w.str(e.value());
    });
}

fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Unknown => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// Decodes a stored candidate.
pub fn decode(bytes: &[u8]) -> Result<Candidate, WireError> {
    let mut r = Reader {
        bytes,
        at: 0,
        text: Arc::from(""),
        text_at: 0,
    };
    let format = r.byte()?;
    if format != FORMAT {
        return Err(r.fail("unknown format byte"));
    }
    let n = r.len()?;
    let text =
        std::str::from_utf8(&bytes[r.at..r.at + n]).map_err(|_| r.fail("text is not UTF-8"))?;
    r.text = Arc::from(text);
    r.at += n;
    let c = Candidate {
        vuln_id: r.string()?,
        aliases: r.list(Reader::string)?,
        summary: r.opt(Reader::string)?,
        url: r.opt(Reader::string)?,
        withdrawn: r.flag()?,
        entries: r.list(read_entry)?,
    };
    if r.at != bytes.len() {
        return Err(r.fail("trailing bytes"));
    }
    if r.text_at != r.text.len() {
        return Err(r.fail("text not used up"));
    }
    Ok(c)
}

fn read_entry(r: &mut Reader<'_>) -> Result<CandidateEntry, WireError> {
    let index = usize::try_from(r.uint()?).map_err(|_| r.fail("index out of range"))?;
    Ok(CandidateEntry {
        index,
        versions: r.list(Reader::string)?,
        ranges: r.list(read_range)?,
        severity: SeverityChoice {
            severity: read_severity(r)?,
            source: r.string()?,
        },
        scores: r.list(|r| {
            Ok(Score {
                kind: r.string()?,
                score: r.string()?,
            })
        })?,
    })
}

fn read_range(r: &mut Reader<'_>) -> Result<CandidateRange, WireError> {
    let kind = match r.byte()? {
        0 => RangeType::SemVer,
        1 => RangeType::Ecosystem,
        2 => RangeType::Git,
        _ => return Err(r.fail("unknown range type")),
    };
    Ok(CandidateRange {
        kind,
        repo: r.opt(Reader::string)?,
        events: r.list(read_event)?,
        prepared: OnceLock::new(),
    })
}

fn read_event(r: &mut Reader<'_>) -> Result<RangeEvent, WireError> {
    let tag = r.byte()?;
    let value = r.string()?;
    match tag {
        0 => Ok(RangeEvent::Introduced(value)),
        1 => Ok(RangeEvent::Fixed(value)),
        2 => Ok(RangeEvent::LastAffected(value)),
        3 => Ok(RangeEvent::Limit(value)),
        _ => Err(r.fail("unknown event kind")),
    }
}

fn read_severity(r: &mut Reader<'_>) -> Result<Severity, WireError> {
    match r.byte()? {
        0 => Ok(Severity::Unknown),
        1 => Ok(Severity::Low),
        2 => Ok(Severity::Medium),
        3 => Ok(Severity::High),
        4 => Ok(Severity::Critical),
        _ => Err(r.fail("unknown severity")),
    }
}

fn push_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields and, apart, the text their strings go to.
struct Writer {
    fields: Vec<u8>,
    text: String,
}

impl Writer {
    fn byte(&mut self, b: u8) {
        self.fields.push(b);
    }

    fn uint(&mut self, v: u64) {
        push_uint(&mut self.fields, v);
    }

    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.text.push_str(s);
    }

    fn opt<T: ?Sized>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Writer, &T)) {
        match v {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                f(self, v);
            }
        }
    }

    fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Writer, &T)) {
        self.uint(items.len() as u64);
        for item in items {
            f(self, item);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The candidate's text, and how much of it the strings read so far
    /// took.
    text: Arc<str>,
    text_at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, what: &'static str) -> WireError {
        WireError { at: self.at, what }
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        let b = *self.bytes.get(self.at).ok_or(self.fail("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn flag(&mut self) -> Result<bool, WireError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.fail("flag is neither 0 nor 1")),
        }
    }

    fn uint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.fail("varint longer than 64 bits"))
    }

    /// A length or count, at most the bytes left (each item takes one).
    fn len(&mut self) -> Result<usize, WireError> {
        let n = self.uint()?;
        let left = self.bytes.len() - self.at;
        match usize::try_from(n) {
            Ok(n) if n <= left => Ok(n),
            _ => Err(self.fail("length beyond the end")),
        }
    }

    /// The next string of the text.
    fn string(&mut self) -> Result<Text, WireError> {
        let n = self.uint()?;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(self.text_at))
            .filter(|end| *end <= self.text.len())
            .ok_or(self.fail("string beyond the text"))?;
        let s = Text::slice(&self.text, self.text_at, end)
            .ok_or(self.fail("string splits a character"))?;
        self.text_at = end;
        Ok(s)
    }

    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, WireError>,
    ) -> Result<Option<T>, WireError> {
        if self.flag()? {
            Ok(Some(f(self)?))
        } else {
            Ok(None)
        }
    }

    fn list<T>(
        &mut self,
        mut f: impl FnMut(&mut Reader<'a>) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::osv::Record;

    fn sample() -> Candidate {
        let raw = json!({"id": "GHSA-xxxx", "modified": "2024-01-01T00:00:00Z",
            "aliases": ["CVE-2024-1", "CVE-2024-2"], "summary": "π in a summary",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                "versions": ["1.0", "1.1"],
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"},
                        {"limit": "3"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.1"}]},
                    {"type": "GIT", "repo": "https://example.invalid/x",
                     "events": [{"introduced": "0123456789abcdef0123456789abcdef01234567"}]}]}],
            "references": [{"type": "ADVISORY", "url": "https://example.invalid/a"}]});
        let vuln = Record::from_value(raw).unwrap().vuln;
        Candidate::of(&vuln, ("PyPI", "x")).unwrap()
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        let c = sample();
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        let withdrawn = Candidate {
            withdrawn: true,
            summary: None,
            url: None,
            ..c
        };
        assert_eq!(decode(&encode(&withdrawn)).unwrap(), withdrawn);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }

    #[test]
    fn huge_length_is_refused_before_allocating() {
        // Format byte, then a vuln_id length of 2^63.
        let mut bytes = vec![FORMAT];
        bytes.extend([0xff; 8]);
        bytes.push(0x7f);
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err.what, "length beyond the end");
    }

    #[test]
    fn unknown_format_byte_and_trailing_bytes_are_refused() {
        let mut bytes = encode(&sample());
        bytes.push(0);
        assert_eq!(decode(&bytes).unwrap_err().what, "trailing bytes");
        bytes[0] = FORMAT + 1;
        assert_eq!(decode(&bytes).unwrap_err().what, "unknown format byte");
        bytes[0] = 1;
        assert_eq!(decode(&bytes).unwrap_err().what, "unknown format byte");
    }

    #[test]
    fn strings_beyond_the_text_or_inside_a_character_are_refused() {
        // Text "π" (2 bytes), vuln_id of 3 bytes.
        let bytes = [FORMAT, 2, 0xcf, 0x80, 3];
        assert_eq!(decode(&bytes).unwrap_err().what, "string beyond the text");
        // vuln_id of 1 byte: half of π.
        let bytes = [FORMAT, 2, 0xcf, 0x80, 1];
        assert_eq!(
            decode(&bytes).unwrap_err().what,
            "string splits a character"
        );
        let bytes = [FORMAT, 1, 0xff, 1];
        assert_eq!(decode(&bytes).unwrap_err().what, "text is not UTF-8");
    }
}
