//! Helpers for tests that run against the real PostgreSQL server of the machine
//! (127.0.0.1:5432, database `test`): each call makes a fresh schema, so test
//! runs never see each other's rows.

use crate::StoreError;

/// Where tests find PostgreSQL: `$DETECTIVE_TEST_POSTGRES`, else the machine's
/// server on 127.0.0.1:5432, database `test`, trust auth.
pub fn postgres_base_url() -> String {
    std::env::var("DETECTIVE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Creates a new empty schema and returns a URL whose connections use it.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    use sqlx::Connection;
    let base = postgres_base_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await?;
    conn.close().await?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
