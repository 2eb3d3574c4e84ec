"""Grounding questions before SNLI-VE: the demo's stand-in for OFA's pretraining on VQA and grounding.

    python -m ofa_mue.demo.question_stage --data demo_data \\
        --init checkpoints/demo/seed1/caption/checkpoint_last.pt \\
        --out checkpoints/demo/seed1/questions.pt [--updates 2000] [--seed 1]

OFA fine-tunes SNLI-VE from a model pretrained on, among others, VQA and visual grounding;
the demo's caption model has seen only captions, and SNLI-VE fine-tuned from it answers from
the hypothesis' wording. This stage trains the whole model, with the encoder fused as OFA
pretrains it, on the questions of :mod:`ofa_mue.demo.questions` about scenes drawn here
(none of them from the demo's splits): where is the red circle, what is at the top left, is
there a red circle (yes / no / maybe), is there a red circle in the top row (and, with
``--kinds``, how many red circles, which shapes are left of the red circle). Every decoder
layer is trained, as MuE's layer-wise loss does (the mean over layers of torch's
label-smoothed cross-entropy, 0.1: smoothing over the whole vocabulary, not OFA's over the
other allowed tokens), with Adam at a constant learning rate after a warm-up.
``--focus-weight W`` (0: off) adds W times a loss on where the decoder looks: in every
decoder layer after the first, the cross-attention's probability (the mean over heads) on the
image patches of the cells the answer is read from (the question's *focus*:
:mod:`~ofa_mue.demo.questions`), -log of it at each answer position; ``--focus-lr`` gives the
cross-attention's query and key projections a learning rate of their own. OFA learns to find
what a phrase names from its pretraining's grounding data; in the demo's budget, ``where``
questions alone about two to four objects stay at the chance of picking one of the scene's
objects without them and reached 87% with ``--focus-weight 1 --focus-lr 5e-3`` in 2,000 updates
from one machine's caption model and 29% from another's (``benchmarks/grounding_lookup.py``);
in the six-kind stage they do not help SNLI-VE
(``docs/results/experiments/focus_attention``), so demo.sh leaves them off.
``--focus-heads N`` puts the focus loss on the first N heads of each layer only.
``--freeze-encoder`` trains the decoder only, the encoder's own weights and BatchNorm statistics
held: then "where" questions alone are learnt (63%; 99% with the focus loss), but in the
six-kind stage SNLI-VE fine-tuned after it is worse on valid
(``docs/results/experiments/question_stage_levers``), so demo.sh leaves it off. The held-out
exact-answer accuracy of each kind, at the first and the last decoder layer, is printed and
saved beside the checkpoint (``.json``); the checkpoint keeps the model options of ``--init``
and is fine-tuned from with ``fairseq-train ... --finetune-from-model``. Same arguments give
identical weights.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from types import SimpleNamespace
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from fairseq.data.data_utils import collate_tokens
from torch import Tensor
from tqdm import tqdm

from ofa_mue.atomic_files import atomic_destination, write_atomically
from ofa_mue.checkpoint_loading import load_checkpoint_to_cpu
from ofa_mue.criterions.layerwise import decoder_layer_states
from ofa_mue.data.images import image_transform
from ofa_mue.data.ofa_dataset import decoder_io
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.models.ofa import OFAModel

from .pretrain import fairseq_checkpoint, refuse_bad_arguments
from .questions import KINDS, LOOKUP_OBJECTS, Focus, sample_question
from .scenes import GRID, render_scene

HELD_OUT = 300
EASY_LOOKUP_OBJECTS = (2,)
"""Objects per lookup scene in the first ``--easy-lookup-updates`` updates: in 600 updates of
``where`` questions the demo model learnt to find the object the words name among two on one
question seed of three, and never among two to four (``benchmarks/grounding_lookup.py``)."""
WARMUP = 50


def model_from_checkpoint(path: str, vocab: OFAVocabulary) -> OFAModel:
    """The model saved in ``path`` (a fairseq checkpoint or :mod:`ofa_mue.demo.pretrain`'s), for ``vocab``."""
    state = load_checkpoint_to_cpu(path)
    args = state.get("args") or state["cfg"]["model"]
    task = SimpleNamespace(source_dictionary=vocab.dictionary, target_dictionary=vocab.dictionary)
    model = OFAModel.build_model(args, task)
    model.load_state_dict(state["model"])
    return model


class QuestionBatches:
    """Model inputs for questions: the question is the source and, as OFA's ``prev_output``
    prompt, the decoder prompt; the answer and eos are the targets."""

    def __init__(self, vocab: OFAVocabulary, image_size: int):
        self.vocab = vocab
        self.transform = image_transform(image_size)
        self.image_size = image_size

    def encode(self, text: str, **kwargs) -> Tensor:
        tokens = self.vocab.encode(text, **kwargs)
        if tokens.eq(self.vocab.dictionary.unk()).any():
            raise ValueError(f"{text!r} has words outside the demo vocabulary")
        return tokens

    def batch(self, questions: Sequence[Dict[str, object]]) -> Dict[str, object]:
        pad, eos = self.vocab.dictionary.pad(), self.vocab.dictionary.eos()
        sources, prompts, targets = [], [], []
        for q in questions:
            source = self.encode(q["question"], add_bos=True, add_eos=True)
            prompt, target = decoder_io(source[:-1], self.encode(" " + q["answer"]), pad, eos)
            sources.append(source)
            prompts.append(prompt)
            targets.append(target)
        return {
            "net_input": {
                "src_tokens": collate_tokens(sources, pad),
                "src_lengths": torch.tensor([len(s) for s in sources]),
                "patch_images": torch.stack([self.transform(render_scene(q["scene"], self.image_size))
                                             for q in questions]),
                "patch_masks": torch.ones(len(questions), dtype=torch.bool),
                "prev_output_tokens": collate_tokens(prompts, pad),
            },
            "target": collate_tokens(targets, pad),
            "kinds": [q["kind"] for q in questions],
            "focus": [q["focus"] for q in questions],
        }


def cell_patches(cell: tuple[int, int], side: int) -> List[int]:
    """Row-major indices of the image patches of a ``side`` x ``side`` patch grid that cover the
    scene cell ``cell`` (col, row) of the demo's :data:`~ofa_mue.demo.scenes.GRID` x GRID cells."""
    if side % GRID:
        raise ValueError(f"a {side}x{side} patch grid does not split into the scenes' {GRID}x{GRID} cells")
    per_cell = side // GRID
    col, row = cell
    return [(row * per_cell + r) * side + col * per_cell + c for r in range(per_cell) for c in range(per_cell)]


def focus_loss(probabilities: Sequence[Tensor], focus: Sequence[Focus], scored: Tensor, image_patches: int,
               heads: int | None = None) -> Tensor:
    """The mean over ``probabilities`` (cross-attention ``[B, H, T, S]`` of some decoder layers,
    the image's ``image_patches`` patches first among the ``S`` keys) and over the ``scored
    [B, T]`` positions of the questions with a focus, of -log(the mean over the first ``heads``
    heads (None: all) of the probability on the focus cells' patches); zero when no question
    has a focus."""
    side = math.isqrt(image_patches)
    if side * side != image_patches:
        raise ValueError(f"{image_patches} image patches are not a square grid")
    on_focus = torch.zeros(len(focus), probabilities[0].size(-1), dtype=torch.bool)
    for row, cells in enumerate(focus):
        for cell in cells:
            on_focus[row, cell_patches(cell, side)] = True
    positions = scored & on_focus.any(1, keepdim=True)
    if not positions.any():
        return probabilities[0].new_zeros(())
    losses = [-torch.log((p[:, :heads].mean(1) * on_focus[:, None, :]).sum(-1)[positions] + 1e-6).mean() for p in probabilities]
    return torch.stack(losses).mean()


def layer_logits(model: OFAModel, batch: Dict[str, object]) -> tuple[List[Tensor], Tensor]:
    """Every decoder layer's logits at the target positions, and those targets."""
    decoder, states = decoder_layer_states(model, batch["net_input"])
    scored = batch["target"].ne(decoder.dictionary.pad())
    return [decoder.hidden_to_logits(state[scored]) for state in states], batch["target"][scored]


def held_out_accuracy(model: OFAModel, batch: Dict[str, object]) -> Dict[str, float]:
    """``{"layer1/where": ..., "layer6/exists": ...}``: share of the questions of ``batch``
    (:meth:`QuestionBatches.batch`) whose whole answer (and eos) the first and the last
    decoder layer get right, per kind."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        decoder, states = decoder_layer_states(model, batch["net_input"])
    model.train(was_training)
    target = batch["target"]
    scored = target.ne(decoder.dictionary.pad())
    result = {}
    for layer in (1, len(states)):
        right = ((decoder.hidden_to_logits(states[layer - 1]).argmax(-1) == target) | ~scored).all(1)
        for kind in sorted(set(batch["kinds"])):
            of_kind = torch.tensor([k == kind for k in batch["kinds"]])
            result[f"layer{layer}/{kind}"] = round(right[of_kind].float().mean().item(), 4)
    return result


def check_focus_options(focus_weight: float, focus_lr: float | None, focus_heads: int | None = None,
                        heads: int | None = None) -> None:
    """A ValueError unless ``focus_weight`` is a finite number >= 0, ``focus_lr`` None or a finite
    number > 0 and ``focus_heads`` None or, with a ``focus_weight`` > 0, a whole number from 1 to
    ``heads`` (the model's attention heads; None: not checked against a model)."""
    if not (math.isfinite(focus_weight) and focus_weight >= 0):
        raise ValueError(f"focus_weight must be a finite number >= 0, got {focus_weight}")
    if focus_lr is not None and not (math.isfinite(focus_lr) and focus_lr > 0):
        raise ValueError(f"focus_lr must be a finite number > 0, got {focus_lr}")
    if focus_heads is not None and not (focus_heads >= 1 and (heads is None or focus_heads <= heads)):
        limit = f"from 1 to the model's {heads} heads" if heads is not None else ">= 1"
        raise ValueError(f"focus_heads must be a whole number {limit}, got {focus_heads}")
    if focus_heads is not None and focus_weight == 0:
        raise ValueError(f"focus_heads {focus_heads} needs a focus_weight > 0: with none there is no focus loss")


def freeze_encoder_weights(model: OFAModel) -> None:
    """Stop training the encoder's own weights (image embedding, layers, position embeddings and
    biases) and hold the image embedding's BatchNorm statistics, as OFA's ``--freeze-resnet``
    does; the token embeddings it shares with the decoder go on training."""
    model.encoder.embed_images.frozen_batch_norm = True
    shared = {id(p) for p in model.decoder.parameters()}
    for parameter in model.encoder.parameters():
        if id(parameter) not in shared:
            parameter.requires_grad_(False)


def parameter_groups(model: OFAModel, lr: float, focus_lr: float | None) -> List[Dict[str, object]]:
    """Adam's parameter groups: the decoder's cross-attention query and key projections at
    ``focus_lr``, everything else at ``lr`` (one group when ``focus_lr`` is None)."""
    if focus_lr is None:
        return [{"params": list(model.parameters()), "lr": lr}]
    focus = [p for layer in model.decoder.layers for p in (*layer.encoder_attn.q_proj.parameters(),
                                                           *layer.encoder_attn.k_proj.parameters())]
    chosen = {id(p) for p in focus}
    return [{"params": [p for p in model.parameters() if id(p) not in chosen], "lr": lr},
            {"params": focus, "lr": focus_lr}]


def train_questions(data: str, init: str, out: str, updates: int = 2000, seed: int = 1,
                    kinds: Sequence[str] = KINDS, image_size: int = 48, batch_size: int = 32, lr: float = 5e-4, progress: bool = True,
                    lookup_objects: Sequence[int] = LOOKUP_OBJECTS, easy_lookup_updates: int = 0,
                    focus_weight: float = 0.0, focus_lr: float | None = None,
                    focus_heads: int | None = None, freeze_encoder: bool = False) -> Dict[str, float]:
    """Train the model of ``init`` on grounding questions (lookups about scenes of
    ``lookup_objects`` objects, in the first ``easy_lookup_updates`` updates about scenes of
    :data:`EASY_LOOKUP_OBJECTS`), with ``focus_weight`` times :func:`focus_loss` on the first
    ``focus_heads`` heads (None: all) of the decoder layers after the first and the learning
    rate ``focus_lr`` (None: ``lr``) for the decoder's cross-attention query and key
    projections, with the encoder's own weights fixed if
    ``freeze_encoder`` (:func:`freeze_encoder_weights`), save it to ``out``; returns the held-out
    accuracies (lookups about scenes of ``lookup_objects`` objects)."""
    if not 0 <= easy_lookup_updates <= updates:
        raise ValueError(f"easy_lookup_updates must be from 0 to the {updates} updates, got {easy_lookup_updates}")
    vocab = OFAVocabulary.load(os.path.join(data, "bpe"), code_dict_size=0, num_bins=0)
    torch.manual_seed(seed)
    model = model_from_checkpoint(init, vocab)
    check_focus_options(focus_weight, focus_lr, focus_heads, model.decoder.layers[0].encoder_attn.num_heads)
    if freeze_encoder:
        freeze_encoder_weights(model)
    decomposed = model.encoder.decompose_modalities
    model.encoder.decompose_modalities = False  # fused, as OFA pretrains
    batches = QuestionBatches(vocab, image_size)
    held_out_rng = random.Random(f"ofa-mue-demo-questions/{seed}/test")
    # built before any training, so a question outside the vocabulary stops the stage at once
    held_out = batches.batch([sample_question(held_out_rng, kinds, lookup_objects) for _ in range(HELD_OUT)])
    rng = random.Random(f"ofa-mue-demo-questions/{seed}/train")
    optimizer = torch.optim.Adam(parameter_groups(model, lr, focus_lr), betas=(0.9, 0.999), eps=1e-8)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / WARMUP))
    model.train()
    watched = [layer.encoder_attn for layer in model.decoder.layers[1:]] if focus_weight else []
    bar = tqdm(range(updates), desc="grounding questions", unit="update", disable=not progress, file=sys.stderr)
    for step in bar:
        objects = EASY_LOOKUP_OBJECTS if step < easy_lookup_updates else lookup_objects
        batch = batches.batch([sample_question(rng, kinds, objects) for _ in range(batch_size)])
        for attention in watched:
            attention.recorded = []
        logits, target = layer_logits(model, batch)
        loss = sum(F.cross_entropy(layer, target, label_smoothing=0.1) for layer in logits) / len(logits)
        if watched:
            probabilities = [attention.recorded.pop() for attention in watched]
            image_patches = probabilities[0].size(-1) - batch["net_input"]["src_tokens"].size(1)
            scored = batch["target"].ne(vocab.dictionary.pad())
            loss = loss + focus_weight * focus_loss(probabilities, batch["focus"], scored, image_patches, focus_heads)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    for attention in watched:
        attention.recorded = None
    result = held_out_accuracy(model, held_out)
    model.encoder.decompose_modalities = decomposed
    model.eval()
    with atomic_destination(out) as temporary:
        torch.save(fairseq_checkpoint(model), temporary)
    write_atomically(os.path.splitext(out)[0] + ".json", json.dumps(
        {"init": init, "updates": updates, "seed": seed, "kinds": list(kinds), "lookup_objects": list(lookup_objects),
         "easy_lookup_updates": easy_lookup_updates, "focus_weight": focus_weight,
         "focus_lr": lr if focus_lr is None else focus_lr, "focus_heads": focus_heads,
         "freeze_encoder": freeze_encoder, "lr": lr,
         "batch_size": batch_size, "held_out_questions": HELD_OUT, "held_out_accuracy": result}, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ofa_mue.demo.question_stage", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="demo data folder (its bpe/ gives the vocabulary)")
    p.add_argument("--init", required=True, help="checkpoint to start from (e.g. the demo's caption model)")
    p.add_argument("--out", required=True, help="checkpoint to write (a .json of accuracies goes beside it)")
    p.add_argument("--updates", type=int, default=2000, help="training updates (batches of 32 questions) [2000]")
    p.add_argument("--seed", type=int, default=1, help="seed of the questions drawn and of torch's random numbers [1]")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"comma-separated question kinds, some of {', '.join(KINDS)} [all]")
    p.add_argument("--image-size", type=int, default=48, help="side of the rendered scenes in pixels [48]")
    p.add_argument("--easy-lookup-updates", type=int, default=0,
                   help="the first N updates ask their lookups (where, what, count, relation) about scenes of two "
                        "objects, the rest about scenes of two to four [0]")
    p.add_argument("--focus-weight", type=float, default=0.0,
                   help="weight of the loss on the decoder's cross-attention probability on the cells each answer "
                        "is read from, in every decoder layer after the first (0: none) [0]")
    p.add_argument("--focus-lr", type=float, default=None,
                   help="learning rate of the decoder's cross-attention query and key projections [the stage's, 5e-4]")
    p.add_argument("--focus-heads", type=int, default=None,
                   help="put the focus loss on the first N cross-attention heads of each layer only, leaving the "
                        "others free [all heads]")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the decoder only: the encoder's own weights and BatchNorm statistics stay those "
                        "of --init (the token embeddings it shares with the decoder train)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    refuse_bad_arguments(p, a.data, a.updates)
    if not os.path.isfile(a.init):
        p.error(f"--init {a.init}: no such checkpoint file")
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    start = time.time()
    try:
        result = train_questions(a.data, a.init, a.out, a.updates, a.seed, kinds, a.image_size,
                                 progress=not a.no_progress, easy_lookup_updates=a.easy_lookup_updates,
                                 focus_weight=a.focus_weight, focus_lr=a.focus_lr, focus_heads=a.focus_heads,
                                 freeze_encoder=a.freeze_encoder)
    except ValueError as error:
        p.error(str(error))
    print(f"grounding questions trained in {time.time() - start:.0f} s ({a.updates} updates, seed {a.seed}); "
          "held-out accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()) + f"; written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
