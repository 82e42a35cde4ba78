//! The watch check: it merges every recorded watch stream into one
//! reference log of the events of each revision ([`RevisionLog`]) and holds
//! the history against it:
//!
//! 1. the log itself: streams that report the same revision agree, and
//!    where the log is complete no revision is missing;
//! 2. acknowledged writes appear in the log at their revision, and every
//!    put event comes from a write of the history;
//! 3. a replay of the complete part of the log: versions, create revisions,
//!    prev_kv and deletes follow from the events before them;
//! 4. each stream on its own: range, order, uniqueness, start revision,
//!    progress notifications, prev_kv, and no event missing where the log is
//!    complete;
//! 5. every successful read against the replayed state at its revision.
//!
//! "Complete" means that some stream covering every key of the run saw
//! every revision of an interval. A stream has seen everything up to its
//! last event and up to the header revision of its last progress
//! notification. The header of a response *with* events does not count:
//! etcd sends a catching-up watcher its first batch of events with the
//! store's current revision in the header while later batches are still
//! to come, so only a progress notification (sent to synced watchers only)
//! promises that nothing below its revision is pending. For the same reason
//! "event after progress notify" looks at progress notifications only.
//!
//! Not here: whether the operations are linearizable
//! ([`crate::linearizability`]); this module trusts each operation's
//! recorded outcome and only asks whether the watch events and the reads
//! agree with it and with each other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::ops::Bound;

use crate::history::{
    Event, EventKind, History, KeyValue, Operation, Outcome, Request, Response, Rev, TxnWrite,
    WatchResponse, WatchStream,
};

/// The names of the checks, as [`Violation::check`] carries them.
pub mod checks {
    pub const WATCHERS_DISAGREE: &str = "watchers disagree";
    pub const MISSING_REVISION: &str = "missing revision";
    pub const WRITE_MISSING: &str = "acknowledged write missing from watch";
    pub const WRITE_MISMATCH: &str = "acknowledged write mismatch";
    pub const DELETE_MISSING: &str = "acknowledged delete missing from watch";
    pub const EVENT_FROM_NOWHERE: &str = "event from nowhere";
    pub const REVISION_MISMATCH: &str = "revision mismatch";
    pub const VALUE_WRITTEN_TWICE: &str = "value written twice";
    pub const WRONG_VERSION: &str = "wrong version";
    pub const WRONG_CREATE_REVISION: &str = "wrong create_revision";
    pub const DELETE_OF_ABSENT_KEY: &str = "delete of absent key";
    pub const WRONG_PREV_KV: &str = "wrong prev_kv";
    pub const OUT_OF_RANGE: &str = "event out of range";
    pub const OUT_OF_ORDER: &str = "events out of order";
    pub const SPLIT_REVISION: &str = "split revision";
    pub const DUPLICATE_EVENT: &str = "duplicate event";
    pub const BEFORE_START: &str = "event before start revision";
    pub const LATE_START: &str = "watch did not start at the first matching event";
    pub const HEADER_DECREASED: &str = "header revision decreased";
    pub const AFTER_PROGRESS: &str = "event after progress notify";
    pub const MISSING_PREV_KV: &str = "missing prev_kv";
    pub const MISSING_EVENT: &str = "missing event";
    pub const STALE_READ: &str = "read does not match replay";
    pub const READ_COUNT: &str = "read count";
    pub const READ_MORE: &str = "read more";
}

use checks::*;

/// At most this many "missing event" reports per stream: one lost
/// connection can otherwise bury every other finding.
const MISSING_REPORTS_PER_STREAM: usize = 10;

/// One thing the history got wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which check found it (one of [`checks`]): stable, for grouping and tests.
    pub check: &'static str,
    /// What was seen, for a human: the stream, the revision, the events
    /// around it and the operations involved, over several lines.
    pub message: String,
}

impl Violation {
    fn new(check: &'static str, message: String) -> Self {
        Violation { check, message }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// What [`check`] found, and how much it looked at (so that a clean report
/// over nothing is not mistaken for a clean run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Events received, over all streams.
    pub events_checked: u64,
    /// Successful reads compared with the replay (the others fell outside
    /// the known state).
    pub reads_checked: u64,
    /// Revisions in the complete part of the log.
    pub revisions_covered: u64,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One event of the log, with where it was first seen (for reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub event: Event,
    /// Index of the stream in [`History::watches`].
    pub stream: usize,
    /// That stream's [`WatchStream::id`].
    pub stream_id: usize,
    /// Index of the response in that stream.
    pub response: usize,
    /// The id of the stream whose prev_kv the event carries, when another
    /// stream supplied it.
    pub prev_kv_from: Option<usize>,
}

impl Logged {
    /// Which streams reported it, for reports.
    fn source(&self) -> String {
        match self.prev_kv_from {
            Some(other) => format!(
                "from watch stream {}, prev_kv from stream {other}",
                self.stream_id
            ),
            None => format!("from watch stream {}", self.stream_id),
        }
    }
}

/// Reference log: the events of every revision, merged from all streams,
/// plus the intervals in which it is known to be complete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevisionLog {
    /// Revision → key → event. One event per key and revision: etcd never
    /// changes a key twice in one revision.
    revisions: BTreeMap<Rev, BTreeMap<String, Logged>>,
    /// Sorted, disjoint, inclusive intervals that some stream covering
    /// every key saw whole.
    complete: Vec<(Rev, Rev)>,
    /// The spans of the streams that made `complete`: (first, last, stream
    /// index), to name them in reports.
    spans: Vec<(Rev, Rev, usize)>,
}

impl RevisionLog {
    /// Merges the events of every stream of `history` and works out where
    /// the merge is complete. Returns the disagreements between streams and
    /// the revisions missing inside the complete part.
    pub fn build(history: &History) -> (RevisionLog, Vec<Violation>) {
        let mut log = RevisionLog::default();
        let mut violations = Vec::new();
        for (si, stream) in history.watches.iter().enumerate() {
            for (ri, resp) in stream.responses.iter().enumerate() {
                for event in &resp.events {
                    log.merge(history, si, ri, event, &mut violations);
                }
            }
        }
        let keys = written_keys(history);
        for (si, stream) in history.watches.iter().enumerate() {
            if !keys.iter().all(|k| stream.request.covers(k)) {
                continue;
            }
            if let Some((first, last)) = observed_span(stream) {
                log.spans.push((first, last, si));
            }
        }
        log.complete = merge_intervals(log.spans.iter().map(|&(a, b, _)| (a, b)).collect());
        log.missing_revisions(history, &mut violations);
        (log, violations)
    }

