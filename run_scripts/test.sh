#!/usr/bin/env bash
# Set up .venv (first run: about 10 minutes on 2 cores) and run the test suite.
# Extra arguments go to pytest, e.g. `bash run_scripts/test.sh -k checkpoint -x`.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO_ROOT/run_scripts/setup_env.sh"
cd "$REPO_ROOT"
exec "${OFA_MUE_VENV:-$REPO_ROOT/.venv}/bin/python" -m pytest tests "$@"
