//! Logging: `tracing` to stdout, JSON lines in containers, readable text on a terminal.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. `json` selects JSON lines; the level comes from `RUST_LOG` (default info).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    if json {
        builder.json().flatten_event(true).with_current_span(false).init();
    } else {
        builder.init();
    }
}
