//! For tests only (feature `test-support`): a real auth service in process — its router over a fresh
//! migrated database on the real PostgreSQL (`MICROFLEET_PG_URL`) with the bootstrap admin, at a cheap
//! hashing cost, served on an ephemeral port — for its own tests and for those of the services that
//! authenticate through it (ticketing, gate-acl). Users, tokens and API keys are made through its HTTP API;
//! a service's verifier settings (`AuthClientArgs`) come with a service key written to a file. It panics,
//! saying why, on whatever it cannot set up; nothing here is used by the service itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_common::auth_client::{AuthClient, AuthClientArgs};
use microfleet_common::test_request::call;
use microfleet_common::{database, migrations, scopes, test_database};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::domain::keys::SigningKeys;
use crate::domain::lockout::LoginPolicy;
use crate::domain::password::{HashCost, PasswordHashing};
use crate::http::{self, AppState, Settings};
use crate::metrics::AuthMetrics;
use crate::repository;
use crate::schema::MIGRATIONS;

/// A cheap Argon2id cost, so tests are fast.
pub const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
/// The bootstrap admin.
pub const ADMIN: &str = "root";
/// Their password.
pub const ADMIN_PASSWORD: &str = "admin passphrase for tests";
/// The old signing key seed (rotation tests).
pub const OLD_SEED: [u8; 32] = [1; 32];
/// The new one, which signs by default.
pub const NEW_SEED: [u8; 32] = [2; 32];
/// The `iss` of the tokens.
pub const ISSUER: &str = "microfleet-auth";
/// The `aud` of the tokens.
pub const AUDIENCE: &str = "microfleet";

/// Generous limits: no test trips them unless it means to.
pub fn policy() -> LoginPolicy {
    LoginPolicy {
        max_failures: 5,
        lock_for: SignedDuration::from_mins(15),
        address_max_failures: 1000,
        address_window: SignedDuration::from_mins(5),
    }
}

/// Keys from seeds, oldest first; the last signs.
pub fn keys(seeds: &[[u8; 32]]) -> SigningKeys {
    keys_signing_with(seeds, seeds.len().saturating_sub(1))
}

/// Keys from seeds, oldest first (named `key<index>`); the one at `active` signs.
pub fn keys_signing_with(seeds: &[[u8; 32]], active: usize) -> SigningKeys {
    let values: Vec<(String, String)> =
        seeds.iter().enumerate().map(|(index, seed)| (format!("key{index}"), STANDARD.encode(seed))).collect();
    SigningKeys::from_values(&values, Some(&format!("key{active}"))).unwrap_or_else(|error| panic!("{error}"))
}

/// A fresh migrated database with the bootstrap admin, on the shared test server.
pub async fn fresh_database(name: &str) -> Pool {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    prepared_database(&url).await
}

/// The empty database at `url`, migrated, with the bootstrap admin.
pub async fn prepared_database(url: &str) -> Pool {
    let pool = database::connect(url, 4).unwrap_or_else(|error| panic!("{error}"));
    migrations::apply(&pool, &MIGRATIONS).await.unwrap_or_else(|error| panic!("{error}"));
    let hash = hashing().hash(ADMIN_PASSWORD).unwrap_or_else(|error| panic!("{error}"));
    let created = repository::bootstrap_admin(&pool, ADMIN, &hash, Timestamp::now()).await;
    assert!(created.unwrap_or_else(|error| panic!("{error}")), "the bootstrap admin is new");
    pool
}

fn hashing() -> PasswordHashing {
    PasswordHashing::new(CHEAP).unwrap_or_else(|error| panic!("{error}"))
}

/// The state over `pool` with these keys and limits (access tokens live 5 minutes).
pub fn state_with(pool: Pool, keys: SigningKeys, policy: LoginPolicy, trust_forwarded_for: bool) -> AppState {
    state_for(pool, keys, policy, trust_forwarded_for, SignedDuration::from_mins(5))
}

