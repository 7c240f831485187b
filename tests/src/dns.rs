//! A tiny DNS client for the cluster-DNS tests: one A query over UDP to a given server (the CoreDNS of
//! `scripts/coredns.sh`), encoded and decoded by hand (RFC 1035), so the tests need no resolver crate and no
//! resolv.conf. It must not retry over TCP or follow CNAMEs: an answer is what the server said.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// Sending or receiving failed (or timed out).
    #[error("DNS query to {server} failed: {source}")]
    Io {
        /// The server asked.
        server: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The reply is not a DNS message answering the query.
    #[error("malformed DNS reply: {0}")]
    Malformed(&'static str),
}

/// The server's answer to an A query: its response code (0 NOERROR, 3 NXDOMAIN, ...) and the addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// RCODE of the reply.
    pub rcode: u8,
    /// The A records of the answer section, in order.
    pub addresses: Vec<Ipv4Addr>,
}

/// The CoreDNS the tests use: `MICROFLEET_DNS_ADDR`:`MICROFLEET_DNS_PORT` (`scripts/coredns.sh env`;
/// defaults 127.0.0.1:10053).
pub fn server() -> SocketAddr {
    let addr = std::env::var("MICROFLEET_DNS_ADDR").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("MICROFLEET_DNS_PORT").unwrap_or_else(|_| "10053".into());
    format!("{addr}:{port}").parse().unwrap_or_else(|e| panic!("MICROFLEET_DNS_ADDR/PORT {addr}:{port}: {e}"))
}

/// Asks `server` for the A records of `name` (blocking; 3 s timeout).
pub fn query_a(server: SocketAddr, name: &str) -> Result<Answer, DnsError> {
    let io = |source| DnsError::Io { server, source };
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(io)?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).map_err(io)?;
    let id = (std::process::id() as u16) ^ (name.len() as u16).rotate_left(8);
    socket.send_to(&encode_query(id, name), server).map_err(io)?;
    let mut buffer = [0u8; 1500];
    let (read, _) = socket.recv_from(&mut buffer).map_err(io)?;
    decode_answer(id, &buffer[..read])
}

/// A query message: header (id, RD set, one question), then QNAME, QTYPE A, QCLASS IN.
pub fn encode_query(id: u16, name: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(32 + name.len());
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.extend_from_slice(&[0, 0, 1, 0, 1]);
    message
}

/// The response code and A records of a reply to query `id`.
pub fn decode_answer(id: u16, message: &[u8]) -> Result<Answer, DnsError> {
    let word = |at: usize| -> Result<u16, DnsError> {
        message.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or(DnsError::Malformed("truncated"))
    };
    if word(0)? != id {
        return Err(DnsError::Malformed("reply to another query"));
    }
    let flags = word(2)?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    let (questions, answers) = (word(4)?, word(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(message, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        at = skip_name(message, at)?;
        let (kind, length) = (word(at)?, usize::from(word(at + 8)?));
        let data = message.get(at + 10..at + 10 + length).ok_or(DnsError::Malformed("truncated record"))?;
        if kind == 1 && length == 4 {
            addresses.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + length;
    }
    Ok(Answer { rcode: (flags & 0x000f) as u8, addresses })
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Result<usize, DnsError> {
    loop {
        let length = *message.get(at).ok_or(DnsError::Malformed("truncated name"))?;
        match length {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_with_a_compressed_answer_decodes_to_its_addresses() {
        let query = encode_query(7, "web.shop.svc.cluster.local.");
        assert_eq!(&query[12..16], b"\x03web");
        let mut reply = query.clone();
        reply[2] = 0x85; // QR, AA, RD
        reply[3] = 0x80; // RA, NOERROR
        reply[7] = 2; // two answers
        for last in [5u8, 6] {
            // name: pointer to the question; type A, class IN, TTL 5, 4 bytes
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, last]);
        }
        let answer = decode_answer(7, &reply).expect("decodes");
        assert_eq!(
            answer,
            Answer { rcode: 0, addresses: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)] }
        );
        assert!(decode_answer(8, &reply).is_err(), "another query's id");
        let mut nxdomain = reply[..query.len()].to_vec();
        nxdomain[2] = 0x85;
        nxdomain[3] = 0x83;
        nxdomain[7] = 0;
        assert_eq!(decode_answer(7, &nxdomain).map(|a| a.rcode).ok(), Some(3), "NXDOMAIN");
    }
}
