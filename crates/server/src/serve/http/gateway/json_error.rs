//! Reading a JSON request as the gateway reads it, with Go's wording when
//! it cannot: etcd's gateway decodes with Go's `encoding/json` (through
//! jsonpb), and its error text is what a client sees in the `message` of a
//! 400 answer (`invalid character 'g' looking for beginning of value`,
//! `json: cannot unmarshal number into Go value of type []uint8`, `illegal
//! base64 data at input byte 0`).
//!
//! The decoding itself is pbjson's (the generated serde impls); this module
//! only frames it as grpc-gateway does (an empty body is an empty request;
//! only the first JSON value counts) and rewords serde's errors. Wordings
//! with no Go counterpart we can derive pass through as serde's.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// Decodes the first JSON value of `body` as `T`; an empty body is `T`'s
/// default (grpc-gateway treats EOF as an empty message).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    // Syntax first, of the whole value, as Go's decoder reads it before
    // unmarshalling, so a syntax error names its character as Go's scanner
    // does; then the value as the message.
    let mut value = match serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next()
    {
        Some(Ok(value)) => value,
        Some(Err(e)) => return Err(syntax_error(body, &e)),
        None => serde_json::Value::Null,
    };
    // A field set to `null` is unset for Go's unmarshaler; pbjson refuses
    // it for scalars. Such a body is read from the value (whose errors have
    // no position), every other from the text (whose errors do).
    if drop_nulls(&mut value) {
        return T::deserialize(value).map_err(|e| data_error(body, &e));
    }
    T::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(|e| data_error(body, &e))
}

/// Removes every object member whose value is `null`, at any depth; whether
/// there was one.
fn drop_nulls(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(members) => {
            let before = members.len();
            members.retain(|_, v| !v.is_null());
            let mut dropped = members.len() != before;
            for member in members.values_mut() {
                dropped |= drop_nulls(member);
            }
            dropped
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |d, i| drop_nulls(i) | d),
        _ => false,
    }
}

/// serde_json's syntax errors (by the start of their text) and where Go's
/// scanner says it was when it met the same character.
const SYNTAX_CONTEXTS: &[(&str, &str)] = &[
    (
        "key must be a string",
        "looking for beginning of object key string",
    ),
    (
        "trailing comma",
        "looking for beginning of object key string",
    ),
    ("expected `:`", "after object key"),
    ("expected `,` or `}`", "after object key:value pair"),
    ("expected `,` or `]`", "after array element"),
    ("invalid number", "in numeric literal"),
    ("invalid escape", "in string escape code"),
    ("control character", "in string literal"),
];

/// serde's names of a JSON value's kind (the start of what follows
/// "invalid type: ") and Go's.
const VALUE_KINDS: &[(&str, &str)] = &[
    ("integer", "number"),
    ("floating point", "number"),
    ("string", "string"),
    ("boolean", "bool"),
    ("map", "object"),
    ("sequence", "array"),
];

/// What pbjson's visitors expect, and the Go type of such a field.
const GO_TYPES: &[(&str, &str)] = &[
    ("a base64 string", "[]uint8"),
    ("a string", "string"),
    ("a boolean", "bool"),
];

/// The value of the first entry of `table` whose key starts `text`.
fn by_prefix<'a>(text: &str, table: &[(&str, &'a str)]) -> Option<&'a str> {
    table
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix))
        .map(|(_, value)| *value)
}

/// Go's scanner error for a body that is not JSON.
fn syntax_error(body: &[u8], error: &serde_json::Error) -> String {
    if error.classify() == Category::Eof {
        return "unexpected EOF".to_string();
    }
    let text = error.to_string();
    let context = by_prefix(&text, SYNTAX_CONTEXTS).unwrap_or("looking for beginning of value");
    match offending_byte(body, error.line(), error.column()) {
        Some(byte) => format!("invalid character {} {context}", go_quoted_char(byte)),
        None => text,
    }
}

/// The offset of serde's (1-based) line and column in `body`.
fn offset(body: &[u8], line: usize, column: usize) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        body.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    Some(line_start + column.checked_sub(1)?)
}

/// The byte at serde's line and column.
fn offending_byte(body: &[u8], line: usize, column: usize) -> Option<u8> {
    body.get(offset(body, line, column)?).copied()
}

/// The contents of the string literal that ends at serde's line and column
/// (where it reports an error in a string's value).
fn string_before(body: &[u8], line: usize, column: usize) -> Option<&[u8]> {
    let end = offset(body, line, column)?.min(body.len().checked_sub(1)?);
    let close = body[..=end].iter().rposition(|b| *b == b'"')?;
    let open = body[..close].iter().rposition(|b| *b == b'"')?;
    Some(&body[open + 1..close])
}

