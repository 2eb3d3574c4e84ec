"""Figure 3 of the MuE paper: how much each layer still changes its input.

MuE rests on saturation: deep layers change their input less and less, so once the cosine
similarity between a layer's output and its input is high, the remaining layers add little.
:class:`LayerSimilarityProbe` measures that similarity for every layer during ordinary
forward passes, exactly as MuE's exit tests see it:

- encoder: per sample and stream (image, text), over the stream's non-padding token states
  flattened into one vector (:func:`~ofa_mue.core.exit_policy.stream_similarity`, the
  encoder rule's measure); a joint (not decomposed) encoder is measured on each stream's
  positions of the joint sequence;
- decoder: per processed token (every candidate position of a teacher-forced pass, every
  beam and step of a generation), between its hidden state before and after the layer.

:func:`layer_similarity` runs the task's evaluation of a whole split with exits off under
the probe; :func:`similarity_rows` summarises the values per part and layer (mean, standard
deviation, 10th/50th/90th percentiles) and :func:`plot_similarity` draws the figure.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .core.exit_policy import NEVER, PARTS, stream_similarity
from .result_files import markdown_table, save_figure

STATISTICS = ("count", "mean", "std", "p10", "median", "p90")


class LayerSimilarityProbe:
    """While active (a ``with`` block), records every layer's input-output cosine similarity.

    ``values[part][layer]`` holds the recorded similarities (one tensor per call) of ``part``
    (``"image"``, ``"text"``, ``"decoder"``) at 0-based ``layer``. Exits must be off: a layer
    that skips samples or tokens would be measured on a subset.
    """

    def __init__(self, model):
        self.encoder, self.decoder = model.encoder, model.decoder
        self.values: Dict[str, List[List[Tensor]]] = {
            part: [[] for _ in range(self.decoder.num_layers if part == "decoder" else self.encoder.num_layers)]
            for part in PARTS}
        self._handles: List[Any] = []
        self._forward = None
        self._streams: List[str] = []
        self._text_length = 0
        self._calls: List[int] = []

    def __enter__(self) -> "LayerSimilarityProbe":
        forward = self.encoder.forward

        def encoder_forward(src_tokens, *args, patch_images=None, **kwargs):
            # fairseq's generator calls encoder.forward directly (no module hooks): wrap the method
            self._text_length = src_tokens.size(1)
            self._streams = ["image", "text"] if patch_images is not None else ["text"]
            self._calls = [0] * self.encoder.num_layers
            return forward(src_tokens, *args, patch_images=patch_images, **kwargs)

        self._forward = forward
        self.encoder.forward = encoder_forward
        for index, layer in enumerate(self.encoder.layers):
            self._handles.append(layer.register_forward_hook(self._encoder_hook(index)))
        for index, layer in enumerate(self.decoder.layers):
            self._handles.append(layer.register_forward_hook(self._decoder_hook(index), with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        del self.encoder.forward  # back to the class's method

    def _encoder_hook(self, index: int):
        def hook(module, inputs, output) -> None:
            x_in, padding = inputs[0], inputs[2]
            if self.encoder.decompose_modalities:
                stream = self._streams[self._calls[index]]
                self._calls[index] += 1
                self._record(stream, index, x_in, output, padding)
                return
            image_length = x_in.size(1) - self._text_length
            for stream, part in (("image", slice(0, image_length)), ("text", slice(image_length, None))):
                if stream in self._streams:
                    self._record(stream, index, x_in[:, part], output[:, part],
                                 None if padding is None else padding[:, part])
        return hook

    def _record(self, stream: str, index: int, x_in: Tensor, x_out: Tensor, padding: Optional[Tensor]) -> None:
        similarity = stream_similarity(x_in, x_out, padding)
        if padding is not None:  # a sample without this stream (no image) has nothing to measure
            similarity = similarity[~padding.all(dim=1)]
        self.values[stream][index].append(similarity.detach().cpu())

    def _decoder_hook(self, index: int):
        def hook(module, args, kwargs, output) -> None:
            if kwargs.get("active") is not None:
                raise RuntimeError("the layer-similarity probe needs exits off (a layer ran on a subset of tokens)")
            x_in, x_out = args[0], output[0]
            similarity = F.cosine_similarity(x_in.float(), x_out.float(), dim=-1)
            padding = kwargs.get("self_padding_mask")
            if padding is not None:
                similarity = similarity[~padding[:, -x_in.size(1):]]
            self.values["decoder"][index].append(similarity.detach().flatten().cpu())
        return hook


def layer_similarity(setup) -> Dict[str, Any]:
    """Evaluate ``setup``'s split (an :class:`~ofa_mue.evaluate.EvaluationSetup`) with exits off under
    a :class:`LayerSimilarityProbe`; returns ``{"rows": similarity_rows, "examples", "metrics"}``."""
    from .sweep import exit_options

    setup.set_exit_options(**exit_options())
    with LayerSimilarityProbe(setup.models[0]) as probe:
        result = setup.evaluate(quick_metrics=True)
    return {"rows": similarity_rows(probe.values), "examples": result["examples"], "metrics": result["metrics"]}


def similarity_rows(values: Dict[str, List[List[Tensor]]]) -> List[Dict[str, Any]]:
    """One row per part and layer (1-based) with the :data:`STATISTICS` of its similarities."""
    rows = []
    for part in PARTS:
        for index, chunks in enumerate(values[part]):
            if not chunks:
                continue
            data = torch.cat(chunks).double()
            quantiles = torch.quantile(data, torch.tensor([0.1, 0.5, 0.9], dtype=torch.double)).tolist()
            rows.append({"part": part, "layer": index + 1, "count": data.numel(), "mean": data.mean().item(),
                         "std": data.std(unbiased=False).item(), "p10": quantiles[0], "median": quantiles[1],
                         "p90": quantiles[2]})
    return rows


def similarity_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """The per-layer statistics as a markdown table, with what they measure."""
    body = [[row["part"], row["layer"], row["count"], *(f"{row[name]:.4f}" for name in STATISTICS[1:])]
            for row in rows]
    return ("Cosine similarity between each layer's output and its input, exits off: encoder streams per "
            "sample (the stream's token states as one vector, as MuE's encoder exit test sees it), decoder per "
            "processed token.\n\n" + markdown_table(["part", "layer", "count", "mean", "std", "p10", "median", "p90"],
                                                     body))


def plot_similarity(rows: Sequence[Dict[str, Any]], title: str, path: str, record: Dict[str, Any],
                    thresholds: Optional[Dict[str, Tuple[float, float]]] = None) -> None:
    """One panel per part: the mean similarity per layer and its 10th-90th percentile band, with
    MuE's thresholds (``thresholds``: part -> its value at the first and at the last decoder
    position; those that reach 1 or below) as a dashed line, or as a dashed band from the first
    to the last position where the decoder's threshold decays."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [part for part in PARTS if any(row["part"] == part for row in rows)]
    figure, axes = plt.subplots(1, len(parts), figsize=(3.6 * len(parts), 3.6), dpi=120, sharey=True, squeeze=False)
    for axis, part in zip(axes[0], parts):
        mine = [row for row in rows if row["part"] == part]
        layers = [row["layer"] for row in mine]
        axis.fill_between(layers, [row["p10"] for row in mine], [row["p90"] for row in mine], alpha=0.25,
                          label="10th-90th percentile")
        axis.plot(layers, [row["mean"] for row in mine], "o-", label="mean")
        first, last = (thresholds or {}).get(part, (NEVER, NEVER))
        if first == last <= 1.0:
            axis.axhline(first, color="0.4", linestyle="--", linewidth=1, label=f"MuE threshold {first:g}")
        elif min(first, last) <= 1.0:
            axis.axhspan(last, first, facecolor="0.4", alpha=0.2, edgecolor="0.4", linestyle="--",
                         label=f"MuE threshold, decaying: {first:.3g} (first token) to {last:.3g} (last)")
        axis.set_title(f"{part} ({mine[0]['count']} {'tokens' if part == 'decoder' else 'samples'} per layer)",
                       fontsize=9)
        axis.set_xlabel("layer")
        axis.set_xticks(layers)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("cosine similarity of layer output and input")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(figure, path, record)
