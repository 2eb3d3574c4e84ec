"""Exit profiles: calibrated MuE thresholds saved as a small JSON file.

A profile (written by ``python -m ofa_mue.calibrate``) holds the exit options, how they were
chosen and, for the certified method, the guarantee they carry::

    {"task": "snli_ve", "checkpoint": "...", "checkpoint_fingerprint": "...", "split": "valid", "method": "ltt",
     "full_metric": 0.86, "metric": 0.855, "metric_name": "accuracy",
     "expected_time_reduction": 0.52,
     "guarantee": {"certified": true, "epsilon": 0.05, "delta": 0.1, "loss": "consistency",
                   "calibration_rows": 1500, "p_value": 0.003, "statement": "...", ...},
     "options": {"image_exit_threshold": 0.9, "text_exit_threshold": 0.95,
                 "decoder_exit_threshold": 0.95, "decoder_exit_beta": 1.0, "decoder_exit_tau": 0.0,
                 "exit_granularity": "step", "exit_step_quantile": 0.5}}

``"guarantee"`` is null for the uncertified method (``"method": "retention"``, with its
``"target_retention"``). When no configuration passed the certified test, ``"certified"`` is
false and every threshold is off. ``--exit-profile FILE`` makes evaluation and
``fairseq-generate`` use the options.

The thresholds hold for the exit granularity they were calibrated with
(:mod:`ofa_mue.core.exit_granularity`), so the options record it: ``"exit_granularity"``
and, for ``step`` only, ``"exit_step_quantile"``. A profile without them (every profile
written before they were recorded) was calibrated per token: it reads as ``token``. A run
with the profile takes its granularity unless the command line sets one
(:func:`granularity_with_profile`): one that makes other exit decisions is refused.
``token`` and ``auto`` make the same decisions (``auto`` only chooses how to compute them),
so either may run a profile calibrated with the other.

Under ``step`` the tokens of one decoder step stop together, so a token's depth depends on the
other rows of its batch: such a profile also records ``"calibration_batch_size"``, and its
measured quality and guarantee describe runs at that batch size only
(:func:`batch_size_caveat`). A profile calibrated on a checkpoint's EMA weights (``--ema-eval``)
records ``"weights": "ema"``, and a run on the other weights is told so (:func:`weights_caveat`).
A profile records its checkpoint's ``"checkpoint_fingerprint"``
(:func:`~ofa_mue.provenance.checkpoint_fingerprint`: the file's size and first and last MiB,
the same for the file moved or copied), and a run of a file holding other weights (another
checkpoint, or the calibrated path overwritten by further training) is told so
(:func:`checkpoint_caveat`); a profile without one (written before profiles recorded it) is
not checked. :func:`profile_caveats` gives every caveat that applies to a run, by name, for
``evaluate`` (its metrics file and a WARNING) and ``predict`` (warnings); ``fairseq-generate``
checks none.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from ..atomic_files import write_atomically
from ..errors import ConfigError, DataError
from ..provenance import checkpoint_fingerprint
from .exit_granularity import GRANULARITIES

PROFILE_OPTIONS = (
    "image_exit_threshold",
    "text_exit_threshold",
    "decoder_exit_threshold",
    "decoder_exit_beta",
    "decoder_exit_tau",
)
"""The numeric options of a profile: the thresholds and the decoder's decay."""

GRANULARITY_OPTIONS = ("exit_granularity", "exit_step_quantile")
"""The exit granularity a profile was calibrated with (see the module docstring)."""

DECISION_RULE = {"token": "token", "auto": "token", "step": "step"}
"""Granularities with the same exit decisions share a rule: ``auto`` decides as ``token``."""


