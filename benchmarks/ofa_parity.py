"""Equality with OFA's own model, reproducible with your OFA source checkout.

    python benchmarks/ofa_parity.py --ofa-source /path/to/OFA [--archs ofa_tiny ofa_base] [--image-size 480]

For each architecture the script builds OFA's model from the checkout's own modules
(``models/ofa/ofa.py`` and what it imports, unchanged) and ofa_mue's model, gives OFA's
random weights (every parameter and every BatchNorm statistic drawn at random) to ours by
name, and compares on one random batch (images, source texts of two lengths, target texts):

- the encoder's output,
- the decoder's logits, teacher-forced,
- the decoder's logits step by step (incremental decoding with each model's cache),

as the largest absolute difference and the largest logit, in three precisions:

- ``float32``: both models as shipped;
- ``float64``: both models in double precision;
- ``float64, float64 softmax and gelu``: the same, with fairseq's ``utils.softmax`` and
  ``gelu`` (which compute in float32 whatever their input, and which OFA's attention and
  both models' feed-forward layers call) computing in the input's precision.

It writes ``benchmarks/results/ofa_parity.{json,md}`` with the project's commit, the OFA
checkout's commit, the machine and the date. OFA's modules are imported under another
package name and with fairseq's model registry set aside while they register, so the two
``ofa`` models never meet in it; nothing of OFA is copied into this project.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import fairseq  # noqa: E402
import fairseq.modules  # noqa: E402
from fairseq import models as fairseq_models  # noqa: E402
from fairseq import utils as fairseq_utils  # noqa: E402

import ofa_mue  # noqa: E402,F401  (registers ofa_mue's model)
from ofa_mue.data.vocabulary import OFAVocabulary  # noqa: E402
from ofa_mue.models.builders import build_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
REFERENCE_PACKAGE = "ofa_reference"
REGISTRIES = ("MODEL_REGISTRY", "MODEL_DATACLASS_REGISTRY", "ARCH_MODEL_REGISTRY", "ARCH_MODEL_NAME_REGISTRY",
              "ARCH_MODEL_INV_REGISTRY", "ARCH_CONFIG_REGISTRY")
PRECISIONS = ("float32", "float64", "float64, float64 softmax and gelu")
BATCH, SOURCE_LENGTHS, TARGET_LENGTH = 2, (12, 7), 9


# ---- OFA's modules, from the user's checkout -------------------------------------------------
@contextlib.contextmanager
def registries_set_aside() -> Iterator[None]:
    """Empty fairseq's model registries while OFA's modules register, then restore them as
    they were (OFA's registrations are dropped; its classes are used directly)."""
    saved = {name: dict(getattr(fairseq_models, name)) for name in REGISTRIES}
    for name in REGISTRIES:
        getattr(fairseq_models, name).clear()
    try:
        yield
    finally:
        for name, entries in saved.items():
            registry = getattr(fairseq_models, name)
            registry.clear()
            registry.update(entries)


def import_ofa(ofa_source: Path) -> types.ModuleType:
    """OFA's ``models/ofa/ofa.py`` (model class and architecture functions), imported as is."""
    folder = ofa_source / "models" / "ofa"
    if not (folder / "ofa.py").is_file():
        sys.exit(f"error: {folder / 'ofa.py'} not found: --ofa-source must be a checkout of OFA-Sys/OFA")
    package = types.ModuleType(REFERENCE_PACKAGE)
    package.__path__ = [str(folder)]  # a package without OFA's __init__, which imports more than needed
    sys.modules[REFERENCE_PACKAGE] = package
    with registries_set_aside():
        return importlib.import_module(f"{REFERENCE_PACKAGE}.ofa")


def git_commit(folder: Path) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + ("-dirty" if dirty else "")


# ---- the models --------------------------------------------------------------------------
def build_reference(ofa: types.ModuleType, arch: str, dictionary, image_size: int) -> torch.nn.Module:
    """OFA's model of ``arch``, with the NormFormer flags OFA's fine-tuning scripts pass (and the
    task option its encoder reads)."""
    args = argparse.Namespace(scale_attn=True, scale_fc=True, scale_heads=True, patch_image_size=image_size)
    getattr(ofa, f"{arch}_architecture")(args)
    task = types.SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary)
    return ofa.OFAModel.build_model(args, task).eval()


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Draw every parameter and every BatchNorm statistic of ``model`` at random.

    Norm weights and per-head scales around 1, everything else around 0; BatchNorm running
    variances in [0.5, 1.5].
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            near_one = name.endswith("c_attn") or (parameter.dim() == 1 and "norm" in name.lower()
                                                    and name.endswith("weight")) or _is_bn_weight(model, name)
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.copy_(1.0 + 0.1 * noise if near_one else 0.02 * noise)
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))


