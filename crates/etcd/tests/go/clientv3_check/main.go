// Command clientv3_check drives etcd's own Go client (clientv3 from etcd
// 3.4.23) through one fixed script of KV, txn and compaction calls against a
// single endpoint, and prints one JSON object per line for every step with
// everything the client saw: response headers, revisions, key-values,
// previous key-values, txn branches and nested responses, counts, and for a
// failed call its error text, Go error type and gRPC code.
//
// It exists so that the Rust test go_clientv3.rs can run the very same client
// a Go application would use against the real etcd and against etcd-rs and
// require identical transcripts. The script assumes a fresh, empty server.
// The program judges nothing itself: a failed call is data, printed like a
// successful one. It exits 0 once the script ran to its end, 2 when it could
// not connect, and 3 when a call timed out (the rest of the script is then
// skipped, since later steps build on earlier ones).
//
// Build it with ../build.sh, which compiles it offline in GOPATH mode against
// the Go sources Debian installs under /usr/share/gocode.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
	"google.golang.org/grpc/status"
)

// fields is one step's printed record; encoding/json sorts map keys, which
// keeps every line byte-for-byte reproducible.
type fields map[string]interface{}

// maxRequestBytes is etcd's default --max-request-bytes (1.5 MiB).
const maxRequestBytes = 1536 * 1024

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint, host:port")
	stepTimeout := flag.Duration("step-timeout", 5*time.Second, "deadline of each call")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{*endpoint},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "clientv3_check: connect to %s: %v\n", *endpoint, err)
		os.Exit(2)
	}
	defer cli.Close()

	r := &runner{cli: cli, timeout: *stepTimeout, out: json.NewEncoder(os.Stdout)}
	r.script()
}

// runner executes steps in order and prints their records.
type runner struct {
	cli     *clientv3.Client
	timeout time.Duration
	out     *json.Encoder
}

// step runs one call with its own deadline and prints its record. A call
// that ran out of time ends the program: the server is unresponsive and
// later steps would only pile up more timeouts.
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
		fmt.Fprintf(os.Stderr, "clientv3_check: write: %v\n", encErr)
		os.Exit(1)
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "clientv3_check: step %s timed out; stopping\n", name)
		os.Exit(3)
	}
	return rec
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

