//! API keys: create one for a role (its secret is returned once and stored
//! only as a hash), list them without secrets, revoke one at once. The API's
//! admin routes and `detective keys` use these.

use detective_core::Role;
use detective_store::Db;
use detective_store::api_keys::{self, ApiKey};

use crate::OpsError;

/// Creates a key named `name` for `role`; returns it with its secret.
pub async fn create(db: &Db, name: &str, role: Role) -> Result<(ApiKey, String), OpsError> {
    Ok(api_keys::create(db, name, role).await?)
}

/// Every key, never its secret.
pub async fn list(db: &Db) -> Result<Vec<ApiKey>, OpsError> {
    Ok(api_keys::list(db).await?)
}

/// Revokes key `id`: it stops working at its next request.
pub async fn revoke(db: &Db, id: &str) -> Result<(), OpsError> {
    Ok(api_keys::revoke(db, id).await?)
}