    /// The events of `rev`, in key order.
    pub fn events_at(&self, rev: Rev) -> impl Iterator<Item = &Logged> {
        self.revisions
            .get(&rev)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// The event of `key` at `rev`, if any stream saw one.
    pub fn event(&self, rev: Rev, key: &str) -> Option<&Event> {
        self.revisions.get(&rev)?.get(key).map(|l| &l.event)
    }

    /// Whether every event of `rev` is known.
    pub fn is_complete(&self, rev: Rev) -> bool {
        let i = self.complete.partition_point(|&(a, _)| a <= rev);
        i > 0 && self.complete[i - 1].1 >= rev
    }

    /// The complete intervals, sorted and inclusive.
    pub fn complete_intervals(&self) -> &[(Rev, Rev)] {
        &self.complete
    }

    /// How many revisions the complete intervals hold.
    pub fn revisions_covered(&self) -> u64 {
        self.complete
            .iter()
            .map(|&(a, b)| (b.saturating_sub(a) as u64).saturating_add(1))
            .sum()
    }

    fn merge(
        &mut self,
        history: &History,
        stream: usize,
        response: usize,
        event: &Event,
        out: &mut Vec<Violation>,
    ) {
        let rev = event.kv.mod_revision;
        let at = self.revisions.entry(rev).or_default();
        let Some(known) = at.get_mut(&event.kv.key) else {
            let logged = Logged {
                event: event.clone(),
                stream,
                stream_id: history.watches[stream].id,
                response,
                prev_kv_from: None,
            };
            at.insert(event.kv.key.clone(), logged);
            return;
        };
        let prev_differs =
            matches!((&known.event.prev_kv, &event.prev_kv), (Some(a), Some(b)) if a != b);
        if known.event.kind != event.kind || known.event.kv != event.kv || prev_differs {
            // The same stream twice is the duplicate check's business.
            if known.stream != stream {
                out.push(disagreement(history, known, stream, response, event));
            }
        } else if known.event.prev_kv.is_none() {
            // Keep the fuller version: the replay checks prev_kv.
            if event.prev_kv.is_some() {
                known.event.prev_kv.clone_from(&event.prev_kv);
                known.prev_kv_from = Some(history.watches[stream].id);
            }
        }
    }

    fn missing_revisions(&self, history: &History, out: &mut Vec<Violation>) {
        for &(first, last) in &self.complete {
            // Revision 1 is the empty store's: nothing was written at it.
            let mut expected = first.max(2);
            let mut gaps = Vec::new();
            for &rev in self.revisions.range(expected..=last).map(|(r, _)| r) {
                if rev > expected {
                    gaps.push((expected, rev - 1));
                }
                expected = rev.saturating_add(1);
            }
            if expected <= last {
                gaps.push((expected, last));
            }
            for (a, b) in gaps {
                out.push(self.missing_revision(history, a, b));
            }
        }
    }

    fn missing_revision(&self, history: &History, a: Rev, b: Rev) -> Violation {
        let mut m = format!(
            "revisions {a}..={b} have no event, yet every write makes a revision and these \
             streams covering every key saw them:\n"
        );
        for &(first, last, si) in &self.spans {
            if first <= b && last >= a {
                let stream = describe_stream(&history.watches[si]);
                let _ = writeln!(m, "  {stream} (saw {first}..={last})");
            }
        }
        m.push_str(&self.context(a.saturating_sub(1), b.saturating_add(1)));
        Violation::new(MISSING_REVISION, m)
    }

    /// The log's revisions `from..=to`, one line per event.
    fn context(&self, from: Rev, to: Rev) -> String {
        let mut m = format!("  the log at revisions {from}..={to}:\n");
        if from > to {
            return m;
        }
        for (rev, events) in self.revisions.range(from..=to) {
            let complete = if self.is_complete(*rev) {
                ""
            } else {
                " (incomplete)"
            };
            let _ = writeln!(m, "    rev {rev}{complete}:");
            for logged in events.values() {
                let _ = writeln!(
                    m,
                    "      {} ({})",
                    describe_event(&logged.event),
                    logged.source()
                );
            }
        }
        m
    }
}

/// Builds the log and runs every check over `history`.
pub fn check(history: &History) -> Report {
    let (log, mut violations) = RevisionLog::build(history);
    let ctx = Context::new(history);
    check_writes(&ctx, &log, &mut violations);
    check_event_sources(&ctx, &log, &mut violations);
    let reads_checked = replay(&ctx, &log, &mut violations);
    for (si, stream) in history.watches.iter().enumerate() {
        check_stream(stream, &mut violations);
        check_prev_kv_presence(&ctx, stream, &mut violations);
        check_stream_against_log(&log, si, stream, &mut violations);
    }
    Report {
        violations,
        events_checked: history.events().count() as u64,
        reads_checked,
        revisions_covered: log.revisions_covered(),
    }
}

/// The history indexed the ways the checks look it up.
struct Context<'h> {
    history: &'h History,
    /// Operations by the revision their successful answer reported: who
    /// made a revision, for reports.
    by_revision: BTreeMap<Rev, Vec<&'h Operation>>,
    /// Puts and txn-puts by the value they write (values are unique, so a
    /// value names its write).
    by_value: HashMap<&'h str, Vec<&'h Operation>>,
    /// Compactions that may have happened: (revision, call time).
    compactions: Vec<(Rev, u64)>,
}

impl<'h> Context<'h> {
    fn new(history: &'h History) -> Self {
        let mut ctx = Context {
            history,
            by_revision: BTreeMap::new(),
            by_value: HashMap::new(),
            compactions: Vec::new(),
        };
        for op in &history.operations {
            if let Some((_, value, _)) = op.request.written_put() {
                ctx.by_value.entry(value).or_default().push(op);
            }
            if let Outcome::Ok(resp) = &op.outcome {
                let writes = matches!(
                    op.request,
                    Request::Put { .. }
                        | Request::Delete { .. }
                        | Request::Txn { .. }
                        | Request::LeaseRevoke { .. }
                );
                if writes {
                    ctx.by_revision.entry(resp.revision()).or_default().push(op);
                }
            }
            if let (Request::Compact { revision }, false) =
                (&op.request, matches!(op.outcome, Outcome::Rejected(_)))
            {
                ctx.compactions.push((*revision, op.call));
            }
        }
        ctx
    }

    /// The writes that answered with `rev`, one per line.
    fn ops_at(&self, rev: Rev) -> String {
        list_ops(
            self.by_revision.get(&rev),
            &format!("writes that answered with revision {rev}"),
            &format!("no acknowledged write answered with revision {rev}"),
        )
    }

    /// The writes of `value`, one per line.
    fn writers_of(&self, value: &str) -> String {
        list_ops(
            self.by_value.get(value),
            &format!("operations that wrote {value:?}"),
            &format!("no operation wrote {value:?}"),
        )
    }

