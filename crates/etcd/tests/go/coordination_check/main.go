// Command coordination_check drives etcd's own Go client (clientv3 and
// clientv3/concurrency from etcd 3.4.23) through one fixed script of what
// applications coordinate with: watches (key, prefix, past revision replay,
// prev_kv, filters, a compacted start revision), leases (grant, attached
// keys, time-to-live, keep-alive, revoke, list, expiry), concurrency.Mutex
// and concurrency.Election. It prints one JSON object per line for every
// step with what the client saw: headers, revisions, events, key-values,
// TTLs, and for a failed call its error text, Go error type and gRPC code.
//
// It exists so that the Rust test go_coordination.rs can run the very same
// client a Go application would use against the real etcd and against
// etcd-rs and require identical transcripts. The script assumes a fresh,
// empty server. Values that depend on time (a remaining TTL, how long an
// expiry took) are printed as the comparisons the script relies on, never
// raw, so a transcript is reproducible. Lease ids are printed raw: they are
// the server's choice, and the Rust side maps them to their order of
// appearance before comparing.
//
// The program judges nothing itself: a failed call is data, printed like a
// successful one. It exits 0 once the script ran to its end, 2 when it could
// not connect, and 3 when a step ran out of its own time (the rest of the
// script is then skipped, since later steps build on earlier ones).
//
// Build it with ../build.sh OUTPUT coordination_check.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"google.golang.org/grpc/status"
)

// fields is one step's printed record; encoding/json sorts map keys, which
// keeps every line byte-for-byte reproducible.
type fields map[string]interface{}

const (
	// quiet is how long a watch is observed after its expected events, to
	// catch events that must not come.
	quiet = 300 * time.Millisecond
	// waitTimeout bounds how long a step waits for events or a lock.
	waitTimeout = 4 * time.Second
	// stillWaiting is how long a blocked Lock/Campaign gets to return early.
	stillWaiting = 400 * time.Millisecond
	// shortWait is the context of a Lock that must fail while the lock is held.
	shortWait = 500 * time.Millisecond
	// sessionTTL is the TTL of the concurrency sessions.
	sessionTTL = 10
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint, host:port")
	stepTimeout := flag.Duration("step-timeout", 10*time.Second, "deadline of each step")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{*endpoint},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "coordination_check: connect to %s: %v\n", *endpoint, err)
		os.Exit(2)
	}
	defer cli.Close()

	r := &runner{cli: cli, timeout: *stepTimeout, out: json.NewEncoder(os.Stdout)}
	r.watchScript()
	r.leaseScript()
	r.mutexScript()
	r.electionScript()
}

// runner executes steps in order and prints their records.
type runner struct {
	cli     *clientv3.Client
	timeout time.Duration
	out     *json.Encoder
}

// step runs one call under the step's deadline and prints its record. A
// call may time out on a shorter context of its own (that is data); the
// step's own deadline passing ends the program, since the server is then
// unresponsive and later steps build on this one.
func (r *runner) step(name string, call func(ctx context.Context) (fields, error)) fields {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	rec, err := call(ctx)
	if err != nil {
		rec = errorFields(err)
	}
	rec["step"] = name
	rec["ok"] = err == nil
	if encErr := r.out.Encode(rec); encErr != nil {
		fmt.Fprintf(os.Stderr, "coordination_check: write: %v\n", encErr)
		os.Exit(1)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "coordination_check: step %s timed out; stopping\n", name)
		os.Exit(3)
	}
	return rec
}

// put, get and del are the KV calls the script sets the stage with.
func (r *runner) put(key, val string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Put(ctx, key, val, opts...)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.Header), "prev_kv": kvFields(resp.PrevKv)}, nil
	}
}

func (r *runner) get(key string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Get(ctx, key, opts...)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.Header), "kvs": kvList(resp.Kvs), "count": resp.Count}, nil
	}
}

func (r *runner) del(key string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Delete(ctx, key, opts...)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.Header), "deleted": resp.Deleted}, nil
	}
}

// watcher is an open watch the script reads from across several steps.
type watcher struct {
	ch     clientv3.WatchChan
	cancel context.CancelFunc
}

