"""Error types for bad input: each message names the file, row and field it concerns."""
from __future__ import annotations

from typing import Optional


class OFAMuEError(ValueError):
    """Base class of every user-facing input error raised by ofa_mue."""


class DataError(OFAMuEError):
    """A data file (TSV, image, vocabulary) is malformed.

    The message always starts with the file; row (1-based line number) and field are
    added when known, so the user can go straight to the offending cell.
    """

    def __init__(self, path: str, message: str, row: Optional[int] = None, field: Optional[str] = None):
        self.path = path
        self.row = row
        self.field = field
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class CheckpointError(OFAMuEError):
    """A checkpoint cannot be used with the requested model (architecture, vocabulary, file)."""


class ConfigError(OFAMuEError):
    """An option has an invalid value (e.g. an exit threshold out of range)."""


class ShardError(OFAMuEError):
    """Shard files that are not one evaluation of a whole split (a shard or a row missing or
    repeated, shards of different evaluations); the message names the files."""
