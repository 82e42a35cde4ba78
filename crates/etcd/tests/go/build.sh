#!/usr/bin/env bash
# Builds one of the Go check programs beside this script (etcd's own Go
# client driven through a fixed script) into the given output path, fully
# offline: clientv3_check (the default), coordination_check, tls_check or
# auth_check.
#
# It compiles in GOPATH mode against the Go sources Debian installs under
# /usr/share/gocode: golang-etcd-server-dev ships etcd 3.4.23's clientv3 and
# pulls in every Go library it imports (grpc, protobuf, zap, ...) as
# golang-*-dev packages. No module proxy is contacted.
#
# Usage: build.sh OUTPUT_PATH [PROGRAM]
# Needs: apt-get install -y golang-go golang-etcd-server-dev
set -euo pipefail

usage() {
    echo "usage: $0 OUTPUT_PATH [clientv3_check|coordination_check|tls_check|auth_check]" >&2
    exit 64
}
[[ ($# -eq 1 || $# -eq 2) && -n "$1" ]] || usage
program="${2:-clientv3_check}"
case "$program" in
clientv3_check | coordination_check | tls_check | auth_check) ;;
*) usage ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1"
gopath_debian=/usr/share/gocode
clientv3_src="$gopath_debian/src/go.etcd.io/etcd/clientv3"
install_hint="install them with: apt-get install -y golang-go golang-etcd-server-dev"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: the Go toolchain (go) is not installed; $install_hint" >&2
    exit 3
fi
if [[ ! -f "$clientv3_src/client.go" ]]; then
    echo "build.sh: etcd's Go client sources are missing ($clientv3_src);" \
        "$install_hint" >&2
    exit 3
fi

mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

# A build cache is required; use the user's, or one beside the output when
# there is no home directory (as under some CI runners).
if [[ -z "${GOCACHE:-}" ]]; then
    GOCACHE="$(go env GOCACHE 2>/dev/null || true)"
    if [[ -z "$GOCACHE" || "$GOCACHE" == "off" ]]; then
        GOCACHE="$(dirname "$out")/.gocache"
    fi
fi

# GOPATH mode: imports resolve under $gopath_debian/src; an inherited module
# setting (GOFLAGS=-mod=..., a workspace file, a proxy) must not leak in.
# CGO is off so no C compiler is needed.
export GO111MODULE=off GOPATH="$gopath_debian" GOCACHE GOFLAGS= GOWORK=off \
    GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Build into a private name and rename, so concurrent builds never hand out a
# half-written binary.
if ! (cd "$here/$program" && go build -o "$tmp" .); then
    echo "build.sh: go build failed; if a Go package is missing, $install_hint" >&2
    exit 1
fi
mv -f "$tmp" "$out"
