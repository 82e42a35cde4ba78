//! The KV history as per-key sequential specifications, for the
//! linearizability search ([`crate::linearizability`]).
//!
//! The history is split by key (P-compositionality: a history is
//! linearizable iff each key's projection is, as long as every operation
//! touches one key — multi-key operations are projected onto each key they
//! touch, which keeps the check sound but only per key; cross-key atomicity
//! is checked against revisions by [`crate::watch_check`]).
//!
//! A key's state carries what etcd reports about it (value, create and mod
//! revision, version, lease) and a revision floor: etcd's store revision
//! only grows, so along any linearization a read's header revision is at
//! least every earlier operation's, and a write's revision exceeds it. That
//! one number catches stale reads whose value happens to be unchanged, and
//! a write acknowledged with a revision older than something already seen.
//!
//! Operations whose outcome is unknown (a timeout, a lost connection) are
//! kept with an open return time: the search may place them anywhere after
//! their call, or last (not happened). Their revision is looked up by their
//! unique value in everything the run observed; a write never observed gets
//! unknown revisions, which later observations of the key fill in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::history::{
    in_range, History, KeyValue, Operation as HistoryOp, Outcome, Request, Response, Rev, TxnWrite,
    OPEN,
};
use crate::linearizability::{self, CheckResult, Model};

/// What one operation does to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyInput {
    Put { value: String, lease: i64 },
    Delete,
    Get,
    Txn { expected: Rev, then: TxnWrite },
    RevokeLease(i64),
}

/// What the operation answered about that key (None fields: unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOutput {
    Put {
        revision: Option<Rev>,
    },
    Delete {
        revision: Option<Rev>,
        /// None when the delete was a range (its count is for all keys).
        deleted: Option<bool>,
    },
    Get {
        revision: Rev,
        kv: Option<KeyValue>,
    },
    Txn {
        revision: Option<Rev>,
        /// (succeeded, the else branch's view of the key).
        result: Option<(bool, Option<KeyValue>)>,
    },
    RevokeLease {
        revision: Option<Rev>,
    },
}

/// One key as the model knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct KeyState {
    pub kv: Option<Stored>,
    /// The highest store revision an operation on this key has reported.
    pub floor: Rev,
}

/// A present key; revisions None when set by a write whose revision is not
/// known (yet).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stored {
    pub value: String,
    pub create_revision: Option<Rev>,
    pub mod_revision: Option<Rev>,
    pub version: i64,
    pub lease: i64,
}

/// etcd's semantics for one key.
pub struct KeyModel;

impl Model for KeyModel {
    type State = KeyState;
    type Input = KeyInput;
    type Output = KeyOutput;

    fn init(&self) -> KeyState {
        KeyState::default()
    }

    fn step(&self, state: &KeyState, input: &KeyInput, output: &KeyOutput) -> Option<KeyState> {
        match (input, output) {
            (KeyInput::Put { value, lease }, KeyOutput::Put { revision }) => {
                put(state, value, *lease, *revision)
            }
            (KeyInput::Delete, KeyOutput::Delete { revision, deleted }) => {
                if let Some(deleted) = deleted {
                    if *deleted != state.kv.is_some() {
                        return None;
                    }
                }
                delete(state, *revision)
            }
            (KeyInput::Get, KeyOutput::Get { revision, kv }) => observe(state, *revision, kv),
            (KeyInput::Txn { expected, then }, KeyOutput::Txn { revision, result }) => {
                txn(state, *expected, then, *revision, result.as_ref())
            }
            (KeyInput::RevokeLease(lease), KeyOutput::RevokeLease { revision }) => {
                match &state.kv {
                    Some(kv) if kv.lease == *lease => delete(state, *revision),
                    _ => read_at(state, revision.unwrap_or(state.floor)),
                }
            }
            _ => None,
        }
    }
}

/// A write at `revision` (unknown: None) that leaves `kv`.
fn write(state: &KeyState, kv: Option<Stored>, revision: Option<Rev>) -> Option<KeyState> {
    match revision {
        Some(r) if r <= state.floor => None,
        Some(r) => Some(KeyState { kv, floor: r }),
        None => Some(KeyState {
            kv,
            floor: state.floor,
        }),
    }
}

