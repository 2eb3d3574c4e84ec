"""Exit granularity: how the tokens of one decoder call stop.

A decoder call is one generation step (every row and beam of the batch) or one
teacher-forced pass (every position of every row).

- ``token`` (the paper's, and the default): each token stops on its own decision; the
  tokens that still run a layer are packed, so exited tokens cost only their keys/values.
- ``step``: the tokens of a call stop together, at the first layer after which at least a
  share ``quantile`` of them has chosen to stop (a token's choice sticks once made; padding
  does not count). ``quantile`` 1 is the deepest layer any of them needs: whole layers stay
  skippable, and no token stops earlier than it would alone. Lower quantiles stop sooner,
  overruling the tokens that wanted more layers.
- ``auto``: the decisions of ``token``; per layer a cost model (:func:`packing_pays`)
  decides from the number of running tokens whether packing them pays, or whether the
  layer runs on every token of the call and keeps the exited tokens' states (masked).
  The exit decisions are those of ``token``; outputs equal ``token``'s up to floating-point
  rounding (a matrix product over more rows may round differently).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from ..errors import ConfigError

GRANULARITIES = ("token", "step", "auto")

PACK_OPERATIONS = 16
"""Operator launches that packing the running tokens adds to one decoder layer and its exit
test, against running the layer on every token: finding the running rows/tokens, gathering
their states, cache, biases and encoder keys/values, packing the test's inputs, scattering
results back. Counted by ``tests/test_exit_granularity.py`` (a dispatch counter around
both paths), which fails when the code drifts from this figure."""


@dataclass(frozen=True)
class ExitGranularity:
    """``mode`` (:data:`GRANULARITIES`); ``quantile`` for ``step``; for ``auto``, ``launch_flops``:
    the FLOPs the device computes in the time of one operator launch (``None``: measured on
    the device at first use, :func:`measured_launch_flops`)."""

    mode: str = "token"
    quantile: float = 1.0
    launch_flops: Optional[float] = None

    def __post_init__(self) -> None:
        if self.mode not in GRANULARITIES:
            raise ConfigError(f"--exit-granularity must be one of {', '.join(GRANULARITIES)}, got {self.mode!r}")
        if not (isinstance(self.quantile, (int, float)) and 0.0 < self.quantile <= 1.0):
            raise ConfigError(f"--exit-step-quantile must be in (0, 1], got {self.quantile!r}")
        if self.launch_flops is not None and not (math.isfinite(self.launch_flops) and self.launch_flops >= 0):
            raise ConfigError(f"--exit-launch-flops must be a finite number >= 0, got {self.launch_flops!r}")
        if self.quantile != 1.0 and self.mode != "step":
            raise ConfigError(f"--exit-step-quantile applies to --exit-granularity step, not {self.mode!r}")
        if self.launch_flops is not None and self.mode != "auto":
            raise ConfigError(f"--exit-launch-flops applies to --exit-granularity auto, not {self.mode!r}")

    def tokens_to_stop(self, counted: int) -> int:
        """``step``: how many of a call's ``counted`` tokens must have chosen to stop."""
        return max(1, math.ceil(self.quantile * counted - 1e-9))


TOKEN_EXITS = ExitGranularity()
"""Per-token exits, the paper's and the default."""


class StepExits:
    """``step`` granularity in one decoder call: the tokens' choices so far (a choice to stop
    sticks) and how many of the ``counted`` ones (``[B, T]``, bool: not padding) must have
    chosen before every token of the call stops."""

    def __init__(self, rule, granularity: ExitGranularity, counted: torch.Tensor, positions: torch.Tensor,
                 token_ids: torch.Tensor):
        self.rule, self.counted, self.positions, self.token_ids = rule, counted, positions, token_ids
        self.chosen = torch.zeros_like(counted)
        self.needed = granularity.tokens_to_stop(int(counted.sum()))

    def after_layer(self, index: int, x_in: torch.Tensor, x_out: torch.Tensor,
                    exit_layers: torch.Tensor) -> Optional[torch.Tensor]:
        """Ask the rule about every token of the call after layer ``index``; ``None`` while the
        call runs on, else the all-stopped mask (``exit_layers`` set to ``index + 1``)."""
        self.chosen |= self.rule.should_exit(index, x_in, x_out, self.positions, self.token_ids)
        if int((self.chosen & self.counted).sum()) < self.needed:
            return None
        exit_layers.fill_(index + 1)
        return torch.zeros_like(self.chosen)


def packing_pays(exited: int, flops_per_token: float, launch_flops: float) -> bool:
    """Whether leaving ``exited`` tokens out of a layer saves more than packing costs: the
    FLOPs the layer would spend on them (``flops_per_token`` each) against the
    :data:`PACK_OPERATIONS` operator launches packing adds, ``launch_flops`` each."""
    return exited * flops_per_token > PACK_OPERATIONS * launch_flops


_MEASURED: Dict[Tuple[str, int], float] = {}


def measured_launch_flops(device: torch.device, dim: int) -> float:
    """The FLOPs ``device`` computes in the time one small operator takes: the time of a
    tiny addition (mostly launch and dispatch) times the rate of a ``[64, dim] x [dim, 4 dim]``
    product (a decoder layer's shape). Measured once per device and width in a process."""
    key = (str(device), dim)
    if key not in _MEASURED:
        tiny = torch.zeros(1, device=device)
        a, b = torch.randn(64, dim, device=device), torch.randn(dim, 4 * dim, device=device)

        def seconds(work, repeat: int) -> float:
            work()
            _synchronize(device)
            begin = time.perf_counter()
            for _ in range(repeat):
                work()
            _synchronize(device)
            return (time.perf_counter() - begin) / repeat

        launch = seconds(lambda: tiny.add(1.0), 200)
        rate = 2 * 64 * dim * 4 * dim / seconds(lambda: a @ b, 20)
        _MEASURED[key] = launch * rate
    return _MEASURED[key]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
