//! Scalar value syntax shared by flags, `ETCD_*` variables and error messages.
//!
//! etcd reads its flags with Go's `flag` package, so the accepted spellings
//! are Go's: booleans as `strconv.ParseBool` takes them, integers with an
//! optional `0x`/`0o`/`0b`/`0` base prefix, durations like `1h30m` or `250ms`.
//! This module owns those parsers, Go-style duration formatting (used by help
//! text and messages) and Go-style `%q` quoting. It does not know any flag.

use std::time::Duration;

/// The reason Go's `flag` package gives for a malformed number, duration or
/// boolean; etcd prints it verbatim after the flag name.
pub(crate) const PARSE_ERROR: &str = "parse error";
/// The reason for a number that does not fit the flag's type.
pub(crate) const RANGE_ERROR: &str = "value out of range";

/// Parses a boolean the way `strconv.ParseBool` does.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(PARSE_ERROR.to_string()),
    }
}

/// Why a number failed to parse; the two cases print differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    Syntax,
    Range,
}

impl NumError {
    /// The reason as Go's `flag` package words it.
    pub(crate) fn reason(self) -> String {
        match self {
            NumError::Syntax => PARSE_ERROR.to_string(),
            NumError::Range => RANGE_ERROR.to_string(),
        }
    }
}

/// Splits a base prefix off an unsigned literal (Go's base-0 rules).
fn split_base(s: &str) -> (u32, &str) {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => (16, &s[2..]),
        Some("0o") => (8, &s[2..]),
        Some("0b") => (2, &s[2..]),
        _ if s.len() > 1 && s.starts_with('0') => (8, &s[1..]),
        _ => (10, s),
    }
}

/// Parses an unsigned integer with Go's base-0 syntax into at most `bits` bits.
pub(crate) fn parse_uint(s: &str, bits: u32) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (base, digits) = split_base(s);
    // Go accepts `_` between digits only when a base prefix or plain
    // decimal is used with base 0; reject leading/trailing/double ones.
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(NumError::Syntax);
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(base).ok_or(NumError::Syntax)?;
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    if overflow || value > max {
        return Err(NumError::Range);
    }
    Ok(value)
}

/// Parses a signed 64-bit integer with Go's base-0 syntax.
pub(crate) fn parse_int(s: &str) -> Result<i64, NumError> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(body, 64)?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Err(NumError::Range);
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| NumError::Range)
    }
}

/// Parses a decimal `int` the way `strconv.Atoi` does (no base prefixes).
pub(crate) fn atoi(s: &str) -> Option<i64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a Go duration string (`300ms`, `1h30m`, `-1.5s`, `0`).
///
/// Returns the signed number of nanoseconds, or Go's error text
/// (`time: invalid duration "x"` and friends).
pub(crate) fn parse_go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                ))
            }
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Only the first digits that can matter at nanosecond scale count.
            let digits: String = frac_part.chars().take(30).collect();
            let frac: i128 = digits.parse().map_err(|_| invalid())?;
            let denom = 10i128.pow(digits.len() as u32);
            value += frac * scale / denom;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

/// Parses a non-negative Go duration for a flag; any failure is Go's
/// `parse error`, and etcd-rs also refuses negative durations.
pub(crate) fn parse_flag_duration(s: &str) -> Result<Duration, String> {
    match parse_go_duration(s) {
        Ok(nanos) if nanos >= 0 => Ok(duration_from_nanos(nanos)),
        _ => Err(PARSE_ERROR.to_string()),
    }
}

/// Converts a non-negative nanosecond count into a [`Duration`].
pub(crate) fn duration_from_nanos(nanos: i128) -> Duration {
    let nanos = nanos.max(0);
    let secs = (nanos / 1_000_000_000).min(i128::from(u64::MAX)) as u64;
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// Formats a duration the way Go's `time.Duration.String` does
/// (`0s`, `100ms`, `5s`, `1m30s`, `2h0m0s`).
pub(crate) fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub_nanos = nanos % 1_000_000_000;
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let seconds = fraction(secs * 1_000_000_000 + sub_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / unit` with the remainder as trimmed decimal digits.
fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rem = value % unit;
    if rem == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Quotes a string the way Go's `%q` does for the strings etcd prints.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_follow_strconv() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("yes"), Err("parse error".to_string()));
    }

    #[test]
    fn unsigned_numbers_take_base_prefixes() {
        assert_eq!(parse_uint("100", 64), Ok(100));
        assert_eq!(parse_uint("0x10", 64), Ok(16));
        assert_eq!(parse_uint("010", 64), Ok(8));
        assert_eq!(parse_uint("0b11", 64), Ok(3));
        assert_eq!(parse_uint("1_000", 64), Ok(1000));
        assert_eq!(parse_uint("-1", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("abc", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("", 64), Err(NumError::Syntax));
        assert_eq!(
            parse_uint("99999999999999999999999", 64),
            Err(NumError::Range)
        );
        assert_eq!(parse_uint("4294967296", 32), Err(NumError::Range));
        assert_eq!(parse_uint("4294967295", 32), Ok(u64::from(u32::MAX)));
    }

    #[test]
    fn signed_numbers() {
        assert_eq!(parse_int("-5"), Ok(-5));
        assert_eq!(parse_int("+5"), Ok(5));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775808"), Err(NumError::Range));
        assert_eq!(atoi("12"), Some(12));
        assert_eq!(atoi("0x1"), None);
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("-2ms"), Ok(-2_000_000));
        assert_eq!(parse_go_duration("10\u{b5}s"), Ok(10_000));
        assert_eq!(
            parse_go_duration("abc"),
            Err("time: invalid duration \"abc\"".to_string())
        );
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse_go_duration("5x"),
            Err("time: unknown unit \"x\" in duration \"5x\"".to_string())
        );
        assert_eq!(parse_flag_duration("-1s"), Err("parse error".to_string()));
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_go_duration(Duration::from_secs(7200)), "2h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_micros(20)), "20\u{b5}s");
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(go_quote("x\n"), "\"x\\n\"");
    }
}
