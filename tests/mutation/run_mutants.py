"""The mutation check: every mutant of tests/mutation/mutants.py must be caught.

For each mutant, a fresh temporary copy of the tree (the files git tracks or would track,
as they are in the working tree) gets the mutant's edits, and pytest runs the tests the
mutant names there: every one of them must fail. First, an unmutated copy must pass them
all, so that a failure means the mutant and nothing else. The working tree is never
written to, whatever happens (Ctrl-C included); copies are removed when done.

    python tests/mutation/run_mutants.py            # the check (CI runs it after the suite)
    python tests/mutation/run_mutants.py --only batch_wide_encoder_exit
    python tests/mutation/run_mutants.py --survey   # which tests of the exit test files (and of the files
                                                    # its own tests are in) fail on each mutant
    python tests/mutation/run_mutants.py --write-docs   # regenerate docs/MUTATION_CHECK.md's table
    python tests/mutation/run_mutants.py --record DIR   # the check, and its cost per mutant in
                                                        # DIR/mutation_check.{json,md}

Exit status 0 when every mutant is caught, 1 otherwise (a survivor, a stale mutant, a
failing unmutated tree, or a test run that could not run).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

import mutants as catalogue

REPO = Path(__file__).resolve().parents[2]
SURVEY_FILES = ("tests/test_mixed_exit_decisions.py", "tests/test_early_exit_inference.py",
                "tests/test_exit_policy_and_time_reduction.py", "tests/test_decomposed_encoder.py")
TEST_TIMEOUT_S = 600
TIMED_OUT = 124  # the exit status reported for a test run that ran past TEST_TIMEOUT_S
# pytest's short summary: "FAILED <node id> - <message>" (or no message); a parametrized id may hold
# spaces and " - " inside its brackets, so the id runs to the "]" that the separator or the line's end follows
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?(?:\[.*?\])?)(?: - |$)", re.MULTILINE)


def tree_files(repo: Path) -> List[str]:
    """The working tree's files that git tracks or would track (ignored files and .git left out)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True)
    if listed.returncode != 0:
        raise SystemExit(f"the mutation check copies the files git lists, and {repo} is not a git checkout: "
                         f"{listed.stderr.decode().strip()}")
    listed = listed.stdout.decode()
    return [name for name in listed.split("\0") if name and (repo / name).is_file()]


def copy_tree(repo: Path, files: Iterable[str], target: Path) -> None:
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, destination, follow_symlinks=False)


def run_tests(tree: Path, tests: Sequence[str]) -> Tuple[int, str]:
    """pytest on ``tests`` (node ids) in the copy ``tree``, importing ``ofa_mue`` from it."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *inherited]), "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-rfE", "--tb=no", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # a mutant that hangs is not caught by failing tests
        return TIMED_OUT, f"pytest did not finish in {TEST_TIMEOUT_S} s"
    return done.returncode, done.stdout + done.stderr


def failed_tests(output: str) -> List[str]:
    """Node ids pytest's short summary reports as failed or erroring."""
    return FAILED_LINE.findall(output)


def tail(output: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in output.strip().splitlines()[-lines:])


def in_mutated_copy(mutant: catalogue.Mutant | None, files: List[str], tests: Sequence[str]) -> Tuple[int, str]:
    """Run ``tests`` in a fresh copy of the tree with ``mutant`` applied (``None``: unmutated)."""
    with tempfile.TemporaryDirectory(prefix="ofa-mue-mutant-") as directory:
        tree = Path(directory)
        copy_tree(REPO, files, tree)
        if mutant is not None:
            catalogue.apply(mutant, tree)
        return run_tests(tree, tests)


@dataclass
class Step:
    """One test run of the check: the unmutated tree or a mutant, its verdict and its cost."""

    name: str
    tests: int
    verdict: str  # "pass" / "fail" (unmutated), "caught" / "not caught" / "could not run" (a mutant)
    wall_s: float
    cpu_s: float  # user + system CPU seconds of the test run's processes


def timed(run: Callable[[], Tuple[int, str]]) -> Tuple[int, str, float, float]:
    """``run()``'s result, with its wall-clock seconds and the CPU seconds of the processes it waited for."""
    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    wall, cpu = time.monotonic(), children_cpu()
    code, output = run()
    return code, output, time.monotonic() - wall, children_cpu() - cpu


def check(selected: List[catalogue.Mutant], steps: List[Step]) -> bool:
    """The mutation check proper; prints one line per step, appends each to ``steps`` and
    returns whether it passed."""
    files = tree_files(REPO)
    for mutant in selected:  # a stale mutant stops the check before any long run
        catalogue.mutated_sources(mutant, REPO)
    tests = list(dict.fromkeys(test for mutant in selected for test in mutant.caught_by))
    code, output, wall, cpu = timed(lambda: in_mutated_copy(None, files, tests))
    steps.append(Step("unmutated tree", len(tests), "pass" if code == 0 else "fail", wall, cpu))
    if code != 0:
        print(f"unmutated tree: {len(tests)} tests must pass, pytest exited {code}:\n{tail(output)}")
        return False
    print(f"unmutated tree: {len(tests)} tests pass ({wall:.0f} s)", flush=True)

    problems = []
    for number, mutant in enumerate(selected, 1):
        code, output, wall, cpu = timed(lambda: in_mutated_copy(mutant, files, mutant.caught_by))
        failed = set(failed_tests(output))
        escaped = [test for test in mutant.caught_by if test not in failed]
        prefix = f"[{number}/{len(selected)}] {mutant.name}:"
        if code == 1 and not escaped:
            verdict = "caught"
            print(f"{prefix} caught by all {len(failed)} of its tests ({wall:.0f} s)", flush=True)
        elif code in (0, 1):
            verdict = "not caught"
            print(f"{prefix} NOT CAUGHT by {len(escaped)} of its {len(mutant.caught_by)} tests (they pass on it): "
                  f"{', '.join(escaped)}", flush=True)
        else:
            verdict = "could not run"
            print(f"{prefix} pytest could not run its tests (exit {code}):\n{tail(output)}", flush=True)
        steps.append(Step(mutant.name, len(mutant.caught_by), verdict, wall, cpu))
        if verdict != "caught":
            problems.append(mutant.name)
    if problems:
        print(f"mutation check FAILED: {len(problems)} of {len(selected)} mutants not caught: {', '.join(problems)}")
        return False
    print(f"mutation check passed: all {len(selected)} mutants caught")
    return True


