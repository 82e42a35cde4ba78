#!/usr/bin/env python3
"""Drives the PyPI `etcd3` client (0.12.0) through one fixed KV script.

Given `--endpoint host:port`, it runs puts, gets (single key, prefix, range,
all), deletes, transactions, replace(), compactions, status() and members
against a fresh server and prints one JSON line per step with what the
client handed back: values, key metadata, response headers where the library
exposes them, and for a failing call the exception's class, module and
message (plus the gRPC code and details when it is a gRPC error).

The transcript is compared by crates/etcd/tests/python_etcd3.rs between the
real etcd and ours, so everything printed must be deterministic for a fresh
single-member server: no timestamps, no ports (URLs are printed as the server
reports them and normalised by the Rust side), no str() of gRPC errors (that
text carries a timestamp and the peer address).

What this script does not cover: Watch, Lease and Lock (not served yet).

Two facts of the library that shape the script, the same against any server:
- `get()` takes no revision, and `get_range()`/`get_prefix()` accept a
  `revision` keyword but never copy it into the request (it is dropped in
  `_build_get_range_request`); one step records that. A read at an old
  revision is therefore made through the client's own `kvstub` with the
  library's generated `RangeRequest`, as a user of this library has to.
- Only INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED and FAILED_PRECONDITION are
  translated into `etcd3.exceptions`; every other status (OUT_OF_RANGE for a
  compacted revision, INVALID_ARGUMENT, NOT_FOUND) reaches the caller as the
  raw `grpc.RpcError`.
"""

import argparse
import json
import sys

import grpc

import etcd3
import etcd3.etcdrpc as etcdrpc

# Per-call deadline; a server that does not answer fails the step, not the run.
CALL_TIMEOUT_SECONDS = 5
# etcd's default --max-request-bytes (1.5 MiB).
MAX_REQUEST_BYTES = 1536 * 1024
# etcd's default --max-txn-ops.
MAX_TXN_OPS = 128


def text(data):
    """Bytes as a JSON string when they are UTF-8, else as {"hex": ...}."""
    if data is None:
        return None
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": data.hex()}


def header(h):
    return {
        "cluster_id": h.cluster_id,
        "member_id": h.member_id,
        "revision": h.revision,
        "raft_term": h.raft_term,
    }


def kv_pb(kv):
    """A protobuf mvccpb.KeyValue as returned inside raw responses."""
    return {
        "key": text(kv.key),
        "value": text(kv.value),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
        "lease": kv.lease,
    }


def kv_meta(value, meta):
    """A (value, KVMetadata) pair as the high-level calls return it; the
    metadata's response_header is reported once per step by `pairs`."""
    return {
        "key": text(meta.key),
        "value": text(value),
        "create_revision": meta.create_revision,
        "mod_revision": meta.mod_revision,
        "version": meta.version,
        "lease_id": meta.lease_id,
    }


def pairs(result):
    """Fields for a sequence of (value, KVMetadata): the kvs, and the
    response header every metadata carries (they must all be the same)."""
    result = list(result)
    fields = {"count": len(result), "kvs": [kv_meta(v, m) for v, m in result]}
    headers = [header(m.response_header) for _, m in result]
    if headers:
        fields["header"] = headers[0]
        fields["headers_identical"] = all(h == headers[0] for h in headers)
    return fields


def response_op(op):
    """A raw etcdrpc.ResponseOp (txn sub-response), recursively."""
    kind = op.WhichOneof("response")
    if kind == "response_put":
        r = op.response_put
        return {
            "type": "put",
            "header": header(r.header),
            "prev_kv": kv_pb(r.prev_kv) if r.HasField("prev_kv") else None,
        }
    if kind == "response_delete_range":
        r = op.response_delete_range
        return {
            "type": "delete_range",
            "header": header(r.header),
            "deleted": r.deleted,
            "prev_kvs": [kv_pb(kv) for kv in r.prev_kvs],
        }
    if kind == "response_range":
        r = op.response_range
        return {
            "type": "range",
            "header": header(r.header),
            "kvs": [kv_pb(kv) for kv in r.kvs],
            "more": r.more,
            "count": r.count,
        }
    if kind == "response_txn":
        r = op.response_txn
        return {
            "type": "txn",
            "header": header(r.header),
            "succeeded": r.succeeded,
            "responses": [response_op(o) for o in r.responses],
        }
    return {"type": kind}


