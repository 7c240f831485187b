//! Orders and refunds: the orders list (number, payment info, amounts, checkout/paid, state; search by
//! number or e-mail, state tabs), an order's detail (lines, tickets, refund), the refund confirmation step
//! (money changes only after it), and the refunds list with their state.

use maud::{html, Markup};

use super::layout::page;
use super::widgets::{badge, banner, csrf_input, mark, pager, row_number, search};
use super::Frame;
use crate::access::Action;
use crate::api::ApiFailure;
use crate::listing::Listing;
use crate::model::{Event, Order, OrderRow, Page, RefundRow};

/// The seed's "Payment Info" of an order: already paid (when), has expired, or awaiting payment.
pub fn payment_info(state: &str, paid_at: Option<&str>) -> String {
    match (paid_at, state) {
        (Some(at), _) => format!("Already paid {at}"),
        (None, "expired") => "Has expired".to_string(),
        (None, _) => "Awaiting payment".to_string(),
    }
}

/// Whether an order may be refunded from the CMS: paid, and no refund asked yet.
pub fn refundable(order: &Order) -> bool {
    order.paid && order.refund.is_none() && order.state == "paid"
}

/// The orders list.
pub fn orders(frame: Frame<'_>, listing: &Listing, list: &Page<OrderRow>) -> Markup {
    let display = frame.display;
    page(
        frame,
        "Orders",
        html! {},
        html! {
            div.card {
                (search("/orders", listing, "Order number or e-mail", "state",
                    &[("", "All"), ("pending", "Pending"), ("paid", "Paid"), ("expired", "Expired"), ("refunded", "Refunded")]))
                table {
                    thead { tr { th { "#" } th { "Order number" } th { "Payment info" } th.num { "Pay amount" } th { "Order status" } th { "Pay status" } th { "Created" } th { "Action" } } }
                    tbody {
                        @for (index, order) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { strong { (order.number) } div.sub { (order.customer_email) } div.sub { (order.event_name) } }
                                td { (payment_info(&order.state, order.paid_at.map(|at| display.date_time(at)).as_deref())) div.sub { (order.payment_method) } }
                                td.num { "Total: " (display.amount(order.total_price)) div.sub { "Received: " (display.amount(order.payment_received)) } }
                                td { "Checkout: " (mark(order.checked_out)) br; "Paid: " (mark(order.paid)) }
                                td { (badge(&order.state)) }
                                td { (display.date(order.created_at)) }
                                td { a.button.ghost.small href={ "/orders/" (order.number) } { "Detail" } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="8" { "No orders found." } } }
                    }
                }
                (pager("/orders", listing, list))
            }
        },
    )
}

fn area_name(event: Option<&Event>, area_id: i64) -> String {
    event
        .and_then(|event| event.areas.iter().find(|area| area.id == area_id))
        .map_or_else(|| format!("area {area_id}"), |area| area.name.clone())
}