// openWatch starts a watch and waits for the server to confirm it (the
// created notification), so writes made afterwards are certainly seen.
func (r *runner) openWatch(name, key string, opts ...clientv3.OpOption) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{ch: r.cli.Watch(ctx, key, append(opts, clientv3.WithCreatedNotify())...), cancel: cancel}
	r.step(name, func(context.Context) (fields, error) {
		select {
		case wr, ok := <-w.ch:
			if !ok {
				return fields{"closed": true}, nil
			}
			return watchResponseFields(wr), nil
		case <-time.After(waitTimeout):
			return fields{"no_response_within": waitTimeout.String()}, nil
		}
	})
	return w
}

// collect reads `want` events (however the server splits them into
// responses, which etcd itself does by timing), then watches `quiet` longer
// for events that must not come. It stops early when the watch is canceled
// or closed, recording why.
func (w *watcher) collect(want int) func(context.Context) (fields, error) {
	return func(context.Context) (fields, error) {
		events := []interface{}{}
		rec := fields{}
		deadline := time.After(waitTimeout)
		extra := 0
		var quietEnd <-chan time.Time
		if want == 0 {
			quietEnd = time.After(quiet)
		}
		for {
			select {
			case wr, ok := <-w.ch:
				if !ok {
					rec["closed"] = true
					return w.finish(rec, events, extra), nil
				}
				for _, ev := range wr.Events {
					if len(events) < want {
						events = append(events, eventFields(ev))
					} else {
						extra++
					}
				}
				if len(wr.Events) > 0 {
					// The revision of the response that completed the
					// expected events: etcd sends the event's revision.
					if quietEnd == nil {
						rec["last_header_revision"] = wr.Header.Revision
					}
				}
				if wr.Canceled || wr.CompactRevision != 0 || wr.Err() != nil {
					rec["canceled"] = wr.Canceled
					rec["compact_revision"] = wr.CompactRevision
					if err := wr.Err(); err != nil {
						rec["watch_err"] = errorFields(err)
					}
				}
				if len(events) >= want && quietEnd == nil {
					quietEnd = time.After(quiet)
				}
			case <-quietEnd:
				return w.finish(rec, events, extra), nil
			case <-deadline:
				rec["timed_out_waiting"] = true
				return w.finish(rec, events, extra), nil
			}
		}
	}
}

func (w *watcher) finish(rec fields, events []interface{}, extra int) fields {
	rec["events"] = events
	rec["unexpected_extra_events"] = extra
	return rec
}

// pastWatch starts a watch without the created notification (a replay from
// a past revision delivers its events right away) and collects from it.
func (r *runner) pastWatch(want int, key string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &watcher{ch: r.cli.Watch(wctx, key, opts...), cancel: cancel}
		return w.collect(want)(ctx)
	}
}

func (r *runner) watchScript() {
	// A plain key: a later put and delete, nothing for other keys.
	w := r.openWatch("watch_key_created", "some_key")
	first := r.step("watch_put_some_key", r.put("some_key", "v1"))
	firstRev := revisionOf(first)
	r.step("watch_put_other_key", r.put("some_key_other", "x"))
	r.step("watch_delete_some_key", r.del("some_key"))
	r.step("watch_key_events", w.collect(2))
	w.cancel()

	// A prefix.
	w = r.openWatch("watch_prefix_created", "/p/", clientv3.WithPrefix())
	r.step("watch_prefix_put_a", r.put("/p/a", "1"))
	r.step("watch_prefix_put_b", r.put("/p/b", "1"))
	r.step("watch_prefix_put_outside", r.put("/q", "1"))
	r.step("watch_prefix_delete_a", r.del("/p/a"))
	r.step("watch_prefix_events", w.collect(3))
	w.cancel()

	// Replays from a past revision.
	r.step("watch_rev_replay_key", r.pastWatch(2, "some_key", clientv3.WithRev(firstRev)))
	r.step("watch_rev_replay_prefix", r.pastWatch(3, "/p/", clientv3.WithPrefix(), clientv3.WithRev(firstRev)))
	r.step("watch_rev_replay_all_prev_kv", r.pastWatch(7, "", clientv3.WithPrefix(),
		clientv3.WithRev(firstRev), clientv3.WithPrevKV()))

	// prev_kv on live events.
	w = r.openWatch("watch_prev_kv_created", "/p/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	r.step("watch_prev_kv_put_b", r.put("/p/b", "2"))
	r.step("watch_prev_kv_delete_b", r.del("/p/b"))
	r.step("watch_prev_kv_events", w.collect(2))
	w.cancel()

	// Filters.
	w = r.openWatch("watch_filter_put_created", "/f", clientv3.WithFilterPut())
	r.step("watch_filter_put_put", r.put("/f", "x"))
	r.step("watch_filter_put_delete", r.del("/f"))
	r.step("watch_filter_put_events", w.collect(1))
	w.cancel()
	w = r.openWatch("watch_filter_delete_created", "/f", clientv3.WithFilterDelete())
	r.step("watch_filter_delete_put", r.put("/f", "y"))
	r.step("watch_filter_delete_delete", r.del("/f"))
	r.step("watch_filter_delete_events", w.collect(1))
	w.cancel()

	// A compacted start revision cancels the watch with compact_revision.
	last := r.step("watch_compact_put", r.put("/c", "1"))
	head := revisionOf(last)
	r.step("watch_compact", func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Compact(ctx, head)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.Header)}, nil
	})
	r.step("watch_compacted_rev", r.pastWatch(0, "some_key", clientv3.WithRev(firstRev)))
	r.step("watch_at_compact_rev", r.pastWatch(1, "/c", clientv3.WithRev(head)))
}

