//! All SQL of the auth service: users and their login counters, the per-address failure windows, refresh
//! token families, API keys and the audit rows. Each change that must be atomic is one transaction, and a
//! change an admin or a service-key file makes writes its audit row in that same transaction (both or
//! neither: no change goes unaudited, no row tells of a change that did not happen); the
//! decisions come from `domain` (passed the locked rows), so the SQL only reads and writes. No secret is
//! ever written here in the clear: passwords arrive hashed, tokens and keys as SHA-256 digests.

use deadpool_postgres::{GenericClient, Pool};
use jiff::Timestamp;
use microfleet_common::database::DbError;
use microfleet_common::paging::PageQuery;
use microfleet_common::refusal::RepositoryError;
use tokio_postgres::Row;

use crate::domain::api_keys::{ApiKeyInfo, NewApiKey};
use crate::domain::lockout::{self, LoginPolicy};
use crate::domain::service_keys::{self, Registration, ServiceKey, ServiceKeyError};
use crate::domain::user::{NewUser, Role, User, UserFilters};
use crate::domain::DomainError;

/// What an audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// `POST /v1/login`.
    Login,
    /// `POST /v1/token/refresh`.
    Refresh,
    /// `POST /v1/logout`.
    Logout,
    /// `POST /v1/introspect`.
    Introspect,
    /// A call to a protected route (admin or introspection) authenticated or refused.
    Access,
    /// `POST /v1/users`.
    UserCreate,
    /// `POST /v1/users/{id}/unlock`.
    UserUnlock,
    /// `POST /v1/users/{id}/confirm`.
    UserConfirm,
    /// `PUT /v1/users/{id}/roles`.
    UserRoles,
    /// `POST /v1/api-keys`.
    ApiKeyCreate,
    /// `POST /v1/api-keys/{id}/revoke`.
    ApiKeyRevoke,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 11] = [
        AuditKind::Login,
        AuditKind::Refresh,
        AuditKind::Logout,
        AuditKind::Introspect,
        AuditKind::Access,
        AuditKind::UserCreate,
        AuditKind::UserUnlock,
        AuditKind::UserConfirm,
        AuditKind::UserRoles,
        AuditKind::ApiKeyCreate,
        AuditKind::ApiKeyRevoke,
    ];

    /// The name in rows and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Refresh => "refresh",
            AuditKind::Logout => "logout",
            AuditKind::Introspect => "introspect",
            AuditKind::Access => "access",
            AuditKind::UserCreate => "user_create",
            AuditKind::UserUnlock => "user_unlock",
            AuditKind::UserConfirm => "user_confirm",
            AuditKind::UserRoles => "user_roles",
            AuditKind::ApiKeyCreate => "api_key_create",
            AuditKind::ApiKeyRevoke => "api_key_revoke",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Granted.
    Granted,
    /// Refused.
    Refused,
    /// Something was revoked.
    Revoked,
}

impl Outcome {
    /// The name in rows and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Refused => "refused",
            Outcome::Revoked => "revoked",
        }
    }
}

/// One audit row. The reason is a fixed label, so no secret can reach the row; the subject is a user id, a
/// key's prefix or name — never a token, key or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What.
    pub kind: AuditKind,
    /// How it ended.
    pub outcome: Outcome,
    /// Who (user id, `key:<prefix>`), when known.
    pub subject: Option<String>,
    /// From which client address.
    pub address: Option<String>,
    /// Why (a fixed label such as `bad_password`, `locked`, `reuse`).
    pub reason: Option<&'static str>,
}

impl AuditEvent {
    /// The event of a change: `kind` and `outcome` asked from `address`, its subject set once the change is
    /// made ([`AuditEvent::of`]).
    pub fn change(kind: AuditKind, outcome: Outcome, address: Option<String>) -> AuditEvent {
        AuditEvent { kind, outcome, subject: None, address, reason: None }
    }

    /// This event about `subject`.
    fn of(&self, subject: String) -> AuditEvent {
        AuditEvent { subject: Some(subject), ..self.clone() }
    }
}