fn put(state: &KeyState, value: &str, lease: i64, revision: Option<Rev>) -> Option<KeyState> {
    let (create_revision, version) = match &state.kv {
        Some(old) => (old.create_revision, old.version + 1),
        None => (revision, 1),
    };
    let kv = Stored {
        value: value.to_string(),
        create_revision,
        mod_revision: revision,
        version,
        lease,
    };
    write(state, Some(kv), revision)
}

/// Deletes the key if present; a delete of an absent key is a read.
fn delete(state: &KeyState, revision: Option<Rev>) -> Option<KeyState> {
    if state.kv.is_none() {
        return read_at(state, revision.unwrap_or(state.floor));
    }
    write(state, None, revision)
}

/// A no-op that saw the store at `revision`.
fn read_at(state: &KeyState, revision: Rev) -> Option<KeyState> {
    (revision >= state.floor).then(|| KeyState {
        kv: state.kv.clone(),
        floor: revision,
    })
}

/// A read at `revision` that saw `seen`; unknown revisions in the state
/// are filled in from what was seen.
fn observe(state: &KeyState, revision: Rev, seen: &Option<KeyValue>) -> Option<KeyState> {
    let mut next = read_at(state, revision)?;
    match (&mut next.kv, seen) {
        (None, None) => {}
        (Some(kv), Some(seen)) => {
            if kv.value != seen.value
                || kv.version != seen.version
                || kv.lease != seen.lease
                || seen.mod_revision > revision
            {
                return None;
            }
            fill(&mut kv.mod_revision, seen.mod_revision)?;
            fill(&mut kv.create_revision, seen.create_revision)?;
        }
        _ => return None,
    }
    Some(next)
}

/// Sets an unknown revision, or checks a known one.
fn fill(slot: &mut Option<Rev>, seen: Rev) -> Option<()> {
    match slot {
        Some(known) if *known != seen => None,
        Some(_) => Some(()),
        None => {
            *slot = Some(seen);
            Some(())
        }
    }
}

fn txn(
    state: &KeyState,
    expected: Rev,
    then: &TxnWrite,
    revision: Option<Rev>,
    result: Option<&(bool, Option<KeyValue>)>,
) -> Option<KeyState> {
    let current = state.kv.as_ref().map(|kv| kv.mod_revision);
    let matches = match result {
        // The answer says which branch ran; a compare against a revision
        // the model does not know yet is settled by it.
        Some((succeeded, _)) => *succeeded,
        // Unknown answer: the compare holds only if the revision is known
        // to match. An unknown mod revision belongs to a write nobody
        // observed, so no client can have compared against it.
        None => match current {
            None => expected == 0,
            Some(known) => known == Some(expected),
        },
    };
    if !matches {
        let seen = result.and_then(|(_, seen)| seen.clone());
        return match result {
            Some(_) => observe(state, revision?, &seen),
            None => Some(state.clone()),
        };
    }
    let mut base = state.clone();
    match (&mut base.kv, expected) {
        (None, 0) => {}
        (None, _) => return None,
        (Some(_), 0) => return None,
        (Some(kv), e) => fill(&mut kv.mod_revision, e)?,
    }
    match then {
        TxnWrite::Put { value, lease } => put(&base, value, *lease, revision),
        // Deleting an absent key changes nothing and makes no revision.
        TxnWrite::Delete => delete(&base, revision),
    }
}

/// One key's operations, ready for the search.
pub type KeyOperation = linearizability::Operation<KeyInput, KeyOutput>;

