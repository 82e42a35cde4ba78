"""Saves a snapshot through python-etcd3's Maintenance.Snapshot stream, as a
Python backup job would: `etcd3_snapshot.py ENDPOINT FILE` (ENDPOINT is
http://host:port or host:port)."""

import sys
from urllib.parse import urlparse

import etcd3


def main():
    endpoint, path = sys.argv[1], sys.argv[2]
    url = urlparse(endpoint if "://" in endpoint else "http://" + endpoint)
    client = etcd3.client(host=url.hostname, port=url.port)
    with open(path, "wb") as out:
        client.snapshot(out)


if __name__ == "__main__":
    main()
