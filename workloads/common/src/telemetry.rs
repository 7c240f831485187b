//! Logging: `tracing` to stdout (or stderr, when stdout carries data), JSON lines in containers, readable
//! text otherwise, with colour only on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber, logging to stdout. `json` selects JSON lines; the level comes from
/// `RUST_LOG` (default info).
pub fn init(json: bool) {
    install(json, false);
}

/// As [`init`], but logging to stderr: for a program whose stdout carries data.
pub fn init_stderr(json: bool) {
    install(json, true);
}

fn install(json: bool, stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let builder = fmt().with_env_filter(filter).with_target(false).with_ansi(terminal && !json);
    match (json, stderr) {
        (true, true) => builder.json().flatten_event(true).with_current_span(false).with_writer(std::io::stderr).init(),
        (true, false) => builder.json().flatten_event(true).with_current_span(false).init(),
        (false, true) => builder.with_writer(std::io::stderr).init(),
        (false, false) => builder.init(),
    }
}