def read_exit_profile(path: str) -> Dict[str, Any]:
    """The whole profile at ``path`` as written (a :class:`DataError` for a missing or bad file)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(path, "exit profile not found") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON ({error})") from None


def load_exit_profile(path: str) -> Dict[str, Any]:
    """The exit options of the profile at ``path``: its numbers (:data:`PROFILE_OPTIONS`), and
    ``exit_granularity`` and ``exit_step_quantile`` always (``token`` and 1 where it has none);
    a :class:`DataError` names a bad field."""
    profile = read_exit_profile(path)
    options = profile.get("options") if isinstance(profile, dict) else None
    if not isinstance(options, dict):
        raise DataError(path, "no 'options' object", field="options")
    unknown = sorted(set(options) - set(PROFILE_OPTIONS) - set(GRANULARITY_OPTIONS))
    if unknown:
        raise DataError(path, f"unknown exit option(s) {', '.join(unknown)}", field="options")
    numbers = {name: value for name, value in options.items() if name != "exit_granularity"}
    for name, value in numbers.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DataError(path, f"must be a number, got {value!r}", field=f"options.{name}")
    loaded: Dict[str, Any] = {name: float(value) for name, value in numbers.items()}
    granularity = options.get("exit_granularity", "token")
    if granularity not in GRANULARITIES:
        raise DataError(path, f"must be one of {', '.join(GRANULARITIES)}, got {granularity!r}",
                        field="options.exit_granularity")
    quantile = loaded.get("exit_step_quantile", 1.0)
    if not 0.0 < quantile <= 1.0:
        raise DataError(path, f"must be in (0, 1], got {quantile!r}", field="options.exit_step_quantile")
    if quantile != 1.0 and granularity != "step":
        raise DataError(path, f"applies to the step granularity, not {granularity!r}",
                        field="options.exit_step_quantile")
    loaded.update(exit_granularity=granularity, exit_step_quantile=quantile)
    return loaded


def granularity_options(mode: str, quantile: float) -> Dict[str, Any]:
    """What a profile's options record of the granularity ``mode`` (and ``quantile``, for ``step``)."""
    return {"exit_granularity": mode, **({"exit_step_quantile": quantile} if mode == "step" else {})}


def describe_granularity(mode: str, quantile: float) -> str:
    """The granularity as command-line flags (``--exit-granularity step --exit-step-quantile 0.5``)."""
    return f"--exit-granularity {mode}" + (f" --exit-step-quantile {quantile:g}" if mode == "step" else "")


def granularity_with_profile(path: str, options: Dict[str, Any], mode: Optional[str],
                             quantile: Optional[float]) -> Tuple[str, float]:
    """The granularity ``(mode, quantile)`` a run with the profile at ``path`` (its loaded ``options``)
    uses: the profile's where the command line gives none (``mode``/``quantile`` ``None``), the
    command line's where it makes the same decisions; a :class:`ConfigError` naming the file and
    both values where it asks for other decisions than the thresholds were calibrated for."""
    recorded = (options["exit_granularity"], options["exit_step_quantile"])
    mode = recorded[0] if mode is None else mode
    if mode == "step" and quantile is None:
        quantile = recorded[1] if recorded[0] == "step" else 1.0
    quantile = 1.0 if quantile is None else quantile
    if mode not in DECISION_RULE:  # not a granularity: ExitGranularity says so
        return mode, quantile
    if DECISION_RULE[mode] != DECISION_RULE[recorded[0]] or (mode == "step" and quantile != recorded[1]):
        raise ConfigError(f"{path}: the exit profile was calibrated with {describe_granularity(*recorded)}, "
                          f"but the command line asks for {describe_granularity(mode, quantile)}: drop "
                          f"--exit-granularity/--exit-step-quantile (the profile sets them) or calibrate a "
                          f"profile for this granularity")
    return mode, quantile


