"""The mutation check: every mutant of tests/mutation/mutants.py must be caught.

For each mutant, a fresh temporary copy of the tree (the files git tracks or would track,
as they are in the working tree, but the committed results in docs/results) gets the mutant's edits, and pytest runs the tests the
mutant names there: every one of them must fail. First, an unmutated copy must pass them
all, so that a failure means the mutant and nothing else. The working tree is never
written to, whatever happens (Ctrl-C included); copies are removed when done.

Each test run is a fork of this process, which has imported the third-party modules the
tests use (torch, fairseq, ...; never ``ofa_mue`` or a test module) once, so a run pays
only for importing the project from its copy and for its tests; ``--workers`` runs go on
at a time (the number of cores, at most 4, by default).

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
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import mutants as catalogue

REPO = Path(__file__).resolve().parents[2]
SURVEY_FILES = ("tests/test_mixed_exit_decisions.py", "tests/test_early_exit_inference.py",
                "tests/test_exit_policy_and_time_reduction.py", "tests/test_decomposed_encoder.py")
TEST_TIMEOUT_S = 600
TIMED_OUT = 124  # the exit status reported for a test run that ran past TEST_TIMEOUT_S
PYTEST_OPTIONS = ("-q", "-rfE", "--tb=no", "-p", "no:cacheprovider")
# pytest's short summary: "FAILED <node id> - <message>" (or no message); a parametrized id may hold
# spaces and " - " inside its brackets, so the id runs to the "]" that the separator or the line's end follows
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?(?:\[.*?\])?)(?: - |$)", re.MULTILINE)
# Lists the modules that importing ofa_mue and collecting the given tests loads from outside the
# tree given first (run in a child process, so that this one never imports the project).
LIST_MODULES = """
import contextlib, io, json, os, sys
from pathlib import Path
tree = Path(sys.argv[1]).resolve()
os.chdir(tree)
sys.path.insert(0, str(tree))
import pytest
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import ofa_mue
    pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[2:]])
def outside(module):
    places = [getattr(module, "__file__", None)]
    try:
        places += list(getattr(module, "__path__", None) or [])
    except TypeError:  # a __path__ that is no list of folders (torch's class namespaces)
        pass
    return not any(place and Path(place).resolve().is_relative_to(tree) for place in places)
print(json.dumps([name for name, module in list(sys.modules.items()) if outside(module) and name != "__main__"]))
"""
# pytest and its plugins load in each test run itself: pytest-xdist takes the sys.path its workers
# get from the process that imports it, and that must be the run's, which imports from its copy.
PYTEST_PACKAGES = ("_pytest", "pytest", "pluggy", "xdist", "execnet")


# Committed run results (70 MB): no test reads them, and copying them would cost each run seconds.
NOT_COPIED = "docs/results/"


def tree_files(repo: Path) -> List[str]:
    """The working tree's files that git tracks or would track (ignored files, .git and
    NOT_COPIED left out)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True)
    if listed.returncode != 0:
        raise SystemExit(f"the mutation check copies the files git lists, and {repo} is not a git checkout: "
                         f"{listed.stderr.decode().strip()}")
    listed = listed.stdout.decode()
    return [name for name in listed.split("\0")
            if name and not name.startswith(NOT_COPIED) and (repo / name).is_file()]


def copy_tree(repo: Path, files: Iterable[str], target: Path) -> None:
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, destination, follow_symlinks=False)


def preload(tests: Sequence[str], files: List[str]) -> int:
    """Import here the modules from outside the tree that ``ofa_mue`` and ``tests`` (node ids) import,
    as listed by a child process on an unmutated copy of ``files``; returns how many imported. Each test run
    forks from this process, so it finds them loaded; the project and the tests are never
    imported here, so each run imports them from its own copy."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch's OpenMP reads it once, when torch loads
    with tempfile.TemporaryDirectory(prefix="ofa-mue-mutant-") as directory:
        copy_tree(REPO, files, Path(directory))
        listed = subprocess.run([sys.executable, "-c", LIST_MODULES, directory,
                                 *dict.fromkeys(test.split("::")[0] for test in tests)],
                                cwd=directory, env=run_environment(Path(directory)), capture_output=True, text=True)
    if listed.returncode != 0:
        raise SystemExit(f"listing the modules the tests import failed:\n{tail(listed.stderr)}")
    imported, stderr, devnull = 0, os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # what importing logs or warns is the test runs' to say
    try:
        for name in json.loads(listed.stdout.strip().splitlines()[-1]):
            if name.split(".")[0] in PYTEST_PACKAGES:
                continue
            try:
                importlib.import_module(name)
                imported += 1
            except Exception:  # a module that only imports in another order is imported by the run itself
                pass
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)
    return imported


def run_environment(tree: Path) -> Dict[str, str]:
    """The environment of a test run in ``tree``: ``ofa_mue`` imports from there (as do the
    processes its tests start), no bytecode is written, one OpenMP thread unless set."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *inherited]), "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


