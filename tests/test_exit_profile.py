"""Exit profiles (:mod:`ofa_mue.core.exit_profile`): what a profile file may hold, and what a
run with one is told about the guarantee it carries. (The granularity a profile records is
tested in tests/test_exit_granularity.py.)"""
from __future__ import annotations

import hashlib
import os

import pytest

from ofa_mue.core.exit_profile import (
    CAVEATS,
    batch_size_caveat,
    calibration_split_caveat,
    checkpoint_caveat,
    guarantee_statement,
    load_exit_profile,
    profile_caveats,
    save_exit_profile,
    weights_caveat,
)
from ofa_mue.errors import DataError
from ofa_mue.provenance import FINGERPRINT_SPAN, checkpoint_fingerprint


def _guarantee(certified: bool = True, delta: float = 0.1, rows: int = 1500) -> dict:
    """A guarantee as ``python -m ofa_mue.calibrate`` records it (the fields the statement reads)."""
    return {"certified": certified, "epsilon": 0.05, "delta": delta, "loss": "consistency",
            "loss_definition": "1 if MuE's answer differs from the full model's", "calibration_rows": rows,
            "multiple_testing": "fixed-sequence", "p_value": 0.003 if certified else None}


@pytest.mark.parametrize("options, field, message", [
    # a misspelt threshold is no threshold: read as given, the run would silently use the defaults
    ({"decoder_exit_threshold": 0.9, "decoder_threshold": 0.5}, "options", "unknown exit option(s) decoder_threshold"),
    ({"image_exit_threshold": True}, "options.image_exit_threshold", "must be a number, got True"),
    ({"text_exit_threshold": "0.9"}, "options.text_exit_threshold", "must be a number, got '0.9'"),
], ids=["misspelt", "boolean", "string"])
def test_a_profile_option_that_is_not_an_exit_threshold_is_refused_by_name(tmp_path, options, field, message):
    path = tmp_path / "profile.json"
    save_exit_profile(str(path), {"options": options})
    with pytest.raises(DataError) as error:
        load_exit_profile(str(path))
    assert str(error.value) == f"{path}, field '{field}': {message}"


def test_a_profiles_thresholds_load_each_under_its_own_name(tmp_path):
    path = tmp_path / "profile.json"
    save_exit_profile(str(path), {"options": {"image_exit_threshold": 0.91, "text_exit_threshold": 0.92,
                                              "decoder_exit_threshold": 0.93, "decoder_exit_tau": 2}})
    assert load_exit_profile(str(path)) == {"image_exit_threshold": 0.91, "text_exit_threshold": 0.92,
                                            "decoder_exit_threshold": 0.93, "decoder_exit_tau": 2.0,
                                            "exit_granularity": "token", "exit_step_quantile": 1.0}


def test_the_guarantee_statement_gives_the_confidence_one_minus_delta():
    """delta is the chance the guarantee fails: at delta 0.1 it holds with probability 90%, not 10%."""
    statement = guarantee_statement(_guarantee(delta=0.1))
    assert statement.startswith("with probability at least 90% over the draw of the 1500 calibration rows, the "
                                "expected consistency loss (1 if MuE's answer differs from the full model's) on "
                                "new data from the same distribution is at most 0.05 (p = 0.003, fixed-sequence)")
    assert guarantee_statement(_guarantee(certified=False, delta=0.2, rows=9)) == (
        "no configuration passed: none is certified to keep the expected consistency loss at most 0.05 with "
        "probability 80% from 9 calibration rows, so every exit is off")
    assert guarantee_statement(None).startswith("no guarantee")


def test_a_certified_profile_is_caveated_on_its_own_calibration_split_only():
    """The guarantee is about new data: a run scoring the calibration split is told so; a run on
    another split, or with a profile that certifies nothing, is not."""
    certified = {"split": "valid", "guarantee": _guarantee()}
    caveat = calibration_split_caveat(certified, "valid")
    assert caveat is not None and caveat.startswith("the profile was calibrated on the 'valid' split, which this "
                                                    "run scores")
    assert calibration_split_caveat(certified, "test") is None
    assert calibration_split_caveat({"split": "valid", "guarantee": _guarantee(certified=False)}, "valid") is None
    assert calibration_split_caveat({"split": "valid", "guarantee": None, "method": "retention"}, "valid") is None


def _rewritten(path, offset: int, byte: bytes) -> None:
    """``path`` with the byte at ``offset`` (negative: from the end) replaced by ``byte``."""
    data = bytearray(path.read_bytes())
    data[offset] = byte[0]
    path.write_bytes(bytes(data))


