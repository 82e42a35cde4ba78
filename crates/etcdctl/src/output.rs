//! What etcdctl prints, byte for byte: the `simple` lines and the `json`
//! documents (Go's `encoding/json` of the protobuf structs: fields in
//! declaration order, zero values omitted, bytes in base64, `<>&` escaped),
//! Go's `Duration.String` for `took = ...`, and go-humanize's byte sizes
//! for `endpoint status`.
//!
//! Pure functions from responses to text; the commands decide when to
//! print and to which stream.

use std::fmt::Write as _;
use std::time::Duration;

use etcd_proto::etcdserverpb::ResponseHeader;
use etcd_proto::mvccpb::KeyValue;

/// `-w`: the output formats this etcdctl prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    /// Only for `member list` and `endpoint ...`, as in etcdctl; the KV
    /// commands refuse it after their request, with etcdctl's message.
    Table,
}

impl Format {
    /// `None` for a format etcdctl knows but this one does not print yet
    /// (`fields`, `protobuf`) as well as for unknown ones; both get
    /// etcdctl's "unsupported output format".
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "simple" => Some(Format::Simple),
            "json" => Some(Format::Json),
            "table" => Some(Format::Table),
            _ => None,
        }
    }
}

/// etcdctl's `-w table` (olekukonko/tablewriter as etcdctl sets it up):
/// headers centred, cells aligned right, one space of padding. Cells are
/// not wrapped (tablewriter wraps text with spaces past 30 columns).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let border: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let line =
        |cells: Vec<String>| cells.iter().map(|c| format!("| {c} ")).collect::<String>() + "|\n";
    let centred = header
        .iter()
        .zip(&widths)
        .map(|(h, w)| {
            let h = h.to_uppercase();
            let gap = w - h.chars().count();
            format!("{}{h}{}", " ".repeat(gap / 2), " ".repeat(gap - gap / 2))
        })
        .collect();
    let mut out = border.clone() + &line(centred) + &border;
    for row in rows {
        let cells = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        out.push_str(&line(cells));
    }
    out + &border
}

/// A key or value as `simple` prints it: the raw bytes (Go prints a
/// `string` of arbitrary bytes unchanged).
pub fn simple_kv(out: &mut Vec<u8>, kv: &KeyValue, value_only: bool) {
    if !value_only {
        out.extend_from_slice(&kv.key);
        out.push(b'\n');
    }
    out.extend_from_slice(&kv.value);
    out.push(b'\n');
}

/// Builds one JSON object as Go's `encoding/json` writes a struct with
/// `omitempty` fields.
#[derive(Default)]
pub struct Obj(String);

impl Obj {
    pub fn new() -> Obj {
        Obj::default()
    }

