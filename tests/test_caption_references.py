"""Which references caption scores use, as in OFA: test metrics (``python -m ofa_mue.evaluate``)
against the TSV's references as written, PTB-tokenised (OFA's ``coco_eval.py``); ``--eval-cider``
validation against the references without punctuation, with CIDEr-D document frequencies from
the whole validation split (OFA's cached tokens), so the same captions score the same in any
batch size."""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from ofa_mue.errors import ConfigError
from ofa_mue.evaluate import main as evaluate_main
from ofa_mue.tasks.caption import CaptionConfig, CaptionTask
from tiny_ofa import IMAGE_SIZE

NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def ptb(captions: List[List[str]]) -> Dict[int, List[str]]:
    return PTBTokenizer().tokenize({i: [{"caption": c} for c in texts] for i, texts in enumerate(captions)})


def cider(references: Dict[int, List[str]], predictions: Dict[int, List[str]]) -> float:
    return float(Cider().compute_score(references, predictions)[0])


def punctuated(prediction: str, row: int) -> List[str]:
    """References with punctuation, case and odd spacing; those of every other row share the
    prediction's words (in every row they would be in every document: no weight in CIDEr)."""
    if row % 2:
        return ["A dog's ball!", "Two cats, sleeping."]
    words = prediction or "a picture"
    return [f"{words.capitalize()}'s  T-shirt.", f"{words}, isn't it?"]


def read_records(results: Path) -> List[dict]:
    return [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]


def write_rows(path: Path, rows: List[List[str]]) -> None:
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def test_a_caption_evaluation_without_java_is_refused_before_it_generates(demo_data, demo_checkpoints, tmp_path,
                                                                          monkeypatch):
    """The metrics' tokenizer and METEOR are Java programs: without ``java`` on PATH the evaluation
    says so before it generates a caption, not after."""
    def generate(*_):
        raise AssertionError("the evaluation generated captions before refusing")

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(CaptionTask, "evaluation_records", generate)
    with pytest.raises(ConfigError, match="caption metrics need Java"):
        evaluate_main([str(demo_data / "caption"), "--path", str(demo_checkpoints["caption"].path), "--task", "caption",
                       "--bpe-dir", str(demo_data / "bpe"), "--gen-subset", "test", "--cpu"])


def test_evaluate_scores_captions_against_the_raw_references(demo_data, demo_checkpoints, tmp_path):
    """CIDEr is pycocoevalcap's on PTB-tokenised raw references ("man's" -> "man 's"), as OFA's
    coco_eval.py scores its reported test figures, not on references without punctuation."""
    common = ["--path", str(demo_checkpoints["caption"].path), "--task", "caption", "--bpe-dir",
              str(demo_data / "bpe"), "--gen-subset", "test", "--batch-size", "8", "--beam", "2", "--cpu"]
    evaluate_main([str(demo_data / "caption"), *common, "--results-path", str(tmp_path / "demo")])
    demo_records = read_records(tmp_path / "demo")
    rows = [line.split("\t") for line in (demo_data / "caption" / "test.tsv").read_text().splitlines()]
    references = [punctuated(record["prediction"], row) for row, record in enumerate(demo_records)]
    for row, refs in zip(rows, references):
        row[2] = "&&".join(refs)
    data = tmp_path / "punctuated"
    data.mkdir()
    write_rows(data / "test.tsv", rows)

    evaluate_main([str(data), *common, "--results-path", str(tmp_path / "results")])
    summary = json.loads((tmp_path / "results" / "test_metrics.json").read_text())
    records = read_records(tmp_path / "results")
    predictions = [record["prediction"] for record in records]
    assert predictions == [record["prediction"] for record in demo_records]
    raw = [[" ".join(ref.split()) for ref in refs] for refs in references]
    assert [record["references"] for record in records] == raw

    hypotheses = ptb([[p] for p in predictions])
    expected = cider(ptb(raw), hypotheses)
    stripped = cider(ptb([[ref.translate(NO_PUNCTUATION) for ref in refs] for refs in raw]), hypotheses)
    assert expected != pytest.approx(stripped, abs=1e-3)  # the references' punctuation matters here
    assert summary["metrics"]["cider"] == pytest.approx(expected, rel=1e-12)


