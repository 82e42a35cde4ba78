//! Reading `--auto-compaction-mode` and `--auto-compaction-retention` into
//! one policy, with etcd's rules: a bare integer means hours (periodic) or
//! revisions (revision); anything else must be a Go duration; `0` disables.
//! Running the compactor is not this module's business.

use std::time::Duration;

use super::value::{atoi, duration_from_nanos, go_quote, parse_go_duration};

/// `--auto-compaction-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionMode {
    /// Keep a time window of history.
    Periodic,
    /// Keep a number of revisions of history.
    Revision,
}

impl CompactionMode {
    /// Parses the flag value; etcd's message for anything else.
    pub(crate) fn parse(s: &str) -> Result<CompactionMode, String> {
        match s {
            "periodic" => Ok(CompactionMode::Periodic),
            "revision" => Ok(CompactionMode::Revision),
            _ => Err(format!("unknown auto-compaction-mode {}", go_quote(s))),
        }
    }

    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompactionMode::Periodic => "periodic",
            CompactionMode::Revision => "revision",
        }
    }
}

/// The auto-compaction policy the server should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// No automatic compaction.
    Disabled,
    /// Compact away history older than this window.
    Periodic(Duration),
    /// Keep this many revisions of history.
    Revision(u64),
}

/// Combines mode and retention the way etcd's `parseCompactionRetention`
/// does, returning etcd's error text for an unreadable retention.
pub(crate) fn resolve(
    mode: Option<CompactionMode>,
    retention: &str,
) -> Result<AutoCompaction, String> {
    // etcd treats an empty retention as "0".
    let retention = if retention.is_empty() { "0" } else { retention };
    let amount: i128 = match atoi(retention) {
        Some(n) if n >= 0 => match mode {
            Some(CompactionMode::Periodic) => i128::from(n) * 3_600_000_000_000,
            Some(CompactionMode::Revision) => i128::from(n),
            None => 0,
        },
        _ => parse_go_duration(retention)
            .map_err(|e| format!("error parsing CompactionRetention: {e}"))?,
    };
    if amount <= 0 {
        return Ok(AutoCompaction::Disabled);
    }
    Ok(match mode {
        Some(CompactionMode::Periodic) => AutoCompaction::Periodic(duration_from_nanos(amount)),
        // etcd stores the retention as a duration and reads it back as a
        // revision count, so `1h` in revision mode means 3.6e12 revisions.
        Some(CompactionMode::Revision) => {
            AutoCompaction::Revision(u64::try_from(amount).unwrap_or(u64::MAX))
        }
        None => AutoCompaction::Disabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_hours_or_revisions() {
        assert_eq!(
            resolve(Some(CompactionMode::Periodic), "1"),
            Ok(AutoCompaction::Periodic(Duration::from_secs(3600)))
        );
        assert_eq!(
            resolve(Some(CompactionMode::Revision), "1000"),
            Ok(AutoCompaction::Revision(1000))
        );
        assert_eq!(
            resolve(Some(CompactionMode::Periodic), "0"),
            Ok(AutoCompaction::Disabled)
        );
        assert_eq!(
            resolve(Some(CompactionMode::Periodic), ""),
            Ok(AutoCompaction::Disabled)
        );
    }

    #[test]
    fn durations_and_errors() {
        assert_eq!(
            resolve(Some(CompactionMode::Periodic), "30m"),
            Ok(AutoCompaction::Periodic(Duration::from_secs(1800)))
        );
        assert_eq!(
            resolve(Some(CompactionMode::Periodic), "abc"),
            Err("error parsing CompactionRetention: time: invalid duration \"abc\"".to_string())
        );
        // Without a mode (config file without the key) etcd compacts nothing.
        assert_eq!(resolve(None, "5"), Ok(AutoCompaction::Disabled));
    }

    #[test]
    fn modes() {
        assert_eq!(
            CompactionMode::parse("revision"),
            Ok(CompactionMode::Revision)
        );
        assert_eq!(
            CompactionMode::parse("x"),
            Err("unknown auto-compaction-mode \"x\"".to_string())
        );
    }
}
