//! The CMS's users and API keys lists and the user edits over HTTP against a real PostgreSQL: paging and
//! search (total, page boundaries, a bad parameter → 400 naming it), the role filter, confirming a user
//! (who can then log in), setting roles (carried by the next token), every edit audited, no key in a list.

mod support;

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use support::{admin_token, api_key, app, count, login, send, user};

/// The claims of an access token (its payload, unverified: the service signed it moments ago).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn usernames(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|user| user["username"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn users_are_paged_searched_and_filtered_by_role() {
    let (app, _) = app("auth_lists_users").await;
    let admin = admin_token(&app).await;
    let password = "a long enough passphrase";
    for (username, roles) in [
        ("ayu", vec!["cashier"]),
        ("budi", vec!["gate_staff"]),
        ("citra", vec!["cashier", "gate_staff"]),
        ("dewi", vec![]),
    ] {
        user(&app, &admin, username, &roles, password).await;
    }
    let cases = [
        ("all", "/v1/users", 5, vec!["root", "ayu", "budi", "citra", "dewi"]),
        ("first_page", "/v1/users?perPage=2", 5, vec!["root", "ayu"]),
        ("last_page", "/v1/users?perPage=2&page=3", 5, vec!["dewi"]),
        ("past_the_end", "/v1/users?perPage=2&page=4", 5, vec![]),
        ("role", "/v1/users?role=cashier", 2, vec!["ayu", "citra"]),
        ("admins", "/v1/users?role=admin", 1, vec!["root"]),
        ("by_username", "/v1/users?q=BUD", 1, vec!["budi"]),
        ("by_email", "/v1/users?q=citra%40mail", 1, vec!["citra"]),
        ("by_name", "/v1/users?q=kapasitor&role=gate_staff", 2, vec!["budi", "citra"]),
    ];
    for (case, path, total, expected) in cases {
        let (status, page) = send(&app, Method::GET, path, None, Some(&admin), &[]).await;
        assert_eq!((status, page["total"].as_i64()), (StatusCode::OK, Some(total)), "{case}: {page}");
        assert_eq!(usernames(&page), expected, "{case}");
    }
    let (_, page) = send(&app, Method::GET, "/v1/users?q=citra", None, Some(&admin), &[]).await;
    let citra = &page["items"][0];
    assert_eq!(citra["roles"], json!(["cashier", "gate_staff"]));
    assert_eq!(
        (citra["email"].as_str(), citra["phone"].as_str(), citra["confirmed"].as_bool()),
        (Some("citra@mail.com"), Some("6261275564756"), Some(true))
    );
    assert!(citra["lockedUntil"].is_null() && citra["name"].is_string() && citra["id"].is_i64(), "{citra}");
    assert!(citra.get("passwordHash").is_none() && !page.to_string().contains("argon2"), "{page}");
    let refused = [
        ("role", "/v1/users?role=root", "role"),
        ("per_page", "/v1/users?perPage=0", "perPage"),
        ("page", "/v1/users?page=x", "page"),
    ];
    for (case, path, field) in refused {
        let (status, answer) = send(&app, Method::GET, path, None, Some(&admin), &[]).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{case}: {answer}");
    }
    let (status, _) = send(&app, Method::GET, "/v1/users", None, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, cashier) = login(&app, "ayu", password).await;
    let (status, _) = send(&app, Method::GET, "/v1/users", None, cashier["accessToken"].as_str(), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a cashier lists no users");
}

