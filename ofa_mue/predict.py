"""Caption your own pictures, or judge a hypothesis about them, with a fine-tuned checkpoint.

    python -m ofa_mue.predict --path caption.pt --image photo.jpg [more.png pictures/ ...]
    python -m ofa_mue.predict --path snli_ve.pt --image photo.jpg --hypothesis "two dogs play" \\
        [--premise "dogs on a lawn"]

The checkpoint's task (``caption`` or ``snli_ve``) decides what is predicted, and its saved
task settings (image size, vocabulary, prompts, exit options) apply unless given here. An
``--image`` is a picture file or a folder (every file in it with the extension of an image
format Pillow opens, in name order; the others are named in a warning). The pictures go
through the task's own data pipeline and prediction methods, as rows of OFA's format would,
so a picture gets the same caption or answer here as in ``python -m ofa_mue.evaluate``.

MuE exits are set as in the evaluation (``--image-exit-threshold``, ``--exit-profile``, ...);
an ``--exit-profile`` sets the exit granularity it was calibrated with over the checkpoint's.
``--show-layers`` adds the layers each encoder stream ran and, per output token, the decoder
layers that produced it (``a(2) dog(2) on(1) grass(3) </s>(1)``): for an SNLI-VE answer those
of the scored pass; for a caption those of a teacher-forced pass over the chosen caption with
the same exit rules (beam search does not keep which layers each surviving hypothesis ran;
the pass makes the same decisions, up to floating-point differences at a threshold's edge),
or under ``--exit-granularity step`` each generation step's own record.
``--compare-full`` adds the full model's output beside it.
"""
from __future__ import annotations

import argparse
import ast
import base64
import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from fairseq import checkpoint_utils, utils
from fairseq.data.data_utils import collate_tokens
from fairseq.dataclass.utils import interpret_dc_type
from omegaconf import open_dict
from PIL import Image
from tqdm import tqdm

import ofa_mue  # noqa: F401  (registers tasks and model, installs checkpoint loading)
from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_policy import MuEThresholds
from ofa_mue.core.exit_profile import profile_caveats, read_exit_profile
from ofa_mue.core.time_reduction import ExampleLayers, time_share
from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.data.images import open_image
from ofa_mue.data.snli_ve_dataset import ANSWERS, SnliVeDataset
from ofa_mue.data.text import normalize_sentence
from ofa_mue.errors import CheckpointError, ConfigError, DataError
from ofa_mue.evaluate import load_ema_weights, run_cli
from ofa_mue.tasks.caption import DEFAULT_GENERATION
from ofa_mue.tasks.ofa_task import OFAConfig

logger = logging.getLogger(__name__)

TASK_DATASETS = {"caption": CaptionDataset, "snli_ve": SnliVeDataset}
"""The tasks predict knows, with the dataset class whose rows it writes."""

TASK_OPTIONS_NOT_FOR_PREDICTION = ("data", "selected_cols", "max_tgt_length", "max_source_positions",
                                   "max_target_positions", "code_dict_size", "num_bins",
                                   "inference_checkpoint", "inference_overrides")
"""Task options about training data or the model's shape: predict takes them from the checkpoint;
and the hidden ones that fairseq fills from ``--path`` and ``--model-overrides``, which are no options."""

UNUSED_TARGET = {"caption": "unknown", "label": "entailment"}
"""Target cells a dataset row must have; prediction never reads them."""


@dataclass
class Prediction:
    """What predict says about one picture.

    ``layers``: mean image / text / decoder layers and the expected time reduction of this
    example (with ``--show-layers``); ``tokens``: each output token with the decoder layers
    that produced it; ``full_model``: the full model's output (with ``--compare-full``).
    """

    image: str
    output: str
    full_model: Optional[str] = None
    layers: Optional[Dict[str, float]] = None
    tokens: Optional[List[Tuple[str, int]]] = None