/// Writes an audit row on `client` (the pool's, or the transaction of the change it records).
async fn insert_audit(client: &impl GenericClient, event: &AuditEvent) -> Result<(), DbError> {
    client
        .execute(
            "INSERT INTO audit_events (kind, outcome, subject, address, reason) VALUES ($1, $2, $3, $4, $5)",
            &[&event.kind.as_str(), &event.outcome.as_str(), &event.subject, &event.address, &event.reason],
        )
        .await?;
    Ok(())
}

/// Writes the audit row of an event that changed nothing (a refusal, a login, an introspection).
pub async fn audit(pool: &Pool, event: &AuditEvent) -> Result<(), DbError> {
    insert_audit(&pool.get().await?, event).await
}

const USER_COLUMNS: &str =
    "id, name, username, email, phone, confirmed, roles, failed_logins, locked_until, created_at";

fn user_of(row: &Row) -> Result<User, DbError> {
    let names: Vec<String> = row.get("roles");
    let roles = names
        .iter()
        .map(|name| Role::parse(name).ok_or_else(|| DbError::Unexpected(format!("role {name}"))))
        .collect::<Result<_, _>>()?;
    Ok(User {
        id: row.get("id"),
        name: row.get("name"),
        username: row.get("username"),
        email: row.get("email"),
        phone: row.get("phone"),
        confirmed: row.get("confirmed"),
        roles,
        failed_logins: row.get("failed_logins"),
        locked_until: row.get("locked_until"),
        created_at: row.get("created_at"),
    })
}

fn role_names(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|role| role.as_str().to_string()).collect()
}

/// Creates a user with an already hashed password, and its audit row (`audit` about the new user's id), in one
/// transaction; 409 naming `username` or `email` when taken.
pub async fn create_user(
    pool: &Pool,
    new: &NewUser,
    password_hash: &str,
    now: Timestamp,
    audit: &AuditEvent,
) -> Result<(User, AuditEvent), RepositoryError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let sql = format!(
        "INSERT INTO users (name, username, email, phone, confirmed, roles, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {USER_COLUMNS}"
    );
    let result = tx
        .query_one(
            &sql,
            &[
                &new.name,
                &new.username,
                &new.email,
                &new.phone,
                &new.confirmed,
                &role_names(&new.roles),
                &password_hash,
                &now,
            ],
        )
        .await;
    match result {
        Ok(row) => {
            let user = user_of(&row)?;
            let event = audit.of(user.id.to_string());
            insert_audit(&tx, &event).await?;
            tx.commit().await.map_err(DbError::from)?;
            Ok((user, event))
        }
        Err(error) => {
            let constraint = error.as_db_error().and_then(|db| db.constraint()).unwrap_or_default().to_string();
            match DbError::from(error) {
                error if error.sql_state() == Some("23505") => {
                    let field = if constraint.contains("email") { "email" } else { "username" };
                    Err(DomainError::conflict(field, "is already taken").into())
                }
                error => Err(error.into()),
            }
        }
    }
}

/// Creates the bootstrap admin unless a user with that username exists; whether it was created.
pub async fn bootstrap_admin(
    pool: &Pool,
    username: &str,
    password_hash: &str,
    now: Timestamp,
) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let email = format!("{username}@bootstrap.invalid");
    let created = client
        .execute(
            "INSERT INTO users (name, username, email, confirmed, roles, password_hash, created_at)
             VALUES ('Administrator', $1, $2, true, ARRAY['admin'], $3, $4) ON CONFLICT DO NOTHING",
            &[&username, &email, &password_hash, &now],
        )
        .await?;
    Ok(created == 1)
}

/// A user by id; 404 naming `id`.
pub async fn get_user(pool: &Pool, id: i64) -> Result<User, RepositoryError> {
    let client = pool.get().await?;
    let row = client.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id]).await?;
    let row = row.ok_or_else(|| DomainError::not_found("id", "no such user"))?;
    Ok(user_of(&row)?)
}

