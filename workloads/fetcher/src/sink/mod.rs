//! Sinks: where a run's items go. Every sink stages a run and makes it visible only on `commit`; a failed
//! or interrupted run is `abort`ed, so a receiver never takes a partial list for a whole one.
//!
//! - [`http::HttpSink`]: the protocol in `microfleet_crds::contract` (batches, then commit or abort).
//! - [`file::FileSink`]: NDJSON to a file (renamed into place on commit) or to stdout, for local runs.
//! - [`kafka::KafkaSink`]: the same calls on a transactional producer, one transaction per run: `begin` =
//!   `init_transactions` + `begin_transaction`, `send` = produce the batch's items (key from `keyField`,
//!   header `microfleet-run`), `commit` = `commit_transaction`, `abort` = `abort_transaction`; consumers
//!   read with `isolation.level=read_committed`. No marker record: a committed transaction is the list.

pub mod file;
pub mod http;
pub mod kafka;

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::retry::Fault;

/// Reusable batch bodies: a body comes back here once it was sent (when the HTTP client drops it), so a
/// run reuses a few buffers instead of touching fresh memory for every batch.
#[derive(Debug, Clone, Default)]
pub struct BodyPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BodyPool {
    /// Bodies kept for reuse (the batches in flight, plus the one being filled).
    const KEEP: usize = 4;

    fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.0.lock().ok().and_then(|mut pool| pool.pop());
        let mut body = reused.unwrap_or_else(|| Vec::with_capacity(capacity));
        body.clear();
        body
    }

    fn give(&self, body: Vec<u8>) {
        if let Ok(mut pool) = self.0.lock() {
            if pool.len() < BodyPool::KEEP && body.capacity() > 0 {
                pool.push(body);
            }
        }
    }
}

/// A sent body on its way through the HTTP client; back to the pool when dropped.
struct PooledBody {
    body: Vec<u8>,
    pool: BodyPool,
}

impl AsRef<[u8]> for PooledBody {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.body));
    }
}

/// A batch of items: a JSON array with one item per line (`[item,\nitem,\n…]`), so a receiver can count
/// or split items by lines without parsing them.
#[derive(Debug)]
pub struct Batch {
    /// Sequence number within the run, from 0.
    pub seq: u64,
    /// `[item,\nitem,\n…]`.
    pub body: Vec<u8>,
    count: usize,
    pool: BodyPool,
}

impl Batch {
    /// An empty batch with sequence number `seq`, its body from `pool` (or new, with room for `capacity`
    /// bytes).
    pub fn new(seq: u64, pool: &BodyPool, capacity: usize) -> Batch {
        let mut body = pool.take(capacity);
        body.push(b'[');
        Batch { seq, body, count: 0, pool: pool.clone() }
    }

    /// The body, to send; it goes back to the pool when the last copy of it is dropped.
    pub fn into_bytes(mut self) -> Bytes {
        let body = std::mem::take(&mut self.body);
        Bytes::from_owner(PooledBody { body, pool: self.pool.clone() })
    }

    /// Appends one item's raw JSON. `line_break` says its whitespace holds line breaks: they become
    /// spaces (the same JSON), so the item keeps to one line. (Strings cannot hold raw line breaks.)
    #[inline]
    pub fn push(&mut self, raw: &[u8], line_break: bool) {
        if self.count > 0 {
            self.body.extend_from_slice(b",\n");
        }
        let start = self.body.len();
        self.body.extend_from_slice(raw);
        if line_break {
            for byte in &mut self.body[start..] {
                if matches!(*byte, b'\n' | b'\r') {
                    *byte = b' ';
                }
            }
        }
        self.count += 1;
    }

    /// Items in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Closes the JSON array; call once, before sending.
    pub fn seal(&mut self) {
        self.body.push(b']');
    }

