"""The mutation check's catalogue stays usable: every mutant still applies to the tree, names
tests that exist, and is in the docs table. (CI runs the check itself after the suite:
``python tests/mutation/run_mutants.py``.)"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fork_server import fast_python
from mutation import mutants as catalogue

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "mutation"))  # run_mutants imports the catalogue as a sibling
import run_mutants  # noqa: E402


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda mutant: mutant.name)
def test_mutant_applies_to_the_tree_and_changes_it(mutant):
    sources = catalogue.mutated_sources(mutant, REPO)  # StaleMutant if an original text is gone
    for path, mutated in sources.items():
        assert mutated != path.read_text(encoding="utf-8")
        # a mutant is a wrong program, not a syntax error
        if path.suffix == ".py":
            ast.parse(mutated, filename=str(path))
        else:  # a shell script
            checked = subprocess.run(["bash", "-n"], input=mutated, capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr


def collected_tests(files):
    """The node ids pytest collects from ``files`` in the tree: one child pytest that only collects
    (about 15 s for the catalogue's files on two cores), without the options PYTEST_ADDOPTS may add."""
    if not files:  # pytest given no file collects the whole suite
        return set()
    environment = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    collected = subprocess.run(
        [fast_python(), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
         *files], cwd=REPO, env=environment, capture_output=True, text=True)
    assert collected.returncode == 0, f"collecting {' '.join(files)} failed:\n{collected.stdout}{collected.stderr}"
    # -q lists one node id a line, then a blank line and the count
    return set(collected.stdout.split("\n\n")[0].splitlines())


def test_each_mutant_names_collected_tests_exactly():
    """Every id in a mutant's caught_by is one pytest collects, exactly: the check matches pytest's
    FAILED lines against the ids, and those name a parametrized test's cases (``test_f[case]``),
    so a parametrized test named by its function alone could never count as catching the mutant."""
    files = sorted({node.split("::")[0] for mutant in catalogue.MUTANTS for node in mutant.caught_by})
    present = [file for file in files if (REPO / file).is_file()]
    collected = collected_tests(present)
    problems = []
    for mutant in catalogue.MUTANTS:
        if not mutant.caught_by:
            problems.append(f"{mutant.name}: names no test (a mutant no test catches is not part of the check)")
        for node in mutant.caught_by:
            if node in collected:
                continue
            cases = sorted(test for test in collected if test.startswith(node + "["))
            if cases:
                problems.append(f"{mutant.name}: {node} is a parametrized test; name its cases, one or more of: "
                                + ", ".join(cases))
            elif node.split("::")[0] not in present:
                problems.append(f"{mutant.name}: {node}: there is no file {node.split('::')[0]}")
            else:
                problems.append(f"{mutant.name}: {node} is not a test pytest collects")
    assert not problems, "mutants naming tests that are not collected as named:\n" + "\n".join(problems)


def test_mutant_names_are_unique():
    assert len(catalogue.by_name()) == len(catalogue.MUTANTS)


def test_a_stale_mutant_is_an_error_naming_it(tmp_path):
    mutant = catalogue.MUTANTS[0]
    edit = mutant.edits[0]
    (tmp_path / edit.path).parent.mkdir(parents=True)
    shutil.copy(REPO / edit.path, tmp_path / edit.path)
    catalogue.apply(mutant, tmp_path)  # the copy now holds the replacement, not the original
    with pytest.raises(catalogue.StaleMutant, match=f"mutant {mutant.name}: {edit.path}: .* found 0 times"):
        catalogue.apply(mutant, tmp_path)


def test_docs_table_is_the_catalogue():
    text = (REPO / catalogue.DOCS).read_text(encoding="utf-8")
    assert catalogue.docs_with_table(text) == text, (
        f"{catalogue.DOCS} is out of date: run python tests/mutation/run_mutants.py --write-docs")


def test_failed_tests_are_read_whole_from_pytests_summary(tmp_path):
    """A failing parametrized test whose id holds spaces (or " - ") is read back under its whole id,
    so a mutant it catches is not reported as escaping it."""
    (tmp_path / "test_ids.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('x', ['a b', 'c - d', 'e'])\n"
        "def test_x(x):\n"
        "    assert x == 'e', 'boom'\n"
        "def test_plain():\n"
        "    assert False\n"
        "def test_error(missing_fixture):\n"
        "    pass\n", encoding="utf-8")
    code, output = run_mutants.run_tests(tmp_path, ["test_ids.py"])
    assert code == 1
    assert sorted(run_mutants.failed_tests(output)) == [
        "test_ids.py::test_error", "test_ids.py::test_plain", "test_ids.py::test_x[a b]", "test_ids.py::test_x[c - d]"]


def test_record_counts_and_sums_every_step_and_the_cpu_of_its_test_runs(tmp_path):
    """``--record``: the CPU seconds are the test run's own (a forked run burning CPU), and the
    totals and counts cover every step, the unmutated tree's included."""
    (tmp_path / "test_burn.py").write_text(
        "import time\n"
        "def test_burn():\n"
        "    end = time.process_time() + 0.3\n"
        "    while time.process_time() < end: pass\n", encoding="utf-8")
    (finished,) = run_mutants.run_jobs([run_mutants.Job("burn", ["test_burn.py"], tree=tmp_path)], 1, [])
    assert finished.code == 0 and finished.cpu_s >= 0.25 and finished.wall_s >= 0.25
    steps = [run_mutants.Step("unmutated tree", 5, "pass", 10.0, 8.0),
             run_mutants.Step("a", 2, "caught", 4.0, 3.5), run_mutants.Step("b", 3, "not caught", 6.0, 5.0)]
    data = run_mutants.record(steps, False, {"commit": "c"}, {"start": 1.0, "end": 2.0}, 12.0, 2)
    assert (data["mutants"], data["caught"], data["runs_wall_s"], data["cpu_s"]) == (2, 1, 20.0, 16.5)
    assert (data["elapsed_s"], data["workers"]) == (12.0, 2)
    assert [step["name"] for step in data["steps"]] == ["unmutated tree", "a", "b"]
    page = run_mutants.record_markdown(data, lambda provenance: provenance["commit"])
    assert page.startswith("Mutation check on c: FAILED, 1 of 2 mutants caught in 0.2 min of wall-clock time, "
                           "2 test runs at a time (0.3 min of the runs' own wall-clock time added up, 0.3 min CPU")
    assert "| b | 3 | not caught | 6.0 | 5.0 |" in page


def test_a_run_imports_the_project_from_its_copy_and_so_do_the_processes_it_starts(tmp_path):
    """Each run is a fork of a process that has the project installed (editable, from the
    working tree): its tests, and the commands they start, must import ``ofa_mue`` from the copy."""
    (tmp_path / "ofa_mue").mkdir()
    (tmp_path / "ofa_mue" / "__init__.py").write_text("COPY = True\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()  # as in the tree: pytest puts the test's folder, not the tree, on sys.path
    (tmp_path / "tests" / "test_which.py").write_text(
        "import subprocess, sys\n"
        "def test_here():\n"
        "    import ofa_mue\n"
        "    assert ofa_mue.COPY\n"
        "def test_in_a_command():\n"
        "    subprocess.run([sys.executable, '-c', 'import ofa_mue; assert ofa_mue.COPY'], check=True)\n",
        encoding="utf-8")
    code, output = run_mutants.run_tests(tmp_path, ["tests/test_which.py"])
    assert code == 0, output
    assert "2 passed" in output


def test_runs_go_on_side_by_side_up_to_the_workers_count(tmp_path):
    """With two workers, two runs are under way at once: each test waits for the other's file."""
    for me, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"test_{me}.py").write_text(
            "import pathlib, time\n"
            f"def test_{me}():\n"
            f"    pathlib.Path('{me}.started').touch()\n"
            "    deadline = time.monotonic() + 60\n"
            f"    while not pathlib.Path('{other}.started').exists():\n"
            "        assert time.monotonic() < deadline, 'the other run never started'\n"
            "        time.sleep(0.05)\n", encoding="utf-8")
    jobs = [run_mutants.Job(me, [f"test_{me}.py"], tree=tmp_path) for me in "ab"]
    assert sorted(run.code for run in run_mutants.run_jobs(jobs, 2, [])) == [0, 0]


def test_a_run_past_its_time_is_killed_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(run_mutants, "TEST_TIMEOUT_S", 1)
    (tmp_path / "test_slow.py").write_text("import time\ndef test_slow():\n    time.sleep(60)\n", encoding="utf-8")
    (finished,) = run_mutants.run_jobs([run_mutants.Job("slow", ["test_slow.py"], tree=tmp_path)], 1, [])
    assert finished.code == run_mutants.TIMED_OUT and finished.wall_s < 30


def test_unmutated_tests_are_shared_out_by_whole_files():
    tests = ["a.py::x", "b.py::x", "a.py::y", "c.py::x", "a.py::z", "b.py::y"]
    parts = run_mutants.shares(tests, 2)
    assert parts == [["a.py::x", "a.py::y", "a.py::z"], ["b.py::x", "b.py::y", "c.py::x"]]
    assert run_mutants.shares(tests[:1], 4) == [["a.py::x"]]
