"""The layer-wise criterion under torch's DistributedDataParallel, as OFA's recipes train
(fairseq's default ``--ddp-backend pytorch_ddp`` with ``--find-unused-parameters``: OFA's
image-generation weights take no part in captions or SNLI-VE): its forward must go through
the wrapper, or the ranks keep their own gradients and train apart.

Two gloo processes on the CPU, each with its own batch, wrap the same tiny model as fairseq
does (``ModuleProxyWrapper(DistributedDataParallel(model, find_unused_parameters=True))``);
after backward every rank must hold the mean of the gradients the two batches give a plain
model. fairseq itself wraps models this way only on a GPU (it passes ``device_ids``), so the
wrapper is built here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fairseq.distributed import ModuleProxyWrapper
from torch.nn.parallel import DistributedDataParallel

from ofa_mue.criterions.layerwise import decoder_layer_states
from ofa_mue.criterions.layerwise_cross_entropy import LayerwiseLabelSmoothedCrossEntropy
from tiny_ofa import tiny_batch, tiny_dictionary, tiny_model, tiny_task

WORLD = 2


def layerwise_loss(model, batch) -> torch.Tensor:
    dictionary = tiny_dictionary()
    loss, _, _ = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), 0.1)(model, batch)
    return loss


def shared_encoder_loss(model, batch) -> torch.Tensor:
    """SCST's use: two decoder rows per sample, decoded against one encoder pass."""
    rows = torch.tensor([0, 0, 1, 1, 2, 2])
    tokens = batch["net_input"]["prev_output_tokens"][rows]
    decoder, states = decoder_layer_states(model, batch["net_input"], tokens, rows)
    return sum(decoder.hidden_to_logits(state).logsumexp(-1).mean() for state in states)


LOSSES = {"layerwise": layerwise_loss, "shared_encoder": shared_encoder_loss}


def gradients(model) -> Dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def rank_gradients(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    model = tiny_model(tiny_dictionary())
    wrapped = ModuleProxyWrapper(DistributedDataParallel(model, find_unused_parameters=True))
    result = {}
    for name, loss_of in LOSSES.items():
        model.zero_grad(set_to_none=True)
        loss_of(wrapped, tiny_batch(tiny_dictionary(), seed=1 + rank)).backward()
        result[name] = gradients(model)
    torch.save(result, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_layerwise_gradients_are_averaged_over_the_ranks(tmp_path):
    mp.spawn(rank_gradients, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    for name, loss_of in LOSSES.items():
        alone = []
        for rank in range(WORLD):
            model = tiny_model(tiny_dictionary())
            loss_of(model, tiny_batch(tiny_dictionary(), seed=1 + rank)).backward()
            alone.append(gradients(model))
        assert alone[0].keys() == ranks[0][name].keys() == ranks[1][name].keys()
        differ = [k for k in alone[0] if not torch.allclose(alone[0][k], alone[1][k], atol=1e-6)]
        assert len(differ) > len(alone[0]) // 2  # the two batches do give other gradients
        for key in alone[0]:
            mean = (alone[0][key] + alone[1][key]) / 2
            for rank in range(WORLD):
                torch.testing.assert_close(ranks[rank][name][key], mean, rtol=1e-5, atol=1e-6,
                                           msg=lambda m: f"{name}, rank {rank}, {key}: {m}")