func (r *runner) script() {
	kv := r.cli.KV
	put := func(key, val string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := kv.Put(ctx, key, val, opts...)
			if err != nil {
				return nil, err
			}
			return putFields((*pb.PutResponse)(resp)), nil
		}
	}
	get := func(key string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := kv.Get(ctx, key, opts...)
			if err != nil {
				return nil, err
			}
			return rangeFields((*pb.RangeResponse)(resp)), nil
		}
	}
	del := func(key string, opts ...clientv3.OpOption) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := kv.Delete(ctx, key, opts...)
			if err != nil {
				return nil, err
			}
			return deleteFields((*pb.DeleteRangeResponse)(resp)), nil
		}
	}
	txn := func(cmps []clientv3.Cmp, then []clientv3.Op, els []clientv3.Op) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := kv.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
			if err != nil {
				return nil, err
			}
			return txnFields((*pb.TxnResponse)(resp)), nil
		}
	}
	compact := func(rev int64, opts ...clientv3.CompactOption) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := kv.Compact(ctx, rev, opts...)
			if err != nil {
				return nil, err
			}
			return fields{"header": headerFields(resp.Header)}, nil
		}
	}

	// Writes and prev_kv.
	first := r.step("put_user1", put("/users/user1", "zhangsan"))
	rev1 := revisionOf(first)
	r.step("put_user1_prev_kv", put("/users/user1", "lisi", clientv3.WithPrevKV()))
	r.step("put_user2", put("/users/user2", "wangwu"))
	r.step("put_user3_prev_kv_new_key", put("/users/user3", "zhaoliu", clientv3.WithPrevKV()))
	r.step("put_other", put("/other", "x"))
	r.step("put_zzz", put("zzz", "last"))

	// Reads.
	r.step("get_user1", get("/users/user1"))
	r.step("get_missing", get("/users/nobody"))
	r.step("get_prefix", get("/users/", clientv3.WithPrefix()))
	r.step("get_prefix_all", get("", clientv3.WithPrefix()))
	r.step("get_rev_first", get("/users/user1", clientv3.WithRev(rev1)))
	r.step("get_rev_before_first", get("/users/user1", clientv3.WithRev(rev1-1)))
	r.step("get_prefix_rev_first", get("/users/", clientv3.WithPrefix(), clientv3.WithRev(rev1)))
	r.step("get_range", get("/users/user1", clientv3.WithRange("/users/user3")))
	r.step("get_serializable", get("/users/", clientv3.WithPrefix(), clientv3.WithSerializable()))
	r.step("get_sort_key_desc", get("/users/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)))
	r.step("get_sort_value_asc", get("/users/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)))
	r.step("get_sort_version_desc", get("/users/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend)))
	r.step("get_sort_create_desc", get("/users/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend)))
	r.step("get_sort_mod_desc_limit", get("/users/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(2)))
	r.step("get_limit", get("/users/", clientv3.WithPrefix(), clientv3.WithLimit(2)))
	r.step("get_limit_exact", get("/users/", clientv3.WithPrefix(), clientv3.WithLimit(3)))
	r.step("get_count_only", get("/users/", clientv3.WithPrefix(), clientv3.WithCountOnly()))
	r.step("get_keys_only", get("/users/", clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	r.step("get_from_key", get("/users/user2", clientv3.WithFromKey()))
	r.step("get_from_key_empty", get("", clientv3.WithFromKey(), clientv3.WithLimit(2)))
	r.step("get_first_create", get("/users/", clientv3.WithFirstCreate()...))
	r.step("get_last_key", get("", clientv3.WithLastKey()...))
	r.step("get_min_mod_rev", get("", clientv3.WithPrefix(), clientv3.WithMinModRev(rev1+2)))
	r.step("get_max_mod_rev", get("", clientv3.WithPrefix(), clientv3.WithMaxModRev(rev1+2)))
	r.step("get_min_create_rev", get("", clientv3.WithPrefix(), clientv3.WithMinCreateRev(rev1+3)))
	r.step("get_max_create_rev", get("", clientv3.WithPrefix(), clientv3.WithMaxCreateRev(rev1+2)))

	// Transactions: both branches of a value compare, then the other targets.
	r.step("txn_value_equal_then", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/users/user1"), "=", "lisi")},
		[]clientv3.Op{clientv3.OpPut("/users/user1", "wang", clientv3.WithPrevKV()), clientv3.OpGet("/users/user1")},
		[]clientv3.Op{clientv3.OpGet("/users/user1")}))
	r.step("txn_value_equal_else", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/users/user1"), "=", "lisi")},
		[]clientv3.Op{clientv3.OpPut("/users/user1", "never")},
		[]clientv3.Op{clientv3.OpGet("/users/user1"), clientv3.OpGet("/users/", clientv3.WithPrefix(), clientv3.WithCountOnly())}))
	r.step("txn_value_greater", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/users/user2"), ">", "a")},
		[]clientv3.Op{clientv3.OpGet("/users/user2", clientv3.WithKeysOnly())}, nil))
	r.step("txn_value_missing_key", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/users/nobody"), "=", "")},
		[]clientv3.Op{clientv3.OpGet("/users/nobody")},
		[]clientv3.Op{clientv3.OpGet("/users/nobody", clientv3.WithCountOnly())}))
	r.step("txn_version_missing_key", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/users/nobody"), "=", 0)},
		[]clientv3.Op{clientv3.OpPut("/users/user4", "new")}, nil))
	r.step("txn_version", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/users/user1"), "=", 3)},
		[]clientv3.Op{clientv3.OpGet("/users/user1")}, nil))
	r.step("txn_create_revision", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("/users/user1"), "=", rev1)},
		[]clientv3.Op{clientv3.OpDelete("/users/user4", clientv3.WithPrevKV())},
		[]clientv3.Op{clientv3.OpGet("/users/user4")}))
	r.step("txn_mod_revision_less", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision("/users/user2"), "<", rev1)},
		[]clientv3.Op{clientv3.OpGet("/users/user2")},
		[]clientv3.Op{clientv3.OpGet("/users/user2"), clientv3.OpDelete("/users/nobody")}))
	r.step("txn_mod_revision_not_equal", txn(
		[]clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision("/users/user2"), "!=", 0),
			clientv3.Compare(clientv3.LeaseValue("/users/user2"), "=", clientv3.NoLease),
		},
		[]clientv3.Op{clientv3.OpPut("/users/user2", "wangwu2", clientv3.WithPrevKV())}, nil))
	r.step("txn_prefix_compare", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/users/").WithPrefix(), ">", 0)},
		[]clientv3.Op{clientv3.OpGet("/users/", clientv3.WithPrefix(), clientv3.WithKeysOnly())}, nil))
	r.step("txn_range_compare_fails", txn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Version("/users/user1").WithRange("/users/user3"), "=", 3)},
		nil,
		[]clientv3.Op{clientv3.OpGet("/users/user1", clientv3.WithRange("/users/user3"))}))
	r.step("txn_nested", txn(nil,
		[]clientv3.Op{clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/other"), "=", "x")},
			[]clientv3.Op{clientv3.OpPut("/other", "y", clientv3.WithPrevKV())},
			nil)},
		nil))
	r.step("txn_empty", txn(nil, nil, nil))
	r.step("txn_error_duplicate_key", txn(nil,
		[]clientv3.Op{clientv3.OpPut("/dup", "1"), clientv3.OpPut("/dup", "2")}, nil))
	tooMany := make([]clientv3.Op, 129)
	for i := range tooMany {
		tooMany[i] = clientv3.OpPut(fmt.Sprintf("/many/%03d", i), "v")
	}
	r.step("txn_error_too_many_ops", txn(nil, tooMany, nil))

	// Deletes.
	r.step("delete_prev_kv", del("/users/user3", clientv3.WithPrevKV()))
	r.step("delete_missing", del("/users/user3", clientv3.WithPrevKV()))
	r.step("get_deleted_at_old_rev", get("/users/user3", clientv3.WithRev(rev1+3)))
	last := r.step("delete_prefix_prev_kv", del("/users/", clientv3.WithPrefix(), clientv3.WithPrevKV()))
	r.step("get_prefix_after_delete", get("/users/", clientv3.WithPrefix()))

	// Compaction and reads around it.
	head := revisionOf(last)
	r.step("compact", compact(head-1))
	r.step("get_compacted_rev", get("/users/user1", clientv3.WithRev(head-2)))
	r.step("get_at_compact_rev", get("/users/", clientv3.WithPrefix(), clientv3.WithRev(head-1)))
	r.step("compact_again", compact(head-1))
	r.step("compact_older", compact(head-3))
	r.step("compact_future", compact(head+100))
	r.step("get_future_rev", get("/users/user1", clientv3.WithRev(head+100)))
	r.step("compact_physical", compact(head, clientv3.WithCompactPhysical()))
	r.step("get_after_physical", get("", clientv3.WithPrefix()))

	// Argument errors.
	r.step("put_empty_key", put("", "v"))
	r.step("get_empty_key", get(""))
	r.step("delete_empty_key", del(""))
	r.step("txn_empty_key", txn(nil, []clientv3.Op{clientv3.OpPut("", "v")}, nil))
	r.step("put_lease_not_found", put("/leased", "v", clientv3.WithLease(clientv3.LeaseID(12345))))
	r.step("put_ignore_value_missing_key", put("/nothing", "", clientv3.WithIgnoreValue()))
	r.step("put_ignore_lease_missing_key", put("/nothing", "v", clientv3.WithIgnoreLease()))
	r.step("put_ignore_value_with_value", put("/other", "v", clientv3.WithIgnoreValue()))
	r.step("put_ignore_value", put("/other", "", clientv3.WithIgnoreValue(), clientv3.WithPrevKV()))

	// Request size: etcd refuses a raft request over --max-request-bytes.
	r.step("put_over_max_request_bytes", put("/big", strings.Repeat("x", maxRequestBytes+1)))
	r.step("put_below_max_request_bytes", put("/big", strings.Repeat("x", maxRequestBytes-1024)))
	r.step("get_big_count", get("/big", clientv3.WithCountOnly()))
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

