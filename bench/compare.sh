#!/usr/bin/env bash
# Runs etcd-rs and Debian's etcd 3.4.23 side by side with etcd-benchmark and
# writes BENCHMARKS.md (figures, etcd-rs/etcd ratios, a chart). One command
# from a fresh checkout on Debian:
#
#   bench/compare.sh                    # full run, ~10-15 min on 2 cores + build
#   BENCH_SCALE=0.02 bench/compare.sh   # smoke run, ~1 min + build, not representative
#
# This wrapper only prepares the machine: Debian packages (etcd-server,
# etcd-client, openssl, python3-venv), release builds of `etcd` and `etcd-benchmark`,
# and a venv with matplotlib for the chart. Everything else (servers,
# workloads, measurements, the report) is bench/compare.py; see its header
# for the environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/bin/etcd ] || packages+=(etcd-server)
command -v etcdctl >/dev/null || packages+=(etcd-client)
# The TLS rows' certificates are made with the openssl CLI.
command -v openssl >/dev/null || packages+=(openssl)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
scripts/apt-install.sh ${packages[@]+"${packages[@]}"}
# Debian's etcd-server package may start a system etcd on :2379. The
# benchmark uses its own ephemeral ports, so it is left alone, but it is
# load on the same machine: say so.
if pgrep -x etcd >/dev/null; then
  echo "compare: warning: an etcd process is already running on this machine (pids $(pgrep -x etcd | tr '\n' ' ')); it shares the CPU and disk with the benchmark" >&2
fi

echo "compare: building etcd and etcd-benchmark (release)"
cargo build --release -p etcd -p etcd-benchmark

# matplotlib for the chart, in a venv under target/ so nothing system-wide
# changes. Without it the report is still written, without the chart.
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  echo "compare: preparing $venv (matplotlib)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q matplotlib \
    || echo "compare: warning: pip install matplotlib failed; the report will have no chart" >&2
fi

exec "$venv/bin/python" bench/compare.py "$@"
