#!/usr/bin/env python3
"""Logs the PyPI `etcd3` client (0.12.0) in with `user=` and `password=`.

Given `--endpoint host:port`, root's password and a restricted user with
its password, it connects as root with `etcd3.client(host, port,
user="root", password=...)` (the library calls Authenticate while
connecting and sends the token as `token` metadata with every call), puts
and gets a key; connects as the restricted user, reads that key (inside
its permission), and is refused a put and a get outside it; and connects
with a wrong password. It prints one JSON line per step; a failing call
prints the exception's class and, for a gRPC error, its code and details.

etcd3 0.12.0 sends the token twice, as plain metadata and as gRPC call
credentials, and grpcio since 1.45 refuses call credentials on an insecure
channel before anything is sent (kragniz/python-etcd3#1876, #2713). One
step records that refusal; the script then drops the call credentials
(`client.call_credentials = None`), the usual workaround, so every later
call carries the token as metadata only.

crates/etcd/tests/python_etcd3.rs sets the users up (root, and a user
whose role may read and write the prefix /app/) and compares the lines
against a fixed expectation for a fresh single-member server, so
everything printed is deterministic: no header ids, timestamps or ports.
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


def step(name, call, describe):
    """Runs `call`, prints its line; the result, or None when it raised."""
    try:
        result = call()
        fields = describe(result)
    except Exception as e:  # reported, not hidden: the line says what failed
        line = {"step": name, "ok": False, "class": type(e).__name__}
        if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
            line["code"] = e.code().name
            line["details"] = e.details()
        print(json.dumps(line, sort_keys=True), flush=True)
        return None
    print(json.dumps(dict({"step": name, "ok": True}, **fields), sort_keys=True), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="host:port of the client URL")
    parser.add_argument("--root-password", required=True)
    parser.add_argument("--user", required=True, help="the restricted user")
    parser.add_argument("--password", required=True, help="its password")
    args = parser.parse_args()
    host, _, port = args.endpoint.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--endpoint must be host:port, got %r" % args.endpoint)

    def connect(user, password, call_credentials=False):
        client = etcd3.client(
            host=host, port=int(port), user=user, password=password, timeout=CALL_TIMEOUT_SECONDS
        )
        if not call_credentials:
            client.call_credentials = None
        return client

    def revision(r):
        return {"revision": r.header.revision}

    def value(r):
        return {"value": text(r[0])}

    def connected(_):
        return {}

    as_shipped = step(
        "root_connect_call_credentials",
        lambda: connect("root", args.root_password, call_credentials=True),
        connected,
    )
    if as_shipped is not None:
        step("root_get_call_credentials", lambda: as_shipped.get("/app/py"), value)
        as_shipped.close()

    root = step("root_connect", lambda: connect("root", args.root_password), connected)
    if root is None:
        return 2
    step("root_put", lambda: root.put("/app/py", "from python"), revision)
    step("root_get", lambda: root.get("/app/py"), value)
    step("root_put_outside", lambda: root.put("/other", "root's"), revision)
    root.close()

    user = step("user_connect", lambda: connect(args.user, args.password), connected)
    if user is not None:
        step("user_get", lambda: user.get("/app/py"), value)
        step("user_put", lambda: user.put("/app/py", "from the user"), revision)
        step("user_put_denied", lambda: user.put("/other", "x"), revision)
        step("user_get_denied", lambda: user.get("/other"), value)
        user.close()

    step("wrong_password_connect", lambda: connect(args.user, "wrong"), connected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