def txn_result(result):
    """Fields for transaction()'s (succeeded, responses). Range results come
    back as lists of (value, KVMetadata) whose metadata carries the txn's own
    header, the only place the library exposes it."""
    succeeded, responses = result
    fields = {"succeeded": succeeded, "responses": []}
    for r in responses:
        if isinstance(r, list):
            sub = pairs(r)
            if "header" in sub and "header" not in fields:
                fields["header"] = sub["header"]
            sub.pop("header", None)
            fields["responses"].append(dict(type="range", **sub))
        else:
            fields["responses"].append(response_op(r))
    return fields


def put_response(r):
    return {
        "header": header(r.header),
        "prev_kv": kv_pb(r.prev_kv) if r.HasField("prev_kv") else None,
    }


def delete_response(r):
    return {
        "header": header(r.header),
        "deleted": r.deleted,
        "prev_kvs": [kv_pb(kv) for kv in r.prev_kvs],
    }


def range_response(r):
    return {
        "header": header(r.header),
        "kvs": [kv_pb(kv) for kv in r.kvs],
        "more": r.more,
        "count": r.count,
    }


def member(m):
    if m is None:
        return None
    return {
        "id": m.id,
        "name": m.name,
        "peer_urls": list(m.peer_urls),
        "client_urls": list(m.client_urls),
    }


def failure(exc):
    """What the caller sees of an exception: its class and message, and for
    a gRPC error its status code and details (not str(): it holds a
    timestamp and the peer address)."""
    fields = {
        "ok": False,
        "exception": type(exc).__name__,
        "exception_module": type(exc).__module__,
        "is_etcd3_exception": isinstance(exc, etcd3.exceptions.Etcd3Exception),
        "is_grpc_error": isinstance(exc, grpc.RpcError),
    }
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        fields["code"] = exc.code().name
        fields["details"] = exc.details()
    else:
        fields["message"] = str(exc)
    return fields


class Runner:
    def __init__(self, client):
        self.client = client

    def step(self, name, call, describe, render=lambda r: {"result": r}):
        """Runs `describe` (a short text of the call, for readers of a diff)
        through `call`, prints the step and returns the raw result (None on
        failure)."""
        line = {"step": name, "call": describe}
        result = None
        try:
            result = call()
            line["ok"] = True
            line.update(render(result))
        except Exception as exc:  # noqa: BLE001 - every failure is data here
            line.update(failure(exc))
            if is_unreachable(exc):
                print(json.dumps(line, sort_keys=True), flush=True)
                # Every later call would wait out its deadline as well.
                sys.exit("etcd3_check.py: step %s: the server did not answer (%s)" % (name, exc))
        print(json.dumps(line, sort_keys=True), flush=True)
        return result


def is_unreachable(exc):
    """Whether `exc` says the server did not answer (as etcd3 translates it,
    or as a raw gRPC error from the stub)."""
    if isinstance(
        exc, (etcd3.exceptions.ConnectionFailedError, etcd3.exceptions.ConnectionTimeoutError)
    ):
        return True
    unanswered = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return isinstance(exc, grpc.RpcError) and hasattr(exc, "code") and exc.code() in unanswered


def raw_range(client, key, revision):
    """A Range at `revision` over the client's own stub and channel: the
    library's high-level reads cannot carry a revision."""
    request = etcdrpc.RangeRequest(key=key.encode(), revision=revision)
    return client.kvstub.Range(request, client.timeout)


