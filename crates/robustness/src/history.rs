//! What a run records: every client operation with its call and return
//! time, request and outcome, and every watch response each watcher
//! received. Times are nanoseconds since the run's start, taken on one
//! monotonic clock, so "A returned before B was called" is `a.ret < b.call`.
//!
//! Keys and values are strings: the traffic only writes printable ASCII,
//! and every value written is unique in the run (`"<client>-<seq>"`), so a
//! value seen anywhere names the one write that produced it.

use std::fmt;

/// An etcd revision.
pub type Rev = i64;

/// "No return time": the operation failed or timed out, so it may have
/// taken effect at any time after its call, or never.
pub const OPEN: u64 = u64::MAX;

/// A key-value pair as a response reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    pub create_revision: Rev,
    pub mod_revision: Rev,
    pub version: i64,
    /// 0 when the key has no lease.
    pub lease: i64,
}

/// What a client asked for. Txns are single-key compare-and-swaps (the
/// shape kube-apiserver uses): their effect stays within one key, which is
/// what lets the linearizability check split the history per key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Put {
        key: String,
        value: String,
        lease: i64,
    },
    /// A Range: one key (`range_end` None) or `[key, range_end)`.
    Get {
        key: String,
        range_end: Option<String>,
        /// 0 reads the latest revision.
        revision: Rev,
        /// 0 for no limit.
        limit: i64,
        serializable: bool,
    },
    Delete {
        key: String,
        range_end: Option<String>,
    },
    /// `If(ModRevision(key) == expected_mod_revision) Then(then) Else(Get key)`.
    /// An expected revision of 0 means "the key does not exist" (a create).
    Txn {
        key: String,
        expected_mod_revision: Rev,
        then: TxnWrite,
    },
    LeaseGrant {
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    Compact {
        revision: Rev,
    },
    Defragment,
}

impl Request {
    /// The (key, value, lease) a Put or a txn's put would write; values are
    /// unique, so this names the one write of a value.
    pub fn written_put(&self) -> Option<(&str, &str, i64)> {
        match self {
            Request::Put { key, value, lease }
            | Request::Txn {
                key,
                then: TxnWrite::Put { value, lease },
                ..
            } => Some((key, value, *lease)),
            _ => None,
        }
    }
}

/// The write a [`Request::Txn`] does when its compare holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnWrite {
    Put { value: String, lease: i64 },
    Delete,
}

/// What a successful call answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `revision` is the response header's: the revision of this put.
    Put {
        revision: Rev,
    },
    Get {
        /// The header's revision: the store's revision the read saw.
        revision: Rev,
        kvs: Vec<KeyValue>,
        more: bool,
        count: i64,
    },
    Delete {
        revision: Rev,
        deleted: i64,
    },
    Txn {
        revision: Rev,
        succeeded: bool,
        /// The else branch's Get: the key as it was (None if absent).
        /// Always None when `succeeded`.
        current: Option<KeyValue>,
    },
    LeaseGrant {
        revision: Rev,
        id: i64,
    },
    LeaseRevoke {
        revision: Rev,
    },
    Compact {
        revision: Rev,
    },
    Defragment,
}

impl Response {
    /// The response header's revision (0 where there is none).
    pub fn revision(&self) -> Rev {
        match *self {
            Response::Put { revision }
            | Response::Get { revision, .. }
            | Response::Delete { revision, .. }
            | Response::Txn { revision, .. }
            | Response::LeaseGrant { revision, .. }
            | Response::LeaseRevoke { revision }
            | Response::Compact { revision } => revision,
            Response::Defragment => 0,
        }
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Response),
    /// The server said the request was not applied (an invalid argument, a
    /// lease not found, a compacted revision, no space): no effect.
    Rejected(String),
    /// A timeout, a lost connection, "leader changed", an unknown error:
    /// the request may or may not have taken effect. Its return time is
    /// [`OPEN`].
    Indeterminate(String),
}

/// One call, as one client made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Index in [`History::operations`]; stable, used in reports.
    pub id: usize,
    pub client: usize,
    /// When the call was made (ns since the run's start).
    pub call: u64,
    /// When the answer arrived; [`OPEN`] for an indeterminate outcome.
    pub ret: u64,
    pub request: Request,
    pub outcome: Outcome,
}

/// A watch event as delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a delete: the key, mod_revision = the delete's revision, and
    /// empty value, version 0 (as etcd sends it).
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Put,
    Delete,
}

/// One WatchResponse a watcher received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchResponse {
    /// When it arrived (ns since the run's start).
    pub time: u64,
    pub header_revision: Rev,
    pub events: Vec<Event>,
    /// No events, not created, not canceled: a progress notification.
    pub progress_notify: bool,
    pub canceled: bool,
    pub compact_revision: Rev,
}

/// What a watch asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub key: String,
    /// None watches one key; `Some("\0")` all keys from `key` on.
    pub range_end: Option<String>,
    /// 0 watches from "now" (the revision after the creating response's
    /// header revision).
    pub start_revision: Rev,
    pub prev_kv: bool,
    pub progress_notify: bool,
}

impl WatchRequest {
    /// Whether `key` is in the watched range.
    pub fn covers(&self, key: &str) -> bool {
        in_range(key, &self.key, self.range_end.as_deref())
    }
}

