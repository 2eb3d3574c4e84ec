"""The evaluation's bookkeeping without a model (fast): which rows :func:`~ofa_mue.evaluate.score_rows`
scores and in what order, the positions it checks rows against, the random streams a setup seeds,
what a metrics file and a shard's description record, the shard files a folder holds, and the
conversion's architecture choice and option checks. The end-to-end runs are in
tests/test_sharded_evaluation.py, tests/test_training_and_evaluation_cli.py and tests/test_convert.py."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ofa_mue import convert
from ofa_mue import evaluate as evaluate_module
from ofa_mue.errors import ConfigError, DataError, ShardError
from ofa_mue.evaluate import EvaluationSetup, evaluation_summary, score_rows
from ofa_mue.models.builders import model_args
from ofa_mue.sharding import Shard, shard_paths


class FakeDataset:
    """``rows`` rows, read from ``data/test.tsv``."""

    def __init__(self, rows: int):
        self.rows = rows
        self.reader = SimpleNamespace(path="data/test.tsv")

    def __len__(self) -> int:
        return self.rows


class FakeBatches:
    """fairseq's batch iterator as score_rows reads it: ``frozen_batches``, and the samples of
    this shard's batches (each batch's ``id`` as ``ids_of`` gives it: a loader's defects)."""

    def __init__(self, batches, shard: Shard, lengths: Dict[int, int], ids_of):
        self.frozen_batches = batches
        self.mine = [ids_of(list(batch)) for batch in batches[shard.index::shard.count]]
        self.lengths = lengths

    def next_epoch_itr(self, shuffle: bool):
        assert not shuffle
        return [{"id": torch.tensor(ids), "uniq_ids": [f"u{i}" for i in ids],
                 "source_lengths": torch.tensor([self.lengths.get(i, 3) for i in ids])} for ids in self.mine]


class FakeTask:
    """A task of ``rows`` rows in ``batches`` whose records name their row's prediction."""

    def __init__(self, rows: int, batches: Sequence[Sequence[int]], lengths: Optional[Dict[int, int]] = None,
                 ids_of=lambda ids: ids):
        self.data = FakeDataset(rows)
        self.batches = [list(batch) for batch in batches]
        self.lengths = lengths or {}
        self.ids_of = ids_of

    def dataset(self, split: str) -> FakeDataset:
        return self.data

    def get_batch_iterator(self, dataset, max_sentences, max_positions, ignore_invalid_inputs, num_workers,
                           num_shards, shard_id):
        return FakeBatches(self.batches, Shard(num_shards, shard_id), self.lengths, self.ids_of)

    @staticmethod
    def evaluation_input_lengths(sample: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        return {"source": sample["source_lengths"]}

    @staticmethod
    def evaluation_records(models, sample, generation_cfg) -> List[Dict[str, Any]]:
        return [{"prediction": f"p{index}"} for index in sample["id"].tolist()]


def fake_model(source: int, decoder: int):
    return SimpleNamespace(max_positions=lambda: (source, decoder))


def rows_of(task: FakeTask, shard: Shard = Shard(), models=None) -> List[int]:
    records, _ = score_rows(task, models or [fake_model(10, 20)], "test", 3, None, shard=shard)
    assert [record["prediction"] for record in records] == [f"p{record['row'] - 1}" for record in records]
    return [record["row"] for record in records]


def test_score_rows_returns_each_row_of_its_shard_once_in_row_order_whatever_the_batch_order():
    # batches as a task that orders rows by length makes them: not in row order
    task = FakeTask(7, [[4, 5, 6], [0, 1, 2], [3]])
    assert rows_of(task) == [1, 2, 3, 4, 5, 6, 7]
    assert rows_of(task, Shard(2, 0)) == [4, 5, 6, 7]
    assert rows_of(task, Shard(2, 1)) == [1, 2, 3]


def test_score_rows_refuses_a_loader_that_repeats_one_row_and_drops_another():
    # as many records as rows, but row 3 twice and row 4 never
    task = FakeTask(4, [[0, 1], [2, 3]], ids_of=lambda ids: [2, 2] if ids == [2, 3] else ids)
    with pytest.raises(RuntimeError, match=r"scored 4 rows of test \(3 distinct\), which has 4: evaluation incomplete"):
        rows_of(task)


def test_rows_are_checked_against_the_smallest_positions_of_the_ensemble_and_one_at_the_limit_is_scored():
    models = [fake_model(12, 30), fake_model(10, 20)]  # the ensemble's source limit: 10
    assert rows_of(FakeTask(4, [[0, 1], [2, 3]], lengths={1: 10}), models=models) == [1, 2, 3, 4]
    with pytest.raises(DataError, match=r"data/test\.tsv, row 4: \(uniq-id u3\) its source text is 11 tokens, "
                                        r"longer than the model's 10 source positions"):
        rows_of(FakeTask(4, [[0, 1], [2, 3]], lengths={3: 11}), models=models)


def seeded_setup(seed: Optional[int], no_seed_provided: bool = False, shard: Shard = Shard()) -> EvaluationSetup:
    cfg = SimpleNamespace(common=SimpleNamespace(seed=seed),
                          generation=SimpleNamespace(no_seed_provided=no_seed_provided))
    return EvaluationSetup(None, [], cfg, "test", 2, False, shard)


def draws():
    return float(np.random.rand()), float(torch.rand(1))


@pytest.fixture
def restored_random_streams():
    """The test seeds numpy's and torch's global streams: leave them as they were for the tests after it."""
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    yield
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)


