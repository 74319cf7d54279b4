//! `os-release(5)`: `KEY=value` lines, values optionally quoted.

use crate::model::Distro;

/// The distribution named by an os-release file, or `None` without an `ID`.
pub fn parse(bytes: &[u8]) -> Option<Distro> {
    let text = String::from_utf8_lossy(bytes);
    let mut distro = Distro {
        id: String::new(),
        version_id: String::new(),
        codename: None,
        pretty_name: None,
    };
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => distro.id = value,
            "VERSION_ID" => distro.version_id = value,
            "VERSION_CODENAME" if !value.is_empty() => distro.codename = Some(value),
            "PRETTY_NAME" if !value.is_empty() => distro.pretty_name = Some(value),
            _ => {}
        }
    }
    (!distro.id.is_empty()).then_some(distro)
}

/// Strips shell-style quotes and backslash escapes from a value.
fn unquote(value: &str) -> String {
    let inner = match value.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if value.len() >= 2 => &value[1..value.len() - 1],
        _ => value,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_bookworm() {
        let text = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        let d = parse(text).unwrap();
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id, "12");
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        assert_eq!(
            d.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn single_quotes_escapes_and_comments() {
        let d = parse(b"# comment\nID='alpine'\nVERSION_ID=3.18.4\nPRETTY_NAME=\"A \\\"q\\\"\"\n")
            .unwrap();
        assert_eq!(d.id, "alpine");
        assert_eq!(d.version_id, "3.18.4");
        assert_eq!(d.pretty_name.as_deref(), Some("A \"q\""));
    }

    #[test]
    fn without_id_there_is_no_distro() {
        assert_eq!(parse(b"NAME=x\n"), None);
        assert_eq!(parse(b"\xff\xfe\x00garbage"), None);
        assert_eq!(
            parse(b"ID=\"\n"),
            Some(Distro {
                id: "\"".into(),
                version_id: String::new(),
                codename: None,
                pretty_name: None
            })
        );
    }
}