    /// Whether a compaction may have removed revision `rev - 1` before
    /// `time`: etcd then sends the event without prev_kv.
    fn compacted_before(&self, rev: Rev, time: u64) -> bool {
        self.compactions
            .iter()
            .any(|&(c, call)| c >= rev && call <= time)
    }
}

/// `ops` under a heading, one per line, or `none` when there are none.
fn list_ops(ops: Option<&Vec<&Operation>>, heading: &str, none: &str) -> String {
    let mut m = String::new();
    match ops {
        None => {
            let _ = writeln!(m, "  {none}");
        }
        Some(ops) => {
            let _ = writeln!(m, "  {heading}:");
            for op in ops {
                let _ = writeln!(m, "    {op}");
            }
        }
    }
    m
}

/// Whether `op`'s write may have taken effect: not rejected, and not a txn
/// whose compare is known to have failed.
fn may_have_written(op: &Operation) -> bool {
    match &op.outcome {
        Outcome::Rejected(_) => false,
        Outcome::Indeterminate(_) => true,
        Outcome::Ok(Response::Txn { succeeded, .. }) => *succeeded,
        Outcome::Ok(_) => true,
    }
}

/// Every key that can exist in the run: the keys written, and the keys of
/// every event (a key some stream saw exists, whoever wrote it).
fn written_keys(history: &History) -> BTreeSet<&str> {
    let mut keys: BTreeSet<&str> = history
        .operations
        .iter()
        .filter_map(|op| op.request.written_put().map(|(k, _, _)| k))
        .collect();
    keys.extend(history.events().map(|e| e.kv.key.as_str()));
    keys
}

/// The first revision `stream` can report.
fn stream_start(stream: &WatchStream) -> Rev {
    if stream.request.start_revision > 0 {
        stream.request.start_revision
    } else {
        stream.created_revision.saturating_add(1)
    }
}

/// The revisions `stream` has seen whole: from its start to its last event
/// or its last progress notification, whichever is later. None if it saw
/// nothing.
fn observed_span(stream: &WatchStream) -> Option<(Rev, Rev)> {
    let start = stream_start(stream);
    let mut last = start.saturating_sub(1);
    for resp in &stream.responses {
        for event in &resp.events {
            last = last.max(event.kv.mod_revision);
        }
        if is_progress(resp) {
            last = last.max(resp.header_revision);
        }
    }
    (last >= start).then_some((start, last))
}

fn is_progress(resp: &WatchResponse) -> bool {
    resp.progress_notify && resp.events.is_empty() && !resp.canceled
}

/// Sorts `intervals` and joins the ones that overlap or touch.
fn merge_intervals(mut intervals: Vec<(Rev, Rev)>) -> Vec<(Rev, Rev)> {
    intervals.sort_unstable();
    let mut merged: Vec<(Rev, Rev)> = Vec::new();
    for (a, b) in intervals {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

fn disagreement(
    history: &History,
    known: &Logged,
    stream: usize,
    response: usize,
    event: &Event,
) -> Violation {
    let (a, b) = (&history.watches[known.stream], &history.watches[stream]);
    let rev = event.kv.mod_revision;
    let mut m = format!(
        "two streams report revision {rev} of {:?} differently:\n",
        event.kv.key
    );
    let _ = writeln!(
        m,
        "  {}: {}",
        describe_stream(a),
        describe_event(&known.event)
    );
    m.push_str(&stream_context(a, known.response));
    let _ = writeln!(m, "  {}: {}", describe_stream(b), describe_event(event));
    m.push_str(&stream_context(b, response));
    Violation::new(WATCHERS_DISAGREE, m)
}

fn describe_range(key: &str, end: Option<&str>) -> String {
    match end {
        None => format!("{key:?}"),
        Some(end) => format!("[{key:?}, {end:?})"),
    }
}

fn describe_stream(stream: &WatchStream) -> String {
    let r = &stream.request;
    let mut m = format!(
        "watch stream {} of client {} on {}",
        stream.id,
        stream.client,
        describe_range(&r.key, r.range_end.as_deref())
    );
    if r.start_revision > 0 {
        let _ = write!(m, " from rev {}", r.start_revision);
    }
    let _ = write!(m, " (created at rev {}", stream.created_revision);
    if r.prev_kv {
        m.push_str(", prev_kv");
    }
    if r.progress_notify {
        m.push_str(", progress_notify");
    }
    m.push(')');
    m
}

fn describe_event(event: &Event) -> String {
    let mut m = match event.kind {
        EventKind::Put => format!("PUT {}", event.kv),
        EventKind::Delete => format!("DELETE {:?} at {}", event.kv.key, event.kv.mod_revision),
    };
    if let Some(prev) = &event.prev_kv {
        let _ = write!(m, " prev_kv {prev}");
    }
    m
}

fn describe_response(index: usize, resp: &WatchResponse) -> String {
    let mut m = format!(
        "    response #{index} at {:.3}ms, header rev {}",
        resp.time as f64 / 1e6,
        resp.header_revision
    );
    if is_progress(resp) {
        m.push_str(", progress notify");
    }
    if resp.canceled {
        let _ = write!(m, ", canceled (compact rev {})", resp.compact_revision);
    }
    m.push('\n');
    for event in &resp.events {
        let _ = writeln!(m, "      {}", describe_event(event));
    }
    m
}

/// The responses of `stream` around the one at `index`.
fn stream_context(stream: &WatchStream, index: usize) -> String {
    let from = index.saturating_sub(1);
    let to = index
        .saturating_add(1)
        .min(stream.responses.len().saturating_sub(1));
    let mut m = String::new();
    for i in from..=to {
        if let Some(resp) = stream.responses.get(i) {
            m.push_str(&describe_response(i, resp));
        }
    }
    m
}

// ---- 2. acknowledged writes vs the log -------------------------------------

fn check_writes(ctx: &Context<'_>, log: &RevisionLog, out: &mut Vec<Violation>) {
    for op in &ctx.history.operations {
        let Outcome::Ok(resp) = &op.outcome else {
            continue;
        };
        match (&op.request, resp) {
            (Request::Put { key, value, lease }, _) => {
                expect_put(ctx, log, op, (key, value, *lease), resp.revision(), out)
            }
            (
                Request::Txn {
                    key,
                    then: TxnWrite::Put { value, lease },
                    ..
                },
                Response::Txn {
                    revision,
                    succeeded: true,
                    ..
                },
            ) => expect_put(ctx, log, op, (key, value, *lease), *revision, out),
            // A create-or-delete of an absent key deletes nothing, and makes
            // no revision.
            (
                Request::Txn {
                    key,
                    expected_mod_revision,
                    then: TxnWrite::Delete,
                },
                Response::Txn {
                    revision,
                    succeeded: true,
                    ..
                },
            ) if *expected_mod_revision > 0 => {
                expect_delete(ctx, log, op, (key, None), 1, *revision, out)
            }
            (Request::Delete { key, range_end }, Response::Delete { revision, deleted })
                if *deleted > 0 =>
            {
                let range = (key.as_str(), range_end.as_deref());
                expect_delete(ctx, log, op, range, *deleted, *revision, out)
            }
            _ => {}
        }
    }
}

fn expect_put(
    ctx: &Context<'_>,
    log: &RevisionLog,
    op: &Operation,
    (key, value, lease): (&str, &str, i64),
    rev: Rev,
    out: &mut Vec<Violation>,
) {
    let check = match log.event(rev, key) {
        Some(e) if e.kind == EventKind::Put && e.kv.value == value && e.kv.lease == lease => return,
        Some(_) => WRITE_MISMATCH,
        None if log.is_complete(rev) => WRITE_MISSING,
        None => return,
    };
    let mut m = format!("{op}\n  acknowledged at revision {rev}, but the watch log has ");
    match log.event(rev, key) {
        Some(e) => {
            let _ = writeln!(m, "{} there", describe_event(e));
        }
        None => m.push_str("no event of that key there\n"),
    }
    m.push_str(&log.context(rev.saturating_sub(1), rev.saturating_add(1)));
    m.push_str(&ctx.ops_at(rev));
    out.push(Violation::new(check, m));
}

fn expect_delete(
    ctx: &Context<'_>,
    log: &RevisionLog,
    op: &Operation,
    (key, end): (&str, Option<&str>),
    deleted: i64,
    rev: Rev,
    out: &mut Vec<Violation>,
) {
    let in_range: Vec<&Event> = log
        .events_at(rev)
        .map(|l| &l.event)
        .filter(|e| crate::history::in_range(&e.kv.key, key, end))
        .collect();
    let deletes = in_range
        .iter()
        .filter(|e| e.kind == EventKind::Delete)
        .count() as i64;
    let check = if deletes < in_range.len() as i64 || deletes > deleted {
        WRITE_MISMATCH
    } else if deletes < deleted && log.is_complete(rev) {
        DELETE_MISSING
    } else {
        return;
    };
    let mut m = format!(
        "{op}\n  acknowledged at revision {rev} deleting {deleted} key(s) of {}, but the watch \
         log has {deletes} delete(s) in that range there\n",
        describe_range(key, end)
    );
    m.push_str(&log.context(rev.saturating_sub(1), rev.saturating_add(1)));
    m.push_str(&ctx.ops_at(rev));
    out.push(Violation::new(check, m));
}

/// Every put event must come from a write that may have happened, of that
/// key, and at the revision the write answered.
fn check_event_sources(ctx: &Context<'_>, log: &RevisionLog, out: &mut Vec<Violation>) {
    let mut first_seen: HashMap<&str, (Rev, &str)> = HashMap::new();
    for (&rev, events) in &log.revisions {
        for logged in events.values() {
            let e = &logged.event;
            if e.kind != EventKind::Put {
                continue;
            }
            let (key, value) = (e.kv.key.as_str(), e.kv.value.as_str());
            let origin = format!(
                "{} at revision {rev} ({})\n",
                describe_event(e),
                logged.source()
            );
            if let Some(&(r0, k0)) = first_seen.get(value) {
                let m = format!(
                    "{origin}  the same value was already written to {k0:?} at revision {r0}\n{}",
                    ctx.writers_of(value)
                );
                out.push(Violation::new(VALUE_WRITTEN_TWICE, m));
            } else {
                first_seen.insert(value, (rev, key));
            }
            let writers: Vec<&Operation> = ctx
                .by_value
                .get(value)
                .into_iter()
                .flatten()
                .copied()
                .filter(|op| may_have_written(op))
                .filter(|op| op.request.written_put().is_some_and(|(k, _, _)| k == key))
                .collect();
            if writers.is_empty() {
                let m = format!(
                    "{origin}  no write that may have happened put this value to this key\n{}",
                    ctx.writers_of(value)
                );
                out.push(Violation::new(EVENT_FROM_NOWHERE, m));
                continue;
            }
            for op in writers {
                if let Outcome::Ok(resp) = &op.outcome {
                    if resp.revision() != rev {
                        let m = format!(
                            "{origin}  but its write answered with revision {}:\n    {op}\n",
                            resp.revision()
                        );
                        out.push(Violation::new(REVISION_MISMATCH, m));
                    }
                }
            }
        }
    }
}

// ---- 3 and 5. replay of the complete log, and reads against it -------------

/// The state of one key before an event, as far as the replay knows it.
enum Prior<'a> {
    Absent,
    Present(&'a KeyValue),
    Unknown,
}

/// The key-value state at one revision, as far as the complete log tells.
struct Replay {
    /// Key → Some(kv) present, None deleted.
    state: BTreeMap<String, Option<KeyValue>>,
    /// Whether a key missing from `state` is known to be absent: true when
    /// the replay began at the empty store.
    all_known: bool,
}

impl Replay {
    fn prior(&self, key: &str) -> Prior<'_> {
        match self.state.get(key) {
            Some(Some(kv)) => Prior::Present(kv),
            Some(None) => Prior::Absent,
            None if self.all_known => Prior::Absent,
            None => Prior::Unknown,
        }
    }

    /// The present keys of `[key, end)` (etcd's range rules), in key order.
    fn range(&self, key: &str, end: Option<&str>) -> Vec<&KeyValue> {
        let bounds = match end {
            None => {
                return self
                    .state
                    .get(key)
                    .and_then(Option::as_ref)
                    .into_iter()
                    .collect()
            }
            Some("\0") => (Bound::Included(key), Bound::Unbounded),
            Some(end) if end > key => (Bound::Included(key), Bound::Excluded(end)),
            Some(_) => return Vec::new(),
        };
        self.state
            .range::<str, _>(bounds)
            .filter_map(|(_, v)| v.as_ref())
            .collect()
    }
}

/// Walks the complete intervals of the log in order, checking each event
/// against the state before it, and each read against the state at its
/// revision (reads sorted by revision, answered in the same single pass).
/// Returns how many reads it compared.
fn replay(ctx: &Context<'_>, log: &RevisionLog, out: &mut Vec<Violation>) -> u64 {
    let mut reads = reads_by_revision(ctx.history);
    reads.reverse(); // pop() from the lowest revision
    let mut checked = 0u64;
    let mut replay = Replay {
        state: BTreeMap::new(),
        all_known: true,
    };
    // Revision 1 is the empty store.
    checked += answer_reads(&replay, &mut reads, 2, out);
    for &(first, last) in &log.complete {
        replay.state.clear();
        replay.all_known = first <= 2;
        for (&rev, events) in log.revisions.range(first..=last) {
            if replay.all_known {
                checked += answer_reads(&replay, &mut reads, rev, out);
            }
            for logged in events.values() {
                check_event(ctx, log, &replay, rev, logged, out);
            }
            for logged in events.values() {
                let kv = &logged.event.kv;
                let after = (logged.event.kind == EventKind::Put).then(|| kv.clone());
                replay.state.insert(kv.key.clone(), after);
            }
        }
        if replay.all_known {
            checked += answer_reads(&replay, &mut reads, last.saturating_add(1), out);
        }
        // Past the first complete interval nothing is known from the start.
        reads.retain(|&(r, _)| r > last);
    }
    checked
}

/// The successful reads, each with the revision it read at (the pinned
/// revision if it asked for one, else its header's), in revision order.
fn reads_by_revision(history: &History) -> Vec<(Rev, &Operation)> {
    let mut reads: Vec<(Rev, &Operation)> = history
        .operations
        .iter()
        .filter_map(|op| match (&op.request, &op.outcome) {
            (
                Request::Get {
                    revision: asked, ..
                },
                Outcome::Ok(Response::Get { revision, .. }),
            ) => {
                let at = if *asked > 0 { *asked } else { *revision };
                (at >= 1).then_some((at, op))
            }
            _ => None,
        })
        .collect();
    reads.sort_by_key(|&(rev, op)| (rev, op.id));
    reads
}

/// Checks the reads (a stack, lowest revision on top) that read below
/// `before` against `replay`, which holds the state at `before - 1`.
fn answer_reads(
    replay: &Replay,
    reads: &mut Vec<(Rev, &Operation)>,
    before: Rev,
    out: &mut Vec<Violation>,
) -> u64 {
    let mut n = 0;
    while let Some(&(rev, op)) = reads.last() {
        if rev >= before {
            break;
        }
        reads.pop();
        check_read(replay, rev, op, out);
        n += 1;
    }
    n
}

fn check_read(replay: &Replay, rev: Rev, op: &Operation, out: &mut Vec<Violation>) {
    let (
        Request::Get {
            key,
            range_end,
            limit,
            ..
        },
        Outcome::Ok(Response::Get {
            kvs, more, count, ..
        }),
    ) = (&op.request, &op.outcome)
    else {
        return;
    };
    let in_range = replay.range(key, range_end.as_deref());
    let total = in_range.len() as i64;
    let shown = if *limit > 0 {
        usize::try_from(*limit).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    let expected: Vec<&KeyValue> = in_range.iter().copied().take(shown).collect();
    let expected_more = *limit > 0 && total > *limit;
    let describe = |what: &str| {
        let mut m = format!("{op}\n  reads at revision {rev}; {what}\n  the replayed state there:");
        if in_range.is_empty() {
            m.push_str(" no key in range");
        }
        for kv in &in_range {
            let _ = write!(m, "\n    {kv}");
        }
        m.push('\n');
        m
    };
    if kvs.iter().ne(expected.iter().copied()) {
        out.push(Violation::new(
            STALE_READ,
            describe("its kvs differ from the replay"),
        ));
    }
    if *count != total {
        let what = format!("count {count}, but {total} key(s) are in range");
        out.push(Violation::new(READ_COUNT, describe(&what)));
    }
    if *more != expected_more {
        let what =
            format!("more={more}, but limit {limit} of {total} key(s) means more={expected_more}");
        out.push(Violation::new(READ_MORE, describe(&what)));
    }
}

/// Checks one event of revision `rev` against the replayed state before it.
fn check_event(
    ctx: &Context<'_>,
    log: &RevisionLog,
    replay: &Replay,
    rev: Rev,
    logged: &Logged,
    out: &mut Vec<Violation>,
) {
    let e = &logged.event;
    let mut prior = replay.prior(&e.kv.key);
    let mut found: Vec<(&'static str, String)> = Vec::new();
    if let Some(prev) = &e.prev_kv {
        let wrong = match prior {
            Prior::Present(p) => (p != prev).then(|| format!("the key was {p}")),
            Prior::Absent => Some("the key did not exist".to_string()),
            Prior::Unknown => (prev.key != e.kv.key || prev.mod_revision >= rev)
                .then(|| "it is not an earlier state of this key".to_string()),
        };
        match wrong {
            Some(why) => found.push((WRONG_PREV_KV, format!("prev_kv {prev}, but {why}"))),
            // An unknown key is known from its prev_kv on.
            None => {
                if let Prior::Unknown = prior {
                    prior = Prior::Present(prev);
                }
            }
        }
    }
    match e.kind {
        EventKind::Put => check_put(&e.kv, rev, &prior, &mut found),
        EventKind::Delete => {
            if let Prior::Absent = prior {
                found.push((DELETE_OF_ABSENT_KEY, "the key did not exist".to_string()));
            }
        }
    }
    for (check, why) in found {
        let mut m = format!(
            "revision {rev}: {} ({}): {why}\n",
            describe_event(e),
            logged.source()
        );
        m.push_str(&log.context(rev.saturating_sub(2), rev.saturating_add(1)));
        m.push_str(&ctx.ops_at(rev));
        out.push(Violation::new(check, m));
    }
}

fn check_put(kv: &KeyValue, rev: Rev, prior: &Prior<'_>, found: &mut Vec<(&'static str, String)>) {
    let (version, create) = match prior {
        Prior::Present(p) => (p.version.saturating_add(1), p.create_revision),
        Prior::Absent => (1, rev),
        Prior::Unknown => {
            // Only what the event says of itself can be checked.
            let ok = match kv.version {
                1 => kv.create_revision == rev,
                v => v > 1 && kv.create_revision < rev && kv.create_revision > 0,
            };
            if !ok {
                let why = format!(
                    "version {} with create_revision {} at revision {rev}",
                    kv.version, kv.create_revision
                );
                found.push((WRONG_VERSION, why));
            }
            return;
        }
    };
    if kv.version != version {
        found.push((
            WRONG_VERSION,
            format!("version {}, the replay says {version}", kv.version),
        ));
    }
    if kv.create_revision != create {
        let why = format!(
            "create_revision {}, the replay says {create}",
            kv.create_revision
        );
        found.push((WRONG_CREATE_REVISION, why));
    }
}

// ---- 4. each stream on its own ----------------------------------------------

/// Range, order, uniqueness, start revision and progress notifications of
/// one stream, in one pass over its responses.
fn check_stream(stream: &WatchStream, out: &mut Vec<Violation>) {
    let start = stream_start(stream);
    let mut seen: HashSet<(Rev, &str)> = HashSet::new();
    // (revision, response index) of the last event so far.
    let mut last_event: Option<(Rev, usize)> = None;
    let mut last_header: Option<(Rev, usize)> = None;
    let mut last_progress: Option<(Rev, usize)> = None;
    for (i, resp) in stream.responses.iter().enumerate() {
        let mut report = |check: &'static str, why: String| {
            let mut m = format!("{}, response #{i}: {why}\n", describe_stream(stream));
            m.push_str(&stream_context(stream, i));
            out.push(Violation::new(check, m));
        };
        if resp.header_revision > 0 {
            if let Some((h, j)) = last_header {
                if resp.header_revision < h {
                    let why = format!(
                        "header rev {} after header rev {h} of response #{j}",
                        resp.header_revision
                    );
                    report(HEADER_DECREASED, why);
                }
            }
            if last_header.is_none_or(|(h, _)| resp.header_revision > h) {
                last_header = Some((resp.header_revision, i));
            }
        }
        let mut previous: Option<Rev> = None;
        for e in &resp.events {
            let rev = e.kv.mod_revision;
            let event = describe_event(e);
            if !stream.request.covers(&e.kv.key) {
                report(
                    OUT_OF_RANGE,
                    format!("{event} is outside the watched range"),
                );
            }
            if rev < start {
                report(
                    BEFORE_START,
                    format!("{event} is before the stream's first revision {start}"),
                );
            }
            if let Some((p, j)) = last_progress {
                if rev <= p {
                    report(
                        AFTER_PROGRESS,
                        format!("{event} after the progress notify at rev {p} (response #{j})"),
                    );
                }
            }
            match (previous, last_event) {
                (Some(p), _) if rev < p => report(
                    OUT_OF_ORDER,
                    format!("{event} after an event of rev {p} in the same response"),
                ),
                (None, Some((p, j))) if rev == p => report(
                    SPLIT_REVISION,
                    format!("{event}: revision {rev} already had events in response #{j}"),
                ),
                (None, Some((p, j))) if rev < p => report(
                    OUT_OF_ORDER,
                    format!("{event} after an event of rev {p} in response #{j}"),
                ),
                _ => {}
            }
            if !seen.insert((rev, e.kv.key.as_str())) {
                report(DUPLICATE_EVENT, format!("{event} was delivered before"));
            }
            previous = Some(previous.map_or(rev, |p| p.max(rev)));
        }
        if let Some(p) = previous {
            last_event = Some((p, i));
        }
        if is_progress(resp) && last_progress.is_none_or(|(p, _)| resp.header_revision > p) {
            last_progress = Some((resp.header_revision, i));
        }
    }
}

/// A prev_kv stream must carry the previous state of every key that existed
/// before the event, unless compaction removed it first.
fn check_prev_kv_presence(ctx: &Context<'_>, stream: &WatchStream, out: &mut Vec<Violation>) {
    if !stream.request.prev_kv {
        return;
    }
    for (i, resp) in stream.responses.iter().enumerate() {
        for e in &resp.events {
            let existed = e.kind == EventKind::Delete || e.kv.version > 1;
            if !existed || e.prev_kv.is_some() || ctx.compacted_before(e.kv.mod_revision, resp.time)
            {
                continue;
            }
            let mut m = format!(
                "{}, response #{i}: {} has no prev_kv, though the key existed before\n",
                describe_stream(stream),
                describe_event(e)
            );
            m.push_str(&stream_context(stream, i));
            out.push(Violation::new(MISSING_PREV_KV, m));
        }
    }
}

/// Where the log is complete, the stream's events between its start and
/// the last revision it saw are exactly the log's events in its range.
fn check_stream_against_log(
    log: &RevisionLog,
    si: usize,
    stream: &WatchStream,
    out: &mut Vec<Violation>,
) {
    let Some((start, last)) = observed_span(stream) else {
        return;
    };
    let mut mine: HashMap<Rev, HashSet<&str>> = HashMap::new();
    for e in stream.responses.iter().flat_map(|r| r.events.iter()) {
        mine.entry(e.kv.mod_revision)
            .or_default()
            .insert(e.kv.key.as_str());
    }
    let first_event = mine.keys().copied().min();
    let mut reported = 0usize;
    let mut unreported = 0usize;
    for (&rev, events) in log.revisions.range(start..=last) {
        if !log.is_complete(rev) {
            continue;
        }
        let have = mine.get(&rev);
        let missing: Vec<&Logged> = events
            .values()
            .filter(|l| l.stream != si && stream.request.covers(&l.event.kv.key))
            .filter(|l| !have.is_some_and(|h| h.contains(l.event.kv.key.as_str())))
            .collect();
        if missing.is_empty() {
            continue;
        }
        if reported == MISSING_REPORTS_PER_STREAM {
            unreported += 1;
            continue;
        }
        reported += 1;
        let late_start = stream.request.start_revision > 0 && first_event.is_none_or(|f| rev < f);
        let check = if late_start {
            LATE_START
        } else {
            MISSING_EVENT
        };
        let mut m = format!(
            "{} saw revisions {start}..={last}, but not these events of revision {rev}:\n",
            describe_stream(stream)
        );
        for l in &missing {
            let _ = writeln!(
                m,
                "    {} (seen by watch stream {})",
                describe_event(&l.event),
                l.stream_id
            );
        }
        if let Some(f) = first_event {
            let _ = writeln!(m, "  its first event is at revision {f}");
        }
        m.push_str(&log.context(rev.saturating_sub(1), rev.saturating_add(1)));
        let near = stream
            .responses
            .iter()
            .position(|r| r.events.iter().any(|e| e.kv.mod_revision > rev));
        if let Some(i) = near {
            m.push_str("  the stream around it:\n");
            m.push_str(&stream_context(stream, i));
        }
        out.push(Violation::new(check, m));
    }
    if unreported > 0 {
        let m = format!(
            "{}: {unreported} more revision(s) with missing events not shown",
            describe_stream(stream)
        );
        out.push(Violation::new(MISSING_EVENT, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{WatchRequest, OPEN};

    fn kv(key: &str, value: &str, create: Rev, rev: Rev, version: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: create,
            mod_revision: rev,
            version,
            lease: 0,
        }
    }

    fn leased(mut kv: KeyValue, lease: i64) -> KeyValue {
        kv.lease = lease;
        kv
    }

    fn put(kv: KeyValue) -> Event {
        Event {
            kind: EventKind::Put,
            kv,
            prev_kv: None,
        }
    }

    fn with_prev(mut e: Event, prev: KeyValue) -> Event {
        e.prev_kv = Some(prev);
        e
    }

    fn del(key: &str, rev: Rev) -> Event {
        Event {
            kind: EventKind::Delete,
            kv: kv(key, "", 0, rev, 0),
            prev_kv: None,
        }
    }

    fn resp(header: Rev, events: Vec<Event>) -> WatchResponse {
        WatchResponse {
            time: header as u64 * 1_000_000 + 500_000,
            header_revision: header,
            events,
            progress_notify: false,
            canceled: false,
            compact_revision: 0,
        }
    }

    fn progress(header: Rev) -> WatchResponse {
        WatchResponse {
            progress_notify: true,
            ..resp(header, Vec::new())
        }
    }

    fn stream(
        id: usize,
        (key, end): (&str, Option<&str>),
        start: Rev,
        created: Rev,
        prev_kv: bool,
        responses: Vec<WatchResponse>,
    ) -> WatchStream {
        WatchStream {
            id,
            client: 10 + id,
            request: WatchRequest {
                key: key.into(),
                range_end: end.map(Into::into),
                start_revision: start,
                prev_kv,
                progress_notify: true,
            },
            created_revision: created,
            responses,
        }
    }

    fn op(h: &mut History, request: Request, outcome: Outcome) {
        let id = h.operations.len();
        let call = id as u64 * 1_000_000;
        let ret = match outcome {
            Outcome::Indeterminate(_) => OPEN,
            _ => call + 100_000,
        };
        h.operations.push(Operation {
            id,
            client: id % 3,
            call,
            ret,
            request,
            outcome,
        });
    }

    fn put_req(key: &str, value: &str, lease: i64) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    fn get_req(key: &str, end: Option<&str>, revision: Rev, limit: i64, ser: bool) -> Request {
        Request::Get {
            key: key.into(),
            range_end: end.map(Into::into),
            revision,
            limit,
            serializable: ser,
        }
    }

    fn got(revision: Rev, kvs: Vec<KeyValue>, more: bool, count: i64) -> Outcome {
        Outcome::Ok(Response::Get {
            revision,
            kvs,
            more,
            count,
        })
    }

    fn ok_put(revision: Rev) -> Outcome {
        Outcome::Ok(Response::Put { revision })
    }

    /// Revisions 2..=8: puts, a delete, a txn create, and a lease revoke
    /// deleting two keys at once; reads of all kinds; three watchers (all
    /// keys, a prefix with prev_kv, and a reconnected one from rev 5).
    fn clean() -> History {
        let mut h = History::default();
        let (a1, b1, a2) = (
            kv("a", "a1", 2, 2, 1),
            kv("b", "b1", 3, 3, 1),
            kv("a", "a2", 2, 4, 2),
        );
        let (c1, d1) = (
            leased(kv("c", "c1", 6, 6, 1), 7),
            leased(kv("d", "d1", 7, 7, 1), 7),
        );
        op(&mut h, put_req("a", "a1", 0), ok_put(2));
        op(&mut h, put_req("b", "b1", 0), ok_put(3));
        op(&mut h, put_req("a", "a2", 0), ok_put(4));
        let delete_b = Request::Delete {
            key: "b".into(),
            range_end: None,
        };
        op(
            &mut h,
            delete_b,
            Outcome::Ok(Response::Delete {
                revision: 5,
                deleted: 1,
            }),
        );
        let create_c = Request::Txn {
            key: "c".into(),
            expected_mod_revision: 0,
            then: TxnWrite::Put {
                value: "c1".into(),
                lease: 7,
            },
        };
        let created = Response::Txn {
            revision: 6,
            succeeded: true,
            current: None,
        };
        op(&mut h, create_c, Outcome::Ok(created));
        op(&mut h, put_req("d", "d1", 7), ok_put(7));
        op(
            &mut h,
            Request::LeaseRevoke { id: 7 },
            Outcome::Ok(Response::LeaseRevoke { revision: 8 }),
        );
        op(
            &mut h,
            put_req("e", "e9", 0),
            Outcome::Indeterminate("timeout".into()),
        );
        op(
            &mut h,
            put_req("f", "f1", 0),
            Outcome::Rejected("no space".into()),
        );
        let failed_cas = Request::Txn {
            key: "a".into(),
            expected_mod_revision: 3,
            then: TxnWrite::Put {
                value: "a9".into(),
                lease: 0,
            },
        };
        let failed = Response::Txn {
            revision: 5,
            succeeded: false,
            current: Some(a2.clone()),
        };
        op(&mut h, failed_cas, Outcome::Ok(failed));
        op(
            &mut h,
            get_req("a", None, 0, 0, false),
            got(4, vec![a2.clone()], false, 1),
        );
        let all = Some("\0");
        let (a1c, b1c) = (a1.clone(), b1.clone());
        op(
            &mut h,
            get_req("a", all, 0, 0, true),
            got(3, vec![a1c, b1c], false, 2),
        );
        op(
            &mut h,
            get_req("a", all, 3, 1, false),
            got(8, vec![a1.clone()], true, 2),
        );
        op(
            &mut h,
            get_req("", all, 0, 0, false),
            got(8, vec![a2.clone()], false, 1),
        );
        op(
            &mut h,
            get_req("a", None, 0, 0, true),
            got(1, vec![], false, 0),
        );

        let every = ("", all);
        h.watches.push(stream(
            0,
            every,
            0,
            1,
            false,
            vec![
                resp(2, vec![put(a1.clone())]),
                resp(3, vec![put(b1.clone())]),
                resp(4, vec![put(a2.clone())]),
                resp(5, vec![del("b", 5)]),
                progress(5),
                resp(6, vec![put(c1.clone())]),
                resp(7, vec![put(d1.clone())]),
                resp(8, vec![del("c", 8), del("d", 8)]),
            ],
        ));
        h.watches.push(stream(
            1,
            ("a", Some("b")),
            0,
            1,
            true,
            vec![
                resp(2, vec![put(a1.clone())]),
                resp(4, vec![with_prev(put(a2), a1)]),
                progress(8),
            ],
        ));
        h.watches.push(stream(
            2,
            ("a", all),
            5,
            5,
            true,
            vec![
                resp(5, vec![with_prev(del("b", 5), b1)]),
                resp(6, vec![put(c1.clone())]),
                resp(7, vec![put(d1.clone())]),
                resp(
                    8,
                    vec![with_prev(del("c", 8), c1), with_prev(del("d", 8), d1)],
                ),
            ],
        ));
        h
    }

    fn render(report: &Report) -> String {
        report
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn assert_clean(h: &History) -> Report {
        let report = check(h);
        assert!(
            report.is_ok(),
            "unexpected violations:\n{}",
            render(&report)
        );
        report
    }

    fn assert_flags(h: &History, check_name: &str) -> Report {
        let report = check(h);
        assert!(
            report.violations.iter().any(|v| v.check == check_name),
            "expected {check_name:?}, got:\n{}",
            render(&report)
        );
        report
    }

    /// Applies `edit` to every event of every stream.
    fn edit_events(h: &mut History, mut edit: impl FnMut(&mut Event)) {
        for s in &mut h.watches {
            for r in &mut s.responses {
                r.events.iter_mut().for_each(&mut edit);
            }
        }
    }

    #[test]
    fn clean_history_passes() {
        let report = assert_clean(&clean());
        assert_eq!(report.events_checked, 15);
        assert_eq!(report.reads_checked, 5);
        assert_eq!(report.revisions_covered, 7);
    }

    #[test]
    fn log_knows_its_complete_part() {
        let (log, violations) = RevisionLog::build(&clean());
        assert!(violations.is_empty());
        assert_eq!(log.complete_intervals(), &[(2, 8)]);
        assert!(log.is_complete(2) && log.is_complete(8) && !log.is_complete(9));
        assert_eq!(log.events_at(8).count(), 2);
        // The reconnected stream's prev_kv fills in the first stream's event.
        assert!(log.event(5, "b").is_some_and(|e| e.prev_kv.is_some()));
    }

    #[test]
    fn lease_revoke_deletes_share_one_revision_and_response() {
        let mut h = History::default();
        let (x, y) = (
            leased(kv("x", "x1", 2, 2, 1), 9),
            leased(kv("y", "y1", 3, 3, 1), 9),
        );
        op(&mut h, put_req("x", "x1", 9), ok_put(2));
        op(&mut h, put_req("y", "y1", 9), ok_put(3));
        op(
            &mut h,
            Request::LeaseRevoke { id: 9 },
            Outcome::Ok(Response::LeaseRevoke { revision: 4 }),
        );
        op(
            &mut h,
            get_req("", Some("\0"), 0, 0, false),
            got(4, vec![], false, 0),
        );
        let responses = vec![
            resp(2, vec![put(x.clone())]),
            resp(3, vec![put(y.clone())]),
            resp(
                4,
                vec![with_prev(del("x", 4), x), with_prev(del("y", 4), y)],
            ),
        ];
        h.watches
            .push(stream(0, ("", Some("\0")), 0, 1, true, responses));
        let report = assert_clean(&h);
        assert_eq!(report.reads_checked, 1);
    }

    #[test]
    fn flags_duplicate_event() {
        let mut h = clean();
        let b1 = h.watches[0].responses[1].events[0].clone();
        h.watches[0].responses[1].events.push(b1);
        assert_flags(&h, DUPLICATE_EVENT);
    }

    #[test]
    fn flags_missing_event() {
        let mut h = clean();
        h.watches[2].responses.remove(1); // c1 at 6
        let report = assert_flags(&h, MISSING_EVENT);
        let v = report
            .violations
            .iter()
            .find(|v| v.check == MISSING_EVENT)
            .unwrap();
        assert!(
            v.message.contains("revision 6") && v.message.contains("\"c1\""),
            "{v}"
        );
    }

    #[test]
    fn flags_revision_split_across_responses() {
        let mut h = clean();
        let last = h.watches[0].responses.pop().unwrap();
        h.watches[0]
            .responses
            .push(resp(8, vec![last.events[0].clone()]));
        h.watches[0]
            .responses
            .push(resp(8, vec![last.events[1].clone()]));
        assert_flags(&h, SPLIT_REVISION);
    }

    #[test]
    fn flags_event_after_progress_notify() {
        let mut h = clean();
        h.watches[1].responses.insert(1, progress(4));
        assert_flags(&h, AFTER_PROGRESS);
    }

    #[test]
    fn flags_event_out_of_range() {
        let mut h = clean();
        let b1 = kv("b", "b1", 3, 3, 1);
        h.watches[1].responses.insert(1, resp(3, vec![put(b1)]));
        assert_flags(&h, OUT_OF_RANGE);
    }

    #[test]
    fn flags_acknowledged_put_missing_from_watch() {
        let mut h = clean();
        op(&mut h, put_req("x", "x1", 0), ok_put(3));
        assert_flags(&h, WRITE_MISSING);
    }

    #[test]
    fn flags_acknowledged_delete_missing_from_watch() {
        let mut h = clean();
        let delete_a = Request::Delete {
            key: "a".into(),
            range_end: Some("\0".into()),
        };
        let ok = Outcome::Ok(Response::Delete {
            revision: 8,
            deleted: 3,
        });
        op(&mut h, delete_a, ok);
        assert_flags(&h, DELETE_MISSING);
    }

    #[test]
    fn flags_put_event_nobody_wrote() {
        let mut h = clean();
        h.operations[1].outcome = Outcome::Rejected("no space".into());
        assert_flags(&h, EVENT_FROM_NOWHERE);
        // A failed compare-and-swap did not write either.
        let mut h = clean();
        let cas = &mut h.operations[4];
        cas.outcome = Outcome::Ok(Response::Txn {
            revision: 6,
            succeeded: false,
            current: None,
        });
        assert_flags(&h, EVENT_FROM_NOWHERE);
    }

    #[test]
    fn flags_write_answered_with_another_revision() {
        let mut h = clean();
        h.operations[2].outcome = ok_put(5);
        assert_flags(&h, REVISION_MISMATCH);
    }

    #[test]
    fn flags_wrong_version_and_create_revision() {
        let mut h = clean();
        edit_events(&mut h, |e| {
            if e.kv.value == "a2" {
                e.kv.version = 3;
            }
        });
        assert_flags(&h, WRONG_VERSION);
        let mut h = clean();
        edit_events(&mut h, |e| {
            if e.kv.value == "a2" {
                e.kv.create_revision = 3;
            }
        });
        assert_flags(&h, WRONG_CREATE_REVISION);
    }

    #[test]
    fn flags_wrong_prev_kv() {
        let mut h = clean();
        if let Some(prev) = &mut h.watches[2].responses[0].events[0].prev_kv {
            prev.version = 2;
        }
        assert_flags(&h, WRONG_PREV_KV);
    }

    #[test]
    fn flags_missing_prev_kv() {
        let mut h = clean();
        h.watches[1].responses[1].events[0].prev_kv = None;
        assert_flags(&h, MISSING_PREV_KV);
        // ... unless a compaction may have removed the previous revision.
        op(
            &mut h,
            Request::Compact { revision: 4 },
            Outcome::Indeterminate("timeout".into()),
        );
        h.operations.last_mut().unwrap().call = 0;
        assert_clean(&h);
    }

    #[test]
    fn flags_delete_of_absent_key() {
        let mut h = clean();
        let extra = resp(9, vec![del("b", 9)]);
        h.watches[0].responses.push(extra);
        assert_flags(&h, DELETE_OF_ABSENT_KEY);
    }

    #[test]
    fn flags_stale_serializable_read() {
        let mut h = clean();
        // Header 4, but the kvs are revision 3's.
        h.operations[11].outcome = got(
            4,
            vec![kv("a", "a1", 2, 2, 1), kv("b", "b1", 3, 3, 1)],
            false,
            2,
        );
        let report = assert_flags(&h, STALE_READ);
        assert_eq!(report.violations.len(), 1, "{}", render(&report));
    }

    #[test]
    fn flags_wrong_count_and_more() {
        let mut h = clean();
        h.operations[12].outcome = got(8, vec![kv("a", "a1", 2, 2, 1)], true, 3);
        assert_flags(&h, READ_COUNT);
        let mut h = clean();
        h.operations[12].outcome = got(8, vec![kv("a", "a1", 2, 2, 1)], false, 2);
        assert_flags(&h, READ_MORE);
    }

    #[test]
    fn reads_outside_coverage_are_skipped() {
        let mut h = clean();
        op(
            &mut h,
            get_req("a", None, 0, 0, false),
            got(20, vec![], false, 0),
        );
        let report = assert_clean(&h);
        assert_eq!(report.reads_checked, 5);
    }

    #[test]
    fn flags_watch_that_skips_its_first_matching_event() {
        let mut h = clean();
        h.watches[2].responses.remove(0); // del b at 5, its start revision
        assert_flags(&h, LATE_START);
    }

    #[test]
    fn flags_streams_that_disagree() {
        let mut h = clean();
        h.watches[2].responses[1].events[0].kv.version = 2;
        assert_flags(&h, WATCHERS_DISAGREE);
    }

    #[test]
    fn flags_missing_revision() {
        let mut h = clean();
        h.watches[0].responses.remove(1); // b1 at 3, the only stream with it
        assert_flags(&h, MISSING_REVISION);
    }

    #[test]
    fn flags_decreasing_header_and_event_before_start() {
        let mut h = clean();
        h.watches[1].responses.push(progress(6));
        assert_flags(&h, HEADER_DECREASED);
        let mut h = clean();
        let a2 = kv("a", "a2", 2, 4, 2);
        h.watches[2].responses.insert(0, resp(4, vec![put(a2)]));
        assert_flags(&h, BEFORE_START);
    }

    /// A random model run, watched by streams that batch revisions at random
    /// and reconnect at random: no violations. Then random damage: no panic.
    #[test]
    fn random_clean_histories_pass_and_damage_does_not_panic() {
        for seed in 0..30 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut h = random_history(&mut rng);
            assert_clean(&h);
            for _ in 0..20 {
                damage(&mut rng, &mut h);
                let _ = check(&h);
            }
        }
    }

    fn random_history(rng: &mut fastrand::Rng) -> History {
        let mut h = History::default();
        let mut state: BTreeMap<String, KeyValue> = BTreeMap::new();
        let mut log: Vec<Vec<Event>> = Vec::new(); // index = revision - 2
        let mut rev = 1;
        for n in 0..60 {
            let key = format!("k{}", rng.u8(0..5));
            if rng.u8(0..4) == 0 {
                let prev = state.remove(&key);
                let deleted = prev.is_some() as i64;
                let request = Request::Delete {
                    key: key.clone(),
                    range_end: None,
                };
                if let Some(prev) = prev {
                    rev += 1;
                    log.push(vec![with_prev(del(&key, rev), prev)]);
                }
                op(
                    &mut h,
                    request,
                    Outcome::Ok(Response::Delete {
                        revision: rev,
                        deleted,
                    }),
                );
            } else {
                rev += 1;
                let value = format!("v{n}");
                let prev = state.get(&key).cloned();
                let (create, version) = prev
                    .as_ref()
                    .map_or((rev, 1), |p| (p.create_revision, p.version + 1));
                let new = kv(&key, &value, create, rev, version);
                state.insert(key.clone(), new.clone());
                let event = put(new);
                log.push(vec![match prev {
                    Some(p) => with_prev(event, p),
                    None => event,
                }]);
                op(&mut h, put_req(&key, &value, 0), ok_put(rev));
            }
            let kvs: Vec<KeyValue> = state.values().cloned().collect();
            let count = kvs.len() as i64;
            op(
                &mut h,
                get_req("", Some("\0"), 0, 0, rng.bool()),
                got(rev, kvs, false, count),
            );
        }
        // Two all-key watchers that reconnect, and a prefix watcher.
        let mut id = 0;
        for (key, end) in [("", Some("\0")), ("k", Some("\0")), ("k2", None)] {
            let mut next = 2;
            while next <= rev {
                let start = if next == 2 { 0 } else { next };
                let mut s = stream(id, (key, end), start, next - 1, true, Vec::new());
                id += 1;
                let stop = rng.i64(next..=rev);
                while next <= stop {
                    let upto = rng.i64(next..=stop);
                    let events: Vec<Event> = (next..=upto)
                        .flat_map(|r| log[(r - 2) as usize].clone())
                        .filter(|e| s.request.covers(&e.kv.key))
                        .collect();
                    if events.is_empty() {
                        s.responses.push(progress(upto));
                    } else {
                        // Batch revisions, never splitting one.
                        s.responses.push(resp(upto, events));
                    }
                    next = upto + 1;
                }
                h.watches.push(s);
            }
        }
        h
    }

    fn damage(rng: &mut fastrand::Rng, h: &mut History) {
        if h.watches.is_empty() {
            return;
        }
        let s = rng.usize(0..h.watches.len());
        let stream = &mut h.watches[s];
        match rng.u8(0..6) {
            0 if !stream.responses.is_empty() => {
                let i = rng.usize(0..stream.responses.len());
                stream.responses.remove(i);
            }
            1 => stream.request.start_revision = rng.i64(-5..100),
            2 => stream.created_revision = rng.i64(i64::MIN..i64::MAX),
            3 => stream.request.range_end = Some(String::new()),
            4 => {
                for r in &mut stream.responses {
                    r.header_revision = rng.i64(-3..200);
                    for e in &mut r.events {
                        e.kv.mod_revision = rng.i64(-3..80);
                    }
                }
            }
            _ => {
                if let Some(op) = h.operations.get_mut(rng.usize(0..60)) {
                    op.outcome = got(rng.i64(-2..70), vec![], rng.bool(), -1);
                }
            }
        }
    }
}
