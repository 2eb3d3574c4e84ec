"""``speed.py depths``: random-init models of OFA's real sizes at fixed depths.

``ofa_base`` and ``ofa_large`` (small dictionary) with fixed depths
(:class:`~ofa_mue.core.exit_policy.StaticDepths`: all layers, 3/4, 1/2, 1/4 of every stream
and the decoder) on a synthetic input, generating a fixed number of tokens, beside the full
model with no exit session (``off``) and MuE's rules that never fire (``never``). A
least-squares fit ``t = fixed + slope * share`` separates the cost that no exit removes
(image backbone, embeddings, output projection, search bookkeeping).
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
from typing import Any, Dict, Sequence

import torch

from measurement import time_splits  # first: puts the checkout's ofa_mue on the path
from exit_arms import NeverFiring
from ofa_mue.timing import interleaved_times, ratio_stats, time_stats


def depth_settings(encoder_layers: int, decoder_layers: int, fractions: Sequence[float]):
    """``StaticDepths`` for each fraction of every stream's depth (at least one layer)."""
    from ofa_mue.core.exit_policy import StaticDepths

    settings = []
    for fraction in fractions:
        enc = max(1, math.ceil(fraction * encoder_layers))
        dec = max(1, math.ceil(fraction * decoder_layers))
        settings.append((fraction, StaticDepths(enc, enc, dec)))
    return settings


def run_depths(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    from fairseq.sequence_generator import SequenceGenerator

    from ofa_mue.models.builders import build_model, numbered_dictionary

    from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
    from ofa_mue.core.exit_policy import MuEThresholds
    from ofa_mue.core.time_reduction import summarize

    dictionary = numbered_dictionary(args.vocab_size)
    results = []
    for arch in args.archs:
        torch.manual_seed(0)
        model = build_model(arch, dictionary, decompose_modalities=True).eval().to(device)
        generator = torch.Generator().manual_seed(1)
        batch = args.depth_batch_size
        src = torch.randint(dictionary.nspecial, len(dictionary), (batch, args.text_length), generator=generator)
        src[:, 0], src[:, -1] = dictionary.bos(), dictionary.eos()
        sample = {"id": torch.arange(batch), "net_input": {
            "src_tokens": src.to(device), "src_lengths": torch.full((batch,), args.text_length, device=device),
            "patch_images": torch.randn(batch, 3, args.image_size, args.image_size, generator=generator).to(device),
            "patch_masks": torch.ones(batch, dtype=torch.bool, device=device)}}
        # "off": the full model, no exit session; "never": MuE rules that test after every layer but
        # never fire (the exit test's cost); then the fixed depths.
        policies = {"off": None, "never": NeverFiring(MuEThresholds(1.0, 1.0, 1.0))}
        settings = depth_settings(model.encoder.num_layers, model.decoder.num_layers, args.fractions)
        policies.update({f"{fraction:g}": policy for fraction, policy in settings})
        generators = {
            # min_len = max_len: every configuration generates exactly the same number of tokens
            name: EarlyExitSequenceGenerator([model], dictionary, policy=policy or MuEThresholds(),
                                             beam_size=args.depth_beam, max_len_a=0, max_len_b=args.generate_tokens,
                                             min_len=args.generate_tokens)
            for name, policy in policies.items()
        }
        runners = {name: (lambda g=g: g.generate([model], sample)) for name, g in generators.items()}
        # the full model through fairseq's own generate: no exit session at all
        runners["off"] = lambda g=generators["off"]: SequenceGenerator.generate(g, [model], sample,
                                                                                bos_token=dictionary.bos())
        times = interleaved_times(runners, args.repetitions, args.warmup, device, args.budget_s, args.clock_fn)
        splits = time_splits(runners, model, device, clock=args.clock_fn)
        generators["off"].generate([model], sample)  # layer counts of the full model: one pass with exits off
        rows = []
        for name, policy in policies.items():
            usage = summarize(generators[name].last_example_layers, model.encoder.num_layers,
                              model.decoder.num_layers)
            rows.append({"config": name, "image_layers": round(usage.image_layers, 2),
                         "text_layers": round(usage.text_layers, 2), "decoder_layers": round(usage.decoder_layers, 2),
                         "expected_share": 1.0 - usage.expected_time_reduction,
                         "measured_share": ratio_stats(times[name], times["off"]),
                         "times": time_stats(times[name]), "time_split": splits[name]})
        static = [r for r in rows if r["config"] not in ("off", "never")]
        fit = linear_fit([r["expected_share"] for r in static], [r["measured_share"]["median"] for r in static])
        results.append({"arch": arch, "encoder_layers": model.encoder.num_layers,
                        "decoder_layers": model.decoder.num_layers, "embed_dim": model.encoder.embed_tokens.embedding_dim,
                        "parameters": sum(p.numel() for p in model.parameters()), "rows": rows, "fit": fit,
                        "overhead": rows[1]["measured_share"]["median"] - 1.0})
        print(f"  {arch}: " + ", ".join(f"{r['config']} {r['expected_share']:.2f}->{r['measured_share']['median']:.2f}"
                                        for r in rows), file=sys.stderr, flush=True)
        del model, generators, runners
        gc.collect()
    return {"mode": "depths", "vocab_size": args.vocab_size, "batch_size": args.depth_batch_size,
            "image_size": args.image_size, "text_length": args.text_length, "beam": args.depth_beam,
            "generated_tokens": args.generate_tokens, "repetitions": args.repetitions, "warmup": args.warmup,
            "results": results}


def linear_fit(x: Sequence[float], y: Sequence[float]) -> Dict[str, float]:
    """Least squares ``y = fixed + slope * x`` and its R^2."""
    n = len(x)
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((a - mean_x) ** 2 for a in x)
    if n < 2 or sxx == 0:
        return {"fixed": float("nan"), "slope": float("nan"), "r2": float("nan")}
    slope = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y)) / sxx
    fixed = mean_y - slope * mean_x
    total = sum((b - mean_y) ** 2 for b in y)
    residual = sum((b - fixed - slope * a) ** 2 for a, b in zip(x, y))
    return {"fixed": fixed, "slope": slope, "r2": 1.0 - residual / total if total else 1.0}