def record(steps: List[Step], passed: bool, provenance: Dict[str, Any], load: Dict[str, Any]) -> Dict[str, Any]:
    """What ``--record`` writes: the verdict, the commit, machine and date (``provenance``), the load
    averages before and after (``load``), each step's cost and the totals."""
    return {"provenance": provenance, "passed": passed, "load_average": load,
            "mutants": sum(step.name != "unmutated tree" for step in steps),
            "caught": sum(step.verdict == "caught" for step in steps),
            "wall_s": sum(step.wall_s for step in steps), "cpu_s": sum(step.cpu_s for step in steps),
            "steps": [asdict(step) for step in steps]}


def record_markdown(data: Dict[str, Any], describe: Callable[[Dict[str, Any]], str]) -> str:
    """``data`` (a :func:`record`) as a page: the provenance line, the totals and one row per step."""
    rows = [f"| {step['name']} | {step['tests']} | {step['verdict']} | {step['wall_s']:.1f} | {step['cpu_s']:.1f} |"
            for step in data["steps"]]
    load = data["load_average"]
    return "\n".join([
        f"Mutation check on {describe(data['provenance'])}: {'passed' if data['passed'] else 'FAILED'}, "
        f"{data['caught']} of {data['mutants']} mutants caught; {data['wall_s'] / 60:.1f} min wall-clock, "
        f"{data['cpu_s'] / 60:.1f} min CPU in its test runs (1-minute load average {load['start']} at the start, "
        f"{load['end']} at the end).", "",
        "| run | tests | verdict | wall s | CPU s |", "|---|---|---|---|---|", *rows, ""])


def write_record(directory: Path, steps: List[Step], passed: bool, load_start: float) -> None:
    """Write :func:`record` of this run as ``mutation_check.json`` and ``.md`` in ``directory``."""
    from ofa_mue.provenance import describe, provenance  # imports torch: only for a record

    data = record(steps, passed, provenance(), {"start": load_start, "end": round(os.getloadavg()[0], 2)})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mutation_check.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (directory / "mutation_check.md").write_text(record_markdown(data, describe), encoding="utf-8")
    print(f"recorded in {directory / 'mutation_check.json'} and .md")


def survey_files(mutant: catalogue.Mutant) -> List[str]:
    """The exit test files, and the files of the tests ``mutant`` names (a mutant of the
    calibration, FLOPs or merge code is caught outside the exit test files)."""
    return list(dict.fromkeys([*SURVEY_FILES, *(test.split("::")[0] for test in mutant.caught_by)]))


def survey(selected: List[catalogue.Mutant]) -> None:
    """Print, for each mutant, which tests of its :func:`survey_files` fail on it (no verdict)."""
    files = tree_files(REPO)
    for mutant in selected:
        code, output = in_mutated_copy(mutant, files, survey_files(mutant))
        failed = failed_tests(output)
        print(f"{mutant.name} (pytest exit {code}): {len(failed)} failing", flush=True)
        for test in failed:
            print(f"    {test}")


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="check only these mutants")
    parser.add_argument("--survey", action="store_true",
                        help=f"list the failing tests of {', '.join(SURVEY_FILES)} and of the files of "
                             "the mutant's own tests, for each mutant instead")
    parser.add_argument("--write-docs", action="store_true", help=f"regenerate the table in {catalogue.DOCS}")
    parser.add_argument("--record", metavar="DIR", type=Path,
                        help="also write the check's verdict, provenance and cost per mutant (wall-clock and "
                             "CPU seconds) to DIR/mutation_check.json and .md")
    args = parser.parse_args(argv)
    if args.write_docs:
        catalogue.write_docs(REPO)
        return 0
    if args.record and args.survey:
        parser.error("--record records the check; --survey gives no verdict to record")
    known: Dict[str, catalogue.Mutant] = catalogue.by_name()
    unknown = [name for name in args.only or [] if name not in known]
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    selected = [known[name] for name in args.only] if args.only else list(catalogue.MUTANTS)
    try:
        if args.survey:
            survey(selected)
            return 0
        load_start, steps = round(os.getloadavg()[0], 2), []
        passed = check(selected, steps)
        if args.record:
            write_record(args.record, steps, passed, load_start)
        return 0 if passed else 1
    except catalogue.StaleMutant as error:
        print(f"mutation check FAILED: {error}")
        return 1
    except KeyboardInterrupt:  # the test run and its copy are gone; the working tree was never written to
        print("mutation check interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
