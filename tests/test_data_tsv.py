"""TSVReader: offsets, random access, field-count errors."""
import pickle

import pytest

from ofa_mue.data.tsv import TSVReader, parse_selected_cols
from ofa_mue.errors import DataError

COLUMNS = ("id", "text", "label")


def test_rows_by_offset_in_any_order(write_tsv):
    rows = [[str(i), f"text é {i} ✓", f"label{i}"] for i in range(50)]
    reader = TSVReader(write_tsv(rows), COLUMNS)
    assert len(reader) == 50
    for i in (49, 0, 17, 17, 3):
        assert reader[i] == dict(zip(COLUMNS, rows[i]))
    with pytest.raises(IndexError, match="row index 50 out of range"):
        reader[50]
    with pytest.raises(IndexError, match="row index -1 out of range"):
        reader[-1]


def test_selected_cols_pick_and_order_fields(write_tsv):
    path = write_tsv([["u1", "img1", "b64", "hyp", "prem", "entailment", "extra"]])
    reader = TSVReader(path, ("uniq-id", "image", "label"), "0,2,5")
    assert reader[0] == {"uniq-id": "u1", "image": "b64", "label": "entailment"}
    assert parse_selected_cols([3, 1], 2) == [3, 1]
    assert parse_selected_cols(None, 3) == [0, 1, 2]
    with pytest.raises(ValueError):
        parse_selected_cols("0,x", 2)
    with pytest.raises(ValueError):
        parse_selected_cols("0,1,2", 2)
    with pytest.raises(ValueError, match="non-negative"):
        parse_selected_cols("0,-1", 2)


def test_crlf_and_missing_final_newline(tmp_path):
    path = tmp_path / "crlf.tsv"
    path.write_bytes(b"1\ta\tyes\r\n2\tb\tno")
    reader = TSVReader(path, COLUMNS)
    assert len(reader) == 2
    assert reader[0]["label"] == "yes"
    assert reader[1] == {"id": "2", "text": "b", "label": "no"}


def test_missing_column_names_file_row_and_field(write_tsv):
    path = write_tsv([["1", "a", "yes"], ["2", "b", "no"], ["3", "c"]])
    with pytest.raises(DataError) as info:
        TSVReader(path, COLUMNS)
    error = info.value
    assert (error.path, error.row, error.field) == (str(path), 3, "label")
    assert str(error).startswith(f"{path}, row 3, field 'label': missing column")
    assert "the row has 2 tab-separated fields, expected exactly 3" in str(error)


def test_missing_selected_column_names_it(write_tsv):
    path = write_tsv([["u", "i", "b64", "hyp", "prem", "yes"], ["u", "i", "b64", "hyp"]])
    with pytest.raises(DataError) as info:
        TSVReader(path, ("uniq-id", "image", "hypothesis", "caption", "label"), "0,2,3,4,5")
    assert (info.value.row, info.value.field) == (2, "caption")
    assert "missing column (file position 4, 0-based)" in str(info.value)
    assert "the row has 4 tab-separated fields, expected at least 6" in str(info.value)


def test_blank_line_is_an_error_not_skipped(write_tsv):
    path = write_tsv([["1", "a", "yes"], [""], ["2", "b", "no"]])
    with pytest.raises(DataError) as info:
        TSVReader(path, COLUMNS)
    assert info.value.row == 2


def test_extra_field_without_selection_is_an_error(write_tsv):
    path = write_tsv([["1", "a\tstray", "yes"]])
    with pytest.raises(DataError, match=r"has 4 tab-separated fields, expected exactly 3 \(id, text, label\)") as info:
        TSVReader(path, COLUMNS)
    assert info.value.row == 1


def test_empty_and_absent_files(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty") as info:
        TSVReader(empty, COLUMNS)
    assert info.value.path == str(empty)
    with pytest.raises(DataError, match="no such file"):
        TSVReader(tmp_path / "absent.tsv", COLUMNS)


def test_invalid_utf8_names_row_and_field(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"1\ta\tyes\n2\tab\xe9\tno\n")
    reader = TSVReader(path, COLUMNS)
    with pytest.raises(DataError, match=r"UTF-8 \(byte 2:") as info:  # the offset of the bad byte in the cell
        reader[1]
    assert (info.value.row, info.value.field) == (2, COLUMNS[1])
    assert f"row 2, field '{COLUMNS[1]}'" in str(info.value)


def test_pickled_reader_reopens_the_file(write_tsv):
    reader = TSVReader(write_tsv([["1", "a", "yes"], ["2", "b", "no"]]), COLUMNS)
    assert reader[1]["text"] == "b"
    clone = pickle.loads(pickle.dumps(reader))
    assert clone[0]["text"] == "a" and len(clone) == 2


def test_a_pickled_reader_outlives_the_original(write_tsv):
    """A data-loader worker's copy opens the file itself: it does not read through (nor close)
    the descriptor of the reader it was pickled from, which is closed when that one goes."""
    reader = TSVReader(write_tsv([["1", "a", "yes"], ["2", "b", "no"]]), COLUMNS)
    assert reader[0]["text"] == "a"  # the original has opened its descriptor
    clone = pickle.loads(pickle.dumps(reader))
    del reader  # (CPython) closes the original's descriptor now
    assert clone[1] == {"id": "2", "text": "b", "label": "no"}
    assert clone[0]["label"] == "yes"
