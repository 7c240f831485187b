//! `microfleet-demo serve`: the sample clustering service, promotion platform and webhook on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};

use clap::Parser;
use microfleet_demo::{clustering, promotion, spawn, webhook};

#[derive(Parser)]
#[command(name = "microfleet-demo", about = "Sample services for the Microfleet demo and benchmarks")]
struct Args {
    /// Users the clustering service lists.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,
    /// Paging of the clustering service.
    #[arg(long, value_enum, default_value = "cursor")]
    paging: clustering::Paging,
    /// Format of the clustering service.
    #[arg(long, value_enum, default_value = "json")]
    format: clustering::Format,
    /// Keep page bodies once generated (benchmarks).
    #[arg(long)]
    cache_pages: bool,
    /// Spread each JSON item over several lines, as a pretty-printing service does.
    #[arg(long)]
    pretty: bool,
    /// Make every page answer this status (a failing source).
    #[arg(long)]
    fail_status: Option<u16>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the clustering service.
    #[arg(long, default_value_t = 18080)]
    clustering_port: u16,
    /// Port of the promotion platform.
    #[arg(long, default_value_t = 18081)]
    promotion_port: u16,
    /// Port of the webhook.
    #[arg(long, default_value_t = 18082)]
    webhook_port: u16,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let faults = args
        .fail_status
        .map(|status| {
            (0..1_000_000)
                .map(|page| clustering::Fault::Status { page, status, retry_after: None, times: u32::MAX })
                .collect()
        })
        .unwrap_or_default();
    let (source, _) = clustering::router(clustering::Config {
        users: args.users,
        paging: args.paging,
        format: args.format,
        default_limit: 1000,
        bearer: None,
        faults,
        cache_pages: args.cache_pages,
        pretty: args.pretty,
        total: clustering::Total::None,
    });
    let (sink, _) = promotion::router(promotion::Config::default());
    let (hook, _) = webhook::router();
    let a = spawn(source, SocketAddr::new(args.host, args.clustering_port)).await?;
    let b = spawn(sink, SocketAddr::new(args.host, args.promotion_port)).await?;
    let c = spawn(hook, SocketAddr::new(args.host, args.webhook_port)).await?;
    println!("clustering service  http://{a}/v1/users ({} users)", args.users);
    println!("promotion platform  http://{b}/v1/eligible-users/imports (current list: /v1/eligible-users/current)");
    println!("webhook             http://{c}/hooks/... (received: /received)");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
