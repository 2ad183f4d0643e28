//! `GET /login` (the form), `POST /login` (form fields `username` and
//! `password` of a user account, or `key`: an API key that may read; sets the
//! session cookie and goes on to `next`), `POST /logout`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use detective_core::Action;
use serde::Deserialize;

use crate::problem::ApiError;
use crate::session;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// Only a local path is followed after login (no `//host` or `https://…`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() < 512 => n.to_string(),
        _ => "/".to_string(),
    }
}

fn page(next: String, error: Option<String>, status: StatusCode) -> Response {
    match (LoginPage { next, error }).render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

pub async fn form(Query(q): Query<NextQuery>) -> Response {
    page(safe_next(q.next.as_deref()), None, StatusCode::OK)
}

pub async fn submit(State(st): State<AppState>, parts: Parts, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let client = crate::client_addr::client_of(&parts, &st.settings.trusted_proxies);
    let by_password = !f.username.trim().is_empty();
    let subjects = if by_password {
        crate::auth_limit::user_subjects(&client, &f.username)
    } else {
        crate::auth_limit::subjects(&client, f.key.trim())
    };
    if let Err(e) = crate::auth_limit::refuse_if_limited(&st, &subjects).await {
        return page(next, Some(e.detail), StatusCode::TOO_MANY_REQUESTS);
    }
    let signed = if by_password {
        user_session(&st, &f.username, &f.password).await
    } else {
        key_session(&st, f.key.trim()).await
    };
    let (subject, who) = match signed {
        Ok(Ok(found)) => found,
        Ok(Err((status, why))) => {
            if status == StatusCode::UNAUTHORIZED {
                crate::auth_limit::failed(&st, &subjects).await;
            }
            return page(next, Some(why), status);
        }
        Err(e) => return e.into_response(),
    };
    let Some(cookie) = session::issue(&st.settings.session_secret, &subject, chrono::Utc::now().timestamp()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign the session").into_response();
    };
    crate::auth_limit::signed_in(&st, &subjects).await;
    tracing::info!("dashboard login: {who}");
    (
        [(
            header::SET_COOKIE,
            session::set_cookie(Some(&cookie), st.settings.secure_cookies),
        )],
        Redirect::to(&next),
    )
        .into_response()
}

/// What a sign-in found: the session's subject and who it is (for the log), or
/// the refusal shown on the form.
type SignIn = Result<(String, String), (StatusCode, String)>;

async fn key_session(st: &AppState, key: &str) -> Result<SignIn, ApiError> {
    let Some(k) = detective_store::api_keys::authenticate(&st.db, key).await? else {
        return Ok(Err((StatusCode::UNAUTHORIZED, "Unknown or revoked API key.".into())));
    };
    if !k.role.may(Action::Read) {
        return Ok(Err((
            StatusCode::FORBIDDEN,
            format!(
                "A {} key is for agents; sign in with a viewer, operator or admin key.",
                k.role
            ),
        )));
    }
    Ok(Ok((
        session::Subject::Key(&k.id).encode(),
        format!("key {} ({})", k.name, k.role),
    )))
}

async fn user_session(st: &AppState, username: &str, password: &str) -> Result<SignIn, ApiError> {
    let Some(u) = detective_ops::accounts::authenticate(&st.db, username, password).await? else {
        return Ok(Err((
            StatusCode::UNAUTHORIZED,
            "Unknown user or wrong password.".into(),
        )));
    };
    let subject = session::Subject::User {
        id: &u.id,
        password_changed_ms: u.password_changed_ms,
    };
    Ok(Ok((subject.encode(), format!("user {} ({})", u.username, u.role))))
}

pub async fn logout(State(st): State<AppState>) -> Response {
    (
        [(
            header::SET_COOKIE,
            session::set_cookie(None, st.settings.secure_cookies),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/inspections")), "/inspections");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "live"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
