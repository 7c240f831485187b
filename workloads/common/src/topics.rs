//! The saga's channel names on the broker: each outbox topic a service writes (`order.paid`) and the broker
//! topic it travels on (`<prefix>.order-paid`), under a configurable prefix. Every name is listed in
//! `workloads/asyncapi.yaml`; nothing here talks to the broker.

/// Outbox topic → channel suffix. The first five are the seed's request model; `event-approved` and
/// `order-expired` carry the other outbox rows ticketing writes.
pub const CHANNELS: [(&str, &str); 7] = [
    (ORDER_PAID, "order-paid"),
    (ACCESS_PREPARED, "access-prepared"),
    (TICKET_STATUS, "ticket-status"),
    (ACCESS_REVOKE, "access-revoke"),
    (ACCESS_REVOKED, "access-revoked"),
    (EVENT_APPROVED, "event-approved"),
    (ORDER_EXPIRED, "order-expired"),
];

/// The suffix of the dead-letter channel (`<prefix>.dead-letter`).
pub const DEAD_LETTER: &str = "dead-letter";

/// Ticketing → gate-acl: an order was paid; prepare access for its tickets.
pub const ORDER_PAID: &str = "order.paid";
/// Gate-acl → ticketing: access for an order's tickets is prepared; the tickets become active.
pub const ACCESS_PREPARED: &str = "access.prepared";
/// Ticketing → anyone: a ticket's state changed.
pub const TICKET_STATUS: &str = "ticket.status";
/// Ticketing → gate-acl: a refund was requested; revoke the order's access.
pub const ACCESS_REVOKE: &str = "order.refund_requested";
/// Gate-acl → ticketing: the order's access is revoked.
pub const ACCESS_REVOKED: &str = "access.revoked";
/// Ticketing → gate-acl: an event was approved, with its areas.
pub const EVENT_APPROVED: &str = "event.approved";
/// Ticketing → anyone: an unpaid order expired.
pub const ORDER_EXPIRED: &str = "order.expired";

/// The broker topic names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Names under `prefix` (e.g. `ticketing`).
    pub fn new(prefix: &str) -> Topics {
        Topics { prefix: prefix.to_string() }
    }

    /// The broker topic an outbox topic travels on; `None` for a topic the saga does not know.
    pub fn channel(&self, outbox_topic: &str) -> Option<String> {
        CHANNELS.iter().find(|(topic, _)| *topic == outbox_topic).map(|(_, suffix)| format!("{}.{suffix}", self.prefix))
    }

    /// Every broker topic of the saga, the dead-letter topic last.
    pub fn all(&self) -> Vec<String> {
        let mut names: Vec<String> = CHANNELS.iter().map(|(_, suffix)| format!("{}.{suffix}", self.prefix)).collect();
        names.push(self.dead_letter());
        names
    }

    /// `<prefix>.dead-letter`.
    pub fn dead_letter(&self) -> String {
        format!("{}.{DEAD_LETTER}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        let topics = Topics::new("ticketing");
        let cases = [
            ("order_paid", ORDER_PAID, Some("ticketing.order-paid")),
            ("access_prepared", ACCESS_PREPARED, Some("ticketing.access-prepared")),
            ("refund_is_access_revoke", ACCESS_REVOKE, Some("ticketing.access-revoke")),
            ("unknown", "order.lost", None),
        ];
        for (case, outbox_topic, expected) in cases {
            assert_eq!(topics.channel(outbox_topic).as_deref(), expected, "{case}");
        }
        assert_eq!(topics.dead_letter(), "ticketing.dead-letter");
    }

    #[test]
    fn every_channel_is_in_the_asyncapi_document() {
        let document = include_str!("../../asyncapi.yaml");
        for name in Topics::new("{prefix}").all() {
            assert!(document.contains(&format!("address: '{name}'")), "{name} missing from workloads/asyncapi.yaml");
        }
    }
}
