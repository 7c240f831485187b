//! `microfleet_common::auth_client` against the real auth service (its router on a TCP port, on a real
//! PostgreSQL): access tokens verified offline with the fetched JWKS (tampered, unknown-key and wrong-audience
//! tokens refused), API keys by introspection with a short cache — a revoked key is still accepted from the
//! cache within its lifetime and refused after it —, a key rotation published ahead (no valid token refused,
//! the removed key's tokens refused once the key set is renewed), forged key ids fetching the key set at most
//! once per rate-limit window, an unreachable auth service reported as such, a missing service key file
//! refused, and the `require` middleware admitting by scope only (401, 403, 503 naming `Authorization`; a
//! role without the scope refused; the caller handed to the handler; without a service key of its own,
//! tokens only: an API key gets 401).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use axum::Router;
use microfleet_auth::http;
use microfleet_common::auth_client::{require, AuthClient, AuthClientArgs, AuthError, Guard, Principal};
use microfleet_common::jwt::{Claims, JwtError, TokenSigner};
use support::*;
use tower::ServiceExt;

const CACHE_TTL: Duration = Duration::from_secs(4);
const MIN_REFRESH: Duration = Duration::from_secs(3);
const MAX_AGE: Duration = Duration::from_secs(2);

async fn listen(app: Router, port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
}

fn client_args(port: u16, audience: &str) -> AuthClientArgs {
    AuthClientArgs {
        auth_url: format!("http://127.0.0.1:{port}"),
        auth_service_key_file: None,
        auth_issuer: "microfleet-auth".into(),
        auth_audience: audience.into(),
        auth_cache_ttl_seconds: CACHE_TTL.as_secs(),
        auth_jwks_min_refresh_seconds: MIN_REFRESH.as_secs(),
        auth_jwks_max_age_seconds: MAX_AGE.as_secs(),
    }
}

fn client(port: u16, service_key: &str, audience: &str) -> AuthClient {
    AuthClient::new(&AuthClientArgs {
        auth_service_key_file: Some(key_file(service_key)),
        ..client_args(port, audience)
    })
    .unwrap()
}

/// Serves whichever router `current` holds (a restart with other keys is a swap), counting JWKS fetches.
async fn listen_swappable(port: u16, current: Arc<RwLock<Router>>, fetches: Arc<AtomicUsize>) {
    let dispatch = tower::service_fn(move |request: axum::extract::Request| {
        if request.uri().path() == "/.well-known/jwks.json" {
            fetches.fetch_add(1, Ordering::SeqCst);
        }
        let app = current.read().unwrap().clone();
        app.oneshot(request)
    });
    listen(Router::new().fallback_service(dispatch), port).await;
}

fn claims_now() -> Claims {
    let now = jiff::Timestamp::now().as_second();
    Claims {
        iss: "microfleet-auth".into(),
        sub: "1".into(),
        aud: "microfleet".into(),
        exp: now + 300,
        iat: now,
        nbf: now,
        jti: "j".into(),
        roles: Vec::new(),
        scopes: Vec::new(),
    }
}

