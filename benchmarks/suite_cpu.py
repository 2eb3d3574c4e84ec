"""CPU seconds of the test suite, per test, per fixture set-up and per file.

Wall time means little on a shared machine; the CPU time of the pytest process and of the
processes it waits for (fairseq-train, ``python -m ofa_mue.X``, pip ...) hardly depends on the
load. This runs pytest in this process with a plugin that reads ``getrusage`` (self and
children, user + system) around every test phase and every fixture set-up, and writes

- ``{results-dir}/suite_cpu{_tag}.json``: every test's set-up / call / tear-down CPU and wall
  seconds, every fixture set-up of 0.05 CPU s or more (inclusive of the fixtures it requests
  that were set up for it), the totals, with the commit, machine and date;
- ``{results-dir}/suite_cpu{_tag}.md``: the totals, the files and the costliest tests and fixtures.

    python benchmarks/suite_cpu.py [--results-dir benchmarks/results] [--tag before] -- tests -q

Everything after ``--`` goes to pytest (default: ``tests -q -p no:cacheprovider``). The exit
status is pytest's.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import torch

from measurement import REPO, Provenance, write_results  # first: puts the checkout's ofa_mue on the path

PHASES = ("setup", "call", "teardown")
MIN_FIXTURE_CPU = 0.05  # fixture set-ups cheaper than this are not recorded


def cpu_seconds() -> Tuple[float, float]:
    """(this process, its waited-for children): user + system CPU seconds so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def measured(record: Dict[str, Any], key: str) -> Iterator[None]:
    """Around a ``yield``: store its CPU seconds (all, of child processes) and wall seconds in ``record``."""
    (own, children), wall = cpu_seconds(), time.perf_counter()
    yield
    (own_end, children_end) = cpu_seconds()
    record[f"{key}_cpu"] = round(own_end - own + children_end - children, 3)
    record[f"{key}_children_cpu"] = round(children_end - children, 3)
    record[f"{key}_wall"] = round(time.perf_counter() - wall, 3)


class CpuRecorder:
    """pytest plugin: CPU and wall seconds of every test phase and every fixture set-up."""

    def __init__(self) -> None:
        self.tests: Dict[str, Dict[str, Any]] = {}
        self.fixtures: List[Dict[str, Any]] = []
        self._test = ""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self._test = item.nodeid
        self.tests[item.nodeid] = {"outcome": "passed"}
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item):
        yield from measured(self.tests[item.nodeid], "setup")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        yield from measured(self.tests[item.nodeid], "call")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        yield from measured(self.tests[item.nodeid], "teardown")

    def pytest_runtest_logreport(self, report):
        if report.failed or (report.skipped and report.when != "teardown"):
            self.tests[report.nodeid]["outcome"] = "failed" if report.failed else "skipped"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        record = {"fixture": fixturedef.argname, "scope": fixturedef.scope,
                  "defined_in": getattr(fixturedef.func, "__module__", "?"), "first_test": self._test}
        yield from measured(record, "setup")
        if record["setup_cpu"] >= MIN_FIXTURE_CPU:
            self.fixtures.append(record)


def cpu_of_test(record: Dict[str, Any]) -> float:
    """A test's CPU seconds, set-up (with the fixtures first set up for it) and tear-down included."""
    return sum(record.get(f"{phase}_cpu", 0.0) for phase in PHASES)


def summary_markdown(report: Dict[str, Any], header: str, top: int = 25) -> str:
    """The totals, per-file CPU seconds and the costliest tests and fixtures, as markdown."""
    tests, totals = report["tests"], report["totals"]
    per_file: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0])
    for nodeid, record in tests.items():
        per_file[nodeid.split("::")[0]][0] += cpu_of_test(record)
        per_file[nodeid.split("::")[0]][1] += 1
    outcomes = defaultdict(int)
    for record in tests.values():
        outcomes[record["outcome"]] += 1
    lines = [f"# Test suite CPU seconds{' (' + report['tag'] + ')' if report['tag'] else ''}", "", header.strip(), "",
             f"`pytest {' '.join(report['pytest_args'])}`: exit status {report['exit_status']}, "
             f"{', '.join(f'{n} {outcome}' for outcome, n in sorted(outcomes.items()))}; "
             f"**{totals['cpu']:.0f} CPU s** (pytest process {totals['own_cpu']:.0f} s, its child processes "
             f"{totals['children_cpu']:.0f} s), wall {totals['wall']:.0f} s.", "",
             "A fixture's set-up is counted in the set-up of the first test that uses it.", "",
             "| file | tests | CPU s |", "|---|---|---|"]
    for name, (cpu, count) in sorted(per_file.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {name} | {count} | {cpu:.1f} |")
    lines += ["", f"## The {top} costliest tests", "",
              "| test | set-up CPU s | call CPU s | total CPU s | of which child processes |", "|---|---|---|---|---|"]
    for nodeid, record in sorted(tests.items(), key=lambda kv: -cpu_of_test(kv[1]))[:top]:
        children = sum(record.get(f"{phase}_children_cpu", 0.0) for phase in PHASES)
        lines.append(f"| {nodeid} | {record.get('setup_cpu', 0):.1f} | {record.get('call_cpu', 0):.1f} | "
                     f"{cpu_of_test(record):.1f} | {children:.1f} |")
    lines += ["", f"## The {top} costliest fixture set-ups (inclusive of the fixtures they request)", "",
              "| fixture | scope | defined in | CPU s | first test |", "|---|---|---|---|---|"]
    for record in sorted(report["fixtures"], key=lambda r: -r["setup_cpu"])[:top]:
        lines.append(f"| {record['fixture']} | {record['scope']} | {record['defined_in']} | "
                     f"{record['setup_cpu']:.1f} | {record['first_test']} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run pytest with the recorder, write the results files; return pytest's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--tag", default="", help="suffix of the results files' names")
    args = parser.parse_args(ours)
    pytest_args = pytest_args or ["tests", "-q", "-p", "no:cacheprovider"]
    provenance = Provenance(torch.device("cpu"))
    recorder = CpuRecorder()
    wall = time.perf_counter()
    status = int(pytest.main(pytest_args, plugins=[recorder]))
    own, children = cpu_seconds()
    report = {**provenance.finish(), "tag": args.tag, "pytest_args": pytest_args, "exit_status": status,
              "totals": {"cpu": round(own + children, 1), "own_cpu": round(own, 1), "children_cpu": round(children, 1),
                         "wall": round(time.perf_counter() - wall, 1)},
              "tests": recorder.tests, "fixtures": recorder.fixtures}
    write_results(args.results_dir, "suite_cpu" + (f"_{args.tag}" if args.tag else ""), report,
                  summary_markdown(report, provenance.header()))
    return status


if __name__ == "__main__":
    sys.exit(main())
