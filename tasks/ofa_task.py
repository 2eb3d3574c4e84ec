"""What OFA's fine-tuning tasks share: options, vocabulary, split files and batching.

``--data`` is either a folder holding ``{split}.tsv`` files (``train.tsv``, ``valid.tsv``,
``test.tsv``, ...) or OFA's comma-separated file list, where training cycles through all
files but the last (one per epoch) and every other split reads the last file.

Every row of an evaluation split is read: batches are consecutive runs of ``--batch-size``
rows with no batch-size multiple, no size filter and no dropped remainder (fairseq's
defaults would drop the last partial batch).
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask

from ofa_mue.data.ofa_dataset import OFATSVDataset
from ofa_mue.data.vocabulary import DEFAULT_CODE_DICT_SIZE, DEFAULT_NUM_BINS, OFAVocabulary
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.verified_generator import DEFAULT_DRAFT_TOKENS, VerifiedEarlyExitGenerator
from ofa_mue.errors import ConfigError, DataError
from ofa_mue.core.exit_policy import NEVER, POLICIES, EntropyPolicy, ExitPolicy, MuEThresholds, PatiencePolicy, StaticDepths
from ofa_mue.core.exit_profile import PROFILE_OPTIONS, load_exit_profile

logger = logging.getLogger(__name__)


@dataclass
class OFAConfig(FairseqDataclass):
    """Options common to OFA tasks (names as in OFA's scripts)."""

    data: Optional[str] = field(
        default=None,
        metadata={"help": "folder with {split}.tsv files, or OFA's comma-separated list of TSV files"},
    )
    selected_cols: Optional[str] = field(
        default=None, metadata={"help": "comma-separated column indices to read (default: the task's OFA layout)"}
    )
    bpe_dir: Optional[str] = field(
        default=None,
        metadata={"help": "folder with encoder.json, vocab.bpe and dict.txt (default: OFA's files shipped with ofa_mue)"},
    )
    code_dict_size: int = field(default=DEFAULT_CODE_DICT_SIZE, metadata={"help": "number of <code_i> symbols"})
    num_bins: int = field(default=DEFAULT_NUM_BINS, metadata={"help": "number of <bin_i> symbols"})
    patch_image_size: int = field(default=480, metadata={"help": "images are resized to this square size"})
    max_src_length: int = field(default=128, metadata={"help": "maximum words of source text"})
    max_tgt_length: int = field(default=30, metadata={"help": "maximum words of a target"})
    max_source_positions: int = field(default=1024, metadata={"help": "maximum source tokens"})
    max_target_positions: int = field(default=1024, metadata={"help": "maximum target tokens"})
    exit_policy: str = field(
        default="mue",
        metadata={"help": "early-exit policy at inference: 'mue' (similarity thresholds below; all above 1, the "
                          "default, = no exits), 'entropy' (DeeBERT, decoder), 'patience' (PABEE, decoder) or "
                          "'static' (fixed depths, --static-*-layers)"},
    )
    entropy_exit_threshold: float = field(
        default=0.5, metadata={"help": "entropy policy: a decoder token stops once its prediction's entropy "
                                       "(nats) is below this"})
    patience_exit_layers: int = field(
        default=2, metadata={"help": "patience policy: a decoder token stops once its prediction stayed the "
                                     "same for this many consecutive layers"})
    static_image_layers: int = field(default=0, metadata={"help": "static policy: image stream depth (0 = all)"})
    static_text_layers: int = field(default=0, metadata={"help": "static policy: text stream depth (0 = all)"})
    static_decoder_layers: int = field(default=0, metadata={"help": "static policy: decoder depth (0 = all)"})
    exit_profile: Optional[str] = field(
        default=None,
        metadata={"help": "JSON exit profile from python -m ofa_mue.calibrate: its thresholds replace the "
                          "--*-exit-threshold/beta/tau options"},
    )
    image_exit_threshold: float = field(
        default=NEVER,
        metadata={"help": "MuE: an image stream stops after the encoder layer whose output-input cosine "
                          "similarity exceeds this (above 1: never; needs a modality-decomposed model)"},
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


class OFATask(FairseqTask):
    """Base of the OFA tasks: loads the vocabulary and builds datasets of ``{split}.tsv``."""

    cfg: OFAConfig

    def __init__(self, cfg: OFAConfig, vocab: OFAVocabulary):
        super().__init__(cfg)
        self.vocab = vocab

    @classmethod
    def setup_task(cls, cfg: OFAConfig, **kwargs: Any) -> "OFATask":
        """Load the vocabulary from ``--bpe-dir`` (or the shipped OFA files)."""
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

    def split_path(self, split: str, epoch: int = 1) -> str:
        """The TSV file that holds ``split`` (see the module docstring)."""
        if not self.cfg.data:
            raise ConfigError("no data given: pass the data folder or TSV files as --data (or the first argument)")
        if os.path.isdir(self.cfg.data):
            path = os.path.join(self.cfg.data, f"{split}.tsv")
        else:
            paths = self.cfg.data.split(",")
            train_paths = paths[:-1] or paths
            path = train_paths[(epoch - 1) % len(train_paths)] if split == "train" else paths[-1]
        if not os.path.isfile(path):
            raise DataError(path, f"file for split '{split}' not found")
        return path

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs: Any) -> None:
        path = self.split_path(split, epoch)
        self.datasets[split] = self.build_dataset(split, path)
        logger.info("%s: %d rows from %s", split, len(self.datasets[split]), path)

    def build_dataset(self, split: str, path: str) -> OFATSVDataset:
        """The task's dataset of one TSV file."""
        raise NotImplementedError

    def exit_policy(self) -> ExitPolicy:
        """The exit policy the options select (validated: bad values are a :class:`ConfigError`)."""
        cfg = self.cfg
        self.check_exit_verify()
        if cfg.exit_policy == "static":
            return StaticDepths(cfg.static_image_layers, cfg.static_text_layers, cfg.static_decoder_layers)
        if cfg.exit_policy == "entropy":
            return EntropyPolicy(float(cfg.entropy_exit_threshold))
        if cfg.exit_policy == "patience":
            return PatiencePolicy(cfg.patience_exit_layers)
        if cfg.exit_policy != "mue":
            raise ConfigError(f"--exit-policy must be one of {', '.join(POLICIES)}, got {cfg.exit_policy!r}")
        options = {name: getattr(cfg, name) for name in PROFILE_OPTIONS}
        if cfg.exit_profile:
            options.update(load_exit_profile(cfg.exit_profile))
        return MuEThresholds(options["image_exit_threshold"], options["text_exit_threshold"],
                             options["decoder_exit_threshold"], options["decoder_exit_beta"],
                             options["decoder_exit_tau"])

    def check_exit_verify(self) -> None:
        """Refuse ``--exit-verify-draft`` without ``--exit-verify``, or a draft length below 1."""
        draft = self.cfg.exit_verify_draft
        if not isinstance(draft, int) or draft < 1:
            raise ConfigError(f"--exit-verify-draft must be a whole number >= 1, got {draft!r}")
        if draft != DEFAULT_DRAFT_TOKENS and not self.cfg.exit_verify:
            raise ConfigError("--exit-verify-draft only applies with --exit-verify")

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs: Any):
        """fairseq's generator made an :class:`EarlyExitSequenceGenerator` with this task's exit options
        (a :class:`VerifiedEarlyExitGenerator` with ``--exit-verify``)."""
        extra = {"policy": self.exit_policy(), **(extra_gen_cls_kwargs or {})}
        if self.cfg.exit_verify:
            seq_gen_cls = seq_gen_cls or VerifiedEarlyExitGenerator
            extra["draft_tokens"] = self.cfg.exit_verify_draft
        return super().build_generator(models, args, seq_gen_cls=seq_gen_cls or EarlyExitSequenceGenerator,
                                       extra_gen_cls_kwargs=extra, **kwargs)

    def build_bpe(self, args):
        """The task's own GPT-2 BPE, so ``fairseq-generate`` prints text rather than BPE ids."""
        return self.vocab.bpe

    def evaluation_records(self, models, sample: Dict[str, Any], generation_cfg) -> List[Dict[str, Any]]:
        """One record per sample of a batch: ``uniq_id``, ``prediction``, what it is scored
        against, and ``layers`` (the :class:`~ofa_mue.core.time_reduction.ExampleLayers` it used),
        with this task's exit options."""
        raise NotImplementedError

    def evaluation_metrics(self, records: List[Dict[str, Any]], quick: bool = False) -> Dict[str, float]:
        """The task's metrics over the records of a whole split (``quick``: only the main ones)."""
        raise NotImplementedError

    def filter_indices_by_size(self, indices, dataset, max_positions=None, ignore_invalid_inputs=False):
        """Keep every row: OFA's datasets cut long texts to ``--max-src-length`` words themselves."""
        return indices

    def get_batch_iterator(self, dataset, **kwargs: Any):
        """fairseq's iterator with no batch-size multiple, so no remainder batch is dropped
        (fairseq's callers pass every option by keyword)."""
        kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, **kwargs)
