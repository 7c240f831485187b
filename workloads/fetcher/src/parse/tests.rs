//! Parser tests: every case is parsed whole and in 1-, 2-, 3- and 7-byte chunks, which must agree.

use super::*;
use microfleet_crds::clusterfetch::Format;

fn parse(
    format: Format,
    item_path: Option<&str>,
    cursor: Option<&str>,
    body: &str,
) -> Result<(Vec<String>, PageEnd), ParseError> {
    let mut results = Vec::new();
    for chunk in [usize::MAX, 1, 2, 3, 7] {
        let parser = PageParser::new(format, item_path, cursor, 1024, value::ValueScanner::new());
        let result = parse_all(parser, body.as_bytes(), chunk)
            .map(|(items, end)| (items.into_iter().map(|i| String::from_utf8(i).unwrap()).collect::<Vec<_>>(), end));
        results.push(result);
    }
    for other in &results[1..] {
        match (other, &results[0]) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "chunked parse differs for {body:?}"),
            (Err(a), Err(b)) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b), "{body:?}: {a} / {b}"),
            (a, b) => panic!("chunked parse differs for {body:?}: {a:?} / {b:?}"),
        }
    }
    results.remove(0)
}

fn items(format: Format, item_path: Option<&str>, body: &str) -> Vec<String> {
    parse(format, item_path, None, body).unwrap_or_else(|e| panic!("{body:?}: {e}")).0
}

