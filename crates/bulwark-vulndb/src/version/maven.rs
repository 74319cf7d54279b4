//! Maven version ordering (`ComparableVersion` semantics).
//!
//! A version is a tree of items: `.` separates items of one list, `-` and a
//! change between digits and letters start a nested list. Numbers compare
//! numerically; known qualifiers order
//! `alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp`,
//! unknown qualifiers come after them, alphabetically. Trailing "null"
//! items (`0`, empty qualifier, empty list) are dropped before comparing.

use std::cmp::Ordering;

use super::digits::{cmp_numeric, ordered_by_compare};

#[derive(Clone, Debug)]
pub struct MavenVersion {
    original: String,
    items: Vec<Item>,
}

#[derive(Clone, Debug)]
enum Item {
    Int(String),
    Str(String),
    List(Vec<Item>),
}

impl MavenVersion {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        if input.trim().is_empty() {
            return Err("empty version");
        }
        Ok(MavenVersion {
            original: input.to_string(),
            items: parse_items(&input.trim().to_lowercase()),
        })
    }

    fn compare(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

ordered_by_compare!(MavenVersion);

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

/// The sort key of a qualifier: its index among the known ones, or
/// `7-name` for unknown ones (so they sort after `sp`, by name).
fn qualifier_key(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

const RELEASE_KEY: &str = "5";

fn string_item(s: &str, followed_by_digit: bool) -> Item {
    let s = match (followed_by_digit, s) {
        (true, "a") => "alpha",
        (true, "b") => "beta",
        (true, "m") => "milestone",
        (_, "ga" | "final" | "release") => "",
        (_, "cr") => "rc",
        _ => s,
    };
    Item::Str(s.to_string())
}

fn parse_item(is_digit: bool, s: &str) -> Item {
    if is_digit {
        let trimmed = s.trim_start_matches('0');
        Item::Int(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
    } else {
        string_item(s, false)
    }
}

/// Builds the item tree. `path` holds the lists being filled, innermost last.
fn parse_items(v: &str) -> Vec<Item> {
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let chars: Vec<char> = v.chars().collect();
    let mut is_digit = false;
    let mut start = 0;
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    for (i, &c) in chars.iter().enumerate() {
        if c == '.' || c == '-' {
            let item = if i == start {
                Item::Int("0".into())
            } else {
                parse_item(is_digit, &text(start, i))
            };
            push(&mut stack, item);
            start = i + 1;
            if c == '-' {
                stack.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                push(&mut stack, string_item(&text(start, i), true));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                push(&mut stack, parse_item(true, &text(start, i)));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        push(&mut stack, parse_item(is_digit, &text(start, chars.len())));
    }
    while stack.len() > 1 {
        let mut inner = stack.pop().unwrap_or_default();
        normalize(&mut inner);
        // A hyphen list holding nothing but the next hyphen list (`1-ga-1`
        // once `ga` is trimmed) is that list: `1-ga-1` is `1-1`.
        if let [Item::List(only)] = inner.as_mut_slice() {
            inner = std::mem::take(only);
        }
        push(&mut stack, Item::List(inner));
    }
    let mut top = stack.pop().unwrap_or_default();
    normalize(&mut top);
    top
}

fn push(stack: &mut [Vec<Item>], item: Item) {
    if let Some(list) = stack.last_mut() {
        list.push(item);
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Int(n) => n == "0",
        Item::Str(s) => s.is_empty(),
        Item::List(l) => l.is_empty(),
    }
}

/// Drops null items that end a list or stand right before a nested list
/// (the Maven version-order specification trims trailing nulls at the end
/// and again before every remaining hyphen: `1-ga-1` is `1-1`).
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        let before_list_or_end = list
            .get(i + 1)
            .is_none_or(|next| matches!(next, Item::List(_)));
        if before_list_or_end && is_null(&list[i]) {
            list.remove(i);
        }
    }
}

/// `a` compared with `b`, where `None` is "nothing left" (padding).
fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(b)) => cmp_item(Some(b), None).reverse(),
        (Some(Item::Int(n)), None) => {
            if n == "0" {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Some(Item::Str(s)), None) => qualifier_key(s).as_str().cmp(RELEASE_KEY),
        (Some(Item::List(l)), None) => match l.first() {
            None => Ordering::Equal,
            Some(first) => cmp_item(Some(first), None),
        },
        (Some(Item::Int(x)), Some(Item::Int(y))) => cmp_numeric(x, y),
        (Some(Item::Int(_)), Some(_)) => Ordering::Greater,
        (Some(Item::Str(_)), Some(Item::Int(_) | Item::List(_))) => Ordering::Less,
        (Some(Item::Str(x)), Some(Item::Str(y))) => qualifier_key(x).cmp(&qualifier_key(y)),
        (Some(Item::List(_)), Some(Item::Int(_))) => Ordering::Less,
        (Some(Item::List(_)), Some(Item::Str(_))) => Ordering::Greater,
        (Some(Item::List(x)), Some(Item::List(y))) => cmp_lists(x, y),
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = cmp_item(a.get(i), b.get(i));
        if ord.is_ne() {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        MavenVersion::parse(a)
            .unwrap()
            .cmp(&MavenVersion::parse(b).unwrap())
    }

    #[test]
    fn qualifier_order_and_aliases() {
        assert_eq!(cmp("1.0-alpha-1", "1.0-beta-1"), Ordering::Less);
        assert_eq!(cmp("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0.RELEASE", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1.0-sp1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1cr", "1rc"), Ordering::Equal);
        assert_eq!(cmp("1a1", "1-alpha-1"), Ordering::Equal);
        assert_eq!(cmp("2.0.1-xyz", "2.0.1-123"), Ordering::Less);
    }
}