VALID_ROWS = [
    ("v0", "A man's red T-shirt.&&a man in a red shirt", "a man in a red shirt"),
    ("v1", "Two dogs, playing on grass!&&two dogs on the grass", "two dogs playing on the grass"),
    ("v2", "A cat's bowl of milk.", "a cat with a bowl"),
    ("v3", "a red bus on the street&&A bus: red, on a street.", "a red bus on a street"),
    ("v4", "Someone isn't riding a horse?", "a man riding a horse"),
]
PREDICTIONS = {uniq_id: prediction for uniq_id, _, prediction in VALID_ROWS}


@pytest.fixture
def validation_task(tmp_path: Path, image_b64) -> CaptionTask:
    """The caption task with --eval-cider on the valid split of VALID_ROWS, its captions fixed
    to PREDICTIONS (what beam search makes is not the point here)."""
    write_rows(tmp_path / "valid.tsv", [[uniq_id, str(i), caption, "", image_b64(6 + i, 5)]
                                        for i, (uniq_id, caption, _) in enumerate(VALID_ROWS)])
    task = CaptionTask.setup_task(CaptionConfig(data=str(tmp_path), patch_image_size=IMAGE_SIZE, eval_cider=True))
    task.load_dataset("valid")
    task.validation_generator = None
    task.captions = lambda generator, models, sample: [PREDICTIONS[u] for u in sample["uniq_ids"]]
    return task


def validation_cider(task: CaptionTask, batch_size: int) -> float:
    """The mean CIDEr-D that valid_step logs over the split in batches of ``batch_size`` rows."""
    dataset = task.dataset("valid")
    criterion = lambda model, sample: (torch.tensor(0.0), 1, {})  # noqa: E731 (the loss is not the point)
    logs = [task.valid_step(dataset.collater([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]),
                            torch.nn.Identity(), criterion)[2]
            for start in range(0, len(dataset), batch_size)]
    return sum(log["_cider_sum"] for log in logs) / sum(log["_cider_count"] for log in logs)


def test_validation_cider_has_the_whole_splits_document_frequencies(validation_task):
    """The same captions score the same with --batch-size-valid 1, 2 and all rows: CIDEr-D with
    the document frequencies of all the split's references (no punctuation, words, case kept
    as OFA's validation CiderD keeps it)."""
    scores = {size: validation_cider(validation_task, size) for size in (1, 2, len(VALID_ROWS))}
    def expected_cider(words):
        references = {i: [words(ref) for ref in caption.split("&&")] for i, (_, caption, _) in enumerate(VALID_ROWS)}
        hypotheses = {i: [words(prediction)] for i, (_, _, prediction) in enumerate(VALID_ROWS)}
        return cider(references, hypotheses)  # pycocoevalcap: document frequencies from every row scored
    expected = expected_cider(lambda text: " ".join(text.translate(NO_PUNCTUATION).split()))
    assert expected > 0.5
    assert expected != pytest.approx(expected_cider(lambda text: " ".join(text.lower().translate(NO_PUNCTUATION).split())),
                                     abs=1e-3)  # case matters for these rows
    assert scores[1] == pytest.approx(expected, rel=1e-9)
    assert scores[2] == pytest.approx(expected, rel=1e-9)
    assert scores[len(VALID_ROWS)] == pytest.approx(expected, rel=1e-9)


def test_validation_cider_takes_each_splits_own_document_frequencies():
    """--eval-cider on several validation splits (--valid-subset valid,test) scores each split's
    captions with the document frequencies of that split's references (OFA's cached tokens are
    the split's own), each read once."""
    from types import SimpleNamespace

    from ofa_mue.criterions.cider_reward import CiderD

    splits = {"valid": [["a red circle", "one red circle"], ["two blue stars", "blue stars"]],
              "test": [["a green square", "a red square"], ["a dog", "a red dog"], ["a cat on a mat"]]}
    reads = []

    def dataset(split):
        reads.append(split)
        return SimpleNamespace(all_references=lambda: iter(splits[split]))

    task = SimpleNamespace(_validation_cider={}, dataset=dataset)
    predictions, references = ["a red square", "a dog"], splits["test"][:2]
    valid_scores = CaptionTask.validation_cider(task, "valid", predictions, references)
    test_scores = CaptionTask.validation_cider(task, "test", predictions, references)
    assert test_scores == CiderD.from_references(splits["test"]).scores(predictions, references) != valid_scores
    assert CaptionTask.validation_cider(task, "valid", predictions, references) == valid_scores
    assert reads == ["valid", "test"]
