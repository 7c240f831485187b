//! The verifier other services use to authenticate callers through the auth service: access tokens (JWT,
//! EdDSA) are verified offline against the auth service's JWKS, cached, fetched again once it is older than
//! `jwks_max_age` (so a key published ahead of a rotation is known before it signs) and when a token names an
//! unknown key (at most one attempt per `jwks_min_refresh`, so forged `kid`s cannot flood the auth service);
//! API keys (`mf_...`) are checked by the auth service's introspection, whose answers (active or not) are
//! cached for `cache_ttl` — so a revoked key stops working within that time; a service started without a key
//! of its own (AUTH_SERVICE_KEY_FILE, e.g. the CMS, which verifies tokens only) refuses API keys with 401. Keys and tokens are never
//! logged; the cache is keyed by their SHA-256. A caller is allowed what its scopes say (`crate::scopes`;
//! tokens carry their user's scopes, keys the scopes they were created with) — no role is checked here.
//! [`require`] is the middleware that admits only callers holding a scope and hands their [`Principal`] to
//! the handlers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::api_error::ApiError;
use crate::api_key::API_KEY_PREFIX;
use crate::credentials::presented_key;

use crate::auth_wire::{IntrospectRequest, Introspection};
use crate::jwt::{self, Expectations, Jwks, JwtError, KeySet};

/// The most introspection answers cached; beyond it, expired ones are dropped (and all, if none expired).
const MAX_CACHED: usize = 10_000;

/// The settings of a service that authenticates its callers through the auth service (flatten them into
/// the service's `serve` settings).
#[derive(clap::Args, Clone)]
pub struct AuthClientArgs {
    /// Base URL of the auth service, e.g. http://auth-service:8080
    #[arg(long, env = "AUTH_URL")]
    pub auth_url: String,
    /// File holding this service's own API key at the auth service (scope auth:introspect; a mounted
    /// Secret). Without it the service accepts access tokens only: an API key presented to it gets 401
    #[arg(long, env = "AUTH_SERVICE_KEY_FILE")]
    pub auth_service_key_file: Option<PathBuf>,
    /// The `iss` access tokens must carry
    #[arg(long, env = "AUTH_ISSUER", default_value = "microfleet-auth")]
    pub auth_issuer: String,
    /// The `aud` access tokens must carry
    #[arg(long, env = "AUTH_AUDIENCE", default_value = "microfleet")]
    pub auth_audience: String,
    /// Seconds an introspection answer is reused (a revoked key works at most this long)
    #[arg(long, env = "AUTH_CACHE_TTL_SECONDS", default_value_t = 10)]
    pub auth_cache_ttl_seconds: u64,
    /// Least seconds between two JWKS fetches triggered by unknown key ids
    #[arg(long, env = "AUTH_JWKS_MIN_REFRESH_SECONDS", default_value_t = 30)]
    pub auth_jwks_min_refresh_seconds: u64,
    /// Seconds after which the cached JWKS is fetched again (keys published ahead of a rotation are learnt
    /// within this time; the auth service's rotation waits at least this long before a new key signs)
    #[arg(long, env = "AUTH_JWKS_MAX_AGE_SECONDS", default_value_t = 300)]
    pub auth_jwks_max_age_seconds: u64,
}

impl std::fmt::Debug for AuthClientArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClientArgs")
            .field("auth_url", &self.auth_url)
            .field("auth_service_key_file", &self.auth_service_key_file)
            .field("auth_issuer", &self.auth_issuer)
            .field("auth_audience", &self.auth_audience)
            .field("auth_cache_ttl_seconds", &self.auth_cache_ttl_seconds)
            .field("auth_jwks_min_refresh_seconds", &self.auth_jwks_min_refresh_seconds)
            .field("auth_jwks_max_age_seconds", &self.auth_jwks_max_age_seconds)
            .finish()
    }
}

/// Why the verifier could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The service key file could not be read, or is empty (the error names the file, never the key).
    #[error("AUTH_SERVICE_KEY_FILE {path}: {reason}")]
    ServiceKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client of the auth service: {0}")]
    Http(String),
}

/// Who a verified token or key stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A user id (token) or `key:<prefix>` (API key).
    pub subject: String,
    /// The user's roles (tokens; shown, never checked).
    pub roles: Vec<String>,
    /// What it may do: the scopes of the user's roles (tokens) or the key's scopes (API keys).
    pub scopes: Vec<String>,
    /// Expiry, Unix seconds, when there is one.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Whether it holds `scope` (the only check: roles grant scopes at the auth service, not here).
    pub fn may(&self, scope: &str) -> bool {
        self.scopes.iter().any(|held| held == scope)
    }
}

