"""run_scripts/setup_env.sh refuses to start an install the disk cannot hold."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_too_little_free_space_is_refused_before_anything_is_installed(tmp_path):
    venv = tmp_path / "not" / "yet" / "venv"
    free_gib = shutil.disk_usage(tmp_path).free / 2**30
    env = dict(os.environ, OFA_MUE_VENV=str(venv), OFA_MUE_SETUP_MIN_FREE_GIB=f"{free_gib + 1:.1f}")
    done = subprocess.run(["bash", str(REPO / "run_scripts" / "setup_env.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    message = done.stderr.strip()
    assert message.startswith(f"setup_env: error: {tmp_path} has ")
    assert f"GiB free; the install needs about {free_gib + 1:.1f} GiB" in message
    assert "OFA_MUE_SETUP_MIN_FREE_GIB=0 skips this check" in message
    assert not (tmp_path / "not").exists()