    fn key(&mut self, name: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    /// A number, omitted when zero.
    pub fn num(mut self, name: &str, value: impl Into<i128>) -> Obj {
        let value = value.into();
        if value != 0 {
            self.key(name);
            let _ = write!(self.0, "{value}");
        }
        self
    }

    /// A bool, omitted when false unless `always`.
    pub fn boolean(mut self, name: &str, value: bool, always: bool) -> Obj {
        if value || always {
            self.key(name);
            self.0.push_str(if value { "true" } else { "false" });
        }
        self
    }

    /// A string, omitted when empty unless `always`.
    pub fn string(mut self, name: &str, value: &str, always: bool) -> Obj {
        if !value.is_empty() || always {
            self.key(name);
            json_string(&mut self.0, value);
        }
        self
    }

    /// Bytes in standard base64, omitted when empty.
    pub fn bytes(mut self, name: &str, value: &[u8]) -> Obj {
        if !value.is_empty() {
            self.key(name);
            self.0.push('"');
            self.0.push_str(&base64(value));
            self.0.push('"');
        }
        self
    }

    /// A nested document (already JSON), omitted when `None`.
    pub fn raw(mut self, name: &str, value: Option<String>) -> Obj {
        if let Some(value) = value {
            self.key(name);
            self.0.push_str(&value);
        }
        self
    }

    /// A list of strings, omitted when empty.
    pub fn strings(mut self, name: &str, values: &[String]) -> Obj {
        if !values.is_empty() {
            let items: Vec<String> = values
                .iter()
                .map(|v| {
                    let mut s = String::new();
                    json_string(&mut s, v);
                    s
                })
                .collect();
            self.key(name);
            self.0.push_str(&array(items));
        }
        self
    }

    /// A list of documents, omitted when empty.
    pub fn list(self, name: &str, items: Vec<String>) -> Obj {
        if items.is_empty() {
            return self;
        }
        self.raw(name, Some(array(items)))
    }

    pub fn end(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// `[a,b]` of documents.
pub fn array(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

/// A response header as etcdctl's JSON shows it.
pub fn header_json(header: Option<&ResponseHeader>) -> Option<String> {
    header.map(|h| {
        Obj::new()
            .num("cluster_id", h.cluster_id)
            .num("member_id", h.member_id)
            .num("revision", h.revision)
            .num("raft_term", h.raft_term)
            .end()
    })
}

/// A key-value (`mvccpb.KeyValue`) as etcdctl's JSON shows it.
pub fn kv_json(kv: &KeyValue) -> String {
    Obj::new()
        .bytes("key", &kv.key)
        .num("create_revision", kv.create_revision)
        .num("mod_revision", kv.mod_revision)
        .num("version", kv.version)
        .bytes("value", &kv.value)
        .num("lease", kv.lease)
        .end()
}

/// A Go `string` in JSON, escaped as `encoding/json` does by default
/// (HTML-safe: `<`, `>`, `&` and U+2028/U+2029 as `\u` escapes).
pub fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding, as Go's JSON encodes `[]byte`.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `time.Duration.String()`: `2.164891ms`, `5.001359163s`, `1m0.5s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    // Below a second: one unit, with the fraction's trailing zeros cut.
    let fraction = |value: u128, per: u128, unit: &str| {
        let whole = value / per;
        let rest = value % per;
        if rest == 0 {
            return format!("{whole}{unit}");
        }
        let digits = per.ilog10() as usize;
        let frac = format!("{rest:0digits$}");
        format!("{whole}.{}{unit}", frac.trim_end_matches('0'))
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return fraction(nanos, 1_000_000, "ms");
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000, "s");
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// go-humanize's `Bytes` (SI units), as `endpoint status` shows the db size.
pub fn humanize_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let exp = ((size as f64).ln() / 1000f64.ln()).floor();
    let unit = UNITS[(exp as usize).min(UNITS.len() - 1)];
    let value = (size as f64 / 1000f64.powf(exp) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_look_like_tablewriters() {
        let rows = vec![
            vec![
                "127.0.0.1:23791".to_string(),
                "true".into(),
                "2.228916ms".into(),
                String::new(),
            ],
            vec![
                "127.0.0.1:1".to_string(),
                "false".into(),
                "1.001313141s".into(),
                "context deadline exceeded".into(),
            ],
        ];
        assert_eq!(
            table(&["endpoint", "health", "took", "error"], &rows),
            "+-----------------+--------+--------------+---------------------------+\n\
             |    ENDPOINT     | HEALTH |     TOOK     |           ERROR           |\n\
             +-----------------+--------+--------------+---------------------------+\n\
             | 127.0.0.1:23791 |   true |   2.228916ms |                           |\n\
             |     127.0.0.1:1 |  false | 1.001313141s | context deadline exceeded |\n\
             +-----------------+--------+--------------+---------------------------+\n"
        );
    }

    #[test]
    fn durations_print_as_go() {
        let ns = Duration::from_nanos;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(ns(999)), "999ns");
        assert_eq!(go_duration(ns(1_500)), "1.5µs");
        assert_eq!(go_duration(ns(2_164_891)), "2.164891ms");
        assert_eq!(go_duration(ns(11_000_000)), "11ms");
        assert_eq!(go_duration(ns(5_001_359_163)), "5.001359163s");
        assert_eq!(go_duration(ns(1_000_000_000)), "1s");
        assert_eq!(go_duration(ns(60_500_000_000)), "1m0.5s");
        assert_eq!(go_duration(ns(3_723_000_000_000)), "1h2m3s");
    }

    #[test]
    fn sizes_print_as_go_humanize() {
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(24_576), "25 kB");
        assert_eq!(humanize_bytes(16_384), "16 kB");
        assert_eq!(humanize_bytes(1_500), "1.5 kB");
        assert_eq!(humanize_bytes(2_097_152), "2.1 MB");
    }

    #[test]
    fn json_matches_etcdctl() {
        let header = ResponseHeader {
            cluster_id: 15118495548433857066,
            member_id: 1,
            revision: 0,
            raft_term: 2,
        };
        assert_eq!(
            header_json(Some(&header)).unwrap(),
            r#"{"cluster_id":15118495548433857066,"member_id":1,"raft_term":2}"#
        );
        let kv = KeyValue {
            key: b"foo".to_vec(),
            value: b"bar2".to_vec(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 0,
        };
        assert_eq!(
            kv_json(&kv),
            r#"{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFyMg=="}"#
        );
        let mut s = String::new();
        json_string(&mut s, "a<b>&\"\n\u{1}");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"\n\u0001""#);
        assert_eq!(Obj::new().end(), "{}");
    }

    #[test]
    fn simple_kv_is_raw_lines() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ..KeyValue::default()
        };
        let mut out = Vec::new();
        simple_kv(&mut out, &kv, false);
        simple_kv(&mut out, &kv, true);
        assert_eq!(out, b"k\nv\nv\n");
    }
}