    /// Each item's raw JSON (of a sealed batch).
    pub fn item_slices(&self) -> impl Iterator<Item = &[u8]> {
        let inner = self.body.get(1..self.body.len().saturating_sub(1)).unwrap_or_default();
        inner.split(|&b| b == b'\n').filter(|line| !line.is_empty()).map(|line| line.strip_suffix(b",").unwrap_or(line))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.body));
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, BodyPool};

    #[test]
    fn a_batch_holds_one_item_per_line() {
        let pool = BodyPool::default();
        let mut batch = Batch::new(4, &pool, 16);
        batch.push(b"{\"a\":\n[1,\r\n2]}", true);
        batch.push(b"\"x,\"", false);
        batch.push(b"3", false);
        batch.seal();
        assert_eq!(batch.body, b"[{\"a\": [1,  2]},\n\"x,\",\n3]");
        assert_eq!(batch.item_slices().collect::<Vec<_>>(), [&b"{\"a\": [1,  2]}"[..], b"\"x,\"", b"3"]);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&batch.body).unwrap();
        assert_eq!(parsed, [serde_json::json!({"a": [1, 2]}), serde_json::json!("x,"), serde_json::json!(3)]);
        let mut empty = Batch::new(0, &pool, 2);
        empty.seal();
        assert_eq!(empty.item_slices().count(), 0);
        let sent = batch.into_bytes();
        let copy = sent.clone();
        drop(sent);
        assert_eq!(pool.0.lock().unwrap().len(), 0, "in use while a copy is alive");
        drop(copy);
        drop(empty);
        assert_eq!(pool.0.lock().unwrap().len(), 2, "both bodies came back");
        let reused = Batch::new(5, &pool, 2);
        assert_eq!(reused.body, b"[", "a reused body starts empty");
        assert_eq!(pool.0.lock().unwrap().len(), 1, "it came from the pool");
    }
}

/// Where a run delivers.
#[derive(Debug)]
pub enum Sink {
    /// An HTTP receiver.
    Http(http::HttpSink),
    /// A file or stdout.
    File(file::FileSink),
    /// A Kafka topic.
    Kafka(kafka::KafkaSink),
}

/// What aborts a run's staged delivery, kept apart from the sink so it works even after the run (which
/// owns the sink) was stopped.
#[derive(Debug, Clone)]
pub enum Aborter {
    /// An HTTP receiver.
    Http(http::HttpSink),
    /// A staged file, if any.
    File(Option<std::path::PathBuf>),
    /// A Kafka transaction.
    Kafka(kafka::KafkaSink),
}

impl Aborter {
    /// True once a commit was sent: the run may be live, and [`Aborter::abort`] leaves it alone.
    pub fn commit_started(&self) -> bool {
        match self {
            Aborter::Http(s) => s.commit_started(),
            Aborter::File(_) => false,
            Aborter::Kafka(s) => s.commit_started(),
        }
    }

    /// Drops whatever the run staged (best effort), unless a commit was sent.
    pub async fn abort(&self, reason: &str) {
        match self {
            Aborter::Http(s) => s.abort(reason).await,
            Aborter::File(path) => file::remove_staged(path.as_deref()),
            Aborter::Kafka(s) => s.abort(reason).await,
        }
    }
}

impl Sink {
    /// The aborter of this sink's run.
    pub fn aborter(&self) -> Aborter {
        match self {
            Sink::Http(s) => Aborter::Http(s.clone()),
            Sink::File(s) => Aborter::File(s.target().map(std::path::Path::to_path_buf)),
            Sink::Kafka(s) => Aborter::Kafka(s.clone()),
        }
    }

    /// Starts the run's delivery before the first batch (the Kafka transaction; nothing for the others).
    pub async fn begin(&mut self) -> Result<(), Fault> {
        match self {
            Sink::Http(_) | Sink::File(_) => Ok(()),
            Sink::Kafka(s) => s.begin().await,
        }
    }

    /// Delivers one sealed batch (retrying transient faults).
    pub async fn send(&mut self, batch: Batch) -> Result<(), Fault> {
        match self {
            Sink::Http(s) => s.send(batch).await,
            Sink::File(s) => s.send(&batch),
            Sink::Kafka(s) => s.send(&batch).await,
        }
    }

    /// Makes the run's items visible to the receiver as one whole list.
    pub async fn commit(&mut self, items: u64, batches: u64) -> Result<(), http::CommitError> {
        match self {
            Sink::Http(s) => s.commit(items, batches).await,
            Sink::File(s) => s.commit().map_err(http::CommitError::Refused),
            Sink::Kafka(s) => s.commit().await,
        }
    }
}