def test_a_setup_seeds_numpy_and_torch_with_its_seed_unless_told_not_to(restored_random_streams):
    np.random.seed(7)
    torch.manual_seed(7)
    expected = draws()
    for _ in range(2):  # each scoring starts the streams afresh
        seeded_setup(7).seed_random_streams()
        assert draws() == expected
    for setup in (seeded_setup(7, no_seed_provided=True), seeded_setup(None)):  # fairseq's --no-seed-provided
        np.random.seed(3)
        torch.manual_seed(3)
        setup.seed_random_streams()
        assert draws() != expected


def test_a_shards_setup_refuses_to_compute_the_metrics_of_the_split():
    setup = seeded_setup(1, shard=Shard(2, 0))
    with pytest.raises(ConfigError, match=r"the metrics of a split need all of it"):
        setup.evaluate()


DESCRIPTION = {"task": "caption", "split": "valid", "checkpoint": "runs/ema.pt", "weights": "ema", "images": "none",
               "text": "none", "exit_policy": {"name": "mue"}, "exit_verify": {"draft_tokens": 4},
               "exit_profile": {"path": "profile.json", "statement": "calibrated"}}
RESULT = {"examples": 3, "seconds": 1.23456, "metrics": {"cider": 1.0}, "layers": {"decoder": 2.0}, "flops": {},
          "verification": {"acceptance_rate": 0.5}}


def test_the_summary_records_the_split_checkpoint_weights_profile_and_drafting_settings():
    summary = evaluation_summary(DESCRIPTION, RESULT)
    assert (summary["split"], summary["checkpoint"], summary["weights"]) == ("valid", "runs/ema.pt", "ema")
    assert summary["exit_profile"] == DESCRIPTION["exit_profile"]
    assert summary["verification"] == {"draft_tokens": 4, "acceptance_rate": 0.5}
    assert summary["examples"] == 3 and summary["seconds"] == 1.235
    plain = evaluation_summary({k: v for k, v in DESCRIPTION.items() if k not in ("weights", "exit_profile")},
                               {k: v for k, v in RESULT.items() if k != "verification"})
    assert "weights" not in plain and "exit_profile" not in plain and "verification" not in plain


@dataclass
class FakePolicy:
    image: float = 0.9


