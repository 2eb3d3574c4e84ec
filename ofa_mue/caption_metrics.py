"""COCO caption metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr and SPICE.

Captions and references are tokenised with the PTB tokenizer, as in the COCO evaluation
server. SPICE needs Stanford CoreNLP's jars beside pycocoevalcap (it downloads them on
first use, which fails offline): when they are absent SPICE is reported unavailable in one
line instead of failing the evaluation.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
from typing import Dict, List, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice import get_stanford_models
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from .errors import ConfigError

logger = logging.getLogger(__name__)


def require_java() -> None:
    """A :class:`ConfigError` unless a ``java`` program is on PATH: pycocoevalcap's PTB tokenizer
    and METEOR are Java programs (without one, pycocoevalcap fails deep inside ``subprocess``)."""
    if shutil.which("java") is None:
        raise ConfigError("caption metrics need Java: pycocoevalcap's PTB tokenizer and METEOR are Java programs, "
                          "and there is no `java` on PATH (install a Java runtime, e.g. OpenJDK)")


def _tokenize(captions: Sequence[Sequence[str]]) -> Dict[int, List[str]]:
    require_java()
    as_coco = {index: [{"caption": text} for text in texts] for index, texts in enumerate(captions)}
    return PTBTokenizer().tokenize(as_coco)


def spice_jar() -> str:
    """Where SPICE expects Stanford CoreNLP's jar."""
    return os.path.join(get_stanford_models.SPICEDIR, get_stanford_models.SPICELIB, f"{get_stanford_models.JAR}.jar")


def spice_available() -> bool:
    """Whether SPICE can run offline (Stanford CoreNLP's jars are in place)."""
    return os.path.exists(spice_jar())


class CaptionScorer:
    """Per-example scores of many caption lists for the same rows: CIDEr-D against each row's
    references (document frequencies from all of them) and ROUGE-L F-measure against an anchor
    caption per row (e.g. the full model's). References and anchors are tokenised once."""

    def __init__(self, references: Sequence[Sequence[str]], anchors: Sequence[str]):
        if len(references) != len(anchors) or not references:
            raise ValueError(f"need one anchor per reference list, got {len(references)} and {len(anchors)}")
        self.references = _tokenize(references)
        self.anchors = _tokenize([[a] for a in anchors])

    def __call__(self, predictions: Sequence[str]) -> Dict[str, List[float]]:
        """``{"cider": [...], "rouge_l_full": [...]}``, one value per row of ``predictions``."""
        if len(predictions) != len(self.references):
            raise ValueError(f"{len(predictions)} captions for {len(self.references)} reference lists")
        hypotheses = _tokenize([[p] for p in predictions])
        _, cider = Cider().compute_score(self.references, hypotheses)
        rouge = Rouge()
        return {"cider": [float(s) for s in cider],
                "rouge_l_full": [float(rouge.calc_score(hypotheses[i], self.anchors[i])) for i in hypotheses]}


class _ProcessMeteor(Meteor):
    """pycocoevalcap's METEOR scorer, whose Java program only the process that started it stops
    (at exit at the latest): a child forked from that process may drop its copy without stopping it."""

    def __init__(self) -> None:
        super().__init__()
        self.owner = os.getpid()
        atexit.register(self.stop)

    def running_here(self) -> bool:
        return os.getpid() == getattr(self, "owner", None) and self.meteor_p.poll() is None

    def stop(self) -> None:
        if self.running_here():
            super().__del__()

    def __del__(self) -> None:
        self.stop()


_METEOR: List[_ProcessMeteor] = []
"""The process's METEOR scorer (one slot)."""


def meteor_scorer() -> Meteor:
    """This process's METEOR scorer, started on first use and reused by later evaluations: its Java
    program spends about ten CPU-seconds loading its paraphrase tables before the first score,
    which a process evaluating several times (a sweep, a test run) would otherwise pay each time.
    A scorer whose program has ended, or that another process started (before a fork), is replaced."""
    if not (_METEOR and _METEOR[0].running_here()):
        _METEOR[:] = [_ProcessMeteor()]
    return _METEOR[0]


def caption_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]],
                    quick: bool = False) -> Dict[str, float]:
    """Corpus-level COCO metrics of ``predictions[i]`` against ``references[i]``.

    Keys: ``bleu1``..``bleu4``, ``meteor``, ``rouge_l``, ``cider`` and, when available,
    ``spice`` (all as pycocoevalcap reports them, e.g. CIDEr 1.37 for 137.0 in papers).
    ``quick``: BLEU and CIDEr only (METEOR and SPICE start a Java program each).
    """
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"need one reference list per prediction, got {len(predictions)} and {len(references)}")
    refs, hyps = _tokenize(references), _tokenize([[p] for p in predictions])
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    results = {f"bleu{n}": float(value) for n, value in enumerate(bleu, start=1)}
    if quick:
        results["cider"] = float(Cider().compute_score(refs, hyps)[0])
        return results
    results["meteor"] = float(meteor_scorer().compute_score(refs, hyps)[0])
    results["rouge_l"] = float(Rouge().compute_score(refs, hyps)[0])
    results["cider"] = float(Cider().compute_score(refs, hyps)[0])
    if spice_available():
        from pycocoevalcap.spice.spice import Spice

        results["spice"] = float(Spice().compute_score(refs, hyps)[0])
    else:
        logger.warning("SPICE unavailable: Stanford CoreNLP jars not found at %s (place them there to enable it)",
                       spice_jar())
    return results
