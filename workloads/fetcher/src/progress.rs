//! Progress: the run's counters, a JSON log line every few seconds (items/s), and a one-line progress
//! display when stderr is a terminal.

use std::{
    io::{IsTerminal, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// Counters shared by the fetch, the sink and the reporters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Items accepted.
    pub items: AtomicU64,
    /// Bytes read from the source.
    pub bytes: AtomicU64,
    /// Pages read.
    pub pages: AtomicU64,
    /// HTTP requests made (source and sink, retries included; a page requested ahead and not needed
    /// is not counted).
    pub requests: AtomicU64,
    /// Of those, the requests that were retries of a failed one.
    pub retries: AtomicU64,
    /// Items delivered to the sink.
    pub delivered: AtomicU64,
}

impl Stats {
    /// A snapshot: (items, bytes, pages, requests, delivered).
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.items.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
        )
    }
}

/// Reports progress until dropped: a log line every `every`, and a live line on a terminal.
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
}

impl Reporter {
    /// Starts reporting on `stats`. `live` asks for the terminal line (only shown if stderr is a terminal).
    pub fn start(stats: Arc<Stats>, every: Duration, live: bool) -> Reporter {
        let terminal = live && std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last_log = Instant::now();
            let mut last_items = 0;
            let tick = if terminal { Duration::from_millis(200) } else { every };
            loop {
                tokio::time::sleep(tick).await;
                let (items, bytes, pages, _, delivered) = stats.snapshot();
                let elapsed = start.elapsed().as_secs_f64().max(0.001);
                if terminal {
                    eprint!(
                        "\r  {items:>12} items  {:>9.0} items/s  {:>8.1} MB  {pages:>7} pages  {delivered:>12} delivered ",
                        items as f64 / elapsed,
                        bytes as f64 / 1e6
                    );
                    let _ = std::io::stderr().flush();
                }
                if last_log.elapsed() >= every {
                    let window = last_log.elapsed().as_secs_f64().max(0.001);
                    tracing::info!(
                        items,
                        delivered,
                        pages,
                        megabytes = bytes as f64 / 1e6,
                        items_per_second = ((items - last_items) as f64 / window).round(),
                        "progress"
                    );
                    last_log = Instant::now();
                    last_items = items;
                }
            }
        });
        Reporter { task }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