def _is_bn_weight(model: torch.nn.Module, name: str) -> bool:
    owner, _, leaf = name.rpartition(".")
    return leaf == "weight" and isinstance(model.get_submodule(owner), torch.nn.modules.batchnorm._BatchNorm)


@contextlib.contextmanager
def precise_softmax_and_gelu() -> Iterator[None]:
    """fairseq's ``utils.softmax`` and ``gelu`` in the input's precision (models built inside
    this context keep the gelu they were built with)."""
    softmax, gelu = fairseq_utils.softmax, fairseq.modules.gelu
    fairseq_utils.softmax = lambda x, dim, onnx_trace=False: F.softmax(x, dim=dim)
    fairseq.modules.gelu = F.gelu
    try:
        yield
    finally:
        fairseq_utils.softmax, fairseq.modules.gelu = softmax, gelu


def model_pair(ofa: types.ModuleType, arch: str, dictionary, image_size: int, state: Dict[str, torch.Tensor],
               dtype: torch.dtype) -> tuple:
    reference = build_reference(ofa, arch, dictionary, image_size)
    reference.load_state_dict(state)
    ours = build_model(arch, dictionary).eval()
    ours.load_state_dict(state)
    return reference.to(dtype), ours.to(dtype)


# ---- the comparison ------------------------------------------------------------------------
def random_batch(dictionary, image_size: int, dtype: torch.dtype, seed: int) -> Dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    bos, eos, pad = dictionary.bos(), dictionary.eos(), dictionary.pad()
    longest = max(SOURCE_LENGTHS)
    source = torch.full((BATCH, longest), pad)
    for row, length in enumerate(SOURCE_LENGTHS):
        words = torch.randint(4, 50000, (length - 2,), generator=generator)
        source[row, :length] = torch.cat([torch.tensor([bos]), words, torch.tensor([eos])])
    target = torch.cat([torch.full((BATCH, 1), bos), torch.randint(4, 50000, (BATCH, TARGET_LENGTH - 1),
                                                                   generator=generator)], dim=1)
    return {"src_tokens": source, "src_lengths": torch.tensor(SOURCE_LENGTHS), "prev_output_tokens": target,
            "patch_images": torch.randn(BATCH, 3, image_size, image_size, generator=generator).to(dtype),
            "patch_masks": torch.ones(BATCH, dtype=torch.bool)}


def encode(model, batch) -> Dict[str, Any]:
    return model.encoder(batch["src_tokens"], src_lengths=batch["src_lengths"], patch_images=batch["patch_images"],
                         patch_masks=batch["patch_masks"])


def step_by_step(model, batch, encoder_out) -> torch.Tensor:
    """Logits ``[B, T, V]`` of incremental decoding, one position per call, with the model's cache."""
    state: Dict[str, Any] = {}
    tokens = batch["prev_output_tokens"]
    steps = [model.decoder(tokens[:, : t + 1], encoder_out=encoder_out, incremental_state=state)[0]
             for t in range(tokens.size(1))]
    return torch.cat(steps, dim=1)