/// A user and their password hash by username, for a login.
pub async fn find_login(pool: &Pool, username: &str) -> Result<Option<(User, String)>, DbError> {
    let client = pool.get().await?;
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1");
    match client.query_opt(&sql, &[&username]).await? {
        Some(row) => Ok(Some((user_of(&row)?, row.get("password_hash")))),
        None => Ok(None),
    }
}

/// A client address's failure window.
pub async fn address_window(pool: &Pool, address: &str) -> Result<Option<(Timestamp, u32)>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt("SELECT window_started_at, failures FROM address_failures WHERE address = $1", &[&address])
        .await?;
    Ok(row.map(|row| (row.get(0), row.get::<_, i32>(1).unsigned_abs())))
}

/// Records a failed login of a user (when the username exists) from an address; returns until when the
/// user is now locked, if this failure locked them.
pub async fn record_failure(
    pool: &Pool,
    user_id: Option<i64>,
    address: &str,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<Option<Timestamp>, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut locked = None;
    if let Some(id) = user_id {
        let row = tx.query_one("SELECT failed_logins FROM users WHERE id = $1 FOR UPDATE", &[&id]).await?;
        let (failures, until) = lockout::after_failure(row.get::<_, i32>(0).unsigned_abs(), policy, now);
        let failures = i32::try_from(failures).unwrap_or(i32::MAX);
        tx.execute(
            "UPDATE users SET failed_logins = $2, locked_until = COALESCE($3, locked_until) WHERE id = $1",
            &[&id, &failures, &until],
        )
        .await?;
        locked = until;
    }
    tx.execute(
        "INSERT INTO address_failures (address, window_started_at, failures) VALUES ($1, $2, 0)
         ON CONFLICT (address) DO NOTHING",
        &[&address, &now],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT window_started_at, failures FROM address_failures WHERE address = $1 FOR UPDATE",
            &[&address],
        )
        .await?;
    let window = Some((row.get(0), row.get::<_, i32>(1).unsigned_abs()));
    let (started, failures) = lockout::address_after_failure(window, policy, now);
    let failures = i32::try_from(failures).unwrap_or(i32::MAX);
    tx.execute(
        "UPDATE address_failures SET window_started_at = $2, failures = $3 WHERE address = $1",
        &[&address, &started, &failures],
    )
    .await?;
    tx.commit().await?;
    Ok(locked)
}

/// Runs `update` (an `UPDATE users ... WHERE id = $1 RETURNING` the user's columns) on user `id` with
/// `params` after it, and writes `audit` about the user in the same transaction; 404 naming `id`.
async fn update_user_audited(
    pool: &Pool,
    update: &str,
    id: i64,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    audit: &AuditEvent,
) -> Result<(User, AuditEvent), RepositoryError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        std::iter::once(&id as _).chain(params.iter().copied()).collect();
    let row = tx.query_opt(&format!("{update} RETURNING {USER_COLUMNS}"), &all).await?;
    let user = user_of(&row.ok_or_else(|| DomainError::not_found("id", "no such user"))?)?;
    let event = audit.of(user.id.to_string());
    insert_audit(&tx, &event).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok((user, event))
}

/// Lifts a user's lock (an admin's `unlock`), audited; 404 naming `id`.
pub async fn unlock(pool: &Pool, id: i64, audit: &AuditEvent) -> Result<(User, AuditEvent), RepositoryError> {
    let update = "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1";
    update_user_audited(pool, update, id, &[], audit).await
}