def batch_size_caveat(profile: Dict[str, Any], batch_size: int) -> Optional[str]:
    """Why ``profile``'s measured quality and guarantee do not describe a run at ``batch_size``
    (a ``step`` profile calibrated at another batch size), else None."""
    calibrated = profile.get("calibration_batch_size")
    if calibrated is None or calibrated == batch_size:
        return None
    return (f"the profile was calibrated with --exit-granularity step at --batch-size {calibrated}, and this run "
            f"uses --batch-size {batch_size}: under step a token's depth depends on the other rows of its batch, "
            f"so the profile's quality and guarantee were not measured for this run (calibrate at the batch "
            f"size you serve with)")


def calibration_split_caveat(profile: Dict[str, Any], split: str) -> Optional[str]:
    """Why a certified ``profile``'s guarantee does not describe a run on ``split``: the run
    scores the split the profile was calibrated on (the guarantee is about new data), else None."""
    if not (profile.get("guarantee") or {}).get("certified") or profile.get("split") != split:
        return None
    return (f"the profile was calibrated on the {split!r} split, which this run scores: its rows chose the "
            f"thresholds, and the guarantee is about new data (evaluate another split)")


def weights_caveat(profile: Dict[str, Any], ema: bool) -> Optional[str]:
    """Why ``profile``'s measured quality and guarantee do not describe a run of other weights of the
    checkpoint: calibrated on its EMA weights (``--ema-eval``, ``"weights": "ema"``) and run on its
    model weights, or the reverse; else None."""
    calibrated, run = profile.get("weights", "model"), "ema" if ema else "model"
    if calibrated == run:
        return None
    return (f"the profile was calibrated on the checkpoint's {calibrated} weights and this run evaluates its "
            f"{run} weights: its quality and guarantee were measured on other weights (run "
            f"{'with' if calibrated == 'ema' else 'without'} --ema-eval, or calibrate these weights)")


def weights_record(ema: bool) -> Dict[str, str]:
    """What a profile, an evaluation summary and a calibration table's key record of the weights
    evaluated: ``{"weights": "ema"}`` for a checkpoint's EMA weights (``--ema-eval``), nothing for
    its model weights."""
    return {"weights": "ema"} if ema else {}


def checkpoint_caveat(profile: Dict[str, Any], checkpoint: str) -> Optional[str]:
    """Why ``profile``'s measured quality and guarantee do not describe a run of ``checkpoint`` (a
    ``--path`` value): its :func:`~ofa_mue.provenance.checkpoint_fingerprint` differs from the one
    the profile recorded (other weights: another checkpoint, or the calibrated file overwritten
    since, e.g. by further training); else None. A profile without ``"checkpoint_fingerprint"``
    (written before profiles recorded it, or null: merged from shards written before) gets no
    caveat: nothing can be compared."""
    calibrated = profile.get("checkpoint_fingerprint")
    if calibrated is None or calibrated == checkpoint_fingerprint(checkpoint):
        return None
    return (f"the profile was calibrated on the checkpoint {profile.get('checkpoint')} and this run evaluates "
            f"{checkpoint}, whose file holds other weights (another checkpoint, or that file overwritten since): "
            f"its quality and guarantee were measured on other weights (calibrate this checkpoint)")


CAVEATS = ("batch_size_caveat", "split_caveat", "weights_caveat", "checkpoint_caveat")
"""The names of :func:`profile_caveats`' caveats, as an evaluation's metrics file records them."""


def profile_caveats(profile: Dict[str, Any], checkpoint: str, batch_size: int, ema: bool,
                    split: Optional[str] = None) -> Dict[str, str]:
    """Every reason, by its name in :data:`CAVEATS`, why ``profile``'s measured quality and guarantee
    do not describe a run of ``checkpoint`` (its EMA weights when ``ema``) at ``batch_size``
    scoring ``split`` (None: no split, as predict); empty when they do."""
    caveats = (batch_size_caveat(profile, batch_size),
               None if split is None else calibration_split_caveat(profile, split),
               weights_caveat(profile, ema), checkpoint_caveat(profile, checkpoint))
    return {name: caveat for name, caveat in zip(CAVEATS, caveats) if caveat}


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