def compare(reference, ours, batch) -> Dict[str, float]:
    with torch.no_grad():
        reference_encoder, our_encoder = encode(reference, batch), encode(ours, batch)
        encoder = (reference_encoder["encoder_out"][0].transpose(0, 1) - our_encoder["encoder_out"][0]).abs().max()
        tokens = batch["prev_output_tokens"]
        reference_logits = reference.decoder(tokens, encoder_out=reference_encoder)[0]
        our_logits = ours.decoder(tokens, encoder_out=our_encoder)[0]
        reference_steps = step_by_step(reference, batch, reference_encoder)
        our_steps = step_by_step(ours, batch, our_encoder)
    return {
        "encoder_output_max_abs_diff": float(encoder),
        "encoder_output_max_abs": float(our_encoder["encoder_out"][0].abs().max()),
        "logits_max_abs_diff": float((reference_logits - our_logits).abs().max()),
        "step_by_step_logits_max_abs_diff": float((reference_steps - our_steps).abs().max()),
        "logits_max_abs": float(reference_logits.abs().max()),
    }


def parity(ofa: types.ModuleType, arch: str, image_size: int, seed: int) -> List[Dict[str, Any]]:
    """One row per precision for ``arch``."""
    dictionary = OFAVocabulary.load().dictionary
    reference = build_reference(ofa, arch, dictionary, image_size)
    randomize_(reference, seed)
    state = {name: value.clone() for name, value in reference.state_dict().items()}
    del reference
    rows = []
    for precision in PRECISIONS:
        dtype = torch.float32 if precision == "float32" else torch.float64
        started = time.perf_counter()
        with precise_softmax_and_gelu() if "softmax" in precision else contextlib.nullcontext():
            reference, ours = model_pair(ofa, arch, dictionary, image_size, state, dtype)
            result = compare(reference, ours, random_batch(dictionary, image_size, dtype, seed + 1))
        del reference, ours
        rows.append({"arch": arch, "precision": precision, **result,
                     "seconds": round(time.perf_counter() - started, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---- report -------------------------------------------------------------------------------
def machine() -> Dict[str, Any]:
    cpu = platform.processor() or "unknown"
    if os.path.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "fairseq": getattr(fairseq, "__version__", "unknown"), "platform": platform.platform()}


def markdown(report: Dict[str, Any]) -> str:
    lines = [
        f"OFA parity: `python benchmarks/ofa_parity.py`, {report['date']}, ofa-mue commit {report['commit']}, "
        f"OFA commit {report['ofa_commit']}, {report['machine']['cpu']}, torch {report['machine']['torch']}, "
        f"fairseq {report['machine']['fairseq']}.",
        "",
        f"Same random weights in OFA's model and ofa_mue's; batch of {BATCH} ({report['image_size']} px images, "
        f"source texts of {' and '.join(map(str, SOURCE_LENGTHS))} tokens, {TARGET_LENGTH} target tokens). "
        "Largest absolute differences:",
        "",
        "| arch | precision | encoder output | logits, teacher-forced | logits, step by step | "
        "largest encoder output / logit |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['arch']} | {r['precision']} | {r['encoder_output_max_abs_diff']:.1e} | "
              f"{r['logits_max_abs_diff']:.1e} | {r['step_by_step_logits_max_abs_diff']:.1e} | "
              f"{r['encoder_output_max_abs']:.2f} / {r['logits_max_abs']:.2f} |" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ofa-source", type=Path, required=True, help="your checkout of OFA-Sys/OFA")
    parser.add_argument("--archs", nargs="+", default=["ofa_tiny", "ofa_base"], help="architectures to compare")
    parser.add_argument("--image-size", type=int, default=480, help="image size in pixels (OFA's: 480)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "ofa_parity", help="results path without suffix")
    args = parser.parse_args(argv)
    ofa = import_ofa(args.ofa_source.resolve())
    rows: List[Dict[str, Any]] = []
    for arch in args.archs:
        rows += parity(ofa, arch, args.image_size, args.seed)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": git_commit(REPO),
              "ofa_commit": git_commit(args.ofa_source), "machine": machine(), "image_size": args.image_size,
              "seed": args.seed, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