def prediction_task_options() -> List[dataclasses.Field]:
    """The task options predict takes: OFA's common ones but those about data and model shape."""
    return [field for field in dataclasses.fields(OFAConfig)
            if not field.name.startswith("_") and field.name not in TASK_OPTIONS_NOT_FOR_PREDICTION]


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """The task options (exit options, ``--bpe-dir``, ``--patch-image-size``...) with no
    default, so that the checkpoint's value stays unless one is given."""
    group = parser.add_argument_group("task options (default: the checkpoint's)")
    for field in prediction_task_options():
        kind = interpret_dc_type(field.type)
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help")
        if kind is bool:  # fairseq's convention: the flag flips the dataclass default
            group.add_argument(flag, action="store_false" if field.default else "store_true", default=None,
                               help=help_text)
        else:
            group.add_argument(flag, type=kind, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ofa_mue.predict``."""
    parser = argparse.ArgumentParser(
        prog="python -m ofa_mue.predict",
        description="Caption pictures, or judge a hypothesis about them (SNLI-VE), with a fine-tuned "
                    "OFA checkpoint and MuE early exits.",
    )
    parser.add_argument("--path", required=True, help="fine-tuned checkpoint (.pt) of the caption or snli_ve task")
    parser.add_argument("--image", nargs="+", action="extend", required=True, metavar="PATH",
                        help="picture file(s), or folder(s) of pictures; may be repeated")
    parser.add_argument("--hypothesis", help="SNLI-VE: the text to judge against each picture (yes / no / maybe)")
    parser.add_argument("--premise", help="SNLI-VE: the premise (caption) the checkpoint's prompt holds, when it "
                                          "was fine-tuned with one")
    parser.add_argument("--show-layers", action="store_true",
                        help="print the layers each encoder stream and each output token used")
    parser.add_argument("--compare-full", action="store_true", help="print the full model's output beside it")
    parser.add_argument("--json", action="store_true", help="print one JSON object per picture")
    parser.add_argument("--batch-size", type=int, default=8, help="pictures per forward pass (default 8)")
    parser.add_argument("--beam", type=int, help=f"captions: beam size (default {DEFAULT_GENERATION['beam']})")
    parser.add_argument("--max-len-b", type=int,
                        help=f"captions: most tokens generated (default {DEFAULT_GENERATION['max_len_b']})")
    parser.add_argument("--no-repeat-ngram-size", type=int,
                        help=f"captions: block repeated n-grams (default {DEFAULT_GENERATION['no_repeat_ngram_size']})")
    parser.add_argument("--model-overrides", default="{}",
                        help="model options replacing the checkpoint's, as a Python dict, e.g. "
                             "\"{'decompose_modalities': True}\" for encoder exits on a checkpoint trained without")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    parser.add_argument("--ema-eval", action="store_true",
                        help="predict with the EMA weights the checkpoint holds (fairseq-train --store-ema), as "
                             "evaluate --ema-eval does; a checkpoint without them is refused")
    add_task_options(parser)
    return parser


def picture_extensions() -> set[str]:
    """The file extensions of the image formats Pillow opens; not those of formats it only
    writes (``.pdf``, ``.palm``): a PDF in a folder of photos is no picture of it."""
    registered = Image.registered_extensions()  # loads every plugin, filling Image.OPEN
    readable = set(Image.OPEN) | {"MPO"}  # MPO (multi-picture JPEG) opens through the JPEG plugin
    return {extension for extension, image_format in registered.items() if image_format in readable}


def image_files(paths: Sequence[str]) -> List[Path]:
    """The picture files that ``paths`` name: files as given, folders by their image files
    (:func:`picture_extensions`)."""
    extensions = picture_extensions()
    files: List[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.is_file())
            found = [p for p in entries if p.suffix.lower() in extensions]
            if not found:
                raise DataError(name, "folder holds no picture files (none has an image extension Pillow reads)")
            left_out = [p.name for p in entries if p.suffix.lower() not in extensions]
            if left_out:  # e.g. .heic photos, for which Pillow has no reader: said, not skipped silently
                logger.warning("%s: %d file(s) without the extension of an image format Pillow opens are left out: "
                               "%s", name, len(left_out), ", ".join(left_out[:5]) + (", ..." if len(left_out) > 5 else ""))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(name, "no such file or folder")
    return files


def read_picture(path: Path) -> str:
    """The file's bytes as a base64 TSV cell, after checking that they are a picture."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(str(path), f"cannot be read ({error.strerror})") from None
    open_image(raw, str(path))
    return base64.urlsafe_b64encode(raw).decode("ascii")


def cell_text(option: str, text: str) -> str:
    """``text`` for a TSV cell: each tab and line break (which a cell cannot hold) becomes a
    space, and everything else is left to OFA's clean-up, as for a row of a TSV file; text
    that clean-up leaves empty is a ConfigError."""
    text = re.sub(r"[\t\r\n]", " ", text)
    if not normalize_sentence(text):
        raise ConfigError(f"{option} is empty (after OFA's clean-up of the text)")
    return text


def write_inputs(path: str, task: str, files: Sequence[Path], hypothesis: Optional[str],
                 premise: Optional[str]) -> None:
    """An OFA TSV with one row per picture, in the task dataset's own columns (``COLUMNS`` order)."""
    with open(path, "w", encoding="utf-8") as handle:
        for index, file in enumerate(files):
            values = {"id": str(index), "uniq-id": str(index), "image": read_picture(file), "hypothesis": hypothesis,
                      "caption": premise if premise is not None else UNUSED_TARGET["caption"],
                      "label": UNUSED_TARGET["label"]}
            handle.write("\t".join(values[column] for column in TASK_DATASETS[task].COLUMNS) + "\n")


class Predictor:
    """A loaded checkpoint and its task, predicting batches of the task's samples."""

    def __init__(self, task, models: List[torch.nn.Module], generation: Dict[str, int], use_cuda: bool):
        self.task = task
        self.models = models
        self.name = task.cfg._name
        self.use_cuda = use_cuda
        self.generator = self.full_generator = None
        if self.name == "caption":
            self.generator = task.build_generator(models, Namespace(**generation))
            self.full_generator = task.build_generator(models, Namespace(**generation))
            self.full_generator.policy = MuEThresholds()  # every exit off: the full model

    def dataset(self, tsv: str):
        """The task's dataset of an input TSV written by :func:`write_inputs`."""
        with open_dict(self.task.cfg):
            self.task.cfg.selected_cols = ",".join(str(i) for i in range(len(TASK_DATASETS[self.name].COLUMNS)))
        return self.task.build_dataset("predict", tsv)

    def predict(self, sample: Dict[str, Any], show_layers: bool, compare_full: bool) -> List[Dict[str, Any]]:
        """``output`` and, as asked, ``layers`` (:class:`ExampleLayers`), ``tokens`` and
        ``full_model`` for each sample of a batch."""
        if self.use_cuda:
            sample = utils.move_to_cuda(sample)
        with torch.no_grad():
            if self.name == "caption":
                results = self._captions(sample, show_layers)
                full = self.task.captions(self.full_generator, self.models, sample) if compare_full else None
            else:
                results = self._answers(sample, show_layers)
                full = self.task.predict(self.models[0], sample) if compare_full else None
        if full is not None:
            for result, output in zip(results, full):
                result["full_model"] = output
        return results

    def _captions(self, sample: Dict[str, Any], show_layers: bool) -> List[Dict[str, Any]]:
        hypotheses = self.generator.generate(self.models, sample)
        best = [hypos[0]["tokens"] for hypos in hypotheses]
        results = [{"output": self.task.caption_text(tokens)} for tokens in best]
        if show_layers:
            layers = self._replayed_token_layers(sample, best, self.generator.last_session)
            for result, example, tokens, token_layers in zip(results, self.generator.last_example_layers, best, layers):
                result["layers"] = example
                result["tokens"] = self._token_view(tokens, token_layers)
        return results

    def _replayed_token_layers(self, sample: Dict[str, Any], outputs: List[torch.Tensor],
                               generation_session: ExitSession) -> List[torch.Tensor]:
        """Per output, the decoder layers that produced each of its tokens: one teacher-forced
        pass over the outputs with the generation's exit rules (per-token decisions); under
        ``--exit-granularity step``, where every token of a generation step ran that step's
        layers, the generation's own record of each step."""
        if generation_session.decoder_granularity.mode == "step":
            steps = [layers.max() for layers in generation_session.decoder_token_layers()]
            return [torch.stack(steps[: len(tokens)]) for tokens in outputs]
        model = self.models[0]
        dictionary = self.task.vocab.dictionary
        session = ExitSession(generation_session.encoder_rules, generation_session.decoder_rule)
        net_input = sample["net_input"]
        encoder_out = model.encoder(net_input["src_tokens"], net_input["src_lengths"],
                                    patch_images=net_input["patch_images"], patch_masks=net_input["patch_masks"],
                                    exit_session=session)
        bos = torch.tensor([dictionary.bos()], device=outputs[0].device)
        prev_output_tokens = collate_tokens([torch.cat([bos, tokens[:-1]]) for tokens in outputs], dictionary.pad())
        _, extra = model.decoder(prev_output_tokens, encoder_out=encoder_out)
        return [layers[: len(tokens)] for layers, tokens in zip(extra["exit_layers"], outputs)]

    def _answers(self, sample: Dict[str, Any], show_layers: bool) -> List[Dict[str, Any]]:
        model = self.models[0]
        session = self.task.exit_session(model, sample)
        answers = self.task.predict(model, sample, session)
        results = [{"output": answer} for answer in answers]
        if show_layers:
            (layers,) = session.decoder_token_layers()  # one teacher-forced pass: row b * C + c
            target = self.task.candidate_inputs(sample)["target"].to(layers.device)
            scored = target.ne(self.task.vocab.dictionary.pad())
            count = len(ANSWERS)
            for b, (result, example, answer) in enumerate(zip(results, session.example_layers(), answers)):
                row = b * count + ANSWERS.index(answer)
                result["layers"] = example
                result["tokens"] = self._token_view(target[row][scored[row]], layers[row][scored[row]])
        return results

    def _token_view(self, tokens: torch.Tensor, layers: torch.Tensor) -> List[Tuple[str, int]]:
        """``(text, layers)`` per token; eos shows as ``</s>``."""
        dictionary = self.task.vocab.dictionary
        view = []
        for token, depth in zip(tokens.tolist(), layers.tolist()):
            text = dictionary[token] if token == dictionary.eos() else self.task.vocab.decode(torch.tensor([token]))
            view.append((text.strip() or repr(text), int(depth)))
        return view


def layer_summary(example: ExampleLayers, model) -> Dict[str, float]:
    """Layers one example used, with its expected time reduction."""
    encoder_depth, decoder_depth = model.encoder.num_layers, model.decoder.num_layers
    return {
        "image_layers": example.image_layers,
        "text_layers": example.text_layers,
        "decoder_layers": round(example.decoder_layers(), 3),
        "encoder_depth": encoder_depth,
        "decoder_depth": decoder_depth,
        "expected_time_reduction": round(1.0 - time_share(example, encoder_depth, decoder_depth), 4),
    }


def format_prediction(prediction: Prediction) -> str:
    """The human-readable lines of one prediction."""
    lines = [f"{prediction.image}: {prediction.output}"]
    if prediction.full_model is not None:
        lines.append(f"  full model: {prediction.full_model}")
    if prediction.layers is not None:
        layers = prediction.layers
        lines.append(
            f"  layers: image {layers['image_layers']}/{layers['encoder_depth']}, text {layers['text_layers']}/"
            f"{layers['encoder_depth']}, decoder {layers['decoder_layers']:g}/{layers['decoder_depth']} per token; "
            f"expected time reduction {100 * layers['expected_time_reduction']:.1f}%")
        lines.append("  tokens: " + " ".join(f"{text}({depth})" for text, depth in prediction.tokens))
    return "\n".join(lines)


def load_predictor(args: argparse.Namespace, task_options: Dict[str, Any]) -> Predictor:
    """Load ``args.path`` with the task options given (the checkpoint's for the rest)."""
    if not os.path.isfile(args.path):
        raise CheckpointError(f"{args.path}: no such checkpoint file")
    try:
        model_overrides = ast.literal_eval(args.model_overrides)
    except (ValueError, SyntaxError):
        raise ConfigError(f"--model-overrides must be a Python dict, got {args.model_overrides!r}") from None
    if task_options.get("exit_profile"):  # the profile's granularity, not the one saved with the training options
        task_options = {"exit_granularity": None, "exit_step_quantile": None, **task_options}
    try:
        models, _, task = checkpoint_utils.load_model_ensemble_and_task(
            [args.path], arg_overrides={**model_overrides, **task_options})
    except CheckpointError as error:
        if args.path in str(error):
            raise
        raise CheckpointError(f"{args.path}: {error}") from None
    if args.ema_eval:
        load_ema_weights(models, args.path)
    name = task.cfg._name
    if name not in TASK_DATASETS:
        raise CheckpointError(f"{args.path}: a checkpoint of task {name!r}; predict knows {', '.join(TASK_DATASETS)}")
    with open_dict(task.cfg):  # fairseq overrides only the options the checkpoint has
        for option, value in task_options.items():
            task.cfg[option] = value
    task.exit_policy(models[0])  # validate the exit options before any work
    use_cuda = torch.cuda.is_available() and not args.cpu
    for model in models:
        model.eval()
        if use_cuda:
            model.cuda()
    generation = {**DEFAULT_GENERATION, **{name: getattr(args, name) for name in DEFAULT_GENERATION
                                           if getattr(args, name) is not None}}
    return Predictor(task, models, generation, use_cuda)


def check_task_inputs(args: argparse.Namespace, task) -> None:
    """Refuse, in one line, the options that the checkpoint's task cannot honour."""
    name = task.cfg._name
    if name == "caption":
        for option in ("hypothesis", "premise"):
            if getattr(args, option) is not None:
                raise ConfigError(f"--{option} is for SNLI-VE checkpoints; {args.path} is a caption checkpoint")
        return
    for option in DEFAULT_GENERATION:
        if getattr(args, option) is not None:
            raise ConfigError(f"--{option.replace('_', '-')} is for caption checkpoints; SNLI-VE scores its three "
                              f"answers without generating")
    if args.hypothesis is None:
        raise ConfigError(f"{args.path} is an SNLI-VE checkpoint: pass --hypothesis TEXT")
    if task.cfg.add_caption and args.premise is None:
        raise ConfigError(f"{args.path} was fine-tuned with the premise in its prompt: pass --premise TEXT")
    if not task.cfg.add_caption and args.premise is not None:
        raise ConfigError(f"{args.path} was fine-tuned without a premise in its prompt: --premise cannot be used")


def batches(count: int, batch_size: int) -> Iterator[List[int]]:
    """Consecutive runs of ``batch_size`` indices out of ``count``."""
    for start in range(0, count, batch_size):
        yield list(range(start, min(start + batch_size, count)))


def main(argv: Optional[Sequence[str]] = None) -> List[Prediction]:
    """Command-line entry point; prints and returns one :class:`Prediction` per picture."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    logging.basicConfig(format="%(levelname)s | %(name)s | %(message)s", level=logging.WARNING, force=True)
    task_options = {field.name: getattr(args, field.name) for field in prediction_task_options()
                    if getattr(args, field.name) is not None}
    files = image_files(args.image)
    predictor = load_predictor(args, task_options)
    check_task_inputs(args, predictor.task)
    if task_options.get("exit_profile"):
        profile = read_exit_profile(task_options["exit_profile"])
        for caveat in profile_caveats(profile, args.path, min(len(files), args.batch_size), args.ema_eval).values():
            logger.warning("exit profile %s: %s", task_options["exit_profile"], caveat)
    hypothesis = cell_text("--hypothesis", args.hypothesis) if args.hypothesis is not None else None
    premise = cell_text("--premise", args.premise) if args.premise is not None else None
    predictions: List[Prediction] = []
    with tempfile.TemporaryDirectory(prefix="ofa_mue_predict_") as folder:
        tsv = os.path.join(folder, "inputs.tsv")
        write_inputs(tsv, predictor.name, files, hypothesis, premise)
        dataset = predictor.dataset(tsv)
        runs = list(batches(len(dataset), args.batch_size))
        for indices in tqdm(runs, desc="predict", unit="batch", disable=len(runs) < 2, file=sys.stderr):
            sample = dataset.collater([dataset[i] for i in indices])
            for index, result in zip(indices, predictor.predict(sample, args.show_layers, args.compare_full)):
                prediction = Prediction(image=str(files[index]), output=result["output"],
                                        full_model=result.get("full_model"), tokens=result.get("tokens"))
                if "layers" in result:
                    prediction.layers = layer_summary(result["layers"], predictor.models[0])
                predictions.append(prediction)
                print(json.dumps(asdict(prediction)) if args.json else format_prediction(prediction), flush=True)
    return predictions


def cli_main() -> None:
    """Console entry point of the prediction."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
