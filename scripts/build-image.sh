#!/usr/bin/env bash
# Builds the etcd-rs container image (tag etcd-rs:latest, or $IMAGE) from the
# Dockerfile at the repository root.
#
# The binaries are built for the host's glibc target with crt-static, so they
# run in an image without any libc (FROM scratch). Passing --target makes the
# static flag apply only to what goes into the image, not to build scripts
# and proc-macros, which must stay dynamic. The staged context holds exactly
# what the Dockerfile copies.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${IMAGE:-etcd-rs:latest}"
target=x86_64-unknown-linux-gnu
bins=(etcd etcdctl etcdutl etcd-benchmark)

build_args=()
for bin in "${bins[@]}"; do build_args+=(--bin "$bin"); done
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --profile image --locked --target "$target" "${build_args[@]}"

context=target/docker-context
rm -rf "$context"
mkdir -p "$context/data"
for bin in "${bins[@]}"; do
    cp "target/$target/image/$bin" "$context/"
done
cp contrib/docker/passwd contrib/docker/group "$context/"

version=$(sed -n 's/^pub const VERSION: &str = "\(.*\)";/\1/p' crates/server/src/lib.rs)
docker build --build-arg VERSION="$version" -t "$image" -f Dockerfile "$context"
docker image inspect "$image" --format '{{.Id}} {{.Size}} bytes'