fn state_for(
    pool: Pool,
    keys: SigningKeys,
    policy: LoginPolicy,
    trust_forwarded_for: bool,
    access_ttl: SignedDuration,
) -> AppState {
    let settings = Settings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        access_ttl,
        refresh_ttl: SignedDuration::from_hours(1),
        policy,
        trust_forwarded_for,
    };
    let metrics = AuthMetrics::register(&prometheus::Registry::new()).unwrap_or_else(|error| panic!("{error}"));
    AppState::new(pool, keys, hashing(), settings, metrics).unwrap_or_else(|error| panic!("{error}"))
}

/// Writes a secret to a new file readable by its owner only (as a mounted Secret would be); its path.
pub fn key_file(secret: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let directory = std::env::temp_dir().join(format!("microfleet-test-keys-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap_or_else(|error| panic!("cannot create {directory:?}: {error}"));
    let path = directory.join(format!("key-{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, secret).unwrap_or_else(|error| panic!("cannot write {path:?}: {error}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let owner_only = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&path, owner_only).unwrap_or_else(|error| panic!("cannot protect {path:?}: {error}"));
    }
    path
}

/// `POST /v1/login` through `app`: (status, answer).
pub async fn login(app: &Router, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    call(app, Method::POST, "/v1/login", Some(&body), None).await
}

/// The access token of a user's login.
pub async fn token(app: &Router, username: &str, password: &str) -> String {
    let (status, body) = login(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
    body["accessToken"].as_str().unwrap_or_else(|| panic!("no accessToken in {body}")).to_string()
}

/// The bootstrap admin's access token.
pub async fn admin_token(app: &Router) -> String {
    token(app, ADMIN, ADMIN_PASSWORD).await
}

/// Creates a confirmed user with these roles and password (by `admin`, a credential with `auth:users`);
/// their id.
pub async fn user(app: &Router, admin: &str, username: &str, roles: &[&str], password: &str) -> i64 {
    let body = json!({"name": "Putri Kapasitor", "username": username, "email": format!("{username}@mail.com"),
                      "phone": "6261275564756", "confirmed": true, "roles": roles, "password": password});
    let (status, answer) = call(app, Method::POST, "/v1/users", Some(&body.to_string()), Some(admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["id"].as_i64().unwrap_or_else(|| panic!("no id in {answer}"))
}

/// Creates an API key with these scopes (by `admin`, a credential with `auth:keys`): (id, key).
pub async fn api_key(app: &Router, admin: &str, name: &str, scopes: &[&str]) -> (i64, String) {
    let body = json!({"name": name, "scopes": scopes}).to_string();
    let (status, answer) = call(app, Method::POST, "/v1/api-keys", Some(&body), Some(admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_i64().unwrap_or_else(|| panic!("no id in {answer}"));
    (id, answer["key"].as_str().unwrap_or_else(|| panic!("no key in {answer}")).to_string())
}

/// Revokes an API key (by `admin`, a credential with `auth:keys`).
pub async fn revoke_api_key(app: &Router, admin: &str, id: i64) {
    let (status, answer) = call(app, Method::POST, &format!("/v1/api-keys/{id}/revoke"), None, Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A real auth service on `127.0.0.1:<ephemeral port>` with its own database, its bootstrap admin logged in
/// and a service key (`auth:introspect`) for the verifiers, in a file deleted when it is dropped. Access
/// tokens live an hour. Stopped with [`AuthService::stop`], or when the test's runtime ends.
pub struct AuthService {
    /// Its base URL.
    pub url: String,
    /// Its router (requests in process reach the same service).
    pub router: Router,
    /// Its database.
    pub pool: Pool,
    admin: String,
    service_key_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl AuthService {
    /// Starts one on a fresh database named after `name` (on the shared test server).
    pub async fn start(name: &str) -> AuthService {
        AuthService::serve(fresh_database(&format!("{name}_auth")).await).await
    }

    /// Starts one on the empty database at `database_url` (a test's own server).
    pub async fn start_on(database_url: &str) -> AuthService {
        AuthService::serve(prepared_database(database_url).await).await
    }

    async fn serve(pool: Pool) -> AuthService {
        let state = state_for(pool.clone(), keys(&[NEW_SEED]), policy(), false, SignedDuration::from_hours(1));
        let router = http::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|error| panic!("{error}"));
        let address = listener.local_addr().unwrap_or_else(|error| panic!("{error}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router.clone().into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                panic!("the test auth service failed: {error}");
            }
        });
        let admin = admin_token(&router).await;
        let (_, service_key) = api_key(&router, &admin, "service", &[scopes::AUTH_INTROSPECT]).await;
        AuthService {
            url: format!("http://{address}"),
            router,
            pool,
            admin,
            service_key_file: key_file(&service_key),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The bootstrap admin's access token (every scope).
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// The settings of a service's verifier: this service, answers of introspection reused for
    /// `cache_ttl_seconds`, the key set renewed at most every second.
    pub fn client_args(&self, cache_ttl_seconds: u64) -> AuthClientArgs {
        AuthClientArgs {
            auth_url: self.url.clone(),
            auth_service_key_file: Some(self.service_key_file.clone()),
            auth_issuer: ISSUER.into(),
            auth_audience: AUDIENCE.into(),
            auth_cache_ttl_seconds: cache_ttl_seconds,
            auth_jwks_min_refresh_seconds: 1,
            auth_jwks_max_age_seconds: 300,
        }
    }

    /// A verifier with [`AuthService::client_args`].
    pub fn client(&self, cache_ttl_seconds: u64) -> Arc<AuthClient> {
        Arc::new(AuthClient::new(&self.client_args(cache_ttl_seconds)).unwrap_or_else(|error| panic!("{error}")))
    }

    /// The file holding the service key (`auth:introspect`), as `AUTH_SERVICE_KEY_FILE` names it.
    pub fn service_key_file(&self) -> &std::path::Path {
        &self.service_key_file
    }

    /// Creates a user with these roles (`admin`, `gate_staff`, ...) and logs them in: their access token.
    pub async fn user_token(&self, username: &str, roles: &[&str]) -> String {
        let password = format!("{username} passphrase for tests");
        user(&self.router, &self.admin, username, roles, &password).await;
        token(&self.router, username, &password).await
    }

    /// Creates an API key with these scopes: (id, key).
    pub async fn api_key(&self, name: &str, scopes: &[&str]) -> (i64, String) {
        api_key(&self.router, &self.admin, name, scopes).await
    }

    /// Revokes an API key.
    pub async fn revoke(&self, id: i64) {
        revoke_api_key(&self.router, &self.admin, id).await;
    }

    /// Checks that each of `routes` — (method, path template, example path) of `app`, a service
    /// authenticating through this auth service — needs exactly the scope its operation in `openapi` names
    /// (`security: [{"bearer": [scope]}, ...]`): no credentials get 401, an API key with every other scope
    /// 403 naming `Authorization`, a key with that scope only neither 401 nor 403.
    pub async fn assert_scopes_as_documented(&self, app: &Router, openapi: &Value, routes: &[(&str, &str, &str)]) {
        for (method, template, example) in routes {
            let operation = &openapi["paths"][template][method];
            let scope = operation["security"][0]["bearer"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template} names no scope: {operation}"));
            assert_eq!(operation["security"][1]["apiKey"][0].as_str(), Some(scope), "{method} {template}");
            let others: Vec<&str> = scopes::ALL.iter().copied().filter(|other| *other != scope).collect();
            let (_, only) = self.api_key(&format!("only {scope}"), &[scope]).await;
            let (_, all_but) = self.api_key(&format!("all but {scope}"), &others).await;
            let method: Method = method.to_uppercase().parse().unwrap_or_else(|error| panic!("{method}: {error}"));
            let (status, _) = call(app, method.clone(), example, None, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {example} without credentials");
            let (status, answer) = call(app, method.clone(), example, None, Some(&all_but)).await;
            assert_eq!(
                (status, answer["field"].as_str()),
                (StatusCode::FORBIDDEN, Some("Authorization")),
                "{method} {example} without {scope}: {answer}"
            );
            let (status, answer) = call(app, method.clone(), example, None, Some(&only)).await;
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {example} with {scope} only: {status} {answer}"
            );
        }
    }

    /// Stops serving (open connections are closed): verifiers find it unavailable from then on.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AuthService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.service_key_file);
    }
}
