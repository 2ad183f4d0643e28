//! Named user accounts with passwords, beside API keys: create, sign in, set a
//! password, disable. Passwords are kept as Argon2id hashes (the `argon2`
//! crate's defaults: 19 MiB, 2 passes, OWASP's recommended minimum), made and
//! checked on a blocking thread so that a sign-in never stalls the server's
//! other requests, and at most four at a time so that a burst of sign-ins
//! cannot fill the memory. A sign-in for a name that does not exist costs the same
//! hash check, so timing does not tell which names exist.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use detective_core::Role;
use detective_store::Db;
use detective_store::users::{self, User};

use crate::OpsError;

/// Hashes made or checked at once: each takes 19 MiB and a core for tens of
/// milliseconds, so a burst of sign-ins waits here instead of filling memory.
const HASHING_AT_ONCE: usize = 4;
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHING_AT_ONCE);

/// Runs the password work `f` on a blocking thread, at most [`HASHING_AT_ONCE`] at a time.
async fn hashing<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, OpsError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| OpsError::Io(format!("password hashing: {e}")))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Io(format!("password hashing: {e}")))
}

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, in bytes (hashing cost grows with length).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// A usable password, or why not.
pub fn check_password(password: &str) -> Result<(), OpsError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(OpsError::invalid(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(OpsError::invalid(format!(
            "a password has at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(OpsError::invalid("a password may not hold control characters"));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, OpsError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OpsError::Io(format!("hashing the password: {e}")))
}

/// Whether `password` matches the PHC-format `hash` (false for a hash that does not parse).
fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

async fn hash(password: &str) -> Result<String, OpsError> {
    check_password(password)?;
    let password = password.to_string();
    hashing(move || hash_blocking(&password)).await?
}

/// A hash no password is known for: what an unknown name is checked against.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_blocking(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Creates account `username` for `role` with `password`.
pub async fn create(db: &Db, username: &str, role: Role, password: &str) -> Result<User, OpsError> {
    // The name is checked before the (slow) hash is made.
    users::normalize_username(username)?;
    let hashed = hash(password).await?;
    Ok(users::create(db, username, role, &hashed).await?)
}

/// The enabled account `username` if `password` is its password.
pub async fn authenticate(db: &Db, username: &str, password: &str) -> Result<Option<User>, OpsError> {
    if password.len() > MAX_PASSWORD_BYTES || username.len() > 256 {
        return Ok(None);
    }
    let found = users::credentials(db, username).await?;
    let password = password.to_string();
    let (user, hashed) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, String::new()),
    };
    let matches = hashing(move || {
        let hashed = if hashed.is_empty() { decoy() } else { hashed.as_str() };
        verify_blocking(&password, hashed)
    })
    .await?;
    Ok(user.filter(|_| matches))
}

/// Sets a new password on the account with id or name `who`; its sessions end.
pub async fn set_password(db: &Db, who: &str, password: &str) -> Result<User, OpsError> {
    let user = users::find(db, who).await?;
    let hashed = hash(password).await?;
    Ok(users::set_password(db, &user.id, &hashed).await?)
}

/// Changes the password of account `user_id` after checking its `current`
/// one; `None` (nothing changed) when `current` is not right.
pub async fn change_own_password(db: &Db, user_id: &str, current: &str, new: &str) -> Result<Option<User>, OpsError> {
    let user = users::get(db, user_id).await?;
    check_password(new)?;
    if authenticate(db, &user.username, current).await?.is_none() {
        return Ok(None);
    }
    set_password(db, user_id, new).await.map(Some)
}

/// Disables (or enables again) the account with id or name `who`.
pub async fn set_disabled(db: &Db, who: &str, disabled: bool) -> Result<User, OpsError> {
    let user = users::find(db, who).await?;
    Ok(users::set_disabled(db, &user.id, disabled).await?)
}

/// Every account, by name.
pub async fn list(db: &Db) -> Result<Vec<User>, OpsError> {
    Ok(users::list(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_blocking("correct horse battery", &h));
        assert!(!verify_blocking("correct horse batterY", &h));
        assert!(!verify_blocking("correct horse battery", "not a hash"));
        assert_ne!(h, hash_blocking("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn short_long_or_control_passwords_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(check_password("ten chars\n!").is_err());
        assert!(check_password("ten chars!").is_ok());
    }
}
