#!/usr/bin/env bash
# Set up .venv (first run: about 10 minutes on 2 cores) and run the test suite.
# Extra arguments go to pytest, e.g. `bash run_scripts/test.sh -k checkpoint -x`.
# The tests run in parallel (pytest-xdist), a test file per worker at a time, the longest
# files first (tests/conftest.py orders them): TEST_WORKERS [the number of cores, at most 4;
# 0 runs them in this one process].
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO_ROOT/run_scripts/setup_env.sh"
cd "$REPO_ROOT"
CORES="$(nproc)"
WORKERS="${TEST_WORKERS:-$(( CORES < 4 ? CORES : 4 ))}"
[[ "$WORKERS" =~ ^[0-9]+$ ]] || { echo "error: TEST_WORKERS must be a number, got '$WORKERS'" >&2; exit 2; }
exec "${OFA_MUE_VENV:-$REPO_ROOT/.venv}/bin/python" -m pytest tests -n "$WORKERS" --dist loadfile --no-loadscope-reorder "$@"
