"""Convert OFA checkpoints between the Hugging Face port's format and fairseq's.

    python -m ofa_mue.convert --from-hf OFA-tiny/ --out ofa_tiny.pt [--task caption] [--patch-image-size 480]
    python -m ofa_mue.convert --to-hf checkpoint.pt --out OFA-converted/

``--from-hf`` reads a folder of OFA's Hugging Face port (``config.json`` and
``pytorch_model.bin``, as on the hub: OFA-Sys/OFA-tiny ... OFA-huge, or ``model.safetensors``)
and writes a fairseq checkpoint of the matching ``ofa_*`` architecture, with a task section so that
``python -m ofa_mue.predict`` and ``evaluate`` can use it directly, and ``fairseq-train
--restore-file`` can fine-tune it. ``--to-hf`` writes such a folder from a fairseq
checkpoint (weights and ``config.json``; the port's tokenizer files are OFA's GPT-2 BPE
in another format and are not written). Anything that cannot be mapped is refused with the
keys or settings named; see :mod:`ofa_mue.models.hf_mapping` for the mapping.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from argparse import Namespace
from typing import Any, Dict, Optional, Sequence

import torch
from fairseq import checkpoint_utils
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file as load_safetensors  # installed with timm

import ofa_mue  # noqa: F401  (registers the model, installs checkpoint loading)
from ofa_mue.atomic_files import atomic_destination, write_atomically
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError, DataError
from ofa_mue.evaluate import run_cli
from ofa_mue.models.builders import build_model, model_args, numbered_dictionary
from ofa_mue.models.hf_mapping import hf_config_from_model, model_options_from_hf, state_dict_from_hf, state_dict_to_hf

HF_CONFIG = "config.json"
HF_WEIGHTS = "pytorch_model.bin"
HF_SAFETENSORS = "model.safetensors"
ARCHITECTURES = ("ofa_tiny", "ofa_medium", "ofa_base", "ofa_large", "ofa_huge")
SIZE_OPTIONS = ("encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_layers", "decoder_layers",
                "encoder_attention_heads", "decoder_attention_heads", "resnet_type")
TASKS = ("caption", "snli_ve")


def architecture_of(options: Dict[str, Any]) -> str:
    """The ``ofa_*`` architecture whose sizes ``options`` has (``ofa_large``'s defaults with
    every option given when none matches)."""
    for arch in ARCHITECTURES:
        defaults = model_args(arch)
        if all(getattr(defaults, name) == options[name] for name in SIZE_OPTIONS):
            return arch
    return "ofa_large"


def read_hf_folder(folder: str) -> tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """``config.json`` and the tensors of ``model.safetensors``, where there is one (as
    transformers prefers it), else of ``pytorch_model.bin`` (loaded as tensors only)."""
    config_path, weights_path = os.path.join(folder, HF_CONFIG), os.path.join(folder, HF_SAFETENSORS)
    if not os.path.isfile(weights_path):
        weights_path = os.path.join(folder, HF_WEIGHTS)
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise DataError(path, f"not found: --from-hf takes a folder holding {HF_CONFIG} and {HF_WEIGHTS} "
                                  f"or {HF_SAFETENSORS}")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(config_path, f"not valid JSON ({error})") from None
    if config.get("model_type", "ofa") != "ofa":
        raise DataError(config_path, f"model_type {config['model_type']!r}, not an OFA model")
    try:
        if weights_path.endswith(HF_SAFETENSORS):
            state = load_safetensors(weights_path)
        else:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and safetensors raise several types for a file that is not theirs
        raise DataError(weights_path, f"not a state dict of tensors ({type(error).__name__}: "
                                      f"{str(error).splitlines()[0] if str(error) else ''})") from None
    return config, state


def from_hf(folder: str, out: str, task: str, patch_image_size: int) -> str:
    """Write the fairseq checkpoint of a port folder to ``out``; returns its architecture."""
    config, hf_state = read_hf_folder(folder)
    options = model_options_from_hf(config)
    vocab_size = int(config.get("vocab_size", 59457))
    dictionary_size = len(OFAVocabulary.load().dictionary)
    if vocab_size != dictionary_size:
        raise CheckpointError(f"{os.path.join(folder, HF_CONFIG)}: vocab_size {vocab_size}, but OFA's dictionary "
                              f"has {dictionary_size} symbols")
    arch = architecture_of(options)
    model = build_model(arch, numbered_dictionary(vocab_size), **options)
    state = state_dict_from_hf(hf_state, model.state_dict())
    model.load_state_dict(state)
    model_namespace = model_args(arch, **options)
    model_namespace._name = arch
    checkpoint = {"cfg": {"model": model_namespace, "task": {"_name": task, "patch_image_size": patch_image_size}},
                  "model": model.state_dict()}
    with atomic_destination(out) as temporary:
        torch.save(checkpoint, temporary)
    return arch


def checkpoint_model_args(state: Dict[str, Any], path: str) -> Namespace:
    """The model options a fairseq checkpoint was built with, completed by its architecture's defaults."""
    cfg = state.get("cfg")
    model_cfg = cfg["model"] if cfg is not None and cfg.get("model") is not None else state.get("args")
    if model_cfg is None:
        raise CheckpointError(f"{path}: no model configuration (neither cfg.model nor args)")
    values = vars(model_cfg) if isinstance(model_cfg, Namespace) else (
        OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg))
    arch = values.get("arch")
    if arch not in ARCHITECTURES + ("ofa_demo",):
        raise CheckpointError(f"{path}: architecture {arch!r} is not an OFA one")
    return model_args(arch, **{k: v for k, v in values.items() if k not in ("arch", "_name")})


