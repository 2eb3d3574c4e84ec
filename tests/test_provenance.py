"""What a results file records of its origin: the commit (and whether tracked files differ from
it), the machine, torch's version and threads, and the date."""
from __future__ import annotations

import csv
import datetime
import re

import torch

from ofa_mue import provenance
from ofa_mue.provenance import code_commit, describe, machine_info
from ofa_mue.result_files import markdown_table, write_csv, write_markdown

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fake_git(status: str):
    """``_git`` of a checkout at COMMIT whose ``git status --porcelain`` lists ``status`` for
    tracked files and one untracked file (listed unless ``--untracked-files=no``)."""
    def git(*args):
        if args == ("rev-parse", "HEAD"):
            return COMMIT
        assert args[:2] == ("status", "--porcelain"), args
        untracked = "" if "--untracked-files=no" in args else "?? notes.txt"
        return "\n".join(line for line in (status, untracked) if line)
    return git


def test_code_commit_is_dirty_when_a_tracked_file_changed_only(monkeypatch):
    monkeypatch.setattr(provenance, "_git", _fake_git(""))
    assert code_commit() == COMMIT  # an untracked file alone leaves it clean
    monkeypatch.setattr(provenance, "_git", _fake_git(" M ofa_mue/evaluate.py"))
    assert code_commit() == COMMIT + "+dirty"


def test_code_commit_outside_a_git_checkout_is_unknown(monkeypatch, tmp_path):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.setattr(provenance, "CHECKOUT", str(tmp_path))
    assert code_commit() == "unknown"


def test_machine_info_records_torch_and_its_intra_op_threads():
    before, interop = torch.get_num_threads(), torch.get_num_interop_threads()
    torch.set_num_threads(interop + 1)
    try:
        info = machine_info()
    finally:
        torch.set_num_threads(before)
    assert (info["torch_threads"], info["torch_interop_threads"]) == (interop + 1, interop)
    assert (info["torch"], info["device"]) == (torch.__version__, "cpu")
    assert "gpu" not in info


def test_provenance_date_is_now_to_the_second():
    before = datetime.datetime.now().replace(microsecond=0)
    record = provenance.provenance()
    after = datetime.datetime.now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["date"]), record["date"]
    assert before <= datetime.datetime.fromisoformat(record["date"]) <= after
    assert set(record) == {"commit", "date", "machine"}


def test_describe_names_the_gpu_where_one_measured_else_the_cpu():
    machine = {"cpu_model": "Xeon Gold", "cpu_cores": 16, "cpu_cores_usable": 4, "torch": "2.3.1",
               "torch_threads": 4}
    record = {"commit": COMMIT + "+dirty", "date": "2026-01-02T03:04:05", "machine": machine}
    assert describe(record) == (f"commit {COMMIT}+dirty, Xeon Gold (16 cores), torch 2.3.1 with 4 thread(s), "
                                "2026-01-02T03:04:05")
    record["machine"] = {**machine, "gpu": "NVIDIA H100 80GB HBM3"}
    assert describe(record) == (f"commit {COMMIT}+dirty, NVIDIA H100 80GB HBM3, torch 2.3.1 with 4 thread(s), "
                                "2026-01-02T03:04:05")


RECORD = {"commit": COMMIT, "date": "2026-01-02T03:04:05",
          "machine": {"cpu_model": "Xeon Gold", "cpu_cores": 16, "torch": "2.3.1", "torch_threads": 4}}


def test_csv_result_files_start_with_a_comment_line_that_csv_readers_skip(tmp_path):
    """The provenance line (it holds commas) is a ``#`` comment, so that a reader skipping comments
    gets the header and rows as written; keys that are not columns are left out."""
    path = tmp_path / "sweep.csv"
    write_csv(str(path), ["config", "accuracy"], [{"config": "a, b", "accuracy": 0.5, "seconds": 3},
                                                  {"config": "c", "accuracy": 1}], RECORD)
    lines = path.read_text().splitlines()
    assert lines[0] == f"# {describe(RECORD)}" and lines[1] == "config,accuracy"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert rows == [{"config": "a, b", "accuracy": "0.5"}, {"config": "c", "accuracy": "1"}]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]


def test_markdown_result_files_have_the_provenance_line_and_one_separator_cell_per_column(tmp_path):
    table = markdown_table(["config", "accuracy", "time reduction"], [["full", "0.812", "0.0%"]])
    assert table.splitlines() == ["| config | accuracy | time reduction |", "|---|---|---|",
                                  "| full | 0.812 | 0.0% |"]
    text = write_markdown(str(tmp_path / "report.md"), "Report", table, RECORD)
    assert text == f"# Report\n\n_{describe(RECORD)}_\n\n{table}"
    assert (tmp_path / "report.md").read_text() == text