#[tokio::test]
async fn a_rotation_published_ahead_refuses_no_valid_token_and_forged_key_ids_fetch_rarely() {
    let pool = fresh_database("auth_client_rotation").await;
    let phase = |keys| http::router(state_with(pool.clone(), keys, policy(), false));
    let current = Arc::new(RwLock::new(phase(keys(&[OLD_SEED]))));
    let fetches = Arc::new(AtomicUsize::new(0));
    listen_swappable(26113, current.clone(), fetches.clone()).await;
    let app_now = || current.read().unwrap().clone();
    let old_token = admin_token(&app_now()).await;
    let (_, service_key) = api_key(&app_now(), &old_token, "ticketing-service", &["auth:introspect"]).await;
    let verifier = client(26113, &service_key, "microfleet");
    assert!(verifier.verify(&old_token).await.is_ok());
    let fetched = Instant::now();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    for seed in 10..15u8 {
        let forged = TokenSigner::from_seed(&[seed; 32]).sign(&claims_now());
        assert_eq!(verifier.verify(&forged).await, Err(AuthError::Token(JwtError::UnknownKey)), "seed {seed}");
    }
    if fetched.elapsed() < MIN_REFRESH {
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "unknown key ids within the rate limit fetch nothing");
    }

    // 1: the new key is published while the old one signs; the verifier learns it once its cache is stale
    *current.write().unwrap() = phase(keys_signing_with(&[OLD_SEED, NEW_SEED], 0));
    tokio::time::sleep(MIN_REFRESH.max(MAX_AGE) + Duration::from_millis(500)).await;
    let before = fetches.load(Ordering::SeqCst);
    assert!(verifier.verify(&old_token).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), before + 1, "the stale key set was fetched again");
    // 2: the new key signs; its tokens are accepted at once, the old key's still are
    *current.write().unwrap() = phase(keys_signing_with(&[OLD_SEED, NEW_SEED], 1));
    let new_token = admin_token(&app_now()).await;
    assert_ne!(old_token.split('.').next(), new_token.split('.').next(), "another kid");
    assert!(verifier.verify(&new_token).await.is_ok(), "the new key's token");
    assert!(verifier.verify(&old_token).await.is_ok(), "the old key's token during the overlap");
    // 3: the old key is removed; its tokens are refused once the verifier's key set is renewed
    *current.write().unwrap() = phase(keys(&[NEW_SEED]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while verifier.verify(&old_token).await.is_ok() {
        assert!(Instant::now() < deadline, "the removed key's token was still accepted after 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(verifier.verify(&old_token).await, Err(AuthError::Token(JwtError::UnknownKey)));
    assert!(verifier.verify(&new_token).await.is_ok());
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

#[test]
fn a_missing_or_empty_service_key_file_is_refused_naming_the_file() {
    let empty = key_file("");
    for (case, path) in [("missing", std::path::PathBuf::from("/nonexistent/service.key")), ("empty", empty)] {
        let args = AuthClientArgs {
            auth_url: "http://127.0.0.1:26119".into(),
            auth_service_key_file: Some(path.clone()),
            auth_issuer: "microfleet-auth".into(),
            auth_audience: "microfleet".into(),
            auth_cache_ttl_seconds: 1,
            auth_jwks_min_refresh_seconds: 1,
            auth_jwks_max_age_seconds: 1,
        };
        let error = AuthClient::new(&args).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(error.contains(&path.display().to_string()), "{case}: {error}");
    }
}

#[tokio::test]
async fn an_unreachable_auth_service_is_reported_as_unavailable() {
    let verifier = client(26119, "mf_00000000_0", "microfleet");
    let key = format!("mf_00000000_{}", "0".repeat(64));
    assert!(matches!(verifier.verify(&key).await, Err(AuthError::Unavailable(_))));
    let token = TokenSigner::from_seed(&NEW_SEED).sign(&claims_now());
    assert!(matches!(verifier.verify(&token).await, Err(AuthError::Unavailable(_))), "the key set cannot be fetched");
}

#[tokio::test]
async fn the_middleware_admits_only_callers_with_the_scope() {
    let (app, _) = app("auth_client_middleware").await;
    listen(app.clone(), 26114).await;
    let admin = admin_token(&app).await;
    let (_, service_key) = api_key(&app, &admin, "gate-acl-service", &["auth:introspect"]).await;
    let (_, gate_key) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let (_, other_key) = api_key(&app, &admin, "ticketing-ops", &["ticketing:admin"]).await;
    user(&app, &admin, "nazar", &["gate_staff"], "gate staff passphrase").await;
    user(&app, &admin, "putri", &["cashier", "coordinator"], "cashier passphrase!").await;
    let gate_staff = token(&app, "nazar", "gate staff passphrase").await;
    let cashier = token(&app, "putri", "cashier passphrase!").await;
    let guard = Guard { client: Arc::new(client(26114, &service_key, "microfleet")), scope: "gate:scan" };
    let protected = Router::new()
        .route(
            "/v1/scans",
            axum::routing::post(|axum::Extension(caller): axum::Extension<Principal>| async move { caller.subject }),
        )
        .route_layer(axum::middleware::from_fn_with_state(guard, require));
    let cases = [
        ("gate_key", Some(gate_key.as_str()), StatusCode::OK),
        ("admin_token", Some(admin.as_str()), StatusCode::OK),
        ("gate_staff_token", Some(gate_staff.as_str()), StatusCode::OK),
        ("cashier_and_coordinator_token", Some(cashier.as_str()), StatusCode::FORBIDDEN),
        ("no_credentials", None, StatusCode::UNAUTHORIZED),
        ("garbage", Some("a.b.c"), StatusCode::UNAUTHORIZED),
        ("wrong_scope", Some(other_key.as_str()), StatusCode::FORBIDDEN),
    ];
    for (case, bearer, status) in cases {
        let (got, answer) = send(&protected, Method::POST, "/v1/scans", None, bearer, &[]).await;
        assert_eq!(got, status, "{case}: {answer}");
        if status != StatusCode::OK {
            assert_eq!(answer["field"].as_str(), Some("Authorization"), "{case}: {answer}");
        }
    }
    let unreachable = Guard { client: Arc::new(client(26119, &service_key, "microfleet")), scope: "gate:scan" };
    let cut_off = Router::new()
        .route("/v1/scans", axum::routing::post(|| async { "ok" }))
        .route_layer(axum::middleware::from_fn_with_state(unreachable, require));
    let (status, _) = send(&cut_off, Method::POST, "/v1/scans", None, Some(&gate_key), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // a service without a key of its own (no AUTH_SERVICE_KEY_FILE, as the CMS): tokens only
    let mut args = client_args(26114, "microfleet");
    args.auth_service_key_file = None;
    let tokens_only = Guard { client: Arc::new(AuthClient::new(&args).unwrap()), scope: "gate:scan" };
    let tokens_only = Router::new()
        .route("/v1/scans", axum::routing::post(|| async { "ok" }))
        .route_layer(axum::middleware::from_fn_with_state(tokens_only, require));
    let (status, _) = send(&tokens_only, Method::POST, "/v1/scans", None, Some(&gate_staff), &[]).await;
    assert_eq!(status, StatusCode::OK, "a token is verified without a service key");
    let (status, answer) = send(&tokens_only, Method::POST, "/v1/scans", None, Some(&gate_key), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["field"].as_str(), Some("Authorization"), "{answer}");
    let message = answer.to_string();
    assert!(message.contains("access tokens only") && !message.contains(&gate_key), "{message}");
}
