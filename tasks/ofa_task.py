"""What OFA's fine-tuning tasks share: options, vocabulary, split files and batching.

``--data`` is either a folder holding ``{split}.tsv`` files (``train.tsv``, ``valid.tsv``,
``test.tsv``, ...) or OFA's comma-separated file list, where training cycles through all
files but the last (one per epoch) and every other split reads the last file.

Every row of an evaluation split is read: batches are consecutive runs of ``--batch-size``
rows with no batch-size multiple, no size filter and no dropped remainder (fairseq's
defaults would drop the last partial batch).

The options that shape the model's inputs are settings (:mod:`.settings`): set on the
command line they are used as given; unset, an inference run takes them from its
checkpoint, training from OFA's defaults.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch.distributed
from torch import Tensor
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask
from omegaconf import II

from ofa_mue.data.ofa_dataset import OFATSVDataset
from ofa_mue.data.vocabulary import DEFAULT_CODE_DICT_SIZE, DEFAULT_NUM_BINS, OFAVocabulary
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.verified_generator import DEFAULT_DRAFT_TOKENS, VerifiedEarlyExitGenerator
from ofa_mue.errors import ConfigError, DataError
from ofa_mue.core.exit_granularity import ExitGranularity
from ofa_mue.core.exit_policy import (
    DEFAULT_ENTROPY_EXIT_THRESHOLD, DEFAULT_PATIENCE_EXIT_LAYERS, NEVER, POLICIES, EntropyPolicy, ExitPolicy,
    MuEThresholds, PatiencePolicy, StaticDepths,
)
from ofa_mue.core.exit_profile import PROFILE_OPTIONS, granularity_with_profile, load_exit_profile

from .generation_options import refuse_batch_dependent_horizon, refuse_unimplemented_generation
from .settings import apply_option_overrides, option_defaults, resolve_settings

logger = logging.getLogger(__name__)


@dataclass
class OFAConfig(FairseqDataclass):
    """Options common to OFA tasks (names as in OFA's scripts).

    The settings (the options in :attr:`OFATask.SETTING_DEFAULTS`) default to ``None``, not
    set: see :mod:`ofa_mue.tasks.settings` for where an unset one comes from.
    """

    data: Optional[str] = field(
        default=None,
        metadata={"help": "folder with {split}.tsv files, or OFA's comma-separated list of TSV files"},
    )
    selected_cols: Optional[str] = field(
        default=None, metadata={"help": "comma-separated column indices to read (default: the checkpoint's when "
                                        "evaluating, else the task's OFA layout)"}
    )
    bpe_dir: Optional[str] = field(
        default=None,
        metadata={"help": "folder with encoder.json, vocab.bpe and dict.txt (default: the checkpoint's when "
                          "evaluating and present, else OFA's files shipped with ofa_mue)"},
    )
    code_dict_size: Optional[int] = field(
        default=None, metadata={"help": f"number of <code_i> symbols (default: the checkpoint's when evaluating, "
                                        f"else {DEFAULT_CODE_DICT_SIZE})"})
    num_bins: Optional[int] = field(
        default=None, metadata={"help": f"number of <bin_i> symbols (default: the checkpoint's when evaluating, "
                                        f"else {DEFAULT_NUM_BINS})"})
    patch_image_size: Optional[int] = field(
        default=None, metadata={"help": "images are resized to this square size (default: the checkpoint's when "
                                        "evaluating, else 480)"})
    imagenet_default_mean_and_std: Optional[bool] = field(
        default=None, metadata={"help": "normalise images with ImageNet's mean and std, as OFA's option (default: the "
                                        "checkpoint's when evaluating, else off: to [-1, 1])"})
    max_src_length: Optional[int] = field(
        default=None, metadata={"help": "maximum words of source text (default: the checkpoint's when evaluating, "
                                        "else 128)"})
    max_tgt_length: Optional[int] = field(
        default=None, metadata={"help": "maximum words of a target (default: the checkpoint's when evaluating, "
                                        "else 30)"})
    max_source_positions: int = field(default=1024, metadata={"help": "maximum source tokens"})
    max_target_positions: int = field(default=1024, metadata={"help": "maximum target tokens"})
    exit_policy: str = field(
        default="mue",
        metadata={"help": "early-exit policy at inference: 'mue' (similarity thresholds below; all above 1, the "
                          "default, = no exits), 'entropy' (DeeBERT) or 'patience' (PABEE) in the decoder, with "
                          "MuE's encoder exits when --image/--text-exit-threshold are given, or 'static' (fixed "
                          "depths, --static-*-layers)"},
    )
    entropy_exit_threshold: float = field(
        default=DEFAULT_ENTROPY_EXIT_THRESHOLD, metadata={"help": "entropy policy: a decoder token stops once its prediction's entropy "
                                       "(nats) is below this"})
    patience_exit_layers: int = field(
        default=DEFAULT_PATIENCE_EXIT_LAYERS, metadata={"help": "patience policy: a decoder token stops once its prediction stayed the "
                                     "same for this many consecutive layers"})
    static_image_layers: int = field(default=0, metadata={"help": "static policy: image stream depth (0 = all)"})
    static_text_layers: int = field(default=0, metadata={"help": "static policy: text stream depth (0 = all)"})
    static_decoder_layers: int = field(default=0, metadata={"help": "static policy: decoder depth (0 = all)"})
    exit_profile: Optional[str] = field(
        default=None,
        metadata={"help": "JSON exit profile from python -m ofa_mue.calibrate: its thresholds replace the "
                          "--*-exit-threshold/beta/tau options, and they run at the exit granularity they were "
                          "calibrated with (an --exit-granularity/--exit-step-quantile that decides otherwise "
                          "is refused)"},
    )
    image_exit_threshold: float = field(
        default=NEVER,
        metadata={"help": "MuE (and the entropy/patience policies' encoder exits): an image stream stops after "
                          "the encoder layer whose output-input cosine similarity exceeds this (above 1: never; "
                          "needs a modality-decomposed model)"},
    )
    text_exit_threshold: float = field(
        default=NEVER, metadata={"help": "MuE: the same for the text stream (paper: 0.95)"}
    )
    decoder_exit_threshold: float = field(
        default=NEVER,
        metadata={"help": "MuE: a decoder token stops after the layer whose output-input similarity exceeds "
                          "beta*theta + (1-beta)*exp(-tau*t/N); this is theta (above 1: never)"},
    )
    decoder_exit_beta: float = field(default=1.0, metadata={"help": "MuE: beta of the decaying decoder threshold "
                                                                    "(1 = constant; paper's captioning: 0.95)"})
    decoder_exit_tau: float = field(default=0.0, metadata={"help": "MuE: tau of the decaying decoder threshold "
                                                                   "(paper's captioning: 1)"})
    exit_granularity: Optional[str] = field(
        default=None,
        metadata={"help": "how the decoder tokens of one call (a generation step, a teacher-forced pass) stop: "
                          "'token' (each on its own decision, the paper's), 'step' (all together, once "
                          "--exit-step-quantile of them chose to stop; 1 = the deepest any of them needs) or "
                          "'auto' (per-token decisions; per layer a cost model decides whether packing the "
                          "running tokens pays or the layer runs on all of them, exited ones masked); default: "
                          "the --exit-profile's, else token (one that decides otherwise than the profile's is "
                          "refused)"},
    )
    exit_step_quantile: Optional[float] = field(
        default=None, metadata={"help": "--exit-granularity step: share of a call's tokens that must have chosen "
                                        "to stop before all stop (default: the --exit-profile's, else 1 = the "
                                        "deepest token decides)"})
    exit_launch_flops: Optional[float] = field(
        default=None, metadata={"help": "--exit-granularity auto: FLOPs the device computes in the time of one "
                                        "operator launch, the cost model's constant (default: measured at first use)"})
    exit_verify: bool = field(
        default=False,
        metadata={"help": "lossless mode for generation (greedy, --beam 1): decoder exits draft tokens, the full "
                          "model checks them in one pass and keeps the longest agreeing prefix plus its own next "
                          "token, so the output is exactly the full model's (needs a decoder exit; no encoder exits)"},
    )
    exit_verify_draft: int = field(
        default=DEFAULT_DRAFT_TOKENS,
        metadata={"help": "with --exit-verify: tokens drafted per verification pass"},
    )
    # Hidden (no help, so no command-line option): the inference command's --path and
    # --model-overrides, where an inference run finds its checkpoint's settings.
    inference_checkpoint: Optional[str] = II("common_eval.path")
    inference_overrides: Optional[str] = II("common_eval.model_overrides")


def refuse_unused_exit_options(cfg: OFAConfig) -> None:
    """A :class:`ConfigError` for an exit option that the selected ``--exit-policy`` would ignore."""
    policy = cfg.exit_policy
    for flag, own_policy, value, default in (
            ("--entropy-exit-threshold", "entropy", cfg.entropy_exit_threshold, DEFAULT_ENTROPY_EXIT_THRESHOLD),
            ("--patience-exit-layers", "patience", cfg.patience_exit_layers, DEFAULT_PATIENCE_EXIT_LAYERS)):
        if policy != own_policy and value != default:
            raise ConfigError(f"{flag} {value} needs --exit-policy {own_policy} (got {policy})")
    static = {"--static-image-layers": cfg.static_image_layers, "--static-text-layers": cfg.static_text_layers,
              "--static-decoder-layers": cfg.static_decoder_layers}
    if policy != "static":
        for flag, value in static.items():
            if value:
                raise ConfigError(f"{flag} sets a static depth: it needs --exit-policy static (got {policy})")
    if policy != "mue" and cfg.exit_profile:
        raise ConfigError(f"--exit-profile holds MuE's thresholds: it needs --exit-policy mue (got {policy}; the "
                          f"entropy and patience policies take MuE's encoder exits as --image/--text-exit-threshold)")
    if policy == "static":
        thresholds = {"--image-exit-threshold": cfg.image_exit_threshold,
                      "--text-exit-threshold": cfg.text_exit_threshold,
                      "--decoder-exit-threshold": cfg.decoder_exit_threshold}
        unused = [flag for flag, value in thresholds.items() if value <= 1.0]
        if unused:
            raise ConfigError(f"{', '.join(unused)} cannot apply with --exit-policy static: it cuts every part at "
                              "the depths of --static-*-layers")
    elif policy in ("entropy", "patience") and cfg.decoder_exit_threshold <= 1.0:
        raise ConfigError(f"--decoder-exit-threshold cannot apply with --exit-policy {policy}: its decoder exits by "
                          f"its own rule (--image/--text-exit-threshold give it MuE's encoder exits)")


def refuse_other_bpe(bpe: Any) -> None:
    """A :class:`ConfigError` when ``--bpe`` (a name, or fairseq's BPE config with ``_name``) names
    another encoding than GPT-2's: OFA's ``--bpe bert`` (its Chinese models) encodes text with BERT
    word pieces and a Chinese prompt, which this project does not implement."""
    name = getattr(bpe, "_name", bpe)
    if name is not None and name != "gpt2":
        raise ConfigError(f"--bpe {name} is not supported: ofa_mue encodes text with OFA's GPT-2 BPE (--bpe gpt2, "
                          f"the default; files from --bpe-dir), not OFA's Chinese models' BERT word pieces")


class OFATask(FairseqTask):
    """Base of the OFA tasks: loads the vocabulary and builds datasets of ``{split}.tsv``."""

    cfg: OFAConfig
    SETTING_DEFAULTS: Dict[str, Any] = {
        "selected_cols": None, "bpe_dir": None, "code_dict_size": DEFAULT_CODE_DICT_SIZE,
        "num_bins": DEFAULT_NUM_BINS, "patch_image_size": 480, "imagenet_default_mean_and_std": False,
        "max_src_length": 128, "max_tgt_length": 30,
    }
    """OFA's default of each setting, used where neither the command line nor a checkpoint sets it."""

    def __init__(self, cfg: OFAConfig, vocab: OFAVocabulary):
        super().__init__(cfg)
        self.vocab = vocab

    @classmethod
    def setup_task(cls, cfg: OFAConfig, **kwargs: Any) -> "OFATask":
        """Fill the unset settings (:mod:`.settings`), then load the vocabulary from ``--bpe-dir``
        (or the shipped OFA files)."""
        resolve_settings(cfg, cls.SETTING_DEFAULTS)
        # the task's config dataclass, where fairseq's register_task puts it (and its add_args reads it)
        apply_option_overrides(cfg, option_defaults(getattr(cls, "__dataclass")), cls.SETTING_DEFAULTS)
        vocab = OFAVocabulary.load(cfg.bpe_dir, cfg.code_dict_size, cfg.num_bins)
        logger.info("dictionary: %d symbols", len(vocab.dictionary))
        return cls(cfg, vocab)

    @property
    def source_dictionary(self):
        return self.vocab.dictionary

    @property
    def target_dictionary(self):
        return self.vocab.dictionary

    def max_positions(self):
        return self.cfg.max_source_positions, self.cfg.max_target_positions

    def training_files(self) -> List[str]:
        """The files the training split takes turns over, one per epoch, when ``--data`` is OFA's
        comma-separated list (all but the last file; the only one, if there is one); empty for a folder."""
        if not self.cfg.data or os.path.isdir(self.cfg.data):
            return []
        paths = self.cfg.data.split(",")
        return paths[:-1] or paths

    def split_path(self, split: str, epoch: int = 1) -> str:
        """The TSV file that holds ``split`` (see the module docstring)."""
        if not self.cfg.data:
            raise ConfigError("no data given: pass the data folder or TSV files as --data (or the first argument)")
        if os.path.isdir(self.cfg.data):
            path = os.path.join(self.cfg.data, f"{split}.tsv")
        elif split == "train":
            train_paths = self.training_files()
            path = train_paths[(epoch - 1) % len(train_paths)]
        else:
            path = self.cfg.data.split(",")[-1]
        if not os.path.isfile(path):
            raise DataError(path, f"file for split '{split}' not found")
        return path

    def has_sharded_data(self, split: str) -> bool:
        """Whether the training split changes from epoch to epoch (several training files in OFA's
        comma-separated ``--data``): fairseq-train then loads it again for every epoch, as OFA's
        train.py does (fairseq's own test looks for ``os.pathsep``, ':', and would keep the first file)."""
        return split == "train" and len(self.training_files()) > 1

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs: Any) -> None:
        path = self.split_path(split, epoch)
        self.datasets[split] = self.build_dataset(split, path)
        logger.info("%s: %d rows from %s", split, len(self.datasets[split]), path)

    def build_dataset(self, split: str, path: str) -> OFATSVDataset:
        """The task's dataset of one TSV file."""
        raise NotImplementedError

    def exit_policy(self, model=None) -> ExitPolicy:
        """The exit policy the options select (validated: bad values, options the policy cannot
        honour and, given the ``model``, depths it does not have are a :class:`ConfigError`)."""
        cfg = self.cfg
        self.check_exit_verify()
        if cfg.exit_policy not in POLICIES:
            raise ConfigError(f"--exit-policy must be one of {', '.join(POLICIES)}, got {cfg.exit_policy!r}")
        refuse_unused_exit_options(cfg)
        profile = load_exit_profile(cfg.exit_profile) if cfg.exit_profile else None  # MuE's only (refused above)
        granularity = self.exit_granularity(profile)
        encoder = {"image": cfg.image_exit_threshold, "text": cfg.text_exit_threshold}
        if cfg.exit_policy == "static":  # every token stops at its fixed depth: any granularity is the same
            policy = StaticDepths(cfg.static_image_layers, cfg.static_text_layers, cfg.static_decoder_layers)
            if model is not None:
                policy.check_depths(model.encoder.num_layers, model.decoder.num_layers)
            return policy
        if cfg.exit_policy == "entropy":
            return EntropyPolicy(float(cfg.entropy_exit_threshold), granularity, **encoder)
        if cfg.exit_policy == "patience":
            return PatiencePolicy(cfg.patience_exit_layers, granularity, **encoder)
        options = {name: getattr(cfg, name) for name in PROFILE_OPTIONS}
        options.update(profile or {})
        return MuEThresholds(options["image_exit_threshold"], options["text_exit_threshold"],
                             options["decoder_exit_threshold"], options["decoder_exit_beta"],
                             options["decoder_exit_tau"], granularity)

    def exit_granularity(self, profile: Optional[Dict[str, Any]] = None) -> ExitGranularity:
        """The exit granularity the options select: ``--exit-granularity``/``--exit-step-quantile``,
        where not given those of MuE's ``--exit-profile`` (``profile``: it loaded; a :class:`ConfigError`
        when the two decide differently, :func:`~ofa_mue.core.exit_profile.granularity_with_profile`),
        else per token."""
        cfg = self.cfg
        mode, quantile = cfg.exit_granularity, cfg.exit_step_quantile
        if profile is None and cfg.exit_profile and cfg.exit_policy == "mue":
            profile = load_exit_profile(cfg.exit_profile)
        if profile is not None:
            mode, quantile = granularity_with_profile(cfg.exit_profile, profile, mode, quantile)
        return ExitGranularity(mode or "token", 1.0 if quantile is None else quantile, cfg.exit_launch_flops)

    def check_exit_verify(self) -> None:
        """Refuse ``--exit-verify-draft`` without ``--exit-verify``, or a draft length below 1."""
        draft = self.cfg.exit_verify_draft
        if not isinstance(draft, int) or draft < 1:
            raise ConfigError(f"--exit-verify-draft must be a whole number >= 1, got {draft!r}")
        if draft != DEFAULT_DRAFT_TOKENS and not self.cfg.exit_verify:
            raise ConfigError("--exit-verify-draft only applies with --exit-verify")

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs: Any):
        """fairseq's generator made an :class:`EarlyExitSequenceGenerator` with this task's exit options
        (a :class:`VerifiedEarlyExitGenerator` with ``--exit-verify``). ``--score-reference`` and
        ``--print-alignment``, for which fairseq would build other generators (without exits), are refused,
        and so is ``--retain-dropout``, which OFA's models honour and this model does not, and every option
        fairseq's beam search cannot honour (:func:`~.generation_options.refuse_unimplemented_generation`)."""
        if getattr(args, "score_reference", False):
            raise ConfigError("--score-reference would score with fairseq's SequenceScorer, which runs no exits: not "
                              "supported (python -m ofa_mue.evaluate scores a split against its references)")
        if getattr(args, "print_alignment", None):
            raise ConfigError("--print-alignment needs fairseq's alignment generator, which runs no exits: not "
                              "supported")
        if getattr(args, "retain_dropout", False):
            raise ConfigError("--retain-dropout is not supported: the model runs without dropout at inference "
                              "(OFA's FairseqDropout modules would keep dropping)")
        refuse_unimplemented_generation(args)
        policy = self.exit_policy(models[0])
        refuse_batch_dependent_horizon(args, policy)
        extra = {"policy": policy, **(extra_gen_cls_kwargs or {})}
        if self.cfg.exit_verify:
            seq_gen_cls = seq_gen_cls or VerifiedEarlyExitGenerator
            extra["draft_tokens"] = self.cfg.exit_verify_draft
        return super().build_generator(models, args, seq_gen_cls=seq_gen_cls or EarlyExitSequenceGenerator,
                                       extra_gen_cls_kwargs=extra, **kwargs)

    def check_evaluation_options(self, generation_cfg: Any) -> None:
        """Refuse the generation options this task's evaluation (``python -m ofa_mue.evaluate``,
        calibrate, sweep, reproduce) cannot honour; called once, before the checkpoint loads."""

    def build_criterion(self, cfg):
        """fairseq-train's criterion. Training runs every layer (the layer-wise loss trains the
        exits), and so do its validation and SCST's sampled captions: exit options, which
        would make those two run an exiting model, are refused here."""
        exiting = self.exit_policy().exiting_parts
        if exiting or self.cfg.exit_verify:
            given = f"exits in {', '.join(exiting)}" if exiting else "--exit-verify"
            raise ConfigError(f"exit options are for inference (fairseq-generate, python -m ofa_mue.evaluate), not "
                              f"fairseq-train, whose validation and SCST captions run every layer: got {given}")
        return super().build_criterion(cfg)

    def build_model(self, cfg, from_checkpoint: bool = False):
        """fairseq's model, once the text encoding the command line (or checkpoint) names is known
        to be this project's (:func:`refuse_other_bpe`)."""
        refuse_other_bpe(getattr(cfg, "bpe", None))
        return super().build_model(cfg, from_checkpoint)

    def build_bpe(self, args):
        """The task's own GPT-2 BPE, so ``fairseq-generate`` prints text rather than BPE ids
        (another ``--bpe`` is refused: :func:`refuse_other_bpe`)."""
        refuse_other_bpe(args)
        return self.vocab.bpe

    def evaluation_records(self, models, sample: Dict[str, Any], generation_cfg) -> List[Dict[str, Any]]:
        """One record per sample of a batch: ``uniq_id``, ``prediction``, what it is scored
        against, and ``layers`` (the :class:`~ofa_mue.core.time_reduction.ExampleLayers` it used),
        with this task's exit options."""
        raise NotImplementedError

    def evaluation_input_lengths(self, sample: Dict[str, Any]) -> Dict[str, Tensor]:
        """Each sample's length in tokens of what its evaluation feeds the model, which must fit
        the model's positions: ``"source"`` (the encoder's text) and, for a task that
        teacher-forces the decoder, ``"decoder"`` (its longest decoder input)."""
        return {"source": sample["net_input"]["src_lengths"]}

    @classmethod
    def evaluation_metrics(cls, records: List[Dict[str, Any]], quick: bool = False) -> Dict[str, float]:
        """The task's metrics over the records of a whole split (``quick``: only the main ones); a
        class method, so that ``python -m ofa_mue.merge`` needs no loaded task."""
        raise NotImplementedError

    OFA_PREDICTION_KEYS: Tuple[str, str] = ("uniq_id", "answer")
    """The keys of a row's id and prediction in OFA's ``{split}_predict.json``."""

    @classmethod
    def ofa_predictions(cls, records: List[Dict[str, Any]]) -> List[Dict[str, str]]:
        """The records of a split as OFA's ``evaluate.py`` writes them to ``{split}_predict.json``:
        one ``{id key: row id, prediction key: prediction}`` per row (:attr:`OFA_PREDICTION_KEYS`)."""
        id_key, prediction_key = cls.OFA_PREDICTION_KEYS
        return [{id_key: str(record["uniq_id"]), prediction_key: record["prediction"]} for record in records]

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        """fairseq's step; a criterion with ``set_num_updates`` learns the update first (as OFA
        passes ``update_num`` to its criteria, for ``--drop-worst-after``)."""
        if hasattr(criterion, "set_num_updates"):
            criterion.set_num_updates(update_num)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def filter_indices_by_size(self, indices, dataset, max_positions=None, ignore_invalid_inputs=False):
        """Keep every row: OFA's datasets cut long texts to ``--max-src-length`` words themselves."""
        return indices

    def begin_epoch(self, epoch: int, model) -> None:
        """Before training: refuse a process that a launcher started as one of several but that
        fairseq was not told about (see :func:`check_launch_joined`)."""
        check_launch_joined()
        super().begin_epoch(epoch, model)

    def get_batch_iterator(self, dataset, **kwargs: Any):
        """fairseq's iterator with no batch-size multiple, so no remainder batch is dropped
        (fairseq's callers pass every option by keyword)."""
        kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, **kwargs)


def check_launch_joined() -> None:
    """Raise :class:`ConfigError` when torchrun (``WORLD_SIZE`` > 1) started this process but it
    trains alone: fairseq only joins a launch it is given the distributed flags for, and
    each process would otherwise train the whole model by itself and write the same files."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1 and not torch.distributed.is_initialized():
        raise ConfigError(
            f"this process was started by torchrun as one of {world} (WORLD_SIZE={world}) but fairseq was not "
            f"told so, and each process would train alone: launch through run_scripts/lib.sh (see README, "
            f"'Many GPUs and many machines') or pass --distributed-world-size {world} --distributed-rank $RANK "
            f"--device-id $LOCAL_RANK --distributed-init-method env:// --distributed-no-spawn"
        )
