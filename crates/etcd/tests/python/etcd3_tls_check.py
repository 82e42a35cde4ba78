#!/usr/bin/env python3
"""Puts and gets keys with the PyPI `etcd3` client (0.12.0) over TLS.

Given `--endpoint host:port` and the client's TLS files, it connects with
`etcd3.client(host, port, ca_cert=..., cert_key=..., cert_cert=...)` (a
grpcio secure channel: it verifies the server against the CA, presents the
client certificate and insists on ALPN `h2`), then prints one JSON line per
step: whether the channel is a secure one, a put, a get of that key, a
second put and a prefix read. A failing
call prints the exception's class and, for a gRPC error, its code and
details, and ends the run.

crates/etcd/tests/tls_clients.rs compares the lines against a fixed
expectation for a fresh single-member server, so everything printed is
deterministic: no header ids, timestamps or ports.
"""

import argparse
import json
import sys

import grpc

import etcd3

# Per-call deadline; a server that does not answer fails the step.
CALL_TIMEOUT_SECONDS = 5


def text(data):
    return data.decode("utf-8") if isinstance(data, bytes) else data


def meta(value, m):
    return {
        "key": text(m.key),
        "value": text(value),
        "create_revision": m.create_revision,
        "mod_revision": m.mod_revision,
        "version": m.version,
    }


def step(name, call, describe):
    """Runs `call`, prints its line; False when it raised."""
    try:
        fields = describe(call())
    except Exception as e:  # reported, not hidden: the line says what failed
        line = {"step": name, "ok": False, "class": type(e).__name__}
        if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
            line["code"] = e.code().name
            line["details"] = e.details()
        print(json.dumps(line), flush=True)
        return False
    print(json.dumps(dict({"step": name, "ok": True}, **fields)), flush=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of the client URL")
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--cert-key", required=True)
    parser.add_argument("--cert-cert", required=True)
    args = parser.parse_args()
    host, _, port = args.endpoint.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--endpoint must be host:port, got %r" % args.endpoint)
    client = etcd3.client(
        host=host,
        port=int(port),
        ca_cert=args.ca_cert,
        cert_key=args.cert_key,
        cert_cert=args.cert_cert,
        timeout=CALL_TIMEOUT_SECONDS,
    )
    steps = [
        (
            "put",
            lambda: client.put("/py/tls/a", "over tls"),
            lambda r: {"revision": r.header.revision},
        ),
        (
            "get",
            lambda: client.get("/py/tls/a"),
            lambda r: meta(*r) if r[1] is not None else {"value": None},
        ),
        (
            "put_second",
            lambda: client.put("/py/tls/b", "again"),
            lambda r: {"revision": r.header.revision},
        ),
        (
            "get_prefix",
            lambda: list(client.get_prefix("/py/tls/")),
            lambda kvs: {"kvs": [meta(v, m) for v, m in kvs]},
        ),
    ]
    print(
        json.dumps({"step": "channel", "ok": True, "secure": client.uses_secure_channel}),
        flush=True,
    )
    try:
        for name, call, describe in steps:
            if not step(name, call, describe):
                break
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
