"""OFA's text clean-up (:mod:`ofa_mue.data.text`): every step of OFA's ``pre_caption``, which
SNLI-VE's hypotheses and premises go through before they are encoded and cut to
``--max-src-length`` words."""
from __future__ import annotations

import pytest

from ofa_mue.data.text import normalize_sentence, strip_punctuation, truncate_words


@pytest.mark.parametrize("text, expected", [
    ("#Two Dogs play.", "two dogs play."),  # lower-case; leading ,.!?*#:;~ dropped, other punctuation kept
    ("~:;?!two dogs", "two dogs"),
    (" ,two dogs", ",two dogs"),  # OFA strips the punctuation before the spaces, so it stays here
    ("a photo-of dogs/cats", "a photo of dogs cats"),  # hyphens and slashes become spaces
    ("dogs / cats - birds", "dogs cats birds"),  # ... and the runs of spaces they leave collapse
    ("<person> rides a horse", "person rides a horse"),
    ("  a  dog \t runs\n", "a dog runs"),  # whitespace runs collapse to one space, ends trimmed
], ids=["leading-punctuation", "leading-punctuation-run", "space-before-punctuation", "hyphen-and-slash",
        "runs-left-by-hyphens", "person-tag", "whitespace-runs"])
def test_normalize_sentence_follows_ofas_pre_caption(text, expected):
    assert normalize_sentence(text) == expected


def test_words_are_counted_after_the_clean_up():
    # Collapsed first, then cut: a double space or a hyphen never counts as an empty word.
    assert normalize_sentence("a  red / blue  circle", 3) == "a red blue"
    assert normalize_sentence("a well-known dog", 2) == "a well"
    assert normalize_sentence("two dogs play", None) == "two dogs play"
    assert truncate_words("a b c", 0) == "" and truncate_words("a b c", 3) == "a b c"


def test_strip_punctuation_drops_ascii_punctuation_and_joins_words_with_one_space():
    assert strip_punctuation("  A man's  T-shirt, (red)! ") == "A mans Tshirt red"


def test_strip_punctuation_drops_all_32_ascii_punctuation_marks_and_keeps_other_characters():
    """OFA's caption dataset and ``eval_caption`` translate with ``string.punctuation``: the 32
    ASCII marks below, the underscore and backtick included, go; letters, digits and non-ASCII
    punctuation (curly quotes, an ellipsis) stay (``[^\\w\\s]`` would keep ``_`` and drop ``’``)."""
    marks = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    assert len(set(marks)) == 32
    assert strip_punctuation(f"a{marks}b") == "ab"
    assert (strip_punctuation("snake_case x_2 `quoted` dog’s “big” walk…")
            == "snakecase x2 quoted dog’s “big” walk…")
