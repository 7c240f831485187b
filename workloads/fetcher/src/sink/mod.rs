//! Sinks: where a run's items go. Every sink stages a run and makes it visible only on `commit`; a failed
//! or interrupted run is `abort`ed, so a receiver never takes a partial list for a whole one.
//!
//! - [`http::HttpSink`]: the protocol in `microfleet_crds::contract` (batches, then commit or abort).
//! - [`file::FileSink`]: NDJSON to a file (renamed into place on commit) or to stdout, for local runs.
//! - A Kafka sink (with the TicketingService work) maps onto the same four calls with a transactional
//!   producer: `begin` = `begin_transaction`, `send` = produce the batch's items with headers
//!   `microfleet-run`/`microfleet-seq`, `commit` = a final "run committed" record then
//!   `commit_transaction`, `abort` = `abort_transaction`; consumers read with `isolation.level=read_committed`.

pub mod file;
pub mod http;

use crate::retry::Fault;

/// A batch of items, as a JSON array, with the offsets of each item inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Sequence number within the run, from 0.
    pub seq: u64,
    /// `[item,item,…]`.
    pub body: Vec<u8>,
    /// Byte range of each item in `body`.
    pub items: Vec<(u32, u32)>,
}

impl Batch {
    /// An empty batch with sequence number `seq`, with room for `capacity` bytes.
    pub fn new(seq: u64, capacity: usize) -> Batch {
        let mut body = Vec::with_capacity(capacity);
        body.push(b'[');
        Batch { seq, body, items: Vec::new() }
    }

    /// Appends one item's raw JSON.
    pub fn push(&mut self, raw: &[u8]) {
        if !self.items.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len() as u32;
        self.body.extend_from_slice(raw);
        self.items.push((start, self.body.len() as u32));
    }

    /// Items in the batch.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Closes the JSON array; call once, before sending.
    pub fn seal(&mut self) {
        self.body.push(b']');
    }

    /// Each item's raw JSON.
    pub fn item_slices(&self) -> impl Iterator<Item = &[u8]> {
        self.items.iter().map(|&(s, e)| &self.body[s as usize..e as usize])
    }
}

/// Where a run delivers.
#[derive(Debug)]
pub enum Sink {
    /// An HTTP receiver.
    Http(http::HttpSink),
    /// A file or stdout.
    File(file::FileSink),
}

/// What aborts a run's staged delivery, kept apart from the sink so it works even after the run (which
/// owns the sink) was stopped.
#[derive(Debug, Clone)]
pub enum Aborter {
    /// An HTTP receiver.
    Http(http::HttpSink),
    /// A staged file, if any.
    File(Option<std::path::PathBuf>),
}

impl Aborter {
    /// Drops whatever the run staged (best effort).
    pub async fn abort(&self, reason: &str) {
        match self {
            Aborter::Http(s) => s.abort(reason).await,
            Aborter::File(path) => file::remove_staged(path.as_deref()),
        }
    }
}

impl Sink {
    /// The aborter of this sink's run.
    pub fn aborter(&self) -> Aborter {
        match self {
            Sink::Http(s) => Aborter::Http(s.clone()),
            Sink::File(s) => Aborter::File(s.target().map(std::path::Path::to_path_buf)),
        }
    }

    /// Delivers one sealed batch (retrying transient faults).
    pub async fn send(&mut self, batch: Batch) -> Result<(), Fault> {
        match self {
            Sink::Http(s) => s.send(batch).await,
            Sink::File(s) => s.send(&batch),
        }
    }

    /// Makes the run's items visible to the receiver as one whole list.
    pub async fn commit(&mut self, items: u64, batches: u64) -> Result<(), Fault> {
        match self {
            Sink::Http(s) => s.commit(items, batches).await,
            Sink::File(s) => s.commit(),
        }
    }
}
