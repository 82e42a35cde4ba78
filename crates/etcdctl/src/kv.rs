//! `put`, `get` and `del`: their arguments and flags turned into one KV
//! request each (with etcdctl's checks and messages, in its order), the
//! call, and the response printed in `simple` or `json`.
//!
//! The key-range rules (`--prefix`, `--from-key`, an empty key) are those
//! of etcd's Go client, which etcdctl builds its requests with.

use std::io::{Read, Write};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
};

use crate::cli::Global;
use crate::connect::{connect, failed, within};
use crate::flags::{self, Parsed};
use crate::output::{self, header_json, kv_json, Format, Obj};
use crate::{CtlError, Exit, EXIT_BAD_FEATURE};

const GET_ARGS: &str =
    "get command needs one argument as key and an optional argument as range_end";
const PUT_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
const DEL_ARGS: &str =
    "del command needs one argument as key and an optional argument as range_end";
const PREFIX_AND_FROM_KEY: &str =
    "`--prefix` and `--from-key` cannot be set at the same time, choose one";
const TOO_MANY: &str =
    "too many arguments, only accept one argument when `--prefix` or `--from-key` is set";

/// The range a key and the flags select: `(key, range_end)`.
pub fn key_range(
    key: &str,
    range_end: Option<&str>,
    prefix: bool,
    from_key: bool,
) -> (Vec<u8>, Vec<u8>) {
    let mut key = key.as_bytes().to_vec();
    let mut end = range_end.map(|e| e.as_bytes().to_vec()).unwrap_or_default();
    if prefix {
        if key.is_empty() {
            // Everything: the Go client's from-key on "\0".
            key = vec![0];
            end = vec![0];
        } else {
            end = prefix_end(&key);
        }
    }
    if from_key {
        if key.is_empty() {
            key = vec![0];
        }
        end = vec![0];
    }
    (key, end)
}

/// The first key after every key starting with `prefix`; `"\0"` (to the
/// end of the keyspace) when there is none (all bytes 0xff).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Checks shared by `get` and `del`: the flags that exclude each other.
fn check_range_flags(args: &[String], prefix: bool, from_key: bool) -> Result<(), CtlError> {
    if prefix && from_key {
        return Err(CtlError::bad_args(PREFIX_AND_FROM_KEY));
    }
    if args.len() > 1 && (prefix || from_key) {
        return Err(CtlError::bad_args(TOO_MANY));
    }
    Ok(())
}

fn int_flag(parsed: &Parsed, name: &str) -> i64 {
    parsed
        .get(name)
        .and_then(|v| flags::parse_int(v).ok())
        .unwrap_or(0)
}

/// Go's `strconv.ParseInt(text, 16, 64)` for `--lease`, with etcdctl's
/// message around its error.
pub fn parse_lease(text: &str) -> Result<i64, CtlError> {
    let bad = |why: &str| {
        CtlError::bad_args(format!(
            "bad lease ID (strconv.ParseInt: parsing {}: {why}), expecting ID in Hex",
            flags::go_quote(text)
        ))
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("invalid syntax"));
    }
    let magnitude = u64::from_str_radix(digits, 16).map_err(|_| bad("value out of range"))?;
    let limit = if negative {
        1u64 << 63
    } else {
        (1u64 << 63) - 1
    };
    if magnitude > limit {
        return Err(bad("value out of range"));
    }
    Ok(if negative {
        (magnitude as i64).wrapping_neg()
    } else {
        magnitude as i64
    })
}

pub async fn put(global: &Global, parsed: &Parsed) -> Result<Exit, CtlError> {
    let args = &parsed.args;
    let Some(key) = args.first() else {
        return Err(CtlError::bad_args(PUT_ARGS));
    };
    let value = match args.get(1) {
        Some(value) => value.clone().into_bytes(),
        None => {
            // etcdctl reads the value from stdin when it is not an argument.
            let mut value = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut value);
            if value.is_empty() {
                return Err(CtlError::bad_args(PUT_ARGS));
            }
            value
        }
    };
    let lease = parse_lease(parsed.get("lease").unwrap_or("0"))?;
    let format = global.format()?;
    let request = PutRequest {
        key: key.clone().into_bytes(),
        value,
        lease,
        prev_kv: parsed.flag("prev-kv"),
        ..PutRequest::default()
    };
    let settings = &global.settings;
    let response = within(settings.command_timeout, async {
        let conn = connect(settings, &settings.endpoints).await?;
        KvClient::new(conn).put(request).await.map_err(failed)
    })
    .await?
    .into_inner();
    write_out(&print_put(&response, format)?);
    Ok(0)
}