/// A page of users by id: the name, username or e-mail containing the search text, holding the role the
/// filters ask for; and how many match.
pub async fn list_users(pool: &Pool, page: &PageQuery, filters: &UserFilters) -> Result<(Vec<User>, i64), DbError> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR name ILIKE $1 OR username ILIKE $1 OR email ILIKE $1)
          AND ($2::text IS NULL OR $2 = ANY(roles))";
    let (pattern, role) = (page.pattern(), filters.role.map(Role::as_str));
    let rows = client
        .query(
            &format!("SELECT {USER_COLUMNS} FROM users {filter} ORDER BY id LIMIT $3 OFFSET $4"),
            &[&pattern, &role, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client.query_one(&format!("SELECT count(*) FROM users {filter}"), &[&pattern, &role]).await?.get(0);
    Ok((rows.iter().map(user_of).collect::<Result<_, _>>()?, total))
}

/// Confirms a user's account (again changes nothing), audited; 404 naming `id`.
pub async fn confirm_user(pool: &Pool, id: i64, audit: &AuditEvent) -> Result<(User, AuditEvent), RepositoryError> {
    update_user_audited(pool, "UPDATE users SET confirmed = true WHERE id = $1", id, &[], audit).await
}

/// Sets a user's roles, audited; 404 naming `id`.
pub async fn set_roles(
    pool: &Pool,
    id: i64,
    roles: &[Role],
    audit: &AuditEvent,
) -> Result<(User, AuditEvent), RepositoryError> {
    update_user_audited(pool, "UPDATE users SET roles = $2 WHERE id = $1", id, &[&role_names(roles)], audit).await
}

/// Grants a login, with its audit row (`audit`), in one transaction: the user's failure count starts again
/// and the login's first refresh token (its digest) is stored in a new family.
pub async fn grant_login(
    pool: &Pool,
    user_id: i64,
    family: &str,
    token_hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
    audit: &AuditEvent,
) -> Result<(), DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("UPDATE users SET failed_logins = 0 WHERE id = $1", &[&user_id]).await?;
    tx.execute(
        "INSERT INTO refresh_tokens (token_hash, family, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&token_hash, &family, &user_id, &now, &expires_at],
    )
    .await?;
    insert_audit(&tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was valid: it is now used, and the new one (same family) stored. The user and the family.
    Rotated(User, String),
    /// No such token.
    Unknown,
    /// Expired.
    Expired,
    /// Revoked (logout, or an earlier reuse).
    Revoked,
    /// Already used: a copy is being replayed, so the whole family is now revoked. The user's id.
    Reused(i64),
}

/// Uses a refresh token: one-time, so a second use revokes its family (RFC 9700 §4.14.2). The audit row of
/// what it did (`audit` of the rotation) is written in the same transaction.
pub async fn rotate_refresh(
    pool: &Pool,
    old_hash: &[u8],
    new_hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
    audit: impl FnOnce(&Rotation) -> AuditEvent,
) -> Result<(Rotation, AuditEvent), DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT id, family, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
             WHERE token_hash = $1 FOR UPDATE",
            &[&old_hash],
        )
        .await?;
    let outcome = match row {
        None => Rotation::Unknown,
        Some(row) => rotate(&tx, &row, new_hash, now, expires_at).await?,
    };
    let event = audit(&outcome);
    insert_audit(&tx, &event).await?;
    tx.commit().await?;
    Ok((outcome, event))
}

/// The rotation of the refresh token `row` (locked), in `tx`.
async fn rotate(
    tx: &deadpool_postgres::Transaction<'_>,
    row: &Row,
    new_hash: &[u8],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Rotation, DbError> {
    let (id, family, user_id): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
    let (expires, used, revoked): (Timestamp, Option<Timestamp>, Option<Timestamp>) =
        (row.get(3), row.get(4), row.get(5));
    Ok(if revoked.is_some() {
        Rotation::Revoked
    } else if used.is_some() {
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
            &[&family, &now],
        )
        .await?;
        Rotation::Reused(user_id)
    } else if expires <= now {
        Rotation::Expired
    } else {
        tx.execute("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", &[&id, &now]).await?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&new_hash, &family, &user_id, &now, &expires_at],
        )
        .await?;
        let user = tx.query_one(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&user_id]).await?;
        Rotation::Rotated(user_of(&user)?, family)
    })
}

