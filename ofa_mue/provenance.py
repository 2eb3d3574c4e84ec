"""Where a result comes from: the code's commit, the machine and the date, and which weights.

Every results file the project writes (benchmarks, ``python -m ofa_mue.reproduce``) records
:func:`provenance`, so a number can be traced to the code and hardware that produced it. An
exit profile records :func:`checkpoint_fingerprint`, so a run can tell whether it evaluates
the weights the profile was calibrated on.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
from typing import Any, Dict, List, Optional

import torch

from .errors import CheckpointError

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINGERPRINT_SPAN = 1 << 20
"""Bytes hashed at each end of a checkpoint file by :func:`checkpoint_fingerprint` (1 MiB)."""


def _git(*args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_commit() -> str:
    """The checkout's commit hash, with ``+dirty`` when tracked files differ from it; ``unknown``
    outside a git checkout (an installed package)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return "unknown"
    changed = _git("status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if changed else "")


def load_average() -> Optional[List[float]]:
    """The machine's 1, 5 and 15-minute load averages (``None`` where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_info(device: Optional[torch.device] = None) -> Dict[str, Any]:
    """What the numbers were measured on: CPU, cores, torch and its threads, Python, the device."""
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    device = device or torch.device("cpu")
    info = {
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable_cores(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def provenance(device: Optional[torch.device] = None) -> Dict[str, Any]:
    """``{"commit", "date", "machine"}`` for a results file."""
    return {"commit": code_commit(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_info(device)}


def describe(record: Dict[str, Any]) -> str:
    """One line naming the commit, machine and date of a :func:`provenance` record."""
    machine = record["machine"]
    hardware = machine.get("gpu") or f"{machine['cpu_model']} ({machine['cpu_cores']} cores)"
    return (f"commit {record['commit']}, {hardware}, torch {machine['torch']} with {machine['torch_threads']} "
            f"thread(s), {record['date']}")


def checkpoint_fingerprint(path: str) -> str:
    """A sha256 hex digest identifying the weights of ``path`` (a ``--path`` value: one checkpoint
    file, or several joined by ``os.pathsep`` as fairseq loads an ensemble), reading at most 2 MiB
    per file: for each file in order, its size in bytes, its first MiB and its last MiB (the whole
    file when it is 2 MiB or smaller). A torch checkpoint is a zip file that ends with its central
    directory, which holds a CRC-32 of every entry, so the last MiB changes whenever any tensor
    does; the path and the file's times are not hashed, so a copied or moved checkpoint keeps its
    fingerprint. Limitation: a change confined to the middle of a file larger than 2 MiB that
    keeps its size and leaves the tail alone goes unseen (bytes edited in place; a legacy,
    non-zip torch file, whose end holds no checksums)."""
    digest = hashlib.sha256()
    for file in path.split(os.pathsep):
        try:
            with open(file, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest.update(f"{size}\n".encode())
                digest.update(handle.read(FINGERPRINT_SPAN))
                if size > FINGERPRINT_SPAN:
                    handle.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
                    digest.update(handle.read(FINGERPRINT_SPAN))
        except OSError as error:
            raise CheckpointError(f"{file}: cannot be read for its fingerprint ({error.strerror})") from None
    return digest.hexdigest()