#[tokio::test]
async fn a_confirmed_user_logs_in_and_new_roles_reach_the_next_token() {
    let (app, pool) = app("auth_lists_user_edits").await;
    let admin = admin_token(&app).await;
    let password = "a long enough passphrase";
    let body = json!({"name": "Eka Pratama", "username": "eka", "email": "eka@mail.com", "password": password});
    let (status, created) = send(&app, Method::POST, "/v1/users", Some(body), Some(&admin), &[]).await;
    assert_eq!((status, created["confirmed"].as_bool()), (StatusCode::CREATED, Some(false)), "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, _) = login(&app, "eka", password).await;
    assert_ne!(status, StatusCode::OK, "not confirmed yet");
    for round in ["first", "again"] {
        let (status, confirmed) =
            send(&app, Method::POST, &format!("/v1/users/{id}/confirm"), None, Some(&admin), &[]).await;
        assert_eq!((status, confirmed["confirmed"].as_bool()), (StatusCode::OK, Some(true)), "{round}: {confirmed}");
    }
    let (status, answer) = login(&app, "eka", password).await;
    assert_eq!(status, StatusCode::OK, "confirmed: {answer}");

    let roles = format!("/v1/users/{id}/roles");
    let (status, set) =
        send(&app, Method::PUT, &roles, Some(json!({"roles": ["cashier", "merchant_operator"]})), Some(&admin), &[])
            .await;
    assert_eq!((status, &set["roles"]), (StatusCode::OK, &json!(["cashier", "merchant_operator"])), "{set}");
    let (_, session) = login(&app, "eka", password).await;
    let claims = claims_of(session["accessToken"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["cashier", "merchant_operator"]), "the next token carries them: {claims}");
    let (status, cleared) = send(&app, Method::PUT, &roles, Some(json!({"roles": []})), Some(&admin), &[]).await;
    assert_eq!((status, &cleared["roles"]), (StatusCode::OK, &json!([])));

    let refused = [
        (
            "unknown_role",
            Method::PUT,
            roles.clone(),
            Some(json!({"roles": ["root"]})),
            StatusCode::BAD_REQUEST,
            "roles[0]",
        ),
        (
            "twice",
            Method::PUT,
            roles.clone(),
            Some(json!({"roles": ["cashier", "cashier"]})),
            StatusCode::BAD_REQUEST,
            "roles[1]",
        ),
        ("no_roles", Method::PUT, roles.clone(), Some(json!({})), StatusCode::BAD_REQUEST, "roles"),
        (
            "unknown_user_roles",
            Method::PUT,
            "/v1/users/424242/roles".into(),
            Some(json!({"roles": []})),
            StatusCode::NOT_FOUND,
            "id",
        ),
        ("unknown_user_confirm", Method::POST, "/v1/users/424242/confirm".into(), None, StatusCode::NOT_FOUND, "id"),
        ("bad_id", Method::POST, "/v1/users/x/confirm".into(), None, StatusCode::BAD_REQUEST, "id"),
        (
            "no_credentials",
            Method::POST,
            format!("/v1/users/{id}/confirm"),
            None,
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
    ];
    for (case, method, path, body, status, field) in refused {
        let bearer = (case != "no_credentials").then_some(admin.as_str());
        let (got, answer) = send(&app, method, &path, body, bearer, &[]).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{case}: {answer}");
    }
    let audited = |kind: &str| {
        format!("SELECT count(*) FROM audit_events WHERE kind = '{kind}' AND outcome = 'granted' AND subject = '{id}'")
    };
    let (confirms, role_changes) =
        (count(&pool, &audited("user_confirm")).await, count(&pool, &audited("user_roles")).await);
    assert_eq!((confirms, role_changes), (2, 2), "every confirmation and role change is audited");
}

#[tokio::test]
async fn api_keys_are_listed_without_their_secrets() {
    let (app, _) = app("auth_lists_keys").await;
    let admin = admin_token(&app).await;
    let mut keys = Vec::new();
    for name in ["ticketing-service", "gate-north-1a", "gate-north-1b"] {
        keys.push(api_key(&app, &admin, name, &["gate:scan"]).await);
    }
    send(&app, Method::POST, &format!("/v1/api-keys/{}/revoke", keys[1].0), None, Some(&admin), &[]).await;
    let (status, page) = send(&app, Method::GET, "/v1/api-keys", None, Some(&admin), &[]).await;
    assert_eq!((status, page["total"].as_i64()), (StatusCode::OK, Some(3)), "{page}");
    let text = page.to_string();
    for (_, key) in &keys {
        assert!(!text.contains(key.as_str()), "no key in the list: {text}");
    }
    let first = &page["items"][0];
    assert_eq!((first["name"].as_str(), first["scopes"].clone()), (Some("ticketing-service"), json!(["gate:scan"])));
    assert!(first["prefix"].is_string() && first["createdAt"].is_string() && first.get("key").is_none(), "{first}");
    assert!(page["items"][1]["revokedAt"].is_string(), "the revoked key shows it: {page}");
    let cases = [
        ("search", "/v1/api-keys?q=gate-north", 2, "gate-north-1a"),
        ("second_page", "/v1/api-keys?perPage=2&page=2", 3, "gate-north-1b"),
    ];
    for (case, path, total, first) in cases {
        let (status, page) = send(&app, Method::GET, path, None, Some(&admin), &[]).await;
        assert_eq!(
            (status, page["total"].as_i64(), page["items"][0]["name"].as_str()),
            (StatusCode::OK, Some(total), Some(first)),
            "{case}: {page}"
        );
    }
    let prefix = page["items"][2]["prefix"].as_str().unwrap();
    let (_, by_prefix) = send(&app, Method::GET, &format!("/v1/api-keys?q={prefix}"), None, Some(&admin), &[]).await;
    assert_eq!(by_prefix["items"][0]["name"], "gate-north-1b", "{by_prefix}");
    let (status, bad) = send(&app, Method::GET, "/v1/api-keys?scope=gate:scan", None, Some(&admin), &[]).await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::BAD_REQUEST, Some("scope")));
}