/// Why a caller was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The access token is refused.
    #[error("access token refused: {0}")]
    Token(JwtError),
    /// The API key is not active (unknown, revoked, expired or malformed).
    #[error("the API key is not active")]
    InactiveKey,
    /// An API key was presented to a service that has no key of its own to introspect it with (it was
    /// started without AUTH_SERVICE_KEY_FILE): it accepts access tokens only.
    #[error("this service accepts access tokens only, not API keys")]
    KeysNotAccepted,
    /// The auth service could not be asked (the caller may retry; answer 503).
    #[error("the auth service is unavailable: {0}")]
    Unavailable(String),
}

/// An introspection answer and when it was had, by the key's digest.
type Answers = HashMap<[u8; 32], (Instant, Option<Principal>)>;

struct CachedKeys {
    keys: KeySet,
    /// When the keys were fetched (`None`: never).
    fetched_at: Option<Instant>,
    /// When a fetch was last attempted, successful or not (the rate limit).
    attempted_at: Option<Instant>,
}

/// The verifier; share one per process.
pub struct AuthClient {
    http: reqwest::Client,
    base_url: String,
    /// This service's own key at the auth service, to introspect API keys with; `None`: tokens only.
    service_key: Option<String>,
    expect: Expectations,
    cache_ttl: Duration,
    jwks_min_refresh: Duration,
    jwks_max_age: Duration,
    jwks: RwLock<CachedKeys>,
    answers: Mutex<Answers>,
}

impl AuthClient {
    /// A verifier from the settings, the service key read from its file when one is named (nothing is
    /// fetched yet).
    pub fn new(args: &AuthClientArgs) -> Result<AuthClient, SetupError> {
        let service_key = args.auth_service_key_file.as_deref().map(read_service_key).transpose()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| SetupError::Http(error.to_string()))?;
        Ok(AuthClient {
            http,
            base_url: args.auth_url.trim_end_matches('/').to_string(),
            service_key,
            expect: Expectations {
                issuer: args.auth_issuer.clone(),
                audience: args.auth_audience.clone(),
                leeway_seconds: 30,
            },
            cache_ttl: Duration::from_secs(args.auth_cache_ttl_seconds),
            jwks_min_refresh: Duration::from_secs(args.auth_jwks_min_refresh_seconds),
            jwks_max_age: Duration::from_secs(args.auth_jwks_max_age_seconds),
            jwks: RwLock::new(CachedKeys { keys: KeySet::default(), fetched_at: None, attempted_at: None }),
            answers: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies what a caller presents: an API key (`mf_...`) or an access token.
    pub async fn verify(&self, presented: &str) -> Result<Principal, AuthError> {
        if presented.starts_with(API_KEY_PREFIX) {
            self.verify_api_key(presented).await
        } else {
            self.verify_token(presented).await
        }
    }

    /// Verifies an access token offline; a key set older than its maximum age is fetched again first (a
    /// failed fetch keeps the old set), and an unknown key id fetches it again (rate-limited).
    pub async fn verify_token(&self, token: &str) -> Result<Principal, AuthError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let stale = {
            let cached = self.jwks.read().await;
            cached.fetched_at.is_some_and(|at| at.elapsed() >= self.jwks_max_age)
                && cached.attempted_at.is_some_and(|at| at.elapsed() >= self.jwks_min_refresh)
        };
        if stale {
            if let Err(error) = self.refresh_keys().await {
                tracing::warn!(%error, "refreshing the auth service's key set failed; verifying with the cached one");
            }
        }
        let first = jwt::verify(token, &self.jwks.read().await.keys, &self.expect, now);
        let claims = match first {
            Err(JwtError::UnknownKey) => {
                self.refresh_keys().await?;
                jwt::verify(token, &self.jwks.read().await.keys, &self.expect, now)
            }
            other => other,
        }
        .map_err(AuthError::Token)?;
        Ok(Principal { subject: claims.sub, roles: claims.roles, scopes: claims.scopes, expires_at: Some(claims.exp) })
    }

    /// Fetches the key set, unless a fetch was attempted less than `jwks_min_refresh` ago.
    async fn refresh_keys(&self) -> Result<(), AuthError> {
        let mut cached = self.jwks.write().await;
        if cached.attempted_at.is_some_and(|at| at.elapsed() < self.jwks_min_refresh) {
            return if cached.fetched_at >= cached.attempted_at {
                Ok(())
            } else {
                Err(AuthError::Unavailable("the key set could not be fetched recently".into()))
            };
        }
        cached.attempted_at = Some(Instant::now());
        let url = format!("{}/.well-known/jwks.json", self.base_url);
        let response = self.http.get(url).send().await.map_err(|error| AuthError::Unavailable(error.to_string()))?;
        let response = response.error_for_status().map_err(|error| AuthError::Unavailable(error.to_string()))?;
        let jwks: Jwks = response.json().await.map_err(|error| AuthError::Unavailable(error.to_string()))?;
        cached.keys = KeySet::from_jwks(&jwks);
        cached.fetched_at = Some(Instant::now());
        Ok(())
    }

    /// Checks an API key by introspection, reusing an answer younger than the cache lifetime; refused at once
    /// without a service key of our own.
    pub async fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let Some(service_key) = &self.service_key else { return Err(AuthError::KeysNotAccepted) };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(answer) = self.cached(&digest) {
            return answer.ok_or(AuthError::InactiveKey);
        }
        let url = format!("{}/v1/introspect", self.base_url);
        let request = IntrospectRequest { token: key.to_string() };
        let response = self
            .http
            .post(url)
            .bearer_auth(service_key)
            .json(&request)
            .send()
            .await
            .map_err(|error| AuthError::Unavailable(error.to_string()))?;
        let response = response.error_for_status().map_err(|error| AuthError::Unavailable(error.to_string()))?;
        let answer: Introspection = response.json().await.map_err(|error| AuthError::Unavailable(error.to_string()))?;
        let principal = answer.active.then(|| Principal {
            subject: answer.sub.unwrap_or_default(),
            roles: answer.roles,
            scopes: answer.scopes,
            expires_at: answer.exp,
        });
        self.remember(digest, principal.clone());
        principal.ok_or(AuthError::InactiveKey)
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Option<Principal>> {
        let answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        answers.get(digest).filter(|(at, _)| at.elapsed() < self.cache_ttl).map(|(_, answer)| answer.clone())
    }

    fn remember(&self, digest: [u8; 32], answer: Option<Principal>) {
        let mut answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if answers.len() >= MAX_CACHED {
            answers.retain(|_, (at, _)| at.elapsed() < self.cache_ttl);
            if answers.len() >= MAX_CACHED {
                answers.clear();
            }
        }
        answers.insert(digest, (Instant::now(), answer));
    }
}

/// The service key in `path` (trimmed); the error names the file, never its content.
fn read_service_key(path: &std::path::Path) -> Result<String, SetupError> {
    let shown = path.display().to_string();
    let key = std::fs::read_to_string(path)
        .map_err(|error| SetupError::ServiceKey { path: shown.clone(), reason: error.kind().to_string() })?;
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(SetupError::ServiceKey { path: shown, reason: "the file is empty".into() });
    }
    Ok(key)
}