pub fn print_put(response: &PutResponse, format: Format) -> Result<Vec<u8>, CtlError> {
    let mut out = Vec::new();
    match format {
        Format::Table => return Err(no_table()),
        Format::Simple => {
            out.extend_from_slice(b"OK\n");
            if let Some(kv) = &response.prev_kv {
                output::simple_kv(&mut out, kv, false);
            }
        }
        Format::Json => {
            let json = Obj::new()
                .raw("header", header_json(response.header.as_ref()))
                .raw("prev_kv", response.prev_kv.as_ref().map(kv_json))
                .end();
            out.extend_from_slice(json.as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// `--order` and `--sort-by` (either case), as the Go client sends them:
/// ascending by key is the server's own order, so it is sent as none.
pub fn sort(order: &str, target: &str) -> Result<(SortOrder, SortTarget), CtlError> {
    let bad = |what: &str, value: &str| {
        CtlError::new(EXIT_BAD_FEATURE, format!("bad sort {what} {value}"))
    };
    let sort_order = match order.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => return Err(bad("order", order)),
    };
    let sort_target = match target.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => return Err(bad("target", target)),
    };
    if sort_target == SortTarget::Key && sort_order == SortOrder::Ascend {
        return Ok((SortOrder::None, sort_target));
    }
    Ok((sort_order, sort_target))
}

pub async fn get(global: &Global, parsed: &Parsed) -> Result<Exit, CtlError> {
    let args = &parsed.args;
    let Some(key) = args.first() else {
        return Err(CtlError::bad_args(GET_ARGS));
    };
    let (prefix, from_key) = (parsed.flag("prefix"), parsed.flag("from-key"));
    if prefix && from_key {
        return Err(CtlError::bad_args(PREFIX_AND_FROM_KEY));
    }
    let serializable = match parsed.get("consistency").unwrap_or("l") {
        "l" => false,
        "s" => true,
        other => {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {}", flags::go_quote(other)),
            ))
        }
    };
    check_range_flags(args, prefix, from_key)?;
    let (sort_order, sort_target) = sort(
        parsed.get("order").unwrap_or(""),
        parsed.get("sort-by").unwrap_or(""),
    )?;
    if parsed.flag("count-only") {
        // etcdctl 3.5 prints a bare count only in the `fields` format,
        // which this etcdctl does not have.
        return Err(CtlError::bad_args(
            "--count-only is only for `--write-out=fields`",
        ));
    }
    let format = global.format()?;
    let (key, range_end) = key_range(key, args.get(1).map(String::as_str), prefix, from_key);
    let request = RangeRequest {
        key,
        range_end,
        limit: int_flag(parsed, "limit"),
        revision: int_flag(parsed, "rev").max(0),
        keys_only: parsed.flag("keys-only"),
        serializable,
        sort_order: sort_order as i32,
        sort_target: sort_target as i32,
        ..RangeRequest::default()
    };
    let settings = &global.settings;
    let response = within(settings.command_timeout, async {
        let conn = connect(settings, &settings.endpoints).await?;
        KvClient::new(conn).range(request).await.map_err(failed)
    })
    .await?
    .into_inner();
    let value_only = parsed.flag("print-value-only");
    if value_only && format != Format::Simple {
        return Err(CtlError::bad_args(
            "print-value-only is only for `--write-out=simple`",
        ));
    }
    write_out(&print_get(&response, format, value_only)?);
    Ok(0)
}

