"""OFA's text clean-up for prompts and captions."""
from __future__ import annotations

import re
import string
from typing import Optional

_LEADING_PUNCTUATION = ",.!?*#:;~"
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def truncate_words(text: str, max_words: Optional[int]) -> str:
    """The first ``max_words`` space-separated words of ``text`` (all of them if None)."""
    if max_words is None:
        return text
    return " ".join(text.split(" ")[:max_words])


def normalize_sentence(text: str, max_words: Optional[int] = None) -> str:
    """OFA's clean-up of a hypothesis or premise.

    Lower-case; drop leading ``,.!?*#:;~``; hyphens and slashes become spaces;
    ``<person>`` becomes ``person``; runs of whitespace collapse to one space; trim;
    keep at most ``max_words`` words. Other punctuation is kept.
    """
    text = text.lower().lstrip(_LEADING_PUNCTUATION)
    text = text.replace("-", " ").replace("/", " ").replace("<person>", "person")
    text = re.sub(r"\s{2,}", " ", text).rstrip("\n").strip(" ")
    return truncate_words(text, max_words)


def strip_punctuation(text: str) -> str:
    """``text`` without ASCII punctuation and with single spaces, as OFA's caption targets."""
    return " ".join(text.translate(_NO_PUNCTUATION).split())
