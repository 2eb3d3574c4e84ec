"""Per-family SNLI-VE accuracy of the demo data (python -m ofa_mue.demo.families)."""
import json

import pytest

from ofa_mue.demo.families import family_accuracy, main
from ofa_mue.demo.generate import ANSWERS, generate_demo_data
from ofa_mue.errors import DataError

WRONG = {"yes": "no", "no": "maybe", "maybe": "yes"}


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    """The generator's meta rows of a small test split, and the data folder."""
    out = tmp_path_factory.mktemp("demo")
    generate_demo_data(out, seed=0, train=0, valid=0, test=30, image_size=48)
    path = out / "meta" / "snli_ve_test.jsonl"
    return out, [json.loads(line) for line in path.read_text().splitlines()]


def _predictions(path, rows, right_family):
    """Evaluate's prediction lines: right for ``right_family``, wrong for every other row."""
    with open(path, "w") as handle:
        for number, row in enumerate(rows, 1):
            answer = ANSWERS[row["label"]]
            guess = answer if row["family"] == right_family else WRONG[answer]
            handle.write(json.dumps({"row": number, "uniq_id": str(row["uniq_id"]), "prediction": guess,
                                     "answer": answer}) + "\n")


def test_accuracy_per_family_label_and_difficulty(meta, tmp_path):
    data, rows = meta
    family = rows[0]["family"]
    _predictions(tmp_path / "p.jsonl", rows, family)
    table = family_accuracy(str(tmp_path / "p.jsonl"), str(data / "meta" / "snli_ve_test.jsonl"))
    assert table["all"]["all"]["rows"] == len(rows) == 30
    for name, v in table["family"].items():
        expected = sum(r["family"] == name for r in rows)
        assert v["rows"] == expected and v["accuracy"] == (1.0 if name == family else 0.0)
    assert table["all"]["all"]["correct"] == table["family"][family]["rows"]
    for label in ("entailment", "contradiction", "neutral"):
        right = sum(r["label"] == label and r["family"] == family for r in rows)
        assert table["label"][label]["correct"] == right
    assert sum(v["rows"] for v in table["difficulty"].values()) == 30
    for label in ("entailment", "contradiction", "neutral"):
        value = table["family and label"].get(f"{family} {label}")
        expected = sum(r["label"] == label and r["family"] == family for r in rows)
        assert (value["rows"] if value else 0) == expected and (not value or value["accuracy"] == 1.0)
    for group, key in (("visible objects", "n_objects"), ("hidden cells", "hidden_cells")):
        for value, v in table[group].items():
            members = [r for r in rows if str(r[key]) == value]
            assert v["rows"] == len(members) > 0
            assert v["correct"] == sum(r["family"] == family for r in members)


def test_command_writes_its_files(meta, tmp_path, capsys):
    data, rows = meta
    _predictions(tmp_path / "p.jsonl", rows, rows[0]["family"])
    main(["--data", str(data), "--predictions", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "out")])
    written = json.loads((tmp_path / "out" / "families.json").read_text())
    assert written["accuracy"]["all"]["all"]["rows"] == 30 and written["commit"]
    assert "| family |" in (tmp_path / "out" / "families.md").read_text() and "| family |" in capsys.readouterr().out


def test_missing_unknown_and_duplicate_rows_are_refused(meta, tmp_path):
    data, rows = meta
    meta_path = str(data / "meta" / "snli_ve_test.jsonl")
    _predictions(tmp_path / "short.jsonl", rows[:-1], "exists")
    with pytest.raises(DataError, match="1 row\\(s\\) of .* have no prediction"):
        family_accuracy(str(tmp_path / "short.jsonl"), meta_path)
    _predictions(tmp_path / "twice.jsonl", rows + rows[:1], "exists")
    with pytest.raises(DataError, match="row 31, field 'uniq_id': a second prediction"):
        family_accuracy(str(tmp_path / "twice.jsonl"), meta_path)
    (tmp_path / "unknown.jsonl").write_text(json.dumps({"uniq_id": "7", "prediction": "yes", "answer": "no"}) + "\n")
    with pytest.raises(DataError, match="row 1, field 'uniq_id': uniq_id 7 is not in"):
        family_accuracy(str(tmp_path / "unknown.jsonl"), meta_path)


def test_predictions_of_other_data_are_refused(meta, tmp_path):
    """The demo's uniq_ids repeat across data seeds and options: a prediction whose answer is
    not its meta row's label is refused, not credited to another scene's family."""
    data, rows = meta
    other = next(i for i, r in enumerate(rows) if r["label"] != rows[0]["label"])
    swapped = [dict(rows[0], label=rows[other]["label"])] + rows[1:]
    _predictions(tmp_path / "other.jsonl", swapped, "exists")
    with pytest.raises(DataError, match="row 1, field 'answer': answer .* is not the"):
        family_accuracy(str(tmp_path / "other.jsonl"), str(data / "meta" / "snli_ve_test.jsonl"))


def test_each_group_counts_the_meta_rows_of_its_value(meta, tmp_path):
    """Every group's rows and right answers are those of the meta rows with that value (difficulty,
    label and family: each row is counted under its own value, not another group's)."""
    data, rows = meta
    family = rows[0]["family"]
    _predictions(tmp_path / "p.jsonl", rows, family)
    table = family_accuracy(str(tmp_path / "p.jsonl"), str(data / "meta" / "snli_ve_test.jsonl"))
    for group in ("difficulty", "label", "family"):
        expected = {}
        for value in sorted({r[group] for r in rows}):
            members = [r for r in rows if r[group] == value]
            right = sum(r["family"] == family for r in members)
            expected[value] = {"rows": len(members), "correct": right, "accuracy": right / len(members)}
        assert table[group] == expected, group
    assert set(table["difficulty"]) <= {"easy", "medium", "hard"} and len(table["difficulty"]) > 1
