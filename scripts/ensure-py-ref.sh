#!/usr/bin/env bash
# Makes sure .venv-ref (repo root, git-ignored) holds the published Python implementation,
# PyPI scitex-orochi==0.13.0, used by the compatibility tests and side-by-side benchmarks.
# Idempotent: does nothing when the venv already has that version. Safe to run concurrently.
#
# Environment: PYTHON (default python3, needs 3.11+), OROCHI_REF_VERSION (default 0.13.0),
# OROCHI_REF_VENV (default <repo>/.venv-ref).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${OROCHI_REF_VERSION:-0.13.0}"
venv="${OROCHI_REF_VENV:-$root/.venv-ref}"
python="${PYTHON:-python3}"

have_it() {
    [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" - "$version" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
import scitex_orochi  # noqa: F401  (the package must import, not just be listed)
sys.exit(0 if version("scitex-orochi") == sys.argv[1] else 1)
PY
}

if have_it; then
    exit 0
fi

mkdir -p "$venv"
# One installer at a time (the test and CI may race).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv/.ensure-py-ref.lock"
    flock -w 600 9 || { echo "ensure-py-ref: timed out waiting for another install" >&2; exit 1; }
    if have_it; then
        exit 0
    fi
fi

echo "ensure-py-ref: installing scitex-orochi==$version into $venv" >&2
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "scitex-orochi needs Python 3.11+")'
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "scitex-orochi==$version"
have_it || { echo "ensure-py-ref: scitex-orochi==$version still not importable from $venv" >&2; exit 1; }
echo "ensure-py-ref: ready ($venv)" >&2