func (r *runner) grant(ttl int64) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Grant(ctx, ttl)
		if err != nil {
			return nil, err
		}
		return fields{
			"header":   headerFields(resp.ResponseHeader),
			"lease_id": int64(resp.ID),
			"ttl":      resp.TTL,
			"error":    resp.Error,
		}, nil
	}
}

func (r *runner) timeToLive(id clientv3.LeaseID, maxTTL int64) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
		if err != nil {
			return nil, err
		}
		// etcd lists attached keys in Go map order, which varies from run
		// to run: the set is what is compared.
		keys := make([]string, 0, len(resp.Keys))
		for _, k := range resp.Keys {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		rec := fields{
			"header":      headerFields(resp.ResponseHeader),
			"lease_id":    int64(resp.ID),
			"granted_ttl": resp.GrantedTTL,
			"keys":        keys,
		}
		// The remaining TTL depends on the time elapsed: print the range.
		if resp.TTL < 0 {
			rec["ttl"] = resp.TTL
		} else {
			rec["ttl_in_1_to_granted"] = resp.TTL >= 1 && resp.TTL <= maxTTL
		}
		return rec, nil
	}
}

func (r *runner) keepAliveOnce(id clientv3.LeaseID) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.KeepAliveOnce(ctx, id)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.ResponseHeader), "lease_id": int64(resp.ID), "ttl": resp.TTL}, nil
	}
}

func (r *runner) revoke(id clientv3.LeaseID) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Revoke(ctx, id)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.Header)}, nil
	}
}

func leaseOf(rec fields) clientv3.LeaseID {
	if id, ok := rec["lease_id"].(int64); ok {
		return clientv3.LeaseID(id)
	}
	return clientv3.NoLease
}

