//! Streaming NDJSON: one JSON value per line; blank lines are skipped.

use super::{ItemSink, PageEnd, ParseError, Parsed};

/// Parser state for one NDJSON page.
#[derive(Debug)]
pub struct NdjsonPage {
    line: Vec<u8>,
    max_item_bytes: usize,
    items: u64,
    line_number: u64,
}

impl NdjsonPage {
    /// A parser refusing lines over `max_item_bytes`.
    pub fn new(max_item_bytes: usize) -> NdjsonPage {
        NdjsonPage { line: Vec::new(), max_item_bytes, items: 0, line_number: 0 }
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
        let found = match sink.parse_item(trimmed) {
            Parsed::Item(found) if found.len == trimmed.len() => found,
            Parsed::Refused => return Err(ParseError::Stopped),
            Parsed::Malformed(e) => {
                return Err(ParseError::Malformed(format!("line {} is not JSON: {e}", self.line_number)))
            }
            _ => return Err(ParseError::Malformed(format!("line {} is not one JSON value", self.line_number))),
        };
        self.items += 1;
        sink.item(trimmed, found)?;
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
        Ok(PageEnd { items: self.items, cursor: None })
    }
}
