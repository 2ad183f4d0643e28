//! Names that end up in object-store keys and file paths (projects, cameras,
//! dataset names): checked so that none can climb out of its folder.

use crate::CoreError;

/// Longest accepted name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a name used as one path segment: 1..=64 characters of ASCII letters,
/// digits, `-`, `_` and `.`, not starting with `.` (so never `.` or `..`).
pub fn check_segment(what: &'static str, name: &str) -> Result<(), CoreError> {
    let bad = |reason: &str| CoreError::InvalidName {
        what,
        name: name.chars().take(80).collect(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("is longer than 64 characters"));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(bad(&format!(
            "contains {c:?}; only letters, digits, '-', '_' and '.' are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for n in ["line1-cam2", "default", "steel_v2.1", "A"] {
            assert!(check_segment("camera", n).is_ok(), "{n}");
        }
    }

    #[test]
    fn traversal_absolute_and_odd_names_are_refused() {
        for n in [
            "",
            "..",
            ".",
            "../etc",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "x'; DROP TABLE images;--",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_segment("camera", n).is_err(), "{n}");
        }
    }
}
