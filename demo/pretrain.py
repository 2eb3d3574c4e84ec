"""Vision warm start for the demo: the stand-in for OFA's pretrained image backbone.

    python -m ofa_mue.demo.pretrain --data demo_data --out checkpoints/demo/pretrained.pt

OFA never fine-tunes from scratch: its ResNet comes pretrained on ImageNet and the whole
model from OFA's pretraining. The demo has no such weights, and a randomly initialised
``ofa_demo`` fine-tuned for a few thousand updates on a CPU learns the language of the
answers and captions but not to see colours and shapes. This command trains the image
embedding of ``ofa_demo`` (the ResNet, ``image_proj``, the image position and type
embeddings and the patch layer norm) to say, from each patch vector, what its grid cell
holds (empty, hidden, or an object's colour, shape and size) and where the cell is, on
scenes drawn here (none of them from the demo's splits), and saves the whole model as a
fairseq checkpoint to fine-tune from::

    fairseq-train ... --finetune-from-model checkpoints/demo/pretrained.pt

The images must give one patch per grid cell (``--image-size`` 48 with the demo ResNet's
stride of 16). The held-out accuracy of each cell attribute is printed and saved beside
the checkpoint (``.json``). Same arguments give identical weights.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ofa_mue.atomic_files import atomic_destination, write_atomically
from ofa_mue.data.images import image_transform
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.models.builders import build_model
from ofa_mue.models.ofa import OFAModel

from .scenes import CELLS, COLOURS, GRID, SHAPES, SIZES, Scene, render_scene, sample_scene

CONTENTS = ("empty", "object", "hidden")
ATTRIBUTES: Dict[str, Sequence[str]] = {"content": CONTENTS, "colour": tuple(COLOURS), "shape": SHAPES,
                                        "size": SIZES, "column": tuple(range(GRID)), "row": tuple(range(GRID))}
IGNORE = -100
PATCH_STRIDE = 16


def cell_targets(scene: Scene) -> Tensor:
    """``[cells, 6]`` class indices (content, colour, shape, size, column, row) per grid cell,
    reading order; colour, shape and size of cells without a visible object are ``IGNORE``."""
    targets = torch.full((len(CELLS), len(ATTRIBUTES)), IGNORE, dtype=torch.long)
    targets[:, 0] = CONTENTS.index("empty")
    targets[:, 4:] = torch.tensor(CELLS)
    for o in scene.objects:
        k = CELLS.index(o.cell)
        targets[k, :4] = torch.tensor([CONTENTS.index("object"), tuple(COLOURS).index(o.colour),
                                       SHAPES.index(o.shape), SIZES.index(o.size)])
    for cell in scene.hidden:
        targets[CELLS.index(cell), 0] = CONTENTS.index("hidden")
    return targets


def make_scenes(count: int, seed: int, image_size: int, name: str) -> Tuple[Tensor, Tensor]:
    """``count`` random scenes (1-5 objects, half with a hidden cell) as model inputs and targets."""
    rng = random.Random(f"ofa-mue-demo-pretrain/{seed}/{name}")
    transform = image_transform(image_size)
    images, targets = [], []
    for _ in range(count):
        scene = sample_scene(rng, n_objects=(1, 2, 3, 4, 5), hidden=rng.choice((0, 1)))
        images.append(transform(render_scene(scene, image_size)))
        targets.append(cell_targets(scene))
    return torch.stack(images), torch.stack(targets)


class CellHeads(nn.Module):
    """One linear classifier per cell attribute on the image embedding's patch vectors."""

    def __init__(self, dim: int):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(dim, len(values)) for values in ATTRIBUTES.values())

    def forward(self, patches: Tensor) -> List[Tensor]:
        return [head(patches) for head in self.heads]


def image_parameters(model: OFAModel) -> List[nn.Parameter]:
    """The parameters of the image embedding (what this warm start trains)."""
    encoder = model.encoder
    modules = [encoder.embed_images, encoder.image_proj, encoder.patch_layernorm_embedding,
               encoder.embed_image_positions]
    return [p for m in modules if m is not None for p in m.parameters()] + [encoder.type_embedding.weight]


