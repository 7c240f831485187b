//! Conditions and messages of a resource's status, shared by every controller: setting a condition in place
//! (its transition time kept while its status holds) and bounding a message's length.
//!
//! Pure: values in, values out. Which conditions a resource has, and when, is each controller's `status`.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Longest message kept in a condition or a status field, in bytes.
pub const MESSAGE_LIMIT: usize = 1024;

/// Sets condition `type_` (in its place, or appended when new), keeping its transition time while its
/// status is unchanged.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let last_transition_time = match conditions.iter().find(|c| c.type_ == type_) {
        Some(old) if old.status == status => old.last_transition_time.clone(),
        _ => Time(now),
    };
    let condition = Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: shorten(message),
        observed_generation: generation,
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(slot) => *slot = condition,
        None => conditions.push(condition),
    }
}

/// `text`, cut to [`MESSAGE_LIMIT`] bytes (at a character boundary, ending in "...") when longer.
pub fn shorten(text: &str) -> String {
    if text.len() <= MESSAGE_LIMIT {
        return text.to_string();
    }
    let mut end = MESSAGE_LIMIT - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
