//! The HTTP API against a real PostgreSQL, through the router: 4xx answers naming the field, the lockout
//! (visible, lifted by an admin) and the per-address limit, refresh rotation and reuse detection, logout,
//! API keys (scopes, revocation, expiry, malformed, unknown) through introspection, key rotation with
//! overlap, the audit rows and metrics, and the served OpenAPI document equal to the checked-in file with
//! every documented operation routed.

mod support;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::domain::lockout::LoginPolicy;
use microfleet_auth::http;
use microfleet_common::jwt::{Claims, TokenSigner};
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let (app, _) = app("auth_http_errors").await;
    let admin = admin_token(&app).await;
    let cashier_password = "cashier passphrase 1";
    user(&app, &admin, "putri", &["cashier"], cashier_password).await;
    let (_, cashier) = login(&app, "putri", cashier_password).await;
    let cashier = cashier["accessToken"].as_str().unwrap().to_string();
    let (_, gate_key) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let (_, keys_key) = api_key(&app, &admin, "key-desk", &["auth:keys"]).await;
    let (_, service_key) = api_key(&app, &admin, "ticketing-service", &["auth:introspect"]).await;
    let new_user = |username: &str, email: &str| json!({"name": "Nazar", "username": username, "email": email, "password": "long enough password"});
    type Case = (&'static str, Method, &'static str, Option<Value>, Option<String>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            "login_no_password",
            Method::POST,
            "/v1/login",
            Some(json!({"username": "root"})),
            None,
            StatusCode::BAD_REQUEST,
            "password",
        ),
        (
            "login_unknown_field",
            Method::POST,
            "/v1/login",
            Some(json!({"username": "root", "password": "x", "otp": 1})),
            None,
            StatusCode::BAD_REQUEST,
            "otp",
        ),
        (
            "login_wrong_password",
            Method::POST,
            "/v1/login",
            Some(json!({"username": "root", "password": "wrong password!"})),
            None,
            StatusCode::UNAUTHORIZED,
            "password",
        ),
        (
            "login_unknown_user",
            Method::POST,
            "/v1/login",
            Some(json!({"username": "nobody", "password": "wrong password!"})),
            None,
            StatusCode::UNAUTHORIZED,
            "password",
        ),
        (
            "refresh_missing",
            Method::POST,
            "/v1/token/refresh",
            Some(json!({})),
            None,
            StatusCode::BAD_REQUEST,
            "refreshToken",
        ),
        (
            "refresh_unknown",
            Method::POST,
            "/v1/token/refresh",
            Some(json!({"refreshToken": "mfr_nope"})),
            None,
            StatusCode::UNAUTHORIZED,
            "refreshToken",
        ),
        (
            "users_no_credentials",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar@mail.com")),
            None,
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
        (
            "users_garbage_token",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar@mail.com")),
            Some("a.b.c".into()),
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
        (
            "users_by_cashier",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar@mail.com")),
            Some(cashier.clone()),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "users_by_gate_key",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar@mail.com")),
            Some(gate_key.clone()),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "users_by_a_key_with_auth_keys_only",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar@mail.com")),
            Some(keys_key.clone()),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "keys_by_a_key_with_auth_keys",
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["admin"]})),
            Some(keys_key.clone()),
            StatusCode::BAD_REQUEST,
            "scopes[0]",
        ),
        (
            "introspect_by_the_admin_token",
            Method::POST,
            "/v1/introspect",
            Some(json!({"token": "x"})),
            Some(admin.clone()),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "users_bad_email",
            Method::POST,
            "/v1/users",
            Some(new_user("nazar", "nazar")),
            Some(admin.clone()),
            StatusCode::BAD_REQUEST,
            "email",
        ),
        (
            "users_bad_role",
            Method::POST,
            "/v1/users",
            Some(
                json!({"name": "N", "username": "n", "email": "n@mail.com", "password": "long enough password", "roles": ["root"]}),
            ),
            Some(admin.clone()),
            StatusCode::BAD_REQUEST,
            "roles[0]",
        ),
        (
            "users_taken_username",
            Method::POST,
            "/v1/users",
            Some(new_user("putri", "other@mail.com")),
            Some(admin.clone()),
            StatusCode::CONFLICT,
            "username",
        ),
        (
            "users_taken_email",
            Method::POST,
            "/v1/users",
            Some(new_user("other", "putri@mail.com")),
            Some(admin.clone()),
            StatusCode::CONFLICT,
            "email",
        ),
        (
            "users_short_password",
            Method::POST,
            "/v1/users",
            Some(json!({"name": "N", "username": "n", "email": "n@mail.com", "password": "short"})),
            Some(admin.clone()),
            StatusCode::BAD_REQUEST,
            "password",
        ),
        ("user_not_an_id", Method::GET, "/v1/users/abc", None, Some(admin.clone()), StatusCode::BAD_REQUEST, "id"),
        ("user_unknown", Method::GET, "/v1/users/9999", None, Some(admin.clone()), StatusCode::NOT_FOUND, "id"),
        (
            "unlock_unknown",
            Method::POST,
            "/v1/users/9999/unlock",
            None,
            Some(admin.clone()),
            StatusCode::NOT_FOUND,
            "id",
        ),
        (
            "key_bad_scope",
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["admin"]})),
            Some(admin.clone()),
            StatusCode::BAD_REQUEST,
            "scopes[0]",
        ),
        (
            "key_past_expiry",
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["gate:scan"], "expiresAt": "2020-01-01T00:00:00Z"})),
            Some(admin.clone()),
            StatusCode::BAD_REQUEST,
            "expiresAt",
        ),
        (
            "key_revoke_unknown",
            Method::POST,
            "/v1/api-keys/9999/revoke",
            None,
            Some(admin.clone()),
            StatusCode::NOT_FOUND,
            "id",
        ),
        (
            "introspect_no_credentials",
            Method::POST,
            "/v1/introspect",
            Some(json!({"token": "x"})),
            None,
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
        (
            "introspect_wrong_scope",
            Method::POST,
            "/v1/introspect",
            Some(json!({"token": "x"})),
            Some(gate_key.clone()),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "introspect_no_token",
            Method::POST,
            "/v1/introspect",
            Some(json!({})),
            Some(service_key.clone()),
            StatusCode::BAD_REQUEST,
            "token",
        ),
    ];
    for (case, method, path, body, bearer, status, field) in cases {
        let (got, answer) = send(&app, method, path, body, bearer.as_deref(), &[]).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
    }
}

