//! A plain HTTP/1.1 GET on 127.0.0.1, for tests and local checks of a server's admin endpoints (`/metrics`,
//! `/readyz`) without an HTTP client crate. Not for production traffic: no TLS, no redirects, 5 s timeout.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// `GET path` on 127.0.0.1:`port`: (status, body), or `None` when nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
