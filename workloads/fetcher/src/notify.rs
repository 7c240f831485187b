//! The failure notifier: sends one run's [`Notification`] to the webhook, retrying transient faults.
//!
//! Reads its input from the environment the operator's notifier Job sets (see `contract::env`). Never logs
//! the webhook URL: it usually embeds a token.

use std::time::Duration;

use microfleet_crds::{
    clusterfetch::NotifyFormat,
    contract::{env, Notification},
};

use crate::retry::{self, Fault, Policy};

/// Why the notifier cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is unset.
    #[error("{0} is not set: the notifier runs in the Job the operator creates, which sets it")]
    Missing(&'static str),
    /// The notification JSON is malformed.
    #[error("{name} is not a notification: {source}")]
    BadNotification {
        /// The variable.
        name: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The format is neither generic nor slack.
    #[error("{0} must be generic or slack, not {1:?}")]
    BadFormat(&'static str, String),
    /// The webhook URL is not an http(s) URL (its value is not repeated: it is a secret).
    #[error("the webhook URL in {0} is not an http:// or https:// URL: check the Secret spec.notify.webhookUrl names")]
    BadUrl(&'static str),
}

/// What to send, and where.
pub struct Outgoing {
    /// The webhook URL (secret).
    pub url: reqwest::Url,
    /// Payload shape.
    pub format: NotifyFormat,
    /// The failure.
    pub notification: Notification,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("host", &self.url.host_str())
            .field("format", &self.format)
            .field("notification", &self.notification)
            .finish()
    }
}

impl Outgoing {
    /// Reads the notifier's environment through `var` (`std::env::var` in the binary).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Outgoing, ConfigError> {
        let raw = var(env::NOTIFICATION).ok_or(ConfigError::Missing(env::NOTIFICATION))?;
        let notification = serde_json::from_str(&raw)
            .map_err(|source| ConfigError::BadNotification { name: env::NOTIFICATION, source })?;
        let format = match var(env::NOTIFY_FORMAT).as_deref().unwrap_or("generic") {
            "generic" => NotifyFormat::Generic,
            "slack" => NotifyFormat::Slack,
            other => return Err(ConfigError::BadFormat(env::NOTIFY_FORMAT, other.into())),
        };
        let url = var(env::NOTIFY_WEBHOOK_URL).ok_or(ConfigError::Missing(env::NOTIFY_WEBHOOK_URL))?;
        let url = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| u.scheme() == "http" || u.scheme() == "https")
            .ok_or(ConfigError::BadUrl(env::NOTIFY_WEBHOOK_URL))?;
        Ok(Outgoing { url, format, notification })
    }

    /// The key a receiver can use to drop a repeated delivery of the same notification.
    pub fn idempotency_key(&self) -> String {
        let n = &self.notification;
        format!("{}/{}/{}", n.namespace, n.cluster_fetch, n.run_id)
    }
}

/// The retry policy of a notification: a chat webhook that is down for a minute still gets it.
pub const POLICY: Policy = Policy { attempts: 6, initial: Duration::from_secs(1), max: Duration::from_secs(30) };

/// Sends `outgoing` once it is accepted (2xx), retrying transient faults under `policy`.
pub async fn send(client: &reqwest::Client, outgoing: &Outgoing, policy: Policy) -> Result<(), Fault> {
    let body = outgoing.notification.body(outgoing.format);
    let key = outgoing.idempotency_key();
    retry::with_retries(
        policy,
        || async {
            let request = client.post(outgoing.url.clone()).header("Idempotency-Key", &key).json(&body);
            retry::send_checked(request, "webhook").await.map(drop)
        },
        |fault, wait| tracing::warn!(error = %fault, retry_in_ms = wait.as_millis() as u64, "notification not accepted yet"),
    )
    .await
}