func rangeFields(resp *pb.RangeResponse) fields {
	return fields{
		"header": headerFields(resp.Header),
		"kvs":    kvList(resp.Kvs),
		"count":  resp.Count,
		"more":   resp.More,
	}
}

func putFields(resp *pb.PutResponse) fields {
	return fields{
		"header":  headerFields(resp.Header),
		"prev_kv": kvFields(resp.PrevKv),
	}
}

func deleteFields(resp *pb.DeleteRangeResponse) fields {
	return fields{
		"header":   headerFields(resp.Header),
		"deleted":  resp.Deleted,
		"prev_kvs": kvList(resp.PrevKvs),
	}
}

func txnFields(resp *pb.TxnResponse) fields {
	responses := make([]interface{}, 0, len(resp.Responses))
	for _, op := range resp.Responses {
		responses = append(responses, responseOpFields(op))
	}
	return fields{
		"header":    headerFields(resp.Header),
		"succeeded": resp.Succeeded,
		"responses": responses,
	}
}

// responseOpFields names the branch of the oneof the server filled in.
func responseOpFields(op *pb.ResponseOp) fields {
	switch {
	case op.GetResponseRange() != nil:
		return fields{"response_range": rangeFields(op.GetResponseRange())}
	case op.GetResponsePut() != nil:
		return fields{"response_put": putFields(op.GetResponsePut())}
	case op.GetResponseDeleteRange() != nil:
		return fields{"response_delete_range": deleteFields(op.GetResponseDeleteRange())}
	case op.GetResponseTxn() != nil:
		return fields{"response_txn": txnFields(op.GetResponseTxn())}
	}
	return fields{"unset": true}
}
