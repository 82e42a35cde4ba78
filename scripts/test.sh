#!/usr/bin/env bash
# Runs the whole etcd-rs test suite on a Debian machine, installing first what
# the tests need: the real etcd 3.4.23 and etcdctl (the tests compare against
# them), etcd's Go sources (the wire-compatibility test reads its .proto files
# and the Go clientv3 test builds against them), Go, protoc (for the
# etcd-client crate the Rust tests use as an independent client), openssl
# (test certificates) and curl (the HTTP endpoints); then the container test.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v etcd >/dev/null || packages+=(etcd-server)
command -v etcdctl >/dev/null || packages+=(etcd-client)
[ -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || packages+=(golang-etcd-server-dev)
command -v go >/dev/null || packages+=(golang-go)
command -v protoc >/dev/null || packages+=(protobuf-compiler)
# The TLS tests make their certificates with the openssl command line.
command -v openssl >/dev/null || packages+=(openssl)
# The HTTP tests (health, version) ask with curl, as operators' probes do.
command -v curl >/dev/null || packages+=(curl)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
scripts/apt-install.sh ${packages[@]+"${packages[@]}"}
# Debian's etcd-server package starts a system etcd on :2379; the tests use
# their own ephemeral ports, so it is left alone.

# CI builds once from a clean clone: incremental state would only double the
# size of the build on its disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

status=0
cargo test --workspace --all-targets --no-fail-fast "$@" || status=$?

# The container image and the docker-compose files, with a real engine
# (scripts/test-container.sh installs and starts it). Slow (a static release
# build), so it is not a cargo test; ETCD_RS_SKIP_CONTAINER_TEST=1 skips it.
if [ -z "${ETCD_RS_SKIP_CONTAINER_TEST:-}" ]; then
    scripts/test-container.sh || status=$?
fi
exit $status
