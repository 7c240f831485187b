//! `microfleet-testbox`: the test image the pod runner maps for the cluster tests. Each subcommand does one
//! thing a test needs (exit with a message, sleep until SIGTERM, allocate memory, serve probes, fetch a URL
//! by name, report its env or files, ask the API who it is) and reports through the termination-message
//! file and stdout.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(name = "microfleet-testbox")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sleeps; on SIGTERM writes "SIGTERM received" as its termination message and exits 0.
    Sleep {
        /// Seconds to sleep.
        seconds: u64,
        /// A file to create first.
        #[arg(long)]
        touch: Option<String>,
    },
    /// Writes TEXT to PATH and exits 0.
    Write {
        /// The file.
        path: String,
        /// Its content.
        text: String,
    },
    /// Logs `--lines` lines, writes `--message` as its termination message, and exits with CODE.
    Exit {
        /// The exit code.
        code: i32,
        /// The termination message.
        #[arg(long)]
        message: Option<String>,
        /// Log lines to print first ("log line N").
        #[arg(long, default_value_t = 1)]
        lines: usize,
    },
    /// Allocates and touches MB megabytes, then sleeps.
    Alloc {
        /// Megabytes.
        mb: usize,
    },
    /// Serves /healthz and /readyz on 127.0.0.1:PORT (or `--bind`).
    Serve {
        /// The port.
        port: u16,
        /// The address to listen on (0.0.0.0 for a pod with an address of its own).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// /readyz fails until this many seconds after start.
        #[arg(long, default_value_t = 0)]
        ready_after: u64,
        /// /healthz fails from this many seconds after start on.
        #[arg(long)]
        fail_live_after: Option<u64>,
    },
    /// Resolves HOST (through the system resolver: /etc/resolv.conf), GETs http://HOST:PORT/PATH, retrying
    /// for up to `--within` seconds until it answers 200; writes `resolved=IP status=CODE` (or the last
    /// error) as its termination message and exits 0 on a 200, else 1.
    Fetch {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
        /// The path.
        #[arg(default_value = "/")]
        path: String,
        /// Seconds to keep trying.
        #[arg(long, default_value_t = 30)]
        within: u64,
    },
    /// Writes `NAME=value` for each named variable as its termination message.
    Env {
        /// Variable names.
        names: Vec<String>,
    },
    /// Writes `PATH:<content>` for each file as its termination message.
    Cat {
        /// Files.
        paths: Vec<String>,
    },
    /// Writes `uid=U gid=G` and, for each PATH, `PATH:written` or `PATH:<error>` after trying to create it.
    Identity {
        /// Files to try to create.
        paths: Vec<String>,
    },
    /// Asks the API server who it is with the in-cluster config (SelfSubjectReview), and whether it may
    /// list pods; writes `user=...` and `list-pods=allowed|forbidden|error` as its termination message.
    Whoami,
}

fn termination_log() -> String {
    std::env::var("TERMINATION_LOG").unwrap_or_else(|_| "/dev/termination-log".to_string())
}

