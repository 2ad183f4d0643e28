//! Who is looking at a page: the session's key or user, when it may read. Without a
//! session the browser is sent to `/login?next=…`; a key that may not read (a
//! device key) gets a plain 403 page.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use detective_core::{Action, Role};

use crate::auth::{Caller, session_caller};
use crate::state::AppState;

/// The signed-in user of a dashboard page.
pub struct PageUser(pub Caller);

impl PageUser {
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// The name shown in the header.
    pub fn name(&self) -> &str {
        &self.0.key_name
    }

    /// Whether the user may do `action` (pages hide what the role may not do).
    pub fn may(&self, action: Action) -> bool {
        self.0.role.may(action)
    }
}

/// Percent-encodes a path for the `next` parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.settings.insecure_no_auth {
            return Ok(PageUser(Caller::insecure()));
        }
        match session_caller(parts, state).await {
            Ok(Some(c)) if c.role.may(Action::Read) => Ok(PageUser(c)),
            Ok(Some(c)) => Err((
                StatusCode::FORBIDDEN,
                Html(format!(
                    "<!doctype html><title>Forbidden</title><p>A {} key cannot open the dashboard. \
                     <a href=\"/login\">Sign in with another key</a>.</p>",
                    c.role
                )),
            )
                .into_response()),
            Ok(None) => Err(Redirect::to(&format!("/login?next={}", encode(parts.uri.path()))).into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_paths_are_percent_encoded() {
        assert_eq!(super::encode("/inspections"), "/inspections");
        assert_eq!(super::encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }
}