/// An order's detail, with the refund button when the viewer may refund it.
pub fn order(frame: Frame<'_>, order: &Order, event: Option<&Event>, failure: Option<&ApiFailure>) -> Markup {
    let display = frame.display;
    let can_refund = frame.viewer.may(Action::Refund) && refundable(order);
    page(
        frame,
        &format!("Order {}", order.number),
        html! { @if can_refund { a.button.danger href={ "/orders/" (order.number) "/refund" } { "Refund…" } } },
        html! {
            (banner(failure, &[]))
            div.split {
                div.card {
                    h2 { "Items" }
                    table {
                        thead { tr { th { "Area" } th.num { "Quantity" } th.num { "Unit price" } th.num { "Amount" } } }
                        tbody {
                            @for item in &order.items {
                                tr { td { (area_name(event, item.area_id)) } td.num { (item.quantity) } td.num { (display.amount(item.unit_price)) } td.num { (display.amount(item.unit_price * item.quantity)) } }
                            }
                            tr { td colspan="3" { strong { "Total" } } td.num { strong { (display.amount(order.total_price)) } } }
                        }
                    }
                    h2 style="margin-top:20px" { "Tickets" }
                    table {
                        thead { tr { th { "Ticket" } th { "Area" } th { "State" } } }
                        tbody {
                            @for ticket in &order.tickets { tr { td { code { (ticket.id) } } td { (area_name(event, ticket.area_id)) } td data-test="ticket-state" { (badge(&ticket.state)) } } }
                            @if order.tickets.is_empty() { tr { td.empty colspan="3" { "No tickets yet (issued when paid)." } } }
                        }
                    }
                }
                div.card {
                    h2 { "Payment" }
                    p data-test="order-state" { (badge(&order.state)) }
                    p { span.sub { "Event" } br; (event.map_or_else(|| order.event_id.to_string(), |event| event.name.clone())) }
                    p { span.sub { "Customer" } br; (order.customer_email) }
                    p { span.sub { "Payment" } br; (order.payment_method) " · " (payment_info(&order.state, order.paid_at.map(|at| display.date_time(at)).as_deref())) }
                    p { span.sub { "Total / received" } br; (display.amount(order.total_price)) " / " (display.amount(order.payment_received)) }
                    p { "Checkout: " (mark(order.checked_out)) "  Paid: " (mark(order.paid)) }
                    p { span.sub { "Created" } br; (display.date_time(order.created_at)) }
                    @if let Some(refund) = &order.refund {
                        p data-test="refund-state" { span.sub { "Refund" } br; (display.amount(refund.amount)) " " (badge(&refund.state)) }
                    }
                }
            }
        },
    )
}

/// The refund confirmation: what will be refunded, and the button that does it.
pub fn refund_confirm(frame: Frame<'_>, order: &Order, failure: Option<&ApiFailure>) -> Markup {
    let display = frame.display;
    page(
        frame,
        "Confirm refund",
        html! {},
        html! {
            (banner(failure, &[]))
            div.card.confirm {
                h2 { "Refund order " (order.number) "?" }
                p { "This pays back " strong data-test="refund-amount" { (display.amount(order.payment_received)) } " to " (order.customer_email)
                    " and revokes the order's " (order.tickets.len()) " ticket(s) at the gates. It cannot be undone." }
                form method="post" action={ "/orders/" (order.number) "/refund" } {
                    (csrf_input(frame.csrf))
                    input type="hidden" name="amount" value=(order.payment_received);
                    div.form-actions {
                        button.danger type="submit" { "Yes, refund " (display.amount(order.payment_received)) }
                        a.button.ghost href={ "/orders/" (order.number) } { "Cancel" }
                    }
                }
            }
        },
    )
}

/// The refunds list.
pub fn refunds(frame: Frame<'_>, listing: &Listing, list: &Page<RefundRow>) -> Markup {
    let display = frame.display;
    page(
        frame,
        "Refunds",
        html! {},
        html! {
            div.card {
                (search("/refunds", listing, "Order number", "state", &[("", "All"), ("pending", "Pending"), ("refunded", "Refunded")]))
                table {
                    thead { tr { th { "#" } th { "Order" } th.num { "Total refund" } th { "Status" } th { "Created" } th { "Completed" } } }
                    tbody {
                        @for (index, refund) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { a href={ "/orders/" (refund.order_number) } { (refund.order_number) } }
                                td.num { (display.amount(refund.amount)) }
                                td { (badge(&refund.state)) }
                                td { (display.date_time(refund.created_at)) }
                                td { (refund.completed_at.map_or_else(|| "—".to_string(), |at| display.date_time(at))) }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="6" { "No refunds found." } } }
                    }
                }
                (pager("/refunds", listing, list))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_info_says_paid_expired_or_awaiting() {
        let cases = [
            ("paid", "paid", Some("20 Mar 2023 09:29"), "Already paid 20 Mar 2023 09:29"),
            ("expired", "expired", None, "Has expired"),
            ("pending", "pending", None, "Awaiting payment"),
        ];
        for (case, state, paid_at, expected) in cases {
            assert_eq!(payment_info(state, paid_at), expected, "{case}");
        }
    }
}
