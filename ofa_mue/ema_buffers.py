"""``fairseq-train --store-ema`` on OFA models: integer buffers are copied, as OFA's fairseq does.

fairseq 0.12's EMA averages every tensor of the model's state dict at each update. OFA models
hold integer buffers (the ResNet's BatchNorm ``num_batches_tracked``, the relative-position
buckets ``*_rp_bucket``), which cannot be averaged: the first update ended in a torch
``RuntimeError`` (a float result cast to Long). OFA's own fairseq copies every tensor that is not
floating point into the EMA model instead (its ``EMA._step_internal``). Importing ``ofa_mue``
gives fairseq's EMA the same behaviour through its own mechanism for tensors that are copied,
not averaged (``skip_keys``): every non-floating-point tensor of the model is one. Floating-point
weights are averaged exactly as before.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Set

import torch
from fairseq.models.ema.ema import EMA

_fairseq_init = EMA.__init__


def integer_keys(model: torch.nn.Module) -> Set[str]:
    """The state-dict keys of ``model`` whose tensors are not floating point."""
    return {key for key, value in model.state_dict().items()
            if torch.is_tensor(value) and not torch.is_floating_point(value)}


def _init_copying_integer_buffers(self: EMA, model: torch.nn.Module, config: Any, device: Optional[Any] = None,
                                  skip_keys: Optional[Iterable[str]] = None) -> None:
    _fairseq_init(self, model, config, device=device, skip_keys=set(skip_keys or ()) | integer_keys(model))


EMA.__init__ = _init_copying_integer_buffers