pub fn print_get(
    response: &RangeResponse,
    format: Format,
    value_only: bool,
) -> Result<Vec<u8>, CtlError> {
    let mut out = Vec::new();
    match format {
        Format::Table => return Err(no_table()),
        Format::Simple => {
            for kv in &response.kvs {
                output::simple_kv(&mut out, kv, value_only);
            }
        }
        Format::Json => {
            let json = Obj::new()
                .raw("header", header_json(response.header.as_ref()))
                .list("kvs", response.kvs.iter().map(kv_json).collect())
                .boolean("more", response.more, false)
                .num("count", response.count)
                .end();
            out.extend_from_slice(json.as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out)
}

pub async fn del(global: &Global, parsed: &Parsed) -> Result<Exit, CtlError> {
    let args = &parsed.args;
    if args.is_empty() || args.len() > 2 {
        return Err(CtlError::bad_args(DEL_ARGS));
    }
    let (prefix, from_key) = (parsed.flag("prefix"), parsed.flag("from-key"));
    check_range_flags(args, prefix, from_key)?;
    let format = global.format()?;
    let (key, range_end) = key_range(&args[0], args.get(1).map(String::as_str), prefix, from_key);
    let request = DeleteRangeRequest {
        key,
        range_end,
        prev_kv: parsed.flag("prev-kv"),
    };
    let settings = &global.settings;
    let response = within(settings.command_timeout, async {
        let conn = connect(settings, &settings.endpoints).await?;
        KvClient::new(conn)
            .delete_range(request)
            .await
            .map_err(failed)
    })
    .await?
    .into_inner();
    write_out(&print_del(&response, format)?);
    Ok(0)
}

pub fn print_del(response: &DeleteRangeResponse, format: Format) -> Result<Vec<u8>, CtlError> {
    let mut out = Vec::new();
    match format {
        Format::Table => return Err(no_table()),
        Format::Simple => {
            out.extend_from_slice(format!("{}\n", response.deleted).as_bytes());
            for kv in &response.prev_kvs {
                output::simple_kv(&mut out, kv, false);
            }
        }
        Format::Json => {
            let json = Obj::new()
                .raw("header", header_json(response.header.as_ref()))
                .num("deleted", response.deleted)
                .list("prev_kvs", response.prev_kvs.iter().map(kv_json).collect())
                .end();
            out.extend_from_slice(json.as_bytes());
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// etcdctl's table printer has no KV tables; it says so after the request.
fn no_table() -> CtlError {
    CtlError::new(EXIT_BAD_FEATURE, "table not supported as output format")
}

fn write_out(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::ResponseHeader;
    use etcd_proto::mvccpb::KeyValue;

    #[test]
    fn ranges_follow_the_go_client() {
        assert_eq!(key_range("a", None, false, false), (b"a".to_vec(), vec![]));
        assert_eq!(
            key_range("a", Some("c"), false, false),
            (b"a".to_vec(), b"c".to_vec())
        );
        assert_eq!(
            key_range("/users/", None, true, false),
            (b"/users/".to_vec(), b"/users0".to_vec())
        );
        assert_eq!(key_range("", None, true, false), (vec![0], vec![0]));
        assert_eq!(key_range("b", None, false, true), (b"b".to_vec(), vec![0]));
        assert_eq!(key_range("", None, false, true), (vec![0], vec![0]));
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
    }

    #[test]
    fn sorting_is_the_go_clients() {
        assert_eq!(sort("", "").unwrap(), (SortOrder::None, SortTarget::Key));
        assert_eq!(
            sort("ascend", "key").unwrap(),
            (SortOrder::None, SortTarget::Key)
        );
        assert_eq!(
            sort("DESCEND", "modify").unwrap(),
            (SortOrder::Descend, SortTarget::Mod)
        );
        assert_eq!(sort("x", "").unwrap_err().message, "bad sort order x");
        assert_eq!(sort("", "y").unwrap_err().code, EXIT_BAD_FEATURE);
    }

    #[test]
    fn leases_are_hex() {
        assert_eq!(parse_lease("0").unwrap(), 0);
        assert_eq!(parse_lease("694d7a3b2c1e0f11").unwrap(), 0x694d7a3b2c1e0f11);
        assert_eq!(
            parse_lease("zz").unwrap_err().message,
            "bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex"
        );
        assert_eq!(parse_lease("zz").unwrap_err().code, crate::EXIT_BAD_ARGS);
    }

    fn header() -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 7,
            member_id: 8,
            revision: 3,
            raft_term: 2,
        })
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 2,
            mod_revision: 3,
            version: 1,
            lease: 0,
        }
    }

    #[test]
    fn printers_match_etcdctl() {
        let put = PutResponse {
            header: header(),
            prev_kv: Some(kv("x", "y")),
        };
        assert_eq!(print_put(&put, Format::Simple).unwrap(), b"OK\nx\ny\n");
        assert_eq!(
            String::from_utf8(print_put(&put, Format::Json).unwrap()).unwrap(),
            "{\"header\":{\"cluster_id\":7,\"member_id\":8,\"revision\":3,\"raft_term\":2},\"prev_kv\":{\"key\":\"eA==\",\"create_revision\":2,\"mod_revision\":3,\"version\":1,\"value\":\"eQ==\"}}\n"
        );
        let empty = RangeResponse {
            header: header(),
            ..RangeResponse::default()
        };
        assert_eq!(
            String::from_utf8(print_get(&empty, Format::Json, false).unwrap()).unwrap(),
            "{\"header\":{\"cluster_id\":7,\"member_id\":8,\"revision\":3,\"raft_term\":2}}\n"
        );
        let two = RangeResponse {
            header: header(),
            kvs: vec![kv("a", "1"), kv("b", "2")],
            more: true,
            count: 3,
        };
        assert_eq!(print_get(&two, Format::Simple, true).unwrap(), b"1\n2\n");
        assert!(
            String::from_utf8(print_get(&two, Format::Json, false).unwrap())
                .unwrap()
                .ends_with(",\"more\":true,\"count\":3}\n")
        );
        let del = DeleteRangeResponse {
            header: header(),
            deleted: 1,
            prev_kvs: vec![kv("a", "1")],
        };
        assert_eq!(print_del(&del, Format::Simple).unwrap(), b"1\na\n1\n");
        assert_eq!(
            print_del(&del, Format::Table).unwrap_err().code,
            EXIT_BAD_FEATURE
        );
    }
}
