//! Streaming JSON page parser: yields the raw bytes of each element of the array at a JSON pointer, and
//! captures the scalars at two more (the next cursor, the list's total), without ever holding the whole
//! page.
//!
//! Memory is bounded by the largest item (`max_item_bytes`), the longest key and the nesting depth.

use super::{
    value::{ScanError, ValueScanner},
    ItemSink, PageEnd, ParseError,
};

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 128;
/// Longest object key or captured scalar accepted, in bytes.
const MAX_TOKEN: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (document start, after `:` or `[`, after `,` in an array).
    Value,
    /// A key or `}` (after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the container's close.
    CommaOrClose,
    /// Nothing but whitespace (the document ended).
    End,
}

#[derive(Debug, Clone)]
enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// The state of an object or array item that runs across chunks: only nesting and strings are tracked
/// (a counter, so any depth is fine), and the whole item is parsed by the receiver when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fast {
    depth: usize,
    in_string: bool,
    escape: bool,
}

impl Fast {
    /// Scans `bytes`; returns how many belong to the item and whether the item ended there.
    fn scan(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            if self.escape {
                self.escape = false;
                i += 1;
                continue;
            }
            if self.in_string {
                // most strings are short: look at a few bytes before asking memchr
                let window = (i + 16).min(bytes.len());
                let found = bytes[i..window]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')
                    .map(|offset| i + offset)
                    .or_else(|| memchr::memchr2(b'"', b'\\', &bytes[window..]).map(|offset| window + offset));
                let Some(at) = found else { return (bytes.len(), false) };
                if bytes[at] == b'\\' {
                    self.escape = true;
                } else {
                    self.in_string = false;
                }
                i = at + 1;
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        (bytes.len(), false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    None,
    /// In a string; `escape` is 0 outside an escape, 1 after a backslash, 2..=5 in `\uXXXX` (hex digits to go + 1).
    String {
        escape: u8,
    },
    Bare,
}

/// Parser state for one page.
#[derive(Debug)]
pub struct JsonPage {
    item_path: Vec<String>,
    cursor_path: Option<Vec<String>>,
    max_item_bytes: usize,
    stack: Vec<Frame>,
    expect: Expect,
    scalar: Scalar,
    token: Vec<u8>,
    /// Depth (stack length) of the items array while inside it.
    items_depth: Option<usize>,
    /// The stack depth the item being read started at.
    item: Option<usize>,
    /// Bytes of the item being read (reused from item to item).
    item_buf: Vec<u8>,
    /// Set while an object or array item is scanned by the fast path.
    fast: Option<Fast>,
    found_items: bool,
    cursor: Option<serde_json::Value>,
    capturing_cursor: bool,
    total_path: Option<Vec<String>>,
    total: Option<serde_json::Value>,
    capturing_total: bool,
    items: u64,
    /// Reads each item once: its end, its syntax and the keys looked for.
    scanner: ValueScanner,
}

/// True when the open containers lead exactly to `target`.
fn stack_matches(stack: &[Frame], target: &[String]) -> bool {
    stack.len() == target.len()
        && stack.iter().zip(target).all(|(frame, token)| match frame {
            Frame::Object { key } => key.as_deref() == Some(token.as_str()),
            Frame::Array { index } => token.parse::<usize>().ok() == Some(*index),
        })
}

/// Splits an RFC 6901 pointer into its unescaped tokens ("" is the whole document).
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer.trim_start_matches('/').split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

impl JsonPage {
    /// A parser for items at `item_path` (a JSON pointer; "" for a top-level array), capturing the scalar at
    /// `cursor_path` if given, reading each item with `scanner`.
    pub fn new(item_path: &str, cursor_path: Option<&str>, max_item_bytes: usize, scanner: ValueScanner) -> JsonPage {
        JsonPage {
            item_path: pointer_tokens(item_path),
            cursor_path: cursor_path.map(pointer_tokens),
            max_item_bytes,
            stack: Vec::new(),
            expect: Expect::Value,
            scalar: Scalar::None,
            token: Vec::new(),
            items_depth: None,
            item: None,
            item_buf: Vec::new(),
            fast: None,
            found_items: false,
            cursor: None,
            capturing_cursor: false,
            total_path: None,
            total: None,
            capturing_total: false,
            items: 0,
            scanner,
        }
    }

    /// Also captures the scalar at `total_path` (a JSON pointer).
    pub fn with_total(mut self, total_path: &str) -> JsonPage {
        self.total_path = Some(pointer_tokens(total_path));
        self
    }

    /// Feeds the next chunk of the body; complete items go to `sink`.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.fast.is_none() && self.at_container_item(chunk[i]) {
                i = self.item_run(chunk, i, sink)?;
                continue;
            }
            if let Some(fast) = &mut self.fast {
                let (used, ended) = fast.scan(&chunk[i..]);
                if self.item_buf.len() + used > self.max_item_bytes {
                    return Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
                }
                self.item_buf.extend_from_slice(&chunk[i..i + used]);
                i += used;
                if ended {
                    self.fast = None;
                    self.item = None;
                    self.emit_item(sink)?;
                    self.expect = Expect::CommaOrClose;
                }
                continue;
            }
            self.step(chunk[i], sink)?;
            i += 1;
        }
        Ok(())
    }