@dataclass
class Job:
    """One test run: pytest on ``tests`` (node ids) in a fresh copy of the tree with ``mutant``
    applied (``None``: unmutated), or in ``tree`` itself when it is given."""

    name: str
    tests: Sequence[str]
    mutant: Optional[catalogue.Mutant] = None
    tree: Optional[Path] = None


@dataclass
class Finished:
    """A job's outcome: pytest's exit status and output, its wall-clock seconds and the CPU
    seconds (user + system) of its process and the processes it waited for."""

    job: Job
    code: int
    output: str
    wall_s: float
    cpu_s: float


def run_job(job: Job, workdir: Path, files: List[str]) -> int:
    """In a forked child: prepare ``job``'s tree and run pytest on its tests in this process,
    as ``python -m pytest`` in that tree would; returns pytest's exit status."""
    tree = job.tree or workdir / "tree"
    if job.tree is None:
        copy_tree(REPO, files, tree)
        if job.mutant is not None:
            catalogue.apply(job.mutant, tree)
    tree = tree.resolve()
    os.chdir(tree)
    os.environ.update(run_environment(tree))
    script_dir, installed = Path(__file__).resolve().parent, Path(sys.prefix).resolve()
    sys.path[:] = [str(tree), *(p for p in sys.path if p and Path(p).resolve() not in (REPO, script_dir))]
    sys.dont_write_bytecode = True
    for name, module in list(sys.modules.items()):  # the working tree's own modules (the catalogue)
        place = Path(getattr(module, "__file__", None) or "/").resolve()
        if place.is_relative_to(REPO) and not place.is_relative_to(installed) and name != "__main__":
            del sys.modules[name]
    # multiprocessing's spawned processes re-import the main module: under ``python -m pytest`` none
    sys.modules["__main__"] = types.ModuleType("__main__")
    import pytest

    arguments = [*job.tests, *PYTEST_OPTIONS]
    sys.argv = ["pytest", *arguments]
    return int(pytest.main(arguments))


