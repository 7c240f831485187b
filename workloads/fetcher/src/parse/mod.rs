//! Page parsers: turn a page body, fed chunk by chunk, into the raw JSON bytes of each item.
//!
//! Pure and streaming: memory is bounded by the largest item, never by the page or the list.

mod csv;
mod json;
mod ndjson;
pub mod value;

pub use json::pointer_tokens;

use microfleet_crds::clusterfetch::Format;
use value::{Scanned, ValueScanner};

/// Receives each item's raw JSON as it is parsed.
pub trait ItemSink {
    /// Takes one item: its bytes, and what the parser's one scan of them found (its length, its top-level
    /// keys, its line breaks). Returning [`Stop`] ends the page (the receiver keeps its own reason).
    fn item(&mut self, raw: &[u8], scanned: Scanned) -> Result<(), Stop>;
}

/// The item receiver asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop;

/// What a fully parsed page said besides its items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageEnd {
    /// Items in the page.
    pub items: u64,
    /// The value at the cursor pointer, if one was asked for and present.
    pub cursor: Option<serde_json::Value>,
    /// The value at the total pointer, if one was asked for and present.
    pub total: Option<serde_json::Value>,
}

/// Why a page could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not valid in its format.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// The body ended before the document did.
    #[error("the body ended in the middle of the document (truncated)")]
    Truncated,
    /// No array at the item path.
    #[error("no item array at {0}: check spec.source.itemPath")]
    NoItems(String),
    /// The value at the item path is not an array.
    #[error("the value at {0} is not an array: check spec.source.itemPath")]
    NotAnArray(String),
    /// One item is larger than allowed.
    #[error("item {item} is larger than checks.maxItemBytes ({limit} bytes)")]
    ItemTooLarge {
        /// 1-based item number within the page.
        item: u64,
        /// The limit.
        limit: usize,
    },
    /// The item receiver stopped the page.
    #[error("stopped by the receiver")]
    Stopped,
}

impl From<Stop> for ParseError {
    fn from(_: Stop) -> Self {
        ParseError::Stopped
    }
}

/// A parser for one page in one of the supported formats.
#[derive(Debug)]
pub enum PageParser {
    /// JSON with items at a pointer.
    Json(Box<json::JsonPage>),
    /// One JSON value per line.
    Ndjson(ndjson::NdjsonPage),
    /// CSV with a header row.
    Csv(Box<csv::CsvPage>),
}

impl PageParser {
    /// A parser for `format` that reads every item once with `scanner` (which knows the keys to look
    /// for); `item_path` and `cursor_path` apply to JSON only.
    pub fn new(
        format: Format,
        item_path: Option<&str>,
        cursor_path: Option<&str>,
        max_item_bytes: usize,
        scanner: ValueScanner,
    ) -> PageParser {
        match format {
            Format::Json => PageParser::Json(Box::new(json::JsonPage::new(
                item_path.unwrap_or(""),
                cursor_path,
                max_item_bytes,
                scanner,
            ))),
            Format::Ndjson => PageParser::Ndjson(ndjson::NdjsonPage::new(max_item_bytes, scanner)),
            Format::Csv => PageParser::Csv(Box::new(csv::CsvPage::new(max_item_bytes, scanner))),
        }
    }

    /// Also captures the scalar at `total_path` (JSON only; the other formats have no such field).
    pub fn with_total(self, total_path: Option<&str>) -> PageParser {
        match (self, total_path) {
            (PageParser::Json(p), Some(path)) => PageParser::Json(Box::new(p.with_total(path))),
            (parser, _) => parser,
        }
    }

    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        match self {
            PageParser::Json(p) => p.feed(chunk, sink),
            PageParser::Ndjson(p) => p.feed(chunk, sink),
            PageParser::Csv(p) => p.feed(chunk, sink),
        }
    }

    /// Ends the page.
    pub fn finish(self, sink: &mut dyn ItemSink) -> Result<PageEnd, ParseError> {
        match self {
            PageParser::Json(p) => (*p).finish(sink),
            PageParser::Ndjson(p) => p.finish(sink),
            PageParser::Csv(p) => (*p).finish(sink),
        }
    }
}

/// Parses a whole body at once (tests, fuzzing): the items, or the first error.
pub fn parse_all(parser: PageParser, body: &[u8], chunk: usize) -> Result<(Vec<Vec<u8>>, PageEnd), ParseError> {
    struct Collect(Vec<Vec<u8>>);
    impl ItemSink for Collect {
        fn item(&mut self, raw: &[u8], _scanned: Scanned) -> Result<(), Stop> {
            self.0.push(raw.to_vec());
            Ok(())
        }
    }
    let mut parser = parser;
    let mut items = Collect(Vec::new());
    for piece in body.chunks(chunk.max(1)) {
        parser.feed(piece, &mut items)?;
    }
    let end = parser.finish(&mut items)?;
    Ok((items.0, end))
}

/// The property the fuzz target checks, for any input: no parser panics; a page read in any chunking
/// yields the same items (and cursor) as read whole, or fails whichever way it is cut; and every item
/// is valid JSON.
pub fn check_chunking_invariance(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    let format = match selector % 3 {
        0 => Format::Json,
        1 => Format::Ndjson,
        _ => Format::Csv,
    };
    let item_path = if selector & 4 == 0 { None } else { Some("/users") };
    let cursor_path = if selector & 8 == 0 { None } else { Some("/next") };
    let chunk = usize::from(selector >> 4) + 1;
    let parser = || PageParser::new(format, item_path, cursor_path, 4096, ValueScanner::new());
    let whole = parse_all(parser(), body, usize::MAX);
    let chunked = parse_all(parser(), body, chunk);
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changed the items"),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the verdict: {whole:?} whole, {chunked:?} in chunks of {chunk}"),
    }
    if let (Ok((items, _)), Format::Json | Format::Ndjson) = (&whole, format) {
        for item in items {
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(item).is_ok(),
                "item {:?} of {:?} is not valid JSON",
                String::from_utf8_lossy(item),
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[cfg(test)]
mod tests;
