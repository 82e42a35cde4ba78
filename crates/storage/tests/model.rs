//! Model-based test: a seeded random sequence of puts, deletes, txns,
//! compactions, lease grants/revokes/checkpoints and ranges runs against the
//! redb store and against a tiny in-memory reference model of etcd's MVCC
//! (the full key space after every revision, kept in a Vec, plus the leases
//! and the event history). Every response — Range (latest and historical,
//! with limits, sorts, filters), Put, DeleteRange, Txn, Compaction, lease
//! requests, errors included — every committed event and lease change, the
//! stored leases and their keys, and the history read back as watch events
//! must match.
//!
//! The model is written from etcd's source independently of the crate's
//! code, so a shared misunderstanding is the only way both can agree on a
//! wrong answer.

use std::collections::BTreeMap;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request as Op;
use etcd_proto::etcdserverpb::response_op::Response as OpResp;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse,
    LeaseCheckpoint, LeaseCheckpointRequest, LeaseCheckpointResponse, LeaseGrantRequest,
    LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::{event::EventType, Event, KeyValue};
use etcd_proto::raftpb::raft_request::Request;
use etcd_proto::raftpb::RaftRequest;
use etcd_storage::{ApplyError, ApplyResponse, Backend, LeaseChange, LeaseRecord, MAX_LEASE_TTL};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const KEYS: &[&[u8]] = &[
    b"a", b"aa", b"ab", b"abc", b"b", b"b\xff", b"ba", b"c", b"d", b"\xff",
];

type State = BTreeMap<Vec<u8>, KeyValue>;

/// The reference: the whole key space after each revision.
struct Model {
    /// (revision, state after it), one entry per revision from 1.
    states: Vec<(i64, State)>,
    compacted: i64,
    /// Granted leases: id -> (ttl, remaining_ttl).
    leases: BTreeMap<i64, (i64, i64)>,
    /// Every event ever, in order, without prev_kv.
    history: Vec<Event>,
}

/// A result to compare: the store's error is reduced to its message.
type Outcome<T> = Result<T, String>;

fn err<T>(e: ApplyError) -> Outcome<T> {
    Err(e.to_string())
}