def depths_markdown(report: Dict[str, Any]) -> str:
    lines = [
        f"Random-init models, dictionary of {report['vocab_size']} symbols, batch {report['batch_size']}, "
        f"{report['image_size']}px image, {report['text_length']} text tokens, beam {report['beam']}, exactly "
        f"{report['generated_tokens']} generated tokens. off: no exit rules; never: MuE rules with thresholds 1.0 "
        "(tested after every layer, never firing); fractions: fixed depths (StaticDepths). Measured share: median "
        "of per-repetition t/t_off (interleaved), [min, max] in brackets. Time split: one instrumented pass.",
        "",
        "| arch | config | layers image / text / decoder | expected share | measured share | s/batch "
        "| split: encoder layers / decoder layers / image embedding / other (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        for r in result["rows"]:
            m, t = r["measured_share"], r["time_split"]
            lines.append(f"| {result['arch']} | {r['config']} | {r['image_layers']:g} / {r['text_layers']:g} / "
                         f"{r['decoder_layers']:g} | {r['expected_share']:.2f} | {m['median']:.3f} "
                         f"[{m['min']:.3f}, {m['max']:.3f}] | {r['times']['median_s']:.2f} | {t['encoder_layers']:.2f} / "
                         f"{t['decoder_layers']:.2f} / {t['image_embedding']:.2f} / {t['other']:.2f} |")
    lines += ["", "Fit over the fixed depths, measured = fixed + slope x expected (fixed: the share no exit "
              "removes), and the exit test's overhead (never / off - 1):", "",
              "| arch | parameters | fixed | slope | R^2 | exit-test overhead |", "|---|---|---|---|---|---|"]
    for result in report["results"]:
        f = result["fit"]
        lines.append(f"| {result['arch']} | {result['parameters'] / 1e6:.0f}M | {f['fixed']:.2f} | {f['slope']:.2f} "
                     f"| {f['r2']:.3f} | {result['overhead']:+.1%} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the ``depths`` mode."""
    g = parser.add_argument_group("depths mode")
    g.add_argument("--archs", nargs="+", default=["ofa_base", "ofa_large"])
    g.add_argument("--fractions", nargs="+", type=float, default=[1.0, 0.75, 0.5, 0.25])
    g.add_argument("--vocab-size", type=int, default=1000)
    g.add_argument("--depth-batch-size", type=int, default=1)
    g.add_argument("--image-size", type=int, default=256, help="square image side (16 px per patch)")
    g.add_argument("--text-length", type=int, default=32)
    g.add_argument("--depth-beam", type=int, default=2)
    g.add_argument("--generate-tokens", type=int, default=8)