def to_hf(path: str, out: str) -> Dict[str, Any]:
    """Write the port's ``config.json`` and ``pytorch_model.bin`` of a fairseq checkpoint into ``out``."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    state = checkpoint_utils.load_checkpoint_to_cpu(path)
    args = checkpoint_model_args(state, path)
    vocab_size = state["model"]["encoder.embed_tokens.weight"].size(0)
    config = hf_config_from_model(args, vocab_size)
    model = build_model(args.arch, numbered_dictionary(vocab_size), **{k: v for k, v in vars(args).items()
                                                                       if k != "arch"})
    try:
        model.load_state_dict(state["model"])
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    os.makedirs(out, exist_ok=True)
    with atomic_destination(os.path.join(out, HF_WEIGHTS)) as temporary:
        torch.save(state_dict_to_hf(model.state_dict()), temporary)
    write_atomically(os.path.join(out, HF_CONFIG), json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ofa_mue.convert``."""
    parser = argparse.ArgumentParser(prog="python -m ofa_mue.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="FOLDER",
                        help="folder with the port's config.json and pytorch_model.bin (or model.safetensors)")
    source.add_argument("--to-hf", metavar="CHECKPOINT", help="fairseq checkpoint (.pt) of an OFA model")
    parser.add_argument("--out", required=True, help="the checkpoint (.pt) to write, or with --to-hf the folder")
    parser.add_argument("--task", choices=TASKS,
                        help="--from-hf: the task the checkpoint is set up for (default caption)")
    parser.add_argument("--patch-image-size", type=int,
                        help="--from-hf: image size of the task section (default 480, OFA's fine-tuning size)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.from_hf:
        task, size = args.task or "caption", args.patch_image_size or 480
        arch = from_hf(args.from_hf, args.out, task, size)
        print(f"{args.out}: {arch} ({task} task, {size} px) from {args.from_hf}")
    else:
        for name in ("task", "patch_image_size"):
            if getattr(args, name) is not None:
                parser.error(f"--{name.replace('_', '-')} is for --from-hf")
        to_hf(args.to_hf, args.out)
        print(f"{args.out}: {HF_CONFIG} and {HF_WEIGHTS} from {args.to_hf}", file=sys.stdout)


def cli_main() -> None:
    """Console entry point of the conversion."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