impl Model {
    fn new() -> Model {
        Model {
            states: vec![(1, State::new())],
            compacted: -1,
            leases: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    fn current(&self) -> i64 {
        self.states.last().map(|s| s.0).unwrap_or(1)
    }

    fn latest(&self) -> &State {
        &self.states.last().unwrap().1
    }

    fn state_at(&self, rev: i64) -> &State {
        &self.states.iter().rev().find(|(r, _)| *r <= rev).unwrap().1
    }

    fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
        if end.is_empty() {
            k == key
        } else if end == [0] {
            k >= key
        } else {
            k >= key && k < end
        }
    }

    fn select<'s>(state: &'s State, key: &[u8], end: &[u8]) -> Vec<&'s KeyValue> {
        state
            .iter()
            .filter(|(k, _)| Self::in_range(k, key, end))
            .map(|(_, v)| v)
            .collect()
    }

    /// apply.go `Range` over a state `cur` at revision `cur_rev`.
    fn range_on(&self, req: &RangeRequest, cur: &State, cur_rev: i64) -> Outcome<RangeResponse> {
        if req.revision > cur_rev {
            return err(ApplyError::FutureRevision);
        }
        let rev = if req.revision <= 0 {
            cur_rev
        } else {
            req.revision
        };
        if rev < self.compacted {
            return err(ApplyError::Compacted);
        }
        let state = if rev == cur_rev {
            cur
        } else {
            self.state_at(rev)
        };
        let all = Self::select(state, &req.key, &req.range_end);
        let count = all.len() as i64;
        let unsorted_limit = req.sort_order == 0
            && req.min_mod_revision == 0
            && req.max_mod_revision == 0
            && req.min_create_revision == 0
            && req.max_create_revision == 0;
        let fetch = if req.count_only {
            0
        } else if unsorted_limit && req.limit > 0 {
            (req.limit + 1) as usize
        } else {
            usize::MAX
        };
        let mut kvs: Vec<KeyValue> = all.into_iter().take(fetch).cloned().collect();
        kvs.retain(|kv| req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision);
        kvs.retain(|kv| req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision);
        kvs.retain(|kv| {
            req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision
        });
        kvs.retain(|kv| {
            req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision
        });
        let mut order = req.sort_order;
        if req.sort_target != 0 && order == 0 {
            order = 1;
        }
        if order != 0 {
            let key = |kv: &KeyValue| -> (i64, Vec<u8>) {
                match req.sort_target {
                    1 => (kv.version, vec![]),
                    2 => (kv.create_revision, vec![]),
                    3 => (kv.mod_revision, vec![]),
                    4 => (0, kv.value.clone()),
                    _ => (0, kv.key.clone()),
                }
            };
            if order == 1 {
                kvs.sort_by_key(key);
            } else {
                kvs.sort_by_key(|kv| std::cmp::Reverse(key(kv)));
            }
        }
        let mut more = false;
        if req.limit > 0 && kvs.len() > req.limit as usize {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            header: hdr(cur_rev),
            kvs,
            more,
            count,
        })
    }

    fn range(&self, req: &RangeRequest) -> Outcome<RangeResponse> {
        self.range_on(req, self.latest(), self.current())
    }

    /// Runs a write on a working copy: returns the response and the events.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Model, &mut Work) -> Outcome<T>,
    ) -> (Outcome<T>, Vec<Event>) {
        let mut work = Work {
            state: self.latest().clone(),
            begin: self.current(),
            events: Vec::new(),
        };
        let out = f(self, &mut work);
        if out.is_err() || work.events.is_empty() {
            return (out, Vec::new());
        }
        self.states.push((work.begin + 1, work.state));
        self.history.extend(work.events.iter().map(|e| Event {
            prev_kv: None,
            ..e.clone()
        }));
        (out, work.events)
    }

    /// A top-level put: etcd checks the lease before anything else.
    fn put(&mut self, p: &PutRequest) -> (Outcome<PutResponse>, Vec<Event>) {
        if p.lease != 0 && !self.leases.contains_key(&p.lease) {
            return (err(ApplyError::LeaseNotFound), vec![]);
        }
        self.write(|_, w| w.put(p))
    }

    /// lessor.go `Grant` as applied (the TTL arrives already raised).
    fn grant(&mut self, id: i64, ttl: i64) -> (Outcome<LeaseGrantResponse>, Vec<LeaseChange>) {
        if id == 0 {
            return (
                err(ApplyError::Unsupported("a lease grant without an id")),
                vec![],
            );
        }
        if ttl > MAX_LEASE_TTL {
            return (err(ApplyError::LeaseTtlTooLarge), vec![]);
        }
        if self.leases.contains_key(&id) {
            return (err(ApplyError::LeaseExists), vec![]);
        }
        self.leases.insert(id, (ttl, 0));
        let resp = LeaseGrantResponse {
            header: hdr(self.current()),
            id,
            ttl,
            error: String::new(),
        };
        (Ok(resp), vec![LeaseChange::Granted { id, ttl }])
    }

    /// lessor.go `Revoke`: the lease's keys, sorted, deleted in one txn.
    fn revoke(&mut self, id: i64) -> (Outcome<LeaseRevokeResponse>, Vec<Event>, Vec<LeaseChange>) {
        if self.leases.remove(&id).is_none() {
            return (err(ApplyError::LeaseNotFound), vec![], vec![]);
        }
        let keys: Vec<Vec<u8>> = self
            .latest()
            .values()
            .filter(|kv| kv.lease == id)
            .map(|kv| kv.key.clone())
            .collect();
        let (out, events) = self.write(|_, w| {
            for k in &keys {
                w.delete(&DeleteRangeRequest {
                    key: k.clone(),
                    ..Default::default()
                });
            }
            Ok(LeaseRevokeResponse {
                header: hdr(w.begin + i64::from(!w.events.is_empty())),
            })
        });
        (out, events, vec![LeaseChange::Revoked { id }])
    }

    fn checkpoint(
        &mut self,
        cps: &[LeaseCheckpoint],
    ) -> (Outcome<LeaseCheckpointResponse>, Vec<LeaseChange>) {
        let mut changes = Vec::new();
        for c in cps {
            if let Some(l) = self.leases.get_mut(&c.id) {
                l.1 = c.remaining_ttl;
                changes.push(LeaseChange::Checkpointed {
                    id: c.id,
                    remaining_ttl: c.remaining_ttl,
                });
            }
        }
        let resp = LeaseCheckpointResponse {
            header: hdr(self.current()),
        };
        (Ok(resp), changes)
    }

    /// What a watcher replaying from `from` reads (watchable_store.go
    /// `syncWatchers` + the prev_kv lookup of v3rpc/watch.go).
    fn events(
        &self,
        from: i64,
        key: &[u8],
        end: &[u8],
        prev_kv: bool,
        max: usize,
    ) -> Outcome<Vec<Event>> {
        let from = from.max(1);
        if from < self.compacted {
            return err(ApplyError::Compacted);
        }
        let mut out: Vec<Event> = Vec::new();
        let mut revs = 0;
        for (i, e) in self.history.iter().enumerate() {
            let kv = e.kv.as_ref().unwrap();
            let rev = kv.mod_revision;
            if rev < from || !Self::in_range(&kv.key, key, end) {
                continue;
            }
            // Compaction at R keeps of revision R only each key's last change
            // when it is a put (a txn the server would refuse may put a key
            // twice in one revision).
            if rev == self.compacted {
                let later_same_key = self.history[i + 1..].iter().any(|l| {
                    let lkv = l.kv.as_ref().unwrap();
                    lkv.mod_revision == rev && lkv.key == kv.key
                });
                if later_same_key || e.r#type == EventType::Delete as i32 {
                    continue;
                }
            }
            if out.last().map(|l| l.kv.as_ref().unwrap().mod_revision) != Some(rev) {
                if revs == max {
                    break;
                }
                revs += 1;
            }
            let prev = if prev_kv && rev > self.compacted {
                self.state_at(rev - 1).get(&kv.key).cloned()
            } else {
                None
            };
            out.push(Event {
                prev_kv: prev,
                ..e.clone()
            });
        }
        Ok(out)
    }

    fn compare(c: &Compare, state: &State) -> bool {
        let kvs = Self::select(state, &c.key, &c.range_end);
        let check = |kv: &KeyValue| {
            use std::cmp::Ordering;
            let ord: Ordering = match (c.target, &c.target_union) {
                (3, Some(TargetUnion::Value(v))) => kv.value.as_slice().cmp(v),
                (0, Some(TargetUnion::Version(v))) => kv.version.cmp(v),
                (1, Some(TargetUnion::CreateRevision(v))) => kv.create_revision.cmp(v),
                (2, Some(TargetUnion::ModRevision(v))) => kv.mod_revision.cmp(v),
                (4, Some(TargetUnion::Lease(v))) => kv.lease.cmp(v),
                _ => unreachable!("the generator only builds matching unions"),
            };
            match c.result {
                0 => ord.is_eq(),
                1 => ord.is_gt(),
                2 => ord.is_lt(),
                _ => ord.is_ne(),
            }
        };
        if kvs.is_empty() {
            return c.target != 3 && check(&KeyValue::default());
        }
        kvs.into_iter().all(check)
    }

    /// Chosen branch of `t` and of the nested txns in it, all against `pre`.
    fn path(t: &TxnRequest, pre: &State) -> Vec<bool> {
        let ok = t.compare.iter().all(|c| Self::compare(c, pre));
        let mut path = vec![ok];
        for op in if ok { &t.success } else { &t.failure } {
            if let Some(Op::RequestTxn(n)) = &op.request {
                path.extend(Self::path(n, pre));
            }
        }
        path
    }

    fn txn(&mut self, t: &TxnRequest) -> (Outcome<TxnResponse>, Vec<Event>) {
        self.write(|m, w| {
            let pre = w.state.clone();
            let path = Self::path(t, &pre);
            m.txn_checks(t, &path, &pre)?;
            let mut pos = 0;
            let mut resp = m.txn_exec(w, t, &path, &mut pos);
            resp.header = hdr(w.begin + i64::from(!w.events.is_empty()));
            Ok(resp)
        })
    }

    fn txn_checks(&self, t: &TxnRequest, path: &[bool], pre: &State) -> Outcome<()> {
        // Leases first (puts), then ranges, each in path order.
        let mut pos = 0;
        let mut puts = Vec::new();
        let mut ranges = Vec::new();
        Self::collect(t, path, &mut pos, &mut puts, &mut ranges);
        for p in puts {
            if (p.ignore_value || p.ignore_lease) && !pre.contains_key(&p.key) {
                return err(ApplyError::KeyNotFound);
            }
            if p.lease != 0 && !self.leases.contains_key(&p.lease) {
                return err(ApplyError::LeaseNotFound);
            }
        }
        for r in ranges {
            if r.revision != 0 && r.revision > self.current() {
                return err(ApplyError::FutureRevision);
            }
            if r.revision != 0 && r.revision < self.compacted {
                return err(ApplyError::Compacted);
            }
        }
        Ok(())
    }

    fn collect<'t>(
        t: &'t TxnRequest,
        path: &[bool],
        pos: &mut usize,
        puts: &mut Vec<&'t PutRequest>,
        ranges: &mut Vec<&'t RangeRequest>,
    ) {
        let ok = path[*pos];
        *pos += 1;
        for op in if ok { &t.success } else { &t.failure } {
            match &op.request {
                Some(Op::RequestTxn(n)) => Self::collect(n, path, pos, puts, ranges),
                Some(Op::RequestPut(p)) => puts.push(p),
                Some(Op::RequestRange(r)) => ranges.push(r),
                _ => {}
            }
        }
    }

    fn txn_exec(
        &self,
        w: &mut Work,
        t: &TxnRequest,
        path: &[bool],
        pos: &mut usize,
    ) -> TxnResponse {
        let ok = path[*pos];
        *pos += 1;
        let mut responses = Vec::new();
        for op in if ok { &t.success } else { &t.failure } {
            let r = match &op.request {
                Some(Op::RequestRange(r)) => {
                    let cur_rev = w.begin + i64::from(!w.events.is_empty());
                    let resp = self.range_on(r, &w.state.clone(), cur_rev);
                    OpResp::ResponseRange(resp.expect("pre-checked"))
                }
                Some(Op::RequestPut(p)) => OpResp::ResponsePut(w.put(p).expect("pre-checked")),
                Some(Op::RequestDeleteRange(d)) => OpResp::ResponseDeleteRange(w.delete(d)),
                Some(Op::RequestTxn(n)) => {
                    let mut resp = self.txn_exec(w, n, path, pos);
                    resp.header = Some(ResponseHeader::default());
                    OpResp::ResponseTxn(resp)
                }
                None => unreachable!(),
            };
            responses.push(ResponseOp { response: Some(r) });
        }
        TxnResponse {
            header: None,
            succeeded: ok,
            responses,
        }
    }

    fn compact(&mut self, rev: i64) -> Outcome<CompactionResponse> {
        if rev <= self.compacted {
            return err(ApplyError::Compacted);
        }
        if rev > self.current() {
            return err(ApplyError::FutureRevision);
        }
        self.compacted = rev;
        Ok(CompactionResponse {
            header: hdr(self.current()),
        })
    }
}

