//! The CMS over HTTP against a real auth service and PostgreSQL: signing in (the error next to the field,
//! a strict HttpOnly Secure cookie holding only a random id, the tokens kept in the sessions table), pages
//! behind the session, forms refused without their CSRF token, pages and actions refused (a friendly 403)
//! without the scope, the access token refreshed under the session's lock (parallel pages never reuse a
//! refresh token), logout revoking the login at the auth service, and a form the auth service refuses shown
//! again with its error at the field it named (a good one landing in the users and staff lists).

mod support;

use axum::http::StatusCode;
use jiff::SignedDuration;
use microfleet_cms::session::digest;
use support::{csrf_of, start, ADMIN, ADMIN_PASSWORD, PASSWORD};

#[tokio::test]
async fn signing_in_keeps_the_tokens_on_the_server_and_the_cookie_strict() {
    let stack = start("cms_sign_in", SignedDuration::from_secs(30)).await;
    let mut browser = stack.browser();
    let wrong = browser.sign_in(ADMIN, "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.body.contains("class=\"field error\""), "the password field is marked: {}", wrong.body);
    assert!(wrong.body.contains("the username or password is wrong"), "{}", wrong.body);
    assert!(!browser.cookies.contains_key("mf_session"));

    let answer = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some("/"));
    let cookie = answer.set_cookies.iter().find(|line| line.starts_with("mf_session=")).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let id = browser.cookies["mf_session"].clone();
    let sessions = stack.sessions().await;
    assert_eq!(sessions.len(), 1);
    let (refresh, access) = &sessions[0];
    assert!(!cookie.contains(access.as_str()) && !cookie.contains(refresh.as_str()), "no token in the cookie");
    let stored: String =
        stack.cms_pool.get().await.unwrap().query_one("SELECT id_digest FROM sessions", &[]).await.unwrap().get(0);
    assert_eq!(stored, digest(&id), "only the id's digest is stored");
    assert_ne!(stored, id);

    let home = browser.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/dashboard"), "an admin starts at the dashboard");
    let page = browser.get("/users/1/roles").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-test=\"username\">root<"), "the signed-in person is shown: {}", page.body);
    assert!(page.body.contains("Username: <strong>root</strong>"), "the auth service's user is shown");
    for menu in ["href=\"/refunds\"", "href=\"/users\"", "href=\"/event-staff\""] {
        assert!(page.body.contains(menu), "an admin's menu has {menu}");
    }
}

