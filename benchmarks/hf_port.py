"""OFA's Hugging Face port against ofa_mue, out of the repository: the port's state-dict
manifests, and equal outputs after conversion both ways.

Needs OFA's transformers port (OFA-Sys/OFA, branch ``feature/add_transformers``) and a
``transformers`` package it imports against (4.40.2 works: it still has ``file_utils``)::

    git clone --branch feature/add_transformers https://github.com/OFA-Sys/OFA.git /tmp/ofa
    python benchmarks/hf_port.py manifest --port /tmp/ofa   # tests/fixtures/hf_state_dict/*.tsv
    python benchmarks/hf_port.py compare --port /tmp/ofa    # benchmarks/results/hf_conversion.{json,md}

``--port`` is the OFA checkout (or its ``transformers/src/transformers/models/ofa`` folder);
the port's modules are loaded from there as ``transformers.models.ofa`` (without it, an
installed OFA transformers fork is used). ``compare`` builds the port's ``OFAModel`` with
random weights, saves it as the hub does (``save_pretrained``: ``config.json`` +
``pytorch_model.bin``), converts it with ``python -m ofa_mue.convert --from-hf``, loads the
result through fairseq, and compares encoder outputs and decoder logits on random
inputs (text with padding, 256 px images) in float32 (the port's causal mask overflows
in float64); then converts back with ``--to-hf`` and compares the port's outputs again.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Dict

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: the checkout's ofa_mue
from ofa_mue.provenance import machine_info  # noqa: E402

SIZES = {  # OFA's model card: width, FFN, encoder/decoder layers, heads, ResNet
    "ofa_tiny": dict(d_model=256, encoder_ffn_dim=1024, decoder_ffn_dim=1024, encoder_layers=4, decoder_layers=4,
                     encoder_attention_heads=4, decoder_attention_heads=4, resnet_type="resnet50"),
    "ofa_medium": dict(d_model=512, encoder_ffn_dim=2048, decoder_ffn_dim=2048, encoder_layers=4, decoder_layers=4,
                       encoder_attention_heads=8, decoder_attention_heads=8, resnet_type="resnet101"),
    "ofa_base": dict(d_model=768, encoder_ffn_dim=3072, decoder_ffn_dim=3072, encoder_layers=6, decoder_layers=6,
                     encoder_attention_heads=12, decoder_attention_heads=12, resnet_type="resnet101"),
    "ofa_large": dict(d_model=1024, encoder_ffn_dim=4096, decoder_ffn_dim=4096, encoder_layers=12,
                      decoder_layers=12, encoder_attention_heads=16, decoder_attention_heads=16,
                      resnet_type="resnet152"),
    "ofa_huge": dict(d_model=1280, encoder_ffn_dim=5120, decoder_ffn_dim=5120, encoder_layers=24,
                     decoder_layers=12, encoder_attention_heads=16, decoder_attention_heads=16,
                     resnet_type="resnet152"),
}


def load_port(port: str | None):
    """The port's ``(OFAModel, OFAConfig)`` classes, from ``port`` or an installed fork."""
    if port is not None:
        folder = Path(port)
        if not (folder / "modeling_ofa.py").is_file():
            folder = folder / "transformers" / "src" / "transformers" / "models" / "ofa"
        import transformers.models  # noqa: F401  (the parent package the port's relative imports need)

        package = types.ModuleType("transformers.models.ofa")
        package.__path__ = [str(folder)]
        sys.modules["transformers.models.ofa"] = package
    from transformers.models.ofa.configuration_ofa import OFAConfig
    from transformers.models.ofa.modeling_ofa import OFAModel

    return OFAModel, OFAConfig


def port_commit(port: str | None, given: str | None) -> str:
    """The port's commit: given, or read from its git checkout."""
    if given or port is None:
        return given or "installed"
    done = subprocess.run(["git", "-C", port, "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def record_manifests(model_class, config_class, out: Path, commit: str) -> None:
    """Names and shapes of the port's state dict for each size, built on the meta device."""
    out.mkdir(parents=True, exist_ok=True)
    linspace = torch.linspace
    torch.linspace = lambda *a, **k: linspace(*a, **{**k, "device": "cpu"})  # the port calls .item() on it
    try:
        for arch, sizes in SIZES.items():
            with torch.device("meta"):
                model = model_class(config_class(**sizes))
            lines = [f"# state-dict keys and shapes of OFA's Hugging Face port (OFA-Sys/OFA feature/add_transformers "
                     f"{commit[:12]}, transformers/src/transformers/models/ofa), {arch}, vocabulary "
                     f"{model.config.vocab_size}"]
            lines += [f"{key}\t{','.join(map(str, value.shape))}" for key, value in model.state_dict().items()]
            (out / f"{arch}.tsv").write_text("\n".join(lines) + "\n")
            print(f"{arch}: {len(lines) - 1} keys")
    finally:
        torch.linspace = linspace


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every parameter random (the port zero-initialises its position tables and sets norms to 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.05)
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=generator, dtype=buffer.dtype) + 0.5)
            elif name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype) * 0.1)


