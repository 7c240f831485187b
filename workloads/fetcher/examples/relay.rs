//! Benchmark baseline (`scripts/bench.sh`): relays pages `1..=PAGES` of a page-numbered source, untouched,
//! to the sample platform, streaming each page's body straight into a POST with the fetcher's own HTTP
//! client — the least work any fetcher that also delivers must do (no parsing, no checks, no batching).
//!
//! Usage: `relay <source URL> <sink URL> <pages> <page size> <run id>`; prints the bytes relayed.

use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, sink, pages, limit, run] = args.as_slice() else {
        return Err("usage: relay <source URL> <sink URL> <pages> <page size> <run id>".into());
    };
    let pages: u64 = pages.parse()?;
    microfleet_fetcher::http::install_crypto_provider();
    let timeout = std::time::Duration::from_secs(60);
    let client = microfleet_fetcher::http::client(timeout, timeout)?;
    let mut relayed = 0u64;
    for page in 1..=pages {
        let response = client.get(format!("{source}?page={page}&limit={limit}")).send().await?.error_for_status()?;
        relayed += response.content_length().unwrap_or(0);
        let body = reqwest::Body::wrap_stream(response.bytes_stream());
        // the platform reads the whole body, then refuses it: a page is not a batch
        client.post(format!("{sink}/runs/{run}/batches/{page}")).body(body).send().await?.bytes().await?;
    }
    println!("{relayed}");
    Ok(())
}
