"""Calibrate MuE's thresholds for a target share of the full model's quality.

    python -m ofa_mue.calibrate DATA --path CHECKPOINT --task snli_ve --gen-subset valid \\
        --batch-size 16 --retention 0.99 --profile-path results/snli_ve_profile.json

On the given split (a validation split), it chooses the image, text and decoder thresholds
that maximise the expected time reduction rate while keeping at least ``--retention`` of
the full model's main metric (SNLI-VE accuracy, caption CIDEr), and saves them as an exit
profile (:mod:`ofa_mue.core.exit_profile`) that ``--exit-profile`` loads.

The search: the full model first; then, for each threshold alone, a binary search over
the candidate values (``--candidates``, default :data:`CANDIDATES`) for the lowest value that keeps the retention; then all three
together, backing off (one candidate up, or off) whichever threshold costs the least time
saving until the retention holds. The decoder's decay (``--decoder-exit-beta``,
``--decoder-exit-tau``) is taken from the command line and kept.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from .evaluate import EvaluationSetup, build_parser, load_evaluation
from .sharding import Shard
from .core.exit_policy import NEVER
from .core.exit_profile import save_exit_profile

logger = logging.getLogger("ofa_mue.calibrate")

CANDIDATES: Tuple[float, ...] = (0.999, 0.995, 0.99, 0.98, 0.97, 0.96, 0.95, 0.93, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)
"""Threshold values tried, from the most to the least conservative."""

KNOBS = ("image_exit_threshold", "text_exit_threshold", "decoder_exit_threshold")
MAIN_METRIC = {"snli_ve": "accuracy", "caption": "cider"}


class Calibration:
    """Evaluates threshold settings on one split, remembering every result."""

    def __init__(self, setup: EvaluationSetup, retention: float, candidates: Sequence[float] = CANDIDATES):
        self.setup = setup
        self.candidates = tuple(sorted(candidates, reverse=True))
        self.metric_name = MAIN_METRIC[setup.task.cfg._name]
        self.results: Dict[Tuple[float, ...], Dict[str, Any]] = {}
        self.progress = tqdm(desc="calibrate", unit="setting")
        self.full_metric = self.score({})["metric"]
        self.floor = retention * self.full_metric

    def score(self, setting: Dict[str, float]) -> Dict[str, Any]:
        """Metric and expected time reduction of ``setting`` (knob -> threshold; others off)."""
        key = tuple(setting.get(knob, NEVER) for knob in KNOBS)
        if key not in self.results:
            self.setup.set_exit_options(exit_policy="mue", exit_profile=None, **dict(zip(KNOBS, key)))
            result = self.setup.evaluate(quick_metrics=True)
            self.results[key] = {"metric": result["metrics"][self.metric_name],
                                 "expected_time_reduction": result["layers"]["expected_time_reduction"]}
            self.progress.update()
            self.progress.set_postfix(**{self.metric_name: f"{self.results[key]['metric']:.4f}"})
        return self.results[key]

    def keeps_quality(self, setting: Dict[str, float]) -> bool:
        return self.score(setting)["metric"] >= self.floor

    def lowest_alone(self, knob: str) -> Optional[int]:
        """Index in the candidates of the lowest threshold of ``knob`` that keeps the quality alone."""
        low, high, best = 0, len(self.candidates) - 1, None
        while low <= high:
            middle = (low + high) // 2
            if self.keeps_quality({knob: self.candidates[middle]}):
                best, low = middle, middle + 1
            else:
                high = middle - 1
        return best

    def search(self) -> Dict[str, float]:
        """The combined setting (see the module docstring)."""
        chosen = {knob: self.lowest_alone(knob) for knob in KNOBS}
        while True:
            setting = {knob: self.candidates[i] for knob, i in chosen.items() if i is not None}
            if self.keeps_quality(setting):
                return setting
            options: List[Tuple[float, str]] = []
            for knob, index in chosen.items():
                if index is None:
                    continue
                relaxed = dict(chosen, **{knob: index - 1 if index > 0 else None})
                relaxed_setting = {k: self.candidates[i] for k, i in relaxed.items() if i is not None}
                options.append((self.score(relaxed_setting)["expected_time_reduction"], knob))
            _, knob = max(options)
            chosen[knob] = chosen[knob] - 1 if chosen[knob] > 0 else None


def build_calibration_parser() -> argparse.ArgumentParser:
    """The evaluation options plus ``--retention`` and ``--profile-path``."""
    parser = build_parser()
    group = parser.add_argument_group("calibration")
    group.add_argument("--retention", type=float, default=0.99,
                       help="share of the full model's main metric to keep (default 0.99)")
    group.add_argument("--profile-path", required=True, help="where to write the exit profile (JSON)")
    group.add_argument("--candidates", default=",".join(map(str, CANDIDATES)),
                       help="threshold values to search (default: %(default)s)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns the profile it writes."""
    parser = build_calibration_parser()

    def check_shard(args: argparse.Namespace, shard: Shard) -> None:
        if shard.is_part:
            parser.error("--num-shards: the threshold search needs the whole split's metric at every step, so "
                         "calibrate runs in one process")

    setup, args = load_evaluation(parser, argv, check_shard)
    if not 0.0 < args.retention <= 1.0:
        parser.error(f"--retention must be in (0, 1], got {args.retention}")
    try:
        candidates = [float(value) for value in args.candidates.split(",") if value.strip()]
    except ValueError:
        parser.error(f"--candidates must be comma-separated numbers, got {args.candidates!r}")
    if not candidates or any(not 0.0 < value <= 1.0 for value in candidates):
        parser.error(f"--candidates must be thresholds in (0, 1], got {args.candidates!r}")
    calibration = Calibration(setup, args.retention, candidates)
    setting = calibration.search()
    calibration.progress.close()
    result = calibration.score(setting)
    cfg = setup.task.cfg
    profile = {
        "task": cfg._name,
        "checkpoint": setup.cfg.common_eval.path,
        "split": setup.split,
        "target_retention": args.retention,
        "metric_name": calibration.metric_name,
        "full_metric": calibration.full_metric,
        "metric": result["metric"],
        "expected_time_reduction": result["expected_time_reduction"],
        "settings_evaluated": len(calibration.results),
        "options": {**{knob: setting.get(knob, NEVER) for knob in KNOBS},
                    "decoder_exit_beta": cfg.decoder_exit_beta, "decoder_exit_tau": cfg.decoder_exit_tau},
    }
    save_exit_profile(args.profile_path, profile)
    logger.info("exit profile written to %s: %s", args.profile_path, profile)
    return profile


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    from .evaluate import run_cli

    run_cli(main)


if __name__ == "__main__":
    cli_main()