/// The working state of one write request in the model.
struct Work {
    state: State,
    begin: i64,
    events: Vec<Event>,
}

impl Work {
    fn put(&mut self, p: &PutRequest) -> Outcome<PutResponse> {
        let prev = self.state.get(&p.key).cloned();
        if (p.ignore_value || p.ignore_lease) && prev.is_none() {
            return err(ApplyError::KeyNotFound);
        }
        let rev = self.begin + 1;
        let kv = KeyValue {
            key: p.key.clone(),
            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            value: match (&prev, p.ignore_value) {
                (Some(prev), true) => prev.value.clone(),
                _ => p.value.clone(),
            },
            lease: p.lease,
        };
        self.state.insert(p.key.clone(), kv.clone());
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev.clone(),
        });
        Ok(PutResponse {
            header: hdr(rev),
            prev_kv: if p.prev_kv { prev } else { None },
        })
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResponse {
        let victims: Vec<KeyValue> = Model::select(&self.state, &d.key, &d.range_end)
            .into_iter()
            .cloned()
            .collect();
        for v in &victims {
            self.state.remove(&v.key);
            self.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: v.key.clone(),
                    mod_revision: self.begin + 1,
                    ..Default::default()
                }),
                prev_kv: Some(v.clone()),
            });
        }
        let rev = if self.events.is_empty() {
            self.begin
        } else {
            self.begin + 1
        };
        DeleteRangeResponse {
            header: hdr(rev),
            deleted: victims.len() as i64,
            prev_kvs: if d.prev_kv { victims } else { vec![] },
        }
    }
}