/// Revokes the family of a refresh token (logout), with the audit row (`audit` of the user's id, `None` for
/// an unknown token) in the same transaction.
pub async fn revoke_family(
    pool: &Pool,
    token_hash: &[u8],
    now: Timestamp,
    audit: impl FnOnce(Option<i64>) -> AuditEvent,
) -> Result<AuditEvent, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "WITH token AS (SELECT family, user_id FROM refresh_tokens WHERE token_hash = $1),
                  revoked AS (UPDATE refresh_tokens SET revoked_at = $2
                              WHERE family IN (SELECT family FROM token) AND revoked_at IS NULL)
             SELECT user_id FROM token",
            &[&token_hash, &now],
        )
        .await?;
    let event = audit(row.map(|row| row.get(0)));
    insert_audit(&tx, &event).await?;
    tx.commit().await?;
    Ok(event)
}

const KEY_COLUMNS: &str = "id, prefix, name, scopes, created_by, created_at, expires_at, last_used_at, revoked_at";

fn key_of(row: &Row) -> ApiKeyInfo {
    ApiKeyInfo {
        id: row.get("id"),
        prefix: row.get("prefix"),
        name: row.get("name"),
        scopes: row.get("scopes"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        last_used_at: row.get("last_used_at"),
        revoked_at: row.get("revoked_at"),
    }
}

/// Stores a new API key (its prefix and digest) and its audit row (`audit` about `key:<prefix>`) in one
/// transaction.
pub async fn create_api_key(
    pool: &Pool,
    new: &NewApiKey,
    prefix: &str,
    key_hash: &[u8],
    created_by: &str,
    now: Timestamp,
    audit: &AuditEvent,
) -> Result<(ApiKeyInfo, AuditEvent), DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let sql = format!(
        "INSERT INTO api_keys (prefix, key_hash, name, scopes, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
    );
    let row =
        tx.query_one(&sql, &[&prefix, &key_hash, &new.name, &new.scopes, &created_by, &now, &new.expires_at]).await?;
    let key = key_of(&row);
    let event = audit.of(format!("key:{}", key.prefix));
    insert_audit(&tx, &event).await?;
    tx.commit().await?;
    Ok((key, event))
}

/// An API key and its stored digest, by prefix.
pub async fn find_api_key(pool: &Pool, prefix: &str) -> Result<Option<(ApiKeyInfo, Vec<u8>)>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(&format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE prefix = $1"), &[&prefix])
        .await?;
    Ok(row.map(|row| (key_of(&row), row.get("key_hash"))))
}

/// Notes that a key was accepted.
pub async fn touch_api_key(pool: &Pool, id: i64, now: Timestamp) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.execute("UPDATE api_keys SET last_used_at = $2 WHERE id = $1", &[&id, &now]).await?;
    Ok(())
}

/// A page of API keys by id (never a key): the name or prefix containing the search text; and how many match.
pub async fn list_api_keys(pool: &Pool, page: &PageQuery) -> Result<(Vec<ApiKeyInfo>, i64), DbError> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR name ILIKE $1 OR prefix ILIKE $1)";
    let pattern = page.pattern();
    let rows = client
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys {filter} ORDER BY id LIMIT $2 OFFSET $3"),
            &[&pattern, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client.query_one(&format!("SELECT count(*) FROM api_keys {filter}"), &[&pattern]).await?.get(0);
    Ok((rows.iter().map(key_of).collect(), total))
}

/// An API key by id; 404 naming `id`.
pub async fn get_api_key(pool: &Pool, id: i64) -> Result<ApiKeyInfo, RepositoryError> {
    let client = pool.get().await?;
    let row = client.query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id]).await?;
    Ok(key_of(&row.ok_or_else(|| DomainError::not_found("id", "no such API key"))?))
}

