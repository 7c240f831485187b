//! `microfleet_common::auth_client` against the real auth service (its router on a TCP port, on a real
//! PostgreSQL): access tokens verified offline with the fetched JWKS (tampered, unknown-key and wrong-audience
//! tokens refused), API keys by introspection with a short cache — a revoked key is still accepted from the
//! cache within its lifetime and refused after it — and an unreachable auth service reported as such.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use axum::Router;
use microfleet_auth::http;
use microfleet_common::auth_client::{AuthClient, AuthClientArgs, AuthError};
use microfleet_common::jwt::{Claims, JwtError, TokenSigner};
use support::*;

const CACHE_TTL: Duration = Duration::from_secs(4);

async fn listen(app: Router, port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
}

fn client(port: u16, service_key: &str, audience: &str) -> AuthClient {
    AuthClient::new(&AuthClientArgs {
        auth_url: format!("http://127.0.0.1:{port}"),
        auth_service_key: service_key.to_string(),
        auth_issuer: "microfleet-auth".into(),
        auth_audience: audience.into(),
        auth_cache_ttl_seconds: CACHE_TTL.as_secs(),
        auth_jwks_min_refresh_seconds: 30,
    })
    .unwrap()
}

#[tokio::test]
async fn a_revoked_key_works_from_the_cache_within_its_lifetime_and_is_refused_after_it() {
    let (app, _) = app("auth_client_keys").await;
    listen(app.clone(), 26111).await;
    let admin = admin_token(&app).await;
    let (_, service_key) = api_key(&app, &admin, "ticketing-service", &["auth:introspect"]).await;
    let (gate_id, gate_key) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let verifier = client(26111, &service_key, "microfleet");

    let principal = verifier.verify(&gate_key).await.unwrap();
    let cached_at = Instant::now();
    assert!(principal.may("gate:scan") && !principal.may("ticketing:admin"), "{principal:?}");
    assert_eq!(principal.subject, format!("key:{}", &gate_key[3..11]));
    let (status, _) =
        send(&app, Method::POST, &format!("/v1/api-keys/{gate_id}/revoke"), None, Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let again = verifier.verify(&gate_key).await;
    if cached_at.elapsed() < CACHE_TTL {
        assert_eq!(again, Ok(principal), "within the cache lifetime the revoked key is still accepted");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match verifier.verify(&gate_key).await {
            Err(AuthError::InactiveKey) => break,
            Ok(_) => assert!(Instant::now() < deadline, "the revoked key was still accepted after 60 s"),
            Err(other) => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(cached_at.elapsed() >= CACHE_TTL, "refused only once the cached answer expired");
    let unknown = format!("mf_00000000_{}", "0".repeat(64));
    assert_eq!(verifier.verify(&unknown).await, Err(AuthError::InactiveKey));
    let no_rights = client(26111, &gate_key, "microfleet");
    assert!(
        matches!(no_rights.verify(&unknown).await, Err(AuthError::Unavailable(_))),
        "a revoked service key cannot introspect"
    );
}

#[tokio::test]
async fn tokens_verify_offline_with_the_fetched_key_set() {
    let (app, _) = app("auth_client_tokens").await;
    listen(app.clone(), 26112).await;
    let admin = admin_token(&app).await;
    let (_, service_key) = api_key(&app, &admin, "ticketing-service", &["auth:introspect"]).await;
    let verifier = client(26112, &service_key, "microfleet");
    let principal = verifier.verify(&admin).await.unwrap();
    assert_eq!((principal.subject.as_str(), principal.roles.clone()), ("1", vec!["admin".to_string()]));
    let mut tampered = admin.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let other_key = admin_token(&http::router(state_with(
        fresh_database("auth_client_other").await,
        keys(&[OLD_SEED]),
        policy(),
        false,
    )))
    .await;
    let cases = [
        ("tampered", String::from_utf8(tampered).unwrap(), AuthError::Token(JwtError::BadSignature)),
        ("unknown_key", other_key, AuthError::Token(JwtError::UnknownKey)),
        ("garbage", "a.b.c".to_string(), AuthError::Token(JwtError::Malformed)),
    ];
    for (case, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await, Err(expected), "{case}");
    }
    let elsewhere = client(26112, &service_key, "another-audience");
    assert_eq!(elsewhere.verify(&admin).await, Err(AuthError::Token(JwtError::WrongAudience)));
}

#[tokio::test]
async fn an_unreachable_auth_service_is_reported_as_unavailable() {
    let verifier = client(26119, "mf_00000000_0", "microfleet");
    let key = format!("mf_00000000_{}", "0".repeat(64));
    assert!(matches!(verifier.verify(&key).await, Err(AuthError::Unavailable(_))));
    let claims = Claims {
        iss: "microfleet-auth".into(),
        sub: "1".into(),
        aud: "microfleet".into(),
        exp: i64::MAX,
        iat: 0,
        nbf: 0,
        jti: "j".into(),
        roles: Vec::new(),
    };
    let token = TokenSigner::from_seed(&NEW_SEED).sign(&claims);
    assert!(matches!(verifier.verify(&token).await, Err(AuthError::Unavailable(_))), "the key set cannot be fetched");
}
