"""Output files that appear whole or not at all: written under a temporary name, then renamed."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def atomic_destination(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path`` to write to; it replaces ``path`` when the block
    ends without error, and is removed otherwise (so a failure leaves no partial file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    root, extension = os.path.splitext(path)
    temporary = f"{root}.tmp-{os.getpid()}{extension}"  # same extension: writers pick formats by it
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a file."""
    with atomic_destination(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
