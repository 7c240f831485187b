//! Sample services for demos, tests and benchmarks of the fetcher: the clustering service (the source),
//! the promotion platform (a staging sink receiver) and a chat webhook. All serve on 127.0.0.1.

pub mod clustering;
pub mod promotion;
pub mod webhook;

use std::net::SocketAddr;

/// Serves `router` on `addr` in the background; returns the bound address (use port 0 for any).
pub async fn spawn(router: axum::Router, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("demo server on {bound} stopped: {error}");
        }
    });
    Ok(bound)
}