/// What [`require`] checks: the verifier and the scope a caller must hold.
#[derive(Clone)]
pub struct Guard {
    /// The verifier.
    pub client: Arc<AuthClient>,
    /// The scope required, e.g. `ticketing:admin`.
    pub scope: &'static str,
}

/// Middleware (`axum::middleware::from_fn_with_state(guard, require)`): 401 without valid credentials, 403
/// without the scope, 503 when the auth service cannot be asked — each naming `Authorization`; otherwise the
/// caller's [`Principal`] is put in the request's extensions.
pub async fn require(State(guard): State<Guard>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(presented) = presented_key(request.headers()) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "no credentials")
            .field("Authorization")
            .fix("send `Authorization: Bearer <access token or API key>`"));
    };
    let principal = match guard.client.verify(presented).await {
        Ok(principal) => principal,
        Err(AuthError::Unavailable(cause)) => return Err(ApiError::unavailable(&cause).field("Authorization")),
        Err(AuthError::KeysNotAccepted) => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, AuthError::KeysNotAccepted.to_string())
                .field("Authorization")
                .fix("log in and send `Authorization: Bearer <access token>`"))
        }
        Err(refusal) => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, refusal.to_string())
                .field("Authorization")
                .fix("log in again or use a valid API key"))
        }
    };
    if !principal.may(guard.scope) {
        return Err(
            ApiError::new(StatusCode::FORBIDDEN, format!("needs the scope {}", guard.scope)).field("Authorization")
        );
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// `routes` behind a [`Guard`] admitting the callers that hold `scope` (a router builds one per scope group
/// and merges them; routes of one path may sit in several groups, one per method).
pub fn guarded<S>(client: &Arc<AuthClient>, scope: &'static str, routes: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes.route_layer(axum::middleware::from_fn_with_state(Guard { client: client.clone(), scope }, require))
}