def cell_logits(model: OFAModel, heads: CellHeads, images: Tensor) -> List[Tensor]:
    patches, _, _ = model.encoder.embed_image(images)
    if patches.size(1) != len(CELLS):
        raise ValueError(f"the images give {patches.size(1)} patches, not one per grid cell ({len(CELLS)}): "
                         f"use --image-size {GRID * PATCH_STRIDE}")
    return heads(patches)


def accuracies(model: OFAModel, heads: CellHeads, images: Tensor, targets: Tensor) -> Dict[str, float]:
    """Held-out accuracy of each cell attribute (over the cells where it is defined)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        outputs = cell_logits(model, heads, images)
    model.train(was_training)
    result = {}
    for j, (name, logits) in enumerate(zip(ATTRIBUTES, outputs)):
        mask = targets[..., j].ne(IGNORE)
        result[name] = round(((logits.argmax(-1) == targets[..., j]) & mask).sum().item() / mask.sum().item(), 4)
    return result


def fairseq_checkpoint(model: OFAModel) -> dict:
    """A checkpoint that ``fairseq-train --finetune-from-model`` (or ``--restore-file`` with
    the ``--reset-*`` options) loads: the model's arguments and weights, no training state."""
    return {"args": model.args, "model": model.state_dict()}


def pretrain(data: str, out: str, updates: int = 800, seed: int = 1, image_size: int = GRID * PATCH_STRIDE,
             scenes: int = 6000, batch_size: int = 32, lr: float = 2e-3, progress: bool = True) -> Dict[str, float]:
    """Train the image embedding of ``ofa_demo`` (vocabulary from ``data/bpe``) and save the
    model to ``out``; returns the held-out accuracies."""
    vocab = OFAVocabulary.load(os.path.join(data, "bpe"), code_dict_size=0, num_bins=0)
    torch.manual_seed(seed)
    model = build_model("ofa_demo", vocab.dictionary, decompose_modalities=True)
    heads = CellHeads(model.encoder.image_proj.out_features)
    train_images, train_targets = make_scenes(scenes, seed, image_size, "train")
    test_images, test_targets = make_scenes(300, seed, image_size, "test")
    cell_logits(model, heads, test_images[:1])  # the grid check, before any work
    optimizer = torch.optim.Adam(image_parameters(model) + list(heads.parameters()), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / updates)  # linear decay
    generator = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(range(updates), desc="pretrain image embedding", unit="update", disable=not progress,
               file=sys.stderr)
    for _ in bar:
        batch = torch.randint(0, scenes, (batch_size,), generator=generator)
        outputs = cell_logits(model, heads, train_images[batch])
        targets = train_targets[batch]
        loss = sum(F.cross_entropy(o.flatten(0, 1), targets[..., j].flatten(), ignore_index=IGNORE)
                   for j, o in enumerate(outputs))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    result = accuracies(model, heads, test_images, test_targets)
    model.eval()
    with atomic_destination(out) as temporary:
        torch.save(fairseq_checkpoint(model), temporary)
    write_atomically(os.path.splitext(out)[0] + ".json", json.dumps(
        {"updates": updates, "seed": seed, "image_size": image_size, "held_out_accuracy": result}, indent=2) + "\n")
    return result


def refuse_bad_arguments(parser: argparse.ArgumentParser, data: str, updates: int) -> None:
    """``parser.error`` for fewer than one update or a data folder without the demo vocabulary."""
    if updates < 1:
        parser.error(f"--updates must be at least 1, got {updates}")
    if not os.path.isfile(os.path.join(data, "bpe", "dict.txt")):
        parser.error(f"{data}/bpe/dict.txt not found: pass the folder written by python -m ofa_mue.demo.generate")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ofa_mue.demo.pretrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="demo data folder (its bpe/ gives the vocabulary)")
    p.add_argument("--out", required=True, help="checkpoint to write (a .json of accuracies goes beside it)")
    p.add_argument("--updates", type=int, default=800)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--image-size", type=int, default=GRID * PATCH_STRIDE)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    refuse_bad_arguments(p, a.data, a.updates)
    start = time.time()
    try:
        result = pretrain(a.data, a.out, a.updates, a.seed, a.image_size, progress=not a.no_progress)
    except ValueError as error:
        p.error(str(error))
    print(f"image embedding pretrained in {time.time() - start:.0f} s ({a.updates} updates, seed {a.seed}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in result.items()) + f" held-out accuracy; written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