def start(job: Job, files: List[str]) -> Tuple[int, Path, float]:
    """Fork a child that runs ``job`` in its own process group, its output going to a file of
    a new temporary folder; returns the child's pid, that folder and the start time."""
    workdir = Path(tempfile.mkdtemp(prefix="ofa-mue-mutant-"))
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            log = os.open(workdir / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # not a surrounding pytest's capture
            code = run_job(job, workdir, files)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid, workdir, time.monotonic()


def run_jobs(jobs: Sequence[Job], workers: int, files: List[str]) -> Iterator[Finished]:
    """Run ``jobs`` with up to ``workers`` at a time, yielding each as it finishes. A job past
    TEST_TIMEOUT_S is killed (status TIMED_OUT); on any exit, the runs still going are killed and
    every temporary folder is removed."""
    waiting, running, killed = list(jobs), {}, set()  # running: pid -> (job, folder, start)
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                job = waiting.pop(0)
                pid, workdir, began = start(job, files)
                running[pid] = (job, workdir, began)
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:  # none has ended: kill the overdue ones (reaped here next), then wait a little
                for overdue, (_, _, began) in running.items():
                    if overdue not in killed and time.monotonic() - began > TEST_TIMEOUT_S:
                        os.killpg(overdue, signal.SIGKILL)
                        killed.add(overdue)
                time.sleep(0.05)
                continue
            job, workdir, began = running.pop(pid)
            wall = time.monotonic() - began
            if pid in killed:
                code, output = TIMED_OUT, f"pytest did not finish in {TEST_TIMEOUT_S} s"
            else:
                code = os.waitstatus_to_exitcode(status)
                output = (workdir / "pytest.log").read_text(encoding="utf-8", errors="replace")
            shutil.rmtree(workdir, ignore_errors=True)
            yield Finished(job, code, output, wall, usage.ru_utime + usage.ru_stime)
    finally:
        for pid, (_, workdir, _) in running.items():
            try:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            shutil.rmtree(workdir, ignore_errors=True)


def run_tests(tree: Path, tests: Sequence[str]) -> Tuple[int, str]:
    """pytest on ``tests`` (node ids) in ``tree`` itself, importing ``ofa_mue`` from it: exit status, output."""
    finished = next(run_jobs([Job(str(tree), tests, tree=tree)], 1, []))
    return finished.code, finished.output


def failed_tests(output: str) -> List[str]:
    """Node ids pytest's short summary reports as failed or erroring."""
    return FAILED_LINE.findall(output)


def tail(output: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in output.strip().splitlines()[-lines:])


@dataclass
class Step:
    """One test run of the check: the unmutated tree or a mutant, its verdict and its cost."""

    name: str
    tests: int
    verdict: str  # "pass" / "fail" (unmutated), "caught" / "not caught" / "could not run" (a mutant)
    wall_s: float
    cpu_s: float  # user + system CPU seconds of the test run's processes


def shares(tests: Sequence[str], workers: int) -> List[List[str]]:
    """``tests`` (node ids) in at most ``workers`` lists that keep each file's tests together,
    the files with most tests handed out first, each to the shortest list."""
    by_file: Dict[str, List[str]] = {}
    for test in tests:
        by_file.setdefault(test.split("::")[0], []).append(test)
    parts: List[List[str]] = [[] for _ in range(min(workers, len(by_file)))]
    for file_tests in sorted(by_file.values(), key=len, reverse=True):
        min(parts, key=len).extend(file_tests)
    return parts


def check(selected: List[catalogue.Mutant], steps: List[Step], workers: int) -> bool:
    """The mutation check proper; prints one line per step, appends each to ``steps`` (the
    mutants in catalogue order) and returns whether it passed."""
    files = tree_files(REPO)
    for mutant in selected:  # a stale mutant stops the check before any long run
        catalogue.mutated_sources(mutant, REPO)
    tests = list(dict.fromkeys(test for mutant in selected for test in mutant.caught_by))
    print(f"importing what the tests import from outside the tree: {preload(tests, files)} modules", flush=True)
    began = time.monotonic()  # the unmutated tests run as the mutants' do: forked, in shares of whole files
    runs = list(run_jobs([Job("unmutated tree", part) for part in shares(tests, workers)], workers, files))
    wall, failed = time.monotonic() - began, [run for run in runs if run.code != 0]
    steps.append(Step("unmutated tree", len(tests), "fail" if failed else "pass", wall, sum(run.cpu_s for run in runs)))
    if failed:
        print(f"unmutated tree: {len(tests)} tests must pass, pytest exited {failed[0].code}:\n{tail(failed[0].output)}")
        return False
    print(f"unmutated tree: {len(tests)} tests pass ({wall:.0f} s)", flush=True)

    verdicts: Dict[str, Step] = {}
    jobs = [Job(mutant.name, mutant.caught_by, mutant) for mutant in selected]
    for done, finished in enumerate(run_jobs(jobs, workers, files), 1):
        mutant = finished.job.mutant
        failed = set(failed_tests(finished.output))
        escaped = [test for test in mutant.caught_by if test not in failed]
        prefix = f"[{done}/{len(selected)}] {mutant.name}:"
        if finished.code == 1 and not escaped:
            verdict = "caught"
            print(f"{prefix} caught by all {len(failed)} of its tests ({finished.wall_s:.0f} s)", flush=True)
        elif finished.code in (0, 1):
            verdict = "not caught"
            print(f"{prefix} NOT CAUGHT by {len(escaped)} of its {len(mutant.caught_by)} tests (they pass on it): "
                  f"{', '.join(escaped)}", flush=True)
        else:
            verdict = "could not run"
            print(f"{prefix} pytest could not run its tests (exit {finished.code}):\n{tail(finished.output)}",
                  flush=True)
        verdicts[mutant.name] = Step(mutant.name, len(mutant.caught_by), verdict, finished.wall_s, finished.cpu_s)
    steps.extend(verdicts[mutant.name] for mutant in selected)
    problems = [mutant.name for mutant in selected if verdicts[mutant.name].verdict != "caught"]
    if problems:
        print(f"mutation check FAILED: {len(problems)} of {len(selected)} mutants not caught: {', '.join(problems)}")
        return False
    print(f"mutation check passed: all {len(selected)} mutants caught")
    return True


def record(steps: List[Step], passed: bool, provenance: Dict[str, Any], load: Dict[str, Any], elapsed_s: float,
           workers: int) -> Dict[str, Any]:
    """What ``--record`` writes: the verdict, the commit, machine and date (``provenance``), the load
    averages before and after (``load``), the check's own wall-clock seconds (``elapsed_s``, its
    imports included) with ``workers`` runs at a time, each step's cost and the totals (the runs'
    wall-clock seconds overlap, so their sum exceeds ``elapsed_s``)."""
    return {"provenance": provenance, "passed": passed, "load_average": load, "elapsed_s": elapsed_s,
            "workers": workers, "mutants": sum(step.name != "unmutated tree" for step in steps),
            "caught": sum(step.verdict == "caught" for step in steps),
            "runs_wall_s": sum(step.wall_s for step in steps), "cpu_s": sum(step.cpu_s for step in steps),
            "steps": [asdict(step) for step in steps]}


def record_markdown(data: Dict[str, Any], describe: Callable[[Dict[str, Any]], str]) -> str:
    """``data`` (a :func:`record`) as a page: the provenance line, the totals and one row per step."""
    rows = [f"| {step['name']} | {step['tests']} | {step['verdict']} | {step['wall_s']:.1f} | {step['cpu_s']:.1f} |"
            for step in data["steps"]]
    load = data["load_average"]
    return "\n".join([
        f"Mutation check on {describe(data['provenance'])}: {'passed' if data['passed'] else 'FAILED'}, "
        f"{data['caught']} of {data['mutants']} mutants caught in {data['elapsed_s'] / 60:.1f} min of wall-clock "
        f"time, {data['workers']} test runs at a time ({data['runs_wall_s'] / 60:.1f} min of the runs' own "
        f"wall-clock time added up, {data['cpu_s'] / 60:.1f} min CPU; 1-minute load average {load['start']} at the "
        f"start, {load['end']} at the end).", "",
        "| run | tests | verdict | wall s | CPU s |", "|---|---|---|---|---|", *rows, ""])


def write_record(directory: Path, steps: List[Step], passed: bool, load_start: float, elapsed_s: float,
                 workers: int) -> None:
    """Write :func:`record` of this run as ``mutation_check.json`` and ``.md`` in ``directory``."""
    from ofa_mue.provenance import describe, provenance  # imports torch: only for a record

    data = record(steps, passed, provenance(), {"start": load_start, "end": round(os.getloadavg()[0], 2)},
                  elapsed_s, workers)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mutation_check.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (directory / "mutation_check.md").write_text(record_markdown(data, describe), encoding="utf-8")
    print(f"recorded in {directory / 'mutation_check.json'} and .md")


def survey_files(mutant: catalogue.Mutant) -> List[str]:
    """The exit test files, and the files of the tests ``mutant`` names (a mutant of the
    calibration, FLOPs or merge code is caught outside the exit test files)."""
    return list(dict.fromkeys([*SURVEY_FILES, *(test.split("::")[0] for test in mutant.caught_by)]))


def survey(selected: List[catalogue.Mutant], workers: int) -> None:
    """Print, for each mutant, which tests of its :func:`survey_files` fail on it (no verdict)."""
    files = tree_files(REPO)
    preload([test for mutant in selected for test in survey_files(mutant)], files)
    jobs = [Job(mutant.name, survey_files(mutant), mutant) for mutant in selected]
    for finished in run_jobs(jobs, workers, files):
        failed = failed_tests(finished.output)
        print(f"{finished.job.name} (pytest exit {finished.code}): {len(failed)} failing", flush=True)
        for test in failed:
            print(f"    {test}")


def default_workers() -> int:
    """The number of cores this process may run on (as ``nproc`` counts them), at most 4."""
    return min(len(os.sched_getaffinity(0)), 4)


def workers_count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


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
    parser.add_argument("--workers", type=workers_count, default=default_workers(),
                        help="test runs at a time (default: the number of cores, at most 4: %(default)s here)")
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
            survey(selected, args.workers)
            return 0
        load_start, steps, began = round(os.getloadavg()[0], 2), [], time.monotonic()
        passed = check(selected, steps, args.workers)
        if args.record:
            write_record(args.record, steps, passed, load_start, time.monotonic() - began, args.workers)
        return 0 if passed else 1
    except catalogue.StaleMutant as error:
        print(f"mutation check FAILED: {error}")
        return 1
    except KeyboardInterrupt:  # the test runs and their copies are gone; the working tree was never written to
        print("mutation check interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
