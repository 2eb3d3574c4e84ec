"""One timed pass over a task's batches, through the tasks' own code paths.

- :class:`SnliVeRunner`: ``SnliVeTask.predict`` with a session of the exit policy;
- :class:`CaptionRunner`: beam search with the task's generator and the exit policy
  (optionally a fixed number of decoder steps per batch, for replays).

``policy=None`` runs the full model with no exit session at all: no rule, no bookkeeping.
Its layer counts (every layer) come from one extra untimed pass with the exits-off session.
"""
from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from ofa_mue.core.exit_policy import MuEThresholds
from ofa_mue.core.time_reduction import ExampleLayers
from ofa_mue.timing import collated_batches

EXITS_OFF = MuEThresholds()


def load_task_and_model(task_name: str, checkpoint: Path, data: Path, overrides: Dict[str, Any],
                        device: torch.device):
    """Load like ``ofa_mue.evaluate`` does: the checkpoint's task with ``data`` as its data folder."""
    from fairseq import checkpoint_utils
    from omegaconf import open_dict

    if not checkpoint.is_file():
        sys.exit(f"error: checkpoint {checkpoint} not found (run run_scripts/demo.sh, or pass "
                 f"--{task_name.replace('_', '-')}-checkpoint)")
    task_dir = data / task_name
    if not (task_dir / "test.tsv").is_file():
        sys.exit(f"error: {task_dir / 'test.tsv'} not found (pass --data, the demo data folder)")
    task_overrides = {"data": str(task_dir)}
    if (data / "bpe").is_dir():
        task_overrides["bpe_dir"] = str(data / "bpe")
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={**overrides, **task_overrides})
    with open_dict(task.cfg):
        for name, value in task_overrides.items():
            task.cfg[name] = value
    if task.cfg._name != task_name:
        sys.exit(f"error: {checkpoint} is a '{task.cfg._name}' checkpoint, expected '{task_name}'")
    model = models[0].eval().to(device)
    task.load_dataset("test")
    return task, model


def resized_task(task, vocab_size: int, image_size: int):
    """A copy of ``task`` whose dictionary is padded with image-code symbols to ``vocab_size``
    entries (the text's ids unchanged) and whose images are ``image_size`` pixels, with its
    test split loaded: the inputs of a model of OFA's real size."""
    import copy

    from omegaconf import open_dict

    cfg = copy.deepcopy(task.cfg)
    base = len(task.target_dictionary) - task.cfg.code_dict_size - task.cfg.num_bins
    if vocab_size < base + task.cfg.num_bins:
        sys.exit(f"error: --replay-vocab-size {vocab_size} is smaller than the task's dictionary")
    with open_dict(cfg):
        cfg.code_dict_size = vocab_size - base - task.cfg.num_bins
        cfg.patch_image_size = image_size
    resized = type(task).setup_task(cfg)
    resized.load_dataset("test")
    return resized


def replay_model(task, arch: str, vocab_size: int, image_size: int, device: torch.device):
    """A random-init ``arch`` (seed 0, modalities decomposed as the demo's models) on ``task``'s
    rows resized to ``vocab_size`` symbols and ``image_size`` px images (:func:`resized_task`):
    the model a replay of the demo's decisions at OFA's size runs. Returns the task and model."""
    from ofa_mue.models.builders import build_model

    big_task = resized_task(task, vocab_size, image_size)
    torch.manual_seed(0)
    return big_task, build_model(arch, big_task.target_dictionary, decompose_modalities=True).eval().to(device)


def batches(task, batch_size: int, samples: int, device: torch.device) -> List[Dict[str, Any]]:
    """The first ``samples`` rows of the test split in batches of ``batch_size``, collated up front
    (image decoding is not timed)."""
    return collated_batches(task, "test", batch_size, samples, device)


class Runner:
    """A pass over ``batch_list`` with ``policy`` (``None``: the full model, no session)."""

    def __init__(self, model, batch_list: List[Dict[str, Any]], policy):
        self.model, self.batch_list, self.policy = model, batch_list, policy
        self.predictions: List[Any] = []
        self._layers: List[ExampleLayers] = []

    def __call__(self) -> None:
        self.predictions, self._layers = self.run(self.policy)

    def run(self, policy) -> tuple:
        """One pass: predictions and, with a policy, the layers each example used."""
        raise NotImplementedError

    def example_layers(self) -> List[ExampleLayers]:
        """Layers of the last pass (without a policy: of an untimed pass with exits off)."""
        if self.policy is None and not self._layers:
            _, self._layers = self.run(EXITS_OFF)
        return self._layers

    def work_units(self) -> Dict[str, int]:
        return {"samples": len(self.predictions)}


class SnliVeRunner(Runner):
    """``SnliVeTask.predict`` over the batches."""

    def __init__(self, task, model, batch_list, policy):
        super().__init__(model, batch_list, policy)
        self.task = task

    def run(self, policy) -> tuple:
        predictions, layers = [], []
        with torch.no_grad():
            for sample in self.batch_list:
                # as evaluation_records: each example's own horizon
                session = None if policy is None else self.task.exit_session(self.model, sample, policy)
                predictions.extend(self.task.predict(self.model, sample, session))
                if session is not None:
                    layers.extend(session.example_layers())
        return predictions, layers


class CaptionRunner(Runner):
    """Beam search over the batches with the task's generator. ``steps``: per batch, exactly
    this many decoder calls (a replay's fixed lengths) instead of stopping at end of sentence."""

    def __init__(self, task, model, batch_list, policy, generation: Dict[str, Any],
                 steps: Optional[List[int]] = None):
        super().__init__(model, batch_list, policy)
        if steps is None:
            settings = [generation] * len(batch_list)
        else:  # decoder calls = max_len + 1 (the last forces end of sentence)
            settings = [{**generation, "max_len_a": 0, "max_len_b": n - 1, "min_len": n - 1} for n in steps]
        self.generators = [task.build_generator([model], Namespace(**setting),
                                                extra_gen_cls_kwargs={"policy": policy or EXITS_OFF})
                           for setting in settings]
        self.bos = task.target_dictionary.bos()

    def run(self, policy) -> tuple:
        from fairseq.sequence_generator import SequenceGenerator

        predictions, layers = [], []
        for generator, sample in zip(self.generators, self.batch_list):
            if policy is None:  # fairseq's own generate: no exit session
                hypotheses = SequenceGenerator.generate(generator, [self.model], sample, bos_token=self.bos)
            else:
                generator.policy = policy
                hypotheses = generator.generate([self.model], sample)
                layers.extend(generator.last_example_layers)
            predictions.extend(h[0]["tokens"].tolist() for h in hypotheses)
        return predictions, layers

    def work_units(self) -> Dict[str, int]:
        return {"samples": len(self.predictions),
                "generated_tokens": sum(len(p) for p in self.predictions),
                "decoder_tokens": sum(e.decoder_tokens for e in self.example_layers())}
