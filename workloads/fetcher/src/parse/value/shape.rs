//! Shapes: the items of one list are nearly always objects with the same keys in the same order, so the
//! scanner keeps the *skeleton* of the last object it read — the bytes between its top-level values:
//! braces, keys, colons, commas and whitespace — and reads the next object by comparing those bytes and
//! validating only the values in between (a string, a number, a literal, or a nested value read by the
//! full scan). An object that matches is the same JSON as one the full scan reads, with the same
//! top-level keys; anything else (another shape, bad or cut-off input) goes to the full scan, which
//! gives the verdict and the message, and the object it reads becomes the shape to try next.

use super::{scalar, scan_value, skip_whitespace, string, Keys, Scanned};

/// Objects longer than this are not learnt as shapes (their values dominate the work anyway).
const MAX_SHAPE_BYTES: usize = 4096;
/// A shape replaced after fewer reads than this did not pay for itself.
const PAID: u32 = 4;
/// After this many shapes in a row that did not pay, shapes are left alone for [`REST`] objects (a list of
/// mixed shapes then costs the full scan and little more).
const POOR_IN_A_ROW: u32 = 8;
/// See [`POOR_IN_A_ROW`].
const REST: u32 = 256;

/// The shape in use, and how well shapes have been doing.
#[derive(Debug, Default, Clone)]
pub(super) struct Shapes {
    /// The shape tried first (buffers kept when it is replaced).
    shape: Shape,
    /// `shape` holds a shape to try.
    active: bool,
    /// Objects read by a shape, in all.
    hits: u32,
    /// Objects read by the current shape.
    since_learnt: u32,
    /// Shapes in a row replaced before they paid.
    poor: u32,
    /// Objects still to go before shapes are learnt again.
    resting: u32,
    /// Shapes learnt, in all.
    learnt: u32,
}

/// The skeleton of one object: `segments[0]`, a value, `segments[1]`, a value, …, `segments[n]`.
#[derive(Debug, Default, Clone)]
struct Shape {
    segments: Vec<Segment>,
    /// The skeleton's bytes, one segment after another.
    bytes: Vec<u8>,
    /// The object's top-level keys looked for ([`Scanned::keys`]).
    keys: u32,
    /// The skeleton's whitespace holds a line break.
    line_break: bool,
}

/// One run of skeleton bytes: `bytes[start..start + len]` of its shape; up to 16 of them also as a word
/// with a mask, so that they are compared in one step.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    len: usize,
    word: u128,
    mask: u128,
}

impl Segment {
    /// The segment of the skeleton bytes `run`, which start at `start` in its shape's bytes.
    fn new(start: usize, run: &[u8]) -> Segment {
        let mut word = [0u8; 16];
        let (word, mask) = match word.get_mut(..run.len()) {
            Some(head) => {
                head.copy_from_slice(run);
                (u128::from_le_bytes(word), u128::MAX.checked_shr(128 - 8 * run.len() as u32).unwrap_or(0))
            }
            None => (0, 0),
        };
        Segment { start, len: run.len(), word, mask }
    }

    /// True when `input[at..]` starts with this segment.
    #[inline(always)]
    fn at(&self, shape_bytes: &[u8], input: &[u8], at: usize) -> bool {
        if self.len <= 16 {
            if let Some(head) = input.get(at..).and_then(<[u8]>::first_chunk::<16>) {
                return (u128::from_le_bytes(*head) ^ self.word) & self.mask == 0;
            }
        }
        input.get(at..at + self.len) == shape_bytes.get(self.start..self.start + self.len)
    }
}

impl Shapes {
    /// Reads the object at the start of `input` if it has the current shape; `None` leaves it to the full
    /// scan (another shape, or input that is not a whole valid value).
    #[inline]
    pub(super) fn try_match(&mut self, input: &[u8], stack: &mut Vec<u64>) -> Option<Scanned> {
        if !self.active {
            return None;
        }
        let scanned = self.shape.read(input, stack)?;
        self.hits = self.hits.saturating_add(1);
        self.since_learnt = self.since_learnt.saturating_add(1);
        Some(scanned)
    }

    /// Objects read by a shape so far.
    pub(super) fn hits(&self) -> u32 {
        self.hits
    }

    /// Takes the valid value `item`, which the full scan read as `scanned` (so it did not match the current
    /// shape), as the shape to try next — if it is an object, and unless shapes are resting.
    pub(super) fn learn(&mut self, item: &[u8], scanned: &Scanned, stack: &mut Vec<u64>) {
        if self.resting > 0 {
            self.resting -= 1;
            return;
        }
        if self.active && self.since_learnt < PAID {
            self.poor += 1;
        } else {
            self.poor = 0;
        }
        if self.poor >= POOR_IN_A_ROW {
            (self.active, self.poor, self.resting) = (false, 0, REST);
            return;
        }
        self.active = scanned.object && item.len() <= MAX_SHAPE_BYTES && self.shape.learn(item, scanned, stack);
        self.since_learnt = 0;
        self.learnt = self.learnt.saturating_add(1);
    }
}

