//! Response headers of every dashboard response.

/// Scripts, styles, images and API calls only from the server itself; no
/// inline script or style, no `eval`, no plugins, no framing, no `<base>`;
/// Trusted Types required with no policy allowed, so assigning any string to
/// an HTML or script sink (`innerHTML`, `script.src`, ...) throws.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// Sent with every response of the dashboard, including errors.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), usb=(), payment=()",
    ),
    // Revalidate every time (the ETag makes that a 304): a new binary must
    // not run against stale scripts.
    ("cache-control", "no-cache"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_no_inline_code_or_foreign_origin() {
        let p = CONTENT_SECURITY_POLICY;
        for bad in [
            "unsafe-inline",
            "unsafe-eval",
            "data:",
            "http:",
            "https:",
            "*",
            "blob:",
        ] {
            assert!(!p.contains(bad), "CSP contains {bad}");
        }
        assert!(p.contains("default-src 'none'"));
        assert!(p.contains("require-trusted-types-for 'script'"));
    }

    #[test]
    fn every_header_is_a_valid_header() {
        for (name, value) in SECURITY_HEADERS {
            axum::http::HeaderName::from_static(name);
            axum::http::HeaderValue::from_static(value);
        }
    }
}