/// One watch stream from its creation to its end (a cancel, a broken
/// connection, or the end of the run). A watcher that reconnects starts a
/// new stream from the revision after the last one it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchStream {
    pub id: usize,
    pub client: usize,
    pub request: WatchRequest,
    /// The creating response's header revision.
    pub created_revision: Rev,
    pub responses: Vec<WatchResponse>,
}

/// Everything one run recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub operations: Vec<Operation>,
    pub watches: Vec<WatchStream>,
}

impl History {
    /// Every event of every stream, in no particular order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.watches
            .iter()
            .flat_map(|w| w.responses.iter())
            .flat_map(|r| r.events.iter())
    }
}

/// Whether `key` lies in etcd's range `[start, end)`: `end` None is the
/// single key `start`, `"\0"` is every key from `start` on.
pub fn in_range(key: &str, start: &str, end: Option<&str>) -> bool {
    match end {
        None => key == start,
        Some("\0") => key >= start,
        Some(end) => key >= start && key < end,
    }
}

/// The range end that makes `[prefix, end)` the keys starting with
/// `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return String::from_utf8(bytes).expect("ASCII prefix");
        }
    }
    "\0".to_string()
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = |f: &mut fmt::Formatter<'_>, key: &str, end: &Option<String>| match end {
            None => write!(f, "{key:?}"),
            Some(end) => write!(f, "[{key:?}, {end:?})"),
        };
        match self {
            Request::Put { key, value, lease } => {
                write!(f, "put {key:?}={value:?}")?;
                if *lease != 0 {
                    write!(f, " lease={lease:x}")?;
                }
                Ok(())
            }
            Request::Get {
                key,
                range_end,
                revision,
                limit,
                serializable,
            } => {
                write!(f, "get ")?;
                range(f, key, range_end)?;
                if *revision != 0 {
                    write!(f, " rev={revision}")?;
                }
                if *limit != 0 {
                    write!(f, " limit={limit}")?;
                }
                if *serializable {
                    write!(f, " serializable")?;
                }
                Ok(())
            }
            Request::Delete { key, range_end } => {
                write!(f, "delete ")?;
                range(f, key, range_end)
            }
            Request::Txn {
                key,
                expected_mod_revision,
                then,
            } => {
                write!(f, "txn if mod_rev({key:?})=={expected_mod_revision} then ")?;
                match then {
                    TxnWrite::Put { value, lease } if *lease != 0 => {
                        write!(f, "put {value:?} lease={lease:x}")?
                    }
                    TxnWrite::Put { value, .. } => write!(f, "put {value:?}")?,
                    TxnWrite::Delete => write!(f, "delete")?,
                }
                write!(f, " else get")
            }
            Request::LeaseGrant { ttl } => write!(f, "lease grant ttl={ttl}"),
            Request::LeaseRevoke { id } => write!(f, "lease revoke {id:x}"),
            Request::Compact { revision } => write!(f, "compact {revision}"),
            Request::Defragment => write!(f, "defragment"),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}={:?} (create={} mod={} ver={}",
            self.key, self.value, self.create_revision, self.mod_revision, self.version
        )?;
        if self.lease != 0 {
            write!(f, " lease={:x}", self.lease)?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Rejected(e) => write!(f, "rejected: {e}"),
            Outcome::Indeterminate(e) => write!(f, "indeterminate: {e}"),
            Outcome::Ok(r) => match r {
                Response::Put { revision } => write!(f, "ok rev={revision}"),
                Response::Get {
                    revision,
                    kvs,
                    more,
                    count,
                } => {
                    write!(f, "ok rev={revision} count={count}")?;
                    if *more {
                        write!(f, " more")?;
                    }
                    write!(f, " [")?;
                    for (i, kv) in kvs.iter().enumerate() {
                        if i > 0 {
                            write!(f, ", ")?;
                        }
                        write!(f, "{kv}")?;
                    }
                    write!(f, "]")
                }
                Response::Delete { revision, deleted } => {
                    write!(f, "ok rev={revision} deleted={deleted}")
                }
                Response::Txn {
                    revision,
                    succeeded,
                    current,
                } => {
                    write!(f, "ok rev={revision} succeeded={succeeded}")?;
                    match current {
                        Some(kv) => write!(f, " current={kv}"),
                        None if *succeeded => Ok(()),
                        None => write!(f, " current=absent"),
                    }
                }
                Response::LeaseGrant { revision, id } => write!(f, "ok rev={revision} id={id:x}"),
                Response::LeaseRevoke { revision } | Response::Compact { revision } => {
                    write!(f, "ok rev={revision}")
                }
                Response::Defragment => write!(f, "ok"),
            },
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = if self.ret == OPEN {
            "open".to_string()
        } else {
            format!("{:.3}ms", self.ret as f64 / 1e6)
        };
        write!(
            f,
            "#{} client {} [{:.3}ms .. {ret}] {} -> {}",
            self.id,
            self.client,
            self.call as f64 / 1e6,
            self.request,
            self.outcome
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_etcd() {
        assert!(in_range("a", "a", None));
        assert!(!in_range("ab", "a", None));
        assert!(in_range("zz", "b", Some("\0")));
        assert!(in_range("b/1", "b/", Some(&prefix_end("b/"))));
        assert!(!in_range("b0", "b/", Some(&prefix_end("b/"))));
        assert_eq!(prefix_end("b/"), "b0");
    }
}