impl Shape {
    /// Becomes the skeleton of the valid object `item` (no leading whitespace); false if it is not one.
    fn learn(&mut self, item: &[u8], scanned: &Scanned, stack: &mut Vec<u64>) -> bool {
        if item.first() != Some(&b'{') {
            return false;
        }
        self.segments.clear();
        self.bytes.clear();
        // line breaks in the skeleton's whitespace (keys cannot hold raw ones)
        let mut line_break = false;
        let mut from = 0;
        let mut i = skip_whitespace(item, 1, &mut line_break);
        if item.get(i) != Some(&b'}') {
            loop {
                let Ok((key_end, _)) = string(item, i) else { return false };
                i = skip_whitespace(item, key_end + 1, &mut line_break);
                if item.get(i) != Some(&b':') {
                    return false;
                }
                let start = skip_whitespace(item, i + 1, &mut line_break);
                let Some(Ok(value)) = item.get(start..).map(|rest| scan_value(stack, &Keys::default(), rest)) else {
                    return false;
                };
                self.segments.push(Segment::new(self.bytes.len(), &item[from..start]));
                self.bytes.extend_from_slice(&item[from..start]);
                from = start + value.len;
                i = skip_whitespace(item, from, &mut line_break);
                match item.get(i) {
                    Some(b',') => i = skip_whitespace(item, i + 1, &mut line_break),
                    Some(b'}') => break,
                    _ => return false,
                }
            }
        }
        self.segments.push(Segment::new(self.bytes.len(), &item[from..]));
        self.bytes.extend_from_slice(&item[from..]);
        self.keys = scanned.keys;
        self.line_break = line_break;
        true
    }

    /// Reads the object at the start of `input` if it has this shape.
    #[inline(always)]
    fn read(&self, input: &[u8], stack: &mut Vec<u64>) -> Option<Scanned> {
        let (first, rest) = self.segments.split_first()?;
        if !first.at(&self.bytes, input, 0) {
            return None;
        }
        let mut i = first.len;
        let mut line_break = self.line_break;
        for segment in rest {
            i = value(input, i, stack, &mut line_break)?;
            if !segment.at(&self.bytes, input, i) {
                return None;
            }
            i += segment.len;
        }
        Some(Scanned { len: i, object: true, keys: self.keys, line_break })
    }
}

