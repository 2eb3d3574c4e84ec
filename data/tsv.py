"""Random access to the rows of OFA's tab-separated data files without loading them."""
from __future__ import annotations

import os
from array import array
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from ofa_mue.errors import DataError

SelectedCols = Union[str, Sequence[int], None]


def parse_selected_cols(selected_cols: SelectedCols, num_columns: int) -> list[int]:
    """Column positions from OFA's ``--selected-cols`` ("0,2,3") or a list; default 0..n-1."""
    if selected_cols is None:
        return list(range(num_columns))
    if isinstance(selected_cols, str):
        try:
            positions = [int(part) for part in selected_cols.split(",")]
        except ValueError:
            raise ValueError(f"selected columns {selected_cols!r} are not comma-separated integers") from None
    else:
        positions = [int(position) for position in selected_cols]
    if len(positions) != num_columns or min(positions) < 0:
        raise ValueError(
            f"selected columns {selected_cols!r}: expected {num_columns} non-negative positions"
        )
    return positions


class TSVReader:
    """Rows of a TSV file as ``{column name: text}``, read by byte offset.

    One pass over the file records where each row starts and checks its field count;
    ``reader[i]`` then reads only row ``i``. ``columns`` names the fields to return and
    ``selected_cols`` gives their positions in the file (OFA's ``--selected-cols``). With
    no selection a row must have exactly ``len(columns)`` fields; with one, at least
    enough fields to reach the highest selected position.
    """

    def __init__(self, path: Union[str, os.PathLike], columns: Sequence[str], selected_cols: SelectedCols = None):
        self.path = str(path)
        self.columns = tuple(columns)
        self.positions = parse_selected_cols(selected_cols, len(self.columns))
        self._exact = selected_cols is None
        self._fd: Optional[int] = None
        self._offsets = self._index()

    def _index(self) -> array:
        """Byte offset of every row start, plus the file size at the end."""
        if not os.path.isfile(self.path):
            raise DataError(self.path, "no such file")
        offsets = array("q", [0])
        with open(self.path, "rb") as handle:
            for row, line in enumerate(handle, start=1):
                self._check_field_count(line.count(b"\t") + 1, row)
                offsets.append(offsets[-1] + len(line))
        if len(offsets) == 1:
            raise DataError(self.path, "the file is empty (expected one row per line)")
        return offsets

    def _check_field_count(self, num_fields: int, row: int) -> None:
        needed = max(self.positions) + 1
        if num_fields < needed:
            missing = min(
                (position, name) for position, name in zip(self.positions, self.columns) if position >= num_fields
            )
            raise DataError(
                self.path,
                f"missing column (file position {missing[0]}, 0-based): the row has {num_fields} tab-separated fields, "
                f"expected {'exactly' if self._exact else 'at least'} {needed}",
                row=row,
                field=missing[1],
            )
        if self._exact and num_fields > needed:
            raise DataError(
                self.path,
                f"the row has {num_fields} tab-separated fields, expected exactly {needed} "
                f"({', '.join(self.columns)})",
                row=row,
            )

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> Dict[str, str]:
        if not 0 <= index < len(self):
            raise IndexError(f"row index {index} out of range for {self.path} ({len(self)} rows)")
        row = index + 1
        start, end = self._offsets[index], self._offsets[index + 1]
        fields = os.pread(self._file(), end - start, start).rstrip(b"\r\n").split(b"\t")
        self._check_field_count(len(fields), row)
        return {name: self._decode(fields[position], row, name) for name, position in zip(self.columns, self.positions)}

    def _decode(self, cell: bytes, row: int, name: str) -> str:
        try:
            return cell.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(self.path, f"not valid UTF-8 (byte {error.start}: {error.reason})", row=row,
                            field=name) from None

    def _file(self) -> int:
        # pread does not move a shared file position, so forked data-loader workers can share it.
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __repr__(self) -> str:
        return f"TSVReader({Path(self.path).name!r}, {len(self)} rows, columns={self.columns})"
