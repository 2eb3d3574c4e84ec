"""Wall-clock speed of MuE early exits against the real bound: static truncation at the same depths.

``checkpoints`` (:mod:`checkpoint_speed`)
    Fine-tuned checkpoints (default: the demo's) through the tasks' own code paths: the
    full model with no exit session, MuE's exit tests unable to fire, MuE per token, static
    truncation at MuE's mean depths and the other exit granularities, interleaved; then the
    same exits replayed on a random-init ``ofa_base`` of OFA's vocabulary and image sizes.
    Reports expected, FLOPs and measured reductions, the targets (MuE >= 0.97 of static
    truncation's reduction; exit tests <= 3% of the time at batch 1, <= 2% above) and,
    where one is missed, the part of the time responsible; and each granularity's quality.

``depths`` (:mod:`depth_speed`)
    Random-init ``ofa_base`` / ``ofa_large`` at fixed depths: time against the layer count.

Results: ``benchmarks/results/{mode}[_{tag}].json`` and ``.md``, each with the commit, date,
machine and the load average at start and end (``--note`` adds a line, e.g. that the
machine was shared). Runs on the GPU when one is available (``--cpu`` to stay on the CPU).
See ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Dict, Optional, Sequence

import torch

from measurement import CLOCKS, REPO, Provenance, busy_note, write_results  # first: puts the checkout's ofa_mue on the path
import checkpoint_speed  # noqa: E402
import depth_speed  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("mode", choices=("checkpoints", "depths"))
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even if a GPU is available")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (0: torch's default). 1 gives stable timings on a shared "
                             "machine: with more threads than free cores, small operators stall on thread barriers")
    parser.add_argument("--repetitions", type=int, default=7, help="timed repetitions per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--budget-s", type=float, default=60.0,
                        help="per measurement, stop repeating once this many seconds passed (at least 3 reps)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: the timing thread's CPU time (steadier on a shared CPU "
                             "machine; needs --threads 1 and the CPU)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--note", default="", help="a line of context written into the results (e.g. machine state)")
    checkpoint_speed.add_arguments(parser)
    depth_speed.add_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if args.clock == "cpu" and (device.type != "cpu" or args.threads != 1):
        sys.exit("error: --clock cpu measures one thread on the CPU: use it with --cpu (or no GPU) and --threads 1")
    args.clock_fn = CLOCKS[args.clock]
    provenance = Provenance(device)  # the load average as the run starts
    import ofa_mue  # noqa: F401  (registers the model and tasks)

    logging.basicConfig(level=logging.WARNING, force=True)  # the timed loops log nothing
    if args.mode == "checkpoints":
        report = checkpoint_speed.run_checkpoints(args, device)
        markdown = checkpoint_speed.checkpoints_markdown(report)
    else:
        report = depth_speed.run_depths(args, device)
        markdown = depth_speed.depths_markdown(report)
    record = provenance.finish()
    report = {**record, "clock": args.clock, "note": args.note, **report}
    note = f"{args.note}\n\n" if args.note else ""
    clock = "" if args.clock == "wall" else "Times are CPU time of the timing thread (`--clock cpu`).\n\n"
    markdown = provenance.header() + busy_note(record) + note + clock + markdown
    write_results(args.results_dir, args.mode + (f"_{args.tag}" if args.tag else ""), report, markdown)
    return report


if __name__ == "__main__":
    main()
