#!/usr/bin/env bash
# The container test: builds the image from the repository's Dockerfile,
# then walks the README's container flow with a real engine and Debian's
# etcdctl on the host:
#   1. `docker-compose up -d` starts one member; the first `etcdctl put`
#      succeeds; the image's HEALTHCHECK reports healthy; it runs as non-root;
#   2. `docker-compose down` + `up -d` keeps the data (named volume);
#   3. the 3-member file bootstraps a cluster; with one member stopped the
#      other two keep serving writes; the stopped one comes back and catches up;
#   4. everything is torn down (containers, networks, volumes).
# Starts dockerd itself when none is running (this machine has no init
# system) and stops it again afterwards. Every wait polls a condition with a
# deadline; nothing sleeps for a fixed time to let something happen.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
command -v docker-compose >/dev/null || packages+=(docker-compose)
command -v etcdctl >/dev/null || packages+=(etcd-client)
scripts/apt-install.sh ${packages[@]+"${packages[@]}"}

export ETCDCTL_API=3
unset ETCDCTL_ENDPOINTS ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_USER
export COMPOSE_PROJECT_NAME="etcdrs-test-$$"
single=(docker-compose -f docker-compose.yml)
cluster=(docker-compose -f docker-compose.cluster.yml)
started_dockerd=""
dockerd_log=$(mktemp)

step() { echo "== $*"; }
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# Polls "$@" until it succeeds or $deadline seconds pass.
await() {
    local deadline=$1 what=$2
    shift 2
    local end=$((SECONDS + deadline))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "$what: not within ${deadline}s"
        sleep 0.2
    done
}

cleanup() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        "${single[@]}" logs --tail 50 2>/dev/null || true
        "${cluster[@]}" logs --tail 50 2>/dev/null || true
    fi
    "${single[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    "${cluster[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    if [ -n "$started_dockerd" ]; then
        kill "$started_dockerd" 2>/dev/null || true
        wait "$started_dockerd" 2>/dev/null || true
    fi
    rm -f "$dockerd_log"
    exit $rc
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
    step "starting dockerd (no iptables: the compose networks are bridges on this host)"
    dockerd --iptables=false >"$dockerd_log" 2>&1 &
    started_dockerd=$!
    await 60 "dockerd answering" docker info || { cat "$dockerd_log" >&2; exit 1; }
fi

for port in 2379 22379 32379; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        fail "port $port is in use; the compose files publish it"
    fi
done

step "building the image"
scripts/build-image.sh
size=$(docker image inspect etcd-rs:latest --format '{{.Size}}')
echo "image size: $((size / 1000000)) MB ($size bytes)"
[ "$size" -lt 40000000 ] || fail "image is over 40 MB"

ctl() { etcdctl --endpoints "$1" --dial-timeout 2s --command-timeout 10s "${@:2}"; }
value_of() { ctl "$1" get "$2" --print-value-only; }
has_value() { [ "$(value_of "$1" "$2")" = "$3" ]; }

container_of() { "${1%% *}" "${@:2}" ps -q; }
health_of() { docker inspect --format '{{.State.Health.Status}}' "$1"; }
healthy() { [ "$(health_of "$1")" = healthy ]; }

step "single member: docker-compose up -d, then etcdctl put from the host"
start=$(date +%s.%N)
"${single[@]}" up -d
await 60 "first put" ctl localhost:2379 put greeting hello
first_put=$(date +%s.%N)
printf 'time from `docker-compose up -d` to the first successful put: %.2f s\n' \
    "$(echo "$first_put - $start" | bc)"
has_value localhost:2379 greeting hello || fail "get greeting"
id=$("${single[@]}" ps -q etcd)
await 60 "HEALTHCHECK healthy" healthy "$id"
pid=$(docker inspect --format '{{.State.Pid}}' "$id")
uid=$(stat -c %u "/proc/$pid")
[ "$uid" = 65532 ] || fail "etcd runs as uid $uid, not the image's non-root user"
docker exec "$id" etcdctl get greeting --print-value-only | grep -qx hello ||
    fail "etcdctl inside the container"

step "single member: down and up again keeps the data on the named volume"
"${single[@]}" down
"${single[@]}" up -d
await 60 "data back after restart" has_value localhost:2379 greeting hello
"${single[@]}" down -v

step "3 members: docker-compose -f docker-compose.cluster.yml up -d"
endpoints=localhost:2379,localhost:22379,localhost:32379
"${cluster[@]}" up -d
await 90 "all three members healthy" ctl "$endpoints" endpoint health
[ "$(ctl localhost:2379 member list | wc -l)" = 3 ] || fail "member list has 3 members"
ctl localhost:2379 put k0 v0 >/dev/null
await 30 "k0 on etcd3" has_value localhost:32379 k0 v0

step "3 members: stop etcd2; the other two keep serving"
# If etcd2 leads, its graceful stop hands the leadership over first (as
# etcd's does), so no write has to wait for an election.
"${cluster[@]}" stop etcd2
for i in 1 2 3 4 5; do
    ctl localhost:2379,localhost:32379 put "k$i" "v$i" >/dev/null || fail "put k$i with etcd2 stopped"
done
has_value localhost:32379 k5 v5 || fail "read k5 from etcd3"

step "3 members: etcd2 comes back and catches up"
"${cluster[@]}" start etcd2
await 60 "etcd2 serving k5" has_value localhost:22379 k5 v5
"${cluster[@]}" down -v
step "container test passed"
