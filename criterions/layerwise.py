"""What MuE's layer-wise losses share: per-layer weights and every decoder layer's output.

The criterions call the model (through whatever wraps it: torch's DistributedDataParallel
syncs gradients only for a forward that goes through it) with ``features_only``, so that no
vocabulary projection runs before they select the rows they score, and project the rows
they score with the unwrapped model's decoder.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from fairseq import metrics
from torch import Tensor, nn

from ofa_mue.errors import ConfigError


def parse_layer_weights(spec: Optional[str]) -> Optional[List[float]]:
    """Weights from ``--layer-weights`` ("1,1,2"), checked: numbers, non-negative, not all zero.

    ``None`` (no flag) means equal weights. The count is checked against the decoder by
    :func:`normalised_layer_weights`.
    """
    if spec is None:
        return None
    try:
        weights = [float(part) for part in spec.split(",")]
    except ValueError:
        raise ConfigError(f"--layer-weights {spec!r}: expected comma-separated numbers, e.g. 1,1,1,1,1,2") from None
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ConfigError(f"--layer-weights {spec!r}: weights must be finite and non-negative")
    if not any(weights):
        raise ConfigError(f"--layer-weights {spec!r}: at least one weight must be positive")
    return weights


def normalised_layer_weights(weights: Optional[Sequence[float]], num_layers: int) -> List[float]:
    """One weight per decoder layer, summing to 1 (equal weights when ``weights`` is None)."""
    if weights is None:
        return [1.0 / num_layers] * num_layers
    if len(weights) != num_layers:
        raise ConfigError(
            f"--layer-weights has {len(weights)} values but the decoder has {num_layers} layers: give one per layer"
        )
    total = sum(weights)
    return [w / total for w in weights]


def unwrapped(model: nn.Module) -> nn.Module:
    """The model inside fairseq's and torch's wrappers (``.module`` all the way down)."""
    while "module" in model._modules:
        model = model._modules["module"]
    return model


def decoder_layer_states(
    model: nn.Module,
    net_input: Dict[str, Any],
    prev_output_tokens: Optional[Tensor] = None,
    sample_of_row: Optional[Tensor] = None,
) -> tuple[nn.Module, List[Tensor]]:
    """The decoder and each of its layers' raw outputs ``[R, T, D]``, teacher-forced.

    ``prev_output_tokens`` (default: the batch's) are decoded against the encoder output of
    sample ``sample_of_row[r]`` for row ``r`` (default: row r's own sample), so several
    decoder rows can share one encoder pass. No vocabulary projection runs here. The
    forward goes through ``model`` itself, wrapped or not, so that a distributed wrapper
    syncs the gradients.
    """
    tokens = net_input["prev_output_tokens"] if prev_output_tokens is None else prev_output_tokens
    _, extra = model(
        net_input["src_tokens"],
        net_input["src_lengths"],
        tokens,
        patch_images=net_input.get("patch_images"),
        patch_masks=net_input.get("patch_masks"),
        features_only=True,
        return_layer_states=True,
        encoder_rows=sample_of_row,
    )
    return unwrapped(model).decoder, extra["layer_states"]


def log_layer_metric(
    logging_outputs: List[Dict[str, Any]], key: str, name: str, denominator: float, scale: float = 1.0, round: int = 3
) -> None:
    """Log ``scale * sum(key{i}) / denominator`` as ``name{i}`` for every layer ``i`` in the outputs."""
    layers = sorted({int(k[len(key):]) for log in logging_outputs for k in log
                     if k.startswith(key) and k[len(key):].isdigit()})
    for layer in layers:
        total = sum(log.get(f"{key}{layer}", 0) for log in logging_outputs)
        metrics.log_scalar(f"{name}{layer}", scale * total / max(denominator, 1), denominator, round=round)
