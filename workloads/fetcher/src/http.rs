//! The HTTP client every fetcher command uses: timeouts, no cookies, and redirects only within the same
//! host (so credentials never follow a redirect to somebody else).

use std::time::Duration;

use reqwest::{redirect, Client};

/// Installs the process-wide TLS crypto provider (ring). Call once at start-up.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with the given connect and whole-request timeouts.
pub fn client(connect: Duration, request: Duration) -> Result<Client, reqwest::Error> {
    let same_host_only = redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
                && first.scheme() == attempt.url().scheme()
        });
        if !same {
            attempt.error("redirect to another host refused")
        } else if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .connect_timeout(connect)
        .timeout(request)
        .redirect(same_host_only)
        .user_agent(concat!("microfleet-fetcher/", env!("CARGO_PKG_VERSION")))
        .build()
}