/// The history split by key. Rejected operations had no effect and are
/// left out, as are reads that failed, reads of old revisions and
/// serializable reads (not linearizable by contract; the revision replay
/// checks those).
pub fn partition(history: &History) -> BTreeMap<String, Vec<KeyOperation>> {
    let universe = keys(history);
    let leased = keys_by_lease(history);
    let revisions = observed_revisions(history);
    let mut parts: BTreeMap<String, Vec<KeyOperation>> = BTreeMap::new();
    for op in &history.operations {
        for (key, input, output) in project(op, &universe, &leased, &revisions) {
            parts
                .entry(key)
                .or_default()
                .push(linearizability::Operation {
                    id: op.id,
                    client: op.client,
                    call: op.call,
                    ret: op.ret,
                    input,
                    output,
                });
        }
    }
    parts
}

/// Every key any request or response names.
fn keys(history: &History) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for op in &history.operations {
        match &op.request {
            Request::Put { key, .. }
            | Request::Delete {
                key,
                range_end: None,
            }
            | Request::Get {
                key,
                range_end: None,
                ..
            }
            | Request::Txn { key, .. } => {
                keys.insert(key.clone());
            }
            _ => {}
        }
        if let Outcome::Ok(Response::Get { kvs, .. }) = &op.outcome {
            keys.extend(kvs.iter().map(|kv| kv.key.clone()));
        }
    }
    keys
}

/// The keys each lease was ever attached to by a request.
fn keys_by_lease(history: &History) -> HashMap<i64, BTreeSet<String>> {
    let mut leased: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for op in &history.operations {
        match op.request.written_put() {
            Some((key, _, lease)) if lease != 0 => {
                leased.entry(lease).or_default().insert(key.to_string());
            }
            _ => {}
        }
    }
    leased
}

/// The mod revision of every value anybody saw (reads, watch events, txn
/// else branches): values are unique, so this is the revision of the write
/// that wrote it.
fn observed_revisions(history: &History) -> HashMap<String, Rev> {
    let mut seen = HashMap::new();
    for event in history.events() {
        if !event.kv.value.is_empty() {
            seen.insert(event.kv.value.clone(), event.kv.mod_revision);
        }
        if let Some(prev) = &event.prev_kv {
            seen.insert(prev.value.clone(), prev.mod_revision);
        }
    }
    for op in &history.operations {
        match &op.outcome {
            Outcome::Ok(Response::Get { kvs, .. }) => {
                for kv in kvs {
                    seen.insert(kv.value.clone(), kv.mod_revision);
                }
            }
            Outcome::Ok(Response::Txn {
                current: Some(kv), ..
            }) => {
                seen.insert(kv.value.clone(), kv.mod_revision);
            }
            _ => {}
        }
    }
    seen
}

type Projection = Vec<(String, KeyInput, KeyOutput)>;

fn project(
    op: &HistoryOp,
    universe: &BTreeSet<String>,
    leased: &HashMap<i64, BTreeSet<String>>,
    revisions: &HashMap<String, Rev>,
) -> Projection {
    let ok = match &op.outcome {
        Outcome::Rejected(_) => return Vec::new(),
        Outcome::Indeterminate(_) => None,
        Outcome::Ok(response) => Some(response),
    };
    let revision = |value: &str| ok.map(Response::revision).or(revisions.get(value).copied());
    match &op.request {
        Request::Put { key, value, lease } => vec![(
            key.clone(),
            KeyInput::Put {
                value: value.clone(),
                lease: *lease,
            },
            KeyOutput::Put {
                revision: revision(value),
            },
        )],
        Request::Delete { key, range_end } => {
            let (revision, count) = match ok {
                Some(Response::Delete { revision, deleted }) => (Some(*revision), Some(*deleted)),
                _ => (None, None),
            };
            let targets: Vec<&String> = match range_end {
                None => vec![key],
                Some(end) => universe
                    .iter()
                    .filter(|k| in_range(k, key, Some(end)))
                    .collect(),
            };
            targets
                .into_iter()
                .map(|k| {
                    let deleted = match range_end {
                        None => count.map(|n| n > 0),
                        Some(_) => None,
                    };
                    (
                        k.clone(),
                        KeyInput::Delete,
                        KeyOutput::Delete { revision, deleted },
                    )
                })
                .collect()
        }
        Request::Get {
            key,
            range_end,
            revision: 0,
            serializable: false,
            ..
        } => match ok {
            Some(Response::Get {
                revision,
                kvs,
                more,
                ..
            }) => project_read(key, range_end.as_deref(), *revision, kvs, *more, universe),
            _ => Vec::new(),
        },
        Request::Get { .. } => Vec::new(),
        Request::Txn {
            key,
            expected_mod_revision,
            then,
        } => {
            let (rev, result) = match ok {
                Some(Response::Txn {
                    revision,
                    succeeded,
                    current,
                }) => (Some(*revision), Some((*succeeded, current.clone()))),
                _ => {
                    let rev = match then {
                        TxnWrite::Put { value, .. } => revisions.get(value).copied(),
                        TxnWrite::Delete => None,
                    };
                    (rev, None)
                }
            };
            vec![(
                key.clone(),
                KeyInput::Txn {
                    expected: *expected_mod_revision,
                    then: then.clone(),
                },
                KeyOutput::Txn {
                    revision: rev,
                    result,
                },
            )]
        }
        Request::LeaseRevoke { id } => {
            let revision = ok.map(Response::revision);
            leased
                .get(id)
                .into_iter()
                .flatten()
                .map(|k| {
                    (
                        k.clone(),
                        KeyInput::RevokeLease(*id),
                        KeyOutput::RevokeLease { revision },
                    )
                })
                .collect()
        }
        Request::LeaseGrant { .. } | Request::Compact { .. } | Request::Defragment => Vec::new(),
    }
}

