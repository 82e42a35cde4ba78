# The etcd-rs container image.
#
# Like etcd's own release image, it holds prebuilt binaries and nothing else:
# the binaries are linked statically (glibc with crt-static), so the image
# starts FROM scratch, needs no base image from a registry, and has no shell,
# package manager or libc to patch. scripts/build-image.sh builds the
# binaries and stages the build context (target/docker-context/) this file reads:
#
#     scripts/build-image.sh            # cargo build + docker build -t etcd-rs:latest
#
# Configuration is etcd's: ETCD_* variables (the defaults below make a member
# that serves on all interfaces and keeps its data in the volume), or flags
# after the command, e.g. `docker run etcd-rs etcd --name m1 ...`. etcd
# refuses a flag that is also set by its variable, so override a default
# below with -e ETCD_...=value, or clear it with -e ETCD_...= (empty values
# are skipped) before passing the same setting as a flag.
FROM scratch

ARG VERSION=3.5.0
LABEL org.opencontainers.image.title="etcd-rs" \
      org.opencontainers.image.description="etcd, the distributed key-value store, rebuilt in Rust as a drop-in replacement" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# A non-root user (uid/gid 65532, as distroless images use) owning the data
# volume; a bind-mounted data dir must be writable by that uid.
COPY passwd group /etc/
COPY --chown=65532:65532 data/ /var/lib/etcd/
COPY etcd etcdctl etcdutl etcd-benchmark /usr/local/bin/

ENV ETCD_DATA_DIR=/var/lib/etcd \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_ADVERTISE_CLIENT_URLS=http://localhost:2379 \
    ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380

USER 65532:65532
WORKDIR /var/lib/etcd
VOLUME /var/lib/etcd
EXPOSE 2379 2380

# `etcdctl endpoint health` commits nothing: it is a linearizable read, so a
# member reports healthy only while it is part of a quorum. It dials the
# default endpoint 127.0.0.1:2379; a member serving TLS or another port
# needs its own HEALTHCHECK (or ETCDCTL_* variables) in the run command.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/etcdctl", "endpoint", "health"]

CMD ["/usr/local/bin/etcd"]
