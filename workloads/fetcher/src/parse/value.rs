//! A validating scanner for one JSON value (RFC 8259): finds where the value ends, checks its syntax
//! (strings, escapes, UTF-8, numbers, literals, nesting), notes which of a set of top-level object keys it
//! has, and whether it holds a raw line break — in one pass, without building the value.
//!
//! This is the fetcher's hot loop (every item of every page goes through it once), so strings are skipped
//! eight bytes at a time, nothing is allocated per value, and an object shaped like the one before it is
//! read by comparing its skeleton (`value/shape.rs`).

mod shape;

/// What a scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes from the start of the input to the end of the value (leading whitespace included).
    pub len: usize,
    /// True when the value is an object.
    pub object: bool,
    /// Bit `i` is set when the object has a top-level key equal to `keys[i]` (at most 32 keys).
    pub keys: u32,
    /// True when whitespace inside the value holds a line break (`\n` or `\r`).
    pub line_break: bool,
}

/// Why a scan did not find a whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The input ends before the value does.
    Incomplete,
    /// Not valid JSON: what was wrong, and the byte offset where it was found.
    Malformed(String),
}

/// Scans values, keeping its nesting stack between calls so that scanning allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct ValueScanner {
    /// One bit per open container, set for objects; a word per 64 levels (nesting is not limited).
    stack: Vec<u64>,
    /// The top-level object keys looked for.
    keys: Keys,
    /// The shape of the last object read, against which the next one is tried first.
    shapes: shape::Shapes,
}

/// The top-level object keys a scanner looks for (decoded names, at most 32), prepared once: a name of up
/// to eight bytes is also kept as a word, so that it is compared in one step.
#[derive(Debug, Default, Clone)]
struct Keys {
    names: Vec<String>,
    /// Each name's length and, for names of up to eight bytes, its bytes as a little-endian word.
    words: Vec<(usize, u64)>,
    /// The bits of [`Scanned::keys`] when every key was found.
    all: u32,
}

impl Keys {
    fn new(names: &[String]) -> Keys {
        let names: Vec<String> = names.iter().take(32).cloned().collect();
        let words = names.iter().map(|name| (name.len(), word_of(name.as_bytes()))).collect();
        let all = u32::MAX.checked_shr(32 - names.len() as u32).unwrap_or(0);
        Keys { names, words, all }
    }

    /// Notes in `found` which key the name in `bytes[start..end]` (between its quotes) is.
    #[inline(always)]
    fn note(&self, bytes: &[u8], start: usize, end: usize, escaped: bool, found: &mut u32) {
        let len = end - start;
        // a short plain name: one word, read from the input (which goes on past it: its quote, at least)
        if !escaped && len <= 8 {
            if let Some(word) = bytes.get(start..).and_then(<[u8]>::first_chunk::<8>) {
                let name = u64::from_le_bytes(*word) & u64::MAX.checked_shr(64 - 8 * len as u32).unwrap_or(0);
                for (i, &(key_len, key)) in self.words.iter().enumerate() {
                    if key_len == len && key == name {
                        *found |= 1 << i;
                    }
                }
                return;
            }
        }
        self.note_slow(bytes, start, end, escaped, found);
    }

    fn note_slow(&self, bytes: &[u8], start: usize, end: usize, escaped: bool, found: &mut u32) {
        let decoded;
        let name: &[u8] = if escaped {
            decoded = serde_json::from_slice::<String>(&bytes[start - 1..end + 1]).unwrap_or_default();
            decoded.as_bytes()
        } else {
            &bytes[start..end]
        };
        for (i, key) in self.names.iter().enumerate() {
            if key.as_bytes() == name {
                *found |= 1 << i;
            }
        }
    }
}

