"""One-line errors from fairseq's own command lines (fairseq-train, fairseq-generate, ...).

fairseq's entry points end on an uncaught exception with its traceback. With ``--user-dir
ofa_mue`` (importing :mod:`ofa_mue` installs :func:`excepthook`), an uncaught
:class:`~ofa_mue.errors.OFAMuEError` (bad data, option or checkpoint) instead ends the
process with the one line ``error: <message>`` on stderr (exit status 1), as
``python -m ofa_mue.evaluate`` does. An error raised in a data-loader worker or a spawned
training process reaches the main process wrapped in another exception that carries the
original traceback as text; its ``ofa_mue.errors`` line is the one shown. Any other
exception keeps Python's traceback, and ``OFA_MUE_TRACEBACK=1`` shows it for these too.
"""
from __future__ import annotations

import os
import re
import sys
from types import TracebackType
from typing import Optional, Type

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


def excepthook(kind: Type[BaseException], error: BaseException, trace: Optional[TracebackType]) -> None:
    """``sys.excepthook``: one line for ofa_mue's errors, the previous hook for anything else."""
    message = one_line_message(error)
    if message is None or os.environ.get(TRACEBACK_ENV_VAR, "").strip() in ("1", "true", "yes"):
        _previous_hook(kind, error, trace)
        return
    sys.stderr.flush()
    print(f"error: {message}", file=sys.stderr)


_previous_hook = sys.excepthook
if sys.excepthook is not excepthook:
    sys.excepthook = excepthook
