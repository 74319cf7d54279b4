//! [`Text`]: an immutable string that is a slice of a shared buffer.
//!
//! A stored candidate keeps all its strings in one buffer; its fields and
//! every finding built from it are slices of that buffer, so decoding a
//! candidate is one allocation for its text and building a finding copies
//! no string (a 10,000-package match builds 30,000 findings of a dozen
//! strings each). Serialised as a plain string.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string slice of a shared, immutable buffer; cloning it copies no text.
#[derive(Clone)]
pub struct Text {
    buf: Arc<str>,
    start: u32,
    end: u32,
}

impl Text {
    /// `buf[start..end]`, or `None` when that is out of bounds, splits a
    /// character, or lies beyond 4 GiB.
    pub fn slice(buf: &Arc<str>, start: usize, end: usize) -> Option<Text> {
        buf.get(start..end)?;
        Some(Text {
            buf: Arc::clone(buf),
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// `parts` in one buffer (one allocation), as slices of it.
    pub fn pack<const N: usize>(parts: [&str; N]) -> [Text; N] {
        let buf: Arc<str> = Arc::from(parts.concat());
        let mut at = 0;
        parts.map(|p| {
            let start = at;
            at += p.len();
            Text::slice(&buf, start, at).unwrap_or_default()
        })
    }

    pub fn as_str(&self) -> &str {
        // Bounds and boundaries were checked when the slice was made.
        self.buf
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::from(Arc::<str>::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::from(Arc::<str>::from(s))
    }
}

impl From<Arc<str>> for Text {
    fn from(buf: Arc<str>) -> Text {
        // Texts over 4 GiB are not made by anything in this crate; such a
        // string reads as its first 4 GiB (on a character boundary).
        let mut end = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        while !buf.is_char_boundary(end as usize) {
            end -= 1;
        }
        Text { buf, start: 0, end }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::from("")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer_and_compare_as_strings() {
        let buf: Arc<str> = Arc::from("CVE-1π2");
        let a = Text::slice(&buf, 0, 5).unwrap();
        assert_eq!(a, "CVE-1");
        assert_eq!(Arc::strong_count(&buf), 2);
        let b = a.clone();
        assert_eq!(Arc::strong_count(&buf), 3);
        assert_eq!(b, Text::from("CVE-1"));
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"CVE-1\"");
        let back: Text = serde_json::from_str("\"CVE-1\"").unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn slices_out_of_bounds_or_inside_a_character_are_refused() {
        let buf: Arc<str> = Arc::from("1π2");
        assert!(Text::slice(&buf, 0, 2).is_none(), "splits π");
        assert!(Text::slice(&buf, 0, 9).is_none());
        assert!(Text::slice(&buf, 3, 2).is_none());
        assert_eq!(Text::slice(&buf, 1, 3).unwrap(), "π");
    }

    #[test]
    fn pack_puts_the_parts_in_one_buffer() {
        let [a, b, c] = Text::pack(["Debian:12", "", "π1"]);
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("Debian:12", "", "π1")
        );
        assert!(Arc::ptr_eq(&a.buf, &c.buf));
    }
}
