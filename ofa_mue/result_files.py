"""Result files that say where they come from: markdown, CSV and PNG with commit, machine and date.

Each writer puts the :func:`~ofa_mue.provenance.describe` line of a provenance record into the
file itself (markdown: a line under the title; CSV: a first comment line starting with ``#``,
which ``pandas.read_csv(..., comment="#")`` skips; PNG: a footer), and writes atomically.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Dict, Iterable, Sequence

from .atomic_files import atomic_destination, write_atomically
from .provenance import describe


def write_markdown(path: str, title: str, body: str, provenance: Dict[str, Any]) -> str:
    """``# title``, the provenance line, then ``body``; returns the text written."""
    text = f"# {title}\n\n_{describe(provenance)}_\n\n{body.rstrip()}\n"
    write_atomically(path, text)
    return text


def write_csv(path: str, columns: Sequence[str], rows: Iterable[Dict[str, Any]], provenance: Dict[str, Any]) -> None:
    """A ``# provenance`` comment line, the header, then one line per row (other keys ignored)."""
    buffer = io.StringIO()
    buffer.write(f"# {describe(provenance)}\n")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue())


def save_figure(figure, path: str, provenance: Dict[str, Any]) -> None:
    """Save a matplotlib figure with the provenance line as a footer, then close it."""
    import matplotlib.pyplot as plt

    figure.text(0.01, 0.005, describe(provenance), fontsize=5, color="0.4", ha="left", va="bottom")
    with atomic_destination(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