fn report(message: &str) {
    println!("{message}");
    if let Err(error) = std::fs::write(termination_log(), message) {
        eprintln!("cannot write the termination message: {error}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let code = match args.command {
        Command::Sleep { seconds, touch } => {
            if let Some(path) = touch {
                if let Err(error) = std::fs::write(&path, b"") {
                    report(&format!("cannot create {path}: {error}"));
                    return std::process::ExitCode::from(1);
                }
            }
            sleep(seconds).await
        }
        Command::Write { path, text } => match std::fs::write(&path, text) {
            Ok(()) => 0,
            Err(error) => {
                report(&format!("cannot write {path}: {error}"));
                1
            }
        },
        Command::Exit { code, message, lines } => {
            for line in 1..=lines {
                println!("log line {line}");
            }
            if let Some(message) = message {
                report(&message);
            }
            code
        }
        Command::Alloc { mb } => {
            let mut blocks = Vec::with_capacity(mb);
            for _ in 0..mb {
                // touched, so the pages are resident
                blocks.push(vec![1u8; 1024 * 1024]);
            }
            println!("allocated {} MiB", blocks.len());
            sleep(3600).await
        }
        Command::Serve { port, bind, ready_after, fail_live_after } => {
            serve(&bind, port, ready_after, fail_live_after).await
        }
        Command::Fetch { host, port, path, within } => fetch(&host, port, &path, within).await,
        Command::Env { names } => {
            let lines: Vec<String> = names
                .iter()
                .map(|n| format!("{n}={}", std::env::var(n).unwrap_or_else(|_| "<unset>".into())))
                .collect();
            report(&lines.join("\n"));
            0
        }
        Command::Cat { paths } => {
            let parts: Vec<String> = paths
                .iter()
                .map(|p| format!("{p}:{}", std::fs::read_to_string(p).unwrap_or_else(|e| format!("<{e}>"))))
                .collect();
            report(&parts.join("\n"));
            0
        }
        Command::Identity { paths } => {
            // SAFETY: getuid and getgid cannot fail and touch no memory.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            let mut lines = vec![format!("uid={uid} gid={gid}")];
            for path in paths {
                let outcome = std::fs::write(&path, b"x").map_or_else(|e| format!("<{e}>"), |()| "written".into());
                lines.push(format!("{path}:{outcome}"));
            }
            report(&lines.join("\n"));
            0
        }
        Command::Whoami => whoami().await,
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn sleep(seconds: u64) -> i32 {
    let Ok(mut term) = signal(SignalKind::terminate()) else { return 2 };
    println!("sleeping {seconds}s");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(seconds)) => 0,
        _ = term.recv() => {
            report("SIGTERM received");
            0
        }
    }
}

async fn serve(bind: &str, port: u16, ready_after: u64, fail_live_after: Option<u64>) -> i32 {
    let listener = match TcpListener::bind((bind, port)).await {
        Ok(listener) => listener,
        Err(error) => {
            report(&format!("cannot listen on {port}: {error}"));
            return 1;
        }
    };
    let Ok(mut term) = signal(SignalKind::terminate()) else { return 2 };
    println!("serving on {port}");
    let started = Instant::now();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = term.recv() => return 0,
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let mut buffer = [0u8; 1024];
        let read = stream.read(&mut buffer).await.unwrap_or(0);
        let request = String::from_utf8_lossy(&buffer[..read]);
        let path = request.split_whitespace().nth(1).unwrap_or("/");
        let elapsed = started.elapsed().as_secs();
        let ok = match path {
            "/readyz" => elapsed >= ready_after,
            "/healthz" => fail_live_after.is_none_or(|after| elapsed < after),
            _ => true,
        };
        let status = if ok { "200 OK" } else { "503 Service Unavailable" };
        println!("GET {path} -> {status}");
        let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

async fn fetch(host: &str, port: u16, path: &str, within: u64) -> i32 {
    let started = Instant::now();
    loop {
        let outcome = fetch_once(host, port, path).await;
        println!("{outcome}");
        if outcome.ends_with("status=200") || started.elapsed() >= Duration::from_secs(within) {
            report(&outcome);
            return if outcome.ends_with("status=200") { 0 } else { 1 };
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One try: `resolved=IP status=CODE`, or what failed.
async fn fetch_once(host: &str, port: u16, path: &str) -> String {
    let address = match tokio::net::lookup_host((host, port)).await.map(|mut a| a.next()) {
        Ok(Some(address)) => address,
        Ok(None) => return format!("{host}: no address"),
        Err(error) => return format!("cannot resolve {host}: {error}"),
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(5), exchange).await {
        Ok(Ok(response)) => {
            let text = String::from_utf8_lossy(&response);
            let code = text.split_whitespace().nth(1).unwrap_or("none");
            format!("resolved={} status={code}", address.ip())
        }
        Ok(Err(error)) => format!("resolved={} error={error}", address.ip()),
        Err(_) => format!("resolved={} error=timed out", address.ip()),
    }
}

async fn whoami() -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match Config::incluster()
        .map_err(|e| e.to_string())
        .and_then(|c| Client::try_from(c).map_err(|e| e.to_string()))
    {
        Ok(client) => client,
        Err(error) => {
            report(&format!("no in-cluster config: {error}"));
            return 1;
        }
    };
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let user = match reviews.create(&PostParams::default(), &SelfSubjectReview::default()).await {
        Ok(review) => review.status.and_then(|s| s.user_info).and_then(|u| u.username).unwrap_or_default(),
        Err(error) => {
            report(&format!("SelfSubjectReview failed: {error}"));
            return 1;
        }
    };
    let pods: Api<Pod> = Api::default_namespaced(client);
    let list = match pods.list(&ListParams::default().limit(1)).await {
        Ok(_) => "allowed",
        Err(kube::Error::Api(status)) if status.code == 403 => "forbidden",
        Err(_) => "error",
    };
    report(&format!("user={user}\nlist-pods={list}"));
    0
}
