//! The command line as etcdctl's libraries (cobra and pflag) read it.
//!
//! Owns splitting argv into flags and positional arguments (GNU style,
//! flags anywhere, `--` ends them), checking each flag's value as pflag
//! does (with pflag's error messages, which etcdctl prints verbatim), Go's
//! `time.ParseDuration`, and the flag table of a usage text. Does not know
//! which command runs or what a flag means: see `cli`.

use std::collections::HashMap;
use std::time::Duration;

/// A flag's value type, which decides how pflag parses and prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--x`, `--x=true|false`; never takes the next argument.
    Bool,
    Str,
    /// A Go `int64`.
    Int,
    /// A Go `time.Duration` (`5s`, `1m30s`).
    Duration,
    /// pflag's `StringSlice`: comma-separated, repeatable.
    List,
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// The default as pflag prints it in the usage (`5s`, `false`, ``).
    pub default: &'static str,
    pub usage: &'static str,
}

impl Spec {
    pub const fn new(
        name: &'static str,
        kind: Kind,
        default: &'static str,
        usage: &'static str,
    ) -> Spec {
        Spec {
            name,
            short: None,
            kind,
            default,
            usage,
        }
    }

    pub const fn short(mut self, short: char) -> Spec {
        self.short = Some(short);
        self
    }
}

/// Flags given on the command line, by name, and the positional arguments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Each flag's last value; a `List` flag's values joined by commas.
    pub values: HashMap<&'static str, String>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A `Bool` flag; the value was checked while parsing.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| parse_bool(v) == Some(true))
    }
}

/// Parses `args` against `specs`, as pflag does with interspersed flags.
/// The error is pflag's message (etcdctl prints it after `Error: `).
pub fn parse(specs: &[Spec], args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            parsed.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("unknown flag: --{name}"))?;
            let value = match (inline, spec.kind) {
                (Some(value), _) => value,
                (None, Kind::Bool) => "true".to_string(),
                (None, _) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (None, _) => return Err(format!("flag needs an argument: --{name}")),
            };
            set(&mut parsed, spec, &format!("--{name}"), value)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            // A cluster of shorthands: `-w json`, `-wjson`, `-w=json`.
            let shorts = &arg[1..];
            for (at, c) in shorts.char_indices() {
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {arg}"))?;
                let rest = &shorts[at + c.len_utf8()..];
                let shown = format!("-{c}");
                if spec.kind == Kind::Bool {
                    match rest.strip_prefix('=') {
                        Some(value) => {
                            set(&mut parsed, spec, &shown, value.to_string())?;
                            break;
                        }
                        None => set(&mut parsed, spec, &shown, "true".to_string())?,
                    }
                    continue;
                }
                let value = if let Some(value) = rest.strip_prefix('=') {
                    value.to_string()
                } else if !rest.is_empty() {
                    rest.to_string()
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("flag needs an argument: '{c}' in {arg}"));
                };
                set(&mut parsed, spec, &shown, value)?;
                break;
            }
        } else {
            parsed.args.push(arg.clone());
        }
    }
    Ok(parsed)
}

