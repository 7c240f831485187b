//! ticketing-cms (seed 004's CMS): the back office of the e-ticketing system — login, dashboard, merchants,
//! events, event staff, staff, schedules, orders, refunds, users, payment methods — as pages rendered on the
//! server. It owns no business data: every screen reads and changes the auth, ticketing and gate-acl
//! services through their APIs with the signed-in person's token (`api`); its own database holds only the
//! sessions (`repository`). `http` has the thin handlers, `views` the pages, and the pure parts are
//! `access` (what a scope opens), `session` (cookies, CSRF, refresh), `forms`, `listing`, `format`, `chart`
//! and `qr`.

pub mod access;
pub mod api;
pub mod chart;
pub mod config;
pub mod format;
pub mod forms;
pub mod http;
pub mod listing;
pub mod model;
pub mod qr;
pub mod repository;
pub mod schema;
pub mod session;
pub mod views;
