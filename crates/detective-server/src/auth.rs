//! Who is calling: the API key in `Authorization: Bearer …` (looked up by hash),
//! or, for the dashboard's own requests, its signed session cookie (see
//! [`crate::session`]) of a key or a user account; checked against the role
//! matrix of `detective_core::Role`.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use detective_core::{Action, Role};

use crate::problem::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// Key id; `None` for a user account's session, and when the server runs
    /// with `--insecure-no-auth`.
    pub key_id: Option<String>,
    /// The key's name, or the user's: what labels, promotions and the audit
    /// trail record as who did it.
    pub key_name: String,
    /// The user account of a session signed in with a user name and password.
    pub user_id: Option<String>,
}

impl Caller {
    /// Everything is allowed: the server runs with `--insecure-no-auth`.
    pub fn insecure() -> Caller {
        Caller {
            role: Role::Admin,
            key_id: None,
            key_name: "insecure-no-auth".into(),
            user_id: None,
        }
    }

    fn of_key(k: detective_store::api_keys::ApiKey) -> Caller {
        Caller {
            role: k.role,
            key_id: Some(k.id),
            key_name: k.name,
            user_id: None,
        }
    }

    fn of_user(u: detective_store::users::User) -> Caller {
        Caller {
            role: u.role,
            key_id: None,
            key_name: u.username,
            user_id: Some(u.id),
        }
    }

    /// 403 unless the caller's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("a {} key may not do this ({action:?} needs another role)", self.role),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::find(parts, state).await?;
        // the audit trail records who made a change with the caller found here
        crate::audit_caller::note(&caller.key_name, caller.role);
        Ok(caller)
    }
}

impl Caller {
    async fn find(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings.insecure_no_auth {
            return Ok(Caller::insecure());
        }
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return match session_caller(parts, state).await? {
                Some(c) => Ok(c),
                None => Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing Authorization: Bearer <API key> (or a dashboard session)",
                )),
            };
        };
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Authorization must be `Bearer <API key>`"))?;
        let client = crate::client_addr::client_of(parts, &state.settings.trusted_proxies);
        let subjects = crate::auth_limit::subjects(&client, secret);
        crate::auth_limit::refuse_if_limited(state, &subjects).await?;
        match detective_store::api_keys::authenticate(&state.db, secret).await? {
            Some(k) => Ok(Caller::of_key(k)),
            None => {
                crate::auth_limit::failed(state, &subjects).await;
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown or revoked API key"))
            }
        }
    }
}

/// The caller of a valid session cookie whose key still exists unrevoked, or
/// whose user account is enabled and has not had its password changed since.
pub async fn session_caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(value) = crate::session::from_headers(&parts.headers) else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp();
    let Some(subject) = crate::session::verify(&state.settings.session_secret, &value, now) else {
        return Ok(None);
    };
    let found = match crate::session::Subject::parse(&subject) {
        crate::session::Subject::Key(id) => detective_store::api_keys::get(&state.db, id)
            .await
            .map(|k| (!k.revoked).then(|| Caller::of_key(k))),
        crate::session::Subject::User {
            id,
            password_changed_ms,
        } => detective_store::users::get(&state.db, id)
            .await
            .map(|u| (!u.disabled && u.password_changed_ms == password_changed_ms).then(|| Caller::of_user(u))),
    };
    match found {
        Ok(c) => Ok(c),
        Err(detective_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An action a route needs, as a type, so that [`Can`] checks it while the
/// request's head is read — before a body extractor reads a byte.
pub trait Permission {
    const ACTION: Action;
}

macro_rules! permissions {
    ($($name:ident),+) => {$(
        #[doc = concat!("The `", stringify!($name), "` action, for [`Can`].")]
        pub struct $name;
        impl Permission for $name {
            const ACTION: Action = Action::$name;
        }
    )+};
}

permissions!(Read, Log, Predict, FetchModel, ManageData, Operate, Admin);

/// The caller, allowed to do `P` (403 otherwise). Put it before the body
/// extractor: extractors run in order, so a caller who may not is refused
/// before the body is read.
pub struct Can<P: Permission>(pub Caller, std::marker::PhantomData<P>);

impl<P: Permission> std::ops::Deref for Can<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<P: Permission> FromRequestParts<AppState> for Can<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(P::ACTION)?;
        Ok(Can(caller, std::marker::PhantomData))
    }
}
