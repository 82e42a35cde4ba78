//! A generic linearizability checker: given the operations of one
//! partition (one key, as the caller splits the history) and a sequential
//! [`Model`], decide whether some total order of the operations respects
//! real time and is accepted by the model.
//!
//! The search is Wing and Gong's, with Lowe's memoization: the call and
//! return events sit in one doubly linked list sorted by time; the search
//! repeatedly takes a call that precedes the first pending return, applies
//! it to the model, and "lifts" it (its call and return) out of the list,
//! backtracking when it meets a return whose call it could not place. A
//! cache of (set of linearized operations, model state) pairs prunes every
//! configuration already explored, which keeps mostly sequential histories
//! linear in their length.
//!
//! Cost to keep in mind: an open operation (no return) stays a candidate
//! until the end, so when the history is *not* linearizable the search may
//! have to try it at every point, and each open operation can double the
//! work. Callers should drop open operations that cannot have an effect
//! (a failed read) before calling; the budget bounds the rest.
//!
//! Owns: the search, its event list, its cache, and the report of where a
//! failed search got stuck. Not here: what an operation means (the model,
//! see `kv_model`), splitting the history per key, or the time budget's
//! value (the caller picks it).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// A sequential specification of the object the operations act on.
pub trait Model {
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug;
    type Input: std::fmt::Debug;
    type Output: std::fmt::Debug;
    fn init(&self) -> Self::State;
    /// The state after `input` answered with `output` in `state`, or None if that output is impossible in that state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
}

/// One operation of a partition. `ret == u64::MAX` (history::OPEN) means the call has no known return: it may be linearized at any point after `call` (including after every other operation, which is how "it never happened" is expressed; the model's step must then accept any state for such an op).
///
/// Real-time order: `a` precedes `b` only if `a.ret < b.call` (strictly).
/// Operations whose interval merely touches (`a.ret == b.call`) are
/// treated as concurrent, the same rule as [`crate::history`] states; it
/// is the conservative choice, as two clock readings that are equal do
/// not prove an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Reported back in [`CheckResult::Illegal`]; not used by the search.
    pub id: usize,
    /// Informational only: the search needs no per-client order beyond
    /// what the call and return times already say.
    pub client: usize,
    pub call: u64,
    pub ret: u64,
    pub input: I,
    pub output: O,
}

/// The verdict of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult<S> {
    Ok,
    /// Not linearizable. `linearized` is the longest prefix order the search found (op ids in linearization order, with the state after each), and `stuck` the ids of operations that could not be placed next (the minimal-call-time pending ops that the model rejected in the state after the prefix). Enough for a person to read which op broke it.
    Illegal {
        linearized: Vec<(usize, S)>,
        stuck: Vec<usize>,
    },
    /// The search took longer than the budget.
    Timeout,
}

/// How many search steps run between two looks at the clock: often enough
/// to honour a budget of milliseconds, rarely enough to cost nothing.
const CLOCK_EVERY: u64 = 4096;

/// Checks `ops` against `model`, giving up with [`CheckResult::Timeout`]
/// once the search has run for `budget`.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> CheckResult<M::State> {
    if ops.is_empty() {
        return CheckResult::Ok;
    }
    Search::new(model, ops).run(budget)
}

/// The search's mutable state: where it is in the event list, what it has
/// linearized so far, and what it has already seen.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Input, M::Output>],
    list: EventList,
    /// The model state after the operations on `stack`.
    state: M::State,
    /// The operations linearized so far, in order, each with the state
    /// before it, so a pop restores the state without re-running the model.
    stack: Vec<Frame<M::State>>,
    /// The same set as `stack`, as bits, for the cache key.
    linearized: Bitset,
    cache: Cache<M::State>,
    deepest: Deepest<M::State>,
}