def run(client):
    r = Runner(client)
    t = client.transactions

    # Writes; revisions start at 2 on a fresh server.
    r.step("put_a", lambda: client.put("/py/a", "apple"), "put('/py/a', 'apple')", put_response)
    r.step(
        "put_a_prev_kv",
        lambda: client.put("/py/a", "apricot", prev_kv=True),
        "put('/py/a', 'apricot', prev_kv=True)",
        put_response,
    )
    r.step(
        "put_b_prev_kv_new_key",
        lambda: client.put("/py/b", "banana", prev_kv=True),
        "put('/py/b', 'banana', prev_kv=True)",
        put_response,
    )
    r.step("put_c", lambda: client.put("/py/c", "cherry"), "put('/py/c', 'cherry')", put_response)
    r.step(
        "put_binary",
        lambda: client.put(b"/py/bin", b"\x00\xff\xfe"),
        "put(b'/py/bin', b'\\x00\\xff\\xfe')",
        put_response,
    )
    r.step(
        "put_other",
        lambda: client.put("/pz/x", "outside"),
        "put('/pz/x', 'outside')",
        put_response,
    )

    # Reads.
    def get(key, **kwargs):
        value, meta = client.get(key, **kwargs)
        if meta is None:
            return {"value": text(value), "metadata": None}
        return {
            "value": text(value),
            "metadata": kv_meta(value, meta),
            "header": header(meta.response_header),
        }

    r.step("get_a", lambda: get("/py/a"), "get('/py/a')", lambda x: x)
    r.step("get_binary", lambda: get(b"/py/bin"), "get(b'/py/bin')", lambda x: x)
    r.step("get_missing", lambda: get("/py/missing"), "get('/py/missing')", lambda x: x)
    r.step(
        "get_serializable",
        lambda: get("/py/a", serializable=True),
        "get('/py/a', serializable=True)",
        lambda x: x,
    )
    r.step("get_prefix", lambda: client.get_prefix("/py/"), "get_prefix('/py/')", pairs)
    r.step(
        "get_prefix_keys_only",
        lambda: client.get_prefix("/py/", keys_only=True),
        "get_prefix('/py/', keys_only=True)",
        pairs,
    )
    r.step(
        "get_prefix_sort_value_descend",
        lambda: client.get_prefix("/py/", sort_order="descend", sort_target="value"),
        "get_prefix('/py/', sort_order='descend', sort_target='value')",
        pairs,
    )
    r.step(
        "get_prefix_sort_mod_ascend",
        lambda: client.get_prefix("/py/", sort_order="ascend", sort_target="mod"),
        "get_prefix('/py/', sort_order='ascend', sort_target='mod')",
        pairs,
    )
    r.step(
        "get_prefix_sort_version_descend",
        lambda: client.get_prefix("/py/", sort_order="descend", sort_target="version"),
        "get_prefix('/py/', sort_order='descend', sort_target='version')",
        pairs,
    )
    r.step(
        "get_prefix_empty",
        lambda: client.get_prefix("/nothing/"),
        "get_prefix('/nothing/')",
        pairs,
    )
    r.step(
        "get_range",
        lambda: client.get_range("/py/a", "/py/c"),
        "get_range('/py/a', '/py/c')",
        pairs,
    )
    r.step(
        "get_range_reversed",
        lambda: client.get_range("/py/c", "/py/a"),
        "get_range('/py/c', '/py/a')",
        pairs,
    )
    # The library drops `revision`: this returns today's values.
    r.step(
        "get_range_revision_dropped",
        lambda: client.get_range("/py/a", "/py/b", revision=2),
        "get_range('/py/a', '/py/b', revision=2)",
        pairs,
    )
    r.step("get_all", lambda: client.get_all(), "get_all()", pairs)
    r.step(
        "get_all_sort_create_descend_keys_only",
        lambda: client.get_all(sort_order="descend", sort_target="create", keys_only=True),
        "get_all(sort_order='descend', sort_target='create', keys_only=True)",
        pairs,
    )
    r.step(
        "get_at_revision_raw",
        lambda: raw_range(client, "/py/a", 2),
        "kvstub.Range(RangeRequest(key=b'/py/a', revision=2))",
        range_response,
    )

    # Deletes.
    r.step("delete_b", lambda: client.delete("/py/b"), "delete('/py/b')")
    r.step("delete_b_again", lambda: client.delete("/py/b"), "delete('/py/b')")
    r.step(
        "delete_c_prev_kv",
        lambda: client.delete("/py/c", prev_kv=True, return_response=True),
        "delete('/py/c', prev_kv=True, return_response=True)",
        delete_response,
    )
    r.step(
        "delete_missing_response",
        lambda: client.delete("/py/c", prev_kv=True, return_response=True),
        "delete('/py/c', prev_kv=True, return_response=True)",
        delete_response,
    )
    r.step(
        "delete_prefix",
        lambda: client.delete_prefix("/pz/"),
        "delete_prefix('/pz/')",
        delete_response,
    )
    r.step(
        "delete_prefix_nothing",
        lambda: client.delete_prefix("/pz/"),
        "delete_prefix('/pz/')",
        delete_response,
    )

    # Transactions.
    r.step(
        "txn_value_and_version_success",
        lambda: client.transaction(
            compare=[t.value("/py/a") == "apricot", t.version("/py/a") > 0],
            success=[t.put("/py/a", "txn-ok"), t.get("/py/a"), t.delete("/py/none")],
            failure=[t.put("/py/a", "txn-fail")],
        ),
        "transaction([value('/py/a') == 'apricot', version('/py/a') > 0], "
        "[put, get, delete], [put])",
        txn_result,
    )
    r.step(
        "txn_value_failure",
        lambda: client.transaction(
            compare=[t.value("/py/a") == "wrong", t.version("/py/a") > 0],
            success=[t.put("/py/a", "should-not")],
            failure=[t.put("/py/f", "failure-branch", prev_kv=True), t.get("/py/", "/py0")],
        ),
        "transaction([value('/py/a') == 'wrong', version('/py/a') > 0], [put], [put, get range])",
        txn_result,
    )
    r.step(
        "txn_value_not_equal_and_less",
        lambda: client.transaction(
            compare=[t.value("/py/a") != "x", t.value("/py/a") < "zzz"],
            success=[t.get("/py/a")],
            failure=[],
        ),
        "transaction([value('/py/a') != 'x', value('/py/a') < 'zzz'], [get], [])",
        txn_result,
    )
    r.step(
        "txn_value_missing_key",
        lambda: client.transaction(
            compare=[t.value("/py/missing") == ""],
            success=[t.put("/py/then", "1")],
            failure=[t.get("/py/a")],
        ),
        "transaction([value('/py/missing') == ''], [put], [get])",
        txn_result,
    )
    r.step(
        "txn_version_missing_key",
        lambda: client.transaction(
            compare=[t.version("/py/missing") == 0],
            success=[t.get("/py/a")],
            failure=[],
        ),
        "transaction([version('/py/missing') == 0], [get], [])",
        txn_result,
    )
    r.step(
        "txn_create_and_mod",
        lambda: client.transaction(
            compare=[t.create("/py/a") == 2, t.mod("/py/a") > 2, t.mod("/py/a") < 1000],
            success=[t.put("/py/a", "mod-ok", prev_kv=True)],
            failure=[],
        ),
        "transaction([create('/py/a') == 2, mod('/py/a') > 2, mod('/py/a') < 1000], "
        "[put prev_kv], [])",
        txn_result,
    )
    r.step(
        "txn_version_not_equal_fails",
        lambda: client.transaction(
            compare=[t.version("/py/a") != 4],
            success=[],
            failure=[t.get("/py/a")],
        ),
        "transaction([version('/py/a') != 4], [], [get])",
        txn_result,
    )
    r.step(
        "txn_nested",
        lambda: client.transaction(
            compare=[],
            success=[
                t.txn(
                    compare=[t.value("/py/a") == "mod-ok"],
                    success=[t.put("/py/n", "nested"), t.get("/py/n")],
                    failure=[],
                )
            ],
            failure=[],
        ),
        "transaction([], [txn([value('/py/a') == 'mod-ok'], [put, get], [])], [])",
        txn_result,
    )
    r.step(
        "txn_delete_prev_kv",
        lambda: client.transaction(
            compare=[t.version("/py/n") == 1],
            success=[t.delete("/py/n", prev_kv=True), t.delete("/py/then", "/py/thez")],
            failure=[],
        ),
        "transaction([version('/py/n') == 1], [delete prev_kv, delete range], [])",
        txn_result,
    )
    r.step(
        "txn_empty",
        lambda: client.transaction(compare=[], success=[], failure=[]),
        "transaction([], [], [])",
        txn_result,
    )
    r.step(
        "txn_error_duplicate_key",
        lambda: client.transaction(
            compare=[],
            success=[t.put("/py/d", "1"), t.put("/py/d", "2")],
            failure=[],
        ),
        "transaction([], [put('/py/d'), put('/py/d')], [])",
        txn_result,
    )
    r.step(
        "txn_error_too_many_ops",
        lambda: client.transaction(
            compare=[],
            success=[t.put("/py/many/%03d" % i, "v") for i in range(MAX_TXN_OPS + 1)],
            failure=[],
        ),
        "transaction([], [%d puts], [])" % (MAX_TXN_OPS + 1),
        txn_result,
    )
    r.step(
        "put_if_not_exists_existing",
        lambda: client.put_if_not_exists("/py/a", "nope"),
        "put_if_not_exists('/py/a', 'nope')",
    )
    r.step(
        "put_if_not_exists_new",
        lambda: client.put_if_not_exists("/py/new", "fresh"),
        "put_if_not_exists('/py/new', 'fresh')",
    )
    r.step(
        "replace_match",
        lambda: client.replace("/py/a", "mod-ok", "replaced"),
        "replace('/py/a', 'mod-ok', 'replaced')",
    )
    r.step(
        "replace_mismatch",
        lambda: client.replace("/py/a", "mod-ok", "again"),
        "replace('/py/a', 'mod-ok', 'again')",
    )
    r.step(
        "replace_missing_key",
        lambda: client.replace("/py/missing", "", "x"),
        "replace('/py/missing', '', 'x')",
    )
    r.step("get_a_after_replace", lambda: get("/py/a"), "get('/py/a')", lambda x: x)

    # Compaction. `head` is the current revision, read from a put's header.
    last = r.step(
        "put_before_compact",
        lambda: client.put("/py/a", "last"),
        "put('/py/a', 'last')",
        put_response,
    )
    head = last.header.revision if last is not None else 0
    r.step("compact", lambda: client.compact(head - 1), "compact(head - 1)")
    r.step(
        "get_compacted_rev_raw",
        lambda: raw_range(client, "/py/a", head - 2),
        "kvstub.Range(RangeRequest(key=b'/py/a', revision=head - 2))",
        range_response,
    )
    r.step(
        "get_at_compact_rev_raw",
        lambda: raw_range(client, "/py/a", head - 1),
        "kvstub.Range(RangeRequest(key=b'/py/a', revision=head - 1))",
        range_response,
    )
    r.step(
        "get_range_compacted_rev_dropped",
        lambda: client.get_range("/py/a", "/py/b", revision=head - 2),
        "get_range('/py/a', '/py/b', revision=head - 2)",
        pairs,
    )
    r.step("compact_again", lambda: client.compact(head - 1), "compact(head - 1)")
    r.step("compact_older", lambda: client.compact(head - 3), "compact(head - 3)")
    r.step("compact_future", lambda: client.compact(head + 100), "compact(head + 100)")
    r.step(
        "get_future_rev_raw",
        lambda: raw_range(client, "/py/a", head + 100),
        "kvstub.Range(RangeRequest(key=b'/py/a', revision=head + 100))",
        range_response,
    )
    r.step(
        "compact_physical",
        lambda: client.compact(head, physical=True),
        "compact(head, physical=True)",
    )
    r.step("get_all_after_compact", lambda: client.get_all(), "get_all()", pairs)

    # Argument errors the server rejects.
    r.step("put_empty_key", lambda: client.put("", "v"), "put('', 'v')", put_response)
    r.step("get_empty_key", lambda: get(""), "get('')", lambda x: x)
    r.step("delete_empty_key", lambda: client.delete(""), "delete('')")
    r.step(
        "txn_put_empty_key",
        lambda: client.transaction(compare=[], success=[t.put("", "v")], failure=[]),
        "transaction([], [put('', 'v')], [])",
        txn_result,
    )
    r.step(
        "put_lease_not_found",
        lambda: client.put("/py/leased", "v", lease=12345),
        "put('/py/leased', 'v', lease=12345)",
        put_response,
    )
    r.step(
        "put_over_max_request_bytes",
        lambda: client.put("/py/big", "x" * (MAX_REQUEST_BYTES + 1)),
        "put('/py/big', 'x' * (1.5 MiB + 1))",
        put_response,
    )
    r.step(
        "put_below_max_request_bytes",
        lambda: client.put("/py/big", "x" * (MAX_REQUEST_BYTES - 1024)),
        "put('/py/big', 'x' * (1.5 MiB - 1 KiB))",
        put_response,
    )

    # Cluster and maintenance.
    def status():
        s = client.status()
        return {
            "version": s.version,
            "db_size": s.db_size,
            "leader": member(s.leader),
            "raft_index": s.raft_index,
            "raft_term": s.raft_term,
        }

    r.step("status", status, "status()", lambda x: x)
    r.step(
        "members",
        lambda: [member(m) for m in client.members],
        "members",
        lambda ms: {"members": ms},
    )
    r.step(
        "get_all_final", lambda: client.get_all(keys_only=True), "get_all(keys_only=True)", pairs
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of the etcd client URL")
    args = parser.parse_args()
    host, _, port = args.endpoint.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--endpoint must be host:port, got %r" % args.endpoint)
    client = etcd3.client(host=host, port=int(port), timeout=CALL_TIMEOUT_SECONDS)
    try:
        run(client)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
