//! All SQL of the CMS: its sessions (created at login, read on every page, their tokens replaced under a row
//! lock when refreshed, deleted at logout or once expired). Rows are keyed by the SHA-256 of the browser's
//! session id; the tokens never leave the server.

use deadpool_postgres::{GenericClient, Pool};
use jiff::Timestamp;
use microfleet_common::database::DbError;
use tokio_postgres::Row;

/// A session as stored (no `Debug`: it holds tokens).
#[derive(Clone)]
pub struct Session {
    /// SHA-256 of the session id.
    pub id_digest: String,
    /// The user's id (the token's `sub`).
    pub user_id: String,
    /// Their login name.
    pub username: String,
    /// The token every form of this session carries.
    pub csrf_token: String,
    /// The current access token.
    pub access_token: String,
    /// When it expires.
    pub access_expires_at: Timestamp,
    /// The current (one-time) refresh token.
    pub refresh_token: String,
    /// When the session ends, whatever happens.
    pub expires_at: Timestamp,
}

const COLUMNS: &str =
    "id_digest, user_id, username, csrf_token, access_token, access_expires_at, refresh_token, expires_at";

fn session(row: &Row) -> Session {
    Session {
        id_digest: row.get(0),
        user_id: row.get(1),
        username: row.get(2),
        csrf_token: row.get(3),
        access_token: row.get(4),
        access_expires_at: row.get(5),
        refresh_token: row.get(6),
        expires_at: row.get(7),
    }
}

/// Stores a new session.
pub async fn create(pool: &Pool, session: &Session, now: Timestamp) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            &format!("INSERT INTO sessions ({COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &session.id_digest,
                &session.user_id,
                &session.username,
                &session.csrf_token,
                &session.access_token,
                &session.access_expires_at,
                &session.refresh_token,
                &session.expires_at,
                &now,
            ],
        )
        .await?;
    Ok(())
}

/// The session with this digest, unless it has ended.
pub async fn find(pool: &Pool, id_digest: &str, now: Timestamp) -> Result<Option<Session>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id_digest = $1 AND expires_at > $2"),
            &[&id_digest, &now],
        )
        .await?;
    Ok(row.as_ref().map(session))
}

/// The session, its row locked until `client`'s transaction ends (so one request at a time refreshes it).
pub async fn lock(client: &impl GenericClient, id_digest: &str) -> Result<Option<Session>, DbError> {
    let row = client
        .query_opt(&format!("SELECT {COLUMNS} FROM sessions WHERE id_digest = $1 FOR UPDATE"), &[&id_digest])
        .await?;
    Ok(row.as_ref().map(session))
}

/// Replaces the session's tokens.
pub async fn store_tokens(
    client: &impl GenericClient,
    id_digest: &str,
    access_token: &str,
    access_expires_at: Timestamp,
    refresh_token: &str,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE sessions SET access_token = $2, access_expires_at = $3, refresh_token = $4 WHERE id_digest = $1",
            &[&id_digest, &access_token, &access_expires_at, &refresh_token],
        )
        .await?;
    Ok(())
}

/// Deletes a session inside `client`'s transaction (its refresh was refused).
pub async fn delete(client: &impl GenericClient, id_digest: &str) -> Result<(), DbError> {
    client.execute("DELETE FROM sessions WHERE id_digest = $1", &[&id_digest]).await?;
    Ok(())
}

/// Ends a session (logout, or its access token was refused).
pub async fn end(pool: &Pool, id_digest: &str) -> Result<(), DbError> {
    delete(&pool.get().await?, id_digest).await
}

/// Deletes the sessions that have ended; how many.
pub async fn purge_ended(pool: &Pool, now: Timestamp) -> Result<u64, DbError> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now]).await?)
}