/// A latest-revision range read as one read per key it answers for: every
/// key of the universe in range, up to the last returned key when the
/// answer was cut by its limit.
fn project_read(
    key: &str,
    range_end: Option<&str>,
    revision: Rev,
    kvs: &[KeyValue],
    more: bool,
    universe: &BTreeSet<String>,
) -> Projection {
    let last = if more {
        kvs.last().map(|kv| kv.key.as_str())
    } else {
        None
    };
    universe
        .iter()
        .filter(|k| in_range(k, key, range_end))
        .filter(|k| !more || last.is_some_and(|last| k.as_str() <= last))
        .map(|k| {
            let kv = kvs.iter().find(|kv| &kv.key == k).cloned();
            (k.clone(), KeyInput::Get, KeyOutput::Get { revision, kv })
        })
        .collect()
}

/// What the search found.
#[derive(Debug, Default)]
pub struct Report {
    pub keys: usize,
    pub operations: usize,
    /// Readable descriptions of the keys whose histories are not
    /// linearizable.
    pub violations: Vec<String>,
    /// Keys whose search ran out of time (neither proven nor refuted).
    pub timeouts: Vec<String>,
}

/// Checks every key's history within `budget` per key.
pub fn check(history: &History, budget: Duration) -> Report {
    let mut report = Report::default();
    for (key, ops) in partition(history) {
        report.keys += 1;
        report.operations += ops.len();
        match linearizability::check(&KeyModel, &ops, budget) {
            CheckResult::Ok => {}
            CheckResult::Timeout => report.timeouts.push(key),
            CheckResult::Illegal { linearized, stuck } => {
                report
                    .violations
                    .push(explain(history, &key, &ops, &linearized, &stuck));
            }
        }
    }
    report
}

/// How many operations of the linearized prefix a report shows.
const CONTEXT: usize = 8;

/// The smallest readable account of a failed key: the tail of the longest
/// order the search found (with the key's state after each), the
/// operations that could not come next, and what overlapped them.
fn explain(
    history: &History,
    key: &str,
    ops: &[KeyOperation],
    linearized: &[(usize, KeyState)],
    stuck: &[usize],
) -> String {
    let op = |id: usize| &history.operations[id];
    let mut text = format!(
        "key {key:?} is not linearizable ({} operations)\n",
        ops.len()
    );
    let skipped = linearized.len().saturating_sub(CONTEXT);
    let _ = writeln!(
        text,
        "  longest linearizable order (last {} of {}):",
        linearized.len() - skipped,
        linearized.len()
    );
    for (id, state) in &linearized[skipped..] {
        let _ = writeln!(text, "    {}\n      => {}", op(*id), describe(state));
    }
    let _ = writeln!(text, "  none of these can come next:");
    for id in stuck {
        let _ = writeln!(text, "    {}", op(*id));
    }
    let from = stuck.iter().map(|&id| op(id).call).min().unwrap_or(0);
    let placed: BTreeSet<usize> = linearized.iter().map(|(id, _)| *id).collect();
    let _ = writeln!(text, "  other operations on the key still pending then:");
    for o in ops {
        if !placed.contains(&o.id) && !stuck.contains(&o.id) && (o.ret >= from || o.ret == OPEN) {
            let _ = writeln!(text, "    {}", op(o.id));
        }
    }
    text
}

