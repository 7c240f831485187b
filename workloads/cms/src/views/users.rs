//! Users and staff (the auth service's users): the users list (name, confirmed, setup, account, contact;
//! confirm and unlock buttons), the new-user form, the roles set-up form, and the staff list with a column
//! per role (the seed's "as Cashier", "as Co", ...).

use maud::{html, Markup};

use super::layout::page;
use super::widgets::{badge, banner, csrf_input, error_at, field, mark, pager, row_number, search};
use super::Frame;
use crate::access::Action;
use crate::api::ApiFailure;
use crate::forms::FormValues;
use crate::listing::Listing;
use crate::model::{Page, User, ROLES};

fn role_tabs() -> Vec<(&'static str, &'static str)> {
    let mut tabs = vec![("", "All")];
    tabs.extend(ROLES);
    tabs
}

fn role_checks(values: &FormValues, failure: Option<&ApiFailure>) -> Markup {
    let ticked = values.all("roles");
    let error = failure.filter(|failure| failure.field.as_deref().is_some_and(|field| field.starts_with("roles")));
    html! {
        div.field.error[error.is_some()] {
            label { "Roles" }
            div.checks {
                @for (role, label) in ROLES {
                    label { input type="checkbox" name="roles" value=(role) checked[ticked.contains(&role)]; (label) }
                }
            }
            @if let Some(failure) = error { div.error-text data-field="roles" { (failure.message) } }
        }
    }
}

/// The users list.
pub fn users(frame: Frame<'_>, listing: &Listing, list: &Page<User>, failure: Option<&ApiFailure>) -> Markup {
    let display = frame.display;
    let can_manage = frame.viewer.may(Action::ManageUsers);
    let me = frame.viewer.principal.subject.clone();
    page(
        frame,
        "Users",
        html! { @if can_manage { a.button href="/users/new" { "New +" } } },
        html! {
            (banner(failure, &[]))
            div.card {
                (search("/users", listing, "Name, username or e-mail", "role", &role_tabs()))
                table {
                    thead { tr { th { "#" } th { "Name" } th { "Confirmed" } th { "Setup" } th { "Account" } th { "Contact" } th { "Action" } } }
                    tbody {
                        @for (index, user) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { strong { (user.name) } div.sub { (user.roles.join(", ")) } }
                                td { @if user.confirmed { (badge("confirmed")) } @else { (badge("unconfirmed")) } }
                                td {
                                    @if user.id.to_string() == me { span.sub { "Current login" } }
                                    @else if can_manage { a.button.small href={ "/users/" (user.id) "/roles" } { "Setup" } }
                                }
                                td { "Username: " (user.username) div.sub { "Email: " (user.email) } }
                                td { "Phone: " (user.phone.as_deref().unwrap_or("—")) }
                                td { div.actions {
                                    @if can_manage && !user.confirmed {
                                        form method="post" action={ "/users/" (user.id) "/confirm" } { (csrf_input(frame.csrf)) button.small type="submit" { "Confirm" } }
                                    }
                                    @if let Some(until) = user.locked_until {
                                        span.sub { (badge("locked")) " until " (display.date_time(until)) }
                                        @if can_manage {
                                            form method="post" action={ "/users/" (user.id) "/unlock" } { (csrf_input(frame.csrf)) button.ghost.small type="submit" { "Unlock" } }
                                        }
                                    }
                                } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="7" { "No users found." } } }
                    }
                }
                (pager("/users", listing, list))
            }
        },
    )
}

/// The new-user form.
pub fn user_form(frame: Frame<'_>, values: &FormValues, failure: Option<&ApiFailure>) -> Markup {
    let shown = ["name", "username", "email", "phone", "password", "roles"];
    page(
        frame,
        "New user",
        html! {},
        html! {
            div.card {
                (banner(failure, &shown))
                form method="post" action="/users" {
                    (csrf_input(frame.csrf))
                    div.form {
                        (field("Name", "name", "text", values, failure))
                        (field("Username", "username", "text", values, failure))
                        (field("E-mail", "email", "email", values, failure))
                        (field("Phone", "phone", "tel", values, failure))
                        (field("Initial password", "password", "password", &FormValues::default(), failure))
                    }
                    div.form style="margin-top:14px" {
                        (role_checks(values, failure))
                        div.field { label { "Account" } div.checks { label { input type="checkbox" name="confirmed" value="on" checked[values.checked("confirmed")]; "Confirmed (may sign in)" } } }
                    }
                    div.form-actions { button type="submit" { "Process" } a.button.ghost href="/users" { "Cancel" } }
                }
            }
        },
    )
}

/// The roles set-up form of one user.
pub fn roles_form(frame: Frame<'_>, user: &User, values: &FormValues, failure: Option<&ApiFailure>) -> Markup {
    page(
        frame,
        &format!("Setup · {}", user.name),
        html! {},
        html! {
            div.card {
                @if let Some(message) = error_at(failure, "roles").or(failure.filter(|failure| failure.field.is_none()).map(|failure| failure.message.as_str())) {
                    div.alert.bad role="alert" { (message) }
                }
                p { "Username: " strong { (user.username) } " · " (user.email) }
                form method="post" action={ "/users/" (user.id) "/roles" } {
                    (csrf_input(frame.csrf))
                    (role_checks(values, failure))
                    div.form-actions { button type="submit" { "Save" } a.button.ghost href="/users" { "Back" } }
                }
            }
        },
    )
}

/// The staff list: users with a column per role.
pub fn staff(frame: Frame<'_>, listing: &Listing, list: &Page<User>) -> Markup {
    let display = frame.display;
    let can_manage = frame.viewer.may(Action::ManageUsers);
    page(
        frame,
        "Staff",
        html! {},
        html! {
            div.card {
                (search("/staff", listing, "Search staff", "role", &role_tabs()))
                table {
                    thead { tr {
                        th { "#" } th { "Name" }
                        @for (_, label) in ROLES { th { "as " (label) } }
                        th { "Created" } th { "Action" }
                    } }
                    tbody {
                        @for (index, user) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { strong { (user.name) } div.sub { (user.username) } }
                                @for (role, _) in ROLES { td { (mark(user.roles.iter().any(|held| held == role))) } }
                                td { (user.created_at.map_or_else(|| "—".to_string(), |at| display.date(at))) }
                                td { @if can_manage { a.button.ghost.small href={ "/users/" (user.id) "/roles" } { "Edit" } } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="11" { "No staff found." } } }
                    }
                }
                (pager("/staff", listing, list))
            }
        },
    )
}