    /// Takes the object or array items that follow one another from `chunk[i]` (`item,item,…`, the common
    /// case) while each is whole in the chunk, each read once by the scanner; returns where it stopped.
    /// An item that runs into the next chunk is left to be gathered whole.
    fn item_run(&mut self, chunk: &[u8], mut i: usize, sink: &mut dyn ItemSink) -> Result<usize, ParseError> {
        let mut commas = 0;
        let stopped = loop {
            let Ok(scanned) = self.scanner.scan(&chunk[i..]) else {
                // it runs into the next chunk (a number cut at the chunk's end reads as malformed too):
                // gather it whole, then scan it again for the verdict
                self.item = Some(self.stack.len());
                self.item_buf.clear();
                self.fast = Some(Fast { depth: 0, in_string: false, escape: false });
                self.expect = Expect::Value;
                break Ok(i);
            };
            if scanned.len > self.max_item_bytes {
                break Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
            }
            self.items += 1;
            self.expect = Expect::CommaOrClose;
            if sink.item(&chunk[i..i + scanned.len], scanned).is_err() {
                break Err(ParseError::Stopped);
            }
            i += scanned.len;
            // a comma straight after the item is taken here, and so is the item straight after it
            if chunk.get(i) != Some(&b',') {
                break Ok(i);
            }
            commas += 1;
            self.expect = Expect::Value;
            i += 1;
            if !matches!(chunk.get(i), Some(b'{' | b'[')) {
                break Ok(i);
            }
        };
        if let Some(Frame::Array { index }) = self.stack.last_mut() {
            *index += commas;
        }
        stopped
    }

    fn push_item_byte(&mut self, byte: u8) -> Result<(), ParseError> {
        if self.item.is_some() {
            if self.item_buf.len() >= self.max_item_bytes {
                return Err(ParseError::ItemTooLarge { item: self.items + 1, limit: self.max_item_bytes });
            }
            self.item_buf.push(byte);
        }
        Ok(())
    }

    /// True when `byte` starts an object or array directly inside the item array.
    fn at_container_item(&self, byte: u8) -> bool {
        (byte == b'{' || byte == b'[')
            && self.scalar == Scalar::None
            && self.expect == Expect::Value
            && self.item.is_none()
            && self.items_depth == Some(self.stack.len())
    }

    /// Scans the item gathered in `item_buf` across chunks, and hands it on.
    fn emit_item(&mut self, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let n = self.items + 1;
        let scanned = match self.scanner.scan(&self.item_buf) {
            Ok(scanned) if scanned.len == self.item_buf.len() => scanned,
            Ok(_) | Err(ScanError::Incomplete) => {
                return Err(ParseError::Malformed(format!("item {n} is not valid JSON")));
            }
            Err(ScanError::Malformed(message)) => {
                return Err(ParseError::Malformed(format!("item {n} is not valid JSON: {message}")))
            }
        };
        self.items += 1;
        sink.item(&self.item_buf, scanned)?;
        self.item_buf.clear();
        Ok(())
    }