fn describe(state: &KeyState) -> String {
    let rev = |r: Option<Rev>| r.map_or("?".to_string(), |r| r.to_string());
    match &state.kv {
        None => format!("absent (store rev >= {})", state.floor),
        Some(kv) => format!(
            "{:?} (create={} mod={} ver={} lease={:x}; store rev >= {})",
            kv.value,
            rev(kv.create_revision),
            rev(kv.mod_revision),
            kv.version,
            kv.lease,
            state.floor
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Operation;

    const BUDGET: Duration = Duration::from_secs(5);

    struct Builder(History);

    impl Builder {
        fn new() -> Builder {
            Builder(History::default())
        }
        fn op(&mut self, client: usize, call: u64, ret: u64, request: Request, outcome: Outcome) {
            let id = self.0.operations.len();
            self.0.operations.push(Operation {
                id,
                client,
                call,
                ret,
                request,
                outcome,
            });
        }
        fn put(&mut self, client: usize, t: (u64, u64), key: &str, value: &str, rev: Option<Rev>) {
            let outcome = match rev {
                Some(revision) => Outcome::Ok(Response::Put { revision }),
                None => Outcome::Indeterminate("timeout".into()),
            };
            let ret = if rev.is_some() { t.1 } else { OPEN };
            let request = Request::Put {
                key: key.into(),
                value: value.into(),
                lease: 0,
            };
            self.op(client, t.0, ret, request, outcome);
        }
        fn get(
            &mut self,
            client: usize,
            t: (u64, u64),
            key: &str,
            rev: Rev,
            seen: Option<KeyValue>,
        ) {
            let request = Request::Get {
                key: key.into(),
                range_end: None,
                revision: 0,
                limit: 0,
                serializable: false,
            };
            let outcome = Outcome::Ok(Response::Get {
                revision: rev,
                count: seen.is_some() as i64,
                kvs: seen.into_iter().collect(),
                more: false,
            });
            self.op(client, t.0, t.1, request, outcome);
        }
    }

    fn kv(key: &str, value: &str, create: Rev, modr: Rev, version: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: create,
            mod_revision: modr,
            version,
            lease: 0,
        }
    }

    fn verdict(history: &History) -> Report {
        let report = check(history, BUDGET);
        assert!(report.timeouts.is_empty(), "{:?}", report.timeouts);
        report
    }

    #[test]
    fn sequential_history_passes() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.get(1, (20, 30), "a", 2, Some(kv("a", "v1", 2, 2, 1)));
        h.put(0, (40, 50), "a", "v2", Some(3));
        h.get(1, (60, 70), "a", 3, Some(kv("a", "v2", 2, 3, 2)));
        assert!(verdict(&h.0).violations.is_empty());
    }

    #[test]
    fn stale_read_fails_and_names_the_key() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.put(0, (20, 30), "a", "v2", Some(3));
        h.get(1, (40, 50), "a", 2, Some(kv("a", "v1", 2, 2, 1)));
        let report = verdict(&h.0);
        assert_eq!(report.violations.len(), 1);
        assert!(
            report.violations[0].contains("key \"a\""),
            "{}",
            report.violations[0]
        );
    }

    #[test]
    fn stale_header_revision_fails_even_with_the_right_value() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.put(0, (20, 30), "b", "w1", Some(3));
        h.get(1, (40, 50), "b", 3, Some(kv("b", "w1", 3, 3, 1)));
        // A later read of "a" reporting a store revision below what a read
        // that finished before it saw: "a" itself did not change, but the
        // revision went back.
        h.get(1, (60, 70), "a", 2, Some(kv("a", "v1", 2, 2, 1)));
        h.get(1, (80, 90), "b", 2, None);
        assert_eq!(verdict(&h.0).violations.len(), 1);
    }

    #[test]
    fn lost_acknowledged_write_fails() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.get(1, (20, 30), "a", 2, None);
        assert_eq!(verdict(&h.0).violations.len(), 1);
    }

    #[test]
    fn indeterminate_writes_may_or_may_not_happen() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.put(0, (20, 0), "a", "lost", None);
        h.put(1, (25, 0), "a", "seen", None);
        h.get(2, (100, 110), "a", 4, Some(kv("a", "seen", 2, 4, 3)));
        // Version 3: "lost" happened too (before "seen"), unobserved.
        assert!(verdict(&h.0).violations.is_empty());

        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        h.put(0, (20, 0), "a", "lost", None);
        h.get(2, (100, 110), "a", 2, Some(kv("a", "v1", 2, 2, 1)));
        assert!(verdict(&h.0).violations.is_empty());
    }

    #[test]
    fn cas_follows_the_mod_revision() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "a", "v1", Some(2));
        let cas = |expected, value: &str| Request::Txn {
            key: "a".into(),
            expected_mod_revision: expected,
            then: TxnWrite::Put {
                value: value.into(),
                lease: 0,
            },
        };
        h.op(
            1,
            20,
            30,
            cas(2, "v2"),
            Outcome::Ok(Response::Txn {
                revision: 3,
                succeeded: true,
                current: None,
            }),
        );
        h.op(
            1,
            40,
            50,
            cas(2, "v3"),
            Outcome::Ok(Response::Txn {
                revision: 3,
                succeeded: false,
                current: Some(kv("a", "v2", 2, 3, 2)),
            }),
        );
        assert!(verdict(&h.0).violations.is_empty());

        // A second CAS against the same revision must not succeed as well.
        h.op(
            2,
            60,
            70,
            cas(2, "v4"),
            Outcome::Ok(Response::Txn {
                revision: 4,
                succeeded: true,
                current: None,
            }),
        );
        assert_eq!(verdict(&h.0).violations.len(), 1);
    }

    #[test]
    fn guarded_delete_of_an_absent_key_makes_no_revision() {
        // kube's delete of a key it never saw: If(ModRevision == 0) Delete
        // holds on an absent key, deletes nothing, and the header reports
        // the unchanged store revision (here the same as a read's before).
        let mut h = Builder::new();
        h.put(0, (0, 10), "b", "w1", Some(2));
        h.get(1, (20, 30), "a", 2, None);
        let delete = Request::Txn {
            key: "a".into(),
            expected_mod_revision: 0,
            then: TxnWrite::Delete,
        };
        let ok = Outcome::Ok(Response::Txn {
            revision: 2,
            succeeded: true,
            current: None,
        });
        h.op(1, 40, 50, delete, ok);
        h.get(1, (60, 70), "a", 2, None);
        assert!(verdict(&h.0).violations.is_empty());
    }

    #[test]
    fn range_reads_project_onto_every_key_they_cover() {
        let mut h = Builder::new();
        h.put(0, (0, 10), "p/a", "1", Some(2));
        h.put(0, (20, 30), "p/b", "2", Some(3));
        let list = Request::Get {
            key: "p/".into(),
            range_end: Some("p0".into()),
            revision: 0,
            limit: 0,
            serializable: false,
        };
        // The list misses "p/b", written before it was called.
        h.op(
            1,
            40,
            50,
            list,
            Outcome::Ok(Response::Get {
                revision: 3,
                kvs: vec![kv("p/a", "1", 2, 2, 1)],
                more: false,
                count: 1,
            }),
        );
        let report = verdict(&h.0);
        assert_eq!(report.violations.len(), 1);
        assert!(report.violations[0].contains("p/b"));
    }
}
