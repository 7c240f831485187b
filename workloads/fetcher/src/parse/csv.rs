//! Streaming CSV with a header row: each row becomes a JSON object keyed by the header, values as strings.

use csv_core::{ReadRecordResult, Reader};

use super::{value::ValueScanner, ItemSink, PageEnd, ParseError};

/// Most columns accepted.
const MAX_FIELDS: usize = 4096;

/// Parser state for one CSV page.
pub struct CsvPage {
    reader: Reader,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    header: Option<Vec<String>>,
    max_item_bytes: usize,
    items: u64,
    json: Vec<u8>,
    scanner: ValueScanner,
}

impl std::fmt::Debug for CsvPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvPage").field("header", &self.header).field("items", &self.items).finish()
    }
}

impl CsvPage {
    /// A parser refusing rows over `max_item_bytes`, reading each row's object with `scanner` (for its keys).
    pub fn new(max_item_bytes: usize, scanner: ValueScanner) -> CsvPage {
        CsvPage {
            reader: Reader::new(),
            out: vec![0; 4096.min(max_item_bytes.max(1))],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            header: None,
            max_item_bytes,
            items: 0,
            json: Vec::new(),
            scanner,
        }
    }

    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let mut input = chunk;
        loop {
            let (result, nin, nout, nend) =
                self.reader.read_record(input, &mut self.out[self.out_len..], &mut self.ends[self.ends_len..]);
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match result {
                ReadRecordResult::InputEmpty | ReadRecordResult::End => return Ok(()),
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_item_bytes {
                        return Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
                    }
                    let grown = (self.out.len() * 2).min(self.max_item_bytes);
                    self.out.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(ParseError::Malformed(format!("a row with more than {MAX_FIELDS} fields")));
                    }
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => self.record(sink)?,
            }
        }
    }

    fn record(&mut self, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let (out_len, ends_len) = (self.out_len, self.ends_len);
        self.out_len = 0;
        self.ends_len = 0;
        let mut fields = Vec::with_capacity(ends_len);
        let mut start = 0;
        for &end in &self.ends[..ends_len] {
            let field = std::str::from_utf8(&self.out[start..end.min(out_len)])
                .map_err(|_| ParseError::Malformed(format!("row {} is not UTF-8", self.items + 1)))?;
            fields.push(field);
            start = end;
        }
        if fields.len() == 1 && fields[0].is_empty() {
            return Ok(()); // a blank line
        }
        let Some(header) = &self.header else {
            self.header = Some(fields.iter().map(|f| f.to_string()).collect());
            return Ok(());
        };
        if fields.len() != header.len() {
            return Err(ParseError::Malformed(format!(
                "row {} has {} fields, the header has {}",
                self.items + 1,
                fields.len(),
                header.len()
            )));
        }
        self.json.clear();
        self.json.push(b'{');
        for (i, (name, value)) in header.iter().zip(&fields).enumerate() {
            if i > 0 {
                self.json.push(b',');
            }
            let _ = serde_json::to_writer(&mut self.json, name);
            self.json.push(b':');
            let _ = serde_json::to_writer(&mut self.json, value);
        }
        self.json.push(b'}');
        if self.json.len() > self.max_item_bytes {
            return Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
        }
        let scanned = self
            .scanner
            .scan(&self.json)
            .map_err(|e| ParseError::Malformed(format!("row {}: {e:?}", self.items + 1)))?;
        self.items += 1;
        sink.item(&self.json, scanned)?;
        Ok(())
    }

    /// Ends the page (a last row without a newline counts).
    pub fn finish(mut self, sink: &mut dyn ItemSink) -> Result<PageEnd, ParseError> {
        self.feed(&[], sink)?;
        if self.header.is_none() {
            return Err(ParseError::Malformed("no header row".into()));
        }
        Ok(PageEnd { items: self.items, ..PageEnd::default() })
    }
}
