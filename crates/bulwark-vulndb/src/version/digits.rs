//! Helpers shared by the schemes: arbitrary-length numbers compared as
//! digit strings (no overflow), and a macro that derives `Eq`/`Ord` from a
//! scheme's `compare` function.

use std::cmp::Ordering;

/// Compares two strings of ASCII digits by numeric value, any length.
pub(crate) fn cmp_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Whether `s` is non-empty and only ASCII digits.
pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The longest prefix of `s` whose bytes satisfy `pred`, and the rest.
pub(crate) fn split_run(s: &str, pred: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = s.bytes().position(|b| !pred(b)).unwrap_or(s.len());
    s.split_at(end)
}

/// Where `part`, a subslice of `whole`, lies in it: versions keep their
/// parts as ranges of the one string they were parsed from (one
/// allocation per parsed version).
pub(crate) fn span_of(whole: &str, part: &str) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

/// The text of a range made by [`span_of`].
pub(crate) fn text_at<'a>(whole: &'a str, span: &std::ops::Range<usize>) -> &'a str {
    whole.get(span.clone()).unwrap_or_default()
}

/// Implements `PartialEq`, `Eq`, `PartialOrd` and `Ord` for a version type
/// from its `fn compare(&self, &Self) -> Ordering`, and `as_str` from its
/// `original: String` field.
macro_rules! ordered_by_compare {
    ($ty:ty) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                self.compare(other) == std::cmp::Ordering::Equal
            }
        }
        impl Eq for $ty {}
        impl PartialOrd for $ty {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $ty {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.compare(other)
            }
        }
        impl $ty {
            /// The string this version was parsed from.
            pub fn as_str(&self) -> &str {
                &self.original
            }
        }
    };
}
pub(crate) use ordered_by_compare;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_compare_ignores_leading_zeros_and_has_no_width_limit() {
        assert_eq!(cmp_numeric("007", "7"), Ordering::Equal);
        assert_eq!(cmp_numeric("10", "9"), Ordering::Greater);
        assert_eq!(
            cmp_numeric(
                "999999999999999999999999999991",
                "999999999999999999999999999999"
            ),
            Ordering::Less
        );
        assert_eq!(cmp_numeric("", "0"), Ordering::Equal);
    }
}