def test_a_checkpoint_fingerprint_reads_its_size_and_both_ends_only(tmp_path):
    """The fingerprint hashes the size and the first and last MiB: a moved file keeps it, a change
    at either end or of the size changes it, and (its documented limit) a byte changed in the
    middle of a file over 2 MiB does not: the middle is never read."""
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(bytes(range(256)) * (3 * FINGERPRINT_SPAN // 256) + b"end")
    before = checkpoint_fingerprint(str(path))
    moved = tmp_path / "moved.pt"
    path.rename(moved)
    assert checkpoint_fingerprint(str(moved)) == before
    _rewritten(moved, len(moved.read_bytes()) // 2, b"x")
    assert checkpoint_fingerprint(str(moved)) == before
    for offset in (0, -1):
        _rewritten(moved, offset, b"y")
        assert checkpoint_fingerprint(str(moved)) != before
        before = checkpoint_fingerprint(str(moved))
    moved.write_bytes(moved.read_bytes() + b"\0")
    assert checkpoint_fingerprint(str(moved)) != before


def test_a_checkpoint_fingerprint_is_the_documented_digest_of_each_file_of_an_ensemble(tmp_path):
    """sha256 over, for each file of ``--path`` in order, ``"<size>\\n"`` and its bytes (the whole
    file when it is at most 2 MiB, so no byte of a 1.5 MiB file is hashed twice): every file of an
    ensemble counts, in its order."""
    first, second, third = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    data = bytes(range(251)) * (3 * FINGERPRINT_SPAN // 2 // 251)  # about 1.5 MiB, not a multiple of 1 MiB
    first.write_bytes(data)
    second.write_bytes(b"second")
    third.write_bytes(b"third")
    assert checkpoint_fingerprint(str(first)) == hashlib.sha256(f"{len(data)}\n".encode() + data).hexdigest()
    ensemble = os.pathsep.join([str(first), str(second)])
    assert checkpoint_fingerprint(ensemble) == hashlib.sha256(
        f"{len(data)}\n".encode() + data + b"6\nsecond").hexdigest()
    assert checkpoint_fingerprint(ensemble) != checkpoint_fingerprint(os.pathsep.join([str(first), str(third)]))
    assert checkpoint_fingerprint(ensemble) != checkpoint_fingerprint(os.pathsep.join([str(second), str(first)]))


def test_a_profile_is_caveated_on_a_checkpoint_with_other_weights_only(tmp_path):
    """A run of the calibrated file, wherever it was moved, gets no caveat; a run of a file with
    other weights at the calibrated path (overwritten by further training) is told; a profile
    without a fingerprint (written before profiles recorded one) is told nothing."""
    calibrated, other = tmp_path / "calibrated.pt", tmp_path / "other.pt"
    calibrated.write_bytes(b"weights")
    other.write_bytes(b"trained on")
    profile = {"checkpoint": "runs/checkpoint_best.pt",
               "checkpoint_fingerprint": checkpoint_fingerprint(str(calibrated))}
    assert checkpoint_caveat(profile, str(calibrated)) is None
    assert checkpoint_caveat(profile, str(other)) == (
        f"the profile was calibrated on the checkpoint runs/checkpoint_best.pt and this run evaluates {other}, whose "
        f"file holds other weights (another checkpoint, or that file overwritten since): its quality and guarantee "
        f"were measured on other weights (calibrate this checkpoint)")
    assert checkpoint_caveat({"checkpoint": "runs/checkpoint_best.pt"}, str(other)) is None


def test_profile_caveats_gives_every_caveat_of_a_run_by_name(tmp_path):
    """One call gives each caveat that applies, named as the metrics file names it; none for the
    run the profile was calibrated for; predict (no split) gets no split caveat."""
    checkpoint, other = tmp_path / "checkpoint.pt", tmp_path / "other.pt"
    checkpoint.write_bytes(b"weights")
    other.write_bytes(b"other weights")
    profile = {"checkpoint": str(checkpoint), "checkpoint_fingerprint": checkpoint_fingerprint(str(checkpoint)),
               "split": "valid", "guarantee": _guarantee(), "weights": "ema", "calibration_batch_size": 8}
    assert profile_caveats(profile, str(checkpoint), 8, True, "test") == {}
    caveats = profile_caveats(profile, str(other), 1, False, "valid")
    assert tuple(caveats) == CAVEATS and all(caveats.values())
    # each caveat under its own name: the metrics file tells which one applies
    assert caveats == {"batch_size_caveat": batch_size_caveat(profile, 1),
                       "split_caveat": calibration_split_caveat(profile, "valid"),
                       "weights_caveat": weights_caveat(profile, False),
                       "checkpoint_caveat": checkpoint_caveat(profile, str(other))}
    assert tuple(profile_caveats(profile, str(other), 1, False)) == tuple(c for c in CAVEATS if c != "split_caveat")


def test_the_weights_caveat_tells_a_run_which_weights_the_profile_was_calibrated_on():
    """A profile of the EMA weights run on the model weights is told to run with --ema-eval; a profile
    of the model weights (no "weights" field) run with --ema-eval is told to run without it."""
    from ofa_mue.core.exit_profile import weights_caveat

    assert weights_caveat({"weights": "ema"}, ema=True) is None and weights_caveat({}, ema=False) is None
    ema_profile = weights_caveat({"weights": "ema"}, ema=False)
    assert ema_profile.startswith("the profile was calibrated on the checkpoint's ema weights and this run "
                                  "evaluates its model weights")
    assert "(run with --ema-eval, or calibrate these weights)" in ema_profile
    model_profile = weights_caveat({}, ema=True)
    assert model_profile.startswith("the profile was calibrated on the checkpoint's model weights and this run "
                                    "evaluates its ema weights")
    assert "(run without --ema-eval, or calibrate these weights)" in model_profile