/// Revokes an API key (again is a no-op keeping the first time), with its audit row in the same transaction;
/// 404 naming `id`.
pub async fn revoke_api_key(
    pool: &Pool,
    id: i64,
    now: Timestamp,
    audit: &AuditEvent,
) -> Result<(ApiKeyInfo, AuditEvent), RepositoryError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let sql =
        format!("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {KEY_COLUMNS}");
    let row = tx.query_opt(&sql, &[&id, &now]).await?;
    let key = key_of(&row.ok_or_else(|| DomainError::not_found("id", "no such API key"))?);
    let event = audit.of(format!("key:{}", key.prefix));
    insert_audit(&tx, &event).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok((key, event))
}

/// What registering a service key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKeyChange {
    /// The key was there already: nothing changed.
    Present,
    /// The key was stored; the keys it replaces (registered earlier under its name) were revoked.
    Registered {
        /// The new key's stored facts.
        key: Box<ApiKeyInfo>,
        /// The keys revoked.
        revoked: Vec<ApiKeyInfo>,
    },
}

/// Registers the service keys read from files, as `domain::service_keys::plan` decides for each from the
/// locked rows, all or none (one transaction; concurrent `migrate`s wait for each other on an advisory
/// lock): each stored by prefix and digest with the scope `auth:introspect` only, the older keys of its name
/// revoked — or nothing, when it is there already — each key stored or revoked with its audit row (reason
/// `service_key_file`) in the same transaction. A refusal (with the index of the key refused) changes
/// nothing.
pub async fn register_service_keys(
    pool: &Pool,
    keys: &[ServiceKey],
    now: Timestamp,
) -> Result<Result<Vec<ServiceKeyChange>, (usize, ServiceKeyError)>, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('microfleet-auth.service-keys'))", &[]).await?;
    let mut changes = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let same_prefix = tx
            .query_opt(
                &format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE prefix = $1 FOR UPDATE"),
                &[&key.prefix],
            )
            .await?
            .map(|row| (key_of(&row), row.get::<_, Vec<u8>>("key_hash")));
        let registered: Vec<ApiKeyInfo> = tx
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE name = $1 AND created_by = $2 AND revoked_at IS NULL
                     ORDER BY id FOR UPDATE"
                ),
                &[&key.name, &service_keys::CREATED_BY],
            )
            .await?
            .iter()
            .map(key_of)
            .collect();
        let revoke = match service_keys::plan(key, same_prefix.as_ref(), &registered) {
            Err(refusal) => return Ok(Err((index, refusal))),
            Ok(Registration::Present) => {
                changes.push(ServiceKeyChange::Present);
                continue;
            }
            Ok(Registration::Register { revoke }) => revoke,
        };
        let revoked: Vec<ApiKeyInfo> = tx
            .query(
                &format!("UPDATE api_keys SET revoked_at = $2 WHERE id = ANY($1) RETURNING {KEY_COLUMNS}"),
                &[&revoke, &now],
            )
            .await?
            .iter()
            .map(key_of)
            .collect();
        for old in &revoked {
            insert_audit(&tx, &service_key_event(AuditKind::ApiKeyRevoke, Outcome::Revoked, &old.prefix)).await?;
        }
        let sql = format!(
            "INSERT INTO api_keys (prefix, key_hash, name, scopes, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
        );
        let row = tx
            .query_one(
                &sql,
                &[&key.prefix, &key.digest(), &key.name, &service_keys::scopes(), &service_keys::CREATED_BY, &now],
            )
            .await?;
        let stored = key_of(&row);
        insert_audit(&tx, &service_key_event(AuditKind::ApiKeyCreate, Outcome::Granted, &stored.prefix)).await?;
        changes.push(ServiceKeyChange::Registered { key: Box::new(stored), revoked });
    }
    tx.commit().await?;
    Ok(Ok(changes))
}

/// The audit event of a service key stored or revoked from a key file.
fn service_key_event(kind: AuditKind, outcome: Outcome, prefix: &str) -> AuditEvent {
    AuditEvent {
        kind,
        outcome,
        subject: Some(format!("key:{prefix}")),
        address: None,
        reason: Some("service_key_file"),
    }
}
