//! Shared by the CMS's HTTP tests: a real auth service (`microfleet_auth::test_support`: its router over a
//! fresh database on the real PostgreSQL, served on an ephemeral port), the CMS over its own fresh database served the same way, and a
//! small browser (cookies kept by hand, redirects not followed) to sign in and post forms.

#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;
use deadpool_postgres::Pool;
use jiff::SignedDuration;
use microfleet_auth::test_support::{self, AuthService};
use microfleet_cms::api::Backends;
use microfleet_cms::format::Display;
use microfleet_cms::http::{AppState, Settings};
use microfleet_common::{database, migrations, test_database};
use serde_json::json;

pub use microfleet_auth::test_support::{ADMIN, ADMIN_PASSWORD};
/// The password of every user a test creates.
pub const PASSWORD: &str = "a user passphrase for tests";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    format!("http://{address}")
}

/// The auth service and the CMS, both served on 127.0.0.1.
pub struct Stack {
    /// The auth service (in process, on its own database).
    pub auth: AuthService,
    /// The CMS's base URL.
    pub cms_url: String,
    /// The CMS's sessions database.
    pub cms_pool: Pool,
    http: reqwest::Client,
}

/// Starts both; the CMS refreshes access tokens that expire within `refresh_margin` (the auth service's
/// live an hour). The ticketing and gate-acl services are not there (their URLs refuse connections).
pub async fn start(name: &str, refresh_margin: SignedDuration) -> Stack {
    let auth = AuthService::start(name).await;
    let cms_database = test_database::create(&format!("{name}_cms")).await.unwrap();
    let cms_pool = database::connect(&cms_database, 4).unwrap();
    migrations::apply(&cms_pool, &microfleet_cms::schema::MIGRATIONS).await.unwrap();
    let state = AppState {
        pool: cms_pool.clone(),
        backends: Backends::new(&auth.url, "http://127.0.0.1:9", "http://127.0.0.1:9").unwrap(),
        verifier: auth.client(10),
        settings: Arc::new(Settings {
            display: Display { time_zone: jiff::tz::TimeZone::UTC, currency: "Rp".into() },
            cookie_secure: true,
            session_ttl: SignedDuration::from_hours(8),
            refresh_margin,
        }),
    };
    let cms_url = serve(microfleet_cms::http::router(state)).await;
    Stack { auth, cms_url, cms_pool, http: reqwest::Client::new() }
}

impl Stack {
    /// Creates a confirmed user with these roles (password [`PASSWORD`]); their id.
    pub async fn user(&self, username: &str, roles: &[&str]) -> i64 {
        test_support::user(&self.auth.router, self.auth.admin_token(), username, roles, PASSWORD).await
    }

    /// A browser at the CMS.
    pub fn browser(&self) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: self.cms_url.clone(), cookies: HashMap::new() }
    }

    /// `POST /v1/token/refresh` at the auth service: its status.
    pub async fn refresh_status(&self, refresh_token: &str) -> u16 {
        let body = json!({"refreshToken": refresh_token});
        self.http
            .post(format!("{}/v1/token/refresh", self.auth.url))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The sessions' (refresh token, access token) rows.
    pub async fn sessions(&self) -> Vec<(String, String)> {
        let client = self.cms_pool.get().await.unwrap();
        let rows = client.query("SELECT refresh_token, access_token FROM sessions", &[]).await.unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    }
}

/// An answer: status, `Location`, the `Set-Cookie` lines and the body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// Where a redirect goes.
    pub location: Option<String>,
    /// Every `Set-Cookie`.
    pub set_cookies: Vec<String>,
    /// The body.
    pub body: String,
}

/// A browser: keeps cookies, follows no redirect.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    /// The cookies it holds.
    pub cookies: HashMap<String, String>,
}

impl Browser {
    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        let cookie: Vec<String> = self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
        if !cookie.is_empty() {
            request = request.header("cookie", cookie.join("; "));
        }
        if let Some(form) = form {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response.headers().get("location").map(|value| value.to_str().unwrap().to_string());
        let set_cookies: Vec<String> =
            response.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_string()).collect();
        for line in &set_cookies {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Answer { status, location, set_cookies, body: response.text().await.unwrap() }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a form.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Signs in through the login form: the answer to the form's post.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Answer {
        let page = self.get("/login").await;
        let csrf = csrf_of(&page.body);
        self.post("/login", &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }
}

/// The CSRF token of the first form in a page.
pub fn csrf_of(body: &str) -> String {
    let start = body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no CSRF input in:\n{body}")) + 19;
    body[start..].split('"').next().unwrap().to_string()
}
