"""The command line of the benchmarks that read a committed demo run: its seeds and tasks, its
results, checkpoints and data, a work folder and the results folder."""
from __future__ import annotations

import argparse
import os
from typing import List, Tuple

from ofa_mue.calibrate import MAIN_METRIC

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_demo_run_arguments(description: str, work_dir: str) -> Tuple[argparse.Namespace, List[int], List[str]]:
    """The parsed arguments, the seeds and the tasks; refuses an unknown task and a seed whose
    checkpoint, committed sweep or data split is missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", default="1,2,3", help="demo seeds [1,2,3]")
    parser.add_argument("--tasks", default="snli_ve,caption", help="tasks [snli_ve,caption]")
    parser.add_argument("--demo-results", default="docs/results/demo", help="the demo run's committed results")
    parser.add_argument("--checkpoints", default="checkpoints/demo", help="that run's checkpoints (DEMO_CHECKPOINTS)")
    parser.add_argument("--data", default="demo_data", help="that run's data (DEMO_DATA)")
    parser.add_argument("--work-dir", default=work_dir, help=f"sweeps and logs [{work_dir}]")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="results folder")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    tasks = args.tasks.split(",")
    unknown = [task for task in tasks if task not in MAIN_METRIC]
    if unknown:
        parser.error(f"--tasks: unknown {unknown} (snli_ve, caption)")
    for seed in seeds:
        for task in tasks:
            for path in (os.path.join(args.checkpoints, f"seed{seed}", task, "checkpoint_last.pt"),
                         os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json"),
                         os.path.join(args.data, task, "valid.tsv"), os.path.join(args.data, task, "test.tsv")):
                if not os.path.isfile(path):
                    parser.error(f"{path} not found (a demo.sh run with these seeds, or pass the paths)")
    return args, seeds, tasks