/// Checks `value` as pflag's `Set` would and records it.
fn set(parsed: &mut Parsed, spec: &Spec, shown: &str, value: String) -> Result<(), String> {
    let invalid = |why: String| format!("invalid argument {value:?} for \"{shown}\" flag: {why}");
    match spec.kind {
        Kind::Bool if parse_bool(&value).is_none() => {
            return Err(invalid(format!(
                "strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(&value)
            )))
        }
        Kind::Int => {
            if let Err(why) = parse_int(&value) {
                return Err(invalid(why));
            }
        }
        Kind::Duration => {
            if let Err(why) = parse_duration(&value) {
                return Err(invalid(why));
            }
        }
        _ => {}
    }
    if spec.kind == Kind::List {
        // pflag: the first use replaces the default, later ones append.
        if let Some(earlier) = parsed.values.get_mut(spec.name) {
            earlier.push(',');
            earlier.push_str(&value);
            return Ok(());
        }
    }
    parsed.values.insert(spec.name, value);
    Ok(())
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(value, 0, 64)` for decimal input, with its errors.
pub fn parse_int(value: &str) -> Result<i64, String> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(value)
        ));
    }
    value.parse().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(value)
        )
    })
}

/// Go's `time.ParseDuration`, for the non-negative durations a timeout
/// takes (a negative one is refused as invalid).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(text));
    let mut s = text.strip_prefix('+').unwrap_or(text);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let number_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let number = &s[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        s = &s[number_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let nanos_per = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(text))),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(text)
                ))
            }
        };
        let value: f64 = number.parse().map_err(|_| invalid())?;
        total += value * nanos_per;
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Go's `%q` for the plain text flags carry: quotes, escaping `"` and `\`.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The flag table of a usage text, as pflag's `FlagUsages` lays it out
/// through Go's tabwriter (cells padded with tabs to a common column).
pub fn usage_table(specs: &[Spec]) -> String {
    let mut specs = specs.to_vec();
    specs.sort_by_key(|s| s.name);
    let cells: Vec<(String, &str)> = specs
        .iter()
        .map(|s| {
            let short = match s.short {
                Some(c) => format!("  -{c}, "),
                None => "      ".to_string(),
            };
            let default = match s.kind {
                Kind::Bool => format!("[={}]", s.default),
                Kind::Str => format!("=\"{}\"", s.default),
                Kind::List => format!("=[{}]", s.default),
                Kind::Int | Kind::Duration => format!("={}", s.default),
            };
            (format!("{short}--{}{default}", s.name), s.usage)
        })
        .collect();
    // Go's tabwriter: minwidth 1, tabwidth 8, padding 1, padded with tabs.
    let width = cells
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    let column = width.div_ceil(8) * 8;
    let mut out = String::new();
    for (cell, usage) in cells {
        let tabs = (column - cell.chars().count()).div_ceil(8);
        out.push_str(&cell);
        out.push_str(&"\t".repeat(tabs));
        out.push_str(usage);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        Spec::new("prefix", Kind::Bool, "false", "p"),
        Spec::new("limit", Kind::Int, "0", "l"),
        Spec::new("write-out", Kind::Str, "simple", "w").short('w'),
        Spec::new("endpoints", Kind::List, "127.0.0.1:2379", "e"),
        Spec::new("dial-timeout", Kind::Duration, "2s", "d"),
    ];

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_go_anywhere_and_double_dash_ends_them() {
        let p = parse(
            SPECS,
            &args(&[
                "a", "--prefix", "--limit", "3", "b", "-w", "json", "--", "-k",
            ]),
        )
        .unwrap();
        assert_eq!(p.args, args(&["a", "b", "-k"]));
        assert!(p.flag("prefix"));
        assert_eq!(p.get("limit"), Some("3"));
        assert_eq!(p.get("write-out"), Some("json"));
    }

    #[test]
    fn values_take_every_pflag_form() {
        for form in [
            &["-wjson"][..],
            &["-w=json"],
            &["--write-out=json"],
            &["--write-out", "json"],
        ] {
            assert_eq!(
                parse(SPECS, &args(form)).unwrap().get("write-out"),
                Some("json")
            );
        }
        let p = parse(SPECS, &args(&["--prefix=false"])).unwrap();
        assert!(!p.flag("prefix"));
        let p = parse(SPECS, &args(&["--endpoints=a,b", "--endpoints", "c"])).unwrap();
        assert_eq!(p.get("endpoints"), Some("a,b,c"));
    }

    #[test]
    fn errors_are_pflags() {
        let err = |list: &[&str]| parse(SPECS, &args(list)).unwrap_err();
        assert_eq!(err(&["--foo"]), "unknown flag: --foo");
        assert_eq!(err(&["-x"]), "unknown shorthand flag: 'x' in -x");
        assert_eq!(err(&["--limit"]), "flag needs an argument: --limit");
        assert_eq!(err(&["-w"]), "flag needs an argument: 'w' in -w");
        assert_eq!(
            err(&["--limit=abc"]),
            "invalid argument \"abc\" for \"--limit\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            err(&["--prefix=yes"]),
            "invalid argument \"yes\" for \"--prefix\" flag: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            err(&["--dial-timeout=1"]),
            "invalid argument \"1\" for \"--dial-timeout\" flag: time: missing unit in duration \"1\""
        );
        assert_eq!(
            err(&["--dial-timeout=abc"]),
            "invalid argument \"abc\" for \"--dial-timeout\" flag: time: invalid duration \"abc\""
        );
    }

    #[test]
    fn durations_parse_as_go() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration("3x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"3x\""
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn usage_pads_with_tabs_like_gos_tabwriter() {
        let table = usage_table(&[
            Spec::new("cacert", Kind::Str, "", "verify"),
            Spec::new("insecure-skip-tls-verify", Kind::Bool, "false", "skip"),
            Spec::new("write-out", Kind::Str, "simple", "format").short('w'),
        ]);
        assert_eq!(
            table,
            "      --cacert=\"\"\t\t\t\tverify\n\
             \x20     --insecure-skip-tls-verify[=false]\tskip\n\
             \x20 -w, --write-out=\"simple\"\t\t\tformat\n"
        );
    }
}
