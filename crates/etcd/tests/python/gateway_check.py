#!/usr/bin/env python3
"""Talks to etcd's JSON gateway with nothing but the standard library, the
way etcd3gw-style clients do: POST /v3/kv/put and /v3/kv/range with base64
keys and values, a /v3/watch stream read line by line on its own connection
while another connection writes, and an error answer.

Given the node's client URL (http://127.0.0.1:PORT), it prints one JSON line
per step with what it read; crates/etcd/tests/e2e/http_gateway.rs compares
them. Nothing printed depends on the run (no ids, no ports).
"""

import base64
import http.client
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


def post(base, path, body):
    """POSTs JSON; (status, parsed body), errors included."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def emit(**fields):
    print(json.dumps(fields, sort_keys=True), flush=True)


def main():
    base = sys.argv[1].rstrip("/")
    status, put = post(base, "/v3/kv/put", {"key": b64("foo"), "value": b64("bar")})
    emit(step="put", status=status, revision=put["header"]["revision"])

    status, got = post(base, "/v3/kv/range", {"key": b64("foo")})
    kvs = [[unb64(kv["key"]), unb64(kv["value"]), kv["mod_revision"]] for kv in got["kvs"]]
    emit(step="range", status=status, kvs=kvs)

    url = urllib.parse.urlsplit(base)
    watch = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
    watch.request(
        "POST",
        "/v3/watch",
        body=json.dumps({"create_request": {"key": b64("foo")}}),
        headers={"Content-Type": "application/json"},
    )
    stream = watch.getresponse()
    created = json.loads(stream.readline())["result"]
    emit(step="watch created", created=created.get("created", False))
    post(base, "/v3/kv/put", {"key": b64("foo"), "value": b64("baz")})
    event = json.loads(stream.readline())["result"]["events"][0]
    emit(
        step="watch event",
        type=event.get("type", "PUT"),
        key=unb64(event["kv"]["key"]),
        value=unb64(event["kv"]["value"]),
        mod_revision=event["kv"]["mod_revision"],
    )
    watch.close()

    status, missing = post(base, "/v3/kv/range", {"key": b64("nope")})
    emit(step="range missing", status=status, count=missing.get("count"))

    post(base, "/v3/kv/compaction", {"revision": "3"})
    status, error = post(base, "/v3/kv/range", {"key": b64("foo"), "revision": "2"})
    emit(step="compacted", status=status, code=error["code"], error=error["error"])


if __name__ == "__main__":
    main()
