//! The page shell: the sidebar (only the sections the viewer may open, grouped like the seed's menus), the
//! signed-in person and the logout button, the embedded stylesheet; and the pages outside it: login, the
//! friendly 403, and the error page.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::widgets::csrf_input;
use super::Frame;
use crate::access::Viewer;

/// The one stylesheet.
pub const STYLE: &str = include_str!("style.css");

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Microfleet Tickets" }
            style { (PreEscaped(STYLE)) }
        }
    }
}

fn brand() -> Markup {
    html! {
        div.brand {
            span.logo {
                svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" {
                    path fill="#fff" d="M3 7a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2v3a2 2 0 0 0 0 4v3a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-3a2 2 0 0 0 0-4z" {}
                }
            }
            span { "Microfleet Tickets" }
        }
    }
}

fn sidebar(frame: Frame<'_>) -> Markup {
    let mut groups: Vec<(&str, Vec<crate::access::Section>)> = Vec::new();
    for section in frame.viewer.menu() {
        match groups.last_mut() {
            Some((group, sections)) if *group == section.group() => sections.push(section),
            _ => groups.push((section.group(), vec![section])),
        }
    }
    html! {
        nav.sidebar {
            (brand())
            div.nav {
                @for (group, sections) in &groups {
                    div.nav-group { (group) }
                    @for section in sections {
                        a.active[*section == frame.active] href=(section.path()) { (section.title()) }
                    }
                }
            }
            (who(frame.viewer, frame.csrf))
        }
    }
}

fn who(viewer: &Viewer, csrf: &str) -> Markup {
    html! {
        div.who {
            span.sub { "Signed in as" }
            strong data-test="username" { (viewer.username) }
            form method="post" action="/logout" {
                (csrf_input(csrf))
                button.ghost.small type="submit" { "Log out" }
            }
        }
    }
}

/// A signed-in page: the shell around `body`, with `title` and the buttons in `actions` at the top.
pub fn page(frame: Frame<'_>, title: &str, actions: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                div.shell {
                    (sidebar(frame))
                    main.main {
                        div.topbar {
                            div { div.crumb { (frame.active.group()) } h1 { (title) } }
                            div.actions { (actions) }
                        }
                        (body)
                    }
                }
            }
        }
    }
}

/// The login page, with the error of the last attempt next to the field it names.
pub fn login(csrf: &str, username: &str, error: Option<(&str, &str)>) -> Markup {
    let at = |field: &str| error.filter(|(named, _)| *named == field).map(|(_, message)| message);
    let general = error.filter(|(named, _)| *named != "username" && *named != "password").map(|(_, message)| message);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body.login {
                div.card {
                    (brand())
                    h2 { "Sign in to the back office" }
                    @if let Some(message) = general { div.alert.bad role="alert" { (message) } }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        div.field.error[at("username").is_some()] {
                            label for="username" { "Username" }
                            input #username name="username" value=(username) autocomplete="username" required autofocus;
                            @if let Some(message) = at("username") { div.error-text { (message) } }
                        }
                        div.field.error[at("password").is_some()] {
                            label for="password" { "Password" }
                            input #password type="password" name="password" autocomplete="current-password" required;
                            @if let Some(message) = at("password") { div.error-text { (message) } }
                        }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
}

/// The friendly 403 inside the shell: what is missing and where to go instead.
pub fn forbidden(frame: Frame<'_>, what: &str, scope: &str) -> Markup {
    let first = frame.viewer.menu().first().map(|section| (section.path(), section.title()));
    page(
        frame,
        "Not available to you",
        html! {},
        html! {
            div.card {
                h2 { "You cannot open " (what) }
                p { "Your roles do not include the permission " code { (scope) } " that this needs. "
                    "Ask an administrator to add the role if you need it." }
                @if let Some((path, title)) = first { a.button href=(path) { "Go to " (title) } }
            }
        },
    )
}

/// A page that could not be shown (a service is down, something is not found) inside the shell.
pub fn error(frame: Frame<'_>, title: &str, message: &str) -> Markup {
    page(
        frame,
        title,
        html! {},
        html! { div.alert.bad role="alert" { (message) } a.button.ghost href=(frame.active.path()) { "Back to " (frame.active.title()) } },
    )
}

/// A page outside a session (the form expired, the CMS is misconfigured).
pub fn bare(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.login { div.card { (brand()) h2 { (title) } p { (message) } a.button href="/" { "Continue" } } }
        }
    }
}