struct Frame<S> {
    /// The operation's call node in the event list (what to unlift).
    call: usize,
    op: usize,
    before: S,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [Operation<M::Input, M::Output>]) -> Self {
        Search {
            model,
            ops,
            list: EventList::new(ops),
            state: model.init(),
            stack: Vec::with_capacity(ops.len()),
            linearized: Bitset::new(ops.len()),
            cache: Cache::new(),
            deepest: Deepest::new(),
        }
    }

    fn run(mut self, budget: Duration) -> CheckResult<M::State> {
        let start = Instant::now();
        let mut steps: u64 = 0;
        let mut entry = self.list.first();
        loop {
            if self.list.is_empty() {
                return CheckResult::Ok;
            }
            if steps.is_multiple_of(CLOCK_EVERY) && start.elapsed() >= budget {
                return CheckResult::Timeout;
            }
            steps += 1;
            entry = match self.list.event(entry) {
                Event::Call { op, .. } => self.try_linearize(entry, op),
                Event::Return => {
                    self.record_if_deepest();
                    match self.backtrack() {
                        Some(next) => next,
                        None => return self.illegal(),
                    }
                }
                Event::Head => unreachable!("the head is never a list entry"),
            };
        }
    }

    /// Tries `op` next; returns the entry to look at after it: the list's
    /// first entry if `op` was placed, else the entry after `op`'s call.
    fn try_linearize(&mut self, entry: usize, op: usize) -> usize {
        let o = &self.ops[op];
        if let Some(after) = self.model.step(&self.state, &o.input, &o.output) {
            self.linearized.set(op);
            if self.cache.insert(&self.linearized, &after) {
                let before = std::mem::replace(&mut self.state, after);
                self.stack.push(Frame {
                    call: entry,
                    op,
                    before,
                });
                self.list.lift(entry);
                return self.list.first();
            }
            // Placing `op` here leads to a configuration already explored
            // (and, since we are still searching, already failed).
            self.linearized.clear(op);
        }
        self.list.next(entry)
    }

    /// Undoes the last placement; returns the entry after the undone call
    /// (so the search tries the next candidate), or None when there is
    /// nothing left to undo: the history is not linearizable.
    fn backtrack(&mut self) -> Option<usize> {
        let frame = self.stack.pop()?;
        self.deepest.popped_to(self.stack.len());
        self.linearized.clear(frame.op);
        self.state = frame.before;
        self.list.unlift(frame.call);
        Some(self.list.next(frame.call))
    }

    /// Called when the search meets a return it cannot get past: if the
    /// current prefix is the longest so far, it is what the report shows.
    fn record_if_deepest(&mut self) {
        if !self.deepest.is_beaten_by(self.stack.len()) {
            return;
        }
        let stuck = self.stuck_candidates();
        let (stack, state) = (&self.stack, &self.state);
        let ops = self.ops;
        self.deepest.record(stack.len(), stuck, |k| {
            // The state after frame k is the state before frame k + 1.
            let after = stack.get(k + 1).map_or(state, |next| &next.before);
            (ops[stack[k].op].id, after.clone())
        });
    }

    /// The ids of the operations that could go next (calls before the
    /// first pending return) and that the model rejects in the current
    /// state. If the model accepts them all, every one of them was pruned
    /// by the cache, and all are listed.
    fn stuck_candidates(&self) -> Vec<usize> {
        let candidates: Vec<usize> = self.list.leading_calls().collect();
        let rejected: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&op| {
                let o = &self.ops[op];
                self.model.step(&self.state, &o.input, &o.output).is_none()
            })
            .collect();
        let chosen = if rejected.is_empty() {
            candidates
        } else {
            rejected
        };
        chosen.into_iter().map(|op| self.ops[op].id).collect()
    }

    fn illegal(self) -> CheckResult<M::State> {
        let (linearized, stuck) = self.deepest.into_parts();
        CheckResult::Illegal { linearized, stuck }
    }
}

/// The longest prefix the search has placed, kept for the report.
///
/// Copying the whole stack at each new maximum could be quadratic, so only
/// the part of the stack that changed since the last record is copied:
/// frames below the lowest depth popped since then are the same frames,
/// with the same states after them.
struct Deepest<S> {
    linearized: Vec<(usize, S)>,
    stuck: Vec<usize>,
    recorded: bool,
    /// The lowest stack depth since the last record.
    low_water: usize,
}