fn hdr(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

// ---- generators ----

fn gen_key(rng: &mut Rng) -> Vec<u8> {
    rng.pick(KEYS).to_vec()
}

fn gen_range_end(rng: &mut Rng, key: &[u8]) -> Vec<u8> {
    match rng.below(5) {
        0 | 1 => vec![],
        2 => vec![0],
        3 => {
            // A prefix end.
            let mut end = key.to_vec();
            while end.last() == Some(&0xff) {
                end.pop();
            }
            match end.last_mut() {
                Some(b) => {
                    *b += 1;
                    end
                }
                None => vec![0],
            }
        }
        _ => gen_key(rng),
    }
}

fn gen_put(rng: &mut Rng, top_level: bool) -> PutRequest {
    PutRequest {
        key: gen_key(rng),
        value: format!("v{}", rng.below(1000)).into_bytes(),
        lease: if rng.chance(40) {
            1 + rng.below(4) as i64
        } else {
            0
        },
        prev_kv: rng.chance(50),
        ignore_value: top_level && rng.chance(10),
        ignore_lease: false,
    }
}

fn gen_delete(rng: &mut Rng) -> DeleteRangeRequest {
    let key = gen_key(rng);
    DeleteRangeRequest {
        range_end: gen_range_end(rng, &key),
        key,
        prev_kv: rng.chance(50),
    }
}

fn gen_range(rng: &mut Rng, model: &Model, historical: bool) -> RangeRequest {
    let key = if rng.chance(10) {
        vec![0]
    } else {
        gen_key(rng)
    };
    let cur = model.current();
    let revision = if historical && rng.chance(60) {
        // Around the interesting points: compacted, current, beyond.
        let lo = model.compacted - 2;
        lo + rng.below((cur - lo + 3) as u64) as i64
    } else {
        0
    };
    let filter = |rng: &mut Rng| {
        if rng.chance(10) {
            1 + rng.below(cur as u64 + 1) as i64
        } else {
            0
        }
    };
    RangeRequest {
        range_end: gen_range_end(rng, &key),
        key,
        limit: if rng.chance(50) {
            rng.below(4) as i64
        } else {
            0
        },
        revision,
        sort_order: if rng.chance(30) {
            rng.below(3) as i32
        } else {
            0
        },
        sort_target: if rng.chance(30) {
            rng.below(5) as i32
        } else {
            0
        },
        serializable: false,
        keys_only: rng.chance(10),
        count_only: rng.chance(10),
        min_mod_revision: filter(rng),
        max_mod_revision: filter(rng),
        min_create_revision: filter(rng),
        max_create_revision: filter(rng),
    }
}

fn gen_compare(rng: &mut Rng, model: &Model) -> Compare {
    let key = gen_key(rng);
    let cur = model.current();
    let target = rng.below(5) as i32;
    let union = match target {
        0 => TargetUnion::Version(rng.below(4) as i64),
        1 => TargetUnion::CreateRevision(rng.below(cur as u64 + 1) as i64),
        2 => TargetUnion::ModRevision(rng.below(cur as u64 + 1) as i64),
        3 => TargetUnion::Value(format!("v{}", rng.below(1000)).into_bytes()),
        _ => TargetUnion::Lease(0),
    };
    Compare {
        result: [
            CompareResult::Equal,
            CompareResult::Greater,
            CompareResult::Less,
            CompareResult::NotEqual,
        ][rng.below(4) as usize] as i32,
        target: [
            CompareTarget::Version,
            CompareTarget::Create,
            CompareTarget::Mod,
            CompareTarget::Value,
            CompareTarget::Lease,
        ][target as usize] as i32,
        range_end: if rng.chance(20) {
            gen_range_end(rng, &key)
        } else {
            vec![]
        },
        key,
        target_union: Some(union),
    }
}

fn gen_ops(rng: &mut Rng, model: &Model, depth: u32) -> Vec<RequestOp> {
    (0..rng.below(4))
        .map(|_| {
            let request = match rng.below(10) {
                0..=2 => Op::RequestPut(gen_put(rng, false)),
                3 | 4 => Op::RequestDeleteRange(gen_delete(rng)),
                5 if depth < 2 => Op::RequestTxn(gen_txn(rng, model, depth + 1)),
                _ => Op::RequestRange(gen_range(rng, model, true)),
            };
            RequestOp {
                request: Some(request),
            }
        })
        .collect()
}

fn gen_txn(rng: &mut Rng, model: &Model, depth: u32) -> TxnRequest {
    TxnRequest {
        compare: (0..rng.below(3)).map(|_| gen_compare(rng, model)).collect(),
        success: gen_ops(rng, model, depth),
        failure: gen_ops(rng, model, depth),
    }
}

// ---- the test ----

fn outcome<T>(
    r: Result<ApplyResponse, ApplyError>,
    f: impl FnOnce(ApplyResponse) -> Option<T>,
) -> Outcome<T> {
    match r {
        Ok(resp) => Ok(f(resp).expect("response of the request's kind")),
        Err(ApplyError::Storage(e)) => panic!("storage failed: {e}"),
        Err(e) => Err(e.to_string()),
    }
}

fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut backend = Backend::open(&path).unwrap();
    let mut model = Model::new();
    let mut rng = Rng(seed);
    let mut step = 0;
    // The interesting revokes happened (guards the generator's mix).
    let mut multi_key_revokes = 0;
    while step < steps {
        // A batch of 1..4 writes, then a few reads.
        let mut batch = backend.begin_apply().unwrap();
        let mut expected_events = Vec::new();
        let mut expected_leases = Vec::new();
        for _ in 0..1 + rng.below(4) {
            step += 1;
            let ctx = format!("seed {seed} step {step}");
            match rng.below(100) {
                0..=35 => {
                    let p = gen_put(&mut rng, true);
                    let got = outcome(batch.apply(&raft(Request::Put(p.clone()))), |r| match r {
                        ApplyResponse::Put(r) => Some(r),
                        _ => None,
                    });
                    let (want, ev) = model.put(&p);
                    assert_eq!(got, want, "{ctx}: put {p:?}");
                    expected_events.extend(ev);
                }
                36..=51 => {
                    let d = gen_delete(&mut rng);
                    let got =
                        outcome(
                            batch.apply(&raft(Request::DeleteRange(d.clone()))),
                            |r| match r {
                                ApplyResponse::DeleteRange(r) => Some(r),
                                _ => None,
                            },
                        );
                    let (want, ev) = model.write(|_, w| Ok(w.delete(&d)));
                    assert_eq!(got, want, "{ctx}: delete {d:?}");
                    expected_events.extend(ev);
                }
                52..=79 => {
                    let t = gen_txn(&mut rng, &model, 0);
                    let got = outcome(batch.apply(&raft(Request::Txn(t.clone()))), |r| match r {
                        ApplyResponse::Txn(r) => Some(r),
                        _ => None,
                    });
                    let (want, ev) = model.txn(&t);
                    assert_eq!(got, want, "{ctx}: txn {t:?}");
                    expected_events.extend(ev);
                }
                80..=85 => {
                    let id = rng.below(5) as i64;
                    let ttl = if rng.chance(10) {
                        MAX_LEASE_TTL + 1
                    } else {
                        1 + rng.below(100) as i64
                    };
                    let got = outcome(
                        batch.apply(&raft(Request::LeaseGrant(LeaseGrantRequest { ttl, id }))),
                        |r| match r {
                            ApplyResponse::LeaseGrant(r) => Some(r),
                            _ => None,
                        },
                    );
                    let (want, changes) = model.grant(id, ttl);
                    assert_eq!(got, want, "{ctx}: grant {id} ttl {ttl}");
                    expected_leases.extend(changes);
                }
                86..=87 => {
                    let id = rng.below(5) as i64;
                    let got = outcome(
                        batch.apply(&raft(Request::LeaseRevoke(LeaseRevokeRequest { id }))),
                        |r| match r {
                            ApplyResponse::LeaseRevoke(r) => Some(r),
                            _ => None,
                        },
                    );
                    let (want, ev, changes) = model.revoke(id);
                    assert_eq!(got, want, "{ctx}: revoke {id}");
                    multi_key_revokes += usize::from(ev.len() >= 2);
                    expected_events.extend(ev);
                    expected_leases.extend(changes);
                }
                88..=92 => {
                    let checkpoints: Vec<LeaseCheckpoint> = (0..rng.below(4))
                        .map(|_| LeaseCheckpoint {
                            id: rng.below(6) as i64,
                            remaining_ttl: rng.below(50) as i64,
                        })
                        .collect();
                    let req = LeaseCheckpointRequest {
                        checkpoints: checkpoints.clone(),
                    };
                    let got = outcome(
                        batch.apply(&raft(Request::LeaseCheckpoint(req))),
                        |r| match r {
                            ApplyResponse::LeaseCheckpoint(r) => Some(r),
                            _ => None,
                        },
                    );
                    let (want, changes) = model.checkpoint(&checkpoints);
                    assert_eq!(got, want, "{ctx}: checkpoint {checkpoints:?}");
                    expected_leases.extend(changes);
                }
                _ => {
                    let cur = model.current();
                    let lo = model.compacted - 1;
                    let rev = lo + rng.below((cur - lo + 2) as u64) as i64;
                    let req = CompactionRequest {
                        revision: rev,
                        physical: rng.chance(50),
                    };
                    let got = outcome(batch.apply(&raft(Request::Compaction(req))), |r| match r {
                        ApplyResponse::Compaction(r) => Some(r),
                        _ => None,
                    });
                    assert_eq!(got, model.compact(rev), "{ctx}: compact {rev}");
                }
            }
        }
        let committed = batch.commit(rng.chance(20)).unwrap();
        assert_eq!(committed.revision, model.current());
        assert_eq!(
            committed.events, expected_events,
            "seed {seed} step {step}: events"
        );
        assert_eq!(
            committed.lease_changes, expected_leases,
            "seed {seed} step {step}: lease changes"
        );

        let read = backend.read().unwrap();
        assert_eq!(read.current_revision().unwrap(), model.current());
        assert_eq!(read.compacted_revision().unwrap(), model.compacted);
        let want_leases: Vec<LeaseRecord> = model
            .leases
            .iter()
            .map(|(&id, &(ttl, remaining_ttl))| LeaseRecord {
                id,
                ttl,
                remaining_ttl,
            })
            .collect();
        assert_eq!(
            read.leases().unwrap(),
            want_leases,
            "seed {seed} step {step}"
        );
        for id in 0..5 {
            let want: Vec<Vec<u8>> = model
                .latest()
                .values()
                .filter(|kv| id != 0 && kv.lease == id)
                .map(|kv| kv.key.clone())
                .collect();
            assert_eq!(
                read.lease_keys(id).unwrap(),
                want,
                "seed {seed} step {step}: keys of {id}"
            );
            let want = model
                .leases
                .get(&id)
                .map(|&(ttl, remaining_ttl)| LeaseRecord {
                    id,
                    ttl,
                    remaining_ttl,
                });
            assert_eq!(read.lease(id).unwrap(), want);
        }
        for _ in 0..2 {
            let key = if rng.chance(20) {
                vec![0]
            } else {
                gen_key(&mut rng)
            };
            let end = gen_range_end(&mut rng, &key);
            let lo = model.compacted - 2;
            let from = lo + rng.below((model.current() - lo + 3) as u64) as i64;
            let prev_kv = rng.chance(50);
            let max = if rng.chance(50) {
                rng.below(4) as usize
            } else {
                usize::MAX
            };
            let got = read
                .events(from, &key, &end, prev_kv, max)
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                model.events(from, &key, &end, prev_kv, max),
                "seed {seed} step {step}: events({from}, {key:?}, {end:?}, {prev_kv}, {max})"
            );
        }
        for _ in 0..4 {
            let req = gen_range(&mut rng, &model, true);
            let got = read.range(&req).map_err(|e| e.to_string());
            assert_eq!(
                got,
                model.range(&req),
                "seed {seed} step {step}: range {req:?}"
            );
        }
        // A read-only txn through the read path.
        let mut t = gen_txn(&mut rng, &model, 0);
        let keep_reads = |ops: &mut Vec<RequestOp>| {
            ops.retain(|op| matches!(op.request, Some(Op::RequestRange(_))))
        };
        keep_reads(&mut t.success);
        keep_reads(&mut t.failure);
        let got = read.txn(&t).map_err(|e| e.to_string());
        let (want, ev) = model.txn(&t);
        assert!(ev.is_empty());
        assert_eq!(got, want, "seed {seed} step {step}: read-only txn {t:?}");
        drop(read);

        if rng.chance(3) {
            // Reopen: a clean close keeps even non-durable commits.
            drop(backend);
            backend = Backend::open(&path).unwrap();
        }
    }
    assert!(multi_key_revokes > 0, "seed {seed}: no revoke deleted keys");
    // Finally every revision that is still readable reads as the model says.
    let read = backend.read().unwrap();
    for rev in model.compacted.max(1)..=model.current() {
        let req = RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: rev,
            ..Default::default()
        };
        assert_eq!(
            read.range(&req).map_err(|e| e.to_string()),
            model.range(&req),
            "seed {seed}: full read at {rev}"
        );
    }
}

fn raft(request: Request) -> RaftRequest {
    RaftRequest {
        caller: None,
        id: 0,
        request: Some(request),
    }
}

#[test]
fn store_matches_model() {
    for seed in [1, 2, 3, 0x5eed_1234_abcd_0001] {
        run(seed, 1500);
    }
}

#[test]
fn sort_enums_are_etcds() {
    // The model above uses raw enum numbers; pin them.
    assert_eq!(SortOrder::Ascend as i32, 1);
    assert_eq!(SortOrder::Descend as i32, 2);
    assert_eq!(SortTarget::Value as i32, 4);
    assert_eq!(CompareTarget::Value as i32, 3);
    assert_eq!(CompareResult::NotEqual as i32, 3);
}
