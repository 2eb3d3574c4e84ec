#!/usr/bin/env bash
# Create or reuse .venv in the repository root and install ofa-mue's pinned stack.
# Run by run_scripts/test.sh and run_scripts/demo.sh (bash, not sourced); safe to run on its own.
# Reinstalls only when requirements.txt or setup.py change (stamp file in .venv).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OFA_MUE_VENV:-$REPO_ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.ofa_mue_install_stamp"

die() { echo "setup_env: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (ofa-mue needs Python 3.11; set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$PYTHON is not Python 3.11 (fairseq-fixed and the pinned torch need 3.11)"

want_stamp="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
  echo "setup_env: $VENV is up to date"
else
  # torch's CUDA build makes the venv about 6 GiB: say so before pip fails half-way with ENOSPC.
  min_free_gib="${OFA_MUE_SETUP_MIN_FREE_GIB:-6.5}"
  venv_parent="$(dirname "$VENV")"
  while [[ ! -d "$venv_parent" ]]; do venv_parent="$(dirname "$venv_parent")"; done
  free_kib="$(df -Pk "$venv_parent" | awk 'NR == 2 {print $4}')"
  awk -v free="$free_kib" -v need="$min_free_gib" 'BEGIN {exit !(free < need * 1048576)}' \
    && die "$venv_parent has $(awk -v f="$free_kib" 'BEGIN {printf "%.1f", f / 1048576}') GiB free;" \
      "the install needs about $min_free_gib GiB (torch's CUDA build is most of it)." \
      "Free some space, or set OFA_MUE_VENV to a folder on a disk with room" \
      "(OFA_MUE_SETUP_MIN_FREE_GIB=0 skips this check)"
  echo "setup_env: installing into $VENV (first run builds fairseq: about 10 minutes on 2 cores)"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" || die "could not create $VENV"
  rm -f "$STAMP"
  pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check "$@"; }
  pick() { grep -E "#.*\[$1\]" "$REPO_ROOT/requirements.txt" | cut -d'#' -f1 | xargs; }
  pip_install --upgrade "pip>=25" || die "pip upgrade failed"
  # shellcheck disable=SC2046
  pip_install $(pick build) || die "installing torch/numpy/build tools failed"
  # fairseq compiles C++ extensions against the torch above; CUDA_HOME would make it
  # try CUDA kernels. --no-deps: its torchaudio pin has no build for this torch.
  # shellcheck disable=SC2046
  (unset CUDA_HOME; pip_install --no-build-isolation --no-deps $(pick fairseq)) \
    || die "building fairseq-fixed failed"
  pip_install -r <(grep -vE "#.*\[(build|fairseq)\]" "$REPO_ROOT/requirements.txt") \
    || die "installing requirements.txt failed"
  pip_install --no-deps --no-build-isolation -e "$REPO_ROOT" || die "installing ofa_mue failed"
  echo "$want_stamp" > "$STAMP"
  echo "setup_env: done"
fi
