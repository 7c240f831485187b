//! Setup: the payment methods (the seed's "Setup" menu): the list with enabled state, the new-method form,
//! and enabling, disabling or renaming a method.

use maud::{html, Markup};

use super::layout::page;
use super::widgets::{badge, banner, csrf_input, field};
use super::Frame;
use crate::access::Action;
use crate::api::ApiFailure;
use crate::forms::FormValues;
use crate::model::PaymentMethod;

/// The payment methods page.
pub fn payment_methods(
    frame: Frame<'_>,
    methods: &[PaymentMethod],
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let can_edit = frame.viewer.may(Action::EditCatalog);
    page(
        frame,
        "Payment methods",
        html! {},
        html! {
            @if can_edit {
                div.card {
                    h2 { "New payment method" }
                    (banner(failure, &["code", "name"]))
                    form method="post" action="/payment-methods" {
                        (csrf_input(frame.csrf))
                        div.form {
                            (field("Code", "code", "text", values, failure))
                            (field("Name", "name", "text", values, failure))
                        }
                        div.form-actions { button type="submit" { "Add method" } }
                    }
                }
            }
            div.card {
                table {
                    thead { tr { th { "#" } th { "Name" } th { "Code" } th { "State" } th { "Action" } } }
                    tbody {
                        @for (index, method) in methods.iter().enumerate() {
                            tr {
                                td { (index + 1) }
                                td { strong { (method.name) } }
                                td { code { (method.code) } }
                                td { (badge(if method.enabled { "enabled" } else { "disabled" })) }
                                td {
                                    @if can_edit {
                                        form method="post" action={ "/payment-methods/" (method.code) } {
                                            (csrf_input(frame.csrf))
                                            input type="hidden" name="name" value=(method.name);
                                            @if method.enabled {
                                                button.ghost.small type="submit" { "Disable" }
                                            } @else {
                                                input type="hidden" name="enabled" value="on";
                                                button.small type="submit" { "Enable" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if methods.is_empty() { tr { td.empty colspan="5" { "No payment methods yet." } } }
                    }
                }
            }
        },
    )
}
