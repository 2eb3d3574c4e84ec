"""Exit profiles: calibrated MuE thresholds saved as a small JSON file.

A profile (written by ``python -m ofa_mue.calibrate``) holds the exit options, how they were
chosen and, for the certified method, the guarantee they carry::

    {"task": "snli_ve", "checkpoint": "...", "split": "valid", "method": "ltt",
     "full_metric": 0.86, "metric": 0.855, "metric_name": "accuracy",
     "expected_time_reduction": 0.52,
     "guarantee": {"certified": true, "epsilon": 0.05, "delta": 0.1, "loss": "consistency",
                   "calibration_rows": 1500, "p_value": 0.003, "statement": "...", ...},
     "options": {"image_exit_threshold": 0.9, "text_exit_threshold": 0.95,
                 "decoder_exit_threshold": 0.95, "decoder_exit_beta": 1.0, "decoder_exit_tau": 0.0}}

``"guarantee"`` is null for the uncertified method (``"method": "retention"``, with its
``"target_retention"``). When no configuration passed the certified test, ``"certified"`` is
false and every threshold is off. ``--exit-profile FILE`` makes evaluation and
``fairseq-generate`` use the options.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from ..atomic_files import write_atomically
from ..errors import DataError

PROFILE_OPTIONS = (
    "image_exit_threshold",
    "text_exit_threshold",
    "decoder_exit_threshold",
    "decoder_exit_beta",
    "decoder_exit_tau",
)


def read_exit_profile(path: str) -> Dict[str, Any]:
    """The whole profile at ``path`` as written (a :class:`DataError` for a missing or bad file)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(path, "exit profile not found") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON ({error})") from None


def load_exit_profile(path: str) -> Dict[str, float]:
    """The exit options of the profile at ``path`` (a :class:`DataError` names a bad field)."""
    profile = read_exit_profile(path)
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


def guarantee_statement(guarantee: Optional[Dict[str, Any]]) -> str:
    """One sentence saying what a profile's ``"guarantee"`` promises (or that there is none)."""
    if not guarantee:
        return "no guarantee (the thresholds do not come from a certified calibration)"
    rows, confidence = guarantee["calibration_rows"], 100 * (1 - guarantee["delta"])
    if not guarantee["certified"]:
        return (f"no configuration passed: none is certified to keep the expected {guarantee['loss']} loss at "
                f"most {guarantee['epsilon']:g} with probability {confidence:g}% from {rows} calibration rows, "
                f"so every exit is off")
    return (f"with probability at least {confidence:g}% over the draw of the {rows} calibration rows, the "
            f"expected {guarantee['loss']} loss ({guarantee['loss_definition']}) on new data from the same "
            f"distribution is at most {guarantee['epsilon']:g} (p = {guarantee['p_value']:.3g}, "
            f"{guarantee['multiple_testing']})")
