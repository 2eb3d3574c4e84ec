"""How many calibration rows certify a loss bound: the table the README quotes.

    python benchmarks/calibration_rows.py [--delta 0.1] [--configurations 216] [--learn-fraction 0.3]

For each ``epsilon``, the testing rows from which a configuration passes
(:func:`ofa_mue.core.risk_control.rows_needed`) when its mean loss on them is 0 or
``epsilon / 2``: with 0/1 losses (exact binomial p-value) and with losses in [0, 1]
(Hoeffding-Bentkus), for one test of the fixed sequence (level ``delta``) and for Bonferroni
over the grid (level ``delta / K``). The fixed sequence tests on the rows left after its
learning share, so its calibration split needs ``rows / (1 - learn_fraction)`` rows. Writes
``benchmarks/results/calibration_rows.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ofa_mue.atomic_files import write_atomically
from ofa_mue.core.risk_control import rows_needed

REPO = Path(__file__).resolve().parents[1]
EPSILONS = (0.01, 0.02, 0.05, 0.1)


def rows_table(delta: float, configurations: int, epsilons: Sequence[float] = EPSILONS) -> List[Dict[str, Any]]:
    """One row per epsilon: the testing rows each case needs."""
    table = []
    for epsilon in epsilons:
        half = epsilon / 2
        table.append({
            "epsilon": epsilon,
            "no_loss": rows_needed(epsilon, delta),
            "binary_half": rows_needed(epsilon, delta, half),
            "bounded_half": rows_needed(epsilon, delta, half, binary=False),
            "binary_half_bonferroni": rows_needed(epsilon, delta, half, tests=configurations),
            "bounded_half_bonferroni": rows_needed(epsilon, delta, half, binary=False, tests=configurations),
        })
    return table


def markdown(table: List[Dict[str, Any]], delta: float, configurations: int, learn_fraction: float) -> str:
    def total(rows: Optional[int]) -> str:
        return "-" if rows is None else f"{rows} ({math.ceil(rows / (1 - learn_fraction))})"

    lines = [f"Testing rows needed at delta = {delta:g} (in brackets: calibration rows with fixed-sequence's "
             f"{learn_fraction:.0%} learning share). Bonferroni over K = {configurations} configurations tests on "
             f"all the rows.", "",
             "| epsilon | no loss at all | mean loss epsilon/2, 0/1 losses | mean loss epsilon/2, losses in [0, 1] "
             "| Bonferroni, epsilon/2, 0/1 | Bonferroni, epsilon/2, [0, 1] |",
             "|---|---|---|---|---|---|"]
    for row in table:
        lines.append(f"| {row['epsilon']:g} | {total(row['no_loss'])} | {total(row['binary_half'])} | "
                     f"{total(row['bounded_half'])} | {row['binary_half_bonferroni']} | "
                     f"{row['bounded_half_bonferroni']} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--configurations", type=int, default=216, help="grid size K (default: the calibration's)")
    parser.add_argument("--learn-fraction", type=float, default=0.3)
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    table = rows_table(args.delta, args.configurations)
    settings = {"delta": args.delta, "configurations": args.configurations, "learn_fraction": args.learn_fraction}
    write_atomically(os.path.join(args.results_dir, "calibration_rows.json"),
                     json.dumps({**settings, "rows": table}, indent=2) + "\n")
    text = markdown(table, args.delta, args.configurations, args.learn_fraction)
    write_atomically(os.path.join(args.results_dir, "calibration_rows.md"), text)
    print(text)


if __name__ == "__main__":
    main()
