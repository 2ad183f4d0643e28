//! The sign-in limiter: a client address that failed to present a valid API key
//! or user password `server.failed_key_limit` times (default
//! [`DEFAULT_FAILED_KEY_LIMIT`](crate::state::DEFAULT_FAILED_KEY_LIMIT)) within
//! [`WINDOW`] is refused (429) until the oldest of
//! those failures leaves the window, on the dashboard's sign-in form and on every
//! `Authorization: Bearer` request alike. The same holds per key prefix (the first
//! 10 characters, which `keys list` shows), and per user name: guesses at the
//! rest of one known key, or at one user's password, are limited however many
//! addresses they come from. The failures are rows in the database
//! ([`detective_store::auth_failures`]), so all replicas count them together. A
//! database error lets the request through to the key check (which fails on its
//! own if the database is down): the limiter never locks out a valid key because of
//! its own trouble.

use std::time::Duration;

use axum::http::StatusCode;

use crate::problem::ApiError;
use crate::state::AppState;

/// How long a failure counts.
pub const WINDOW: Duration = Duration::from_secs(600);

/// What a key check is counted against: the client's address, and the prefix of
/// the key it presented.
pub fn subjects(client: &str, key: &str) -> [String; 2] {
    let prefix: String = key.chars().take(10).collect();
    [client.to_string(), format!("key {prefix}")]
}

/// What a password sign-in is counted against: the client's address, and the
/// user name tried (guesses at one account's password are limited however
/// many addresses they come from).
pub fn user_subjects(client: &str, username: &str) -> [String; 2] {
    [client.to_string(), user_subject(username)]
}

/// What password guesses at one account count against, from any address.
pub fn user_subject(username: &str) -> String {
    let name: String = username.trim().to_lowercase().chars().take(64).collect();
    format!("user {name}")
}

/// 429 when one of `subjects` has used up its failures.
pub async fn refuse_if_limited(st: &AppState, subjects: &[String]) -> Result<(), ApiError> {
    let max = i64::from(st.settings.failed_key_limit);
    if max == 0 {
        return Ok(());
    }
    let since = detective_store::clock::now_ms() - WINDOW.as_millis() as i64;
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    match detective_store::auth_failures::most_since(&st.db, &subjects, since).await {
        Ok(Some((subject, n))) if n >= max => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{n} failed sign-ins for {subject} in the last {} minutes: wait before trying again",
                WINDOW.as_secs() / 60
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!("sign-in limiter: {e}; not limiting");
            Ok(())
        }
    }
}

/// Counts a failed key check against each of `subjects`.
pub async fn failed(st: &AppState, subjects: &[String]) {
    tracing::warn!(counted_against = %subjects.join(", "), "a sign-in failed (unknown key or wrong password)");
    if st.settings.failed_key_limit == 0 {
        return;
    }
    for subject in subjects {
        if let Err(e) = detective_store::auth_failures::record(&st.db, subject, WINDOW.as_millis() as i64).await {
            tracing::warn!("sign-in limiter: {e}");
        }
    }
}

/// Forgets the failures of `subjects` after a successful sign-in on the dashboard.
pub async fn signed_in(st: &AppState, subjects: &[String]) {
    for subject in subjects {
        if let Err(e) = detective_store::auth_failures::clear(&st.db, subject).await {
            tracing::warn!("sign-in limiter: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_counts_against_the_address_and_the_key_prefix() {
        assert_eq!(
            subjects("10.1.2.3", "dd_0123456789abcdef"),
            ["10.1.2.3".to_string(), "key dd_0123456".to_string()]
        );
        assert_eq!(subjects("h", "")[1], "key ");
        assert_eq!(user_subjects("h", " Ann ")[1], "user ann");
    }
}
