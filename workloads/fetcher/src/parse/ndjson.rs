//! Streaming NDJSON: one JSON value per line; blank lines are skipped.

use super::{
    value::{ScanError, ValueScanner},
    ItemSink, PageEnd, ParseError,
};

/// Parser state for one NDJSON page.
#[derive(Debug)]
pub struct NdjsonPage {
    line: Vec<u8>,
    max_item_bytes: usize,
    items: u64,
    line_number: u64,
    scanner: ValueScanner,
}

impl NdjsonPage {
    /// A parser refusing lines over `max_item_bytes`, reading each line with `scanner`.
    pub fn new(max_item_bytes: usize, scanner: ValueScanner) -> NdjsonPage {
        NdjsonPage { line: Vec::new(), max_item_bytes, items: 0, line_number: 0, scanner }
    }

    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let mut rest = chunk;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            self.append(&rest[..newline])?;
            self.end_line(sink)?;
            rest = &rest[newline + 1..];
        }
        self.append(rest)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        if self.line.len() + bytes.len() > self.max_item_bytes {
            return Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        self.line_number += 1;
        let line = std::mem::take(&mut self.line);
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            self.line = line;
            self.line.clear();
            return Ok(());
        }
        let scanned = match self.scanner.scan(trimmed) {
            Ok(scanned) if scanned.len == trimmed.len() => scanned,
            Err(ScanError::Malformed(e)) => {
                return Err(ParseError::Malformed(format!("line {} is not JSON: {e}", self.line_number)))
            }
            _ => return Err(ParseError::Malformed(format!("line {} is not one JSON value", self.line_number))),
        };
        self.items += 1;
        sink.item(trimmed, scanned)?;
        self.line = line;
        self.line.clear();
        Ok(())
    }

    /// Ends the page (a last line without a newline counts).
    pub fn finish(mut self, sink: &mut dyn ItemSink) -> Result<PageEnd, ParseError> {
        if !self.line.is_empty() {
            self.end_line(sink).map_err(|e| match e {
                ParseError::Malformed(_) => ParseError::Truncated,
                other => other,
            })?;
        }
        Ok(PageEnd { items: self.items, ..PageEnd::default() })
    }
}
