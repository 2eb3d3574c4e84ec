"""Exit profiles: calibrated MuE thresholds saved as a small JSON file.

A profile (written by ``python -m ofa_mue.calibrate``) holds the exit options and how they
were chosen::

    {"task": "snli_ve", "checkpoint": "...", "split": "valid", "target_retention": 0.99,
     "full_metric": 0.86, "metric": 0.855, "metric_name": "accuracy",
     "expected_time_reduction": 0.52,
     "options": {"image_exit_threshold": 0.9, "text_exit_threshold": 0.95,
                 "decoder_exit_threshold": 0.95, "decoder_exit_beta": 1.0, "decoder_exit_tau": 0.0}}

``--exit-profile FILE`` makes evaluation and ``fairseq-generate`` use its options.
"""
from __future__ import annotations

import json
from typing import Any, Dict

from ..atomic_files import write_atomically
from ..errors import DataError

PROFILE_OPTIONS = (
    "image_exit_threshold",
    "text_exit_threshold",
    "decoder_exit_threshold",
    "decoder_exit_beta",
    "decoder_exit_tau",
)


def load_exit_profile(path: str) -> Dict[str, float]:
    """The exit options of the profile at ``path`` (a :class:`DataError` names a bad field)."""
    try:
        with open(path, encoding="utf-8") as handle:
            profile = json.load(handle)
    except FileNotFoundError:
        raise DataError(path, "exit profile not found") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON ({error})") from None
    options = profile.get("options") if isinstance(profile, dict) else None
    if not isinstance(options, dict):
        raise DataError(path, "no 'options' object", field="options")
    unknown = sorted(set(options) - set(PROFILE_OPTIONS))
    if unknown:
        raise DataError(path, f"unknown exit option(s) {', '.join(unknown)}", field="options")
    for name, value in options.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DataError(path, f"must be a number, got {value!r}", field=f"options.{name}")
    return {name: float(value) for name, value in options.items()}


def save_exit_profile(path: str, profile: Dict[str, Any]) -> None:
    """Write ``profile`` as JSON, atomically (never half a file)."""
    write_atomically(path, json.dumps(profile, indent=2) + "\n")