#[tokio::test]
async fn without_a_valid_session_every_page_goes_to_the_login() {
    let stack = start("cms_no_session", SignedDuration::from_secs(30)).await;
    let mut browser = stack.browser();
    for path in ["/", "/dashboard", "/refunds", "/users/1/roles"] {
        let answer = browser.get(path).await;
        assert_eq!((answer.status, answer.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")), "{path}");
    }
    browser.cookies.insert("mf_session".into(), "forged-session-id".into());
    let forged = browser.get("/dashboard").await;
    assert_eq!(forged.location.as_deref(), Some("/login"));
    assert!(forged.set_cookies.iter().any(|line| line.starts_with("mf_session=;")), "the stale cookie is cleared");
    let posted = browser.post("/merchants", &[("csrf", "x"), ("name", "Promotor")]).await;
    assert_eq!(posted.location.as_deref(), Some("/login"), "a form without a session changes nothing");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let stack = start("cms_csrf", SignedDuration::from_secs(30)).await;
    let mut browser = stack.browser();
    let login = browser.get("/login").await;
    let login_csrf = csrf_of(&login.body);
    let no_token = browser.post("/login", &[("username", ADMIN), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "a login without the form's token");
    browser.cookies.remove("mf_login_csrf");
    let no_cookie =
        browser.post("/login", &[("csrf", &login_csrf), ("username", ADMIN), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN, "a login whose token is not the browser's own");
    assert_eq!(browser.sign_in(ADMIN, ADMIN_PASSWORD).await.status, StatusCode::SEE_OTHER);

    let page = browser.get("/users/1/roles").await;
    let csrf = csrf_of(&page.body);
    let cases = [
        ("logout_without_token", "/logout", vec![]),
        ("logout_with_another_token", "/logout", vec![("csrf", "another-sessions-token")]),
        ("merchant_with_the_login_token", "/merchants", vec![("csrf", login_csrf.as_str()), ("name", "Promotor")]),
        ("roles_with_a_truncated_token", "/users/1/roles", vec![("csrf", &csrf[..10]), ("roles", "admin")]),
    ];
    for (case, path, form) in cases {
        let refused = browser.post(path, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{case}: {}", refused.body);
        assert!(refused.body.contains("This form has expired"), "{case}");
    }
    assert_eq!(browser.get("/users/1/roles").await.status, StatusCode::OK, "the session survived the refused logouts");
    let logout = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (logout.status, logout.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login")),
        "with the token it works"
    );
}

#[tokio::test]
async fn a_page_or_action_outside_the_persons_scopes_is_a_friendly_403() {
    let stack = start("cms_scopes", SignedDuration::from_secs(30)).await;
    stack.user("gate1", &["gate_staff"]).await;
    let mut gate = stack.browser();
    assert_eq!(gate.sign_in("gate1", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let home = gate.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/event-staff"), "gate staff start at the first section they may open");
    for path in ["/refunds", "/users", "/staff", "/dashboard", "/orders", "/users/1/roles", "/users/new", "/events/new"]
    {
        let answer = gate.get(path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}: {}", answer.body);
        assert!(answer.body.contains("Not available to you") && answer.body.contains("Ask an administrator"), "{path}");
        assert!(!answer.body.contains("href=\"/refunds\""), "{path}: the menu has no refunds for gate staff");
        assert!(answer.body.contains("href=\"/schedules\""), "{path}: but it has their own sections");
        assert!(answer.body.contains("data-test=\"username\">gate1<"), "{path}: the page is inside the shell");
    }
    let refunds = gate.get("/refunds").await;
    assert!(refunds.body.contains("ticketing:refunds"), "the missing permission is named");
    let csrf = csrf_of(&refunds.body);
    let refund = gate.post("/orders/2026-12-02-1/refund", &[("csrf", &csrf), ("amount", "100")]).await;
    assert_eq!(refund.status, StatusCode::FORBIDDEN, "a refund by gate staff is refused before any call");
    let roles = gate.post("/users/1/roles", &[("csrf", &csrf), ("roles", "gate_staff"), ("roles", "admin")]).await;
    assert_eq!(roles.status, StatusCode::FORBIDDEN, "gate staff cannot make themselves admin");
}

#[tokio::test]
async fn expiring_access_tokens_are_refreshed_once_even_by_parallel_pages_and_logout_revokes_the_login() {
    // a margin longer than the tokens' hour: every page refreshes first
    let stack = start("cms_refresh", SignedDuration::from_hours(2)).await;
    let mut browser = stack.browser();
    assert_eq!(browser.sign_in(ADMIN, ADMIN_PASSWORD).await.status, StatusCode::SEE_OTHER);
    let (first_refresh, first_access) = stack.sessions().await.remove(0);
    assert_eq!(browser.get("/users/1/roles").await.status, StatusCode::OK);
    let (second_refresh, second_access) = stack.sessions().await.remove(0);
    assert_ne!(first_refresh, second_refresh, "the refresh token was rotated");
    assert_ne!(first_access, second_access, "a new access token");
    assert_eq!(stack.refresh_status(&first_refresh).await, 401, "the used refresh token is spent");
    // the reuse above revoked the whole login at the auth service: the next page ends the session
    let ended = browser.get("/users/1/roles").await;
    assert_eq!(ended.location.as_deref(), Some("/login"), "a refused refresh ends the session");
    assert!(stack.sessions().await.is_empty(), "and deletes it");

    assert_eq!(browser.sign_in(ADMIN, ADMIN_PASSWORD).await.status, StatusCode::SEE_OTHER);
    let cookie = browser.cookies["mf_session"].clone();
    let pages: Vec<_> = (0..6)
        .map(|_| {
            let mut other = stack.browser();
            other.cookies.insert("mf_session".into(), cookie.clone());
            tokio::spawn(async move { other.get("/users/1/roles").await.status })
        })
        .collect();
    for page in pages {
        assert_eq!(page.await.unwrap(), StatusCode::OK, "parallel pages all refresh without tripping reuse detection");
    }
    let page = browser.get("/users/1/roles").await;
    assert_eq!(page.status, StatusCode::OK, "the login is still valid after the parallel refreshes");
    let (refresh, _) = stack.sessions().await.remove(0);
    let logout = browser.post("/logout", &[("csrf", &csrf_of(&page.body))]).await;
    assert_eq!(logout.location.as_deref(), Some("/login"));
    assert!(logout.set_cookies.iter().any(|line| line.starts_with("mf_session=;")), "the cookie is cleared");
    assert!(stack.sessions().await.is_empty(), "the session is deleted");
    assert_eq!(stack.refresh_status(&refresh).await, 401, "the login's refresh token is revoked");
    let mut replay = stack.browser();
    replay.cookies.insert("mf_session".into(), cookie);
    assert_eq!(replay.get("/users/1/roles").await.location.as_deref(), Some("/login"), "the old cookie opens nothing");
}

#[tokio::test]
async fn a_refused_form_shows_the_services_error_at_its_field_and_a_good_one_lands_in_the_lists() {
    let stack = start("cms_user_form", SignedDuration::from_secs(30)).await;
    let mut browser = stack.browser();
    assert_eq!(browser.sign_in(ADMIN, ADMIN_PASSWORD).await.status, StatusCode::SEE_OTHER);
    let form = browser.get("/users/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = csrf_of(&form.body);
    let fields = |email: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Putri Kapasitor".to_string()),
            ("username", "putri".to_string()),
            ("email", email.to_string()),
            ("phone", "6261275564756".to_string()),
            ("password", "a long enough passphrase".to_string()),
            ("roles", "cashier".to_string()),
            ("roles", "coordinator".to_string()),
            ("confirmed", "on".to_string()),
        ]
    };
    let bad = fields("putri-at-mail");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let refused = browser.post("/users", &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "the auth service's 400: {}", refused.body);
    assert!(
        refused.body.contains("data-field=\"email\">must be an e-mail address<"),
        "at the e-mail field: {}",
        refused.body
    );
    assert!(refused.body.contains("value=\"putri\""), "what was typed is kept");
    assert!(!refused.body.contains("a long enough passphrase"), "but never the password");

    let good = fields("putri@mail.com");
    let good: Vec<(&str, &str)> = good.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let created = browser.post("/users", &good).await;
    assert_eq!(created.location.as_deref(), Some("/users"), "{}", created.body);
    let users = browser.get("/users?q=putri").await;
    assert!(users.body.contains("Putri Kapasitor") && users.body.contains("Showing 1–1 of 1"), "{}", users.body);
    let staff = browser.get("/staff?role=coordinator").await;
    assert!(staff.body.contains("Putri Kapasitor"), "the staff list filters by role: {}", staff.body);
    assert_eq!(staff.body.matches("class=\"yes\"").count(), 2, "cashier and co-ordinator ticked: {}", staff.body);
}
