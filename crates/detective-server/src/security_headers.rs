//! Security headers on every answer: a Content-Security-Policy that lets the
//! dashboard run only its own scripts (no inline script, no other origin), load
//! only its own fonts, images and connections, and never be framed;
//! `X-Content-Type-Options: nosniff` (an uploaded file is never run as another
//! type), `X-Frame-Options` for older browsers, and a referrer kept to this site.

use axum::http::HeaderValue;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::response::Response;

/// Styles may be inline (the pages set element styles from their scripts);
/// scripts may not. Images may be `data:`/`blob:` (canvas snapshots, camera frames).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                       img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn add(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

#[cfg(test)]
mod tests {
    /// The policy forbids inline script: no template may hold any.
    #[test]
    fn no_template_has_inline_script_the_policy_would_block() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut seen = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let lower = text.to_ascii_lowercase();
            for (i, _) in lower.match_indices("<script") {
                let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
                assert!(tag.contains(" src="), "{}: inline <script>", path.display());
            }
            let handler = lower.split(|c: char| c.is_whitespace()).find(|w| {
                w.starts_with("on")
                    && w.contains("=\"")
                    && w[2..w.find('=').unwrap_or(2)].chars().all(|c| c.is_ascii_lowercase())
            });
            assert!(handler.is_none(), "{}: inline handler {handler:?}", path.display());
            assert!(!lower.contains("javascript:"), "{}", path.display());
            seen += 1;
        }
        assert!(seen > 10, "templates read: {seen}");
    }
}
