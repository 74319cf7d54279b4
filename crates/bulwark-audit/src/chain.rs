//! Verification of a chain of stored lines, without I/O: feed it lines in file
//! order, then close it against the head the writer kept.

use crate::error::Tamper;
use crate::record::{Digest, MAX_LINE_LEN, Record};

/// The last record the writer acknowledged: a lower bound on the log's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: u64,
    pub hash: Digest,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: Digest::GENESIS,
    };

    /// `SEQ:HASH`, the form `bulwark audit verify --expect` takes.
    pub fn parse(text: &str) -> Option<Head> {
        let (seq, hash) = text.trim().split_once(':')?;
        Some(Head {
            seq: seq.parse().ok()?,
            hash: Digest::from_hex(hash)?,
        })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// What a successful verification proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Number of records, which is also the last sequence number.
    pub records: u64,
    /// Sequence number and hash of the last record.
    pub last: Head,
}

/// Checks lines one at a time; remembers only the previous record and the
/// hashes of the records the caller asked to check at the end.
#[derive(Debug)]
pub struct ChainVerifier {
    last: Head,
    line_no: u64,
    want: Vec<(Head, &'static str)>,
    found: Vec<bool>,
}

impl ChainVerifier {
    /// `expect` are heads that must be in the chain (the writer's head file,
    /// an anchor kept elsewhere), each with the name reported if it is not.
    pub fn new(expect: Vec<(Head, &'static str)>) -> Self {
        let found = vec![false; expect.len()];
        ChainVerifier {
            last: Head::EMPTY,
            line_no: 0,
            want: expect,
            found,
        }
    }

    /// One stored line, including its `\n` if it had one.
    pub fn push(&mut self, raw: &[u8]) -> Result<(), Tamper> {
        self.line_no += 1;
        let line = self.line_no;
        let Some(body) = raw.strip_suffix(b"\n") else {
            return Err(Tamper::TornTail {
                line,
                bytes: raw.len(),
            });
        };
        if body.len() > MAX_LINE_LEN {
            return Err(Tamper::LineTooLong { line });
        }
        let text = std::str::from_utf8(body).map_err(|_| Tamper::Malformed {
            line,
            reason: "not UTF-8".into(),
        })?;
        let record = Record::from_line(text).map_err(|e| Tamper::Malformed {
            line,
            reason: e.to_string(),
        })?;
        self.check(line, text, &record)?;
        self.last = Head {
            seq: record.seq,
            hash: record.hash,
        };
        self.mark_found();
        Ok(())
    }

    fn check(&self, line: u64, text: &str, record: &Record) -> Result<(), Tamper> {
        let expected = self.last.seq + 1;
        if record.seq != expected {
            return Err(Tamper::SequenceGap {
                line,
                expected,
                found: record.seq,
            });
        }
        let computed = record.computed_hash().map_err(|e| Tamper::Malformed {
            line,
            reason: e.to_string(),
        })?;
        if computed != record.hash {
            return Err(Tamper::HashMismatch {
                line,
                seq: record.seq,
            });
        }
        if record.prev != self.last.hash {
            return Err(Tamper::ChainBroken {
                line,
                seq: record.seq,
            });
        }
        if record.to_line().ok().as_deref() != Some(text) {
            return Err(Tamper::NotCanonical {
                line,
                seq: record.seq,
            });
        }
        Ok(())
    }

    fn mark_found(&mut self) {
        for (i, (head, _)) in self.want.iter().enumerate() {
            if head.seq == self.last.seq {
                self.found[i] = head.hash == self.last.hash;
            }
        }
    }

    /// Ends verification: every expected head must have been met.
    pub fn finish(self) -> Result<Verified, Tamper> {
        for ((head, name), found) in self.want.iter().zip(&self.found) {
            if head.seq == 0 && head.hash == Digest::GENESIS {
                continue;
            }
            if head.seq > self.last.seq {
                return Err(Tamper::Truncated {
                    by: name,
                    expected: head.seq,
                    last: self.last.seq,
                });
            }
            if !found {
                return Err(Tamper::HeadMismatch {
                    by: name,
                    seq: head.seq,
                });
            }
        }
        Ok(Verified {
            records: self.last.seq,
            last: self.last,
        })
    }

    /// How many lines were pushed.
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// The last record accepted so far.
    pub fn last(&self) -> Head {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Entry;

    fn chain(n: u64) -> Vec<String> {
        let mut prev = Digest::GENESIS;
        let mut lines = Vec::new();
        for seq in 1..=n {
            let entry = Entry::new("tester", "test.step").target(format!("t{seq}"));
            let Ok(record) = Record::seal(&entry, seq, "2026-01-01T00:00:00Z".into(), prev) else {
                panic!("seal")
            };
            prev = record.hash;
            lines.push(format!("{}\n", record.to_line().unwrap_or_default()));
        }
        lines
    }

    fn verify(lines: &[String], expect: Vec<(Head, &'static str)>) -> Result<Verified, Tamper> {
        let mut v = ChainVerifier::new(expect);
        for line in lines {
            v.push(line.as_bytes())?;
        }
        v.finish()
    }

    fn head_of(line: &str) -> Head {
        let Ok(r) = Record::from_line(line.trim_end()) else {
            panic!("parse")
        };
        Head {
            seq: r.seq,
            hash: r.hash,
        }
    }

    #[test]
    fn intact_chain_verifies() {
        let lines = chain(5);
        let head = head_of(&lines[4]);
        let ok = verify(&lines, vec![(head, "head")]);
        assert_eq!(ok.map(|v| v.records), Ok(5));
    }

    #[test]
    fn edited_field_is_detected() {
        let mut lines = chain(3);
        lines[1] = lines[1].replace("\"t2\"", "\"t9\"");
        assert!(matches!(
            verify(&lines, vec![]),
            Err(Tamper::HashMismatch { line: 2, seq: 2 })
        ));
    }

    #[test]
    fn deleted_record_is_detected() {
        let mut lines = chain(4);
        lines.remove(1);
        assert!(matches!(
            verify(&lines, vec![]),
            Err(Tamper::SequenceGap {
                line: 2,
                expected: 2,
                found: 3
            })
        ));
    }

    #[test]
    fn reordered_records_are_detected() {
        let mut lines = chain(4);
        lines.swap(1, 2);
        assert!(matches!(
            verify(&lines, vec![]),
            Err(Tamper::SequenceGap { line: 2, .. })
        ));
    }

    #[test]
    fn renumbered_chain_after_a_deletion_is_detected_by_prev() {
        // Delete record 2 and renumber record 3 as 2, recomputing its hash:
        // its prev still names the deleted record.
        let lines = chain(3);
        let Ok(mut r3) = Record::from_line(lines[2].trim_end()) else {
            panic!("parse")
        };
        r3.seq = 2;
        r3.hash = r3.computed_hash().unwrap_or(Digest::GENESIS);
        let forged = vec![
            lines[0].clone(),
            format!("{}\n", r3.to_line().unwrap_or_default()),
        ];
        assert!(matches!(
            verify(&forged, vec![]),
            Err(Tamper::ChainBroken { line: 2, seq: 2 })
        ));
    }

    #[test]
    fn truncated_tail_is_detected_against_the_head() {
        let lines = chain(5);
        let head = head_of(&lines[4]);
        assert!(matches!(
            verify(&lines[..3], vec![(head, "head file")]),
            Err(Tamper::Truncated {
                expected: 5,
                last: 3,
                ..
            })
        ));
    }

    #[test]
    fn torn_last_line_is_detected() {
        let mut lines = chain(2);
        lines[1].truncate(20);
        assert!(matches!(
            verify(&lines, vec![]),
            Err(Tamper::TornTail { line: 2, .. })
        ));
    }

    #[test]
    fn whitespace_edit_is_detected_as_not_canonical() {
        let mut lines = chain(1);
        lines[0] = lines[0].replacen(',', ", ", 1);
        assert!(matches!(
            verify(&lines, vec![]),
            Err(Tamper::NotCanonical { line: 1, .. })
        ));
    }

    #[test]
    fn rewritten_chain_is_detected_by_an_anchor_kept_elsewhere() {
        let original = chain(3);
        let anchor = head_of(&original[1]);
        // The attacker recomputes a whole new, internally consistent chain.
        let mut prev = Digest::GENESIS;
        let mut forged = Vec::new();
        for seq in 1..=3 {
            let entry = Entry::new("mallory", "test.step");
            let Ok(r) = Record::seal(&entry, seq, "2026-01-01T00:00:00Z".into(), prev) else {
                panic!("seal")
            };
            prev = r.hash;
            forged.push(format!("{}\n", r.to_line().unwrap_or_default()));
        }
        assert!(matches!(
            verify(&forged, vec![(anchor, "--expect")]),
            Err(Tamper::HeadMismatch {
                by: "--expect",
                seq: 2
            })
        ));
    }

    #[test]
    fn head_parses_from_seq_colon_hash() {
        let text = format!("7:{}", "ab".repeat(32));
        assert_eq!(Head::parse(&text).map(|h| h.seq), Some(7));
        assert_eq!(Head::parse("7"), None);
        assert_eq!(Head::parse("x:00"), None);
    }
}