/// `bytes` (at most eight) as a little-endian word, zero-padded; 0 for longer names (never compared so).
fn word_of(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    match word.get_mut(..bytes.len()) {
        Some(head) => head.copy_from_slice(bytes),
        None => return 0,
    }
    u64::from_le_bytes(word)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in (at least) the first byte of `word` that ends a run of plain string
/// bytes: `"`, `\`, a control character, or a non-ASCII byte. Bits above the first hit may be spurious,
/// so only the lowest is used.
#[inline]
fn string_stops(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    (zero_byte(quote) | zero_byte(backslash) | (word.wrapping_sub(ONES * 0x20) & !word) | word) & HIGHS
}

/// Why the hot loop stopped; the message is made once, by [`ValueScanner::scan`].
#[derive(Debug, Clone, Copy)]
enum Stop {
    Incomplete,
    /// What was expected or wrong, and where.
    Bad(&'static str, usize),
}

#[inline(always)]
fn byte_at(bytes: &[u8], i: usize) -> Result<u8, Stop> {
    bytes.get(i).copied().ok_or(Stop::Incomplete)
}

#[inline(always)]
fn skip_whitespace(bytes: &[u8], mut i: usize, line_break: &mut bool) -> usize {
    while let Some(&b) = bytes.get(i) {
        if b > b' ' {
            break;
        }
        match b {
            b' ' | b'\t' => {}
            b'\n' | b'\r' => *line_break = true,
            _ => break,
        }
        i += 1;
    }
    i
}

/// Scans a string whose opening quote is at `i`: returns the index of its closing quote and whether it
/// holds an escape.
#[inline(always)]
fn string(bytes: &[u8], i: usize) -> Result<(usize, bool), Stop> {
    let start = i + 1;
    let mut j = start;
    let (mut escaped, mut non_ascii) = (false, false);
    loop {
        while let Some(word) = bytes.get(j..).and_then(<[u8]>::first_chunk::<8>) {
            let stops = string_stops(u64::from_le_bytes(*word));
            if stops != 0 {
                j += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        match byte_at(bytes, j)? {
            b'"' => break,
            b'\\' => {
                escaped = true;
                match byte_at(bytes, j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        for k in j + 2..j + 6 {
                            if !byte_at(bytes, k)?.is_ascii_hexdigit() {
                                return Err(Stop::Bad("expected four hex digits after \\u", k));
                            }
                        }
                        j += 6;
                    }
                    _ => return Err(Stop::Bad("an invalid escape in a string", j + 1)),
                }
            }
            b if b < 0x20 => return Err(Stop::Bad("a raw control character in a string (escape it)", j)),
            b if b >= 0x80 => {
                non_ascii = true;
                j += 1;
            }
            _ => j += 1,
        }
    }
    if non_ascii && std::str::from_utf8(&bytes[start..j]).is_err() {
        return Err(Stop::Bad("a string that is not valid UTF-8", start));
    }
    Ok((j, escaped))
}

/// True when the container enclosing depth `depth` (the one at `depth - 1`) is an object; false at the top.
#[inline(always)]
fn is_object(stack: &[u64], depth: usize) -> bool {
    depth > 0 && stack.get((depth - 1) / 64).is_some_and(|word| word & (1 << ((depth - 1) % 64)) != 0)
}

/// The index after the run of ASCII digits at `i`, eight bytes at a time.
#[inline(always)]
fn digits(bytes: &[u8], mut i: usize) -> usize {
    while let Some(word) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        // digits become 0..=9; a byte of 10 or more gets its high bit set (7-bit add: no carries)
        let t = u64::from_le_bytes(*word) ^ (ONES * u64::from(b'0'));
        let non_digits = (((t & !HIGHS).wrapping_add(ONES * 0x76)) | t) & HIGHS;
        if non_digits != 0 {
            return i + (non_digits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Scans a number starting at `i`; returns the index after it. The end of the input ends a number (as in
/// a whole NDJSON line); inside a container the missing close reports the value as incomplete anyway.
#[inline(always)]
fn number(bytes: &[u8], mut i: usize) -> Result<usize, Stop> {
    if bytes[i] == b'-' {
        i += 1;
    }
    match byte_at(bytes, i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(bytes, i + 1),
        _ => return Err(Stop::Bad("expected a digit", i)),
    }
    if bytes.get(i) == Some(&b'.') {
        let end = digits(bytes, i + 1);
        if end == i + 1 {
            byte_at(bytes, end)?;
            return Err(Stop::Bad("expected a digit after the decimal point", end));
        }
        i = end;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(byte_at(bytes, i)?, b'+' | b'-') {
            i += 1;
        }
        let end = digits(bytes, i);
        if end == i {
            byte_at(bytes, end)?;
            return Err(Stop::Bad("expected a digit in the exponent", end));
        }
        i = end;
    }
    Ok(i)
}

fn literal(bytes: &[u8], i: usize, word: &'static [u8]) -> Result<usize, Stop> {
    let rest = &bytes[i..];
    if rest.starts_with(word) {
        Ok(i + word.len())
    } else if word.starts_with(rest) {
        Err(Stop::Incomplete)
    } else {
        Err(Stop::Bad("expected a JSON value", i))
    }
}

/// Scans the string, number or literal at `i` (any other byte is not a value there); returns the index
/// after it.
#[inline(always)]
fn scalar(bytes: &[u8], i: usize) -> Result<usize, Stop> {
    match byte_at(bytes, i)? {
        b'"' => Ok(string(bytes, i)?.0 + 1),
        b'-' | b'0'..=b'9' => number(bytes, i),
        b't' => literal(bytes, i, b"true"),
        b'f' => literal(bytes, i, b"false"),
        b'n' => literal(bytes, i, b"null"),
        _ => Err(Stop::Bad("expected a JSON value", i)),
    }
}

/// Scans `"key" :` at `i` and the whitespace after it; returns the index of the member's value. Notes the
/// key in `found` when it is one of the item's own (`top`) keys we look for.
#[inline(always)]
fn key(bytes: &[u8], i: usize, top: bool, keys: &Keys, found: &mut u32, line_break: &mut bool) -> Result<usize, Stop> {
    if byte_at(bytes, i)? != b'"' {
        return Err(Stop::Bad("expected an object key (a string)", i));
    }
    let (end, escaped) = string(bytes, i)?;
    // once every key looked for was found, the item's other keys need no comparing
    if top && *found != keys.all {
        keys.note(bytes, i + 1, end, escaped, found);
    }
    let colon = skip_whitespace(bytes, end + 1, line_break);
    if byte_at(bytes, colon)? != b':' {
        return Err(Stop::Bad("expected ':' after an object key", colon));
    }
    Ok(skip_whitespace(bytes, colon + 1, line_break))
}

impl ValueScanner {
    /// A scanner that looks for no keys.
    pub fn new() -> ValueScanner {
        ValueScanner::default()
    }

    /// A scanner that notes which of `keys` (decoded names, at most 32) each object has at its top level.
    pub fn looking_for(keys: &[String]) -> ValueScanner {
        ValueScanner { keys: Keys::new(keys), ..ValueScanner::default() }
    }

    /// The bits of [`Scanned::keys`] of an object that has every key looked for.
    pub fn all_keys(&self) -> u32 {
        self.keys.all
    }

    /// Scans the JSON value at the start of `bytes` (after optional whitespace).
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Scanned, ScanError> {
        if let Some(scanned) = self.shapes.try_match(bytes, &mut self.stack) {
            return Ok(scanned);
        }
        let scanned = scan_value(&mut self.stack, &self.keys, bytes);
        if let Ok(scanned) = &scanned {
            self.shapes.learn(&bytes[..scanned.len], scanned, &mut self.stack);
        }
        scanned.map_err(|stop| match stop {
            Stop::Incomplete => ScanError::Incomplete,
            Stop::Bad(what, at) => ScanError::Malformed(match bytes.get(at) {
                Some(&b) if b.is_ascii_graphic() => format!("{what}, found {:?} at byte {at}", b as char),
                Some(&b) => format!("{what}, found byte 0x{b:02x} at byte {at}"),
                None => format!("{what}, at byte {at}"),
            }),
        })
    }
}

/// Scans the JSON value at the start of `bytes`, noting which of `keys` an object has at its top level;
/// `stack` is the nesting stack (kept by the caller, so that scanning allocates nothing).
fn scan_value(stack: &mut Vec<u64>, keys: &Keys, bytes: &[u8]) -> Result<Scanned, Stop> {
    let mut line_break = false;
    let mut i = skip_whitespace(bytes, 0, &mut line_break);
    let object = byte_at(bytes, i)? == b'{';
    let mut found = 0u32;
    // open containers: bit `d % 64` of word `d / 64` is set when the container at depth `d` is an object
    let mut depth = 0usize;
    // the innermost open container is an object (kept here, so that only a close reads the stack)
    let mut in_object = false;
    'value: loop {
        // a value starts at `i`
        match byte_at(bytes, i)? {
            open @ (b'{' | b'[') => {
                let (word, bit) = (depth / 64, depth % 64);
                if word == stack.len() {
                    stack.push(0);
                }
                in_object = open == b'{';
                if in_object {
                    stack[word] |= 1 << bit;
                } else {
                    stack[word] &= !(1 << bit);
                }
                depth += 1;
                i = skip_whitespace(bytes, i + 1, &mut line_break);
                let close = if in_object { b'}' } else { b']' };
                if byte_at(bytes, i)? == close {
                    i += 1;
                    depth -= 1;
                    in_object = is_object(stack, depth);
                } else if in_object {
                    i = key(bytes, i, depth == 1, keys, &mut found, &mut line_break)?;
                    continue 'value;
                } else {
                    continue 'value;
                }
            }
            _ => i = scalar(bytes, i)?,
        }
        // a value ended: close containers until one goes on
        loop {
            if depth == 0 {
                return Ok(Scanned { len: i, object, keys: found, line_break });
            }
            i = skip_whitespace(bytes, i, &mut line_break);
            match (byte_at(bytes, i)?, in_object) {
                (b',', true) => {
                    let next = skip_whitespace(bytes, i + 1, &mut line_break);
                    i = key(bytes, next, depth == 1, keys, &mut found, &mut line_break)?;
                    continue 'value;
                }
                (b',', false) => {
                    i = skip_whitespace(bytes, i + 1, &mut line_break);
                    continue 'value;
                }
                (b'}', true) | (b']', false) => {
                    i += 1;
                    depth -= 1;
                    in_object = is_object(stack, depth);
                }
                (_, true) => return Err(Stop::Bad("expected ',' or '}' after an object member", i)),
                (_, false) => return Err(Stop::Bad("expected ',' or ']' after an array element", i)),
            }
        }
    }
}

/// The keys the property checks look for: a plain one and one that needs decoding when escaped.
const PROPERTY_KEYS: [&str; 2] = ["user_id", "é"];

/// The property the fuzz target checks, on any input: what the scanner accepts serde_json accepts too (as
/// `IgnoredAny`, which does not check that strings are UTF-8), and a whole value serde_json reads into a
/// `Value` (which also refuses numbers too large for an f64) the scanner accepts, finding the same
/// top-level keys. Returns whether the scanner accepted the input.
pub fn check_agrees_with_serde_json(text: &[u8]) -> bool {
    let keys = PROPERTY_KEYS.map(String::from);
    let whole = serde_json::from_slice::<serde_json::Value>(text);
    let shown = || String::from_utf8_lossy(text).into_owned();
    match ValueScanner::looking_for(&keys).scan(text) {
        Ok(scanned) => {
            let value = &text[..scanned.len];
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok(),
                "the scanner accepts what serde_json refuses: {:?}",
                shown()
            );
            if let Ok(whole) = whole {
                assert!(text[scanned.len..].iter().all(u8::is_ascii_whitespace), "{:?}", shown());
                if let serde_json::Value::Object(map) = whole {
                    let want =
                        keys.iter().enumerate().filter(|(_, k)| map.contains_key(*k)).fold(0, |m, (i, _)| m | 1 << i);
                    assert_eq!(scanned.keys, want, "{:?}", shown());
                }
            }
            true
        }
        Err(e) => {
            assert!(whole.is_err(), "the scanner refuses ({e:?}) what serde_json accepts: {:?}", shown());
            false
        }
    }
}

/// The property the fuzz target checks of shapes, on any input: a scanner that has read `seed` first (and so
/// may try `input` against the seed's shape) reads `input` exactly as a fresh scanner does — the same
/// value, keys and line breaks, or the same error. Returns whether the seed's shape read `input`.
pub fn check_shape_agrees(seed: &[u8], input: &[u8]) -> bool {
    let keys = PROPERTY_KEYS.map(String::from);
    let mut seasoned = ValueScanner::looking_for(&keys);
    let _ = seasoned.scan(seed);
    let fresh = ValueScanner::looking_for(&keys).scan(input);
    let hits = seasoned.shapes.hits();
    assert_eq!(
        seasoned.scan(input),
        fresh,
        "after {:?}, {:?}",
        String::from_utf8_lossy(seed),
        String::from_utf8_lossy(input)
    );
    seasoned.shapes.hits() > hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Result<Scanned, ScanError> {
        ValueScanner::looking_for(&["user_id".to_string(), "é".to_string()]).scan(text.as_bytes())
    }

    #[test]
    fn finds_the_end_keys_and_line_breaks() {
        let s = scan(r#"{"user_id":1,"a":{"user_id":2},"b":"x\"}"} ,{"#).unwrap();
        assert_eq!((s.len, s.object, s.keys, s.line_break), (42, true, 0b01, false));
        let s = scan("{\"\\u00e9\" :\n[1, -2.5e+3, true, false, null, \"\", {}]}").unwrap();
        assert_eq!((s.keys, s.line_break), (0b10, true));
        assert_eq!(scan("  42 ").unwrap().len, 4, "the end of a number at a delimiter");
        assert_eq!(scan("-0.5E7").unwrap().len, 6, "the end of the input ends a number");
        assert_eq!(scan("[]").unwrap(), Scanned { len: 2, object: false, keys: 0, line_break: false });
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(scan(&deep).unwrap().len, 600, "nesting is not limited");
        let long = format!("\"{}é{}\"", "a".repeat(37), "b\\n".repeat(9));
        assert_eq!(scan(&long).unwrap().len, long.len());
    }

    #[test]
    fn incomplete_values_are_told_apart_from_malformed_ones() {
        for text in ["", "{", r#"{"a":1"#, r#"{"a":"x"#, r#"["\u00"#, "[1.", "[1e+", "[tr", "{\"a\"", "[\"\\"] {
            assert_eq!(scan(text), Err(ScanError::Incomplete), "{text:?}");
        }
        for text in [
            "[1,]",
            "[01]",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1]",
            "[\"\\x\"]",
            "[\"\\u12g4\"]",
            "[.5]",
            "[1.e3]",
            "[-]",
            "{1:2}",
            "[tru]",
            "[nul,",
            "[\"a\u{1}\"]",
            "]",
            "{,}",
            "[1}",
        ] {
            assert!(matches!(scan(text), Err(ScanError::Malformed(_))), "{text:?}: {:?}", scan(text));
        }
        let invalid_utf8 = ValueScanner::new().scan(b"[\"\xff\xfe\"]");
        assert!(matches!(invalid_utf8, Err(ScanError::Malformed(m)) if m.contains("UTF-8")));
        let message = scan(r#"{"a":1 "b":2}"#).unwrap_err();
        assert_eq!(
            message,
            ScanError::Malformed("expected ',' or '}' after an object member, found '\"' at byte 7".into())
        );
    }

    #[test]
    fn string_stops_finds_the_first_special_byte_of_a_word() {
        for (word, first) in [
            (*b"abcdefgh", None),
            (*b"abc\"efgh", Some(3)),
            (*b"\\bcdefgh", Some(0)),
            (*b"abcdefg\x01", Some(7)),
            (*b"ab\xc3\xa9efgh", Some(2)),
            (*b"a\x00\"defgh", Some(1)),
            (*b"~~~~~~~\x7f", None),
        ] {
            let stops = string_stops(u64::from_le_bytes(word));
            let got = (stops != 0).then(|| stops.trailing_zeros() / 8);
            assert_eq!(got, first, "{word:?}");
        }
    }

    #[test]
    fn keys_of_every_length_are_found_and_only_they() {
        for len in 0..=10 {
            let name = &"abcdefghij"[..len];
            // the key itself, one byte longer, one byte shorter (or a different one-byte name)
            let keys =
                [name.to_string(), format!("{name}x"), name.get(..len.saturating_sub(1)).unwrap_or("").to_string()];
            let keys = if len == 0 { [keys[0].clone(), keys[1].clone(), "z".to_string()] } else { keys };
            let mut scanner = ValueScanner::looking_for(&keys);
            for tail in ["", "                "] {
                // with and without eight bytes of input after the name
                let item = format!("{{\"{name}\":1}}{tail}");
                assert_eq!(scanner.scan(item.as_bytes()).unwrap().keys, 0b001, "{item:?}");
                let escaped = format!("{{\"{}\":1}}{tail}", name.replace('a', "\\u0061"));
                assert_eq!(scanner.scan(escaped.as_bytes()).unwrap().keys, 0b001, "{escaped:?}");
                let other = format!("{{\"{name}y\":1, \"q\": 2}}{tail}");
                assert_eq!(scanner.scan(other.as_bytes()).unwrap().keys, 0, "{other:?}");
            }
        }
    }

    #[test]
    fn digits_stops_at_the_first_byte_that_is_not_a_digit() {
        // every byte value, after every count of digits across and around an eight-byte word
        for run in 0..20 {
            for stop in 0..=255u8 {
                let mut bytes = b"7".repeat(run);
                bytes.push(stop);
                bytes.extend_from_slice(b"123456789");
                let want = if stop.is_ascii_digit() { run + 10 } else { run };
                assert_eq!(digits(&bytes, 0), want, "{run} digits, then byte {stop:#04x}");
                assert_eq!(digits(&bytes[..run], 0), run, "{run} digits up to the end");
            }
        }
    }

    /// Scanner and serde_json agree: what the scanner accepts serde_json accepts, and a whole valid value
    /// is accepted by the scanner, on values generated and then mutated (a stand-in for a fuzzer).
    #[test]
    fn agrees_with_serde_json_on_mutated_values() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        fn value(next: &mut dyn FnMut() -> u64, depth: u32) -> serde_json::Value {
            match next() % if depth > 3 { 5 } else { 7 } {
                0 => serde_json::Value::Null,
                1 => serde_json::json!(next().is_multiple_of(2)),
                2 => serde_json::json!((next() >> 20) as i64 - (1 << 40)),
                3 => serde_json::json!(((next() >> 30) as f64) / 7.0e3),
                4 => serde_json::json!(["", "user_id", "é\"\\\n\u{1}日本", "abcdefghijklmnopq"][(next() % 4) as usize]),
                5 => serde_json::Value::Array((0..next() % 4).map(|_| value(next, depth + 1)).collect()),
                _ => serde_json::Value::Object(
                    (0..next() % 4)
                        .map(|i| (["user_id", "é", "k\"", "x"][i as usize].to_string(), value(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        let (mut accepted, mut refused) = (0, 0);
        for case in 0..50_000 {
            let v = value(&mut next, 0);
            let mut text = if case % 2 == 0 { serde_json::to_vec(&v) } else { serde_json::to_vec_pretty(&v) }.unwrap();
            for _ in 0..next() % 3 {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 if at < text.len() => text[at] = (next() & 0xff) as u8,
                    1 => text.truncate(at),
                    _ => text.insert(at.min(text.len()), b"{}[],:\"\\\n0-.eu\xc3"[(next() % 15) as usize]),
                }
            }
            if check_agrees_with_serde_json(&text) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            accepted > 10_000 && refused > 10_000,
            "{accepted} accepted, {refused} refused: the mutations must exercise both"
        );
    }
}
