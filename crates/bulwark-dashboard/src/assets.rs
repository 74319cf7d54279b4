//! The embedded files: a fixed table, looked up by exact path. Nothing is read
//! from the filesystem at run time, so no request path can reach a file that
//! is not in the table.

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path below the mount point (`js/app.js`); `index.html` is also `/ui/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! embed {
    ($($path:literal => $type:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }),*]
    };
}

/// Every file of the dashboard. A test checks this matches `web/` exactly.
pub const ASSETS: &[Asset] = embed! {
    "index.html" => HTML,
    "app.css" => CSS,
    "favicon.svg" => SVG,
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/dom.js" => JS,
    "js/format.js" => JS,
    "js/pages/login.js" => JS,
    "js/pages/overview.js" => JS,
    "js/pages/workloads.js" => JS,
    "js/pages/workload.js" => JS,
    "js/pages/graph.js" => JS,
    "js/pages/alerts.js" => JS,
    "js/pages/images.js" => JS,
    "js/pages/compliance.js" => JS,
    "js/pages/audit.js" => JS,
};

/// The asset at `path` (below the mount point; empty means `index.html`).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn table_lists_every_file_under_web_and_nothing_else() {
        let mut on_disk = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("web"),
            "",
            &mut on_disk,
        );
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn empty_path_is_the_index_and_unknown_paths_are_none() {
        assert_eq!(find("").map(|a| a.path), Some("index.html"));
        assert!(find("../Cargo.toml").is_none());
        assert!(find("js/../index.html").is_none());
        assert!(find("/etc/passwd").is_none());
    }

    /// Sinks that parse strings as HTML or code. The pages build elements and
    /// text nodes only; Trusted Types in the CSP would make these throw anyway,
    /// this keeps them out of the source.
    #[test]
    fn scripts_use_no_html_or_code_sinks() {
        let sinks = [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setTimeout(\"",
            "setTimeout('",
            "srcdoc",
            "javascript:",
            "createContextualFragment",
            "DOMParser",
        ];
        for asset in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for sink in sinks {
                assert!(!text.contains(sink), "{} uses {sink}", asset.path);
            }
        }
    }

    /// ` onclick=`, ` onload =`, ...
    fn has_handler_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            name_len > 0 && rest[name_len..].trim_start().starts_with('=')
        })
    }

    #[test]
    fn html_has_no_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.content_type == HTML) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for tag in text.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap();
                assert!(open.contains("src="), "{}: inline <script>", asset.path);
            }
            assert!(!text.contains("<style"), "{}: inline <style>", asset.path);
            assert!(!text.contains(" style="), "{}: style attribute", asset.path);
            assert!(
                !has_handler_attribute(text),
                "{}: event handler attribute",
                asset.path
            );
        }
    }
}
