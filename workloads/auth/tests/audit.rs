//! The audit rows of the changes against a real PostgreSQL: an admin's change, a login, a refresh and a
//! logout are each one transaction with their row — every successful change has exactly its row, a refused
//! change leaves no grant, and a change whose row cannot be written does not happen (the database made to
//! refuse the row for the test).

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{admin_token, api_key, app, count, login, send, user};

/// How many audit rows of `kind` and `outcome` there are about `subject`.
async fn rows(pool: &deadpool_postgres::Pool, kind: &str, outcome: &str, subject: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM audit_events WHERE kind = '{kind}' AND outcome = '{outcome}' AND subject = '{subject}'"
    );
    count(pool, &sql).await
}

#[tokio::test]
async fn every_change_has_its_audit_row_and_a_refused_change_none() {
    let (app, pool) = app("auth_audit_rows").await;
    let admin = admin_token(&app).await;
    let id = user(&app, &admin, "putri", &["cashier"], "correct horse battery").await;
    let subject = id.to_string();
    for (path, body) in [
        (format!("/v1/users/{id}/confirm"), None),
        (format!("/v1/users/{id}/roles"), Some(json!({"roles": ["gate_staff"]}))),
        (format!("/v1/users/{id}/unlock"), None),
    ] {
        let method = if body.is_some() { Method::PUT } else { Method::POST };
        let (status, answer) = send(&app, method, &path, body, Some(&admin), &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    for kind in ["user_create", "user_confirm", "user_roles", "user_unlock"] {
        assert_eq!(rows(&pool, kind, "granted", &subject).await, 1, "{kind}: exactly one row");
    }
    let (key_id, _) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let (status, answer) =
        send(&app, Method::POST, &format!("/v1/api-keys/{key_id}/revoke"), None, Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let key = format!("key:{}", answer["prefix"].as_str().unwrap());
    assert_eq!(rows(&pool, "api_key_create", "granted", &key).await, 1);
    assert_eq!(rows(&pool, "api_key_revoke", "revoked", &key).await, 1);

    // refused changes: a taken username, an unknown user, an unknown key — no row
    let before = count(&pool, "SELECT count(*) FROM audit_events WHERE outcome <> 'refused'").await;
    let taken = json!({"name": "Putri", "username": "putri", "email": "other@mail.com", "phone": "6261275564756",
                       "confirmed": true, "roles": ["cashier"], "password": "correct horse battery"});
    let (status, _) = send(&app, Method::POST, "/v1/users", Some(taken), Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    for path in ["/v1/users/424242/confirm", "/v1/users/424242/unlock", "/v1/api-keys/424242/revoke"] {
        let (status, _) = send(&app, Method::POST, path, None, Some(&admin), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let after = count(&pool, "SELECT count(*) FROM audit_events WHERE outcome <> 'refused'").await;
    assert_eq!(after, before, "a refused change writes no grant or revocation row");
}

#[tokio::test]
async fn a_change_whose_audit_row_cannot_be_written_does_not_happen() {
    let (app, pool) = app("auth_audit_atomic").await;
    let admin = admin_token(&app).await;
    let id = user(&app, &admin, "dewi", &["cashier"], "correct horse battery").await;
    let (key_id, _) = api_key(&app, &admin, "gate-south-1", &["gate:scan"]).await;
    refuse_audit(&pool, "'user_create', 'user_roles', 'api_key_create', 'api_key_revoke'").await;

    let new_user = json!({"name": "Ayu", "username": "ayu", "email": "ayu@mail.com", "phone": "6261275564756",
                          "confirmed": true, "roles": ["cashier"], "password": "correct horse battery"});
    let (status, _) = send(&app, Method::POST, "/v1/users", Some(new_user.clone()), Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&pool, "SELECT count(*) FROM users WHERE username = 'ayu'").await, 0, "no unaudited user");
    let roles = json!({"roles": ["admin"]});
    let (status, _) = send(&app, Method::PUT, &format!("/v1/users/{id}/roles"), Some(roles), Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let still = count(&pool, &format!("SELECT count(*) FROM users WHERE id = {id} AND roles = ARRAY['cashier']")).await;
    assert_eq!(still, 1, "no unaudited role change");
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"name": "ghost", "scopes": ["gate:scan"]})),
        Some(&admin),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&pool, "SELECT count(*) FROM api_keys WHERE name = 'ghost'").await, 0, "no unaudited key");
    let (status, _) = send(&app, Method::POST, &format!("/v1/api-keys/{key_id}/revoke"), None, Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let revoked =
        count(&pool, &format!("SELECT count(*) FROM api_keys WHERE id = {key_id} AND revoked_at IS NULL")).await;
    assert_eq!(revoked, 1, "no unaudited revocation");

    // once the rows can be written, the same changes happen, each with its row
    allow_audit(&pool).await;
    let (status, answer) = send(&app, Method::POST, "/v1/users", Some(new_user), Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let ayu = answer["id"].as_i64().unwrap().to_string();
    assert_eq!(rows(&pool, "user_create", "granted", &ayu).await, 1);
}

/// Makes the database refuse audit rows of `kinds` (until [`allow_audit`]).
async fn refuse_audit(pool: &deadpool_postgres::Pool, kinds: &str) {
    let sql =
        format!("ALTER TABLE audit_events ADD CONSTRAINT refused_for_the_test CHECK (kind NOT IN ({kinds})) NOT VALID");
    pool.get().await.unwrap().batch_execute(&sql).await.unwrap();
}

async fn allow_audit(pool: &deadpool_postgres::Pool) {
    let sql = "ALTER TABLE audit_events DROP CONSTRAINT refused_for_the_test";
    pool.get().await.unwrap().batch_execute(sql).await.unwrap();
}

#[tokio::test]
async fn a_login_refresh_or_logout_whose_audit_row_cannot_be_written_does_not_happen() {
    let (app, pool) = app("auth_audit_sessions").await;
    let admin = admin_token(&app).await;
    let id = user(&app, &admin, "sari", &["cashier"], "correct horse battery").await;
    let tokens = format!("SELECT count(*) FROM refresh_tokens WHERE user_id = {id}");

    refuse_audit(&pool, "'login'").await;
    let (status, _) = login(&app, "sari", "correct horse battery").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&pool, &tokens).await, 0, "no unaudited login");
    allow_audit(&pool).await;
    let (status, pair) = login(&app, "sari", "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(rows(&pool, "login", "granted", &id.to_string()).await, 1);
    let refresh_token = pair["refreshToken"].as_str().unwrap().to_string();
    let presented = json!({"refreshToken": refresh_token});

    refuse_audit(&pool, "'refresh', 'logout'").await;
    let (status, _) = send(&app, Method::POST, "/v1/token/refresh", Some(presented.clone()), None, &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = send(&app, Method::POST, "/v1/logout", Some(presented.clone()), None, &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let unused =
        format!("SELECT count(*) FROM refresh_tokens WHERE user_id = {id} AND used_at IS NULL AND revoked_at IS NULL");
    assert_eq!(count(&pool, &unused).await, 1, "no unaudited rotation or revocation: the token is as it was");
    allow_audit(&pool).await;
    let (status, answer) = send(&app, Method::POST, "/v1/token/refresh", Some(presented), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "the token still works once: {answer}");
    assert_eq!(rows(&pool, "refresh", "granted", &id.to_string()).await, 1);
    let next = json!({"refreshToken": answer["refreshToken"]});
    let (status, _) = send(&app, Method::POST, "/v1/logout", Some(next), None, &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(rows(&pool, "logout", "revoked", &id.to_string()).await, 1);
}
