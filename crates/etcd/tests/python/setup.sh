#!/usr/bin/env bash
# Creates a Python venv at VENV_DIR with the exact packages of
# requirements.txt beside this script (the PyPI etcd3 client and what it
# needs), for etcd3_check.py.
#
# A venv that was completed from the same requirements.txt is kept as it is;
# any other content at VENV_DIR is removed and rebuilt. Concurrent callers
# (test processes run in parallel) wait on a lock beside VENV_DIR.
#
# Usage: setup.sh VENV_DIR
# Needs: python3 with the venv module (Debian: apt-get install -y python3-venv)
# and PyPI reachable through pip. The project's test command, scripts/test.sh,
# installs python3-venv when it is missing.
set -euo pipefail

usage() {
    echo "usage: $0 VENV_DIR" >&2
    exit 64
}
[[ $# -eq 1 && -n "$1" ]] || usage

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/requirements.txt"
venv="$1"
python="${PYTHON:-python3}"
hint="run the project's test command (scripts/test.sh), which installs it, or \
apt-get install -y python3-venv"
# Marks a finished install: a copy of the requirements it was made from.
stamp="$venv/etcd-rs-requirements.txt"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python is not installed; $hint" >&2
    exit 3
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements" &&
    [[ -x "$venv/bin/python" ]]; then
    exit 0
fi

rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
    rm -rf "$venv"
    echo "setup.sh: '$python -m venv' failed (is the venv module with ensurepip" \
        "installed?); $hint" >&2
    exit 3
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
setuptools_pin="$(grep -E '^setuptools==' "$requirements")"
# etcd3 0.12.0 is an sdist: build it with the pinned setuptools rather than
# whatever version an isolated build environment would fetch.
if ! "${pip[@]}" install --quiet "$setuptools_pin" ||
    ! "${pip[@]}" install --quiet --no-build-isolation -r "$requirements"; then
    rm -rf "$venv"
    echo "setup.sh: pip could not install $requirements into $venv;" \
        "PyPI must be reachable (see pip's messages above)" >&2
    exit 1
fi
if ! "$venv/bin/python" -c 'import etcd3' ; then
    rm -rf "$venv"
    echo "setup.sh: the etcd3 package does not import in $venv" >&2
    exit 1
fi
cp "$requirements" "$stamp"