def described_setup(tmp_path: Path, policy: str = "mue", profile: Optional[str] = None,
                    ema: bool = False) -> EvaluationSetup:
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "test.tsv").write_text("row\n")
    task_cfg = OmegaConf.create({"_name": "snli_ve", "exit_policy": policy, "exit_profile": profile,
                                 "exit_verify": False, "exit_verify_draft": 4, "image_exit_threshold": 0.9,
                                 "bpe_dir": "/machine/one/bpe", "patch_image_size": 480})
    task = SimpleNamespace(cfg=task_cfg, exit_policy=FakePolicy, split_path=lambda split: str(tmp_path / f"{split}.tsv"))
    cfg = SimpleNamespace(common_eval=SimpleNamespace(path=str(tmp_path / "model.pt"), model_overrides="{}"),
                          common=SimpleNamespace(fp16=True), generation=OmegaConf.create({"beam": 5}))
    setup = EvaluationSetup(task, [], cfg, "test", 4, False, Shard(2, 1), ema=ema)
    setup.model_shape = FakePolicy  # any dataclass: the model's shape is not what is checked here
    return setup


def test_the_description_names_the_checkpoint_its_weights_and_a_profile_of_the_mue_policy_only(tmp_path):
    described = described_setup(tmp_path, ema=True).description()
    assert (described["checkpoint"], described["split"], described["weights"]) == (str(tmp_path / "model.pt"),
                                                                                  "test", "ema")
    assert described["exit_policy"] == {"name": "mue", "image": 0.9}
    assert "weights" not in described_setup(tmp_path).description()
    # a profile's thresholds and guarantee are the mue policy's: another policy's run has none
    assert "exit_profile" not in described_setup(tmp_path, "budget", str(tmp_path / "no_profile.json")).description()


def test_a_shards_description_holds_what_every_shard_must_share(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate_module, "code_commit", lambda: "abc")
    described = described_setup(tmp_path).shard_description()
    assert (described["batch_size"], described["fp16"], described["generation"]) == (4, True, {"beam": 5})
    # the exit options are in the exit policy; the vocabulary folder's path may differ between machines
    assert described["task_options"] == {"_name": "snli_ve", "exit_verify": False, "exit_verify_draft": 4,
                                         "patch_image_size": 480}
    assert described["checkpoint_fingerprint"] and described["data_fingerprint"]


def test_a_folder_gives_its_shard_files_only(tmp_path):
    for name in ("test.shard1-of-2.json", "test.shard0-of-2.json", "test_metrics.json", "test_predict.json",
                 "test.shard0-of-2.json.log"):
        (tmp_path / name).write_text("{}")
    assert shard_paths([str(tmp_path)]) == [str(tmp_path / "test.shard0-of-2.json"),
                                            str(tmp_path / "test.shard1-of-2.json")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match=r"empty: no shard files"):
        shard_paths([str(tmp_path / "empty")])
    with pytest.raises(ShardError, match=r"absent: no such file or folder"):
        shard_paths([str(tmp_path / "absent")])


def test_the_converted_architecture_is_the_one_of_every_size_and_ofa_large_for_none():
    for arch in convert.ARCHITECTURES:
        assert convert.architecture_of(vars(model_args(arch))) == arch
    odd = {**vars(model_args("ofa_base")), "encoder_layers": 5}
    assert convert.architecture_of(odd) == "ofa_large"


def test_to_hf_refuses_the_from_hf_options_rather_than_ignoring_them(tmp_path, capsys):
    for option in (["--task", "caption"], ["--patch-image-size", "384"]):
        with pytest.raises(SystemExit):
            convert.main(["--to-hf", str(tmp_path / "absent.pt"), "--out", str(tmp_path / "out"), *option])
        assert f"{option[0]} is for --from-hf" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_from_hf_refuses_a_config_of_another_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bart"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"model_type 'bart', not an OFA model"):
        convert.read_hf_folder(str(tmp_path))