/// A character as Go's `quoteChar` prints it in scanner errors.
fn go_quoted_char(byte: u8) -> String {
    match byte {
        b'\'' => r"'\''".to_string(),
        b'"' => r#"'"'"#.to_string(),
        0x20..=0x7e => format!("'{}'", byte as char),
        _ => format!("'\\x{byte:02x}'"),
    }
}

/// Go's wording of a JSON value that does not fit the message's field.
fn data_error(body: &[u8], error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends the position; Go's texts have none.
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    // A 64-bit integer given as a string that is no number: jsonpb parses
    // the string's contents as JSON, so Go's scanner words it.
    if text == "invalid digit found in string" || text == "cannot parse integer from empty string" {
        return match string_before(body, error.line(), error.column()) {
            Some(contents) => match contents.first() {
                Some(&byte) => format!(
                    "invalid character {} looking for beginning of value",
                    go_quoted_char(byte)
                ),
                None => "unexpected end of JSON input".to_string(),
            },
            None => text.to_string(),
        };
    }
    // The base64 crate's "Invalid symbol 33, offset 0." and friends.
    if let Some(offset) = text
        .split("offset ")
        .nth(1)
        .and_then(|rest| rest.trim_end_matches('.').parse::<usize>().ok())
    {
        return format!("illegal base64 data at input byte {offset}");
    }
    // serde's "invalid type: integer `5`, expected a base64 string".
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        let expected = rest.rsplit("expected ").next().unwrap_or_default();
        let (Some(found), Some(go_type)) = (
            by_prefix(rest, VALUE_KINDS),
            GO_TYPES
                .iter()
                .find(|(e, _)| *e == expected)
                .map(|(_, t)| *t),
        ) else {
            return text.to_string();
        };
        return format!("json: cannot unmarshal {found} into Go value of type {go_type}");
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{PutRequest, RangeRequest};

    fn error(body: &str) -> String {
        decode::<PutRequest>(body.as_bytes()).unwrap_err()
    }

    /// Every expected text was read from etcd 3.4.23's gateway.
    #[test]
    fn errors_read_as_gos() {
        assert_eq!(
            error("garbage"),
            "invalid character 'g' looking for beginning of value"
        );
        assert_eq!(
            error(r#"{"key":5}"#),
            "json: cannot unmarshal number into Go value of type []uint8"
        );
        assert_eq!(
            error(r#"{"key":"!!"}"#),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            error("{\n \"key\": x}"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            error(r#"{"key" "Zm9v"}"#),
            "invalid character '\"' after object key"
        );
        assert_eq!(error(r#"{"key":"#), "unexpected EOF");
        assert_eq!(
            error(r#"{"key":"Zm9v",}"#),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(
            error(r#"{"key":"Zm9v" 1}"#),
            "invalid character '1' after object key:value pair"
        );
        assert_eq!(
            error(r#"{"key":"a\q"}"#),
            "invalid character 'q' in string escape code"
        );
        assert_eq!(
            error(r#"{"prev_kv":"x"}"#),
            "json: cannot unmarshal string into Go value of type bool"
        );
        assert_eq!(
            error(r#"{"value":{}}"#),
            "json: cannot unmarshal object into Go value of type []uint8"
        );
    }

    #[test]
    fn a_string_that_is_no_number_reads_as_gos() {
        let error = |body: &str| decode::<RangeRequest>(body.as_bytes()).unwrap_err();
        assert_eq!(
            error(r#"{"key":"Zm9v","limit":"abc"}"#),
            "invalid character 'a' looking for beginning of value"
        );
        assert_eq!(
            error(r#"{"limit":"", "key":"Zm9v"}"#),
            "unexpected end of JSON input"
        );
        assert_eq!(
            decode::<RangeRequest>(br#"{"limit":"5"}"#).unwrap().limit,
            5
        );
    }

    #[test]
    fn framing_is_grpc_gateways() {
        assert_eq!(decode::<PutRequest>(b"").unwrap(), PutRequest::default());
        assert_eq!(decode::<PutRequest>(b" \n").unwrap(), PutRequest::default());
        // Only the first value counts; unknown fields are ignored.
        let put: PutRequest = decode(br#"{"key":"Zm9v","nope":1} trailing"#).unwrap();
        assert_eq!(put.key, b"foo");
    }
}
