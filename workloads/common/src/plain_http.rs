//! A plain HTTP/1.1 GET on 127.0.0.1, for tests and local checks of a server's admin endpoints (`/metrics`,
//! `/readyz`) without an HTTP client crate. Not for production traffic: no TLS, no redirects, 5 s timeout.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// `GET path` on 127.0.0.1:`port`: (status, body), or `None` when nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_authorized(port, path, None)
}

/// `GET path` on 127.0.0.1:`port` with `Authorization: Bearer <bearer>` when given: (status, body), or
/// `None` when nothing answers.
pub fn get_authorized(port: u16, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let authorization = bearer.map(|bearer| format!("Authorization: Bearer {bearer}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Connection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
