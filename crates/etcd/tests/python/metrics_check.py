#!/usr/bin/env python3
"""Parses a Prometheus text-format page (read from stdin) with the official
Python client's parser, `prometheus_client.parser`, as a scraper would.

Prints one JSON object: for each metric family the parser found, its type
and the names of its samples (deduplicated, sorted). A page the parser
rejects makes it exit non-zero with the parser's error on stderr. Used by
crates/etcd/tests/e2e/http_metrics.rs.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    families = {}
    for family in text_string_to_metric_families(sys.stdin.read()):
        families[family.name] = {
            "type": family.type,
            "samples": sorted({sample.name for sample in family.samples}),
        }
    print(json.dumps(families, sort_keys=True))


if __name__ == "__main__":
    main()