impl<S> Deepest<S> {
    fn new() -> Self {
        Deepest {
            linearized: Vec::new(),
            stuck: Vec::new(),
            recorded: false,
            low_water: 0,
        }
    }

    fn is_beaten_by(&self, depth: usize) -> bool {
        !self.recorded || depth > self.linearized.len()
    }

    fn popped_to(&mut self, depth: usize) {
        self.low_water = self.low_water.min(depth);
    }

    /// Records a prefix of `depth` frames; `frame(k)` gives the id and
    /// state after the k-th.
    fn record(&mut self, depth: usize, stuck: Vec<usize>, frame: impl Fn(usize) -> (usize, S)) {
        let keep = self.low_water.min(self.linearized.len());
        self.linearized.truncate(keep);
        self.linearized.extend((keep..depth).map(frame));
        self.stuck = stuck;
        self.recorded = true;
        self.low_water = depth;
    }

    fn into_parts(self) -> (Vec<(usize, S)>, Vec<usize>) {
        (self.linearized, self.stuck)
    }
}

/// A node of the event list.
#[derive(Clone, Copy)]
enum Event {
    /// The sentinel before the first event.
    Head,
    /// `ret` is the node of the same operation's return, lifted with it.
    Call {
        op: usize,
        ret: usize,
    },
    Return,
}

const NIL: usize = usize::MAX;

struct Node {
    prev: usize,
    next: usize,
    event: Event,
}

/// The calls and returns not yet lifted, in time order, as a doubly linked
/// list over a vector. A lifted node keeps its own links, so unlifting in
/// the reverse order of lifting ("dancing links") puts it back exactly.
struct EventList {
    /// Node 0 is the head.
    nodes: Vec<Node>,
}

impl EventList {
    fn new<I, O>(ops: &[Operation<I, O>]) -> Self {
        let order = time_order(ops);
        // Node ids: 0 is the head, then 1 + position in `order`.
        let mut ret_node = vec![NIL; ops.len()];
        for (pos, &(_, kind, op)) in order.iter().enumerate() {
            if kind == RETURN {
                ret_node[op] = pos + 1;
            }
        }
        let mut nodes = Vec::with_capacity(order.len() + 1);
        nodes.push(Node {
            prev: NIL,
            next: 1,
            event: Event::Head,
        });
        for (pos, &(_, kind, op)) in order.iter().enumerate() {
            let id = pos + 1;
            let event = if kind == CALL {
                Event::Call {
                    op,
                    ret: ret_node[op],
                }
            } else {
                Event::Return
            };
            let next = if id == order.len() { NIL } else { id + 1 };
            nodes.push(Node {
                prev: id - 1,
                next,
                event,
            });
        }
        EventList { nodes }
    }

    fn first(&self) -> usize {
        self.nodes[0].next
    }

    fn is_empty(&self) -> bool {
        self.first() == NIL
    }

    fn next(&self, node: usize) -> usize {
        self.nodes[node].next
    }

    fn event(&self, node: usize) -> Event {
        self.nodes[node].event
    }

    /// The operations whose calls come before the first return: the only
    /// ones that may be linearized next.
    fn leading_calls(&self) -> impl Iterator<Item = usize> + '_ {
        let mut node = self.first();
        std::iter::from_fn(move || {
            if node == NIL {
                return None;
            }
            match self.nodes[node].event {
                Event::Call { op, .. } => {
                    node = self.nodes[node].next;
                    Some(op)
                }
                _ => None,
            }
        })
    }

    /// Removes a call and its return.
    fn lift(&mut self, call: usize) {
        let Event::Call { ret, .. } = self.nodes[call].event else {
            unreachable!("only calls are lifted");
        };
        self.unlink(call);
        self.unlink(ret);
    }

    /// Puts back the last lifted call and its return.
    fn unlift(&mut self, call: usize) {
        let Event::Call { ret, .. } = self.nodes[call].event else {
            unreachable!("only calls are unlifted");
        };
        self.relink(ret);
        self.relink(call);
    }

    fn unlink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = node;
        if next != NIL {
            self.nodes[next].prev = node;
        }
    }
}

