"""One-line errors from fairseq's own command lines (fairseq-train, fairseq-generate, ...).

fairseq's entry points end on an uncaught exception with its traceback. With ``--user-dir
ofa_mue`` (importing :mod:`ofa_mue` installs :func:`excepthook`), an uncaught
:class:`~ofa_mue.errors.OFAMuEError` (bad data, option or checkpoint) instead ends the
process with the one line ``error: <message>`` on stderr (exit status 1), as
``python -m ofa_mue.evaluate`` does. An error raised in a data-loader worker or a spawned
training process reaches the main process wrapped in another exception that carries the
original traceback as text; its ``ofa_mue.errors`` line is the one shown. So do the few
assertions on its options that fairseq-generate makes before any task code runs
(:data:`FAIRSEQ_GENERATE_ASSERTIONS`), each with a line saying what to do. Any other
exception keeps Python's traceback, and ``OFA_MUE_TRACEBACK=1`` shows it for these too.
"""
from __future__ import annotations

import os
import re
import sys
from types import TracebackType
from typing import Dict, Optional, Type

from .errors import OFAMuEError

TRACEBACK_ENV_VAR = "OFA_MUE_TRACEBACK"
_WRAPPED = re.compile(r"^ofa_mue\.errors\.\w+: (.+)$", re.MULTILINE)


def one_line_message(error: BaseException) -> Optional[str]:
    """The message of the ofa_mue error behind ``error`` (itself, its cause or context, or one
    carried as traceback text), or None when there is none."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OFAMuEError):
            return str(error)
        wrapped = _WRAPPED.findall(str(error))
        if wrapped:
            return wrapped[-1]
        error = error.__cause__ or error.__context__
    return None


REPLACE_UNK_REFUSAL = ("--replace-unk cannot apply to ofa_mue's tasks: it replaces <unk> in the outputs with words "
                       "of the source sentences of fairseq's raw text datasets, and these tasks read OFA's TSV files: "
                       "leave --replace-unk out")

FAIRSEQ_GENERATE_ASSERTIONS: Dict[str, str] = {
    "--sampling requires --nbest to be equal to --beam":
        "--sampling needs --nbest equal to --beam in fairseq-generate, which prints every one of the --beam samples "
        "it draws for a row (--beam is 5 and --nbest 1 unless given): give both the same number, e.g. --beam 1 "
        "--nbest 1 for one sample per row, or leave --sampling out",
    "--replace-unk requires a raw text dataset (--dataset-impl=raw)": REPLACE_UNK_REFUSAL,
}
"""The messages of fairseq-generate's assertions on its options (``fairseq_cli/generate.py``'s ``main``
checks them before the task is set up, where ofa_mue's own checks run), each with the line shown
instead; an AssertionError with another message, or raised elsewhere, keeps its traceback."""

_FAIRSEQ_GENERATE = os.path.join("fairseq_cli", "generate.py")
_FAIRSEQ_UTILS = os.path.join("fairseq", "utils.py")


def fairseq_generate_message(error: BaseException) -> Optional[str]:
    """The line of :data:`FAIRSEQ_GENERATE_ASSERTIONS` for ``error``, an AssertionError that
    fairseq-generate's own code raised with one of its messages, or :data:`REPLACE_UNK_REFUSAL`
    for any error raised in fairseq's ``load_align_dict`` (``--replace-unk`` with ``--dataset-impl
    raw`` passes the assertion, and fairseq then opens the option's value as a file, '@@ ' when
    given bare, before any task code sees it); None for any other exception."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if trace is None:
        return None
    code = trace.tb_frame.f_code
    if code.co_name == "load_align_dict" and code.co_filename.endswith(_FAIRSEQ_UTILS):
        return REPLACE_UNK_REFUSAL
    if type(error) is not AssertionError or not code.co_filename.endswith(_FAIRSEQ_GENERATE):
        return None
    return FAIRSEQ_GENERATE_ASSERTIONS.get(str(error))


def excepthook(kind: Type[BaseException], error: BaseException, trace: Optional[TracebackType]) -> None:
    """``sys.excepthook``: one line for ofa_mue's errors and the fairseq-generate errors of
    :func:`fairseq_generate_message`, the previous hook for anything else."""
    message = one_line_message(error)
    if message is None:
        message = fairseq_generate_message(error)
    if message is None or os.environ.get(TRACEBACK_ENV_VAR, "").strip() in ("1", "true", "yes"):
        _previous_hook(kind, error, trace)
        return
    sys.stderr.flush()
    print(f"error: {message}", file=sys.stderr)


_previous_hook = sys.excepthook
if sys.excepthook is not excepthook:
    sys.excepthook = excepthook
