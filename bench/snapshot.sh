#!/usr/bin/env bash
# Snapshot save under load, etcd-rs beside Debian's etcd 3.4.23 on the same
# machine: fills each server with KEYS keys (default 1,000,000; 32-byte keys,
# 256-byte values), then runs a writer paced at RATE puts/s while
# `etcdctl snapshot save` streams the whole store, and reports the save's
# wall time, the file's size, the writer's latencies during the save, and
# the time to restore the file with the implementation's own tool (our
# etcdutl; etcd 3.4's etcdctl).
#
#   bench/snapshot.sh                 # ~5 min on 2 cores + the release build
#   KEYS=100000 bench/snapshot.sh     # quicker, less representative
#
# Prints one line per server and writes them to bench/results/snapshot.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=${KEYS:-1000000}
rate=${RATE:-200}
writer_seconds=${WRITER_SECONDS:-20}
cargo build --release -p etcd -p etcd-benchmark --bin etcd --bin etcdutl --bin etcd-benchmark
bench=target/release/etcd-benchmark
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until the server on $1 answers a linearizable read.
await_server() {
    for _ in $(seq 1 200); do
        ETCDCTL_API=3 etcdctl --endpoints "$1" get x >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "snapshot.sh: the server on $1 did not come up" >&2
    exit 1
}

run() {
    local name=$1 binary=$2 port=$3 restore_tool=$4
    local dir="$work/$name" ep="127.0.0.1:$port"
    "$binary" --name bench --data-dir "$dir" \
        --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
        --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-cluster "bench=http://127.0.0.1:$((port + 1))" \
        --quota-backend-bytes 8589934592 --log-level error >"$work/$name.log" 2>&1 &
    pid=$!
    await_server "$ep"
    "$bench" put --endpoints "$ep" --total "$keys" --key-space-size "$keys" \
        --sequential-keys --key-size 32 --val-size 256 --clients 100 --conns 10 \
        --json >"$work/$name-fill.json"
    "$bench" put --endpoints "$ep" --rate "$rate" --total $((rate * writer_seconds)) \
        --key-size 32 --val-size 256 --key-space-size "$keys" --json >"$work/$name-writer.json" &
    local writer=$!
    # Let the paced writer reach its rate before the snapshot starts.
    sleep 2
    local start end
    start=$(date +%s.%N)
    ETCDCTL_API=3 etcdctl --endpoints "$ep" --command-timeout 600s snapshot save "$work/$name.db" >/dev/null 2>&1
    end=$(date +%s.%N)
    wait "$writer"
    local size
    size=$(stat -c %s "$work/$name.db")
    # The restore of that file with the implementation's own tool.
    local restore_start restore_end
    restore_start=$(date +%s.%N)
    ETCDCTL_API=3 "$restore_tool" snapshot restore "$work/$name.db" --data-dir "$work/$name-restored" >/dev/null 2>&1
    restore_end=$(date +%s.%N)
    python3 - "$name" "$keys" "$(echo "$end - $start" | bc)" "$size" "$work/$name-writer.json" "$work/$name-fill.json" \
        "$(echo "$restore_end - $restore_start" | bc)" <<'PY'
import json, sys
name, keys, seconds, size, writer, fill, restore = sys.argv[1:]
w = json.load(open(writer))["report"]
f = json.load(open(fill))["report"]
pct = {p["percent"]: p["secs"] for p in w["percentiles"]}
def ms(v):
    return f"{v * 1000:.1f} ms"
print(f"{name}: {int(keys):,} keys; snapshot save {float(seconds):.2f} s, {int(size) / 1e6:.0f} MB; "
      f"writer at {w['requests_per_sec']:.0f} puts/s meanwhile: p50 {ms(pct[50.0])}, p99 {ms(pct[99.0])}, "
      f"slowest {ms(w['slowest_secs'])}, failures {w['failures']}; restore {float(restore):.2f} s; "
      f"fill {f['requests_per_sec']:.0f} puts/s")
PY
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
}

mkdir -p bench/results
# Not in a pipeline: `run` must execute in this shell, so the cleanup trap
# knows the server it has to stop.
run etcd-rs target/release/etcd 23790 target/release/etcdutl >"$work/etcd-rs.txt"
run etcd /usr/bin/etcd 23890 etcdctl >"$work/etcd.txt"
cat "$work/etcd-rs.txt" "$work/etcd.txt" | tee bench/results/snapshot.txt