    fn step(&mut self, byte: u8, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        // inside a string or a bare scalar
        match self.scalar {
            Scalar::String { escape } => {
                self.push_item_byte(byte)?;
                if self.keeps_token() {
                    if self.token.len() >= MAX_TOKEN {
                        return Err(ParseError::Malformed("a key or cursor longer than 64 KiB".into()));
                    }
                    self.token.push(byte);
                }
                let bad_escape = || ParseError::Malformed("an invalid escape inside a string".into());
                if escape == 1 {
                    let next = match byte {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 0,
                        b'u' => 5,
                        _ => return Err(bad_escape()),
                    };
                    self.scalar = Scalar::String { escape: next };
                } else if escape >= 2 {
                    if !byte.is_ascii_hexdigit() {
                        return Err(bad_escape());
                    }
                    self.scalar = Scalar::String { escape: if escape == 2 { 0 } else { escape - 1 } };
                } else if byte == b'\\' {
                    self.scalar = Scalar::String { escape: 1 };
                } else if byte == b'"' {
                    self.scalar = Scalar::None;
                    if self.end_string()? {
                        self.value_done(sink)?;
                    }
                } else if byte < 0x20 {
                    return Err(ParseError::Malformed("a control character inside a string".into()));
                }
                return Ok(());
            }
            Scalar::Bare => {
                if byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.') {
                    self.push_item_byte(byte)?;
                    if self.token.len() >= MAX_TOKEN {
                        return Err(ParseError::Malformed("a number longer than 64 KiB".into()));
                    }
                    self.token.push(byte);
                    return Ok(());
                }
                self.scalar = Scalar::None;
                self.end_bare()?;
                self.value_done(sink)?;
            }
            Scalar::None => {}
        }
        if byte.is_ascii_whitespace() {
            if self.item.is_some() {
                self.push_item_byte(byte)?;
            }
            return Ok(());
        }
        match (self.expect, byte) {
            (Expect::End, _) => Err(ParseError::Malformed(format!("unexpected {:?} after the document", byte as char))),
            (Expect::Value, b'{' | b'[') => {
                self.begin_value(byte)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(ParseError::Malformed(format!("nesting deeper than {MAX_DEPTH}")));
                }
                if byte == b'{' {
                    self.stack.push(Frame::Object { key: None });
                    self.expect = Expect::KeyOrClose;
                } else {
                    self.stack.push(Frame::Array { index: 0 });
                    self.expect = Expect::Value;
                }
                Ok(())
            }
            (Expect::Value, b']') if matches!(self.stack.last(), Some(Frame::Array { index: 0 })) => {
                // an empty array: `[]`
                self.close(byte, sink)
            }
            (Expect::Value, b'"') => {
                self.begin_value(byte)?;
                self.scalar = Scalar::String { escape: 0 };
                self.token.clear();
                if self.keeps_token() {
                    self.token.push(byte);
                }
                Ok(())
            }
            (Expect::Value, b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                self.begin_value(byte)?;
                self.scalar = Scalar::Bare;
                self.token.clear();
                self.token.push(byte);
                Ok(())
            }
            (Expect::KeyOrClose, b'}') => self.close(byte, sink),
            (Expect::KeyOrClose | Expect::Key, b'"') => {
                self.push_item_byte(byte)?;
                self.scalar = Scalar::String { escape: 0 };
                self.token.clear();
                self.token.push(byte);
                Ok(())
            }
            (Expect::Colon, b':') => {
                self.push_item_byte(byte)?;
                self.expect = Expect::Value;
                Ok(())
            }
            (Expect::CommaOrClose, b',') => self.comma(),
            (Expect::CommaOrClose, b'}' | b']') => self.close(byte, sink),
            (state, other) => {
                Err(ParseError::Malformed(format!("unexpected {:?} where {state:?} was expected", other as char)))
            }
        }
    }

    /// A comma where one may come (after a value in a container): the next element or member follows.
    fn comma(&mut self) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            Some(Frame::Array { index }) => {
                *index += 1;
                self.expect = Expect::Value;
            }
            Some(Frame::Object { key }) => {
                *key = None;
                self.expect = Expect::Key;
            }
            None => return Err(ParseError::Malformed("a comma outside any container".into())),
        }
        if !self.at_items_array() {
            self.push_item_byte(b',')?;
        }
        Ok(())
    }

    /// True when the string being read is a key, or a value being captured.
    fn keeps_token(&self) -> bool {
        self.expect != Expect::Value || self.capturing_cursor || self.capturing_total
    }

    fn at_items_array(&self) -> bool {
        self.items_depth == Some(self.stack.len()) && self.item.is_none()
    }

    /// A value starts here: it may be an item, the items array, or the cursor.
    fn begin_value(&mut self, byte: u8) -> Result<(), ParseError> {
        if self.item.is_none() && self.items_depth == Some(self.stack.len()) {
            self.item = Some(self.stack.len());
            self.item_buf.clear();
        }
        self.push_item_byte(byte)?;
        if self.items_depth.is_none() && self.item.is_none() && stack_matches(&self.stack, &self.item_path) {
            if byte != b'[' {
                return Err(ParseError::NotAnArray(self.pointer()));
            }
            self.found_items = true;
            self.items_depth = Some(self.stack.len() + 1);
        }
        if let Some(path) = &self.cursor_path {
            if self.item.is_none() && stack_matches(&self.stack, path) {
                if byte == b'{' || byte == b'[' {
                    return Err(ParseError::Malformed(format!(
                        "the cursor at /{} is not a string or number",
                        path.join("/")
                    )));
                }
                self.capturing_cursor = true;
            }
        }
        if let Some(path) = &self.total_path {
            if self.item.is_none() && stack_matches(&self.stack, path) {
                if byte == b'{' || byte == b'[' {
                    return Err(ParseError::Malformed(format!("the total at /{} is not a number", path.join("/"))));
                }
                self.capturing_total = true;
            }
        }
        Ok(())
    }

    fn pointer(&self) -> String {
        if self.item_path.is_empty() {
            "the document".into()
        } else {
            format!("/{}", self.item_path.join("/"))
        }
    }

    /// A string ended; returns true when it was a value (not a key).
    fn end_string(&mut self) -> Result<bool, ParseError> {
        match self.expect {
            Expect::KeyOrClose | Expect::Key => {
                let key: String = serde_json::from_slice(&self.token)
                    .map_err(|e| ParseError::Malformed(format!("a bad object key: {e}")))?;
                if let Some(Frame::Object { key: slot }) = self.stack.last_mut() {
                    *slot = Some(key);
                }
                self.expect = Expect::Colon;
                Ok(false)
            }
            _ => {
                if self.capturing_cursor {
                    let value: serde_json::Value = serde_json::from_slice(&self.token)
                        .map_err(|e| ParseError::Malformed(format!("a bad cursor string: {e}")))?;
                    self.cursor = Some(value);
                    self.capturing_cursor = false;
                }
                if self.capturing_total {
                    self.total = serde_json::from_slice(&self.token).ok();
                    self.capturing_total = false;
                }
                Ok(true)
            }
        }
    }

    fn end_bare(&mut self) -> Result<(), ParseError> {
        let value: serde_json::Value = serde_json::from_slice(&self.token).map_err(|_| {
            ParseError::Malformed(format!("{:?} is not a JSON value", String::from_utf8_lossy(&self.token)))
        })?;
        if self.capturing_total {
            self.total = Some(value.clone());
            self.capturing_total = false;
        }
        if self.capturing_cursor {
            self.cursor = Some(value);
            self.capturing_cursor = false;
        }
        Ok(())
    }

    fn value_done(&mut self, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        self.expect = if self.stack.is_empty() { Expect::End } else { Expect::CommaOrClose };
        self.emit_if_item_ended(sink)
    }

    fn emit_if_item_ended(&mut self, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        if self.item == Some(self.stack.len()) {
            self.item = None;
            self.emit_item(sink)?;
        }
        Ok(())
    }

    fn close(&mut self, byte: u8, sink: &mut dyn ItemSink) -> Result<(), ParseError> {
        let frame = self.stack.pop().ok_or_else(|| ParseError::Malformed("a close outside any container".into()))?;
        let matches = matches!((&frame, byte), (Frame::Object { .. }, b'}') | (Frame::Array { .. }, b']'));
        if !matches {
            return Err(ParseError::Malformed(format!("{:?} closes the wrong container", byte as char)));
        }
        if self.items_depth == Some(self.stack.len() + 1) && self.item.is_none() {
            // the items array itself closed
            self.items_depth = None;
        } else {
            self.push_item_byte(byte)?;
        }
        self.value_done(sink)
    }

    /// Ends the page: checks the document was complete and the item array was found.
    pub fn finish(mut self, sink: &mut dyn ItemSink) -> Result<PageEnd, ParseError> {
        if self.fast.is_some() {
            // the body ended inside an item: say why the same way a whole body would
            return Err(match self.scanner.scan(&self.item_buf) {
                Err(ScanError::Malformed(message)) => {
                    ParseError::Malformed(format!("item {} is not valid JSON: {message}", self.items + 1))
                }
                _ => ParseError::Truncated,
            });
        }
        if self.scalar == Scalar::Bare {
            self.scalar = Scalar::None;
            self.end_bare()?;
            self.value_done(sink)?;
        }
        if self.expect != Expect::End || self.scalar != Scalar::None {
            return Err(ParseError::Truncated);
        }
        if !self.found_items {
            return Err(ParseError::NoItems(self.pointer()));
        }
        Ok(PageEnd { items: self.items, cursor: self.cursor, total: self.total })
    }
}