#[tokio::test]
async fn n_failures_lock_the_account_visibly_until_an_admin_unlocks_it() {
    let pool = fresh_database("auth_http_lockout").await;
    let policy = LoginPolicy { max_failures: 3, ..policy() };
    let app = http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy, false));
    let admin = admin_token(&app).await;
    let password = "gate staff passphrase";
    let id = user(&app, &admin, "nazar", &["gate_staff"], password).await;
    for attempt in 1..=2 {
        let (status, answer) = login(&app, "nazar", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {answer}");
    }
    let (status, answer) = login(&app, "nazar", "wrong password!").await;
    assert_eq!(status, StatusCode::LOCKED, "the third failure locks: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("locked until"), "{answer}");
    let (status, answer) = login(&app, "nazar", password).await;
    assert_eq!(status, StatusCode::LOCKED, "even the right password while locked: {answer}");
    let (_, shown) = send(&app, Method::GET, &format!("/v1/users/{id}"), None, Some(&admin), &[]).await;
    let until: Timestamp = shown["lockedUntil"].as_str().unwrap().parse().unwrap();
    assert!(until > Timestamp::now() + SignedDuration::from_mins(10), "{shown}");
    let (status, unlocked) = send(&app, Method::POST, &format!("/v1/users/{id}/unlock"), None, Some(&admin), &[]).await;
    assert_eq!((status, &unlocked["lockedUntil"]), (StatusCode::OK, &Value::Null), "{unlocked}");
    let (status, answer) = login(&app, "nazar", password).await;
    assert_eq!(status, StatusCode::OK, "unlocked: {answer}");
    let locks =
        count(&pool, "SELECT count(*) FROM audit_events WHERE kind = 'login' AND reason = 'bad_password_locked'").await;
    let unlocks =
        count(&pool, "SELECT count(*) FROM audit_events WHERE kind = 'user_unlock' AND outcome = 'granted'").await;
    assert_eq!((locks, unlocks), (1, 1));
}

#[tokio::test]
async fn an_address_with_too_many_failures_waits_while_others_log_in() {
    let pool = fresh_database("auth_http_address").await;
    let policy = LoginPolicy { address_max_failures: 3, ..policy() };
    let app = http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy, true));
    let body = |username: &str, password: &str| Some(json!({"username": username, "password": password}));
    let from = |address: &'static str| [("x-forwarded-for", address)];
    for username in ["a", "b", "c"] {
        let (status, _) = send(
            &app,
            Method::POST,
            "/v1/login",
            body(username, "sprayed password"),
            None,
            &from("10.0.0.1, 10.9.9.9"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, answer) =
        send(&app, Method::POST, "/v1/login", body(ADMIN, ADMIN_PASSWORD), None, &from("10.0.0.1")).await;
    assert_eq!((status, answer["field"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("clientAddress")), "{answer}");
    let (status, answer) =
        send(&app, Method::POST, "/v1/login", body(ADMIN, ADMIN_PASSWORD), None, &from("10.0.0.2")).await;
    assert_eq!(status, StatusCode::OK, "another address: {answer}");
    let limited =
        count(&pool, "SELECT count(*) FROM audit_events WHERE reason = 'address_limited' AND address = '10.0.0.1'")
            .await;
    assert_eq!(limited, 1);
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_a_reuse_revokes_the_whole_login() {
    let (app, pool) = app("auth_http_refresh").await;
    let refresh = |token: &str| {
        let body = Some(json!({"refreshToken": token}));
        let app = app.clone();
        async move { send(&app, Method::POST, "/v1/token/refresh", body, None, &[]).await }
    };
    let (_, first) = login(&app, ADMIN, ADMIN_PASSWORD).await;
    let r1 = first["refreshToken"].as_str().unwrap().to_string();
    let (status, second) = refresh(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_ne!(first["accessToken"], second["accessToken"]);
    let (status, answer) = refresh(&r1).await;
    assert_eq!((status, answer["field"].as_str()), (StatusCode::UNAUTHORIZED, Some("refreshToken")), "reuse: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("already used"), "{answer}");
    let (status, _) = refresh(&r2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the reuse revoked the newer token of the same login too");
    let (_, other) = login(&app, ADMIN, ADMIN_PASSWORD).await;
    let r3 = other["refreshToken"].as_str().unwrap().to_string();
    let (status, _) = send(&app, Method::POST, "/v1/logout", Some(json!({"refreshToken": r3})), None, &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = refresh(&r3).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "after logout: {answer}");
    let reuses = count(
        &pool,
        "SELECT count(*) FROM audit_events WHERE kind = 'refresh' AND outcome = 'revoked' AND reason = 'reuse'",
    )
    .await;
    assert_eq!(reuses, 1);
    let stored =
        count(&pool, &format!("SELECT count(*) FROM refresh_tokens WHERE token_hash::text LIKE '%{}%'", &r1[4..12]))
            .await;
    assert_eq!(stored, 0, "tokens are stored hashed");
}

#[tokio::test]
async fn introspection_tells_active_keys_and_tokens_from_every_kind_of_bad_one() {
    let (app, pool) = app("auth_http_keys").await;
    let admin = admin_token(&app).await;
    let (_, service) = api_key(&app, &admin, "ticketing-service", &["auth:introspect", "ticketing:admin"]).await;
    let (_, gate) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let (revoked_id, revoked) = api_key(&app, &admin, "gate-old", &["gate:scan"]).await;
    let (expired_id, expired) = api_key(&app, &admin, "gate-expired", &["gate:scan"]).await;
    let (status, _) =
        send(&app, Method::POST, &format!("/v1/api-keys/{revoked_id}/revoke"), None, Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::OK);
    pool.get()
        .await
        .unwrap()
        .execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", &[&expired_id])
        .await
        .unwrap();
    let prefix = &gate[..12];
    let wrong_secret = format!("{prefix}_{}", "0".repeat(64));
    let unknown = format!("mf_00000000_{}", "0".repeat(64));
    let (_, pair) = login(&app, ADMIN, ADMIN_PASSWORD).await;
    let refresh_token = pair["refreshToken"].as_str().unwrap().to_string();
    let old_key_token = TokenSigner::from_seed(&OLD_SEED).sign(&Claims {
        iss: "microfleet-auth".into(),
        sub: "1".into(),
        aud: "microfleet".into(),
        exp: Timestamp::now().as_second() + 60,
        iat: Timestamp::now().as_second(),
        nbf: Timestamp::now().as_second(),
        jti: "x".into(),
        roles: vec!["admin".into()],
        scopes: vec!["auth:users".into()],
    });
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "gate_key",
            gate.clone(),
            json!({"active": true, "kind": "api_key", "sub": format!("key:{}", &gate[3..11]), "name": "gate-north-1a", "scopes": ["gate:scan"]}),
        ),
        ("revoked_key", revoked, json!({"active": false})),
        ("expired_key", expired, json!({"active": false})),
        ("wrong_secret", wrong_secret, json!({"active": false})),
        ("unknown_key", unknown, json!({"active": false})),
        ("malformed_key", "mf_xyz".into(), json!({"active": false})),
        ("refresh_token", refresh_token, json!({"active": false})),
        ("token_of_a_removed_key", old_key_token, json!({"active": false})),
        ("garbage", "hello".into(), json!({"active": false})),
    ];
    for (case, token, expected) in cases {
        let (status, answer) = introspect(&app, &service, &token).await;
        assert_eq!((status, answer), (StatusCode::OK, expected), "{case}");
    }
    let (status, answer) = introspect(&app, &service, &admin).await;
    assert_eq!(
        (status, answer["active"].as_bool(), answer["roles"].clone(), answer["scopes"].clone()),
        (StatusCode::OK, Some(true), json!(["admin"]), json!(microfleet_common::scopes::ALL))
    );
    user(&app, &admin, "nazar", &["gate_staff"], "gate staff passphrase").await;
    let (_, staff) = login(&app, "nazar", "gate staff passphrase").await;
    let (_, answer) = introspect(&app, &service, staff["accessToken"].as_str().unwrap()).await;
    assert_eq!((&answer["roles"], &answer["scopes"]), (&json!(["gate_staff"]), &json!(["gate:read", "gate:scan"])));
    for (case, caller) in [("gate_key_introspects", gate.as_str())] {
        let (status, _) = introspect(&app, caller, &service).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{case}: the key lacks auth:introspect");
    }
    let (_, shown) = send(&app, Method::GET, &format!("/v1/api-keys/{revoked_id}"), None, Some(&admin), &[]).await;
    assert!(shown.get("key").is_none() && shown["revokedAt"].is_string(), "shown once only: {shown}");
    let used =
        count(&pool, "SELECT count(*) FROM api_keys WHERE name = 'gate-north-1a' AND last_used_at IS NOT NULL").await;
    assert_eq!(used, 1, "the last use is noted");
    let leaked = count(
        &pool,
        &format!(
            "SELECT count(*) FROM api_keys WHERE prefix LIKE '%{}%' OR name LIKE '%{}%'",
            &gate[12..],
            &gate[12..]
        ),
    )
    .await;
    assert_eq!(leaked, 0, "the secret part is stored nowhere in the clear");
}

#[tokio::test]
async fn during_a_rotation_tokens_of_both_keys_work_and_after_it_only_the_new_keys() {
    let pool = fresh_database("auth_http_rotation").await;
    let before = http::router(state_with(pool.clone(), keys(&[OLD_SEED]), policy(), false));
    let during = http::router(state_with(pool.clone(), keys(&[OLD_SEED, NEW_SEED]), policy(), false));
    let after = http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy(), false));
    let old_token = admin_token(&before).await;
    let new_token = admin_token(&during).await;
    let (_, jwks) = send(&during, Method::GET, "/.well-known/jwks.json", None, None, &[]).await;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|key| key["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [TokenSigner::from_seed(&OLD_SEED).kid(), TokenSigner::from_seed(&NEW_SEED).kid()]);
    assert_eq!((jwks["keys"][0]["kty"].as_str(), jwks["keys"][0]["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    let cases = [
        ("old_token_during", &during, &old_token, StatusCode::OK),
        ("new_token_during", &during, &new_token, StatusCode::OK),
        ("old_token_after", &after, &old_token, StatusCode::UNAUTHORIZED),
        ("new_token_after", &after, &new_token, StatusCode::OK),
    ];
    for (case, app, token, status) in cases {
        let (got, answer) = send(app, Method::GET, "/v1/users/1", None, Some(token), &[]).await;
        assert_eq!(got, status, "{case}: {answer}");
    }
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_file_and_lists_every_route() {
    let (app, _) = app("auth_http_openapi").await;
    let (status, served) = send(&app, Method::GET, "/openapi.json", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&file).unwrap());
    let operations = [
        ("get", "/.well-known/jwks.json", "/.well-known/jwks.json", StatusCode::OK),
        ("post", "/v1/login", "/v1/login", StatusCode::BAD_REQUEST),
        ("post", "/v1/token/refresh", "/v1/token/refresh", StatusCode::BAD_REQUEST),
        ("post", "/v1/logout", "/v1/logout", StatusCode::BAD_REQUEST),
        ("post", "/v1/introspect", "/v1/introspect", StatusCode::UNAUTHORIZED),
        ("post", "/v1/users", "/v1/users", StatusCode::UNAUTHORIZED),
        ("get", "/v1/users", "/v1/users", StatusCode::UNAUTHORIZED),
        ("get", "/v1/users/{id}", "/v1/users/1", StatusCode::UNAUTHORIZED),
        ("post", "/v1/users/{id}/confirm", "/v1/users/1/confirm", StatusCode::UNAUTHORIZED),
        ("put", "/v1/users/{id}/roles", "/v1/users/1/roles", StatusCode::UNAUTHORIZED),
        ("post", "/v1/users/{id}/unlock", "/v1/users/1/unlock", StatusCode::UNAUTHORIZED),
        ("post", "/v1/api-keys", "/v1/api-keys", StatusCode::UNAUTHORIZED),
        ("get", "/v1/api-keys", "/v1/api-keys", StatusCode::UNAUTHORIZED),
        ("get", "/v1/api-keys/{id}", "/v1/api-keys/1", StatusCode::UNAUTHORIZED),
        ("post", "/v1/api-keys/{id}/revoke", "/v1/api-keys/1/revoke", StatusCode::UNAUTHORIZED),
    ];
    let documented: usize =
        served["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(documented, operations.len() + 1, "every documented operation is in this table (plus /openapi.json)");
    for (method, template, example, status) in operations {
        assert!(served["paths"][template][method].is_object(), "{method} {template} is not documented");
        let (got, _) = send(&app, method.to_uppercase().parse().unwrap(), example, None, None, &[]).await;
        assert_eq!(got, status, "{method} {example} is routed");
    }
    assert!(served["paths"]["/openapi.json"]["get"].is_object());
}

#[tokio::test]
async fn concurrent_failures_are_all_counted_and_lock_the_account() {
    let pool = fresh_database("auth_http_concurrent").await;
    microfleet_common::test_database::warm_up(&pool, 4).await.unwrap();
    let policy = LoginPolicy { max_failures: 3, ..policy() };
    let app = http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy, false));
    let attempts = (0..8).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { login(&app, ADMIN, "wrong password!").await.0 })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::LOCKED), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::LOCKED), "{statuses:?}");
    let (status, answer) = login(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::LOCKED, "{answer}");
    let refused = count(&pool, "SELECT count(*) FROM audit_events WHERE kind = 'login' AND outcome = 'refused'").await;
    assert_eq!(refused, 9, "every attempt is audited");
}