const CALL: u8 = 0;
const RETURN: u8 = 1;

/// Every operation's call and return as (time, kind, op), sorted by time.
/// At equal times calls sort before returns, so touching intervals count
/// as concurrent (see [`Operation`]). An open operation's return is at
/// `u64::MAX`, after every real event. A return earlier than its call
/// (a recording error) is moved to the call's time so the call still
/// comes first. The op index breaks remaining ties, for determinism.
fn time_order<I, O>(ops: &[Operation<I, O>]) -> Vec<(u64, u8, usize)> {
    let mut events = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, CALL, i));
        events.push((op.ret.max(op.call), RETURN, i));
    }
    events.sort_unstable();
    events
}

/// The set of linearized operations, one bit per operation index.
struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }
}

/// A linearized set (its bitset words) and the state after it.
type Configuration<S> = (Box<[u64]>, S);

/// The configurations (linearized set, state) already explored.
///
/// Buckets are keyed by the configuration's hash so that a lookup hashes
/// the borrowed bitset and state without copying them; only a new
/// configuration is copied in.
struct Cache<S> {
    buckets: HashMap<u64, Vec<Configuration<S>>>,
    hasher: RandomState,
}

impl<S: Clone + Eq + std::hash::Hash> Cache<S> {
    fn new() -> Self {
        Cache {
            buckets: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    /// Adds the configuration; false if it was already there.
    fn insert(&mut self, linearized: &Bitset, state: &S) -> bool {
        let words = linearized.words.as_slice();
        let hash = self.hasher.hash_one((words, state));
        let bucket = self.buckets.entry(hash).or_default();
        if bucket.iter().any(|(w, s)| &**w == words && s == state) {
            return false;
        }
        bucket.push((words.into(), state.clone()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register holding a u64 (0 at the start), with write, read and
    /// compare-and-swap.
    struct Register;

    #[derive(Debug, Clone, Copy)]
    enum In {
        Write(u64),
        Read,
        Cas { expect: u64, new: u64 },
    }

    #[derive(Debug, Clone, Copy)]
    enum Out {
        Ack,
        Value(u64),
        Swapped(bool),
        /// The answer never came (the op's ret is OPEN).
        Unknown,
    }

    impl Model for Register {
        type State = u64;
        type Input = In;
        type Output = Out;

        fn init(&self) -> u64 {
            0
        }

        fn step(&self, &s: &u64, input: &In, output: &Out) -> Option<u64> {
            match (*input, *output) {
                (In::Write(v), Out::Ack | Out::Unknown) => Some(v),
                (In::Read, Out::Value(v)) => (v == s).then_some(s),
                (In::Read, Out::Unknown) => Some(s),
                (In::Cas { expect, new }, Out::Swapped(true)) => (s == expect).then_some(new),
                (In::Cas { expect, .. }, Out::Swapped(false)) => (s != expect).then_some(s),
                (In::Cas { expect, new }, Out::Unknown) => Some(if s == expect { new } else { s }),
                _ => None,
            }
        }
    }

    const OPEN: u64 = u64::MAX;
    const BUDGET: Duration = Duration::from_secs(10);

    fn op(id: usize, call: u64, ret: u64, input: In, output: Out) -> Operation<In, Out> {
        Operation {
            id,
            client: id,
            call,
            ret,
            input,
            output,
        }
    }

    fn run(ops: &[Operation<In, Out>]) -> CheckResult<u64> {
        check(&Register, ops, BUDGET)
    }

    fn stuck_of(result: CheckResult<u64>) -> Vec<usize> {
        match result {
            CheckResult::Illegal { stuck, .. } => stuck,
            other => panic!("expected Illegal, got {other:?}"),
        }
    }

    #[test]
    fn empty_history_is_ok() {
        assert_eq!(run(&[]), CheckResult::Ok);
    }

    #[test]
    fn sequential_history_is_ok() {
        let ops = [
            op(0, 0, 10, In::Read, Out::Value(0)),
            op(1, 20, 30, In::Write(1), Out::Ack),
            op(2, 40, 50, In::Read, Out::Value(1)),
            op(3, 60, 70, In::Cas { expect: 1, new: 2 }, Out::Swapped(true)),
            op(
                4,
                80,
                90,
                In::Cas { expect: 1, new: 3 },
                Out::Swapped(false),
            ),
            op(5, 100, 110, In::Read, Out::Value(2)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn concurrent_writes_with_one_working_order_are_ok() {
        // Only "write 2, then write 1" explains the read of 1.
        let ops = [
            op(0, 0, 100, In::Write(1), Out::Ack),
            op(1, 10, 100, In::Write(2), Out::Ack),
            op(2, 110, 120, In::Read, Out::Value(1)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn concurrent_cas_with_one_working_order_is_ok() {
        // All three overlap, but only one order works: the successful CAS
        // first (the register is 0 only at the start), then the failed CAS
        // and the read of 5 in either order.
        let ops = [
            op(0, 0, 50, In::Cas { expect: 0, new: 5 }, Out::Swapped(true)),
            op(1, 0, 50, In::Cas { expect: 0, new: 6 }, Out::Swapped(false)),
            op(2, 0, 50, In::Read, Out::Value(5)),
            op(3, 60, 70, In::Read, Out::Value(5)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn touching_intervals_are_concurrent() {
        // The read is called at the instant the write returns: equal times
        // prove no order, so reading the old value is allowed.
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 10, 20, In::Read, Out::Value(0)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn stale_read_is_illegal_and_reported() {
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 20, 30, In::Write(2), Out::Ack),
            op(2, 35, 40, In::Read, Out::Value(2)),
            op(3, 45, 50, In::Read, Out::Value(1)),
        ];
        match run(&ops) {
            CheckResult::Illegal { linearized, stuck } => {
                assert_eq!(linearized, vec![(0, 1), (1, 2), (2, 2)]);
                assert_eq!(stuck, vec![3]);
            }
            other => panic!("expected Illegal, got {other:?}"),
        }
    }

    #[test]
    fn lost_write_is_illegal() {
        // Write 2 was acknowledged, yet a later read sees the value before.
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 20, 30, In::Write(2), Out::Ack),
            op(2, 40, 50, In::Read, Out::Value(1)),
        ];
        assert_eq!(stuck_of(run(&ops)), vec![2]);
    }

    #[test]
    fn indeterminate_write_that_is_observed_is_ok() {
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 20, OPEN, In::Write(2), Out::Unknown),
            op(2, 100, 110, In::Read, Out::Value(1)),
            op(3, 120, 130, In::Read, Out::Value(2)),
            op(4, 140, 150, In::Read, Out::Value(2)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn indeterminate_write_never_observed_is_ok() {
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 20, OPEN, In::Write(2), Out::Unknown),
            op(2, 100, 110, In::Read, Out::Value(1)),
            op(3, 120, 130, In::Write(3), Out::Ack),
            op(4, 140, 150, In::Read, Out::Value(3)),
        ];
        assert_eq!(run(&ops), CheckResult::Ok);
    }

    #[test]
    fn indeterminate_write_cannot_act_before_its_call() {
        let ops = [
            op(0, 0, 10, In::Read, Out::Value(2)),
            op(1, 20, OPEN, In::Write(2), Out::Unknown),
        ];
        assert_eq!(stuck_of(run(&ops)), vec![0]);
    }

    #[test]
    fn read_of_a_value_never_written_is_illegal() {
        let ops = [
            op(0, 0, 10, In::Write(1), Out::Ack),
            op(1, 5, 15, In::Read, Out::Value(7)),
        ];
        match run(&ops) {
            CheckResult::Illegal { linearized, stuck } => {
                assert_eq!(linearized, vec![(0, 1)]);
                assert_eq!(stuck, vec![1]);
            }
            other => panic!("expected Illegal, got {other:?}"),
        }
    }

    #[test]
    fn first_operation_impossible_reports_empty_prefix() {
        let ops = [op(0, 0, 10, In::Read, Out::Value(3))];
        assert_eq!(
            run(&ops),
            CheckResult::Illegal {
                linearized: vec![],
                stuck: vec![0],
            }
        );
    }

    /// A linearizable history: a sequential register run, each op at
    /// point `10 * i`, with its interval stretched by up to 24 on each
    /// side, so up to five neighbours overlap. Client `i % 5` runs op `i`,
    /// and a client's consecutive ops (50 apart) never overlap. Every value
    /// written is unique. A few ops are left open, as a timeout would.
    fn random_history(seed: u64, len: usize) -> Vec<Operation<In, Out>> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut reg = 0;
        let mut ops = Vec::with_capacity(len);
        for i in 0..len {
            let point = 100 + 10 * i as u64;
            let call = point - rng.u64(0..25);
            let mut ret = point + rng.u64(0..25);
            let value = 1000 + i as u64;
            let (input, mut output) = match rng.u8(0..10) {
                0..=3 => {
                    reg = value;
                    (In::Write(value), Out::Ack)
                }
                4..=7 => (In::Read, Out::Value(reg)),
                _ => {
                    let expect = if rng.bool() { reg } else { rng.u64(0..100) };
                    let swapped = expect == reg;
                    if swapped {
                        reg = value;
                    }
                    (In::Cas { expect, new: value }, Out::Swapped(swapped))
                }
            };
            if rng.u8(0..100) == 0 {
                ret = OPEN;
                output = Out::Unknown;
            }
            ops.push(Operation {
                id: i,
                client: i % 5,
                call,
                ret,
                input,
                output,
            });
        }
        ops
    }

    #[test]
    fn random_linearizable_history_is_ok() {
        for seed in 0..3 {
            let ops = random_history(seed, 2000);
            assert_eq!(run(&ops), CheckResult::Ok, "seed {seed}");
        }
    }

    #[test]
    fn random_history_with_a_stale_read_is_illegal() {
        let mut ops = random_history(7, 2000);
        // A determinate read late in the run, and a value written well
        // before it with some other write in between: every op is at most
        // 24 from its point and points are 10 apart, so ops 20 apart are
        // ordered, and the value (unique) cannot come back.
        let is_read = |o: &Operation<In, Out>| matches!(o.output, Out::Value(_));
        let is_write = |o: &Operation<In, Out>| matches!(o.output, Out::Ack);
        let r = (1000..ops.len()).find(|&i| is_read(&ops[i])).unwrap();
        let w = (0..r - 60).rev().find(|&i| is_write(&ops[i])).unwrap();
        assert!((w + 20..r - 20).any(|i| is_write(&ops[i])));
        let In::Write(old) = ops[w].input else {
            unreachable!()
        };
        ops[r].output = Out::Value(old);
        let stuck = stuck_of(run(&ops));
        assert!(stuck.contains(&r), "stuck {stuck:?}, stale read {r}");
    }

    #[test]
    fn zero_budget_times_out() {
        let ops = random_history(1, 100);
        assert_eq!(check(&Register, &ops, Duration::ZERO), CheckResult::Timeout);
    }

    #[test]
    fn exponential_search_times_out() {
        // Thirty concurrent writes and a read of a value none wrote: the
        // search must try every subset of the writes before giving up.
        let mut ops: Vec<_> = (0..30)
            .map(|i| op(i, 0, 100, In::Write(i as u64 + 1), Out::Ack))
            .collect();
        ops.push(op(30, 0, 100, In::Read, Out::Value(99)));
        let result = check(&Register, &ops, Duration::from_millis(100));
        assert_eq!(result, CheckResult::Timeout);
    }
}