def inputs(vocab: int, seed: int = 1) -> Dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (2, 9), generator=generator)
    src[:, 0], src[0, -1], src[1, -3] = 0, 2, 2
    src[1, -2:] = 1  # padding in the second row
    return {"src": src, "prev": torch.cat([torch.zeros(2, 1, dtype=torch.long),
                                           torch.randint(4, vocab, (2, 6), generator=generator)], 1),
            "images": torch.randn(2, 3, 256, 256, generator=generator)}


def port_outputs(model, batch) -> Dict[str, torch.Tensor]:
    with torch.no_grad():
        encoder = model.encoder(input_ids=batch["src"], patch_images=batch["images"],
                                patch_masks=torch.tensor([True, True]))
        out = model(input_ids=batch["src"], patch_images=batch["images"], patch_masks=torch.tensor([True, True]),
                    decoder_input_ids=batch["prev"])
    return {"encoder": encoder.last_hidden_state, "padding": encoder.padding_mask, "logits": out.logits}


def our_outputs(model, batch) -> Dict[str, torch.Tensor]:
    lengths = batch["src"].ne(1).sum(1)
    with torch.no_grad():
        encoder = model.encoder(batch["src"], lengths, patch_images=batch["images"],
                                patch_masks=torch.tensor([True, True]))
        logits, _ = model(batch["src"], lengths, batch["prev"], patch_images=batch["images"],
                          patch_masks=torch.tensor([True, True]))
    return {"encoder": encoder["encoder_out"][0], "padding": encoder["encoder_padding_mask"][0], "logits": logits}


def max_difference(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> Dict[str, float]:
    assert torch.equal(a["padding"], b["padding"]), "padding masks differ"
    keep = ~a["padding"]
    return {"encoder_out": float((a["encoder"][keep] - b["encoder"][keep]).abs().max()),
            "logits": float((a["logits"] - b["logits"]).abs().max()),
            "logits_scale": float(a["logits"].abs().max())}


def compare(model_class, config_class, arch: str) -> Dict[str, Any]:
    """Port -> ofa_mue -> port with random weights; the largest output differences."""
    from fairseq import checkpoint_utils

    import ofa_mue  # noqa: F401
    from ofa_mue.convert import from_hf, to_hf

    torch.manual_seed(0)
    port_model = model_class(config_class(**SIZES[arch], dropout=0.0))
    randomize(port_model, seed=0)
    port_model = port_model.eval()
    batch = inputs(port_model.config.vocab_size)
    expected = port_outputs(port_model, batch)
    with tempfile.TemporaryDirectory() as folder:
        hub = Path(folder) / "hub"
        port_model.save_pretrained(hub, safe_serialization=False)
        checkpoint = str(Path(folder) / "converted.pt")
        from_hf(str(hub), checkpoint, "caption", 256)
        models, _, _ = checkpoint_utils.load_model_ensemble_and_task([checkpoint])
        ours = models[0].eval()
        forward = max_difference(expected, our_outputs(ours, batch))
        back = Path(folder) / "back"
        to_hf(checkpoint, str(back))
        returned = model_class.from_pretrained(back).eval()
        backward = max_difference(expected, port_outputs(returned, batch))
    return {"arch": arch, "dtype": "float32", "hf_to_ofa_mue": forward, "ofa_mue_to_hf": backward}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("manifest", "compare"))
    parser.add_argument("--port", help="OFA checkout on branch feature/add_transformers, or its models/ofa folder")
    parser.add_argument("--port-commit", help="the port's commit, when --port is not a git checkout")
    parser.add_argument("--archs", nargs="+", default=["ofa_tiny"], help="compare: sizes to check")
    parser.add_argument("--out", default=None, help="manifest folder / results folder")
    args = parser.parse_args()
    model_class, config_class = load_port(args.port)
    commit_of_port = port_commit(args.port, args.port_commit)
    if args.mode == "manifest":
        record_manifests(model_class, config_class, Path(args.out or REPO / "tests/fixtures/hf_state_dict"),
                         commit_of_port)
        return
    import transformers

    results = [compare(model_class, config_class, arch) for arch in args.archs]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "port_commit": commit_of_port, "transformers": transformers.__version__,
              "machine": machine_info(torch.device("cpu")), "results": results}
    out = Path(args.out or REPO / "benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "hf_conversion.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# OFA's Hugging Face port and ofa_mue: outputs after conversion (random weights, float32)", "",
             f"ofa_mue commit {commit[:12]}, port commit {record['port_commit'][:12]}, transformers "
             f"{record['transformers']}, {record['date']}, {record['machine']['cpu_model']}", "",
             "| arch | direction | max abs diff, encoder output | max abs diff, logits | max abs logit |",
             "|---|---|---|---|---|"]
    for result in results:
        for direction in ("hf_to_ofa_mue", "ofa_mue_to_hf"):
            d = result[direction]
            lines.append(f"| {result['arch']} | {direction.replace('_', ' ')} | {d['encoder_out']:.3g} | "
                         f"{d['logits']:.3g} | {d['logits_scale']:.3g} |")
    (out / "hf_conversion.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
