"""``fairseq-train --store-ema`` on OFA models: integer buffers are copied, as OFA's fairseq does.

fairseq 0.12's EMA averages every tensor of the model's state dict at each update. OFA models
hold integer buffers (the ResNet's BatchNorm ``num_batches_tracked``, the relative-position
buckets ``*_rp_bucket``), which cannot be averaged: the first update ended in a torch
``RuntimeError`` (a float result cast to Long). OFA's own fairseq copies every tensor that is not
floating point into the EMA model instead (its ``EMA._step_internal``). Importing ``ofa_mue``
gives fairseq's EMA the same behaviour through its own mechanism for tensors that are copied,
not averaged (``skip_keys``): every non-floating-point tensor of the model is one. Floating-point
weights are averaged exactly as before.

fairseq 0.12 also failed (``KeyError: 'model'``) to start an EMA from a checkpoint that holds
none, OFA's habit ``--restore-file ofa_large.pt --reset-* --store-ema`` (or
``--finetune-from-model``): it seeds the EMA from the checkpoint's weights after it has deleted
them. Importing ``ofa_mue`` seeds it from the weights just loaded into the model, as OFA's
fairseq does; an EMA the checkpoint holds is restored as before.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Set

import logging

import torch
from fairseq.models.ema.ema import EMA
from fairseq.trainer import Trainer

logger = logging.getLogger(__name__)

_fairseq_init = EMA.__init__


def integer_keys(model: torch.nn.Module) -> Set[str]:
    """The state-dict keys of ``model`` whose tensors are not floating point."""
    return {key for key, value in model.state_dict().items()
            if torch.is_tensor(value) and not torch.is_floating_point(value)}


def _init_copying_integer_buffers(self: EMA, model: torch.nn.Module, config: Any, device: Optional[Any] = None,
                                  skip_keys: Optional[Iterable[str]] = None) -> None:
    _fairseq_init(self, model, config, device=device, skip_keys=set(skip_keys or ()) | integer_keys(model))


EMA.__init__ = _init_copying_integer_buffers


_fairseq_load_checkpoint = Trainer.load_checkpoint


def _load_checkpoint_seeding_ema(self: Trainer, filename: str, *args: Any, **kwargs: Any) -> Optional[dict]:
    """fairseq's ``Trainer.load_checkpoint`` with its EMA step done here: the checkpoint's EMA
    restored where it holds one, else the EMA seeded from the model's weights as loaded."""
    if not self.cfg.ema.store_ema:
        return _fairseq_load_checkpoint(self, filename, *args, **kwargs)
    self.cfg.ema.store_ema = False  # fairseq's own EMA step reads the weights it has deleted
    try:
        extra_state = _fairseq_load_checkpoint(self, filename, *args, **kwargs)
    finally:
        self.cfg.ema.store_ema = True
    if extra_state is None:  # no checkpoint: the EMA starts from the model as built
        return extra_state
    if "ema" in extra_state:
        logger.info("Loading EMA from checkpoint")
        self.ema.restore(extra_state["ema"], build_fp32_params=False)
        if self.cfg.ema.ema_fp32:
            self.ema.build_fp32_params(extra_state.get("ema_fp32_params"))
    else:
        logger.warning("EMA not found in checkpoint %s: the EMA starts from its weights", filename)
        self.ema.restore(self.get_model().state_dict(), build_fp32_params=self.cfg.ema.ema_fp32)
    return extra_state


Trainer.load_checkpoint = _load_checkpoint_seeding_ema