/// Validates the value at `input[i]` (no leading whitespace); returns the index after it.
#[inline(always)]
fn value(input: &[u8], i: usize, stack: &mut Vec<u64>, line_break: &mut bool) -> Option<usize> {
    match *input.get(i)? {
        b'{' | b'[' => {
            let nested = scan_value(stack, &Keys::default(), input.get(i..)?).ok()?;
            *line_break |= nested.line_break;
            Some(i + nested.len)
        }
        _ => scalar(input, i).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check_shape_agrees, ScanError, ValueScanner};

    fn scanner() -> ValueScanner {
        ValueScanner::looking_for(&["user_id".to_string(), "score".to_string()])
    }

    #[test]
    fn objects_of_the_last_shape_are_read_by_their_skeleton() {
        let mut s = scanner();
        let first = s.scan(br#"{"user_id":0,"cluster":"gold","score":0.000}"#).unwrap();
        assert_eq!((first.len, first.keys), (44, 0b11));
        assert_eq!(s.shapes.hits, 0);
        for item in [
            &br#"{"user_id":12345,"cluster":"silver","score":-1.5e3},{"#[..],
            br#"{"user_id":"u-1","cluster":null,"score":{"a":[1,{"user_id":2}]}}"#,
            br#"{"user_id":true,"cluster":"\u00e9\"","score":[]} "#,
        ] {
            let fresh = scanner().scan(item).unwrap();
            assert_eq!(s.scan(item).unwrap(), fresh, "{}", String::from_utf8_lossy(item));
            assert_eq!(fresh.keys, 0b11);
        }
        assert_eq!(s.shapes.hits, 3, "all three read by the shape");
        // a different shape: the full scan reads it, and it becomes the shape
        let other = s.scan(br#"{"cluster":"x","user_id":1}"#).unwrap();
        assert_eq!((other.len, other.keys), (27, 0b01));
        assert_eq!(s.scan(br#"{"cluster":"yy","user_id":22}"#).unwrap().keys, 0b01);
        assert_eq!(s.shapes.hits, 4);
    }

    #[test]
    fn line_breaks_in_the_skeleton_or_a_nested_value_are_told() {
        let mut s = scanner();
        s.scan(b"{\n  \"user_id\": 1,\n  \"x\": 2\n}").unwrap();
        let pretty = s.scan(b"{\n  \"user_id\": 7,\n  \"x\": [\n3]\n}").unwrap();
        assert!(pretty.line_break && s.shapes.hits == 1);
        s.scan(br#"{"user_id":1,"x":2}"#).unwrap();
        assert!(s.scan(b"{\"user_id\":1,\"x\":[\n]}").unwrap().line_break, "in a nested value");
        assert!(!s.scan(br#"{"user_id":1,"x":[ ]}"#).unwrap().line_break);
        assert_eq!(s.shapes.hits, 3);
    }

    #[test]
    fn bad_or_cut_off_objects_of_the_shape_get_the_full_scan_verdict() {
        let mut s = scanner();
        s.scan(br#"{"user_id":1,"name":"a"}"#).unwrap();
        for (item, incomplete) in [
            (&br#"{"user_id":1,"name":"a"#[..], true),
            (br#"{"user_id":12"#, true),
            (br#"{"user_id":1,"name":"a""#, true),
            (br#"{"user_id":01,"name":"a"}"#, false),
            (br#"{"user_id":1x,"name":"a"}"#, false),
            (b"{\"user_id\":1,\"name\":\"a\x01\"}", false),
            (b"{\"user_id\":1,\"name\":\"\xff\"}", false),
            (br#"{"user_id":tru,"name":"a"}"#, false),
            (br#"{"user_id":[1,],"name":"a"}"#, false),
        ] {
            let got = s.scan(item);
            assert_eq!(got, scanner().scan(item), "{}", String::from_utf8_lossy(item));
            assert_eq!(got == Err(ScanError::Incomplete), incomplete, "{got:?}");
            assert!(got.is_err());
        }
    }

    #[test]
    fn mixed_shapes_rest_and_come_back() {
        let mut s = scanner();
        for i in 0..10_000 {
            let item = format!(r#"{{"k{}":1}}"#, i % 2);
            s.scan(item.as_bytes()).unwrap();
        }
        assert_eq!(s.shapes.hits, 0, "two shapes in turn never match");
        assert!(s.shapes.learnt < 10_000 / 20, "{} shapes learnt: shapes must rest", s.shapes.learnt);
        for i in 0..1000 {
            s.scan(format!(r#"{{"user_id":{i}}}"#).as_bytes()).unwrap();
        }
        assert!(s.shapes.hits > 500, "{}: one shape again pays again", s.shapes.hits);
    }

    /// A scanner seasoned with a value reads mutations of it exactly as a fresh one does, on generated
    /// values (a stand-in for the fuzzer).
    #[test]
    fn agrees_with_a_fresh_scanner_on_mutated_objects() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let values = ["1", "-2.5e3", "\"gold\"", "\"é\\n\"", "true", "null", "[1,{\"a\":2}]", "{}", "\"\""];
        let keys = ["\"user_id\"", "\"score\"", "\"x\"", "\"\\u0078\""];
        let (mut same, mut read, mut by_shape) = (0, 0, 0);
        for case in 0..50_000 {
            let members = (next() % 4) as usize;
            let (colon, comma) = if case % 3 == 0 { (": ", ",\n ") } else { (":", ",") };
            let object = |next: &mut dyn FnMut() -> u64| {
                let body: Vec<String> = (0..members)
                    .map(|m| format!("{}{colon}{}", keys[m], values[(next() % values.len() as u64) as usize]))
                    .collect();
                format!("{{{}}}", body.join(comma)).into_bytes()
            };
            let seed = object(&mut next);
            let mut input = object(&mut next);
            for _ in 0..next() % 3 {
                let at = (next() as usize) % (input.len() + 1);
                match next() % 3 {
                    0 if at < input.len() => input[at] = b"{}[],:\"\\\n0-.eu \x01\xc3x"[(next() % 18) as usize],
                    1 => input.truncate(at),
                    _ => input.insert(at, b"{}[],:\"\\\n0-.eu \x01\xc3x"[(next() % 18) as usize]),
                }
            }
            by_shape += usize::from(check_shape_agrees(&seed, &input));
            if ValueScanner::new().scan(&input).is_ok() {
                read += 1;
            }
            same += usize::from(seed == input);
        }
        assert!(read > 20_000 && read < 49_000, "{read} of 50000 valid: the mutations must exercise both");
        assert!(same < 10_000, "{same} inputs were their seed");
        assert!(by_shape > 15_000, "{by_shape} of 50000 read by the seed's shape: too few to test it");
    }
}