#[test]
fn json_items_at_a_pointer() {
    let rows: &[(Option<&str>, &str, &[&str])] = &[
        (None, r#"[{"id":1},{"id":2}]"#, &[r#"{"id":1}"#, r#"{"id":2}"#]),
        (
            None,
            " [ 1 , \"two\" , null , true , [] , {} , -3.5e2 ] ",
            &["1", "\"two\"", "null", "true", "[]", "{}", "-3.5e2"],
        ),
        (None, "[]", &[]),
        (
            Some("/data/users"),
            r#"{"meta":{"n":2},"data":{"users":[{"a":[1,{"b":"]"}]},{"c":"x\"y"}]},"next":"z"}"#,
            &[r#"{"a":[1,{"b":"]"}]}"#, r#"{"c":"x\"y"}"#],
        ),
        (Some("/a~1b"), r#"{"a/b":[1]}"#, &["1"]),
        (Some("/list/1"), r#"{"list":[[9],[7,8]]}"#, &["7", "8"]),
        (Some("/users"), r#"{"users":[{"name":"日本\u00e9"}]}"#, &[r#"{"name":"日本\u00e9"}"#]),
        (Some("/users"), "{\"users\":[ {\"x\" : 1 }\n,\t2]}", &["{\"x\" : 1 }", "2"]),
        // numbers cut by a chunk boundary (after "0." or "1e") must not read as malformed
        (
            Some("/u"),
            r#"{"u":[{"score":0.125,"e":1e-5},{"n":-0.5E+3}]}"#,
            &[r#"{"score":0.125,"e":1e-5}"#, r#"{"n":-0.5E+3}"#],
        ),
    ];
    for (path, body, expected) in rows {
        assert_eq!(items(Format::Json, *path, body), *expected, "{body}");
    }
}

#[test]
fn json_cursor_is_captured() {
    let body = r#"{"users":[{"id":1}],"next_cursor":"abc\"d","total":3}"#;
    let (_, end) = parse(Format::Json, Some("/users"), Some("/next_cursor"), body).unwrap();
    assert_eq!(end.cursor, Some(serde_json::json!("abc\"d")));
    let (_, end) =
        parse(Format::Json, Some("/users"), Some("/meta/next"), r#"{"meta":{"next":42},"users":[]}"#).unwrap();
    assert_eq!(end.cursor, Some(serde_json::json!(42)));
    let (_, end) = parse(Format::Json, Some("/users"), Some("/next"), r#"{"users":[],"next":null}"#).unwrap();
    assert_eq!(end.cursor, Some(serde_json::Value::Null));
    let (_, end) = parse(Format::Json, Some("/users"), Some("/next"), r#"{"users":[]}"#).unwrap();
    assert_eq!(end.cursor, None);
    let err = parse(Format::Json, Some("/users"), Some("/next"), r#"{"users":[],"next":{"a":1}}"#).unwrap_err();
    assert!(matches!(err, ParseError::Malformed(_)), "{err}");
}

#[test]
fn json_total_is_captured_beside_the_cursor() {
    // (case, total pointer, body, the total captured)
    let cases = [
        ("before the items", "/total", r#"{"total":3,"users":[{"id":1}],"next":"c"}"#, Some(serde_json::json!(3))),
        (
            "after them, nested",
            "/meta/count",
            r#"{"users":[{"id":1}],"meta":{"count":"7"},"next":"c"}"#,
            Some(serde_json::json!("7")),
        ),
        ("not in the item", "/total", r#"{"users":[{"total":1}],"next":"c"}"#, None),
        ("absent", "/total", r#"{"users":[],"next":"c"}"#, None),
    ];
    for (case, pointer, body, total) in cases {
        for chunk in [usize::MAX, 1, 3] {
            let parser = PageParser::new(Format::Json, Some("/users"), Some("/next"), 1024, value::ValueScanner::new())
                .with_total(Some(pointer));
            let (_, end) = parse_all(parser, body.as_bytes(), chunk).unwrap();
            assert_eq!((end.total, end.cursor), (total.clone(), Some(serde_json::json!("c"))), "{case} by {chunk}");
        }
    }
    let parser =
        PageParser::new(Format::Json, Some("/users"), None, 1024, value::ValueScanner::new()).with_total(Some("/t"));
    let err = parse_all(parser, br#"{"t":[1],"users":[]}"#, usize::MAX).unwrap_err();
    assert!(err.to_string().contains("the total at /t is not a number"), "{err}");
}

/// item path, body, the check the error must pass
type ErrorRow = (Option<&'static str>, &'static str, fn(&ParseError) -> bool);

#[test]
fn json_errors() {
    let rows: &[ErrorRow] = &[
        (None, r#"[{"id":1},{"id":2}"#, |e| *e == ParseError::Truncated),
        (None, r#"[{"id":1},{"id"#, |e| *e == ParseError::Truncated),
        (None, "", |e| *e == ParseError::Truncated),
        (None, r#"[1,]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[1 2]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[tru]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[01]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[{"a" 1}]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[{"a":1]]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, r#"[1] [2]"#, |e| matches!(e, ParseError::Malformed(_))),
        (None, "[\"a\u{1}\"]", |e| matches!(e, ParseError::Malformed(_))),
        (None, "<html>502 Bad Gateway</html>", |e| matches!(e, ParseError::Malformed(_))),
        (Some("/users"), r#"{"data":[1]}"#, |e| matches!(e, ParseError::NoItems(p) if p == "/users")),
        (Some("/users"), r#"{"users":{"a":1}}"#, |e| matches!(e, ParseError::NotAnArray(_))),
        (None, r#"{"users":[]}"#, |e| matches!(e, ParseError::NotAnArray(_))),
    ];
    for (path, body, check) in rows {
        let err = parse(Format::Json, *path, None, body).unwrap_err();
        assert!(check(&err), "{body:?} gave {err:?}");
    }
}

#[test]
fn oversize_items_are_refused_without_buffering_them() {
    let big = format!(r#"[{{"id":1}},{{"blob":"{}"}}]"#, "x".repeat(5000));
    let err = parse(Format::Json, None, None, &big).unwrap_err();
    assert_eq!(err, ParseError::ItemTooLarge { item: 2, limit: 1024 });
    let err = parse(Format::Ndjson, None, None, &format!("{{\"a\":1}}\n\"{}\"\n", "y".repeat(3000))).unwrap_err();
    assert_eq!(err, ParseError::ItemTooLarge { item: 2, limit: 1024 });
    let err = parse(Format::Csv, None, None, &format!("id,blob\n1,{}\n", "z".repeat(3000))).unwrap_err();
    assert_eq!(err, ParseError::ItemTooLarge { item: 1, limit: 1024 });
}

#[test]
fn deep_nesting_outside_items_is_refused_and_inside_items_is_fine() {
    let outside = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    assert!(matches!(parse(Format::Json, Some("/users"), None, &outside).unwrap_err(), ParseError::Malformed(_)));
    let inside = format!("[{}{}]", "[".repeat(200), "]".repeat(200));
    assert_eq!(items(Format::Json, None, &inside).len(), 1);
}

#[test]
fn ndjson() {
    assert_eq!(items(Format::Ndjson, None, "{\"a\":1}\n\n {\"b\":2} \r\n3"), ["{\"a\":1}", "{\"b\":2}", "3"]);
    assert_eq!(items(Format::Ndjson, None, ""), Vec::<String>::new());
    let err = parse(Format::Ndjson, None, None, "{\"a\":1}\n{\"b\":\n{\"c\":3}\n").unwrap_err();
    assert!(matches!(&err, ParseError::Malformed(m) if m.contains("line 2")), "{err}");
    assert_eq!(parse(Format::Ndjson, None, None, "{\"a\":1}\n{\"b\":").unwrap_err(), ParseError::Truncated);
}

#[test]
fn csv() {
    let body = "user_id,cluster,note\n1,gold,\"likes, commas\"\n2,silver,\"say \"\"hi\"\"\"\n\n3,bronze,\n";
    assert_eq!(
        items(Format::Csv, None, body),
        [
            r#"{"user_id":"1","cluster":"gold","note":"likes, commas"}"#,
            r#"{"user_id":"2","cluster":"silver","note":"say \"hi\""}"#,
            r#"{"user_id":"3","cluster":"bronze","note":""}"#,
        ]
    );
    assert_eq!(items(Format::Csv, None, "a,b\n1,2"), [r#"{"a":"1","b":"2"}"#], "no final newline");
    let err = parse(Format::Csv, None, None, "a,b\n1,2,3\n").unwrap_err();
    assert!(matches!(&err, ParseError::Malformed(m) if m.contains("3 fields, the header has 2")), "{err}");
    assert!(matches!(parse(Format::Csv, None, None, "").unwrap_err(), ParseError::Malformed(_)));
}

#[test]
fn json_agrees_with_serde_json_on_generated_documents() {
    // a small deterministic generator: nested values of every kind
    fn value(seed: &mut u64, depth: u32) -> serde_json::Value {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pick = (*seed >> 33) % if depth > 3 { 5 } else { 7 };
        match pick {
            0 => serde_json::Value::Null,
            1 => serde_json::json!((*seed >> 40).is_multiple_of(2)),
            2 => serde_json::json!((*seed >> 20) as i64 - (1 << 40)),
            3 => serde_json::json!(((*seed >> 30) as f64) / 7.0),
            4 => serde_json::json!(format!("s\"\\/\n{}é", *seed % 1000)),
            5 => serde_json::Value::Array((0..(*seed % 4)).map(|_| value(seed, depth + 1)).collect()),
            _ => serde_json::Value::Object(
                (0..(*seed % 4)).map(|i| (format!("k{i}\"~/"), value(seed, depth + 1))).collect(),
            ),
        }
    }
    let mut seed = 7;
    for _ in 0..200 {
        let list: Vec<serde_json::Value> = (0..(seed % 6)).map(|_| value(&mut seed, 0)).collect();
        let doc = serde_json::json!({"meta": value(&mut seed, 2), "page": {"items": list}, "next": "c"});
        let text =
            if seed.is_multiple_of(2) { serde_json::to_string(&doc) } else { serde_json::to_string_pretty(&doc) }
                .unwrap();
        let (got, end) = parse(Format::Json, Some("/page/items"), Some("/next"), &text).unwrap();
        let got: Vec<serde_json::Value> = got.iter().map(|i| serde_json::from_str(i).unwrap()).collect();
        // compare after the same text round trip on both sides (serde_json's float parsing is not exact)
        let want: Vec<serde_json::Value> =
            list.iter().map(|v| serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()).collect();
        assert_eq!(got, want, "{text}");
        assert_eq!(end.cursor, Some(serde_json::json!("c")));
        assert_eq!(end.items, list.len() as u64);
    }
}

#[test]
fn chunking_invariance_on_pseudo_random_inputs() {
    // the fuzz target's property, on inputs mutated from valid pages (a cheap stand-in for `cargo fuzz`)
    let seeds: [&[u8]; 4] = [
        br#"{"users":[{"id":1,"n":"a\"b"},[2,3],"x",null],"next":"c1"}"#,
        b"{\"a\":1}\n{\"b\":[1,2]}\n\n3\n",
        b"id,name\n1,\"x,y\"\n2,\"q\"\"q\"\n",
        b"[1, 2.5e3, true, {\"k\": {\"l\": []}}]",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let seed = seeds[(next() % 4) as usize];
        let mut data = vec![(next() & 0xff) as u8];
        data.extend_from_slice(seed);
        for _ in 0..(next() % 4) {
            let at = (next() as usize) % data.len();
            match next() % 3 {
                0 => data[at] = (next() & 0xff) as u8,
                1 => data.truncate(at.max(1)),
                _ => {
                    let specials = b"{}[],:\"\\\n";
                    data.insert(at, specials[(next() as usize) % specials.len()])
                }
            }
        }
        check_chunking_invariance(&data);
    }
}