func (r *runner) leaseScript() {
	granted := r.step("lease_grant_5", r.grant(5))
	id := leaseOf(granted)
	r.step("lease_put_a", r.put("/leased/a", "1", clientv3.WithLease(id)))
	r.step("lease_put_b", r.put("/leased/b", "2", clientv3.WithLease(id)))
	r.step("lease_get_a", r.get("/leased/a"))
	r.step("lease_time_to_live", r.timeToLive(id, 5))
	r.step("lease_keep_alive_once", r.keepAliveOnce(id))
	r.step("lease_list", func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Leases(ctx)
		if err != nil {
			return nil, err
		}
		// Other leases' ids and the list's order are the server's choice.
		contains := false
		for _, l := range resp.Leases {
			contains = contains || l.ID == id
		}
		return fields{"header": headerFields(resp.ResponseHeader), "count": len(resp.Leases), "contains_granted": contains}, nil
	})

	w := r.openWatch("lease_watch_created", "/leased/", clientv3.WithPrefix())
	r.step("lease_revoke", r.revoke(id))
	r.step("lease_revoke_watch_events", w.collect(2))
	w.cancel()
	r.step("lease_get_after_revoke", r.get("/leased/", clientv3.WithPrefix()))
	r.step("lease_time_to_live_revoked", r.timeToLive(id, 5))
	r.step("lease_keep_alive_once_revoked", r.keepAliveOnce(id))
	r.step("lease_revoke_again", r.revoke(id))
	r.step("lease_put_revoked", r.put("/leased/a", "1", clientv3.WithLease(id)))
	r.step("lease_grant_too_large", r.grant(9000000001))
	r.step("lease_list_after_revoke", func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Leases(ctx)
		if err != nil {
			return nil, err
		}
		return fields{"header": headerFields(resp.ResponseHeader), "count": len(resp.Leases)}, nil
	})

	// A short lease expires and takes its key with it. Each server raises
	// the TTL to its own minimum (ceil(1.5 x election timeout)), so the
	// granted TTL is printed only as a comparison.
	var short clientv3.LeaseID
	var shortTTL int64
	r.step("lease_grant_short", func(ctx context.Context) (fields, error) {
		resp, err := r.cli.Grant(ctx, 1)
		if err != nil {
			return nil, err
		}
		short, shortTTL = resp.ID, resp.TTL
		return fields{"lease_id": int64(resp.ID), "ttl_at_least_1": resp.TTL >= 1, "ttl_at_most_2": resp.TTL <= 2}, nil
	})
	w = r.openWatch("lease_short_watch_created", "/short")
	r.step("lease_short_put", r.put("/short", "s", clientv3.WithLease(short)))
	r.step("lease_short_expires", func(ctx context.Context) (fields, error) {
		limit := time.Duration(shortTTL)*time.Second + 2*time.Second
		start := time.Now()
		for {
			resp, err := r.cli.Get(ctx, "/short")
			if err != nil {
				return nil, err
			}
			if resp.Count == 0 {
				return fields{"key_gone_within_ttl_plus_2s": time.Since(start) <= limit}, nil
			}
			if time.Since(start) > limit {
				return fields{"key_gone_within_ttl_plus_2s": false}, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	r.step("lease_short_watch_events", w.collect(2))
	w.cancel()
	r.step("lease_short_time_to_live", r.timeToLive(short, 2))
}

// session opens a concurrency session and prints its lease.
func (r *runner) session(name string) *concurrency.Session {
	var s *concurrency.Session
	r.step(name, func(ctx context.Context) (fields, error) {
		var err error
		s, err = concurrency.NewSession(r.cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(context.Background()))
		if err != nil {
			return nil, err
		}
		return fields{"lease_id": int64(s.Lease())}, nil
	})
	if s == nil {
		fmt.Fprintf(os.Stderr, "coordination_check: no session; stopping\n")
		os.Exit(3)
	}
	return s
}

// pending is a blocking call running in the background.
type pending struct{ done chan error }

func start(call func() error) *pending {
	p := &pending{done: make(chan error, 1)}
	go func() { p.done <- call() }()
	return p
}

// stillBlocked reports whether the call is still running after stillWaiting.
func (p *pending) stillBlocked() func(context.Context) (fields, error) {
	return func(context.Context) (fields, error) {
		select {
		case err := <-p.done:
			p.done <- err
			return fields{"still_blocked": false}, nil
		case <-time.After(stillWaiting):
			return fields{"still_blocked": true}, nil
		}
	}
}

// result waits for the call to finish.
func (p *pending) result(extra func() fields) func(context.Context) (fields, error) {
	return func(context.Context) (fields, error) {
		select {
		case err := <-p.done:
			if err != nil {
				return nil, err
			}
			return extra(), nil
		case <-time.After(waitTimeout):
			return fields{"not_done_within": waitTimeout.String()}, nil
		}
	}
}

// waitCount polls until a prefix holds n keys (a waiter has queued).
func (r *runner) waitCount(prefix string, n int64) func(context.Context) (fields, error) {
	return func(ctx context.Context) (fields, error) {
		deadline := time.Now().Add(waitTimeout)
		for {
			resp, err := r.cli.Get(ctx, prefix, clientv3.WithPrefix())
			if err != nil {
				return nil, err
			}
			if resp.Count == n || time.Now().After(deadline) {
				return fields{"header": headerFields(resp.Header), "kvs": kvList(resp.Kvs), "count": resp.Count}, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (r *runner) mutexScript() {
	s1 := r.session("mutex_session_1")
	s2 := r.session("mutex_session_2")
	m1 := concurrency.NewMutex(s1, "/lock/x")
	m2 := concurrency.NewMutex(s2, "/lock/x")
	mutexFields := func(m *concurrency.Mutex, s *concurrency.Session) func() fields {
		return func() fields {
			return fields{
				"header":               headerFields(m.Header()),
				"key":                  m.Key(),
				"key_is_pfx_lease_hex": m.Key() == fmt.Sprintf("/lock/x/%x", s.Lease()),
			}
		}
	}

	r.step("mutex_lock_1", func(ctx context.Context) (fields, error) {
		if err := m1.Lock(ctx); err != nil {
			return nil, err
		}
		return mutexFields(m1, s1)(), nil
	})
	r.step("mutex_keys_held", r.get("/lock/x/", clientv3.WithPrefix()))
	r.step("mutex_lock_1_again", func(ctx context.Context) (fields, error) {
		// The same session already holds it: Lock returns at once.
		if err := m1.Lock(ctx); err != nil {
			return nil, err
		}
		return mutexFields(m1, s1)(), nil
	})
	r.step("mutex_lock_2_short_context", func(ctx context.Context) (fields, error) {
		short, cancel := context.WithTimeout(ctx, shortWait)
		defer cancel()
		if err := m2.Lock(short); err != nil {
			return nil, err
		}
		return mutexFields(m2, s2)(), nil
	})
	// The failed Lock withdrew its key.
	r.step("mutex_keys_after_short", r.get("/lock/x/", clientv3.WithPrefix()))

	p := start(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		return m2.Lock(ctx)
	})
	r.step("mutex_lock_2_queued", r.waitCount("/lock/x/", 2))
	r.step("mutex_lock_2_waits", p.stillBlocked())
	r.step("mutex_unlock_1", func(ctx context.Context) (fields, error) {
		return fields{}, m1.Unlock(ctx)
	})
	r.step("mutex_lock_2_acquired", p.result(mutexFields(m2, s2)))
	r.step("mutex_keys_after_handover", r.get("/lock/x/", clientv3.WithPrefix()))
	r.step("mutex_unlock_2", func(ctx context.Context) (fields, error) {
		return fields{}, m2.Unlock(ctx)
	})
	r.step("mutex_keys_after_unlock", r.get("/lock/x/", clientv3.WithPrefix()))

	// A holder whose session ends (its lease revoked) releases the lock.
	r.step("mutex_lock_1_relock", func(ctx context.Context) (fields, error) {
		if err := m1.Lock(ctx); err != nil {
			return nil, err
		}
		return mutexFields(m1, s1)(), nil
	})
	p = start(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		return m2.Lock(ctx)
	})
	r.step("mutex_lock_2_queued_again", r.waitCount("/lock/x/", 2))
	r.step("mutex_session_1_close", func(context.Context) (fields, error) {
		return fields{}, s1.Close()
	})
	r.step("mutex_lock_2_acquired_after_close", p.result(mutexFields(m2, s2)))
	r.step("mutex_unlock_2_again", func(ctx context.Context) (fields, error) {
		return fields{}, m2.Unlock(ctx)
	})
	r.step("mutex_session_2_close", func(context.Context) (fields, error) {
		return fields{}, s2.Close()
	})
}

func (r *runner) electionScript() {
	s1 := r.session("election_session_1")
	s2 := r.session("election_session_2")
	e1 := concurrency.NewElection(s1, "/election/e")
	e2 := concurrency.NewElection(s2, "/election/e")
	electionFields := func(e *concurrency.Election, s *concurrency.Session) func() fields {
		return func() fields {
			return fields{
				"header":               headerFields(e.Header()),
				"key":                  e.Key(),
				"rev":                  e.Rev(),
				"key_is_pfx_lease_hex": e.Key() == fmt.Sprintf("/election/e/%x", s.Lease()),
			}
		}
	}
	leader := func(e *concurrency.Election) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := e.Leader(ctx)
			if err != nil {
				return nil, err
			}
			return fields{"header": headerFields(resp.Header), "kvs": kvList(resp.Kvs)}, nil
		}
	}

	r.step("election_leader_none", leader(e1))
	r.step("election_campaign_1", func(ctx context.Context) (fields, error) {
		if err := e1.Campaign(ctx, "v1"); err != nil {
			return nil, err
		}
		return electionFields(e1, s1)(), nil
	})
	r.step("election_leader_1", leader(e2))

	octx, ocancel := context.WithCancel(context.Background())
	defer ocancel()
	observed := e2.Observe(octx)
	observe := func(context.Context) (fields, error) {
		select {
		case resp, ok := <-observed:
			if !ok {
				return fields{"closed": true}, nil
			}
			return fields{"header": headerFields(resp.Header), "kvs": kvList(resp.Kvs)}, nil
		case <-time.After(waitTimeout):
			return fields{"nothing_within": waitTimeout.String()}, nil
		}
	}
	r.step("election_observe_first", observe)

	r.step("election_proclaim_1", func(ctx context.Context) (fields, error) {
		if err := e1.Proclaim(ctx, "v2"); err != nil {
			return nil, err
		}
		return electionFields(e1, s1)(), nil
	})
	r.step("election_observe_proclaimed", observe)
	r.step("election_leader_proclaimed", leader(e2))
	r.step("election_proclaim_not_leader", func(ctx context.Context) (fields, error) {
		return fields{}, e2.Proclaim(ctx, "nope")
	})

	p := start(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		return e2.Campaign(ctx, "v3")
	})
	r.step("election_campaign_2_queued", r.waitCount("/election/e/", 2))
	r.step("election_campaign_2_waits", p.stillBlocked())
	r.step("election_resign_1", func(ctx context.Context) (fields, error) {
		if err := e1.Resign(ctx); err != nil {
			return nil, err
		}
		return fields{"header": headerFields(e1.Header())}, nil
	})
	r.step("election_campaign_2_elected", p.result(electionFields(e2, s2)))
	r.step("election_observe_second", observe)
	r.step("election_leader_2", leader(e1))
	r.step("election_proclaim_resigned", func(ctx context.Context) (fields, error) {
		return fields{}, e1.Proclaim(ctx, "nope")
	})
	r.step("election_resign_2", func(ctx context.Context) (fields, error) {
		if err := e2.Resign(ctx); err != nil {
			return nil, err
		}
		return fields{"header": headerFields(e2.Header())}, nil
	})
	r.step("election_leader_after_resign", leader(e1))
	ocancel()
	r.step("election_sessions_close", func(context.Context) (fields, error) {
		if err := s1.Close(); err != nil {
			return nil, err
		}
		return fields{}, s2.Close()
	})
	r.step("election_keys_after_close", r.get("/election/", clientv3.WithPrefix()))
}

// revisionOf reads header.revision from a successful record, 0 otherwise.
func revisionOf(rec fields) int64 {
	if h, ok := rec["header"].(fields); ok {
		if rev, ok := h["revision"].(int64); ok {
			return rev
		}
	}
	return 0
}

// errorFields records what a Go application can learn from a failed call.
// clientv3 turns a status whose message it knows into rpctypes.EtcdError
// (which carries the code but is not a status); anything else stays a gRPC
// status error, whose text then also shows the code.
func errorFields(err error) fields {
	rec := fields{
		"error":      err.Error(),
		"error_type": fmt.Sprintf("%T", err),
		"error_desc": rpctypes.ErrorDesc(err),
		"code":       nil,
	}
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		rec["code"] = etcdErr.Code().String()
	} else if st, ok := status.FromError(err); ok {
		rec["code"] = st.Code().String()
	}
	return rec
}

func headerFields(h *pb.ResponseHeader) interface{} {
	if h == nil {
		return nil
	}
	return fields{
		"cluster_id": h.ClusterId,
		"member_id":  h.MemberId,
		"revision":   h.Revision,
		"raft_term":  h.RaftTerm,
	}
}

func kvFields(kv *mvccpb.KeyValue) interface{} {
	if kv == nil {
		return nil
	}
	return fields{
		"key":             string(kv.Key),
		"value":           string(kv.Value),
		"create_revision": kv.CreateRevision,
		"mod_revision":    kv.ModRevision,
		"version":         kv.Version,
		"lease":           kv.Lease,
	}
}

// kvList prints nil and empty lists alike: on the wire they are the same.
func kvList(kvs []*mvccpb.KeyValue) []interface{} {
	out := make([]interface{}, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, kvFields(kv))
	}
	return out
}

func eventFields(ev *clientv3.Event) fields {
	return fields{
		"type":    ev.Type.String(),
		"kv":      kvFields(ev.Kv),
		"prev_kv": kvFields(ev.PrevKv),
	}
}

// watchResponseFields records a response that carries no events (the
// created notification).
func watchResponseFields(wr clientv3.WatchResponse) fields {
	h := wr.Header
	rec := fields{
		"header":           headerFields(&h),
		"created":          wr.Created,
		"canceled":         wr.Canceled,
		"compact_revision": wr.CompactRevision,
		"events":           len(wr.Events),
	}
	if err := wr.Err(); err != nil {
		rec["watch_err"] = errorFields(err)
	}
	return rec
}
